"""Where the collector's time goes under the ingest load: py-spy on a 1-worker collector.

Runs only with `scripts/bench --profile` (py-spy samples the process from outside,
in --nonblocking mode so that it does not pause it, but it still takes CPU from a
2-core machine: the rate during profiling is lower than the measured one). The
samples (all threads that are on the CPU, native frames left out) are summed by
function, as self time (the function at the top of the stack) and inclusive time
(anywhere on the stack), and self time by package.
"""

from __future__ import annotations

import collections
import json
import os
import re
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

from .ingest import LUA, Collector, Load, run_wrk, wrk_path
from .procs import BIN

# Leaves where a thread waits rather than works (py-spy's idle detection misses them
# in --nonblocking mode): the event loop's epoll wait and a worker thread's queue wait.
IDLE = {"EpollSelector.select (selectors.py)", "Condition.wait (threading.py)"}
# Frames on (nearly) every stack: they say nothing about where the time goes.
ROOTS = re.compile(
    r"^(<module>|main|cmd_serve|run|Server\.run|asyncio_run|Runner\.run|"
    r"BaseEventLoop\.(run_until_complete|run_forever|_run_once)|Handle\._run|"
    r"Thread\._bootstrap(_inner)?|WorkerThread\.run) \("
)
FRAME = re.compile(r"^(?P<func>.*) \((?P<file>[^()]*?)(?::(?P<line>\d+))?\)$")


def py_spy() -> str | None:
    candidate = BIN / "py-spy"
    return str(candidate) if candidate.exists() else shutil.which("py-spy")


def parse(raw_text: str) -> dict[str, Any]:
    self_time: collections.Counter[str] = collections.Counter()
    inclusive: collections.Counter[str] = collections.Counter()
    by_package: collections.Counter[str] = collections.Counter()
    by_thread: collections.Counter[str] = collections.Counter()
    collector_code: collections.Counter[str] = collections.Counter()
    total = idle = 0
    for line in raw_text.splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = [name(f) for f in stack.split(";")]
        if frames[-1][0] in IDLE:
            idle += count
            continue
        total += count
        self_time[frames[-1][0]] += count
        by_package[frames[-1][1]] += count
        for label in {f[0] for f in frames if not ROOTS.match(f[0])}:
            inclusive[label] += count
        for label in {f[0] for f in frames if f[1] == "collector" and not ROOTS.match(f[0])}:
            collector_code[label] += count
        by_thread[
            "worker threads (anyio: commits, reads)"
            if "Thread._bootstrap" in stack
            else "event loop thread"
        ] += count

    def top(counter: collections.Counter[str], n: int) -> list[dict[str, Any]]:
        return [
            {"name": k, "samples": v, "percent": round(100 * v / total, 1)}
            for k, v in counter.most_common(n)
        ]

    total = max(total, 1)
    return {
        "samples": total,
        "idle_samples_left_out": idle,
        "self": top(self_time, 15),
        "inclusive": top(inclusive, 20),
        "inclusive_collector": top(collector_code, 12),
        "by_package": top(by_package, 12),
        "by_thread": top(by_thread, 4),
    }


def name(frame: str) -> tuple[str, str]:
    """("function (file)", package) of one py-spy frame "function (file:line)"."""
    match = FRAME.match(frame.strip())
    if match is None:
        return frame, "?"
    path = match.group("file")
    parts = path.split("/")
    package = parts[0] if len(parts) > 1 else path.removesuffix(".py")
    return f"{match.group('func')} ({path})", package


def run(seconds: float, log: Any) -> dict[str, Any]:
    """Two passes: every thread on the CPU, then only the thread holding the GIL."""
    return {
        "on_cpu": run_once(seconds, log, gil=False),
        "gil": run_once(seconds, log, gil=True),
    }


def run_once(seconds: float, log: Any, *, gil: bool) -> dict[str, Any]:
    spy = py_spy()
    if spy is None:
        return {"skipped": "py-spy is not installed (.venv/bin/pip install py-spy)"}
    workdir = Path(tempfile.mkdtemp(prefix="clerk-bench-profile-"))
    collector = Collector(1, workdir)
    collector.start()
    assert collector.process is not None
    url = f"{collector.url}/v2/log/product"
    out = workdir / "profile.txt"
    try:
        load = Load(seconds=seconds + 2, warmup=0)
        run_wrk(url, collector.key, 1, load, prefix="w")  # warm up
        env = {
            **os.environ,
            "BENCH_KEY": collector.key,
            "BENCH_SEND_MS": str(int((seconds + 2) * 1000)),
            "BENCH_PREFIX": "",
        }
        whole = int(seconds) + 4
        argv = [
            wrk_path(),
            "-t",
            str(load.threads),
            "-c",
            str(load.connections),
            "-d",
            f"{whole}s",
            "--timeout",
            "10s",
            "-s",
            str(LUA),
            url,
        ]
        wrk = subprocess.Popen(
            argv,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )
        try:
            time.sleep(1)
            log(
                f"profile: py-spy{' --gil' if gil else ''} on the collector "
                f"(pid {collector.process.pid}) for {seconds:.0f}s"
            )
            spied = subprocess.run(
                [spy, "record", "--pid", str(collector.process.pid), "--duration",
                 str(int(seconds)), "--rate", "250", "--format", "raw", "--nonblocking",
                 "--output", str(out), *(["--gil"] if gil else [])],
                capture_output=True, text=True, timeout=seconds + 60,
            )  # fmt: skip
        finally:
            try:
                wrk_out, _ = wrk.communicate(timeout=whole + 60)
            except subprocess.TimeoutExpired:
                wrk.kill()
                wrk_out, _ = wrk.communicate()
        if spied.returncode != 0 or not out.exists():
            return {"skipped": f"py-spy failed: {spied.stderr.strip()[-400:]}"}
        result = parse(out.read_text())
        for line in wrk_out.splitlines():
            if line.startswith("BENCH_RESULT "):
                raw = json.loads(line[len("BENCH_RESULT ") :])
                result["rps_while_profiled"] = raw["ok_window"] / (raw["window_ms"] / 1000)
        return result
    finally:
        collector.process.stop(timeout=30)
        shutil.rmtree(workdir, ignore_errors=True)
