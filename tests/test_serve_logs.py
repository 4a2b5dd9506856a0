"""`clerk-collector serve` as a real process: whatever its callers send, and whatever fails
inside the database, its whole output (stdout and stderr) holds no client address, email,
visitor id, key or User-Agent; the opt-in access log says method, path, status and time only.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import socket
import subprocess
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from .servers import BIN, serving

ROOT = Path(__file__).resolve().parent.parent

# Markers: each must be absent from the output, whatever the log level.
EMAIL = "marker.person@mail-marker.example"
VISITOR = "visitorMarker71"
VISITOR_2 = "visitorMarker72"  # links EMAIL too: the forced unique violation
VISITOR_3 = "visitorMarker73"  # refused by a trigger whose message names it (PostgreSQL)
CLIENT = "203.0.113.77"  # a trusted proxy's X-Forwarded-For; nothing is sent there
USER_AGENT = "MarkerAgent/4.2 (log test)"
WRONG_PRIVATE_KEY = "sk_markerWrongPrivateKey0123456789"
ORIGIN = "https://shop.example"
DEEP = "[" * 20_000 + "]" * 20_000


def cli_env(database_url: str, **extra: str) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("SECRET_KEY", "ACCESS_LOG", "LOG_FORMAT", "PROMETHEUS_MULTIPROC_DIR")
        and not k.startswith("METRICS")
    }
    env.update(
        DATABASE_URL=database_url,
        PYTHONPATH=os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")]),
        FORWARDED_ALLOW_IPS="127.0.0.1",
        **extra,
    )
    return env


def cli(env: dict[str, str], cwd: Path, *args: str) -> str:
    done = subprocess.run(
        [str(BIN / "clerk-collector"), *args],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return done.stdout


def break_the_database(database_url: str) -> None:
    """Make normal tracking writes fail inside the database, with marker values in play:
    a second visitor for one email violates a unique index (PostgreSQL's DETAIL names the
    key's values), and a trigger refuses VISITOR_3's events (on PostgreSQL with the id in
    the error message itself)."""
    engine = create_engine(database_url)
    with engine.begin() as conn:
        conn.execute(text("CREATE UNIQUE INDEX test_one_link ON email_links (store_id, email)"))
        if conn.dialect.name == "sqlite":
            conn.execute(
                text(
                    "CREATE TRIGGER test_refuse BEFORE INSERT ON events "
                    f"WHEN NEW.visitor_id = '{VISITOR_3}' "
                    "BEGIN SELECT RAISE(ABORT, 'refused by the test'); END"
                )
            )
        else:
            conn.execute(
                text(
                    "CREATE FUNCTION test_refuse() RETURNS trigger AS $$ BEGIN "
                    f"IF NEW.visitor_id = '{VISITOR_3}' THEN "
                    "RAISE EXCEPTION 'refused visitor %', NEW.visitor_id; END IF; "
                    "RETURN NEW; END $$ LANGUAGE plpgsql"
                )
            )
            conn.execute(
                text(
                    "CREATE TRIGGER test_refuse BEFORE INSERT ON events "
                    "FOR EACH ROW EXECUTE FUNCTION test_refuse()"
                )
            )
    engine.dispose()


def call(url: str, path: str, body: str | None = None, **query: str) -> int:
    """One call as a browser behind the trusted proxy makes it; the answer's status."""
    if query:
        path += "?" + urllib.parse.urlencode(query)
    request = urllib.request.Request(
        url + path,
        data=None if body is None else body.encode(),
        method="GET" if body is None else "POST",
        headers={
            "X-Forwarded-For": CLIENT,
            "User-Agent": USER_AGENT,
            "Origin": ORIGIN,
            "Content-Type": "text/plain",
        },
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:
            return int(answer.status)
    except urllib.error.HTTPError as error:
        return int(error.code)


def send_raw(url: str, data: bytes) -> None:
    """Bytes that are no HTTP request at all (uvicorn answers 400 itself)."""
    host, port = url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(data)
        with contextlib.suppress(OSError):
            sock.recv(4096)


def exercise(url: str, public_key: str, private_key: str) -> dict[str, int]:
    """Every kind of call that once put something personal into the log; their statuses.
    (Some GET calls may be refused by now: they are sent for what they would log.)"""
    key = public_key
    statuses = {
        "product by GET": call(url, "/v2/log/product", key=key, visitor=VISITOR, product="1"),
        "email by GET": call(url, "/v2/log/email", key=key, visitor=VISITOR, email=EMAIL),
        "stats with the private key": call(
            url, "/v2/stats/customers", key=key, private_key=private_key, query=EMAIL
        ),
        "stats with a wrong private key": call(
            url, "/v2/stats/overview", key=key, private_key=WRONG_PRIVATE_KEY
        ),
        "email by POST": call(
            url, "/v2/log/email", json.dumps({"key": key, "visitor": VISITOR, "email": EMAIL})
        ),
        "malformed": call(url, "/v2/log/email", f'{{"key": "{key}", "email": "{EMAIL}",'),
        "nested body": call(url, "/v2/log/click", f'{{"key": "{key}", "labels": {DEEP}}}'),
        "nested query": call(
            url, "/v2/log/click", key=key, product="1", labels=DEEP[:9000] + DEEP[-9000:]
        ),
        "unique violation": call(
            url,
            "/v2/log/email",
            json.dumps({"key": key, "visitor": VISITOR_2, "email": EMAIL}),
        ),
        "refused by a trigger": call(
            url,
            "/v2/log/product",
            json.dumps({"key": key, "visitor": VISITOR_3, "product": "1"}),
        ),
        "no such endpoint": call(url, f"/v2/log/{EMAIL}"),
    }
    send_raw(url, f"HELLO {EMAIL} {VISITOR}\r\n\r\n".encode())
    return statuses


def assert_nothing_personal(output: str, public_key: str, private_key: str) -> None:
    for marker in (
        EMAIL,
        EMAIL.split("@")[0],
        "mail-marker",
        VISITOR[:-1],  # every visitor marker
        CLIENT,
        "MarkerAgent",
        public_key,
        private_key,
        WRONG_PRIVATE_KEY,
        "DETAIL",
        "[parameters",  # SQLAlchemy's rendering of bound values
        "[SQL",
    ):
        assert marker not in output, f"{marker!r} in the output:\n{output}"
    for line in output.splitlines():
        if "127.0.0.1" in line:  # the address it listens on, once; never a client's
            assert "running on http://127.0.0.1:" in line, line


def json_lines(output: str) -> list[dict[str, object]]:
    """LOG_FORMAT=json: every line of the output is one JSON object with time, level,
    logger and event; as text again, with each record's fields."""
    records = []
    for line in output.splitlines():
        record = json.loads(line)
        assert isinstance(record, dict), line
        assert {"time", "level", "logger", "event"} <= record.keys(), line
        records.append(record)
    return records


@pytest.mark.parametrize(
    ("access_log", "log_format"),
    [("0", "text"), ("1", "text"), ("1", "json")],
    ids=["default", "access log", "json"],
)
def test_serve_output_holds_nothing_personal(database_url, tmp_path, access_log, log_format):
    env = cli_env(database_url, ACCESS_LOG=access_log, LOG_FORMAT=log_format)
    keys = json.loads(cli(env, tmp_path, "create-store", "Log test", "--origin", ORIGIN, "--json"))
    break_the_database(database_url)
    log = tmp_path / "serve.log"
    with serving(env, tmp_path, log, ["--log-level", "debug"]) as url:
        statuses = exercise(url, keys["public_key"], keys["private_key"])
    output = log.read_text()

    assert statuses["email by POST"] == 200
    assert statuses["malformed"] == 400
    assert statuses["nested body"] == 400 and statuses["nested query"] == 400
    assert statuses["unique violation"] == 500
    assert statuses["refused by a trigger"] == 500
    assert_nothing_personal(output, keys["public_key"], keys["private_key"])
    if log_format == "json":
        records = json_lines(output)
        access_fields = [r for r in records if r["logger"] == "collector.access"]
        assert access_fields and all(
            {"method", "path", "status", "duration_ms"} <= r.keys() for r in access_fields
        )
        assert any(r["level"] == "error" and "exception" in r for r in records)
        # As the text lines would be (logger: event, traceback below), for the checks below.
        output = "\n".join(
            f"{r['logger']}: {r['event']}" + (f"\n{r['exception']}" if "exception" in r else "")
            for r in records
        )
        assert_nothing_personal(output, keys["public_key"], keys["private_key"])
    # The failures are logged, by type and with where they happened.
    assert "IntegrityError" in output and "email_links" in output
    assert ("RaiseException" if "postgresql" in database_url else "IntegrityError") in output
    assert "Traceback" in output and "RecursionError" not in output

    access = [line for line in output.splitlines() if "collector.access" in line]
    if access_log == "0":
        assert access == [] and "/v2/log/product" not in output
        return
    seen = set()
    for line in access:
        found = re.search(r"collector\.access: (GET|POST) (\S+) (\d{3}) (\d+\.\d)ms$", line)
        assert found, line
        method, path, status, _ = found.groups()
        assert "?" not in path
        seen.add((method, path, int(status)))
    assert {("POST", "/v2/log/email", 200), ("POST", "/v2/log/email", 500)} <= seen
    assert {("POST", "/v2/log/click", 400), ("GET", "/v2/log/click", 400)} <= seen
    assert {path for _, path, _ in seen} >= {"/v2/log/product", "/v2/stats/customers"}


def test_a_logged_exception_is_told_by_type_whatever_it_holds():
    """Causes, contexts, groups and exceptions passed as arguments: none shows its message."""
    import io
    import logging

    from collector.logs import RedactingFormatter

    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(RedactingFormatter())
    logger = logging.getLogger("test.redaction")
    logger.addHandler(handler)
    try:
        try:
            try:
                int(EMAIL)
            except ValueError as exc:
                raise KeyError(VISITOR) from exc
        except KeyError as exc:
            try:
                raise ExceptionGroup("group", [RuntimeError(CLIENT), exc])
            except ExceptionGroup:
                logger.exception("failed for %s", RuntimeError(USER_AGENT))
    finally:
        logger.removeHandler(handler)
    output = stream.getvalue()
    assert_nothing_personal(output, "pk_unused", "sk_unused")
    for kind in ("ValueError", "KeyError", "ExceptionGroup", "RuntimeError", "Traceback"):
        assert kind in output
    assert "failed for RuntimeError (message withheld)" in output
