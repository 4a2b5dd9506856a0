"""The dashboard benchmark on PostgreSQL: the overview at 10,000,000 events (scripts/bench
--only dashboard with BENCH_POSTGRES_URL set).

The database is built on the server, in a new database (dropped at the end):

- the 1,000,000-event data set of the SQLite run (bench/dataset.py, 100,000 orders),
  its times moved to now, copied with COPY (bench/pg.py), all but the search index's
  large tables (UNREAD);
- then its events, orders, order lines and attributions inserted again COPIES - 1 more
  times, server-side (INSERT ... SELECT), each copy with its own visitor ids, sessions
  and order ids (a suffix), and its times moved by an amount drawn per visitor (from a
  hash of the visitor id, else the session, else the row, and the copy's number), kept
  within the same 30 days (wrapped round at their end): a visitor's events, orders and
  the clicks that credit them move together, so sessions, conversions and attribution
  stay what they were in the copy. Products, co-purchases, customers and search tables
  are not multiplied (the overview reads none of them);
- the events rewritten in time order (CLUSTER on their `(store_id, ts)` index): a live
  table receives its events as they happen, so a day's events lie together at the end
  of the current month's partition, where the copies above, spread over the 30 days,
  left today's events scattered through the whole table (the overview's live part,
  today's visits, read them from nearly every page: 839 ms instead of a short range);
- VACUUM ANALYZE, then the days that are over rolled up by the collector's own
  housekeeping code (collector.storage.rollups.roll_up, then the orders' roll-up,
  collector.storage.order_rollups.roll_up); the current day stays live.

Then: the overview at storage level, computed live (no roll-ups: every day from the
events) and with the roll-ups (past days from them, today from its events, as the
collector reads it), in this process; and the overview page over HTTP on a
`clerk-collector serve --workers 1` on the database, signed in, N sequential requests
against a /healthz baseline from the same server.
"""

from __future__ import annotations

import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

from . import dataset, pg
from .common import Server, summary
from .dashboard import ADMIN, DAY_MS, _timed, overview_page, roll_up_orders

COPIES = 10
# The large tables of the search index, which the dashboard never reads: not copied.
UNREAD = ("product_values", "search_texts", "search_changes")
SUFFIX = "~"  # visitor ids, sessions and order ids of copy k end in "~k"

# The move of copy :k, per visitor (else session, else row): ms within the window.
SHIFT = "mod(hashtext({key} || '~' || :k)::bigint + 2147483648, :span)"
# A time moved by it, wrapped round within [:low, :low + :span).
MOVED = ":low + mod(mod({ts} - :low + {shift}, :span) + :span, :span)"


def _moved(ts: str, key: str) -> str:
    return MOVED.format(ts=ts, shift=SHIFT.format(key=key))


def _suffixed(column: str) -> str:
    return f"{column} || '{SUFFIX}' || :k"


EVENTS = f"""
INSERT INTO events (store_id, ts, kind, visitor_mode, visitor_id, session, product_id, api,
                    labels, position, data)
SELECT store_id, {_moved("ts", "coalesce(visitor_id, session, id::text)")}, kind, visitor_mode,
       {_suffixed("visitor_id")}, {_suffixed("session")}, product_id, api, labels, position, data
FROM events WHERE store_id = :store AND id <= :last
"""
ORDERS = f"""
INSERT INTO orders (store_id, id, ts, visitor_mode, visitor_id, session, email, customer, total,
                    source, returned, discount)
SELECT store_id, {_suffixed("id")}, {_moved("ts", "coalesce(visitor_id, session, id)")},
       visitor_mode, {_suffixed("visitor_id")}, {_suffixed("session")}, email, customer, total,
       source, returned, discount
FROM orders WHERE store_id = :store AND id NOT LIKE '%{SUFFIX}%'
"""
LINES = f"""
INSERT INTO order_lines (store_id, order_id, line, product_id, quantity, price, returned)
SELECT store_id, {_suffixed("order_id")}, line, product_id, quantity, price, returned
FROM order_lines WHERE store_id = :store AND order_id NOT LIKE '%{SUFFIX}%'
"""
ATTRIBUTION = f"""
INSERT INTO order_attribution (store_id, order_id, line, product_id, order_ts, click_ts, api,
                               labels, source)
SELECT a.store_id, {_suffixed("a.order_id")}, a.line, a.product_id,
       {_moved("a.order_ts", "coalesce(o.visitor_id, o.session, o.id)")},
       {_moved("a.click_ts", "coalesce(o.visitor_id, o.session, o.id)")},
       a.api, a.labels, a.source
FROM order_attribution a JOIN orders o ON o.store_id = a.store_id AND o.id = a.order_id
WHERE a.store_id = :store AND a.order_id NOT LIKE '%{SUFFIX}%'
"""


