"""The dashboard benchmark: the overview at 1,000,000 events and 100,000 orders (SQLite).

The data set is the recommendations benchmark's generator with 100,000 orders
(bench/dataset.py; built once and cached). On a working copy it measures:

- at storage level, in this process: the attribution of every order in one
  statement (what migration 6 does on an existing database), the overview of
  the last 30 days with no roll-ups (every day computed live from the events),
  rolling up every day (events, then orders: the housekeeping's
  order_rollups.roll_up), and the overview again (past days from the roll-ups,
  the current day live; what today's orders cost it is timed apart);
- through HTTP, on a collector process: the dashboard's overview page (logged
  in) for the last 30 days, N sequential requests, against a /healthz baseline
  from the same run.
"""

from __future__ import annotations

import http.client
import json
import re
import tempfile
import time
import urllib.parse
from pathlib import Path
from typing import Any

from . import dataset
from .common import Client, Server, percentile, summary
from .procs import HOST

ADMIN = ("bench@example.com", "bench-password")
DAY_MS = 86_400_000


def _timed(fn: Any, *args: Any, **kwargs: Any) -> tuple[float, Any]:
    started = time.perf_counter()
    result = fn(*args, **kwargs)
    return (time.perf_counter() - started) * 1000, result


def storage_level(db: Path, store_id: int, log: Any) -> dict[str, Any]:
    from collector.storage import Storage, order_rollups, reports, rollups
    from collector.storage.attribution import attribute_orders

    storage = Storage(f"sqlite:///{db}")
    storage.migrate()  # a cached data set may be of an older schema
    try:
        now = int(time.time() * 1000)
        today = now // DAY_MS
        window = {
            "store_id": store_id,
            "start_ms": (today - 29) * DAY_MS,
            "end_ms": (today + 1) * DAY_MS,
        }
        out: dict[str, Any] = {}
        ms, lines = _timed(storage.run, attribute_orders, store_id=store_id)
        out["attribute_all_orders_ms"] = round(ms, 1)
        out["attributed_lines"] = lines
        log(f"dashboard: attributed every order in {ms:.0f} ms ({lines:,} lines)")
        cold = []
        for _ in range(3):
            ms, view = _timed(storage.run, reports.overview, window_ms=30 * DAY_MS, **window)
            cold.append(ms)
        out["overview_live_ms"] = round(min(cold), 1)
        log(f"dashboard: overview, 30 days computed live: {min(cold):.0f} ms (best of 3)")
        ms, days = _timed(storage.run, rollups.refresh_rollups, store_id=store_id, now_ms=now)
        out["rollup_all_days_ms"] = round(ms, 1)
        out["rolled_up_days"] = days
        log(f"dashboard: rolled up {days} days in {ms:.0f} ms")
        out.update(roll_up_orders(storage, order_rollups, store_id, now, log, "dashboard"))
        warm = [
            _timed(storage.run, reports.overview, window_ms=30 * DAY_MS, **window)[0]
            for _ in range(20)
        ]
        out["overview_rolled_up_ms"] = summary(warm)
        for name, fn in (("widgets", reports.widgets), ("products", reports.products)):
            times = [_timed(storage.run, fn, window_ms=30 * DAY_MS, **window)[0] for _ in range(5)]
            out[f"{name}_rolled_up_ms"] = summary(times)
        times = [_timed(storage.run, reports.customers, store_id=store_id)[0] for _ in range(5)]
        out["customers_ms"] = summary(times)
        log(
            "dashboard: with roll-ups: overview p50 "
            f"{out['overview_rolled_up_ms']['p50']:.0f} ms, widgets "
            f"{out['widgets_rolled_up_ms']['p50']:.0f}, products "
            f"{out['products_rolled_up_ms']['p50']:.0f}, customers {out['customers_ms']['p50']:.0f}"
        )
        out["figures"] = {
            k: view[k]
            for k in ("orders", "revenue", "impacted_orders", "impacted_revenue", "visits")
        }
        return out
    finally:
        storage.dispose()


def roll_up_orders(
    storage: Any, order_rollups: Any, store_id: int, now: int, log: Any, label: str
) -> dict[str, Any]:
    """The orders' roll-up of the days that are over, by the housekeeping's own code, and
    what today's orders cost the overview, computed live."""
    ms, days = _timed(
        order_rollups.roll_up, storage, store_id=store_id, now_ms=now, window_ms=30 * DAY_MS
    )
    today = now // DAY_MS
    live, _ = _timed(
        storage.run,
        order_rollups.day_figures,
        store_id=store_id,
        start_ms=today * DAY_MS,
        end_ms=(today + 1) * DAY_MS,
        window_ms=30 * DAY_MS,
    )
    log(
        f"{label}: orders' roll-up of {days} days: {ms:.0f} ms; "
        f"today's orders computed live: {live:.0f} ms"
    )
    return {
        "order_rollup_ms": round(ms, 1),
        "order_rolled_up_days": days,
        "today_orders_live_ms": round(live, 1),
    }


