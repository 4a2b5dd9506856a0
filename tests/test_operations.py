"""Operating the collector: /metrics (Prometheus text, by route template, in one process and
added up over several workers), /readyz (database, schema, writer) and JSON log lines."""

from __future__ import annotations

import contextlib
import dataclasses
import io
import json
import logging
import re
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import Connection, delete, func, select
from starlette.testclient import TestClient

from collector import logs
from collector.app import create_app
from collector.dashboard.about import DAY_MS, package_version
from collector.dashboard.templating import when
from collector.services import Services
from collector.settings import ConfigError, Settings
from collector.storage.migrations import MIGRATIONS
from collector.storage.operations import last_run
from collector.storage.retention import purge
from collector.storage.schema import events, salts, schema_migrations
from collector.storage.writer import WriterUnavailable

from .factories import Clock, StoreKeys, make_store
from .servers import Relay, free_port, serving
from .test_dashboard import make_admin, sign_in
from .test_serve_logs import cli, cli_env
from .test_writer import HANG, within

LOOPBACK = ("127.0.0.1", 50000)


def samples(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """Each sample of a Prometheus text exposition, by name and labels."""
    found = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return found


def value(text: str, name: str, **labels: str) -> float:
    return samples(text).get((name, frozenset(labels.items())), 0.0)


def total(text: str, name: str, **labels: str) -> float:
    """The sum over every sample of `name` whose labels include `labels`."""
    wanted = set(labels.items())
    return sum(v for (n, ls), v in samples(text).items() if n == name and wanted <= ls)


@contextlib.contextmanager
def app_client(
    services: Services, client: tuple[str, int] = LOOPBACK, **changes: Any
) -> Iterator[TestClient]:
    """A client (calling from the loopback address) of an app over the same database with
    these settings changed."""
    settings = dataclasses.replace(services.settings, **changes)
    changed = Services(settings, clock=services.clock)
    try:
        with TestClient(create_app(settings, services=changed), client=client) as test_client:
            yield test_client
    finally:
        changed.storage.dispose()


def track(client: TestClient, store: StoreKeys, product: str) -> Any:
    return client.post(
        "/v2/log/product",
        content=json.dumps({"key": store.public_key, "visitor": "v1", "product": product}),
        headers={"content-type": "text/plain"},
    )


# ---------------------------------------------------------------- metrics


def test_metrics_are_off_by_default(client):
    assert client.get("/metrics").status_code == 404


def test_metrics_count_a_request_by_route_template(services, store):
    with app_client(services, metrics=True) as client:
        before = client.get("/metrics")
        assert before.status_code == 200
        assert before.headers["content-type"].startswith("text/plain")
        assert track(client, store, "p1").status_code == 200
        assert client.get("/v2/log/nobody@mail.example").status_code == 404
        assert client.get("/dashboard/stores/7/overview").status_code in (200, 303)
        after = client.get("/metrics").text

    route = {"route": "/v2/log/product", "method": "POST", "status": "200"}
    counted = "clerk_http_requests_total"
    assert value(after, counted, **route) == value(before.text, counted, **route) + 1
    other = {"route": "other", "method": "GET", "status": "404"}
    assert value(after, counted, **other) == value(before.text, counted, **other) + 1
    assert total(after, counted, route="/dashboard/stores/{store_id}/overview") >= 1
    # Never the path as sent (it may hold anything a client typed), nor an id in it.
    assert "nobody" not in after and "/stores/7/" not in after
    timed = "clerk_http_request_duration_seconds_count"
    assert value(after, timed, route="/v2/log/product") > value(
        before.text, timed, route="/v2/log/product"
    )
    # The tracking write went through the group commit: one batch more, timed.
    for name in ("clerk_writer_batch_size_count", "clerk_writer_commit_seconds_count"):
        assert value(after, name) >= value(before.text, name) + 1
    assert ("clerk_writer_queue_depth", frozenset()) in samples(after)


def test_metrics_count_cache_lookups_and_rate_limited_calls(services, store):
    with app_client(
        services, metrics=True, recommendation_cache_seconds=60, rate_limit_client="5/minute"
    ) as client:
        before = client.get("/metrics").text
        for _ in range(2):
            answer = client.get(
                "/v2/recommendations/popular", params={"key": store.public_key, "limit": 3}
            )
            assert answer.status_code == 200, answer.text
        statuses = [track(client, store, f"p{n}").status_code for n in range(5)]
        after = client.get("/metrics").text

    assert 429 in statuses
    lookups = "clerk_cache_lookups_total"
    # The first asks for the ranking (a miss), the second is answered from the cache.
    assert value(after, lookups, cache="rankings", result="miss") >= 1 + value(
        before, lookups, cache="rankings", result="miss"
    )
    assert value(after, lookups, cache="rankings", result="hit") >= 1 + value(
        before, lookups, cache="rankings", result="hit"
    )
    limited = "clerk_rate_limited_total"
    assert value(after, limited, limit="client") == value(
        before, limited, limit="client"
    ) + statuses.count(429)


def test_metrics_on_the_app_port_only_for_the_allowed_addresses(services):
    with app_client(services, metrics=True) as client:
        assert client.get("/metrics").status_code == 200
    with app_client(services, ("192.0.2.7", 1), metrics=True) as client:
        refused = client.get("/metrics")
    assert refused.status_code == 403 and "METRICS_ALLOW_IPS" in refused.text
    with app_client(services, metrics=True, metrics_allow_ips=["192.0.2.0/24"]) as client:
        assert client.get("/metrics").status_code == 403
    with app_client(services, metrics=True, metrics_allow_ips=["*"]) as client:
        assert client.get("/metrics").status_code == 200


def test_metrics_on_their_own_port_are_not_on_the_app_port(services):
    with app_client(services, metrics=True, metrics_port=9999) as client:
        assert client.get("/metrics").status_code == 404


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"METRICS": "maybe"}, "METRICS must be 1 or 0"),
        ({"METRICS_PORT": "9100"}, "METRICS_PORT is set but METRICS is off"),
        ({"METRICS": "1", "METRICS_PORT": "http"}, "METRICS_PORT must be a whole number"),
        ({"METRICS": "1", "METRICS_PORT": "70000"}, "METRICS_PORT must be between 0 and 65535"),
        ({"METRICS_ALLOW_IPS": "10.0.0.0/8,intranet"}, "METRICS_ALLOW_IPS must list IP"),
        ({"LOG_FORMAT": "xml"}, "LOG_FORMAT must be text or json, not 'xml'"),
    ],
)
def test_bad_operating_settings_are_named(env, message):
    with pytest.raises(ConfigError, match=message):
        Settings.from_env(env)


