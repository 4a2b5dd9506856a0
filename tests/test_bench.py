"""The benchmarks measure what they say: bench/script_size.py reports the bytes a running
collector serves for /clerk.js (minified), not the source's; the PostgreSQL paths
(bench/pg.py's copy, the 10M dashboard's build, the recommendations on both engines)
run end to end on a tiny data set; bench/soak.py paces its load and writes its figures
and plot."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.exc import OperationalError

from bench import dashboard_pg, dataset, pg, recs, script_size, soak
from bench.browser import served_size
from bench.ingest import Collector

from .conftest import POSTGRES_ADMIN_URL


def test_measured_sizes_are_what_the_collector_serves() -> None:
    workdir = Path(tempfile.mkdtemp(prefix="clerk-bench-size-test-"))
    collector = Collector(1, workdir)
    try:
        collector.start()
        served = served_size(collector.url)  # over HTTP: identity, then gzip
    finally:
        if collector.process is not None:
            collector.process.stop(timeout=30)
        shutil.rmtree(workdir, ignore_errors=True)
    size = script_size.measure()
    assert (size["raw"], size["gzip9"]) == (served["identity"], served["gzip"])
    assert size["source"] > size["raw"]  # the comments and white space the collector strips


# ---------------------------------------------------------------- PostgreSQL paths

TINY = dataset.Spec(seed=7, products=300, events=3_000, orders=150, days=30)


def _postgres_server() -> str:
    """The test server's URL, or a skip that says why there is none."""
    if os.environ.get("SKIP_POSTGRES") == "1":
        pytest.skip("SKIP_POSTGRES=1")
    engine = create_engine(POSTGRES_ADMIN_URL, connect_args={"connect_timeout": 3})
    try:
        with engine.connect():
            pass
    except OperationalError as exc:
        pytest.skip(f"no PostgreSQL server at TEST_POSTGRES_URL: {type(exc.orig).__name__}")
    finally:
        engine.dispose()
    return POSTGRES_ADMIN_URL


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dataset.Dataset]:
    """A tiny generated data set, built in a cache of its own."""
    saved = os.environ.get("BENCH_CACHE_DIR")
    os.environ["BENCH_CACHE_DIR"] = str(tmp_path_factory.mktemp("bench-cache"))
    try:
        yield dataset.ensure(TINY, lambda line: None)
    finally:
        if saved is None:
            os.environ.pop("BENCH_CACHE_DIR")
        else:
            os.environ["BENCH_CACHE_DIR"] = saved


def _databases(server: str) -> set[str]:
    engine = create_engine(server)
    try:
        with engine.connect() as conn:
            names = conn.scalars(text("SELECT datname FROM pg_database"))
            return {n for n in names if n.startswith("clerk_bench_")}  # the benchmarks' own
    finally:
        engine.dispose()


@pytest.mark.postgres
def test_postgres_copy_holds_every_table_and_the_next_ids(
    tiny: dataset.Dataset, tmp_path: Path
) -> None:
    server = _postgres_server()
    dataset.working_copy(tiny, tmp_path, lambda line: None)
    engine, name, info = pg.copy(tmp_path / "clerk.db", server, lambda line: None)
    try:
        with sqlite3.connect(tmp_path / "clerk.db") as lite:
            for table in ("stores", "products", "events", "orders", "order_lines", "searches"):
                (expected,) = lite.execute(f"SELECT count(*) FROM {table}").fetchone()
                assert info["rows"][table] == expected, table
            (last,) = lite.execute("SELECT max(id) FROM events").fetchone()
        with engine.begin() as conn:  # the collector's next event gets a new id
            new = conn.execute(
                text(
                    "INSERT INTO events (store_id, ts, kind, visitor_mode) "
                    "SELECT id, 0, 'view', 'none' FROM stores LIMIT 1 RETURNING id"
                )
            ).scalar()
        assert new == last + 1
    finally:
        engine.dispose()
        pg.drop(server, name)
    assert name not in _databases(server)


