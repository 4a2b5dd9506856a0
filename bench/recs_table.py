"""The printed table of the recommendations benchmark (bench/recs.py): one per engine,
SQLite's, then PostgreSQL's when the run had one."""

from __future__ import annotations

from typing import Any

from . import dataset
from .common import percentile
from .recs import SLOW_MS


def table(report: dict[str, Any]) -> list[str]:
    lines = engine_table(report, report)
    if "postgresql" in report:
        lines += engine_table(report, report["postgresql"])
    return lines


def engine_table(top: dict[str, Any], r: dict[str, Any]) -> list[str]:
    d, s, b = top["dataset"], top["settings"], r["baseline_healthz_ms"]
    build = d["build_seconds"]
    lines = [
        "",
        f"Recommendations and search: 1 worker, {ENGINES[r.get('engine', 'sqlite')]}; "
        "sequential keep-alive client, "
        f"{s['warmup']} warm-up + {s['requests']} timed requests per case; target p95 < "
        f"{s['target_p95_ms']:g} ms",
        "data set: " + dataset.describe({**d, "db_bytes": d["db_bytes"]}),
        f"  built in {build['total']:.0f} s (import products {build['import_products']:.0f} s, "
        f"insert events+orders {build['insert']:.0f} s)"
        + (
            f"; reused from the cache {d['cache_dir']}"
            if d["reused"]
            else f"; cached in {d['cache_dir']}"
        ),
        *copied(top, r),
        f"/healthz baseline: p50 {b['p50']:.2f}  p95 {b['p95']:.2f}  p99 {b['p99']:.2f} ms "
        f"(after the run: p50 {r['baseline_healthz_after_ms']['p50']:.2f}, p95 "
        f"{r['baseline_healthz_after_ms']['p95']:.2f})",
        f"{'case':<34}{'p50':>8}{'p95':>8}{'p99':>8}{'max':>8}  {'- healthz p50/p95/p99':<22}"
        f"{'n':>5} {'ids':>4}  target",
    ]
    for e in r["endpoints"]:
        lat, net = e["latency_ms"], e["minus_healthz_ms"]
        minus = f"{net['p50']:.2f}/{net['p95']:.2f}/{net['p99']:.2f}"
        flag = "met" if e["meets_target"] else "OVER"
        if e["recomputed_in_window"]:
            flag += f" ({e['recomputed_in_window']} recomputed)"
        lines.append(
            f"{e['name']:<34}{lat['p50']:>8.2f}{lat['p95']:>8.2f}{lat['p99']:>8.2f}"
            f"{lat['max']:>8.1f}  {minus:<22}{e['requests']:>4}{'*' if e['reduced'] else ' '}"
            f"{e['results']:>5}  {flag}"
        )
    cold = ", ".join(f"{name} {c['ms']:.0f} ms" for name, c in r["cold"].items())
    lines.append(f"cold (first request after start): {cold}")
    again = ", ".join(
        f"{name} p50 {c['p50']:.0f} ms (max {c['max']:.0f})"
        for name, c in r["recompute_ms"].items()
    )
    lines.append(
        f"every recomputation (RECOMMENDATION_CACHE_SECONDS=0): {again}; at the default 60 s, "
        "one per ranking per process per minute runs in the background (outside the windows "
        "above) while requests get the previous ranking"
    )
    if r.get("computed_every_request"):
        lines.append(
            "computed on every request (RECOMMENDATION_CACHE_SECONDS=0: complements and "
            "substitutes not kept; what the first request for a set of seeds pays):"
        )
    for e in r.get("computed_every_request", []):
        lat = e["latency_ms"]
        flag = "met" if e["meets_target"] else "OVER"
        lines.append(
            f"  {e['name']:<32}{lat['p50']:>8.2f}{lat['p95']:>8.2f}{lat['p99']:>8.2f}"
            f"{lat['max']:>8.1f}  {e['requests']:>4}  {flag}"
        )
    refills = sorted(
        c["ms"] for e in r["endpoints"] for c in e["recomputations"] if c["when"] == "refill"
    )
    if refills:
        lines.append(
            f"requests that found a ranking expired (and started its recomputation): "
            f"{len(refills)}, p50 {percentile(refills, 50):.1f} ms, max {refills[-1]:.1f} ms"
        )
    if any(e["reduced"] for e in r["endpoints"]):
        lines.append(
            f"* over {SLOW_MS:g} ms per request: fewer timed requests (about a minute's worth) "
            "after one untimed request"
        )
    over = [e["name"] for e in r["endpoints"] if not e["meets_target"]]
    lines.append(
        f"over the target: {', '.join(over)}" if over else "every case meets the p95 target"
    )
    if "sql_error" in r:
        lines.append(f"SQL trace failed: {r['sql_error']}")
    code = r["collector_code"]
    if len(set(code.values())) > 1:
        lines.append(
            "WARNING: the collector's code changed during the run ("
            + ", ".join(f"{k}: {v}" for k, v in code.items())
            + "): the parts do not describe the same code"
        )
    else:
        lines.append(f"collector code: {code['measured']}")
    shown = {
        name: trace
        for name, trace in r.get("sql", {}).items()
        if name in over or name.endswith("(recompute)")
    }
    if shown:
        lines.append(
            "SQL of the cases over the target and of recomputations (in-process; each SELECT "
            "rerun alone; the slowest with its plan):"
        )
    for name, trace in shown.items():
        top = max(trace["statements"], key=lambda st: st["ms"], default=None)
        line = (
            f"  {name} [{trace['body']}]: {trace['handler_ms']:.1f} ms, "
            f"{len(trace['statements'])} SELECTs {trace['sql_ms']:.1f} ms"
        )
        if top is not None:
            steps = [scan_step(p) for p in top["plan"] if scan_step(p)]
            plan = "; ".join(dict.fromkeys(steps))
            line += f"; slowest {top['ms']:.1f} ms, {top['rows']} rows: {plan}"
        lines.append(line[:240])
    return lines


ENGINES = {"sqlite": "SQLite", "postgresql": "PostgreSQL"}


def copied(top: dict[str, Any], r: dict[str, Any]) -> list[str]:
    info = top.get("postgresql_copy")
    if r.get("engine") != "postgresql" or not info:
        return []
    return [
        f"  copied to PostgreSQL database {info['database']} in {info['seconds']:.0f} s "
        f"(COPY {info['copy_seconds']:.0f} s, then VACUUM ANALYZE): "
        f"{sum(info['rows'].values()):,} rows, {info['bytes'] / 2**20:.0f} MiB"
    ]


def scan_step(line: str) -> str:
    """A plan line that reads a table or index (SQLite's SCAN/SEARCH, PostgreSQL's
    "... Scan ... on ..."), without PostgreSQL's costs and timings."""
    step = line.strip().removeprefix("->").strip()
    if step.startswith(("SCAN", "SEARCH")) or " Scan " in f" {step} ":
        return step.split("  (")[0]
    return ""
