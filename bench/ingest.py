"""Ingest: durable events per second through POST /v2/log/product, measured with wrk.

For each worker count, the bare Starlette app (bench/bare_app.py) and the collector
each get a fresh server and the same wrk run (bench/ingest.lua): a short warm-up
whose events carry a "w" product prefix, then the measured window. The server is
then stopped gracefully, and the events the window stored are counted: they must
equal the 2xx answers wrk counted, since a 2xx means the event is on disk.
"""

from __future__ import annotations

import json
import os
import re
import resource
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .procs import (
    HOST,
    ROOT,
    Pinning,
    Process,
    free_port,
    http_status,
    system_busy_seconds,
    wait_for,
)

LUA = ROOT / "bench" / "ingest.lua"
NODELAY = ROOT / "bench" / "nodelay"  # see bench/nodelay/sitecustomize.py
COUNT_SQL = "SELECT count(*) FROM events WHERE kind = 'view' AND product_id NOT LIKE 'w%'"


@dataclass
class Load:
    seconds: float  # the measured window
    warmup: float
    threads: int = 2
    connections: int = 64
    drain: int = 2  # whole seconds wrk runs on after the window, so nothing is in flight


def wrk_path() -> str:
    path = shutil.which("wrk")
    if path is None:
        raise RuntimeError("wrk is not installed (scripts/bench installs it with apt-get)")
    return path


def run_wrk(
    url: str, key: str, seconds: float, load: Load, prefix: str, rate: float | None = None
) -> dict[str, Any]:
    """One wrk run: `seconds` of sending (as fast as answered, or `rate` requests per
    second in all, paced), then the drain. The BENCH_RESULT figures of bench/ingest.lua."""
    whole = int(seconds + 0.999) + load.drain
    env = {
        **os.environ,
        "BENCH_KEY": key,
        "BENCH_SEND_MS": str(int(seconds * 1000)),
        "BENCH_PREFIX": prefix,
    }
    if rate is not None:
        env["BENCH_THREAD_RATE"] = repr(rate / load.threads)
    argv = [
        wrk_path(),
        "-t", str(load.threads),
        "-c", str(load.connections),
        "-d", f"{whole}s",
        "--timeout", "10s",
        "-s", str(LUA),
        url,
    ]  # fmt: skip
    done = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=whole + 60)
    for line in done.stdout.splitlines():
        if line.startswith("BENCH_RESULT "):
            result: dict[str, Any] = json.loads(line[len("BENCH_RESULT ") :])
            return result
    raise RuntimeError(f"wrk gave no result (exit {done.returncode}): {done.stderr or done.stdout}")


def summarise(raw: dict[str, Any]) -> dict[str, Any]:
    window = raw["window_ms"] / 1000
    errors = raw["errors"]
    # wrk calls request() once outside any connection to check the script: not sent.
    sent = raw["sent"] - 1
    lost_in_transit = errors["read"] + errors["write"] + errors["timeout"]
    return {
        "rps": raw["ok_window"] / window,  # 2xx answers per second inside the window
        "window_s": window,
        "sent": sent,
        "ok": raw["ok"],
        "non_2xx": raw["other"],
        "statuses": raw["statuses"],
        "socket_errors": errors,
        "in_flight_at_end": max(0, sent - raw["responses"] - lost_in_transit),
        "latency_ms": {k: v / 1000 for k, v in raw["latency_us"].items()},
    }


class Target:
    """One server under load: the bare app or the collector on one backend."""

    name = "?"
    backend: str | None = None
    stack = "auto"  # uvicorn's HTTP parser and loop: its own choice, or "h11" (+ asyncio)

    def __init__(self, workers: int, workdir: Path, *, force_nodelay: bool = False) -> None:
        self.workers = workers
        self.workdir = workdir
        self.force_nodelay = force_nodelay
        self.port = free_port()
        self.url = f"http://{HOST}:{self.port}"
        self.key = "bench"
        self.process: Process | None = None

    def start(self) -> None:
        raise NotImplementedError

    def server_env(self, env: dict[str, str]) -> dict[str, str]:
        if not self.force_nodelay:
            return env
        path = [str(NODELAY), *filter(None, [env.get("PYTHONPATH")])]
        return {**env, "PYTHONPATH": os.pathsep.join(path)}

    def stored(self) -> int | None:
        return None

    def finish(self) -> None:
        """Drop what the target made (a PostgreSQL database)."""