def metrics_of(url: str) -> str:
    with urllib.request.urlopen(url + "/metrics", timeout=30) as answer:
        return str(answer.read().decode())


def test_serve_with_two_workers_adds_up_the_metrics_of_both(database_url, tmp_path):
    directory = tmp_path / "metrics"
    env = cli_env(database_url, METRICS="1", PROMETHEUS_MULTIPROC_DIR=str(directory))
    directory.mkdir()
    (directory / "counter_1.db").write_bytes(b"left by an earlier run")
    with serving(
        env, tmp_path, tmp_path / "serve.log", ["--log-level", "debug", "--workers", "2"]
    ) as url:
        before = metrics_of(url)
        # /readyz, which nothing else calls: a /healthz poll of the start-up wait may
        # have been queued for the worker that started last and be answered later.
        for _ in range(20):
            urllib.request.urlopen(url + "/readyz", timeout=30).close()
        after = metrics_of(url)
        files = {path.name for path in directory.iterdir()}

    route = {"route": "/readyz", "method": "GET", "status": "200"}
    counted = "clerk_http_requests_total"
    # Whichever worker answered each call and the scrapes, every call is counted once.
    assert value(after, counted, **route) == value(before, counted, **route) + 20
    assert "counter_1.db" not in files  # the earlier run's figures were cleared
    assert any(name.startswith("counter_") for name in files)
    # Added up from the workers' files: no single process's own figures.
    assert "python_gc_objects_collected_total" not in after