class Browser:
    """A logged-in dashboard session over one keep-alive connection."""

    def __init__(self, port: int) -> None:
        self.conn = http.client.HTTPConnection(HOST, port, timeout=600)
        self.cookie = ""

    def request(
        self, method: str, path: str, form: dict[str, str] | None = None
    ) -> tuple[float, int, str]:
        headers = {"Cookie": self.cookie} if self.cookie else {}
        body = None
        if form is not None:
            body = urllib.parse.urlencode(form)
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        started = time.perf_counter()
        self.conn.request(method, path, body=body, headers=headers)
        answer = self.conn.getresponse()
        text = answer.read().decode("utf-8", "replace")
        seconds = time.perf_counter() - started
        for name, value in answer.getheaders():
            if name.lower() == "set-cookie":
                self.cookie = value.split(";", 1)[0]
        return seconds * 1000, answer.status, text

    def login(self) -> None:
        _, _, page = self.request("GET", "/dashboard/login")
        token = re.search(r'name="csrf" value="([^"]+)"', page)
        if not token:
            raise RuntimeError("dashboard: no CSRF token on the login page")
        _, status, _ = self.request(
            "POST",
            "/dashboard/login",
            {"email": ADMIN[0], "password": ADMIN[1], "csrf": token.group(1)},
        )
        if status not in (200, 303):
            raise RuntimeError(f"dashboard: login answered HTTP {status}")


def run(requests: int, log: Any, seed: int = 1) -> dict[str, Any]:
    spec = dataset.Spec(seed=seed, orders=100_000)
    data = dataset.ensure(spec, log)
    log("dashboard: data set: " + dataset.describe(data.meta))
    workdir = Path(tempfile.mkdtemp(prefix="clerk-bench-dashboard-"))
    db = workdir / "clerk.db"
    dataset.working_copy(data, workdir, log)
    store = data.meta["store"]
    report: dict[str, Any] = {"dataset": {k: data.meta[k] for k in ("key", "spec", "counts")}}
    report["storage"] = storage_level(db, int(store["id"]), log)
    env = dataset.collector_env(db)
    dataset.cli(env, workdir, "create-admin", ADMIN[0], "--password", ADMIN[1])
    server = Server(db, workdir, 60, "collector-dashboard")
    try:
        report.update(overview_page(server, int(store["id"]), requests, log, "dashboard"))
    finally:
        server.stop()
    return report


def overview_page(
    server: Server, store_id: int, requests: int, log: Any, label: str
) -> dict[str, Any]:
    """Over HTTP: /healthz as the baseline, then the overview page signed in (its first
    request, then `requests` more), sequential on one keep-alive connection each."""
    client = Client(server.port)
    base = [client.call("GET", "/healthz")[0] * 1000 for _ in range(requests)]
    browser = Browser(server.port)
    browser.login()
    page = f"/dashboard/stores/{store_id}/overview"
    ms, status, _ = browser.request("GET", page)
    if status != 200:
        raise RuntimeError(f"dashboard: {page} answered HTTP {status}")
    times = [browser.request("GET", page)[0] for _ in range(requests)]
    log(
        f"{label}: overview page (30 days) p50 {percentile(times, 50):.0f} ms, "
        f"p95 {percentile(times, 95):.0f} ms over {requests} requests"
    )
    return {
        "healthz_ms": summary(base),
        "overview_page_first_ms": round(ms, 1),
        "overview_page_ms": summary(times),
    }


def table(r: dict[str, Any]) -> list[str]:
    s = r["storage"]
    return [
        "Dashboard (SQLite, 1,000,000 events, 100,000 orders; last 30 days; ms)",
        f"  attribution of every order (migration 6): {s['attribute_all_orders_ms']:.0f}",
        f"  overview computed live from the events:    {s['overview_live_ms']:.0f}",
        f"  roll-up of every day ({s['rolled_up_days']} days):"
        f"             {s['rollup_all_days_ms']:.0f}",
        f"  orders' roll-up ({s['order_rolled_up_days']} days):"
        f"                  {s['order_rollup_ms']:.0f}  (today's orders live: "
        f"{s['today_orders_live_ms']:.0f})",
        f"  overview with roll-ups p50/p95:            {s['overview_rolled_up_ms']['p50']:.0f} / "
        f"{s['overview_rolled_up_ms']['p95']:.0f}",
        f"  overview page over HTTP p50/p95:           {r['overview_page_ms']['p50']:.0f} / "
        f"{r['overview_page_ms']['p95']:.0f}  (/healthz p50 {r['healthz_ms']['p50']:.2f})",
        json.dumps(
            {k: s[k] for k in ("widgets_rolled_up_ms", "products_rolled_up_ms", "customers_ms")}
        ),
    ]
