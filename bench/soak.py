"""Soak: the collector at half its capacity for ten minutes, minute by minute.

One `clerk-collector serve` on a fresh database (SQLite; PostgreSQL too with
BENCH_POSTGRES_URL). A short saturating wrk run (bench/ingest.lua, as the ingest
part runs it) gives its capacity in events per second; then consecutive wrk runs of
one period each (a minute by default) send half that rate, paced by the script's
delay() (BENCH_THREAD_RATE). For each period: the rate achieved, wrk's latency
percentiles, the server's RSS (VmRSS of its process group, sampled every second:
max and mean), its CPU, the time its threads waited for a CPU (schedstat: what other
work on the machine costs it), the CPU the rest of the machine used, and the size of
its database (and of SQLite's WAL file), and from the collector's own /metrics (on for
the soak) its group-commit writer's commits in the period: how many, and how many took
over 25 and over 100 ms (clerk_writer_commit_seconds), so that a slow minute can be told
apart as slow commits (the disk, a checkpoint) or a slow event loop.

Flatness: from the second period on, RSS (the period's max) and p99 each stay
within 10% of their second-period value. It is reported, not asserted. At the end
the server is stopped and the events stored are counted: they must equal the 2xx
answers of every wrk run against it (run.py exits 1 when one is missing).

The figures go to a JSON file and a PNG (two panels: RSS MB and p99 ms per period,
one line per backend), by default docs/soak.json and docs/soak.png.
"""

from __future__ import annotations

import json
import os
import resource
import shutil
import statistics
import tempfile
import threading
import time
import urllib.request
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from .ingest import Collector, Load, PostgresDatabase, durability, libpq_url, run_wrk, summarise
from .procs import ROOT, Pinning, group_pids, group_tasks, system_busy_seconds

TOLERANCE = 0.10  # "flat": within 10% of the second period's value
PNG = ROOT / "docs" / "soak.png"


@dataclass
class Settings:
    periods: int = 10
    period_s: float = 60.0
    capacity_s: float = 10.0  # the saturating run that gives the capacity
    warmup_s: float = 2.0
    fraction: float = 0.5  # of the capacity
    rate: float | None = None  # events/s to send; None: fraction x the measured capacity
    workers: int = 1
    threads: int = 2
    connections: int = 64
    sample_s: float = 1.0  # RSS sampling interval
    # The server's threads on one CPU, wrk (and this process) on the others, so that the
    # load generator and the server do not take each other's CPU.
    pin: bool = False


class RssSampler:
    """VmRSS of every process in a process group, summed, every `interval` seconds."""

    def __init__(self, pgid: int, interval: float) -> None:
        self.pgid = pgid
        self.interval = interval
        self.samples: list[tuple[float, int]] = []  # (monotonic time, bytes)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="rss-sampler", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.ident is not None:  # started (a failed warm-up never starts it)
            self._thread.join(timeout=10)

    def _run(self) -> None:
        while not self._stop.is_set():
            rss = group_rss(self.pgid)
            if rss:
                self.samples.append((time.monotonic(), rss))
            self._stop.wait(self.interval)

    def between(self, start: float, end: float) -> list[int]:
        return [rss for t, rss in list(self.samples) if start <= t <= end]


def group_rss(pgid: int) -> int:
    """Bytes resident of the live processes of a process group (VmRSS, /proc)."""
    total = 0
    for pid in group_pids(pgid):
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1]) * 1024
                    break
        except (OSError, ValueError, IndexError):
            continue
    return total


def group_runqueue_wait(pgid: int) -> float:
    """Seconds the threads of a process group's live processes have spent runnable but
    waiting for a CPU (the second field of /proc/<pid>/task/<tid>/schedstat)."""
    total = 0
    for task in group_tasks(pgid):
        try:
            total += int(Path(f"/proc/{task}/schedstat").read_text().split()[1])
        except (OSError, ValueError, IndexError):
            continue
    return total / 1e9


