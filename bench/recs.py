"""Recommendation and search latency on a generated data set (scripts/bench --only recs).

The data set (bench/dataset.py: 100,000 products, 1,000,000 events over 30 days,
50,000 orders) is built once and cached; each run copies it. One
`clerk-collector serve --workers 1` runs on the copy, and one sequential client on
127.0.0.1 (http.client, one keep-alive connection, one request at a time, POST with
a text/plain JSON body as clerk.js sends it) times every request from sending it
to having read the whole answer. Per case: a warm-up (20 requests), then N (300)
timed requests; p50/p95/p99 in ms, and the same minus the figures of `/healthz`
(which runs `SELECT 1` on a pooled connection in a worker thread) measured the same
way, so that what HTTP, uvicorn and Starlette cost is visible. The target is
p95 under 10 ms, checked on the whole figure.

With BENCH_POSTGRES_URL set, every case runs again on PostgreSQL: a new database on
that server holding a copy of every table (bench/pg.py: COPY, sequences set, VACUUM
ANALYZE; made before either server starts, dropped at the end), served with
DATABASE_URL by the same command, with the same cases, baseline and trace. The
report's top level is SQLite's; PostgreSQL's is under "postgresql" (bench/recs_table.py
prints one table per engine).

Caches. Store-wide rankings (popular, trending, a category's popular), and the
complements and substitutes of each set of seed products, are computed per process
and kept for RECOMMENDATION_CACHE_SECONDS (60); search reads popularity figures
that are recounted when older than 5 minutes. So:

- the first request of each store-wide ranking after the server starts is timed on
  its own ("cold"); a case's warm-up sends each of its bodies at least once,
- a second server with RECOMMENDATION_CACHE_SECONDS=0 times every request as a
  recomputation (what one request in every 60 s per process pays) and times the
  seed cases computed on every request (what the first request for a set of seeds
  pays: a product page nobody opened in the last minute, a visitor whose history
  changed),
- the measured windows are the steady state between recomputations: the client
  knows when each cache was filled (it is the only client), and before a window
  that would run past an expiry it waits for the expiry and sends one request
  that finds the ranking expired (timed, reported as a "refill"), then waits
  REFILL_SETTLE_S for the recomputation that request started in the background
  (the collector serves the previous ranking meanwhile) to end, so that no timed
  request shares the CPU with a recomputation; a timed request that found a cache
  expired all the same is counted in `recomputed_in_window`.
"""

from __future__ import annotations

import hashlib
import os
import random
import shutil
import sqlite3
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import dataset, pg, recs_sql
from .common import Case, Server, percentile, summary
from .procs import ROOT

TARGET_P95_MS = 10.0
CACHE_SECONDS = 60  # the collector's default RECOMMENDATION_CACHE_SECONDS
SEARCH_POPULARITY_SECONDS = 300  # collector/search.py POPULARITY_MAX_AGE_MS
SESSION = "BenchSession0000000000"
SLOW_MS = 200.0  # a case whose first request takes longer gets fewer timed requests
REFILL_SETTLE_S = 3.0  # a background recomputation takes 0.1-1 s on the data set

SEARCHES = (
    ("one word", "jacket"),
    ("two words", "merino sweater"),
    ("typo", "sweatr"),
    ("rare word", "slub"),
    ("no result", "kayak"),
)
PREFIX_WORDS = ("jacket", "merino", "sweater", "lantern", "boots")


@dataclass
class Settings:
    requests: int = 300
    warmup: int = 20
    recompute_samples: int = 10
    budget_s: float = 60.0  # timed requests of a case slower than SLOW_MS take about this long
    spec: dataset.Spec = field(default_factory=dataset.Spec)


