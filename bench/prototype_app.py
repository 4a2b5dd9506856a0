"""DESIGN.md's ingest prototype, to measure what its 0.6x target allows on this stack.

DESIGN.md: "a 60-line raw-ASGI prototype with the same durability (JSON parse, HMAC for
auto ids, one writer thread doing executemany + commit with WAL and synchronous=FULL,
answering after the commit) measured 0.82 times bare Starlette". This is that
prototype: no validation beyond the JSON object, no store key, origin, rate limit,
consent rule, CORS or error shapes; POST /v2/log/product only. Served by uvicorn like
bench/bare_app.py (`--factory bench.prototype_app:create_app`), it writes to
BENCH_PROTOTYPE_DB, an `events` table counted like the collector's.

With BENCH_PROTOTYPE_SCHEMA=events the same prototype writes the collector's own
`events` table instead (collector/storage/schema.py: its columns, every one of its
indexes, a full row per event): what that table costs the 0.6x target, with nothing
else of the collector on the way. With BENCH_PROTOTYPE_SCHEMA=landing it writes each
event to a table without indexes (`events_inbox`, the events table's columns) and a
second thread moves the landed rows into the indexed events table every
BENCH_PROTOTYPE_MOVE_SECONDS (0.5) in one transaction: the floor of a design that keeps
the index updates off the acknowledged path.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import os
import queue
import sqlite3
import threading
import time
from typing import Any

SECRET = b"prototype"
OK = b'{"status":"ok"}'
HEADERS = [(b"content-type", b"application/json"), (b"content-length", b"15")]


class Writer(threading.Thread):
    """One thread: every waiting event in one executemany and one commit, then each
    waiting request answered (its future set on its loop)."""

    def __init__(self, path: str, schema: str = "bare") -> None:
        super().__init__(daemon=True)
        self.db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=FULL")
        self.db.execute("PRAGMA busy_timeout=10000")
        if schema in ("events", "landing"):
            for statement in collector_events_ddl():
                self.db.execute(statement)
            table = "events"
            if schema == "landing":
                table = "events_inbox"
                self.db.execute(f"CREATE TABLE {table} AS SELECT {COLUMNS} FROM events WHERE 0")
                mover = threading.Thread(target=move_landed, args=(path,), daemon=True)
                mover.start()
            self.insert = (
                f"INSERT INTO {table} ({COLUMNS})"
                " VALUES (1, ?1, ?2, 'auto', ?3, ?4, ?5, NULL, NULL, NULL, NULL)"
            )
        else:
            self.db.execute(
                "CREATE TABLE IF NOT EXISTS events"
                " (kind TEXT, product_id TEXT, visitor_id TEXT, ts INTEGER)"
            )
            # (the session, ?4, is not kept: DESIGN's prototype does not)
            self.insert = (
                "INSERT INTO events (ts, kind, visitor_id, product_id) VALUES (?1, ?2, ?3, ?5)"
            )
        self.waiting: queue.SimpleQueue[tuple[tuple[Any, ...], Any, Any]] = queue.SimpleQueue()

    def run(self) -> None:
        while True:
            batch = [self.waiting.get()]
            while not self.waiting.empty():
                batch.append(self.waiting.get_nowait())
            self.db.execute("BEGIN")
            self.db.executemany(self.insert, [b[0] for b in batch])
            self.db.execute("COMMIT")
            for _, loop, future in batch:
                loop.call_soon_threadsafe(future.set_result, None)


COLUMNS = (
    "store_id, ts, kind, visitor_mode, visitor_id, session, product_id, api, labels, position, data"
)


def move_landed(path: str) -> None:
    """Every BENCH_PROTOTYPE_MOVE_SECONDS: every landed row into the events table, in one
    transaction with their deletion from the landing table."""
    every = float(os.environ.get("BENCH_PROTOTYPE_MOVE_SECONDS", "0.5"))
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("PRAGMA synchronous=FULL")
    db.execute("PRAGMA busy_timeout=10000")
    while True:
        time.sleep(every)
        db.execute("BEGIN IMMEDIATE")
        top = db.execute("SELECT max(rowid) FROM events_inbox").fetchone()[0]
        if top is not None:
            db.execute(
                f"INSERT INTO events ({COLUMNS}) SELECT {COLUMNS} FROM events_inbox"
                " WHERE rowid <= ? ORDER BY rowid",
                (top,),
            )
            db.execute("DELETE FROM events_inbox WHERE rowid <= ?", (top,))
        db.execute("COMMIT")


def collector_events_ddl() -> list[str]:
    """CREATE TABLE and CREATE INDEX of the collector's events table, for SQLite."""
    from sqlalchemy.dialects import sqlite
    from sqlalchemy.schema import CreateIndex, CreateTable

    from collector.storage.schema import events

    dialect = sqlite.dialect()
    return [
        str(CreateTable(events).compile(dialect=dialect)),
        *(str(CreateIndex(index).compile(dialect=dialect)) for index in events.indexes),
    ]


def create_app() -> Any:
    writer = Writer(
        os.environ.get("BENCH_PROTOTYPE_DB", "prototype.db"),
        os.environ.get("BENCH_PROTOTYPE_SCHEMA", "bare"),
    )
    writer.start()

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        body, more = b"", True
        while more:
            message = await receive()
            body += message.get("body", b"")
            more = message.get("more_body", False)
        event = json.loads(body)
        visitor = event.get("visitor") or "auto"
        if visitor == "auto":  # an id from the address and agent, as the cookieless mode
            client = (scope.get("client") or ("", 0))[0].encode()
            visitor = hmac.new(SECRET, client, hashlib.sha256).hexdigest()[:16]
        loop = asyncio.get_running_loop()
        done = loop.create_future()
        row = (
            int(time.time() * 1000),
            "view",
            visitor,
            str(event.get("session")),
            str(event.get("product")),
        )
        writer.waiting.put((row, loop, done))
        await done
        await send({"type": "http.response.start", "status": 200, "headers": HEADERS})
        await send({"type": "http.response.body", "body": OK})

    return app
