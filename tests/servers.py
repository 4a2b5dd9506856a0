"""Real servers for the tests: `clerk-collector serve` as a process of its own on a free
loopback port, and a TCP relay on loopback that can cut a server off (connections
closed, new ones closed as they come) and join it again."""

from __future__ import annotations

import contextlib
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator, Sequence
from pathlib import Path

BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Served:
    """`serve` with these arguments (a command: `clerk-collector` unless `command` is
    given) on a free loopback port, its output in `log`."""

    def __init__(
        self,
        env: dict[str, str],
        cwd: Path,
        log: Path,
        args: Sequence[str] = (),
        command: Sequence[str] = (),
    ) -> None:
        self.port, self.log = free_port(), log
        self.url = f"http://127.0.0.1:{self.port}"
        argv = [*(command or [str(BIN / "clerk-collector")]), "serve", "--port", str(self.port)]
        with open(log, "wb") as out:
            self.process = subprocess.Popen(
                [*argv, *args], env=env, cwd=cwd, stdout=out, stderr=subprocess.STDOUT
            )

    def wait_ready(self, seconds: float = 60) -> None:
        """Until /healthz answers (the log in the error if the process ends first)."""
        deadline = time.monotonic() + seconds
        while True:
            try:
                urllib.request.urlopen(f"{self.url}/healthz", timeout=5).close()
                return
            except OSError:
                if self.process.poll() is not None or time.monotonic() > deadline:
                    raise AssertionError(self.log.read_text()) from None
                time.sleep(0.1)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
        self.process.wait()


@contextlib.contextmanager
def serving(
    env: dict[str, str],
    cwd: Path,
    log: Path,
    args: Sequence[str] = (),
    command: Sequence[str] = (),
) -> Iterator[str]:
    """A Served process's URL once /healthz answers; stopped after."""
    served = Served(env, cwd, log, args, command)
    try:
        served.wait_ready()
        yield served.url
    finally:
        served.stop()


class Relay:
    """A TCP relay on loopback to a server: `cut` closes its connections and refuses new
    ones (to a client, the server is down), `up = True` joins it again, `close` ends it."""

    def __init__(self, port: int) -> None:
        self.target = port
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = int(self.listener.getsockname()[1])
        self.up = True
        self.open: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                inside, _ = self.listener.accept()
            except OSError:
                return  # closed
            if not self.up:
                inside.close()
                continue
            outside = socket.create_connection(("127.0.0.1", self.target))
            self.open += [inside, outside]
            for a, b in ((inside, outside), (outside, inside)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    @staticmethod
    def _pump(source: socket.socket, sink: socket.socket) -> None:
        with contextlib.suppress(OSError):
            while data := source.recv(65536):
                sink.sendall(data)
        with contextlib.suppress(OSError):
            sink.shutdown(socket.SHUT_WR)

    def cut(self) -> None:
        self.up = False
        for sock in self.open:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()
        self.open.clear()

    def close(self) -> None:
        self.cut()
        with contextlib.suppress(OSError):  # wakes the thread blocked in accept() (Linux)
            self.listener.shutdown(socket.SHUT_RDWR)
        self.listener.close()
