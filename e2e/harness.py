"""Real processes on loopback: the collector (through its CLI) and the demo shop."""

from __future__ import annotations

import json
import os
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, TypeVar

from playwright.sync_api import Page, Request

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = Path(__file__).resolve().parent / "fixtures"
BIN = Path(sys.executable).parent
T = TypeVar("T")

# The OS package's Chromium (Playwright's own browser download is never used).
CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]

# Every browser test uses this User-Agent, so a test can prove it is stored nowhere.
USER_AGENT = (
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/120.0 Safari/537.36 E2E-Marker/7.7"
)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for(
    check: Callable[[], T], timeout: float = 10.0, what: str = "condition", page: Page | None = None
) -> T:
    """Poll until check() returns something truthy; fail naming `what` after `timeout`.

    With a page, the pause between polls is Playwright's, so that its events (requests,
    cookies) keep arriving: the sync API delivers them only inside its own calls.
    """
    deadline = time.monotonic() + timeout
    while True:
        try:
            result = check()
        except (OSError, sqlite3.OperationalError, urllib.error.URLError):
            result = None  # not up yet
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        if page is not None:
            page.wait_for_timeout(50)
        else:
            time.sleep(0.05)


def http_json(url: str, body: dict[str, Any] | None = None, method: str | None = None) -> Any:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(
        url, data=data, method=method, headers={"content-type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=10) as answer:
        return json.loads(answer.read())


@dataclass
class Stack:
    """A collector and a demo shop as two real uvicorn processes on two origins."""

    workdir: Path
    extra_env: dict[str, str] = field(default_factory=dict)
    # The store lists the shop's origin, as a shop's store should: its pages get personal
    # calls (history, basket) answered. False: a store without a list.
    list_shop_origin: bool = True
    processes: list[subprocess.Popen[bytes]] = field(default_factory=list)
    logs: list[IO[bytes]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.db_path = self.workdir / "clerk.db"
        self.collector_port, self.shop_port = free_port(), free_port()
        self.collector_url = f"http://127.0.0.1:{self.collector_port}"
        # A different host name: the collector is cross-origin, as in production.
        self.shop_url = f"http://localhost:{self.shop_port}"
        self.env = {
            **os.environ,
            # The checkout's own collector and shop, even where another checkout of the
            # project is the one installed (the venv's `clerk-collector` imports that one).
            "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
            "DATABASE_URL": f"sqlite:///{self.db_path}",
            **self.extra_env,
        }

    def cli(self, *args: str) -> str:
        done = subprocess.run(
            [str(BIN / "clerk-collector"), *args],
            env=self.env,
            cwd=self.workdir,
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        )
        return done.stdout

    def create_store(self) -> dict[str, str]:
        """The store, made in this process as `clerk-collector create-store "E2E shop"
        [--origin SHOP]` makes it (the migrations, then create_store): a process of its own
        costs a second or more per test, and test_cli covers the command itself."""
        from collector.origins import parse_origin
        from collector.storage import Storage
        from collector.storage.stores import create_store

        origins = [parse_origin(self.shop_url)] if self.list_shop_origin else []
        storage = Storage(self.env["DATABASE_URL"])
        try:
            storage.migrate()
            return storage.run(
                create_store, name="E2E shop", origins=origins, now=int(time.time() * 1000)
            )
        finally:
            storage.dispose()

    def start(self) -> Stack:
        keys = self.create_store()
        self.public_key, self.private_key = keys["public_key"], keys["private_key"]
        self._spawn(
            "collector",
            [
                str(BIN / "clerk-collector"),
                "serve",
                "--port",
                str(self.collector_port),
                "--log-level",
                "warning",
            ],
            self.env,
        )
        shop_env = {
            **self.env,
            "DEMO_COLLECTOR_URL": self.collector_url,
            "DEMO_PUBLIC_KEY": self.public_key,
            "DEMO_SHOP_URL": self.shop_url,
        }
        self._spawn(
            "shop",
            [
                sys.executable,
                "-m",
                "uvicorn",
                "demo_shop.app:create_app",
                "--factory",
                "--host",
                "127.0.0.1",
                "--port",
                str(self.shop_port),
                "--log-level",
                "warning",
            ],
            shop_env,
        )
        wait_for(lambda: http_json(f"{self.collector_url}/healthz"), 20, "collector to start")
        wait_for(
            lambda: urllib.request.urlopen(self.shop_url, timeout=5).status == 200,
            20,
            "demo shop to start",
        )
        self.seed_catalogue()
        return self

    def seed_catalogue(self) -> None:
        from demo_shop.catalogue import generate_catalogue

        items = generate_catalogue(self.shop_url)
        for start in range(0, len(items), 100):
            http_json(
                f"{self.collector_url}/v2/products",
                {
                    "key": self.public_key,
                    "private_key": self.private_key,
                    "products": items[start : start + 100],
                },
            )

    def _spawn(self, name: str, argv: list[str], env: dict[str, str]) -> None:
        log = open(self.workdir / f"{name}.log", "wb")  # noqa: SIM115 - closed in stop()
        self.logs.append(log)
        self.processes.append(
            subprocess.Popen(argv, env=env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
        )

    def stop(self) -> None:
        for process in self.processes:
            process.terminate()
        for process in self.processes:
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        for log in self.logs:
            log.close()

    # --- what the collector stored -------------------------------------------------

    def query(self, sql: str, *params: Any) -> list[dict[str, Any]]:
        with sqlite3.connect(f"file:{self.db_path}?mode=ro", uri=True) as conn:
            conn.row_factory = sqlite3.Row
            return [dict(row) for row in conn.execute(sql, params)]

    def database_text(self) -> str:
        """Every value in every table, as one text: for 'stored nowhere' checks."""
        tables = [
            r["name"] for r in self.query("SELECT name FROM sqlite_master WHERE type = 'table'")
        ]
        return "\n".join(json.dumps(self.query(f"SELECT * FROM {t}"), default=str) for t in tables)


class Recorder:
    """Every request the page sends to the collector, with its parsed payload."""

    def __init__(self, page: Page, collector_url: str) -> None:
        self.page = page
        self.collector_url = collector_url
        self.requests: list[Request] = []
        self.choice = 0  # a test may note here how many calls came before a consent choice
        page.context.on("request", self._on_request)

    def _on_request(self, request: Request) -> None:
        if request.url.startswith(self.collector_url):
            self.requests.append(request)

    def calls(self) -> list[tuple[str, dict[str, Any]]]:
        """(endpoint, payload) of every API call, in order; /clerk.js loads excluded."""
        out = []
        for request in self.requests:
            path = request.url[len(self.collector_url) :].split("?")[0]
            if path.startswith("/v2/"):
                out.append((path[4:], json.loads(request.post_data or "{}")))
        return out

    def endpoints(self) -> list[str]:
        return [endpoint for endpoint, _ in self.calls()]

    def wait_for_call(self, endpoint: str, count: int = 1) -> list[dict[str, Any]]:
        def seen() -> list[dict[str, Any]] | None:
            payloads = [p for e, p in self.calls() if e == endpoint]
            return payloads if len(payloads) >= count else None

        return wait_for(seen, 10, f"{count} call(s) to {endpoint}", self.page)


def device_state(page: Page) -> dict[str, Any]:
    """What the shopper's device holds for this site, as an auditor would read it."""
    storage = page.evaluate("""async () => ({
        local: Object.keys(localStorage),
        session: Object.keys(sessionStorage),
        indexeddb: (await indexedDB.databases()).map(db => db.name),
        document_cookie: document.cookie,
    })""")
    storage["cookies"] = {c["name"]: c for c in page.context.cookies()}
    return storage


def open_fixture(page: Page, stack: Stack, query: str = "", name: str = "basic.html") -> None:
    """Serve a fixture page on the shop's origin, open it and wait for clerk.js to run."""
    html = (
        (FIXTURES / name)
        .read_text()
        .replace("{{COLLECTOR}}", stack.collector_url)
        .replace("{{KEY}}", stack.public_key)
    )
    url = f"{stack.shop_url}/fixture/{name}"
    # A fulfilled page has no address of its own, so Chromium counts it as public and its
    # calls to the loopback collector need Local Network Access; a real shop's would not.
    page.context.grant_permissions(["local-network-access"], origin=stack.shop_url)
    page.route(
        lambda u: u.split("?")[0] == url,
        lambda route: route.fulfill(body=html, content_type="text/html"),
    )
    page.goto(url + query)
    wait_for(
        lambda: page.evaluate("window.Clerk.loaded === true"), what="clerk.js to run", page=page
    )


def stored(page: Page, stack: Stack, sql: str, *params: Any, count: int) -> list[dict[str, Any]]:
    """The rows of `sql` once there are `count` of them (writes land asynchronously)."""
    wait_for(
        lambda: len(stack.query(sql, *params)) == count,
        what=f"{count} row(s) of {sql}",
        page=page,
    )
    return stack.query(sql, *params)
