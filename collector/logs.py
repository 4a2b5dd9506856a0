"""The collector's logging, set up in one place (for `serve` and `demo`): no line holds
anything personal.

Never in a log: a client's address or User-Agent, an email, a visitor or customer id, a
key, a query string, a body, an SQL parameter. Hence:

- uvicorn's access log is off (its lines hold the client's address and the whole query
  string). `ACCESS_LOG=1` turns on the collector's own (access_log.py): method, the path
  of a known endpoint, status and duration, nothing else.
- Both engines hide SQL parameters (engine.py), and SQLAlchemy's loggers stay at WARNING,
  so that no statement is echoed with its values even at `--log-level debug`.
- Every record goes through `RedactingFormatter`. A traceback keeps its frames (file,
  line, function, source line), but each exception in it (causes, contexts, groups) and
  each exception passed as a log argument is told by `describe`: its type, and for a
  database error what the driver reports as structure (SQLSTATE or SQLite error name,
  constraint, table, column) and the statement's verb and table, never the message
  text: PostgreSQL's DETAIL repeats the key's values ("Key (store_id, email)=(1, x@y.z)
  already exists"), a trigger's message can say anything, and so can most other
  exceptions (int() quotes the text it refused).
- Uncaught exceptions (sys.excepthook, threading.excepthook, sys.unraisablehook) are
  logged the same way; the handler installs the hooks, so that uvicorn's worker
  processes, which configure logging from this dictionary, get them too.
- Records below DEBUG are dropped: uvicorn's "trace" level logs each connection's
  address, and `serve --log-level` does not offer it.
"""

from __future__ import annotations

import json
import logging
import logging.config
import re
import sqlite3
import sys
import threading
import traceback
from collections.abc import Mapping
from datetime import UTC, datetime
from types import TracebackType
from typing import Any

from sqlalchemy.exc import DBAPIError, StatementError

LEVELS = ("critical", "error", "warning", "info", "debug")
FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"

# SQLite's own messages that name only schema objects (never a value), kept as they are.
_SQLITE_SAFE = re.compile(
    r"(UNIQUE|NOT NULL|PRIMARY KEY|FOREIGN KEY) constraint failed(: [\w.]+(, [\w.]+)*)?"
    r"|no such (table|column|index): [\w.]+"
    r"|database (table )?is locked|database or disk is full|disk I/O error"
    r"|attempt to write a readonly database|database disk image is malformed"
)
_WRITE = re.compile(r"\s*(INSERT\s+(?:OR\s+\w+\s+)?INTO|UPDATE|DELETE\s+FROM)\s+\"?(\w+)", re.I)
_READ = re.compile(r"\s*(SELECT|WITH)\b.*?\bFROM\s+\"?(\w+)", re.I | re.S)
WITHHELD = "message withheld"


def _name(kind: type) -> str:
    module = kind.__module__
    return kind.__qualname__ if module in ("builtins", "__main__") else f"{module}.{kind.__name__}"


def _operation(statement: str | None) -> str | None:
    """The verb and first table of an SQL statement (placeholders, no values)."""
    if not statement:
        return None
    found = _WRITE.match(statement) or _READ.match(statement)
    if found is None:
        return statement.split(None, 1)[0].upper() if statement.strip() else None
    return f"{' '.join(found.group(1).upper().split())} {found.group(2)}"


def _driver_details(orig: BaseException) -> list[str]:
    """What a DB-API error says about itself that cannot hold a value."""
    details = []
    sqlstate = getattr(orig, "sqlstate", None)  # psycopg
    if isinstance(sqlstate, str):
        details.append(f"SQLSTATE {sqlstate}")
        diag = getattr(orig, "diag", None)
        for field in ("constraint_name", "table_name", "column_name", "datatype_name"):
            value = getattr(diag, field, None)
            if value:
                details.append(f"{field.removesuffix('_name')} {value}")
    if isinstance(orig, sqlite3.Error):
        name = getattr(orig, "sqlite_errorname", None)
        if name:
            details.append(name)
        message = str(orig)
        if _SQLITE_SAFE.fullmatch(message):
            details.append(message)
    return details