class Bare(Target):
    """The bare app (bench/bare_app.py) under uvicorn, on uvicorn's own choice of HTTP
    parser and event loop (httptools and uvloop, installed with the collector) or, with
    stack "h11", on h11 and asyncio (what a plain `pip install uvicorn` serves with)."""

    name = "bare"
    factory = "bench.bare_app:create_app"
    answer = 204

    def __init__(
        self, workers: int, workdir: Path, *, force_nodelay: bool = False, stack: str = "auto"
    ) -> None:
        super().__init__(workers, workdir, force_nodelay=force_nodelay)
        self.stack = stack

    def app_env(self) -> dict[str, str]:
        return dict(os.environ)

    def start(self) -> None:
        argv = [
            sys.executable, "-m", "uvicorn", self.factory, "--factory",
            "--app-dir", str(ROOT), "--host", HOST, "--port", str(self.port),
            "--workers", str(self.workers), "--log-level", "warning",
            # as `clerk-collector serve` runs uvicorn
            "--no-server-header", "--no-proxy-headers",
        ]  # fmt: skip
        if self.stack == "h11":
            argv += ["--http", "h11", "--loop", "asyncio"]
        self.process = Process(
            f"{self.name}-{self.stack}-w{self.workers}",
            argv,
            env=self.server_env(self.app_env()),
            cwd=self.workdir,
            log=self.workdir / "server.log",
        )
        body = b'{"key":"bench","product":"w1","visitor":"auto","session":"ready"}'
        wait_for(
            lambda: self._up() and http_status(f"{self.url}/v2/log/product", body) == self.answer,
            60,
            f"the {self.name} app to start",
        )

    def _up(self) -> bool:
        assert self.process is not None
        if not self.process.alive():
            raise RuntimeError(f"the {self.name} app exited:\n{self.process.tail()}")
        return True


class Prototype(Bare):
    """DESIGN.md's raw-ASGI prototype (bench/prototype_app.py): JSON, HMAC, one writer
    thread, answering after the commit; what the 0.6x target was set from."""

    name = "prototype"
    factory = "bench.prototype_app:create_app"
    answer = 200
    tables = ("events",)  # where its events are, counted by COUNT_SQL

    def app_env(self) -> dict[str, str]:
        return {**os.environ, "BENCH_PROTOTYPE_DB": str(self.workdir / "prototype.db")}

    def stored(self) -> int:
        path = self.workdir / "prototype.db"
        with sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=30) as conn:
            return sum(
                int(conn.execute(COUNT_SQL.replace("FROM events", f"FROM {t}")).fetchone()[0])
                for t in self.tables
            )


class PrototypeEvents(Prototype):
    """The prototype writing the collector's own events table (its columns and indexes,
    a full row per event): what that table costs, with nothing else of the collector."""

    name = "prototype, events table"

    def app_env(self) -> dict[str, str]:
        return {**super().app_env(), "BENCH_PROTOTYPE_SCHEMA": "events"}


class PrototypeLanding(Prototype):
    """The prototype writing a landing table without indexes, whose rows a second thread
    moves into the collector's events table twice a second: the index updates off the
    acknowledged path. Stored: the rows of both tables."""

    name = "prototype, landing table"
    tables = ("events", "events_inbox")

    def app_env(self) -> dict[str, str]:
        return {**super().app_env(), "BENCH_PROTOTYPE_SCHEMA": "landing"}