SLOW_COMMIT_S = (0.025, 0.1)  # bucket bounds of clerk_writer_commit_seconds


def writer_commits(url: str) -> dict[float, float]:
    """The collector's clerk_writer_commit_seconds histogram: cumulative commits by
    bucket bound (inf: all of them), read from its /metrics."""
    from prometheus_client.parser import text_string_to_metric_families

    with urllib.request.urlopen(f"{url}/metrics", timeout=10) as answer:
        text = answer.read().decode()
    for family in text_string_to_metric_families(text):
        if family.name == "clerk_writer_commit_seconds":
            return {
                float(sample.labels["le"]): sample.value
                for sample in family.samples
                if sample.name.endswith("_bucket")
            }
    raise RuntimeError("the collector's /metrics has no clerk_writer_commit_seconds")


def commits_between(before: dict[float, float], after: dict[float, float]) -> dict[str, Any]:
    """The commits of a period, and how many of them were slower than each SLOW_COMMIT_S."""
    delta = {bound: after[bound] - before.get(bound, 0.0) for bound in after}
    total = delta[float("inf")]
    slowest = min((bound for bound in delta if delta[bound] >= total), default=None)
    return {
        "commits": int(total),
        **{f"over_{int(b * 1000)}ms": int(total - delta[b]) for b in SLOW_COMMIT_S},
        # the bucket bound under which every commit of the period ended
        "slowest_under_s": None if total == 0 else slowest,
    }


def storage_bytes(target: Collector) -> dict[str, int | None]:
    """The database's size now: SQLite's file and WAL file, or PostgreSQL's database."""
    if target.backend == "sqlite":

        def size(path: Path) -> int | None:
            try:
                return path.stat().st_size
            except OSError:
                return None

        wal = target.db_path.with_name(target.db_path.name + "-wal")
        return {"db": size(target.db_path), "wal": size(wal)}
    import psycopg

    with psycopg.connect(libpq_url(target.database_url), connect_timeout=10) as conn:
        row = conn.execute("SELECT pg_database_size(current_database())").fetchone()
    return {"db": int(row[0]) if row else None, "wal": None}


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def mb(n: float | None) -> float | None:
    return None if n is None else round(n / 1e6, 2)