def describe(exc: BaseException) -> str:
    """An exception as a log may show it: its type and nothing that can hold a value."""
    parts: list[str] = []
    orig = exc.orig if isinstance(exc, DBAPIError) else None
    if isinstance(orig, BaseException):
        parts.append(f"from {_name(type(orig))}")
        parts.extend(_driver_details(orig))
    elif isinstance(exc, sqlite3.Error) or hasattr(exc, "sqlstate"):
        parts.extend(_driver_details(exc))
    if isinstance(exc, StatementError):
        operation = _operation(exc.statement)
        if operation:
            parts.append(f"in {operation}")
    parts.append(WITHHELD)
    return f"{_name(type(exc))} ({', '.join(parts)})"


def format_exception(exc: BaseException, _seen: set[int] | None = None) -> list[str]:
    """A traceback as Python prints it, causes and contexts first, with each exception's
    message replaced by `describe`."""
    seen = set() if _seen is None else _seen
    seen.add(id(exc))
    lines: list[str] = []
    cause, context = exc.__cause__, exc.__context__
    if cause is not None and id(cause) not in seen:
        lines += format_exception(cause, seen)
        lines += ["", "The above exception was the direct cause of the following exception:", ""]
    elif context is not None and not exc.__suppress_context__ and id(context) not in seen:
        lines += format_exception(context, seen)
        lines += ["", "During handling of the above exception, another exception occurred:", ""]
    if exc.__traceback__ is not None:
        lines.append("Traceback (most recent call last):")
        frames = traceback.StackSummary.extract(traceback.walk_tb(exc.__traceback__))
        lines += [line.rstrip("\n") for line in frames.format()]
    lines.append(describe(exc))
    if isinstance(exc, BaseExceptionGroup):
        for number, inner in enumerate(exc.exceptions, 1):
            lines.append(f"+-- exception {number} of the group:")
            lines += ["|   " + line for line in format_exception(inner, seen)]
    return lines


def _redact(value: Any) -> Any:
    return describe(value) if isinstance(value, BaseException) else value


class RedactingFormatter(logging.Formatter):
    """Formats exceptions (tracebacks and arguments) by `describe` only."""

    def format(self, record: logging.LogRecord) -> str:
        return super().format(self.redacted(record))

    def redacted(self, record: logging.LogRecord) -> logging.LogRecord:
        """A copy of the record (the caller's stays as it was) whose message, arguments and
        extra fields hold no exception but as `describe` tells it."""
        record = logging.makeLogRecord(record.__dict__)
        record.msg = _redact(record.msg)
        if isinstance(record.args, tuple):
            record.args = tuple(_redact(arg) for arg in record.args)
        elif isinstance(record.args, Mapping):
            record.args = {key: _redact(arg) for key, arg in record.args.items()}
        for name in _extra_fields(record):
            setattr(record, name, _redact(getattr(record, name)))
        record.exc_text = None  # never a text another formatter made
        return record

    def formatException(self, ei: Any) -> str:  # noqa: N802 (logging's name)
        return "" if ei[1] is None else "\n".join(format_exception(ei[1]))


# What every LogRecord has; anything else on a record came from a call's `extra`.
_STANDARD = frozenset(logging.makeLogRecord({}).__dict__) | {"message", "asctime"}
# Extra fields never written: uvicorn's copy of its message with terminal colours.
_SKIPPED = frozenset({"color_message"})


def _extra_fields(record: logging.LogRecord) -> list[str]:
    return [name for name in record.__dict__ if name not in _STANDARD and name not in _SKIPPED]