@pytest.mark.postgres
def test_dashboard_on_postgres_multiplies_the_data_set(
    tiny: dataset.Dataset, tmp_path: Path
) -> None:
    server = _postgres_server()
    engine, name, info = dashboard_pg.build(tiny, server, tmp_path, lambda line: None, copies=3)
    try:
        c = info["counts"]
        assert c["events"] == 3 * tiny.meta["counts"]["events"]
        assert c["orders"] == 3 * tiny.meta["counts"]["orders"]
        assert c["order_lines"] == 3 * tiny.meta["counts"]["order_lines"]
        with engine.connect() as conn:
            low, high = conn.execute(text("SELECT min(ts), max(ts) FROM events")).one()
        now = int(time.time() * 1000)
        assert now - 30 * dashboard_pg.DAY_MS <= low <= high < now
        engine.dispose()
        storage = dashboard_pg.storage_level(
            pg.database_url(server, name), int(tiny.meta["store"]["id"]), lambda line: None
        )
        assert storage["rolled_up_days"] >= 29
        assert storage["figures"]["orders"] > 2 * tiny.meta["counts"]["orders"]
    finally:
        engine.dispose()
        pg.drop(server, name)


@pytest.mark.postgres
def test_recs_cases_are_served_on_the_postgres_copy(tiny: dataset.Dataset, tmp_path: Path) -> None:
    """Every case of the recommendations benchmark answers on a PostgreSQL copy served
    as recs.run serves it (its Target), and the table prints that engine's part."""
    server = _postgres_server()
    dataset.working_copy(tiny, tmp_path, lambda line: None)
    db = tmp_path / "clerk.db"
    settings = recs.Settings(spec=TINY)
    all_cases = recs.cases(
        tiny.meta["store"]["public_key"], tiny.meta["picks"], recs.random_products(db, settings)
    )
    engine, name, _ = pg.copy(db, server, lambda line: None, prefix="clerk_bench_recs")
    engine.dispose()
    try:
        target = recs.Target("postgresql", db, tmp_path, pg.database_url(server, name))
        collector = target.serve(60, "collector")
        try:
            answers = {case.name: collector.post(case)[1] for case in all_cases}
        finally:
            collector.stop()
    finally:
        pg.drop(server, name)
    assert answers["popular"]["result"] and answers["search 'jacket'"]["status"] == "ok"
    assert name not in _databases(server)


@pytest.mark.skipif(
    shutil.which("wrk") is None, reason="wrk is not installed (scripts/bench installs it)"
)
def test_soak_writes_its_figures_and_plot(tmp_path: Path) -> None:
    """A tiny soak (1 s capacity run, two 2 s periods): every period has its rate,
    latency, RSS and the writer's commits, the JSON and the PNG are written, nothing
    acknowledged is lost; pinned (the server on one CPU) where there are two."""
    pytest.importorskip("matplotlib")
    png = tmp_path / "soak.png"
    pin = len(os.sched_getaffinity(0)) >= 2
    settings = soak.Settings(periods=2, period_s=2, capacity_s=1, warmup_s=0, pin=pin)
    report = soak.run(settings, None, lambda message: None, png=png)
    (result,) = report["results"]
    assert result["backend"] == "sqlite" and result["capacity_rps"] > 0
    assert result["target_rate"] == pytest.approx(result["capacity_rps"] / 2, rel=0.01)
    assert [p["period"] for p in result["periods"]] == [1, 2]
    for period in result["periods"]:
        # paced: about the rate asked for (the machine may be busy: a wide margin)
        assert 0.5 * result["target_rate"] < period["rate"] < 1.2 * result["target_rate"]
        assert period["latency_ms"]["p99"] >= period["latency_ms"]["p50"] > 0
        assert period["rss_mb_max"] >= period["rss_mb_mean"] > 10
        assert period["db_mb"] > 0 and period["server_runqueue_wait"] >= 0
        writer = period["writer"]
        assert writer["commits"] > 0 and writer["over_100ms"] <= writer["over_25ms"]
        assert writer["slowest_under_s"] is not None
    assert (result["pinned"] is not None) == pin
    assert result["durable"]["verdict"] in ("exact", "consistent")
    assert result["stored"] >= result["acknowledged"] > 0
    assert set(result["flatness"]["rss_mb"]) >= {"flat", "max_deviation", "reference_value"}
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert (
        json.loads(png.with_suffix(".json").read_text())["results"][0]["periods"]
        == (result["periods"])
    )
    assert any(line.startswith("RSS: ") for line in soak.table(report))


