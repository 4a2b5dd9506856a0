"""CPU time per tracking call inside the app, without HTTP: `python -m bench.ingest_cpu`.

The ratio of scripts/bench --only ingest depends on how busy the machine is; this does
not (much). It calls the app as uvicorn would (an ASGI scope, the body, the answer),
64 calls at a time, POST /v2/log/product as clerk.js sends it, on a fresh SQLite file
with the real group-commit writer, and reports the process's CPU time per call (every
thread: the event loop and the writer) and the writer thread's share, for the app
with the lean ingest path and without it (create_app(ingest_path=False)), alternating.
With --prototype, DESIGN's prototype writing the collector's events table
(bench/prototype_app.py) is measured the same way beside them: the floor of a call
that answers after its commit, in the same process and minutes.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import json
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from collector.app import create_app
from collector.services import Services
from collector.settings import Settings
from collector.storage import writer as writer_module
from collector.storage.stores import create_store

_writer_cpu = [0.0]
_commit_batch = writer_module.Writer._commit_batch


def _timed_commit_batch(self: writer_module.Writer, writes: list[Any]) -> list[Any]:
    started = time.thread_time()
    try:
        return _commit_batch(self, writes)
    finally:
        _writer_cpu[0] += time.thread_time() - started


async def _call(app: Any, key: str, n: int) -> None:
    body = json.dumps(
        {"key": key, "product": str(n % 1000), "visitor": "auto", "session": f"s{n // 8}"}
    ).encode()
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/v2/log/product",
        "raw_path": b"/v2/log/product",
        "query_string": b"",
        "root_path": "",
        "headers": [
            (b"host", b"127.0.0.1"),
            (b"content-type", b"text/plain;charset=UTF-8"),
            (b"user-agent", b"Mozilla/5.0 clerk-bench/1.0"),
            (b"content-length", str(len(body)).encode()),
        ],
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8000),
    }
    sent = False

    async def receive() -> dict[str, Any]:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        await asyncio.Event().wait()  # no disconnect: the call ends first
        raise AssertionError

    statuses: list[int] = []

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            statuses.append(message["status"])

    await app(scope, receive, send)
    if statuses != [200]:
        raise RuntimeError(f"log/product answered {statuses}")


async def _measure(lean: bool, calls: int, directory: Path) -> dict[str, float]:
    settings = Settings(
        database_url=f"sqlite:///{directory / ('lean.db' if lean else 'general.db')}",
        rate_limit_client="0",  # one client sends everything, as in scripts/bench
    )
    services = Services(settings)
    services.storage.migrate()
    key = services.storage.run(create_store, name="Bench", origins=[], now=0)["public_key"]
    app = create_app(settings, services=services, ingest_path=lean)
    inbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    outbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()

    async def life_receive() -> dict[str, Any]:
        return await inbox.get()

    async def life_send(message: dict[str, Any]) -> None:
        await outbox.put(message)

    life = asyncio.create_task(app({"type": "lifespan", "state": {}}, life_receive, life_send))
    await inbox.put({"type": "lifespan.startup"})
    await outbox.get()
    slots = asyncio.Semaphore(64)

    async def bounded(n: int) -> None:
        async with slots:
            await _call(app, key, n)

    try:
        await asyncio.gather(*(bounded(n) for n in range(500)))  # warm-up
        batches = services.storage.writer.batches
        _writer_cpu[0] = 0.0
        cpu, wall = time.process_time(), time.perf_counter()
        await asyncio.gather(*(bounded(n) for n in range(calls)))
        cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
        batches = services.storage.writer.batches - batches
    finally:
        await inbox.put({"type": "lifespan.shutdown"})
        await outbox.get()
        await life
        services.storage.dispose()
    return {
        "cpu_us": 1e6 * cpu / calls,
        "writer_cpu_us": 1e6 * _writer_cpu[0] / calls,
        "calls_per_s": calls / wall,
        "per_batch": calls / max(1, batches),
    }


async def _measure_prototype(calls: int, directory: Path) -> dict[str, float]:
    import os

    from . import prototype_app

    os.environ["BENCH_PROTOTYPE_DB"] = str(directory / "prototype.db")
    os.environ["BENCH_PROTOTYPE_SCHEMA"] = "events"
    app = prototype_app.create_app()
    slots = asyncio.Semaphore(64)

    async def bounded(n: int) -> None:
        async with slots:
            await _call(app, "bench", n)

    await asyncio.gather(*(bounded(n) for n in range(500)))  # warm-up
    cpu, wall = time.process_time(), time.perf_counter()
    await asyncio.gather(*(bounded(n) for n in range(calls)))
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    return {"cpu_us": 1e6 * cpu / calls, "writer_cpu_us": 0.0, "calls_per_s": calls / wall}


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.ingest_cpu", description=__doc__)
    parser.add_argument("--calls", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument(
        "--loop",
        choices=("auto", "asyncio", "uvloop"),
        default="auto",
        help="the event loop: auto is uvloop when it is installed, as uvicorn picks it",
    )
    parser.add_argument(
        "--prototype",
        action="store_true",
        help="also DESIGN's prototype writing the collector's events table",
    )
    args = parser.parse_args()
    loop = args.loop
    if loop == "auto":
        loop = "uvloop" if importlib.util.find_spec("uvloop") else "asyncio"
    if loop == "uvloop":
        import uvloop

        asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    print(f"event loop: {loop}", flush=True)
    writer_module.Writer._commit_batch = _timed_commit_batch  # type: ignore[method-assign]
    names = ["general", "lean", *(["prototype"] if args.prototype else [])]
    found: dict[str, list[dict[str, float]]] = {name: [] for name in names}
    with tempfile.TemporaryDirectory(prefix="clerk-bench-") as directory:
        for round_ in range(args.rounds):
            for name in names:
                path = Path(directory) / f"{round_}-{name}"
                path.mkdir()
                if name == "prototype":
                    result = asyncio.run(_measure_prototype(args.calls, path))
                else:
                    result = asyncio.run(_measure(name == "lean", args.calls, path))
                found[name].append(result)
                line = f"{name}: {result['cpu_us']:.1f} µs CPU a call"
                if name != "prototype":
                    line += (
                        f" (writer {result['writer_cpu_us']:.1f}), "
                        f"{result['per_batch']:.1f} a commit"
                    )
                print(f"{line}, {result['calls_per_s']:.0f} calls/s", flush=True)
    for name in names:
        cpu = statistics.median(r["cpu_us"] for r in found[name])
        if name == "prototype":
            print(f"median, prototype (events table): {cpu:.1f} µs")
            continue
        writer = statistics.median(r["writer_cpu_us"] for r in found[name])
        print(
            f"median, {name} path: {cpu:.1f} µs (writer {writer:.1f}, the rest {cpu - writer:.1f})"
        )


if __name__ == "__main__":
    main()
