"""`clerk-collector content list | set | delete`: the same checks and errors as the API."""

from __future__ import annotations

import json

import pytest

from collector.cli import main

from .factories import all_text, make_store, rows

POPULAR = {"id": "home-popular", "name": "Bestsellers", "api": "recommendations/popular"}
ALTERNATIVES = {
    "id": "product-page-alternatives",
    "api": "recommendations/substituting",
    "limit": 4,
    "labels": ["Alternatives"],
    "design": "{% for p in products %}{{ p.name }}{% endfor %}",
}


@pytest.fixture
def store(monkeypatch, services):
    monkeypatch.setenv("DATABASE_URL", services.settings.database_url)
    return make_store(services)


def write(tmp_path, data, name="contents.json"):
    path = tmp_path / name
    path.write_text(json.dumps(data))
    return str(path)


def test_set_list_and_delete(services, store, tmp_path, capsys):
    key = ["--store", store.public_key]
    assert main(["content", "list", *key]) == 0
    assert capsys.readouterr().out == "no contents\n"
    assert main(["content", "set", write(tmp_path, [POPULAR, ALTERNATIVES]), *key]) == 0
    assert "saved 2 content(s)" in capsys.readouterr().out
    # one content alone in a file is fine too
    assert main(["content", "set", write(tmp_path, {**POPULAR, "limit": 6}), *key]) == 0
    capsys.readouterr()
    assert main(["content", "list", *key]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["ID", "API", "LIMIT", "LABELS", "DESIGN", "NAME"]
    assert lines[1].split() == ["home-popular", "recommendations/popular", "6", "default"] + [
        "Bestsellers"
    ]
    assert lines[2].split()[:4] == [
        "product-page-alternatives",
        "recommendations/substituting",
        "4",
        "Alternatives",
    ]
    assert "47 chars" in lines[2]
    stored = {r["id"]: r for r in rows(services, "contents")}
    assert stored["home-popular"]["limit"] == 6 and stored["home-popular"]["store_id"] == store.id
    assert main(["content", "delete", "home-popular", "nope", *key]) == 0
    assert capsys.readouterr().out == "deleted 1 content(s); 1 not found\n"
    assert [r["id"] for r in rows(services, "contents")] == ["product-page-alternatives"]


@pytest.mark.parametrize(
    ("data", "says"),
    [
        ([POPULAR, {**POPULAR, "id": "x", "api": "log/sale"}], "contents[1].api: log/sale is not"),
        ([{**POPULAR, "design": "{% for p in products %}"}], "contents[0].design: line 1, col"),
        ([POPULAR, POPULAR], "contents[1].id: repeats contents[0].id"),
        ({"id": "x"}, "contents[0].api: is required"),
    ],
)
def test_a_bad_file_says_why_as_the_api_does_and_saves_nothing(
    services, store, tmp_path, capsys, data, says
):
    before = all_text(services)
    assert main(["content", "set", write(tmp_path, data), "--store", store.public_key]) == 2
    assert says in capsys.readouterr().err
    assert all_text(services) == before


def test_a_file_that_is_not_json_or_an_unknown_store_is_an_error(store, tmp_path, capsys):
    path = tmp_path / "bad.json"
    path.write_text("{not json")
    assert main(["content", "set", str(path), "--store", store.public_key]) == 2
    assert "bad.json" in capsys.readouterr().err
    assert main(["content", "list", "--store", "pk_nope"]) == 2
    assert "--store: no store has the public key" in capsys.readouterr().err


def test_one_store_never_lists_or_deletes_anothers(services, store, tmp_path, capsys):
    other = make_store(services, name="Other")
    assert main(["content", "set", write(tmp_path, POPULAR), "--store", store.public_key]) == 0
    capsys.readouterr()
    assert main(["content", "list", "--store", other.public_key]) == 0
    assert capsys.readouterr().out == "no contents\n"
    assert main(["content", "delete", "home-popular", "--store", other.public_key]) == 0
    assert len(rows(services, "contents")) == 1
