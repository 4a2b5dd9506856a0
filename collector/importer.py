"""`clerk-collector import`: products, orders or customers from a JSON array or NDJSON,
in batches. Each record is checked and written by the same code as the API's (products.py,
orders.py, customers.py), so an import and the API store the same rows.

The file is read in chunks and decoded one record at a time, so memory holds one
batch however large the file is. Each batch is one transaction: a bad record
stops the import before anything of its batch is written, and the batches
before it stay.
"""

from __future__ import annotations

import codecs
import contextlib
import json
import os
import re
import stat
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import IO, Any, BinaryIO

from sqlalchemy import Connection

from .customers import clean_customer, write_customers
from .errors import ApiError
from .fields import product
from .orders import order, write_orders
from .storage import Storage, catalogue
from .storage.stores import store_by_public_key

CHUNK_SIZE = 1 << 20
SPACE = re.compile(r"[ \t\r\n]*")
MAX_LISTED_PROBLEMS = 20


class ImportFailed(Exception):
    """The import stopped; the message says where, why, and what was kept."""


class FeedError(Exception):
    """The file is not a JSON array or NDJSON: `where` is e.g. "line 3 column 12"."""

    def __init__(
        self, where: str, problem: str, line: int | None = None, record_line: int | None = None
    ) -> None:
        super().__init__(f"{where}: {problem}")
        self.where = where
        self.problem = problem
        self.line = line
        self.record_line = record_line  # where the record it is in starts


class Feed:
    """The records of a JSON array (`[` first) or NDJSON (`{` first), with their lines."""

    def __init__(self, stream: BinaryIO) -> None:
        self.stream = stream
        self.bytes_read = 0
        self._decoder = codecs.getincrementaldecoder("utf-8-sig")()
        self._json = json.JSONDecoder()
        self._buf = ""
        self._pos = 0
        self._eof = False
        self._line = 1  # the line of _buf[_counted]
        self._counted = 0
        self._column0 = 0  # the column (from 0) of _buf[0]

    @property
    def consumed(self) -> int:
        """About how many bytes of the file have been decoded into records so far."""
        return self.bytes_read - (len(self._buf) - self._pos)

    def records(self) -> Iterator[tuple[int, Any]]:
        """(line, value) for each record, the line being where the record starts."""
        first = self._peek()
        if not first:
            return
        if first == "{":
            while self._peek():
                yield self._value()
            return
        if first != "[":
            raise self._error(self._pos, "expected [ (a JSON array) or { (NDJSON records)")
        self._pos += 1
        if self._peek() != "]":
            while True:
                yield self._value()
                after = self._peek()
                if after != ",":
                    break
                self._pos += 1
            if after != "]":
                missing = "expected , or ] after a record" if after else "the array has no ]"
                raise self._error(self._pos, missing)
        self._pos += 1
        if self._peek():
            raise self._error(self._pos, "unexpected data after the closing ]")

    def _value(self) -> tuple[int, Any]:
        self._peek()
        line = self._line_at(self._pos)
        while True:
            try:
                value, end = self._json.raw_decode(self._buf, self._pos)
            except json.JSONDecodeError as exc:
                # Only an error at the end of the buffer (or an unterminated string)
                # can be a record that goes on in the next chunk.
                near_end = exc.pos >= len(self._buf) - 64 or exc.msg.startswith("Unterminated")
                if self._eof or not near_end:
                    problem = "malformed JSON: " + re.sub(r"( starting)? at$", "", exc.msg)
                    raise self._error(exc.pos, problem, record_line=line) from None
                self._read()
                continue
            if end > len(self._buf) - 64 and not self._eof:
                self._read()  # a number near the end ("6." of "6.5") may go on
                continue
            self._pos = end
            return line, value

    def _peek(self) -> str:
        """The next character that is not white space ("" at the end), reading as needed."""
        while True:
            match = SPACE.match(self._buf, self._pos)
            self._pos = match.end() if match else self._pos
            if self._pos < len(self._buf):
                return self._buf[self._pos]
            if self._eof:
                return ""
            self._read()

    def _read(self) -> None:
        chunk = self.stream.read(CHUNK_SIZE)
        try:
            data = self._decoder.decode(chunk, final=not chunk)
        except UnicodeDecodeError as exc:
            raise FeedError(f"byte {self.bytes_read + exc.start + 1}", "not UTF-8 text") from None
        self.bytes_read += len(chunk)
        self._eof = not chunk
        # Drop what was consumed, remembering the line and column where the rest starts.
        if self._pos:
            self._line_at(self._pos)
            newline = self._buf.rfind("\n", 0, self._pos)
            self._column0 = self._pos - newline - 1 if newline >= 0 else self._column0 + self._pos
            self._buf, self._pos, self._counted = self._buf[self._pos :], 0, 0
        self._buf += data

    def _line_at(self, pos: int) -> int:
        self._line += self._buf.count("\n", self._counted, pos)
        self._counted = pos
        return self._line

    def _error(self, pos: int, problem: str, record_line: int | None = None) -> FeedError:
        line = self._line_at(max(pos, self._counted))
        newline = self._buf.rfind("\n", 0, pos)
        column = pos - newline if newline >= 0 else self._column0 + pos + 1
        return FeedError(f"line {line} column {column}", problem, line, record_line)


