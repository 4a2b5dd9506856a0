"""/v2/openapi.json: derived from the declarations, complete, and true to the API.

The fuzzing test runs schemathesis from the served document against a real collector
process on loopback: a bounded number of examples per operation, positive (data the
schema allows) and negative (data it does not); no answer may be a 5xx, break the
document's response schemas, or be a 2xx for data the document calls invalid.
"""

from __future__ import annotations

import contextlib
import copy
import json
import os
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.routing import Route

from collector.api import endpoint
from collector.app import PLAIN, create_app
from collector.openapi import document
from collector.validation import schema_of, text
from tests.factories import StoreKeys, make_store, product
from tests.servers import serving

ROOT = Path(__file__).resolve().parents[1]  # this checkout's collector, not an installed one
FUZZ_EXAMPLES = 10  # per operation, in the fuzzing phase (coverage adds its boundary cases)


def _starlette(app: Any) -> Starlette:
    """The Starlette app inside the wrappers (proxy headers, the ingest path...)."""
    while not isinstance(app, Starlette):
        app = app.app
    return app


def _app_routes(client: Any) -> list[Route]:
    return [r for r in _starlette(client.app).routes if isinstance(r, Route)]


def test_every_route_and_method_is_in_the_document(client, store) -> None:
    answer = client.get("/v2/openapi.json")
    assert answer.status_code == 200
    doc = answer.json()
    assert doc["openapi"] == "3.1.0"
    routes = _app_routes(client)
    assert len(routes) > 40
    for route in routes:
        methods = {m.lower() for m in route.methods or ()} - {"head"}
        assert route.path in doc["paths"], route.path
        assert set(doc["paths"][route.path]) == methods, route.path


def test_operations_say_arguments_limits_keys_and_errors(client) -> None:
    doc = client.get("/v2/openapi.json").json()
    click = doc["paths"]["/v2/log/click"]["get"]
    params = {p["name"]: p for p in click["parameters"]}
    assert "private_key" not in params  # never in a query string
    assert params["key"]["required"] and params["product"]["required"]
    n = params["n"]["schema"]["anyOf"][0]
    assert (n["type"], n["minimum"], n["maximum"]) == ("integer", 0, 10_000)
    labels = params["labels"]["content"]["application/json"]["schema"]  # JSON in a query
    assert labels["type"] == "array" and labels["maxItems"] > 0
    assert click["x-keys"] == ["key"]
    assert {"200", "400", "403", "413", "429"} <= set(click["responses"])

    upsert = doc["paths"]["/v2/products"]["post"]
    body = upsert["requestBody"]["content"]["application/json"]["schema"]
    assert upsert["x-keys"] == ["key", "private_key"]
    assert {"key", "private_key", "products"} <= set(body["required"])
    item = body["properties"]["products"]["items"]
    assert {"id", "name", "url", "price"} <= set(item["required"])
    # A private endpoint's GET takes its arguments in the body: the key is never in a URL.
    assert "requestBody" in doc["paths"]["/v2/products"]["get"]

    assert doc["paths"]["/v2/log/basket/set"]["post"]["x-personal"] is True
    content = doc["paths"]["/v2/content"]["post"]
    assert "404" in content["responses"]
    assert content["requestBody"]["content"]["application/json"]["schema"]["additionalProperties"]


def test_a_route_that_declares_nothing_is_refused() -> None:
    async def bare(request: Any) -> Any:
        raise AssertionError

    with pytest.raises(ValueError, match="/v2/bare declares nothing"):
        document([Route("/v2/bare", bare)], PLAIN)


def test_a_parser_never_described_is_refused() -> None:
    def undescribed(name: str, value: Any, from_query: bool) -> Any:
        return value

    async def handler(call: Any) -> dict[str, Any]:
        return {}

    declared = endpoint({"x": (undescribed, None)}, handler)
    with pytest.raises(KeyError):
        document([Route("/v2/x", declared, methods=["GET", "POST"])], PLAIN)
    described = endpoint({"x": (text(5), None)}, handler)
    doc = document([Route("/v2/x", described, methods=["GET", "POST"])], PLAIN)
    body = doc["paths"]["/v2/x"]["post"]["requestBody"]["content"]["application/json"]
    assert body["schema"]["properties"]["x"]["maxLength"] == 5
    assert schema_of(text(5))["maxLength"] == 5