def test_serve_with_metrics_port_serves_them_there_only(database_url, tmp_path):
    port = free_port()
    env = cli_env(database_url, METRICS="1", METRICS_PORT=str(port))
    with serving(env, tmp_path, tmp_path / "serve.log", ["--log-level", "debug"]) as url:
        urllib.request.urlopen(url + "/healthz", timeout=30).close()
        separate = metrics_of(f"http://127.0.0.1:{port}")
        with pytest.raises(urllib.error.HTTPError) as on_app_port:
            metrics_of(url)
        on_app_port.value.close()
    assert on_app_port.value.code == 404
    assert total(separate, "clerk_http_requests_total", route="/healthz") >= 1


# ---------------------------------------------------------------- readiness


def test_ready_when_database_schema_and_writer_are(client):
    answer = client.get("/readyz")
    assert answer.status_code == 200
    assert answer.json() == {
        "status": "ready",
        "checks": {"database": "ok", "schema": "ok", "writer": "ok"},
    }


def test_not_ready_when_the_writer_is_dead(client, services):
    def fatal(conn: Connection) -> None:
        raise SystemExit("a fault inside the writer")  # not an Exception: the thread ends

    assert client.get("/readyz").status_code == 200
    assert client.portal is not None
    with pytest.raises(WriterUnavailable):
        within(HANG, lambda: client.portal.call(services.storage.write, fatal))  # type: ignore[union-attr]
    answer = client.get("/readyz")
    assert answer.status_code == 503 and answer.headers["retry-after"]
    assert answer.json()["failed"] == ["writer"]
    assert answer.json()["checks"] == {"database": "ok", "schema": "ok", "writer": "dead"}
    assert answer.json()["message"] == "writer dead"


def test_not_ready_when_the_schema_is_behind(client, services):
    def forget_the_latest(conn):
        latest = conn.scalar(select(func.max(schema_migrations.c.version)))
        conn.execute(delete(schema_migrations).where(schema_migrations.c.version == latest))

    # BEGIN IMMEDIATE (storage.run): a deferred transaction that reads, then writes, fails
    # at once with "database is locked" when the app's writer committed in between.
    services.storage.run(forget_the_latest)
    answer = client.get("/readyz")
    assert answer.status_code == 503
    assert answer.json()["failed"] == ["schema"]
    assert answer.json()["checks"]["schema"] == "behind"


@pytest.mark.postgres
def test_not_ready_when_postgresql_stops(postgres_databases, clock: Clock):
    name = postgres_databases.create(migrated=True)
    url = postgres_databases.url(name)
    host_port = url.split("@", 1)[1].split("/", 1)[0]
    relay = Relay(int(host_port.rsplit(":", 1)[1]))
    services = Services(
        Settings(database_url=url.replace(host_port, f"127.0.0.1:{relay.port}")), clock=clock
    )
    try:
        with TestClient(create_app(services.settings, services=services)) as client:
            make_store(services)
            assert client.get("/readyz").status_code == 200
            relay.close()
            answer = client.get("/readyz")
            assert answer.status_code == 503
            body = answer.json()
            assert body["failed"] == ["database"]
            checks = {"database": "unreachable", "schema": "unknown", "writer": "ok"}
            assert body["checks"] == checks
            assert "127.0.0.1" not in answer.text and "postgres" not in answer.text
    finally:
        relay.close()
        services.storage.dispose()
        postgres_databases.drop_later(name)


# ---------------------------------------------------------------- JSON log lines


def test_json_log_lines_parse_and_hold_no_exception_text():
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logs.JsonFormatter(logs.FORMAT))
    log = logging.getLogger("collector.test_json")
    log.addHandler(handler)
    log.propagate = False
    try:
        log.warning("plain %s", "words", extra={"status": 200, "path": "/v2/log/product"})
        typed = "person" + "@mail.example"  # the traceback shows its source line
        try:
            int(typed)
        except ValueError as exc:
            log.error("failed: %s", exc, exc_info=True)
    finally:
        log.removeHandler(handler)
    first, second = (json.loads(line) for line in stream.getvalue().splitlines())
    assert first["event"] == "plain words" and first["level"] == "warning"
    assert first["logger"] == "collector.test_json"
    assert first["status"] == 200 and first["path"] == "/v2/log/product"
    assert first["time"].endswith("+00:00")
    assert second["level"] == "error"
    assert second["event"] == "failed: ValueError (message withheld)"
    assert "Traceback" in second["exception"] and "ValueError" in second["exception"]
    assert "person" not in stream.getvalue()