class JsonFormatter(RedactingFormatter):
    """LOG_FORMAT=json: one JSON object a line, with `time` (UTC, ISO 8601), `level`,
    `logger`, `event` (the message) and the record's extra fields (the access log's
    method, path, status and duration, for instance); a traceback in `exception`. The
    same redaction as the text lines: it is RedactingFormatter's."""

    def format(self, record: logging.LogRecord) -> str:
        record = self.redacted(record)
        line: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "event": record.getMessage(),
        }
        for name in _extra_fields(record):
            line.setdefault(name, getattr(record, name))
        if record.exc_info and record.exc_info[1] is not None:
            line["exception"] = self.formatException(record.exc_info)
        if record.stack_info:
            line["stack"] = record.stack_info
        return json.dumps(line, ensure_ascii=False, default=str)


class DropTrace(logging.Filter):
    """Records below DEBUG (uvicorn's trace level names each connection's address)."""

    def filter(self, record: logging.LogRecord) -> bool:
        return record.levelno >= logging.DEBUG


_hooks_installed = False


def _log_uncaught(
    kind: type[BaseException], value: BaseException, tb: TracebackType | None
) -> None:
    if issubclass(kind, KeyboardInterrupt):
        sys.__excepthook__(kind, value, tb)
        return
    logging.getLogger("collector").critical("uncaught exception", exc_info=(kind, value, tb))


def _log_unraisable(unraisable: Any) -> None:
    """An exception Python could not raise (in a finaliser, a closing generator, ...)."""
    value = unraisable.exc_value
    if value is None:
        return
    logging.getLogger("collector").warning(
        "exception ignored (%s)",
        unraisable.err_msg or "unraisable",
        exc_info=(type(value), value, unraisable.exc_traceback),
    )


def _log_uncaught_in_thread(args: threading.ExceptHookArgs) -> None:
    if args.exc_value is None or issubclass(args.exc_type, SystemExit):
        return
    logging.getLogger("collector").error(
        "uncaught exception in thread %s",
        args.thread.name if args.thread else "?",
        exc_info=(args.exc_type, args.exc_value, args.exc_traceback),
    )


class Handler(logging.StreamHandler):  # type: ignore[type-arg]
    """stderr, through `RedactingFormatter`; made, it routes uncaught exceptions here too."""

    def __init__(self, stream: Any = None) -> None:
        super().__init__(stream)
        global _hooks_installed
        if not _hooks_installed:
            sys.excepthook = _log_uncaught
            sys.unraisablehook = _log_unraisable
            threading.excepthook = _log_uncaught_in_thread
            _hooks_installed = True


def config(level: str = "info", log_format: str = "text") -> dict[str, Any]:
    """The logging configuration (logging.config.dictConfig), also given to uvicorn;
    `log_format` "json" writes one JSON object a line (JsonFormatter)."""
    level = level.upper()
    kind = JsonFormatter if log_format == "json" else RedactingFormatter
    formatter = {"()": kind, "fmt": FORMAT}
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"drop_trace": {"()": DropTrace}},
        # uvicorn sets use_colors on formatters named "default" and "access" when asked.
        "formatters": {"default": formatter, "access": formatter},
        "handlers": {
            "default": {
                "()": Handler,
                "stream": "ext://sys.stderr",
                "formatter": "default",
                "filters": ["drop_trace"],
            }
        },
        "loggers": {
            "uvicorn": {"level": level, "handlers": [], "propagate": True},
            # uvicorn's access lines hold the client's address and the query string.
            "uvicorn.access": {"level": "CRITICAL", "handlers": [], "propagate": False},
            "sqlalchemy": {"level": "WARNING"},
            # Opt-in (ACCESS_LOG=1): when on, it is meant to be seen at any level.
            "collector.access": {"level": "INFO"},
        },
        "root": {"level": level, "handlers": ["default"]},
    }


def configure(level: str = "info", log_format: str = "text") -> None:
    logging.config.dictConfig(config(level, log_format))