class Collector(Target):
    name = "collector"

    def __init__(
        self,
        workers: int,
        workdir: Path,
        database_url: str | None = None,
        *,
        force_nodelay: bool = False,
        stack: str = "auto",
    ) -> None:
        super().__init__(workers, workdir, force_nodelay=force_nodelay)
        self.stack = stack
        self.backend = "sqlite" if database_url is None else "postgresql"
        self.db_path = workdir / "bench.db"
        self.database_url = database_url or f"sqlite:///{self.db_path}"
        self.env = {
            **os.environ,
            "DATABASE_URL": self.database_url,
            "SECRET_KEY": os.environ.get("SECRET_KEY") or "bench-" + uuid.uuid4().hex,
            # One client (loopback) sends the whole load: the per-client limit would cut it
            # short. The per-store limit stays on, so its cost is in the figures.
            "RATE_LIMIT_CLIENT": "0",
            # The collector of this checkout, whatever package the virtualenv installed.
            "PYTHONPATH": os.pathsep.join(
                [str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])]
            ),
        }

    def cli(self, *args: str) -> str:
        done = subprocess.run(
            [sys.executable, "-m", "collector", *args],
            env=self.env,
            cwd=self.workdir,  # no .env from the work tree
            capture_output=True,
            text=True,
            timeout=120,
        )
        if done.returncode != 0:
            raise RuntimeError(f"clerk-collector {' '.join(args)} failed: {done.stderr}")
        return done.stdout

    def start(self) -> None:
        self.key = json.loads(self.cli("create-store", "Bench", "--json"))["public_key"]
        argv = [
            sys.executable, "-m", "collector", "serve", "--host", HOST, "--port", str(self.port),
            "--workers", str(self.workers), "--log-level", "warning",
        ]  # fmt: skip
        if self.stack == "h11":
            argv += ["--http", "h11", "--loop", "asyncio"]
        self.process = Process(
            f"collector-{self.backend}-w{self.workers}",
            argv,
            env=self.server_env(self.env),
            cwd=self.workdir,
            log=self.workdir / "server.log",
        )
        wait_for(
            lambda: self._up() and http_status(f"{self.url}/healthz") == 200,
            60,
            "the collector to start",
        )

    def _up(self) -> bool:
        assert self.process is not None
        if not self.process.alive():
            raise RuntimeError(f"the collector exited:\n{self.process.tail()}")
        return True

    def stored(self) -> int:
        if self.backend == "sqlite":
            with sqlite3.connect(f"file:{self.db_path}?mode=ro", uri=True, timeout=30) as conn:
                return int(conn.execute(COUNT_SQL).fetchone()[0])
        import psycopg

        with psycopg.connect(libpq_url(self.database_url), connect_timeout=10) as conn:
            row = conn.execute(COUNT_SQL.replace("%", "%%")).fetchone()
            return int(row[0]) if row else 0


def libpq_url(url: str) -> str:
    return re.sub(r"^postgres(ql)?(\+\w+)?://", "postgresql://", url)