def soak(target: Collector, settings: Settings, log: Any) -> dict[str, Any]:
    """Start the target, find its capacity, send it `fraction` of that for
    `periods` periods, stop it and count what it stored."""
    saturating = Load(
        seconds=settings.capacity_s,
        warmup=settings.warmup_s,
        threads=settings.threads,
        connections=settings.connections,
        drain=1,
    )
    paced = Load(
        seconds=settings.period_s,
        warmup=0,
        threads=settings.threads,
        connections=settings.connections,
        drain=1,
    )
    url = f"{target.url}/v2/log/product"
    runs: list[dict[str, Any]] = []  # every wrk run against the target, for durability
    periods: list[dict[str, Any]] = []
    capacity: dict[str, Any] | None = None
    target.env["METRICS"] = "1"  # its writer's commit times per period, from /metrics
    pinning = Pinning() if settings.pin else None
    target.start()
    assert target.process is not None
    sampler = RssSampler(target.process.pid, settings.sample_s)
    try:
        if pinning is not None:
            pinning.start(target.process.pid)  # wrk, started from here, on the other CPUs
        if settings.warmup_s > 0:
            runs.append(summarise(run_wrk(url, target.key, settings.warmup_s, saturating, "")))
        rate = settings.rate
        if rate is None:
            capacity = summarise(run_wrk(url, target.key, settings.capacity_s, saturating, ""))
            runs.append(capacity)
            rate = capacity["rps"] * settings.fraction
            log(
                f"  capacity {capacity['rps']:.0f} 2xx/s (p99 {capacity['latency_ms']['p99']:.1f}"
                f" ms); soaking at {rate:.0f}/s for {settings.periods} x {settings.period_s:g} s"
            )
        sampler.start()
        soak_started = time.monotonic()
        for i in range(settings.periods):
            if pinning is not None:  # threads the server started since
                pinning.again()
            cpu_before, started = target.process.cpu_seconds(), time.monotonic()
            busy_before, wrk_before = system_busy_seconds(), children_cpu()
            wait_before = group_runqueue_wait(target.process.pid)
            commits_before = writer_commits(target.url)
            result = summarise(run_wrk(url, target.key, settings.period_s, paced, "", rate=rate))
            ended = time.monotonic()
            cpu = target.process.cpu_seconds() - cpu_before
            wrk_cpu = children_cpu() - wrk_before
            wait = group_runqueue_wait(target.process.pid) - wait_before
            commits = commits_between(commits_before, writer_commits(target.url))
            other = max(0.0, system_busy_seconds() - busy_before - cpu - wrk_cpu)
            runs.append(result)
            rss = sampler.between(started, ended) or [group_rss(target.process.pid)]
            size = storage_bytes(target)
            periods.append(
                {
                    "period": i + 1,
                    "ended_s": round(ended - soak_started, 1),
                    "rate": round(result["rps"], 1),
                    "ok": result["ok"],
                    "non_2xx": result["non_2xx"],
                    "socket_errors": sum(result["socket_errors"].values()),
                    "latency_ms": result["latency_ms"],
                    "rss_mb_max": mb(max(rss)),
                    "rss_mb_mean": mb(statistics.fmean(rss)),
                    "rss_samples": len(rss),
                    "server_cpu_cores": round(cpu / (ended - started), 2),
                    # everything but the server and wrk (other jobs on the machine)
                    "other_cpu_cores": round(other / (ended - started), 2),
                    # the server's threads runnable but waiting for a CPU, per second
                    "server_runqueue_wait": round(wait / (ended - started), 3),
                    "db_mb": mb(size["db"]),
                    "wal_mb": mb(size["wal"]),
                    "writer": commits,
                    "loadavg": round(os.getloadavg()[0], 2),
                }
            )
            log("  " + brief(periods[-1]))
    finally:
        sampler.stop()
        if pinning is not None:
            pinning.stop()
        code = target.process.stop(timeout=60)
    total = {
        "ok": sum(r["ok"] for r in runs),
        "in_flight_at_end": sum(r["in_flight_at_end"] for r in runs),
        "socket_errors": {
            k: sum(r["socket_errors"][k] for r in runs) for k in ("read", "write", "timeout")
        },
    }
    stored = target.stored()
    report: dict[str, Any] = {
        "backend": target.backend,
        "workers": target.workers,
        "capacity_rps": None if capacity is None else round(capacity["rps"], 1),
        "capacity_latency_ms": None if capacity is None else capacity["latency_ms"],
        "target_rate": round(rate, 1),
        "pinned": None if pinning is None else pinning.describe(),
        "period_s": settings.period_s,
        "periods": periods,
        "flatness": flatness(periods),
        "acknowledged": total["ok"],
        "stored": stored,
        "durable": durability({**total, "stored": stored}),
        "server_exit": code,
    }
    return report


def flatness(periods: list[dict[str, Any]]) -> dict[str, Any]:
    """RSS (each period's max) and p99: every period from the second on within
    TOLERANCE of the second period's value; also the spread around their median."""
    out: dict[str, Any] = {"tolerance": TOLERANCE, "reference": "period 2"}
    series = {
        "rss_mb": [p["rss_mb_max"] for p in periods],
        "p99_ms": [p["latency_ms"]["p99"] for p in periods],
    }
    for name, values in series.items():
        tail = values[1:] if len(values) > 1 else values
        if not tail or not tail[0]:
            out[name] = {"flat": None}
            continue
        base, median = tail[0], statistics.median(tail)
        deviation = [v / base - 1 for v in tail]
        worst = max(range(len(tail)), key=lambda k: abs(deviation[k]))
        out[name] = {
            "reference_value": base,
            "median": round(median, 2),
            "max_deviation": round(deviation[worst], 3),
            "worst_period": worst + (2 if len(values) > 1 else 1),
            "max_deviation_from_median": round(max(abs(v / median - 1) for v in tail), 3),
            "first_to_last": round(tail[-1] / base - 1, 3),
            "flat": all(abs(d) <= TOLERANCE for d in deviation),
        }
    return out