def clean_order(value: Any) -> dict[str, Any]:
    """One record of an orders import: checked as POST /v2/orders checks an order."""
    found: dict[str, Any] = order("record", value, False)
    return found


def write_products(
    conn: Connection, *, store_id: int, items: list[dict[str, Any]], now: int
) -> tuple[int, int]:
    return catalogue.upsert_products(conn, store_id=store_id, items=items, now=now), 0


@dataclass(frozen=True)
class Kind:
    noun: str
    clean: Callable[[Any], dict[str, Any]]
    # (conn, *, store_id, items, now) -> (records new to the store, records that replaced
    # one a browser had logged)
    write: Callable[..., tuple[int, int]]


KINDS = {
    "products": Kind("products", lambda value: product("record", value, False), write_products),
    "orders": Kind("orders", clean_order, write_orders),
    "customers": Kind("customers", clean_customer, write_customers),
}


class Progress:
    """One line on a terminal, redrawn at most ten times a second."""

    def __init__(self, stream: IO[str] | None, noun: str, size: int | None) -> None:
        self.stream, self.noun, self.size = stream, noun, size
        self.started = time.monotonic()
        self.drawn_at = 0.0
        self.visible = False

    def update(self, records: int, bytes_read: int) -> None:
        now = time.monotonic()
        if self.stream is None or now - self.drawn_at < 0.1:
            return
        self.drawn_at = now
        rate = records / max(now - self.started, 1e-6)
        line = f"{records:,} {self.noun}, {rate:,.0f}/s"
        if self.size:
            share = min(bytes_read / self.size, 1.0)
            filled = int(share * 30)
            line = f"[{'#' * filled}{'.' * (30 - filled)}] {share:4.0%}  {line}"
        self.stream.write(f"\r{line}\x1b[K")
        self.stream.flush()
        self.visible = True

    def close(self) -> None:
        if self.stream is not None and self.visible:
            self.stream.write("\r\x1b[K")
            self.stream.flush()


@dataclass(frozen=True)
class Result:
    name: str
    noun: str
    records: int
    new: int
    seconds: float
    dry_run: bool
    replaced: int = 0

    def summary(self) -> str:
        verb = "checked" if self.dry_run else "imported"
        if not self.records:
            return f"{verb} 0 {self.noun}: {self.name} holds no records"
        rate = f"{self.records / max(self.seconds, 1e-6):.0f}/s"
        line = f"{verb} {self.records} {self.noun} in {self.seconds:.1f} s ({rate})"
        if self.dry_run:
            return f"{line}: all valid; nothing was written (dry run)"
        old = self.records - self.new - self.replaced
        if self.replaced:
            return (
                f"{line}: {self.new} new, {self.replaced} replaced the browser's record, "
                f"{old} already there"
            )
        return f"{line}: {self.new} new, {old} already there" if old else line


