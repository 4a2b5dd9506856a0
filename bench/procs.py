"""Processes the benchmark starts: each in a session of its own, on 127.0.0.1, always stopped.

Every process goes into a registry; `stop_all` (run at exit and on SIGINT/SIGTERM)
ends whatever is still running, by its own process id and process group (which
is that id: each one is started with start_new_session=True). Every wait has a
deadline.
"""

from __future__ import annotations

import atexit
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import IO, TypeVar

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
HOST = "127.0.0.1"
T = TypeVar("T")

_running: list[Process] = []


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def wait_for(check: Callable[[], T | None], timeout: float, what: str) -> T:
    deadline = time.monotonic() + timeout
    while True:
        try:
            result = check()
        except (OSError, urllib.error.URLError):
            result = None
        if result:
            return result
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(0.05)


def http_status(url: str, data: bytes | None = None, timeout: float = 5.0) -> int:
    request = urllib.request.Request(url, data=data, headers={"content-type": "text/plain"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as answer:
            answer.read()
            return int(answer.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)


class Process:
    """A server started by the benchmark, its output in a log file."""

    def __init__(
        self, name: str, argv: Sequence[str], *, env: dict[str, str], cwd: Path, log: Path
    ) -> None:
        self.name = name
        self.log_path = log
        self._log: IO[bytes] = open(log, "wb")  # noqa: SIM115 - closed in stop()
        self.popen = subprocess.Popen(
            list(argv),
            env=env,
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        _running.append(self)

    @property
    def pid(self) -> int:
        return self.popen.pid

    def alive(self) -> bool:
        return not self._exited()

    def _exited(self) -> bool:
        """Whether it has exited, without reaping it: its id (and group id) stays ours."""
        if self.popen.returncode is not None:
            return True
        try:
            info = os.waitid(os.P_PID, self.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT)
        except ChildProcessError:
            return True
        return info is not None

    def stop(self, timeout: float = 30.0) -> int | None:
        """SIGTERM (a graceful uvicorn shutdown); SIGKILL to its group after `timeout`."""
        if not self._exited():
            os.kill(self.pid, signal.SIGTERM)
            deadline = time.monotonic() + timeout
            while not self._exited() and time.monotonic() < deadline:
                time.sleep(0.05)
            if not self._exited():
                print(
                    f"bench: {self.name} did not stop in {timeout:.0f}s; killing it",
                    file=sys.stderr,
                )
        if self.popen.returncode is None:
            # Not reaped yet, so the group is still the one we made: end any worker left
            # in it (uvicorn's workers share their supervisor's group).
            try:
                os.killpg(self.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
            try:
                self.popen.wait(timeout=10)
            except subprocess.TimeoutExpired:
                pass
        self._log.close()
        if self in _running:
            _running.remove(self)
        return self.popen.returncode

    def cpu_seconds(self) -> float:
        """User + system CPU time so far of every live process in its group (workers too)."""
        ticks = 0
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            fields = stat[stat.rindex(")") + 2 :].split()
            if int(fields[2]) == self.pid:  # process group
                ticks += int(fields[11]) + int(fields[12])
        return ticks / os.sysconf("SC_CLK_TCK")

    def tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


def system_busy_seconds() -> float:
    """CPU seconds all cores have spent busy since boot (from /proc/stat)."""
    fields = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    user, nice, system, _idle, _iowait, irq, softirq, steal = (int(f) for f in fields[:8])
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


def group_pids(pgid: int) -> list[int]:
    """The live processes of a process group."""
    pids: list[int] = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
            if int(stat[stat.rindex(")") + 2 :].split()[2]) == pgid:
                pids.append(int(entry))
        except (OSError, ValueError, IndexError):
            continue
    return pids


def group_tasks(pgid: int) -> list[int]:
    """The thread ids of a process group's live processes."""
    tasks: list[int] = []
    for pid in group_pids(pgid):
        try:
            tasks += [int(task) for task in os.listdir(f"/proc/{pid}/task")]
        except OSError:  # it ended meanwhile
            continue
    return tasks


def pin_group(pgid: int, cpus: set[int]) -> None:
    """Every thread of a process group on `cpus` (threads it starts later inherit it)."""
    for task in group_tasks(pgid):
        try:
            os.sched_setaffinity(task, cpus)
        except OSError:  # it ended meanwhile
            continue


def split_cpus() -> tuple[set[int], set[int]]:
    """The last CPU this process may use for the server, the others for the load."""
    cpus = sorted(os.sched_getaffinity(0))
    if len(cpus) < 2:
        raise RuntimeError("pinning needs at least 2 CPUs: one for the server, one for wrk")
    return {cpus[-1]}, set(cpus[:-1])


class Pinning:
    """The server's threads on one CPU and this process (so wrk, which it starts) on the
    others, from `start` to `stop`; `again` pins threads the server started since. Made
    before the server starts, so that a machine with one CPU fails before anything runs."""

    def __init__(self) -> None:
        self.own = os.sched_getaffinity(0)
        self.server, self.load = split_cpus()
        self.pgid: int | None = None

    def start(self, pgid: int) -> None:
        self.pgid = pgid
        self.again()
        os.sched_setaffinity(0, self.load)

    def again(self) -> None:
        if self.pgid is not None:
            pin_group(self.pgid, self.server)

    def stop(self) -> None:
        os.sched_setaffinity(0, self.own)

    def describe(self) -> dict[str, list[int]]:
        return {"server": sorted(self.server), "load": sorted(self.load)}


def stop_all() -> None:
    for process in list(_running):
        process.stop(timeout=10)


def _on_signal(signum: int, _frame: object) -> None:
    stop_all()
    raise SystemExit(128 + signum)


def install_cleanup() -> None:
    atexit.register(stop_all)
    signal.signal(signal.SIGTERM, _on_signal)
    signal.signal(signal.SIGINT, _on_signal)