def brief(p: dict[str, Any]) -> str:
    return (
        f"period {p['period']}: {p['rate']:.0f} 2xx/s, p50 {p['latency_ms']['p50']:.1f} ms, "
        f"p99 {p['latency_ms']['p99']:.1f} ms, RSS {p['rss_mb_max']:.1f} MB, "
        f"CPU {p['server_cpu_cores']:.2f} (other {p['other_cpu_cores']:.2f}, "
        f"run-queue wait {p['server_runqueue_wait']:.2f}), db {p['db_mb']} MB"
        + (f" (WAL {p['wal_mb']} MB)" if p["wal_mb"] is not None else "")
        + f", non-2xx {p['non_2xx']}, load {p['loadavg']:.2f}"
        + (
            f", commits {p['writer']['commits']} ({p['writer']['over_25ms']} over 25 ms,"
            f" {p['writer']['over_100ms']} over 100 ms)"
            if p.get("writer")
            else ""
        )
    )


def run(
    settings: Settings,
    postgres_url: str | None,
    log: Any,
    png: Path | None = PNG,
) -> dict[str, Any]:
    """The soak on SQLite, then (with postgres_url) on PostgreSQL; the JSON and PNG
    written next to each other (png.with_suffix('.json'))."""
    results: list[dict[str, Any]] = []
    base = Path(tempfile.mkdtemp(prefix="clerk-bench-soak-"))
    loadavg_start = [round(x, 2) for x in os.getloadavg()]
    try:
        for server in [None, postgres_url] if postgres_url else [None]:
            workdir = Path(tempfile.mkdtemp(dir=base))
            database = PostgresDatabase(server) if server else None
            try:
                url = database.create() if database is not None else None
                target = Collector(settings.workers, workdir, database_url=url)
                log(f"soak: collector ({target.backend}), {settings.workers} worker(s)")
                results.append(soak(target, settings, log))
            finally:
                if database is not None:
                    database.drop()
    finally:
        shutil.rmtree(base, ignore_errors=True)
    report: dict[str, Any] = {
        "settings": asdict(settings),
        "loadavg_start": loadavg_start,
        "loadavg_end": [round(x, 2) for x in os.getloadavg()],
        "results": results,
    }
    if png is not None:
        png.parent.mkdir(parents=True, exist_ok=True)
        png.with_suffix(".json").write_text(json.dumps(report, indent=2) + "\n")
        plot(report, png)
        report["files"] = [str(png.with_suffix(".json")), str(png)]
    return report


