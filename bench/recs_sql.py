"""Where a slow case's time goes: the SQL it runs, each statement timed, with its plan.

The collector app runs in-process (Starlette's TestClient) on the run's copy of the
data set, with a listener on its engine that records every SELECT it sends (a WITH
query too, unless it writes: PostgreSQL's search ranks in one). Each
case gets one untimed request (caches and popularity figures filled), then one
traced request; cases that read a cached ranking get a second trace with the
ranking cache disabled, which shows what a recomputation runs. Every recorded
statement is then run again on its own with the same parameters (median of three, or
one run when it takes over a second; rows fetched) on a connection of its own, and
explained: on SQLite with EXPLAIN QUERY PLAN, on PostgreSQL with EXPLAIN (ANALYZE,
BUFFERS) (the plan as run, with each node's time and rows).
"""

from __future__ import annotations

import json
import re
import sqlite3
import statistics
import time
from typing import Any

from .common import Case


def trace(database_url: str, public_key: str, cases: list[Case], log: Any) -> dict[str, Any]:
    from sqlalchemy import event
    from starlette.testclient import TestClient

    from collector.app import create_app
    from collector.services import Services
    from collector.settings import Settings

    settings = Settings(
        database_url=database_url, secret_key="bench-trace", recommendation_cache_seconds=60
    )
    services = Services(settings)
    captured: list[tuple[str, Any]] = []

    @event.listens_for(services.storage.engine, "before_cursor_execute")
    def _record(conn: Any, cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        if is_read(statement):
            captured.append((statement, parameters))

    traces: dict[str, Any] = {}
    postgres = database_url.startswith("postgres")
    reader: Any
    if postgres:
        import psycopg

        reader = psycopg.connect(re.sub(r"^postgres(ql)?\+\w+://", "postgresql://", database_url))
        reader.autocommit = True
    else:
        reader = sqlite3.connect(
            f"file:{database_url.removeprefix('sqlite:///')}?mode=ro", uri=True
        )
    explained = explain_pg if postgres else explain
    try:
        with TestClient(create_app(settings, services=services)) as client:

            def post(case: Case) -> float:
                started = time.perf_counter()
                answer = client.post(
                    f"/v2/{case.api}",
                    content=json.dumps(case.bodies[0]),
                    headers={"content-type": "text/plain"},
                )
                if answer.status_code != 200:
                    raise RuntimeError(f"{case.name}: HTTP {answer.status_code}: {answer.text}")
                return (time.perf_counter() - started) * 1000

            for case in cases:
                post(case)  # fill caches
                runs = [("", 60)]
                if {"popular", "trending"} & set(case.caches):
                    runs.append((" (recompute)", 0))
                for suffix, ttl in runs:
                    services.rankings.ttl = ttl  # 0: every request recomputes
                    captured.clear()
                    handler_ms = post(case)
                    statements = [explained(reader, sql, params) for sql, params in captured]
                    traces[case.name + suffix] = {
                        "body": case.note,
                        "handler_ms": round(handler_ms, 1),
                        "sql_ms": round(sum(s["ms"] for s in statements), 1),
                        "statements": statements,
                    }
                    log(
                        f"  {case.name + suffix}: {handler_ms:.1f} ms in-process, "
                        f"{len(statements)} SELECTs, {traces[case.name + suffix]['sql_ms']:.1f} ms "
                        "when rerun alone"
                    )
                services.rankings.ttl = 60
    finally:
        reader.close()
    return traces


def explain(conn: sqlite3.Connection, sql: str, params: Any) -> dict[str, Any]:
    params = tuple(params or ())
    times, rows = [], 0
    for _ in range(3):
        started = time.perf_counter()
        rows = len(conn.execute(sql, params).fetchall())
        times.append((time.perf_counter() - started) * 1000)
        if times[-1] > 1000:
            break  # one run of a statement that takes seconds says enough
    depth: dict[int, int] = {0: -1}
    plan = []
    for node, parent, _, detail in conn.execute("EXPLAIN QUERY PLAN " + sql, params):
        depth[node] = depth.get(parent, -1) + 1
        plan.append("  " * depth[node] + detail)
    return {
        "ms": round(statistics.median(times), 2),
        "rows": rows,
        "summary": summarise(sql),
        "sql": " ".join(sql.split()),
        "params": [p if isinstance(p, int | float) else str(p)[:80] for p in params][:12]
        + (["..."] if len(params) > 12 else []),
        "param_count": len(params),
        "plan": plan,
    }


def explain_pg(conn: Any, sql: str, params: Any) -> dict[str, Any]:
    """`explain` on PostgreSQL (psycopg, autocommit): timed reruns, then the plan as run."""
    times, rows = [], 0
    with conn.cursor() as cursor:
        for _ in range(3):
            started = time.perf_counter()
            cursor.execute(sql, params)
            rows = len(cursor.fetchall())
            times.append((time.perf_counter() - started) * 1000)
            if times[-1] > 1000:
                break
        cursor.execute("EXPLAIN (ANALYZE, BUFFERS) " + sql, params)
        plan = [line for (line,) in cursor.fetchall()]
    values = list(params.values()) if isinstance(params, dict) else list(params or ())
    return {
        "ms": round(statistics.median(times), 2),
        "rows": rows,
        "summary": summarise(sql),
        "sql": " ".join(sql.split()),
        "params": [p if isinstance(p, int | float) else str(p)[:80] for p in values][:12]
        + (["..."] if len(values) > 12 else []),
        "param_count": len(values),
        "plan": plan,
    }


def is_read(sql: str) -> bool:
    """A statement that only reads (safe to run again and to EXPLAIN ANALYZE)."""
    flat = " ".join(sql.split()).upper()
    if flat.lstrip("( ").startswith("SELECT"):
        return True
    return flat.startswith("WITH ") and not re.search(r"\b(INSERT|UPDATE|DELETE)\b", flat)


def summarise(sql: str) -> str:
    """A short name for a statement: its tables and clauses, without column lists."""
    flat = " ".join(sql.split())
    tables = re.findall(r"\b(?:FROM|JOIN)\s+([a-z_]+)", flat)
    tail = [c for c in ("GROUP BY", "ORDER BY", "LIMIT", "MATCH", "count(*) OVER") if c in flat]
    return f"SELECT from {'+'.join(dict.fromkeys(tables))}" + (
        f" ({', '.join(tail)})" if tail else ""
    )