def test_the_page_renders_the_document_offline(client) -> None:
    page = client.get("/v2/api.html")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    text = page.text
    assert "/v2/recommendations/popular" in text and "/v2/log/sale" in text
    assert "integer 1..100" in text  # limit's range, from the declaration
    assert "<script" not in text and "https://" not in text.split("</style>")[0]


# ---------------------------------------------------------------- fuzzing


@contextlib.contextmanager
def _serving(database_url: str, tmp_path: Path) -> Iterator[str]:
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "RATE_LIMIT_CLIENT": "0",
        "RATE_LIMIT_STORE": "0",
        "PYTHONPATH": str(ROOT),
    }
    command = [sys.executable, "-m", "collector"]
    with serving(env, ROOT, tmp_path / "serve.log", command=command) as url:
        yield url


def _pinned(doc: dict[str, Any], keys: StoreKeys, content: str) -> dict[str, Any]:
    """The document with the store's keys and one content id as the only values of `key`,
    `private_key` and `content`: otherwise every call would stop at 403 or 404."""
    pins = {"key": keys.public_key, "private_key": keys.private_key, "content": content}
    doc = copy.deepcopy(doc)
    for methods in doc["paths"].values():
        for operation in methods.values():
            for parameter in operation.get("parameters", []):
                if parameter["name"] in pins:
                    parameter["schema"] = {"const": pins[parameter["name"]]}
            body = operation.get("requestBody", {}).get("content", {}).get("application/json")
            if body:
                for name, value in pins.items():
                    if name in body["schema"]["properties"]:
                        body["schema"]["properties"][name] = {"const": value}
    return doc


# Refusals: a 413 (body too large) is one too.
CONFIG = """
[checks.negative_data_rejection]
expected-statuses = ["400", "403", "404", "405", "413", "415", "429"]
"""
CHECKS = "not_a_server_error,response_schema_conformance,negative_data_rejection"


@pytest.mark.parametrize("backend", ["sqlite"])
def test_fuzzing_from_the_document_finds_no_fault(services, database_url, tmp_path) -> None:
    """schemathesis's own runner (its examples, coverage and fuzzing phases: boundaries,
    wrong types, missing fields, then random data), FUZZ_EXAMPLES cases per operation."""
    keys = make_store(services, origins=["https://shop.example"])
    seed = [product(i, categories=[1]) for i in range(1, 6)]
    with _serving(database_url, tmp_path) as url:
        private = {"key": keys.public_key, "private_key": keys.private_key}
        _post(url, "/v2/products", {**private, "products": seed})
        _post(
            url,
            "/v2/contents",
            {**private, "contents": [{"id": "home", "api": "recommendations/popular"}]},
        )
        with urllib.request.urlopen(f"{url}/v2/openapi.json", timeout=10) as answer:
            served = json.load(answer)
        app = _starlette(create_app(services.settings, services=services))
        app_doc = document(app.routes, PLAIN)
        assert served == json.loads(json.dumps(app_doc))  # what the process serves is derived
        pinned = tmp_path / "openapi.json"
        pinned.write_text(json.dumps(_pinned(served, keys, "home")))
        config = tmp_path / "schemathesis.toml"
        config.write_text(CONFIG)
        run = subprocess.run(
            [
                str(Path(sys.executable).parent / "schemathesis"),
                "--config-file",
                str(config),
                "--no-color",
                "run",
                str(pinned),
                "--url",
                url,
                "--checks",
                CHECKS,
                "--phases",
                "examples,coverage,fuzzing",
                "--max-examples",
                str(FUZZ_EXAMPLES),
                "--seed",
                "14",
                # One worker: hypothesis describes lambdas with ast.parse, which CPython 3.11
                # before 3.11.8 cannot run in two threads at once ("AST constructor
                # recursion depth mismatch").
                "--workers",
                "1",
                "--generation-database",
                "none",
                "--suppress-health-check",
                "all",
                "--exclude-path-regex",
                "^/(?!v2/)|^/v2/(openapi|api)",
                "--header",
                "Origin: https://shop.example",
                "--report",
                "json",
                "--report-json-path",
                str(tmp_path / "report.json"),
            ],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=600,
        )
    output = run.stdout + run.stderr
    print(output[-4000:])
    server_log = (tmp_path / "serve.log").read_text()
    assert run.returncode == 0, output[-20000:] + server_log[-5000:]
    assert "Traceback" not in server_log, server_log[-10000:]
    assert "No issues found" in output or "passed" in output, output[-5000:]


def _post(url: str, path: str, body: dict[str, Any]) -> None:
    request = urllib.request.Request(
        url + path,
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=10) as answer:
        assert answer.status == 200