def plot(report: dict[str, Any], png: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    settings = report["settings"]
    unit = "minute" if settings["period_s"] == 60 else f"period of {settings['period_s']:g} s"
    fig, (rss_ax, p99_ax) = plt.subplots(2, 1, sharex=True, figsize=(8, 6.5))
    rates = []
    for r in report["results"]:
        x = [p["period"] for p in r["periods"]]
        label = {"sqlite": "SQLite", "postgresql": "PostgreSQL"}.get(r["backend"], r["backend"])
        rates.append(f"{label} {r['target_rate']:,.0f}/s")
        for ax, values in (
            (rss_ax, [p["rss_mb_max"] for p in r["periods"]]),
            (p99_ax, [p["latency_ms"]["p99"] for p in r["periods"]]),
        ):
            (line,) = ax.plot(x, values, marker="o", label=label)
            if len(values) > 1:  # the ±10% band around the second period's value
                ref = values[1]
                ax.axhspan(
                    ref * (1 - TOLERANCE), ref * (1 + TOLERANCE), color=line.get_color(), alpha=0.1
                )
    rss_ax.set_ylabel("RSS MB (max of the period)")
    p99_ax.set_ylabel("p99 latency ms")
    p99_ax.set_xlabel(unit)
    for ax in (rss_ax, p99_ax):
        ax.set_ylim(bottom=0)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(alpha=0.3)
        ax.legend(loc="lower right")
    fig.suptitle(
        f"Soak: POST /v2/log/product at half capacity ({', '.join(rates)}), "
        f"{settings['workers']} worker\nshaded: ±{TOLERANCE:.0%} of period 2",
        fontsize=10,
    )
    fig.tight_layout()
    fig.savefig(png, dpi=100)
    plt.close(fig)


def table(report: dict[str, Any]) -> list[str]:
    s = report["settings"]
    lines = [
        "",
        f"Soak: {s['periods']} periods of {s['period_s']:g} s at {s['fraction']:.0%} of capacity, "
        f"{s['workers']} worker(s), wrk {s['threads']} threads / {s['connections']} connections "
        f"(load average {report['loadavg_start'][0]:.2f} at start, "
        f"{report['loadavg_end'][0]:.2f} at end)",
    ]
    for r in report["results"]:
        capacity = "given" if r["capacity_rps"] is None else f"{r['capacity_rps']:.0f}/s"
        lines += [
            f"{r['backend']}: capacity {capacity}, sent at {r['target_rate']:.0f}/s",
            f"{'period':>6}{'2xx/s':>8}{'p50 ms':>8}{'p99 ms':>8}{'max ms':>8}"
            f"{'RSS MB':>8}{'mean':>8}{'CPU':>6}{'other':>6}{'wait':>6}{'db MB':>8}{'WAL MB':>8}"
            f"{'non-2xx':>8}{'commits':>9}{'>25ms':>6}{'>100ms':>7}",
        ]
        for p in r["periods"]:
            lat = p["latency_ms"]
            wal = "-" if p["wal_mb"] is None else f"{p['wal_mb']:.1f}"
            w = p.get("writer") or {}
            lines.append(
                f"{p['period']:>6}{p['rate']:>8.0f}{lat['p50']:>8.1f}{lat['p99']:>8.1f}"
                f"{lat['max']:>8.1f}{p['rss_mb_max']:>8.1f}{p['rss_mb_mean']:>8.1f}"
                f"{p['server_cpu_cores']:>6.2f}{p['other_cpu_cores']:>6.2f}"
                f"{p['server_runqueue_wait']:>6.2f}"
                f"{p['db_mb'] or 0:>8.1f}{wal:>8}{p['non_2xx']:>8}"
                f"{w.get('commits', 0):>9}{w.get('over_25ms', 0):>6}{w.get('over_100ms', 0):>7}"
            )
        for name, label in (("rss_mb", "RSS"), ("p99_ms", "p99")):
            f = r["flatness"][name]
            if f.get("flat") is None:
                lines.append(f"{label}: no figures")
                continue
            lines.append(
                f"{label}: {'flat' if f['flat'] else 'NOT flat'} (within ±{TOLERANCE:.0%} of "
                f"period 2's {f['reference_value']:g}: worst period {f['worst_period']} "
                f"{f['max_deviation']:+.1%}; last {f['first_to_last']:+.1%}; "
                f"±{f['max_deviation_from_median']:.1%} around the median {f['median']:g})"
            )
        d = r["durable"]
        lines.append(
            f"acknowledged {r['acknowledged']}, stored {r['stored']}: {d['verdict']}"
            + (f" ({d['unacknowledged']} unacknowledged)" if d["unacknowledged"] else "")
        )
    for path in report.get("files", []):
        where = Path(path)
        lines.append(f"written: {where.relative_to(ROOT) if where.is_relative_to(ROOT) else where}")
    return lines


def lost(report: dict[str, Any]) -> bool:
    return any(r["durable"]["verdict"] in ("LOST", "EXTRA") for r in report["results"])