def test_json_is_the_log_config_of_log_format_json():
    formatter = logs.config("info", "json")["formatters"]["default"]
    assert formatter["()"] is logs.JsonFormatter
    assert logs.config("info")["formatters"]["default"]["()"] is logs.RedactingFormatter


def test_cli_serve_refuses_a_bad_log_format(database_url, tmp_path: Path):
    env = cli_env(database_url, LOG_FORMAT="yaml")
    with pytest.raises(Exception) as failed:
        cli(env, tmp_path, "serve", "--port", str(free_port()))
    assert "LOG_FORMAT must be text or json" in str(failed.value.stderr)  # type: ignore[attr-defined]


# ---------------------------------------------------------------- About this install


def add_events(services: Services, store: StoreKeys, *timestamps: int) -> None:
    services.storage.run(
        lambda conn: conn.execute(
            events.insert(),
            [
                {"store_id": store.id, "ts": ts, "kind": "view", "visitor_mode": "none"}
                for ts in timestamps
            ],
        )
    )


def test_about_this_install_tells_the_operator_what_it_runs(client, services, store, clock):
    other = make_store(services, "Another shop")
    make_admin(services, stores=[store.public_key])
    now = services.now_ms()
    today = now - now % DAY_MS
    # 14 events over the last 7 whole days in the admin's store, 2 today; the other
    # store's (not the admin's) and those older than a week are not counted.
    add_events(services, store, *(today - DAY_MS * (1 + n % 7) for n in range(14)))
    add_events(services, store, today, now)
    add_events(services, other, today - DAY_MS, today - DAY_MS)
    add_events(services, store, today - 9 * DAY_MS)
    assert sign_in(client).status_code == 303

    before = client.get("/dashboard/about")
    assert before.status_code == 200
    page = re.sub(r"\s+", " ", before.text)
    assert f"clerk-collector {package_version()}" in page
    assert package_version() != "unknown"
    engine = "SQLite" if services.storage.backend == "sqlite" else "PostgreSQL"
    assert re.search(rf"{engine}, [\d,.]+ (KB|MB)", page), page
    assert f"migration {max(v for v, _, _ in MIGRATIONS)}" in page and "behind" not in page
    assert "<dd>2.0 (the average of the last 7 whole days, in your 1 store)" in page
    assert "<dd>2 so far" in page
    assert "Last purge</dt> <dd>never" in page
    assert "no cookieless salt made yet" in page

    # A purge (as `clerk-collector purge` runs it) and a cookieless visitor's salt.
    purge(services.storage, before_ms=today - 8 * DAY_MS, now_ms=now)
    assert track_auto(client, store).status_code == 200
    after = re.sub(r"\s+", " ", client.get("/dashboard/about").text)
    assert f"Last purge</dt> <dd>{when(now)}: " in after and "events 1" in after
    expiry = services.storage.run(lambda conn: conn.scalar(select(func.max(salts.c.expires_at))))
    assert f"the current salt is destroyed at {when(expiry)}" in after
    assert "<dd>2.0 (the average" in after  # the purged event was older than the week


def track_auto(client: TestClient, store: StoreKeys) -> Any:
    return client.post(
        "/v2/log/product",
        content=json.dumps({"key": store.public_key, "visitor": "auto", "product": "p1"}),
        headers={"content-type": "text/plain", "user-agent": "test"},
    )


def test_about_needs_a_signed_in_admin(client):
    answer = client.get("/dashboard/about", follow_redirects=False)
    assert answer.status_code == 303 and "/dashboard/login" in answer.headers["location"]


def test_purge_records_its_run_and_a_dry_run_does_not(services):
    now = services.now_ms()
    purge(services.storage, before_ms=now - DAY_MS, now_ms=now, dry_run=True)
    assert services.storage.read_sync(last_run, name="purge") is None
    counts = purge(services.storage, before_ms=now - DAY_MS, now_ms=now)
    found = services.storage.read_sync(last_run, name="purge")
    assert found == {"ran_at": now, "summary": counts}
    purge(services.storage, before_ms=now - DAY_MS, now_ms=now + 1)
    assert services.storage.read_sync(last_run, name="purge")["ran_at"] == now + 1