def multiply(engine: Any, store_id: int, now_ms: int, copies: int, log: Any) -> dict[str, Any]:
    """Insert the copied rows `copies` - 1 more times (see the module's docstring)."""
    from sqlalchemy import text

    with engine.connect() as conn:
        last = conn.execute(
            text("SELECT max(id) FROM events WHERE store_id = :s"), {"s": store_id}
        ).scalar()
    params = {"store": store_id, "last": last, "low": now_ms - 30 * DAY_MS, "span": 30 * DAY_MS}
    seconds: list[float] = []
    for k in range(1, copies):
        mark = time.monotonic()
        with engine.begin() as conn:
            for statement in (EVENTS, ORDERS, LINES, ATTRIBUTION):
                conn.execute(text(statement), {**params, "k": str(k)})
        seconds.append(round(time.monotonic() - mark, 1))
        log(f"dashboard: pg: copy {k + 1} of {copies} inserted in {seconds[-1]:.0f} s")
    return {"copies": copies, "insert_seconds": seconds}


def counts(engine: Any, store_id: int, now_ms: int) -> dict[str, int]:
    from sqlalchemy import text

    out = {}
    with engine.connect() as conn:
        for table in ("events", "orders", "order_lines", "order_attribution"):
            out[table] = int(
                conn.execute(
                    text(f"SELECT count(*) FROM {table} WHERE store_id = :s"), {"s": store_id}
                ).scalar()
            )
        out["events_today"] = int(
            conn.execute(
                text("SELECT count(*) FROM events WHERE store_id = :s AND ts >= :t"),
                {"s": store_id, "t": now_ms // DAY_MS * DAY_MS},
            ).scalar()
        )
    return out


def build(data: dataset.Dataset, server_url: str, workdir: Path, log: Any, copies: int) -> Any:
    """The database (see the module's docstring): (its engine, its name, what it took)."""
    from sqlalchemy import text

    started = time.monotonic()
    dataset.working_copy(data, workdir, log)
    from collector.storage import Storage

    sqlite = Storage(f"sqlite:///{workdir / 'clerk.db'}")
    sqlite.migrate()  # a cached data set may be of an older schema
    sqlite.dispose()
    from collector.storage.schema import metadata

    tables = [t for t in metadata.tables if t not in UNREAD]
    engine, name, info = pg.copy(
        workdir / "clerk.db", server_url, log, prefix="clerk_bench_dash", tables=tables
    )
    try:
        store_id = int(data.meta["store"]["id"])
        now = int(time.time() * 1000)
        with engine.begin() as conn:  # every day rolled up again below, after the copies
            for table in ("rollup_visits", "rollup_widgets", "rollup_products", "rollup_orders"):
                conn.execute(text(f"DELETE FROM {table}"))
        info.update(multiply(engine, store_id, now, copies, log))
        mark = time.monotonic()
        with engine.connect() as conn:  # CLUSTER runs outside a transaction block
            conn.execution_options(isolation_level="AUTOCOMMIT").execute(
                text("CLUSTER events USING ix_events_store_ts")
            )
        info["cluster_seconds"] = round(time.monotonic() - mark, 1)
        mark = time.monotonic()
        pg.vacuum_analyze(engine)
        info["vacuum_seconds"] = round(time.monotonic() - mark, 1)
        info["build_seconds"] = round(time.monotonic() - started, 1)
        info["counts"] = counts(engine, store_id, now)
        info["bytes"] = pg.database_bytes(engine)
        log(
            f"dashboard: pg: {info['counts']['events']:,} events, "
            f"{info['counts']['orders']:,} orders, {info['bytes'] / 2**30:.2f} GiB, "
            f"built in {info['build_seconds']:.0f} s"
        )
    except BaseException:
        engine.dispose()
        pg.drop(server_url, name)
        raise
    return engine, name, info


def storage_level(url: str, store_id: int, log: Any, live_runs: int = 1) -> dict[str, Any]:
    from collector.storage import Storage, order_rollups, reports, rollups

    storage = Storage(url)
    try:
        now = int(time.time() * 1000)
        today = now // DAY_MS
        window = {
            "store_id": store_id,
            "start_ms": (today - 29) * DAY_MS,
            "end_ms": (today + 1) * DAY_MS,
            "window_ms": 30 * DAY_MS,
        }
        out: dict[str, Any] = {}
        live = [_timed(storage.run, reports.overview, **window)[0] for _ in range(live_runs)]
        out["overview_live_ms"] = round(min(live), 1)
        log(f"dashboard: pg: overview, 30 days computed live: {min(live):.0f} ms")
        ms, days = _timed(rollups.roll_up, storage, store_id=store_id, now_ms=now)
        out["rollup_all_days_ms"] = round(ms, 1)
        out["rolled_up_days"] = days
        log(f"dashboard: pg: housekeeping's roll-up of {days} days: {ms / 1000:.1f} s")
        out.update(roll_up_orders(storage, order_rollups, store_id, now, log, "dashboard: pg"))
        warm = [_timed(storage.run, reports.overview, **window)[0] for _ in range(20)]
        out["overview_rolled_up_ms"] = summary(warm)
        ms, _ = _timed(
            storage.run, rollups.day_rollup, store_id=store_id, day=today, parts=("visits",)
        )
        out["today_live_ms"] = round(ms, 1)  # what of it is today's events, computed live
        log(
            f"dashboard: pg: overview with roll-ups p50 {summary(warm)['p50']:.0f} ms, "
            f"p95 {summary(warm)['p95']:.0f} ms (today's roll-up computed live: {ms:.0f} ms)"
        )
        _, view = _timed(storage.run, reports.overview, **window)
        out["figures"] = {
            k: view[k]
            for k in ("orders", "revenue", "impacted_orders", "impacted_revenue", "visits")
        }
        return out
    finally:
        storage.dispose()


def run(server_url: str, requests: int, log: Any, seed: int = 1, copies: int = COPIES) -> Any:
    spec = dataset.Spec(seed=seed, orders=100_000)
    data = dataset.ensure(spec, log)
    workdir = Path(tempfile.mkdtemp(prefix="clerk-bench-dashboard-pg-"))
    name = None
    try:
        engine, name, info = build(data, server_url, workdir, log, copies)
        engine.dispose()
        url = pg.database_url(server_url, name)
        store = data.meta["store"]
        report: dict[str, Any] = {"dataset": {"key": spec.key, "database": info}}
        report["storage"] = storage_level(url, int(store["id"]), log)
        env = {**dataset.collector_env(workdir / "clerk.db"), "DATABASE_URL": url}
        dataset.cli(env, workdir, "create-admin", ADMIN[0], "--password", ADMIN[1])
        server = Server(workdir / "clerk.db", workdir, 60, "collector-dashboard-pg", url)
        try:
            report.update(overview_page(server, int(store["id"]), requests, log, "dashboard: pg"))
        finally:
            server.stop()
        return report
    finally:
        if name:
            pg.drop(server_url, name)
        shutil.rmtree(workdir, ignore_errors=True)


def table(r: dict[str, Any]) -> list[str]:
    s, db = r["storage"], r["dataset"]["database"]
    c = db["counts"]
    return [
        f"Dashboard (PostgreSQL, {c['events']:,} events, {c['orders']:,} orders "
        f"({c['events_today']:,} events today); last 30 days; ms)",
        f"  database {db['bytes'] / 2**30:.2f} GiB, built in {db['build_seconds']:.0f} s "
        f"(copy of 1M {db['seconds']:.0f} s, {db['copies'] - 1} more copies "
        f"{sum(db['insert_seconds']):.0f} s, CLUSTER {db.get('cluster_seconds', 0):.0f} s,"
        f" VACUUM ANALYZE {db['vacuum_seconds']:.0f} s)",
        f"  overview computed live from the events:    {s['overview_live_ms']:.0f}",
        f"  roll-up of every day ({s['rolled_up_days']} days, housekeeping):"
        f" {s['rollup_all_days_ms']:.0f}",
        f"  orders' roll-up ({s['order_rolled_up_days']} days, housekeeping):"
        f"    {s['order_rollup_ms']:.0f}  (today's orders live: {s['today_orders_live_ms']:.0f})",
        f"  overview with roll-ups p50/p95:            {s['overview_rolled_up_ms']['p50']:.0f} / "
        f"{s['overview_rolled_up_ms']['p95']:.0f}  (today live: {s['today_live_ms']:.0f})",
        f"  overview page over HTTP p50/p95:           {r['overview_page_ms']['p50']:.0f} / "
        f"{r['overview_page_ms']['p95']:.0f}  (/healthz p50 {r['healthz_ms']['p50']:.2f}; "
        f"first {r['overview_page_first_ms']:.0f})",
    ]