@pytest.mark.skipif(len(os.sched_getaffinity(0)) < 2, reason="pinning needs 2 CPUs")
def test_pinning_puts_every_server_thread_on_one_cpu_and_the_load_on_the_others() -> None:
    """--pin and --soak-pin: every thread of the server's process group, those it starts
    later too, on the last CPU; this process (and so wrk) on the others until the end."""
    import subprocess
    import sys

    from bench.procs import Pinning, group_tasks

    script = (
        "import threading, time\n"
        "threading.Thread(target=time.sleep, args=(30,), daemon=True).start()\n"
        "time.sleep(0.5)\n"
        "threading.Thread(target=time.sleep, args=(30,), daemon=True).start()\n"
        "time.sleep(30)\n"
    )
    own = os.sched_getaffinity(0)
    server = subprocess.Popen([sys.executable, "-c", script], start_new_session=True)
    try:
        time.sleep(0.2)
        pinning = Pinning()
        pinning.start(server.pid)
        try:
            cpus = sorted(own)
            assert pinning.describe() == {"server": cpus[-1:], "load": cpus[:-1]}
            assert os.sched_getaffinity(0) == set(cpus[:-1])
            time.sleep(0.6)  # the second thread starts from a pinned thread
            tasks = group_tasks(server.pid)
            assert len(tasks) == 3
            assert all(os.sched_getaffinity(task) == {cpus[-1]} for task in tasks)
        finally:
            pinning.stop()
        assert os.sched_getaffinity(0) == own
    finally:
        server.kill()
        server.wait()


def test_prototype_stores_what_it_acknowledges_on_both_stacks(tmp_path: Path) -> None:
    """DESIGN.md's prototype (bench/prototype_app.py), which the ingest ratio is read
    against: under a short wrk run on each uvicorn stack it answers 200 only for what
    it stored, as the collector served on h11 + asyncio (`serve --http h11 --loop
    asyncio`) does, and the ratios name each against the bare app on its stack. The
    prototype writing the collector's events table writes that table, indexes and all;
    the one with a landing table moves its rows into that table as it runs."""
    if shutil.which("wrk") is None:
        pytest.skip("wrk is not installed (scripts/bench installs it)")
    from bench import run as bench_run
    from bench.ingest import (
        Bare,
        Load,
        Prototype,
        PrototypeEvents,
        PrototypeLanding,
        Target,
        measure,
    )
    from collector.storage.schema import events

    load = Load(seconds=1.0, warmup=0.0, connections=8, drain=1)
    results = []
    targets: dict[str, tuple[type[Target], ...]] = {
        "auto": (Bare, Prototype, PrototypeEvents, PrototypeLanding),
        "h11": (Bare, Prototype, Collector),
    }
    for stack, makes in targets.items():
        for make in makes:
            workdir = tmp_path / f"{make.name}-{stack}"
            workdir.mkdir()
            results.append(measure(make(1, workdir, stack=stack), load))
    prototypes = [r for r in results if r["target"].startswith("prototype")]
    assert [r["stack"] for r in prototypes] == ["auto", "auto", "auto", "h11"]
    for r in [*prototypes, results[-1]]:  # and the collector served on h11 + asyncio
        assert r["ok"] > 0 and r["durable"]["verdict"] in ("exact", "consistent")
    db = tmp_path / f"{PrototypeEvents.name}-auto" / "prototype.db"
    with sqlite3.connect(db) as conn:
        columns = [row[1] for row in conn.execute("PRAGMA table_info(events)")]
        indexes = {row[1] for row in conn.execute("PRAGMA index_list(events)")}
        full = conn.execute("SELECT count(*) FROM events WHERE store_id = 1 AND session != ''")
        assert full.fetchone()[0] > 0
    assert columns == [column.name for column in events.columns]
    assert {index.name for index in events.indexes} <= indexes
    # the landing table's rows were moved into the indexed table as it ran
    with sqlite3.connect(tmp_path / f"{PrototypeLanding.name}-auto" / "prototype.db") as conn:
        sent = "WHERE product_id NOT LIKE 'w%'"  # not the readiness probe's (w1)
        moved = conn.execute(f"SELECT count(*) FROM events {sent}").fetchone()[0]
        landed = conn.execute(f"SELECT count(*) FROM events_inbox {sent}").fetchone()[0]
    assert moved > 0 and moved + landed == results[3]["stored"]
    ratios = bench_run.ratios(results)
    assert [(q["server"], q["stack"]) for q in ratios] == [
        ("prototype", "auto"),
        ("prototype, events table", "auto"),
        ("prototype, landing table", "auto"),
        ("prototype", "h11"),
        ("collector", "h11"),
    ]
