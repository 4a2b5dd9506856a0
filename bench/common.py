"""What the latency benchmarks share: a case, the timed client, a collector server,
and the nearest-rank figures (bench/recs.py, bench/dashboard.py, bench/search_storage.py,
bench/links.py and bench/browser.py use them).

A Server is one `clerk-collector serve --workers 1` on a copy of the generated data
set (bench/dataset.py), on 127.0.0.1; its Client is one keep-alive connection that
sends one request at a time and times it to the last byte read.
"""

from __future__ import annotations

import http.client
import json
import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import dataset
from .procs import BIN, HOST, Process, free_port, http_status, wait_for


@dataclass
class Case:
    name: str  # as printed
    api: str
    bodies: list[dict[str, Any]]  # sent in turn
    caches: tuple[str, ...] = ()
    note: str = ""


class Client:
    """One keep-alive connection; one request at a time, timed to the last byte read."""

    def __init__(self, port: int) -> None:
        self.conn = http.client.HTTPConnection(HOST, port, timeout=600)

    def call(
        self, method: str, path: str, body: dict[str, Any] | None = None
    ) -> tuple[float, int, bytes]:
        data = None if body is None else json.dumps(body).encode()
        headers = {"Content-Type": "text/plain"} if data is not None else {}
        for attempt in (1, 2):
            started = time.perf_counter()
            try:
                self.conn.request(method, path, body=data, headers=headers)
                answer = self.conn.getresponse()
                payload = answer.read()
            except (BrokenPipeError, ConnectionResetError, http.client.RemoteDisconnected):
                # uvicorn closes a connection idle for 5 s (a wait for a cache expiry):
                # reconnect and time the request again.
                self.conn.close()
                if attempt == 2:
                    raise
                continue
            return time.perf_counter() - started, answer.status, payload
        raise AssertionError("unreachable")

    def close(self) -> None:
        self.conn.close()


def percentile(values: list[float], q: float) -> float:
    """Nearest rank."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q / 100 * len(ordered)) - 1)]


def summary(ms: list[float]) -> dict[str, float]:
    return {
        "p50": round(percentile(ms, 50), 2),
        "p95": round(percentile(ms, 95), 2),
        "p99": round(percentile(ms, 99), 2),
        "max": round(max(ms), 2),
        "mean": round(sum(ms) / len(ms), 2),
    }


class Server:
    def __init__(
        self,
        db: Path,
        workdir: Path,
        cache_seconds: int,
        name: str,
        database_url: str | None = None,
    ) -> None:
        """On the SQLite file `db`, or on `database_url` (PostgreSQL) when given."""
        self.port = free_port()
        env = dataset.collector_env(db)
        if database_url is not None:
            env["DATABASE_URL"] = database_url
        env["RECOMMENDATION_CACHE_SECONDS"] = str(cache_seconds)
        argv = [
            str(BIN / "clerk-collector"), "serve", "--host", HOST, "--port", str(self.port),
            "--workers", "1", "--log-level", "warning",
        ]  # fmt: skip
        self.process = Process(name, argv, env=env, cwd=workdir, log=workdir / f"{name}.log")
        wait_for(
            lambda: self._up() and http_status(f"http://{HOST}:{self.port}/healthz") == 200,
            120,
            "the collector to start",
        )
        self.client = Client(self.port)

    def _up(self) -> bool:
        if not self.process.alive():
            raise RuntimeError(f"the collector exited:\n{self.process.tail()}")
        return True

    def post(self, case: Case, i: int = 0) -> tuple[float, dict[str, Any]]:
        seconds, status, payload = self.client.call(
            "POST", f"/v2/{case.api}", case.bodies[i % len(case.bodies)]
        )
        if status != 200:
            raise RuntimeError(f"{case.name}: HTTP {status}: {payload[:300]!r}")
        return seconds * 1000, json.loads(payload)

    def stop(self) -> None:
        self.client.close()
        self.process.stop(timeout=30)
