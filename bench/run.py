"""The benchmark (scripts/bench): ingest rate, clerk.js size and clerk.js main-thread time,
recommendation and search latency on a generated data set.

    scripts/bench                 full run (10 s per ingest measurement, 20 page loads)
    scripts/bench --quick         smoke test (3 s per measurement, 5 page loads)
    scripts/bench --json out.json also write the results as JSON
    scripts/bench --profile       also profile the collector under load with py-spy
    scripts/bench --only recs     recommendations and search p95 (data set built once, cached)
    scripts/bench --only content  what a /v2/content call adds to its api (same data set)
    scripts/bench --only suggestions  live search's suggestions, categories, pages p95
    scripts/bench --only facets   search with a filter and facets p95 (storage level)
    scripts/bench --only soak     10 minutes at half the ingest capacity: RSS and p99 per
                                  minute, written to docs/soak.png and docs/soak.json
                                  (not part of the default run)

Diagnostics: --prototype (ingest: DESIGN.md's raw-ASGI prototype beside the collector,
also writing the events table and a landing table, and bare app and prototype on h11 +
asyncio too), --force-nodelay (servers set
TCP_NODELAY on every accepted socket), --pin (ingest: each server on the last CPU, wrk
on the others), --browser-variants (time the loader with an empty script, and clerk.js with
document.cookie stubbed); --only, --workers, --seconds, --loads narrow a run;
--recs-requests, --recs-seed and --recs-explain tune the recommendations part;
--soak-minutes, --soak-period, --soak-rate, --soak-workers, --soak-pin and --soak-png the soak.

BENCH_POSTGRES_URL (e.g. postgresql+psycopg://postgres@127.0.0.1:5432/postgres)
adds one collector run on PostgreSQL, in a fresh database created on that server
and dropped afterwards. Everything runs on 127.0.0.1 and is stopped at the end.
Exit status: 0 when it ran (targets missed are reported, not failed), 1 when an
acknowledged event was not stored, 2 when it could not run.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sqlite3
import subprocess
import sys
import time
from importlib import metadata
from pathlib import Path
from typing import Any

from . import (
    browser,
    content,
    dashboard,
    dashboard_pg,
    dataset,
    facets,
    ingest,
    links,
    procs,
    recs,
    recs_table,
    script_size,
    soak,
    suggestions,
)
from .procs import ROOT

RATIO_TARGET = 0.6
PARTS = (
    "ingest",
    "size",
    "browser",
    "recs",
    "content",
    "dashboard",
    "links",
    "suggestions",
    "facets",
    "soak",
)
DEFAULT_PARTS = tuple(p for p in PARTS if p != "soak")  # the soak takes 12 minutes


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def machine() -> dict[str, Any]:
    cpu = "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass

    def version(package: str) -> str | None:
        try:
            return metadata.version(package)
        except metadata.PackageNotFoundError:
            return None

    def command(*argv: str) -> str | None:
        try:
            done = subprocess.run(argv, capture_output=True, text=True, timeout=10, cwd=ROOT)
        except (OSError, subprocess.TimeoutExpired):
            return None
        lines = (done.stdout or done.stderr).strip().splitlines()
        return lines[0] if lines else ""

    return {
        "nproc": os.cpu_count(),
        "loadavg_at_start": [round(x, 2) for x in os.getloadavg()],
        "cpu": cpu,
        "kernel": platform.release(),
        "python": platform.python_version(),
        "sqlite": sqlite3.sqlite_version,
        "packages": {
            p: version(p)
            for p in (
                "uvicorn",
                "starlette",
                "sqlalchemy",
                "h11",
                "httptools",
                "uvloop",
                "anyio",
                "playwright",
            )
        },
        "wrk": command("wrk", "--version"),
        "commit": command("git", "rev-parse", "--short", "HEAD"),
        "work_tree_clean": command("git", "status", "--porcelain") == "",
    }


def ratios(results: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out = []
    bare = {(r["workers"], r.get("stack", "auto")): r for r in results if r["target"] == "bare"}
    for r in results:
        against = bare.get((r["workers"], r.get("stack", "auto")))
        if r["target"] == "bare" or against is None:
            continue
        ratio = r["rps"] / against["rps"]
        out.append(
            {
                "server": r["target"],
                "backend": r["backend"],
                "stack": r.get("stack", "auto"),
                "workers": r["workers"],
                "collector_rps": round(r["rps"], 1),
                "bare_rps": round(against["rps"], 1),
                "ratio": round(ratio, 3),
                "target": RATIO_TARGET,
                "meets_target": ratio >= RATIO_TARGET,
            }
        )
    return out


def table(report: dict[str, Any]) -> str:
    m = report["machine"]
    s = report["settings"]
    lines = [
        f"clerk benchmark ({'quick' if s['quick'] else 'full'}): {m['nproc']} cores, {m['cpu']}, "
        f"Python {m['python']}, SQLite {m['sqlite']}, commit {m['commit']}",
    ]
    if "ingest" in report:
        lines += [
            "",
            f"Ingest: POST /v2/log/product, wrk {s['threads']} threads / {s['connections']} "
            f"connections, {s['seconds']:g} s window after {s['warmup']:g} s warm-up",
            f"{'target':<29}{'workers':>7}{'2xx/s':>9}{'p50 ms':>8}{'p99 ms':>8}"
            f"{'2xx':>9}{'non-2xx':>8}{'stored':>9}  {'durable':<11}{'CPU':>5}{'other':>6}",
        ]
        for r in report["ingest"]:
            name = r["target"] + (f"/{r['backend']}" if r["backend"] else "")
            name += "+nodelay" if r.get("force_nodelay") else ""
            name += "/h11" if r.get("stack") == "h11" else ""
            name += "/pinned" if r.get("pinned") else ""
            stored = r.get("stored")
            durable = r["durable"]["verdict"] if "durable" in r else "-"
            lines.append(
                f"{name:<29}{r['workers']:>7}{r['rps']:>9.0f}{r['latency_ms']['p50']:>8.1f}"
                f"{r['latency_ms']['p99']:>8.1f}{r['ok']:>9}{r['non_2xx']:>8}"
                f"{'-' if stored is None else stored:>9}  {durable:<11}"
                f"{r['server_cpu_cores']:>5.2f}{r['other_cpu_cores']:>6.2f}"
            )
        for q in report["ratios"]:
            verdict = "meets" if q["meets_target"] else "BELOW"
            target = q.get("server", "collector")
            target += f"/{q['backend']}" if q["backend"] else ""
            target += "/h11" if q.get("stack") == "h11" else ""
            lines.append(
                f"ratio {target} : bare, {q['workers']} worker(s): "
                f"{q['ratio']:.2f}x ({verdict} the {q['target']}x target)"
            )
        lines.append(
            "(CPU: cores the server kept busy in the window; other: cores busy with anything"
            " but server and wrk)"
        )
        busy = [r for r in report["ingest"] if r["other_cpu_cores"] > 0.2]
        if busy:
            lines.append(
                f"WARNING: other work kept up to {max(r['other_cpu_cores'] for r in busy):.2f} "
                "cores busy during some measurements: their figures are low; run again on a "
                "quiet machine"
            )
        if not report.get("postgres"):
            lines.append("PostgreSQL: skipped (set BENCH_POSTGRES_URL to include it)")
    if "size" in report:
        z = report["size"]
        brotli = "not measured (no brotli module)"
        if z["brotli"] is not None:
            brotli = f"{z['brotli']} B"
        lines += [
            "",
            f"clerk.js size as served (minified by the collector): raw {z['raw']} B, "
            f"gzip -9 {z['gzip9']} B ({'within' if z['within_budget'] else 'OVER'} the "
            f"{z['budget_gzip']} B budget), brotli {brotli}; source {z['source']} B",
        ]
        sent = z.get("served")  # what a running collector sent, when the browser part ran
        if sent and (sent["identity"], sent["gzip"]) != (z["raw"], z["gzip9"]):
            lines.append(
                f"WARNING: the collector sent {sent['identity']} B raw, {sent['gzip']} B "
                "gzipped: not the sizes measured above"
            )
    if "browser" in report:
        b = report["browser"]
        lines += [
            f"clerk.js main-thread script time, {b['loads']} cold loads in Chromium "
            f"{b['chromium']} (CDP ScriptDuration):",
            f"  wall  median {b['wall']['median']:.2f} ms, p95 {b['wall']['p95']:.2f} ms"
            f"  ({'within' if b['within_target_p95_wall'] else 'OVER'} the "
            f"{b['target_ms']:g} ms target at p95)",
            f"  CPU   median {b['cpu']['median']:.2f} ms, p95 {b['cpu']['p95']:.2f} ms"
            f"  ({'within' if b['within_target_p95_cpu'] else 'OVER'} the "
            f"{b['target_ms']:g} ms target at p95)",
            f"  control page without clerk.js: median {b['control_page_wall']['median']:.2f} ms",
        ]
        for label, v in b.get("variants", {}).items():
            lines.append(
                f"  variant {label}: wall median {v['wall']['median']:.2f} ms, "
                f"CPU median {v['cpu']['median']:.2f} ms"
            )
    if "profile" in report:
        for kind, p in report["profile"].items():
            if "skipped" in p:
                lines += ["", f"profile ({kind}): skipped: {p['skipped']}"]
                continue
            lines += [
                "",
                f"profile ({kind}, {p['samples']} samples, "
                f"{p.get('rps_while_profiled', 0):.0f} 2xx/s while profiled): self time",
            ]
            lines += [f"  {e['percent']:5.1f}%  {e['name']}" for e in p["self"][:10]]
            lines.append(
                "  by package: "
                + ", ".join(f"{e['name']} {e['percent']:.0f}%" for e in p["by_package"][:8])
            )
            lines.append(
                "  collector code, inclusive: "
                + ", ".join(
                    f"{e['name'].split(' (')[0]} {e['percent']:.0f}%"
                    for e in p["inclusive_collector"][:6]
                )
            )
    if "recs" in report:
        lines += recs_table.table(report["recs"])
    if "content" in report:
        lines += content.table(report["content"])
    if "dashboard" in report:
        lines += dashboard.table(report["dashboard"])
        if "postgresql" in report["dashboard"]:
            lines += dashboard_pg.table(report["dashboard"]["postgresql"])
    if "links" in report:
        lines += links.table(report["links"])
    if "suggestions" in report:
        lines += suggestions.table(report["suggestions"])
    if "facets" in report:
        lines += facets.table(report["facets"])
    if "soak" in report:
        lines += soak.table(report["soak"])
    return "\n".join(lines)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="scripts/bench",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--quick", action="store_true", help="3 s per measurement, 5 loads")
    parser.add_argument("--json", metavar="FILE", type=Path, help="write the results here")
    parser.add_argument("--seconds", type=float, help="length of each ingest window")
    parser.add_argument("--workers", default="1,2", help="worker counts (default 1,2)")
    parser.add_argument("--loads", type=int, help="page loads per series (default 20)")
    parser.add_argument(
        "--only",
        default=",".join(DEFAULT_PARTS),
        help="ingest,size,browser,recs,content,dashboard,links,suggestions,facets (the "
        "default), soak",
    )
    parser.add_argument(
        "--soak-minutes", type=int, default=10, help="periods of the soak (default 10)"
    )
    parser.add_argument(
        "--soak-period",
        type=float,
        default=60.0,
        metavar="SECONDS",
        help="length of a soak period (default 60: a minute)",
    )
    parser.add_argument(
        "--soak-rate",
        type=float,
        help="events/s the soak sends (default: half the capacity, measured first)",
    )
    parser.add_argument(
        "--soak-workers", type=int, default=1, help="collector workers in the soak (default 1)"
    )
    parser.add_argument(
        "--soak-pin",
        action="store_true",
        help="the soak's server on the last CPU, wrk on the others (sched_setaffinity)",
    )
    parser.add_argument(
        "--soak-png",
        type=Path,
        default=soak.PNG,
        help="where the soak's plot goes (default docs/soak.png; its JSON beside it)",
    )
    parser.add_argument(
        "--pg-workers",
        type=int,
        default=None,
        help="collector workers for the PostgreSQL run (default: each of --workers)",
    )
    parser.add_argument(
        "--recs-requests",
        type=int,
        help="timed requests per recommendations/search case (default 300; --quick 100)",
    )
    parser.add_argument(
        "--recs-seed", type=int, default=1, help="seed of the generated data set (default 1)"
    )
    parser.add_argument(
        "--recs-explain",
        choices=("none", "slow", "all"),
        default="slow",
        help="trace the SQL (timed, EXPLAIN QUERY PLAN) of cases over the target (slow, the "
        "default), of every case, or of none",
    )
    parser.add_argument(
        "--force-nodelay",
        action="store_true",
        help="diagnostic: servers set TCP_NODELAY on every accepted socket "
        "(see bench/nodelay/sitecustomize.py)",
    )
    parser.add_argument(
        "--prototype",
        action="store_true",
        help="ingest: also DESIGN.md's raw-ASGI prototype (bench/prototype_app.py), also "
        "writing the events table and a landing table, and the bare app and the prototype "
        "on h11 + asyncio",
    )
    parser.add_argument(
        "--pin",
        action="store_true",
        help="ingest: each server's threads on the last CPU, wrk on the others "
        "(sched_setaffinity), so that the load generator and the server do not share a CPU",
    )
    parser.add_argument(
        "--browser-variants",
        action="store_true",
        help="diagnostic: also time the loader snippet with an empty script, and clerk.js "
        "with document.cookie stubbed out",
    )
    parser.add_argument(
        "--profile",
        nargs="?",
        type=float,
        const=-1.0,
        default=None,
        metavar="SECONDS",
        help="also profile the collector with py-spy",
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    parts = [p.strip() for p in args.only.split(",") if p.strip()]
    unknown = set(parts) - set(PARTS)
    if unknown:
        log(f"bench: unknown part(s) {sorted(unknown)}; choose from {PARTS}")
        return 2
    seconds = args.seconds or (3.0 if args.quick else 10.0)
    load = ingest.Load(seconds=seconds, warmup=1.0 if args.quick else 2.0)
    loads = args.loads or (5 if args.quick else 20)
    workers = [int(w) for w in args.workers.split(",") if w.strip()]
    postgres_url = os.environ.get("BENCH_POSTGRES_URL") or None

    procs.install_cleanup()
    started = time.time()
    report: dict[str, Any] = {
        "started": time.strftime("%Y-%m-%dT%H:%M:%S%z", time.localtime(started)),
        "machine": machine(),
        "settings": {
            "quick": args.quick, "seconds": seconds, "warmup": load.warmup,
            "threads": load.threads, "connections": load.connections, "workers": workers,
            "loads": loads, "postgres": bool(postgres_url),
            "force_nodelay": args.force_nodelay, "pin": args.pin,
        },
    }  # fmt: skip
    try:
        if "ingest" in parts:
            report["ingest"] = ingest.run(
                workers,
                load,
                postgres_url,
                args.pg_workers,
                log,
                force_nodelay=args.force_nodelay,
                prototype=args.prototype,
                pin=args.pin,
            )
            report["ratios"] = ratios(report["ingest"])
            report["postgres"] = any(r["backend"] == "postgresql" for r in report["ingest"])
        if "size" in parts:
            report["size"] = script_size.measure()
        if "browser" in parts:
            log(f"browser: {loads} loads of each series")
            report["browser"] = browser.run(loads, log, variants=args.browser_variants)
            if "size" in report:
                report["size"]["served"] = report["browser"]["served_bytes"]
        if "recs" in parts:
            recs_settings = recs.Settings(
                requests=args.recs_requests or (100 if args.quick else 300),
                warmup=10 if args.quick else 20,
                recompute_samples=3 if args.quick else 10,
                budget_s=20.0 if args.quick else 60.0,
                spec=recs.dataset.Spec(seed=args.recs_seed),
            )
            report["recs"] = recs.run(recs_settings, log, explain=args.recs_explain)
        if "content" in parts:
            report["content"] = content.run(
                args.recs_requests or (100 if args.quick else 500),
                10 if args.quick else 50,
                log,
                dataset.Spec(seed=args.recs_seed),
            )
        if "dashboard" in parts:
            report["dashboard"] = dashboard.run(20 if args.quick else 100, log, seed=args.recs_seed)
            if postgres_url:
                report["dashboard"]["postgresql"] = dashboard_pg.run(
                    postgres_url, 20 if args.quick else 100, log, seed=args.recs_seed
                )
        if "links" in parts:
            report["links"] = links.run(20 if args.quick else 200, log, seed=args.recs_seed)
        if "suggestions" in parts:
            report["suggestions"] = suggestions.run(
                args.recs_requests or (300 if args.quick else 3000), log, seed=args.recs_seed
            )
        if "facets" in parts:
            report["facets"] = facets.run(20 if args.quick else 100, log, seed=args.recs_seed)
        if "soak" in parts:
            soak_settings = soak.Settings(
                periods=args.soak_minutes,
                period_s=args.soak_period,
                capacity_s=seconds,
                warmup_s=load.warmup,
                rate=args.soak_rate,
                workers=args.soak_workers,
                pin=args.soak_pin,
            )
            report["soak"] = soak.run(soak_settings, postgres_url, log, png=args.soak_png)
        if args.profile is not None:
            from . import profile

            profile_seconds = args.profile if args.profile > 0 else (3.0 if args.quick else 8.0)
            report["profile"] = profile.run(profile_seconds, log)
    except (RuntimeError, OSError, subprocess.SubprocessError) as exc:
        log(f"bench: {exc}")
        procs.stop_all()
        return 2
    finally:
        procs.stop_all()
    report["seconds_taken"] = round(time.time() - started, 1)
    print(table(report), flush=True)
    if args.json:
        args.json.write_text(json.dumps(report, indent=2) + "\n")
        log(f"bench: results written to {args.json}")
    lost = [
        r
        for r in report.get("ingest", [])
        if r.get("durable", {}).get("verdict") in ("LOST", "EXTRA")
    ]
    if "soak" in report and soak.lost(report["soak"]):
        return 1
    return 1 if lost else 0