def _problem(exc: ApiError) -> str:
    """The validator's message about the field, without the "record." it was given."""
    return re.sub(r"^(unknown field )?record(\.|: )", r"\1", exc.message, count=1)


def _feed_problem(name: str, exc: FeedError, number: int) -> str:
    problem = f"{name} {exc.where}: {exc.problem}"
    if exc.record_line not in (None, exc.line):
        problem += f" (in record {number}, from line {exc.record_line})"
    return problem


def _kept(done: int, dry_run: bool) -> str:
    if dry_run:
        return "; nothing was written (dry run)"
    if not done:
        return "; nothing was imported"
    return f"; {done} record{' was' if done == 1 else 's were'} imported before it"


@contextlib.contextmanager
def _open(path: str) -> Iterator[tuple[BinaryIO, str, int | None]]:
    """The byte stream, its name for messages and its size when known (a regular file)."""
    if path == "-":
        stream, name = sys.stdin.buffer, "stdin"
    else:
        try:
            stream, name = open(path, "rb"), path
        except OSError as exc:
            raise ImportFailed(f"{path}: {exc.strerror or exc}") from None
    try:
        info = os.fstat(stream.fileno())
        size = info.st_size if stat.S_ISREG(info.st_mode) else None
    except (OSError, ValueError):
        size = None
    try:
        yield stream, name, size
    finally:
        if stream is not sys.stdin.buffer:
            stream.close()


def import_file(
    storage: Storage,
    *,
    kind: str,
    path: str,
    store_key: str,
    batch_size: int = 1000,
    dry_run: bool = False,
    progress: IO[str] | None = None,
) -> Result:
    """Validate every record and write them batch by batch (nothing with `dry_run`)."""
    spec = KINDS[kind]
    store = storage.run(store_by_public_key, public_key=store_key)
    if store is None:
        raise ImportFailed(f"no store has the public key {store_key!r} (see create-store)")
    started = time.monotonic()
    with _open(path) as (stream, name, size):
        feed, bar = Feed(stream), Progress(progress, spec.noun, size)
        batch: list[dict[str, Any]] = []
        problems: list[str] = []
        number = done = new = replaced = 0

        def flush() -> None:
            nonlocal done, new, replaced
            if batch and not dry_run:
                now = int(time.time() * 1000)
                added, taken = storage.run(spec.write, store_id=store.id, items=batch, now=now)
                new, replaced, done = new + added, replaced + taken, done + len(batch)
            batch.clear()

        try:
            for number, (line, value) in enumerate(feed.records(), 1):
                try:
                    batch.append(spec.clean(value))
                except ApiError as exc:
                    problem = f"{name} line {line} (record {number}): {_problem(exc)}"
                    if not dry_run:
                        raise ImportFailed(problem + _kept(done, dry_run)) from None
                    problems.append(problem)
                if len(batch) >= batch_size:
                    flush()
                bar.update(number, feed.consumed)
            flush()
        except FeedError as exc:
            problems.append(_feed_problem(name, exc, number + 1))
            raise ImportFailed(_report(problems, number, dry_run) + _kept(done, dry_run)) from None
        except KeyboardInterrupt:
            raise ImportFailed(f"interrupted at record {number}" + _kept(done, dry_run)) from None
        finally:
            bar.close()
    if problems:
        raise ImportFailed(_report(problems, number, dry_run) + _kept(done, dry_run))
    return Result(name, spec.noun, number, new, time.monotonic() - started, dry_run, replaced)


def _report(problems: list[str], records: int, dry_run: bool) -> str:
    listed = problems[:MAX_LISTED_PROBLEMS]
    if len(problems) > len(listed):
        listed.append(f"... and {len(problems) - len(listed)} more")
    if dry_run and len(problems) > 1:
        listed.append(f"{len(problems)} problems in {records} records")
    return "\n".join(listed)