def cases(key: str, picks: dict[str, Any], randoms: list[str]) -> list[Case]:
    """Every case; `randoms` are in-stock products that [random] seeds take in turn."""

    def body(**fields: Any) -> dict[str, Any]:
        return {"key": key, "visitor": "auto", "session": SESSION, "labels": ["Bench"], **fields}

    top, other = picks["top_product"], randoms[0]
    visitor, heavy = picks["visitor"], picks["heavy_visitor"]

    def personal(who: dict[str, Any]) -> dict[str, Any]:
        return body(visitor=who["id"])

    def about(who: dict[str, Any]) -> str:
        return f"{who['views']} views in {who['sessions']} sessions, {who['orders']} orders"

    found: list[Case] = [
        Case("popular", "recommendations/popular", [body()], ("popular",)),
        Case(
            "category/popular",
            "recommendations/category/popular",
            [body(category=picks["category"])],
            ("popular", "category"),
            f"{picks['category']}, {picks['category_products']:,} products",
        ),
        Case("trending", "recommendations/trending", [body()], ("trending",)),
        Case("new", "recommendations/new", [body()]),
    ]
    for api in ("complementary", "substituting"):
        found += [
            Case(
                f"{api} [popular]",
                f"recommendations/{api}",
                [body(products=[top["id"]])],
                ("seeds",),
                note=f"product {top['id']}, {top['views']:,} views",
            ),
            Case(
                f"{api} [random]",
                f"recommendations/{api}",
                [body(products=[pid]) for pid in randoms],
                ("seeds",),
                note=f"{len(randoms)} random in-stock products in turn",
            ),
            Case(
                f"{api} [popular+random]",
                f"recommendations/{api}",
                [body(products=[top["id"], other])],
                ("seeds",),
                note=f"products {top['id']} and {other} in one call",
            ),
        ]
    for api, kept in (("history", ()), ("complementary", ("seeds",))):
        found += [
            Case(
                f"visitor/{api}",
                f"recommendations/visitor/{api}",
                [personal(visitor)],
                kept,
                note=f"90th-percentile visitor: {about(visitor)}",
            ),
            Case(
                f"visitor/{api} [heaviest]",
                f"recommendations/visitor/{api}",
                [personal(heavy)],
                kept,
                note=f"heaviest visitor: {about(heavy)}",
            ),
        ]
    for label, query in SEARCHES:
        found.append(
            Case(f"search '{query}'", "search/search", [body(query=query)], ("search",), label)
        )
    for length in (2, 3, 4, 5):
        prefixes = [w[:length] for w in PREFIX_WORDS]
        found.append(
            Case(
                f"predictive {length} chars",
                "search/predictive",
                [body(query=p) for p in prefixes],
                ("search",),
                ", ".join(prefixes),
            )
        )
    return found


def random_products(db: Path, settings: Settings, n: int = 25) -> list[str]:
    """In-stock products drawn with the data set's seed (the same ones every run)."""
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
        ids = [
            row[0]
            for row in conn.execute(
                "SELECT id FROM products WHERE stock IS NULL OR stock > 0 ORDER BY id"
            )
        ]
    return random.Random(f"clerk-bench-random-products-{settings.spec.seed}").sample(ids, n)


def code_state() -> str:
    """The commit and a digest of uncommitted changes to collector/: others may be
    changing the collector while the benchmark runs, and each server start loads it."""

    def git(*args: str) -> str:
        done = subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, timeout=30)
        return done.stdout

    commit = git("rev-parse", "--short", "HEAD").strip()
    diff = git("diff", "HEAD", "--", "collector")
    return commit + (f"+{hashlib.sha1(diff.encode()).hexdigest()[:8]}" if diff else "")


class Caches:
    """When each cache the server holds was filled, as the only client sees it."""

    def __init__(self, recommendation_seconds: float) -> None:
        self.ttl = {
            "popular": recommendation_seconds,
            "category": recommendation_seconds,
            "trending": recommendation_seconds,
            # Complements and substitutes, per set of seeds (one name for them all: a
            # case's bodies are all filled in its warm-up, at about the same time).
            "seeds": recommendation_seconds,
            "search": float(SEARCH_POPULARITY_SECONDS),
        }
        self.filled: dict[str, float] = {}

    def stale(self, names: tuple[str, ...], at: float) -> list[str]:
        """The caches a request sent at `at` finds expired (and refills)."""
        return [n for n in names if n not in self.filled or at >= self.filled[n] + self.ttl[n]]

    def expiry(self, names: tuple[str, ...]) -> float | None:
        known = [self.filled[n] + self.ttl[n] for n in names if n in self.filled]
        return min(known) if known else None