class PostgresDatabase:
    """A fresh database on the server of BENCH_POSTGRES_URL, dropped afterwards."""

    def __init__(self, server_url: str) -> None:
        self.server_url = libpq_url(server_url)
        self.name = "clerk_bench_" + uuid.uuid4().hex[:12]
        host = re.match(r"^postgresql://(?:[^@/]*@)?([^:/?]+)", self.server_url)
        if host is None or host.group(1) not in ("127.0.0.1", "localhost", "[::1]"):
            raise RuntimeError("BENCH_POSTGRES_URL must point at 127.0.0.1 (loopback only)")

    def _admin(self, sql: str) -> None:
        import psycopg

        with psycopg.connect(self.server_url, autocommit=True, connect_timeout=10) as conn:
            conn.execute(sql)

    def create(self) -> str:
        self._admin(f'CREATE DATABASE "{self.name}"')
        base = re.sub(r"^postgres(ql)?(\+\w+)?://", "postgresql+psycopg://", self.server_url)
        head, _, query = base.partition("?")
        scheme, _, rest = head.partition("://")
        authority = rest.split("/", 1)[0]
        return f"{scheme}://{authority}/{self.name}" + (f"?{query}" if query else "")

    def drop(self) -> None:
        self._admin(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')


def measure(target: Target, load: Load, *, pin: bool = False) -> dict[str, Any]:
    """Start the target, warm it up, measure it, stop it, check what it stored. With
    `pin`, the server's threads run on the last CPU and wrk on the others."""
    pinning = Pinning() if pin else None
    target.start()
    assert target.process is not None
    url = f"{target.url}/v2/log/product"
    try:
        if pinning is not None:
            pinning.start(target.process.pid)  # wrk, started from here, on the other CPUs
        if load.warmup > 0:
            run_wrk(url, target.key, load.warmup, load, prefix="w")
        if pinning is not None:
            pinning.again()  # threads (and workers) the server started since
        cpu_before = target.process.cpu_seconds()
        children_before = resource.getrusage(resource.RUSAGE_CHILDREN)
        busy_before, wall_before = system_busy_seconds(), time.monotonic()
        raw = run_wrk(url, target.key, load.seconds, load, prefix="")
        cpu = target.process.cpu_seconds() - cpu_before
        children = resource.getrusage(resource.RUSAGE_CHILDREN)
        busy, wall = system_busy_seconds() - busy_before, time.monotonic() - wall_before
        wrk_cpu = (children.ru_utime - children_before.ru_utime) + (
            children.ru_stime - children_before.ru_stime
        )
    finally:
        if pinning is not None:
            pinning.stop()
        started = time.monotonic()
        code = target.process.stop(timeout=60)
        stop_seconds = time.monotonic() - started
    result: dict[str, Any] = {
        "target": target.name,
        "backend": target.backend,
        "stack": target.stack,
        "workers": target.workers,
        "force_nodelay": target.force_nodelay,
        "pinned": None if pinning is None else pinning.describe(),
        **summarise(raw),
        # CPU time of the server's processes during the window (and the idle drain),
        # per second of window: 1.0 is one core kept busy.
        "server_cpu_cores": round(cpu / (raw["window_ms"] / 1000), 2),
        "server_cpu_us_per_2xx": round(1e6 * cpu / max(1, raw["ok"]), 1),
        "wrk_cpu_cores": round(wrk_cpu / (raw["window_ms"] / 1000), 2),
        # Everything else on the machine while wrk ran (another job would show here).
        "other_cpu_cores": round(max(0.0, busy - cpu - wrk_cpu) / wall, 2),
        "server_exit": code,
        "stop_seconds": round(stop_seconds, 2),
    }
    stored = target.stored()
    if stored is not None:
        result["stored"] = stored
        result["durable"] = durability(result)
    return result


def durability(result: dict[str, Any]) -> dict[str, Any]:
    """Every 2xx answer is a stored event; nothing else is stored but what was sent."""
    ok, stored = result["ok"], result["stored"]
    # A request that wrk gave up on (timeout, broken connection) or that was still in
    # flight may or may not have been stored; one answered non-2xx must not be.
    unsure = result["in_flight_at_end"] + sum(
        result["socket_errors"][k] for k in ("read", "write", "timeout")
    )
    if stored == ok:
        verdict = "exact"
    elif ok <= stored <= ok + unsure:
        verdict = "consistent"  # the extra ones were never acknowledged
    else:
        verdict = "LOST" if stored < ok else "EXTRA"
    return {"verdict": verdict, "stored_minus_2xx": stored - ok, "unacknowledged": unsure}


def run(
    workers: list[int],
    load: Load,
    postgres_url: str | None,
    pg_workers: int | None,
    log: Any,
    *,
    force_nodelay: bool = False,
    prototype: bool = False,
    pin: bool = False,
) -> list[dict[str, Any]]:
    """For each worker count: the bare app, the collector on SQLite, and (with
    postgres_url) on PostgreSQL, one after the other, so that each ratio's two figures
    come from the same minutes of the machine. `pg_workers`: PostgreSQL at that count
    only (None: at every count). `prototype`: also DESIGN.md's prototype (and it writing
    the collector's events table, and a landing table), and the bare app, the prototype
    and the collector (SQLite) again on h11 + asyncio. `pin`: each server on the last
    CPU, wrk on the others."""
    results: list[dict[str, Any]] = []
    base = Path(tempfile.mkdtemp(prefix="clerk-bench-"))
    try:
        for n in workers:
            targets: list[tuple[type[Target], str | None]] = [(Bare, None), (Collector, None)]
            if postgres_url and pg_workers in (None, n):
                targets.append((Collector, postgres_url))
            if prototype:
                targets += [
                    (Prototype, None),
                    (PrototypeEvents, None),
                    (PrototypeLanding, None),
                    (Bare, "h11"),
                    (Prototype, "h11"),
                    (Collector, "h11"),
                ]
            for make, server in targets:
                workdir = Path(tempfile.mkdtemp(dir=base))
                # server: a PostgreSQL URL for the collector, else the stack ("h11") if any
                stack = "h11" if server == "h11" else "auto"
                database = PostgresDatabase(server) if server and stack == "auto" else None
                try:
                    if database is not None:
                        target: Target = Collector(
                            n, workdir, database_url=database.create(), force_nodelay=force_nodelay
                        )
                    else:
                        target = make(n, workdir, force_nodelay=force_nodelay, stack=stack)
                    log(
                        f"ingest: {target.name} ({target.backend or 'no storage'},"
                        f" {target.stack}), {n} worker(s)"
                    )
                    results.append(
                        {**measure(target, load, pin=pin), "loadavg": list(os.getloadavg())}
                    )
                    log("  " + brief(results[-1]))
                finally:
                    if database is not None:
                        database.drop()
    finally:
        shutil.rmtree(base, ignore_errors=True)
    return results


def brief(r: dict[str, Any]) -> str:
    text = (
        f"{r['rps']:.0f} 2xx/s, p50 {r['latency_ms']['p50']:.1f} ms, "
        f"p99 {r['latency_ms']['p99']:.1f} ms, 2xx {r['ok']}, non-2xx {r['non_2xx']}"
    )
    if "stored" in r:
        text += f", stored {r['stored']} ({r['durable']['verdict']})"
    if "loadavg" in r:
        text += f", load average {r['loadavg'][0]:.2f}"
    return text