def measure_case(
    server: Server, case: Case, caches: Caches, settings: Settings, log: Any
) -> dict[str, Any]:
    """Warm-up, then N timed requests; no timed request pays a cache recomputation."""
    recomputes: list[dict[str, Any]] = []

    def send(i: int) -> tuple[float, dict[str, Any], list[str]]:
        at = time.monotonic()
        stale = caches.stale(case.caches, at)
        ms, answer = server.post(case, i)
        for name in stale:
            caches.filled[name] = at
        return ms, answer, stale

    warm: list[float] = []
    requests = settings.requests
    for i in range(max(settings.warmup, len(case.bodies))):  # every body's caches filled
        ms, _, stale = send(i)
        warm.append(ms)
        if stale:
            recomputes.append({"caches": stale, "ms": round(ms, 2), "when": "warm-up"})
        if i == 0 and ms > SLOW_MS:
            # Seconds per request: N of them would take hours. Time a few, within the budget.
            requests = max(3, min(requests, int(settings.budget_s * 1000 / ms)))
            log(f"  {case.name}: {ms / 1000:.1f} s per request: timing {requests} only")
            break
    typical = sorted(warm)[len(warm) // 2] if warm else 5.0
    expected = requests * (typical + 0.2) / 1000 * 1.5 + 2
    waited = 0.0
    fits = case.caches and expected < min(caches.ttl[n] for n in case.caches) - 5
    for _ in range(len(case.caches) + 1 if fits else 0):
        expiry = caches.expiry(case.caches)
        if expiry is None or time.monotonic() + expected < expiry - 1:
            break
        pause = max(0.0, expiry + 0.5 - time.monotonic())
        log(f"  {case.name}: waiting {pause:.0f} s for a cache to expire, then refilling it")
        time.sleep(pause)
        waited += pause
        ms, _, stale = send(0)
        recomputes.append({"caches": stale, "ms": round(ms, 2), "when": "refill"})
        time.sleep(REFILL_SETTLE_S)  # the recomputation it started runs in the background
        waited += REFILL_SETTLE_S
    timed: list[float] = []
    in_window = 0
    answer: dict[str, Any] = {}
    started = time.monotonic()
    for i in range(requests):
        ms, answer, stale = send(i)
        timed.append(ms)
        if stale:
            in_window += 1
            recomputes.append({"caches": stale, "ms": round(ms, 2), "when": "window"})
    window = time.monotonic() - started
    result: dict[str, Any] = {
        "name": case.name,
        "api": case.api,
        "note": case.note,
        "queries": sorted({b["query"] for b in case.bodies if "query" in b}),
        # With several bodies in turn: the median of each (which one is slow).
        "by_body": {
            body_label(case.bodies[k]): round(percentile(timed[k :: len(case.bodies)], 50), 2)
            for k in range(len(case.bodies))
            if len(case.bodies) > 1 and timed[k :: len(case.bodies)]
        },
        "requests": len(timed),
        "reduced": len(timed) < settings.requests,
        "warmup": len(warm),
        "window_s": round(window, 2),
        "latency_ms": summary(timed),
        "results": len(answer.get("result", [])),
        "count": answer.get("count"),
        "caches": list(case.caches),
        "recomputed_in_window": in_window,
        "recomputations": recomputes,
        "waited_s": round(waited, 1),
    }
    return result


def body_label(body: dict[str, Any]) -> str:
    if "query" in body:
        return str(body["query"])
    return ",".join(body.get("products", [])) or body.get("category") or body["visitor"]


def slowest_body(result: dict[str, Any], case: Case) -> dict[str, Any]:
    """The body whose requests were slowest (the one worth tracing)."""
    by_body = result.get("by_body") or {}
    if not by_body:
        return case.bodies[0]
    worst = max(by_body, key=lambda label: by_body[label])
    return next(b for b in case.bodies if body_label(b) == worst)


def with_baseline(result: dict[str, Any], baseline: dict[str, float]) -> dict[str, Any]:
    lat = result["latency_ms"]
    result["minus_healthz_ms"] = {q: round(lat[q] - baseline[q], 2) for q in ("p50", "p95", "p99")}
    result["meets_target"] = lat["p95"] < TARGET_P95_MS
    return result


def cold_requests(server: Server, by_name: dict[str, Case], caches: Caches) -> dict[str, Any]:
    """The first request of each cached ranking after the server started."""
    cold: dict[str, Any] = {}
    for label, name, filling in (
        ("popular (computes the popular ranking)", "popular", ("popular",)),
        ("category/popular (computes the category's ranking)", "category/popular", ("category",)),
        ("trending (computes the trending ranking)", "trending", ("trending",)),
        ("search 'jacket' (recounts sales and views for ranking)", "search 'jacket'", ("search",)),
    ):
        at = time.monotonic()
        ms, answer = server.post(by_name[name])
        for cache in filling:
            caches.filled[cache] = at
        cold[name] = {"label": label, "ms": round(ms, 1), "results": len(answer["result"])}
    return cold


SEED_CASES = (  # cases whose answers are kept per set of seed products
    "complementary [popular]",
    "complementary [random]",
    "complementary [popular+random]",
    "substituting [popular]",
    "substituting [random]",
    "substituting [popular+random]",
    "visitor/complementary",
    "visitor/complementary [heaviest]",
)


def recompute_costs(
    target: Target, by_name: dict[str, Case], settings: Settings, log: Any
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """With RECOMMENDATION_CACHE_SECONDS=0 every request recomputes its ranking, and
    complements and similar products are computed for every request: the store-wide
    rankings' costs (a few samples: they take a second), and the seed cases timed as
    the steady state is (warm-up, then a third as many requests)."""
    samples = settings.recompute_samples
    log(f"recs: collector with RECOMMENDATION_CACHE_SECONDS=0: {samples} recomputations each")
    server = target.serve(0, "collector-nocache")
    try:
        server.post(by_name["popular"])  # the server's own first-request costs
        costs: dict[str, Any] = {}
        for name in ("popular", "trending", "category/popular"):
            ms = [server.post(by_name[name])[0] for _ in range(samples)]
            costs[name] = {
                "samples": samples,
                "p50": round(percentile(ms, 50), 1),
                "max": round(max(ms), 1),
            }
            log(f"  {name}: every request recomputes: p50 {costs[name]['p50']:.0f} ms")
        uncached = Settings(requests=max(30, settings.requests // 3), warmup=settings.warmup)
        computed: list[dict[str, Any]] = []
        for name in SEED_CASES:
            case = by_name[name]
            result = measure_case(
                server, Case(name, case.api, case.bodies), Caches(0), uncached, log
            )
            computed.append(result)
            lat = result["latency_ms"]
            log(f"  {name:<34} computed: p50 {lat['p50']:7.2f}  p95 {lat['p95']:7.2f} ms")
        return costs, computed
    finally:
        server.stop()


def settle(db: Path, store_id: int, log: Any) -> dict[str, Any]:
    """Migrate the copy and roll up its days that are over here, before any server starts:
    a collector does both on start (the roll-up in its housekeeping, seconds of CPU
    for 30 days), which would otherwise run beside the first cases' timed requests."""
    from collector.storage import Storage, rollups

    storage = Storage(f"sqlite:///{db}")
    try:
        started = time.monotonic()
        migrated = storage.migrate()
        now = int(time.time() * 1000)
        days = storage.run(rollups.refresh_rollups, store_id=store_id, now_ms=now)
    finally:
        storage.dispose()
    seconds = round(time.monotonic() - started, 1)
    log(f"recs: copy migrated ({migrated or 'up to date'}), {days} days rolled up: {seconds} s")
    return {"migrated": migrated, "rolled_up_days": days, "settle_seconds": seconds}


@dataclass
class Target:
    """Where a run's collector serves from: the SQLite copy, or a PostgreSQL copy of it."""

    engine: str  # "sqlite" | "postgresql"
    db: Path  # the SQLite copy (the source of the PostgreSQL one)
    workdir: Path
    url: str | None = None  # DATABASE_URL on PostgreSQL

    def serve(self, cache_seconds: int, name: str) -> Server:
        return Server(self.db, self.workdir, cache_seconds, f"{name}-{self.engine}", self.url)


def measure_engine(
    target: Target,
    all_cases: list[Case],
    public_key: str,
    settings: Settings,
    log: Any,
    explain: str,
) -> dict[str, Any]:
    """Every case on one engine: cold requests, the /healthz baseline, the steady state,
    the recomputations, and (for the cases over the target) their SQL traced."""
    by_name = {c.name: c for c in all_cases}
    log(
        f"recs: {target.engine}: collector (1 worker, "
        f"RECOMMENDATION_CACHE_SECONDS={CACHE_SECONDS}) on a copy"
    )
    code = {"measured": code_state()}
    server = target.serve(CACHE_SECONDS, "collector")
    caches = Caches(CACHE_SECONDS)
    try:
        cold = cold_requests(server, by_name, caches)
        for c in cold.values():
            log(f"  cold: {c['label']}: {c['ms']:.0f} ms")

        def healthz() -> dict[str, Any]:
            for _ in range(settings.warmup):
                server.client.call("GET", "/healthz")
            ms = [server.client.call("GET", "/healthz")[0] * 1000 for _ in range(settings.requests)]
            return summary(ms)

        baseline = healthz()
        log(
            f"  /healthz baseline: p50 {baseline['p50']:.2f}, p95 {baseline['p95']:.2f}, "
            f"p99 {baseline['p99']:.2f} ms"
        )
        results: list[dict[str, Any]] = []
        for case in all_cases:
            result = with_baseline(measure_case(server, case, caches, settings, log), baseline)
            results.append(result)
            lat = result["latency_ms"]
            log(
                f"  {case.name:<34} p50 {lat['p50']:7.2f}  p95 {lat['p95']:7.2f}  "
                f"p99 {lat['p99']:7.2f} ms  ({result['results']} results)"
            )
        baseline_after = healthz()
    finally:
        server.stop()
    code["recompute"] = code_state()
    recompute, computed = recompute_costs(target, by_name, settings, log)
    computed = [with_baseline(result, baseline) for result in computed]
    report: dict[str, Any] = {
        "engine": target.engine,
        "collector_code": code,
        "baseline_healthz_ms": baseline,
        "baseline_healthz_after_ms": baseline_after,
        "cold": cold,
        "recompute_ms": recompute,
        "endpoints": results,
        "computed_every_request": computed,
    }
    wanted = [r["name"] for r in results if explain == "all" or not r["meets_target"]]
    if explain != "none" and wanted:
        log(f"recs: {target.engine}: SQL of {len(wanted)} case(s) traced in-process, explained")
        code["sql_trace"] = code_state()
        worst = {r["name"]: slowest_body(r, by_name[r["name"]]) for r in results}
        traced = [
            Case(n, by_name[n].api, [worst[n]], by_name[n].caches, body_label(worst[n]))
            for n in wanted
        ]
        try:
            url = target.url or f"sqlite:///{target.db}"
            report["sql"] = recs_sql.trace(url, public_key, traced, log)
        except Exception as exc:  # a diagnostic: the figures above stand without it
            log(f"recs: the SQL trace failed: {exc!r}")
            report["sql_error"] = repr(exc)
    return report


def run(settings: Settings, log: Any, *, explain: str = "slow") -> dict[str, Any]:
    """Both engines when BENCH_POSTGRES_URL is set (the PostgreSQL part under
    "postgresql", the same keys as SQLite's at the top), else SQLite only."""
    started = time.monotonic()
    data = dataset.ensure(settings.spec, log)
    log("recs: data set: " + dataset.describe(data.meta))
    workdir = Path(tempfile.mkdtemp(prefix="clerk-bench-recs-"))
    server_url = os.environ.get("BENCH_POSTGRES_URL") or None
    database = None
    try:
        copy = dataset.working_copy(data, workdir, log)
        db = workdir / "clerk.db"
        copy.update(settle(db, data.meta["store"]["id"], log))
        public_key = data.meta["store"]["public_key"]
        all_cases = cases(public_key, data.meta["picks"], random_products(db, settings))
        report: dict[str, Any] = {
            "dataset": {
                **{k: data.meta[k] for k in ("key", "spec", "counts", "picks", "db_bytes")},
                "build_seconds": data.meta["build_seconds"],
                "built_at_ms": data.meta["built_at_ms"],
                "reused": data.reused,
                "cache_dir": str(data.directory),
                "copy": copy,
            },
            "settings": {
                "requests": settings.requests,
                "warmup": settings.warmup,
                "recommendation_cache_seconds": CACHE_SECONDS,
                "search_popularity_seconds": SEARCH_POPULARITY_SECONDS,
                "client": "http.client, 1 keep-alive connection, sequential, POST text/plain JSON",
                "workers": 1,
                "target_p95_ms": TARGET_P95_MS,
            },
        }
        pg_target = None
        if server_url:
            # Copied before either server runs, so that both engines serve the same rows.
            engine, database, report["postgresql_copy"] = pg.copy(
                db, server_url, log, prefix="clerk_bench_recs"
            )
            engine.dispose()
            url = pg.database_url(server_url, database)
            pg_target = Target("postgresql", db, workdir, url)
        report.update(
            measure_engine(
                Target("sqlite", db, workdir), all_cases, public_key, settings, log, explain
            )
        )
        if pg_target is not None:
            report["postgresql"] = measure_engine(
                pg_target, all_cases, public_key, settings, log, explain
            )
        report["seconds_taken"] = round(time.monotonic() - started, 1)
        return report
    finally:
        if database and server_url:
            pg.drop(server_url, database)
        shutil.rmtree(workdir, ignore_errors=True)
