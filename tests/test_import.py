"""`clerk-collector import`: products and orders from JSON or NDJSON, in batches."""

from __future__ import annotations

import io
import json
import re
import sys
from datetime import UTC, datetime
from typing import Any

import pytest

from collector import importer
from collector.cli import main
from collector.importer import Feed, FeedError, Progress
from collector.storage import catalogue

from .factories import count, product, rows

SUMMARY = re.compile(r"^imported (\d+) (products|orders) in \d+\.\d s \(\d+/s\)")


def imported(out: str) -> int:
    """The count in the summary line, which is all the command prints on stdout."""
    found = SUMMARY.match(out)
    assert found and out.count("\n") == 1, out
    return int(found.group(1))


@pytest.fixture
def db(monkeypatch: pytest.MonkeyPatch, database_url: str, services: Any) -> str:
    monkeypatch.setenv("DATABASE_URL", database_url)
    return database_url


def ndjson(records: list[Any]) -> str:
    return "".join(json.dumps(r) + "\n" for r in records)


FORMATS = {
    "ndjson": ndjson,
    "json": json.dumps,
    "json-indented": lambda records: json.dumps(records, indent=2),
}


def write(tmp_path: Any, text: str, name: str = "feed.json") -> str:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return str(path)


def run(store: Any, kind: str, path: str, *extra: str) -> int:
    return main(["import", kind, path, "--store", store.public_key, *extra])


def stored(services: Any, store: Any) -> dict[str, dict[str, Any]]:
    items, _ = services.storage.run(
        catalogue.list_products, store_id=store.id, limit=1000, offset=0
    )
    return {item["id"]: item for item in items}


def record_start_lines(text: str) -> list[int]:
    """The line each record of a JSON array or NDJSON text starts on (for the tests' files)."""
    return [n for n, line in enumerate(text.splitlines(), 1) if line.lstrip("[ ").startswith("{")]


@pytest.mark.parametrize("fmt", FORMATS)
def test_imports_products_from_json_and_ndjson(db, services, store, tmp_path, capsys, fmt):
    items = [product(i, categories=["Mugs"], stock=i) for i in range(1, 6)]
    assert run(store, "products", write(tmp_path, FORMATS[fmt](items)), "--batch", "2") == 0
    out, err = capsys.readouterr()
    assert imported(out) == 5
    assert err == ""  # no progress bar when stderr is not a terminal
    products = stored(services, store)
    assert sorted(products) == ["1", "2", "3", "4", "5"]
    assert products["3"] == {**product(3), "description": "", "categories": ["Mugs"], "stock": 3}


def test_reimport_updates_products_and_does_not_duplicate_them(db, services, store, tmp_path):
    assert run(store, "products", write(tmp_path, ndjson([product(1), product(2)]))) == 0
    changed = [product(2, name="Renamed", price=4.5), product(3)]
    assert run(store, "products", write(tmp_path, ndjson(changed), "second.ndjson")) == 0
    products = stored(services, store)
    assert sorted(products) == ["1", "2", "3"] and count(services, "products") == 3
    assert products["2"]["name"] == "Renamed" and products["2"]["price"] == 4.5


def test_the_last_record_of_an_id_wins_within_one_batch(db, services, store, tmp_path):
    items = [product(1, name="First"), product(2), product(1, name="Second")]
    assert run(store, "products", write(tmp_path, ndjson(items))) == 0
    assert stored(services, store)["1"]["name"] == "Second"
    assert count(services, "products") == 2


def test_custom_attributes_are_kept(db, services, store, tmp_path):
    item = product(1, colour="red", sizes=["S", "M"], organic=True, weight_g=350)
    assert run(store, "products", write(tmp_path, json.dumps([item]))) == 0
    assert stored(services, store)["1"] == {**item, "description": "", "categories": []}


@pytest.mark.parametrize("fmt", FORMATS)
def test_a_bad_record_stops_the_import_before_its_batch(db, services, store, tmp_path, capsys, fmt):
    items = [product(i) for i in range(1, 7)]
    items[3]["price"] = "12,50"  # record 4, in the second batch of two
    text = FORMATS[fmt](items)
    line = record_start_lines(text)[3] if fmt != "json" else 1
    path = write(tmp_path, text, f"products.{fmt}")
    assert run(store, "products", path, "--batch", "2") == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert f"products.{fmt} line {line} (record 4): price: must be a number, not '12,50'" in err
    assert "2 records were imported before it" in err
    # the first batch stays; nothing of record 4's batch (record 3 included) is written
    assert sorted(stored(services, store)) == ["1", "2"]


@pytest.mark.parametrize(
    "bad, message",
    [
        ({"id": "9", "url": "/p/9", "price": 1}, "name: is required"),
        ({**product(9), "url": "javascript:alert(1)"}, "url: must be an http(s) URL"),
        ({**product(9), "Colour": "red"}, "Colour: attribute names are a-z"),
        ({**product(9), "tags": {"a": 1}}, "tags: custom attributes must be strings"),
        (["9", "Mug"], "must be an object with at least id, name, url and price"),
    ],
)
def test_a_bad_first_batch_imports_nothing(db, services, store, tmp_path, capsys, bad, message):
    path = write(tmp_path, ndjson([product(1), bad]), "feed.ndjson")
    assert run(store, "products", path) == 2
    err = capsys.readouterr().err
    assert f"feed.ndjson line 2 (record 2): {message}" in err
    assert "nothing was imported" in err
    assert count(services, "products") == 0


GOOD = json.dumps(product(1))


@pytest.mark.parametrize(
    "text, where",
    [
        (f'{GOOD}\n{{"id": "2" "name": "x"}}\n', "line 2 column 12: malformed JSON: Expecting ','"),
        (f"[\n{GOOD},\n{GOOD}\n{GOOD}\n]", "line 4 column 1: expected , or ] after a record"),
        (
            f"[{GOOD}, {GOOD},]",
            f"line 1 column {2 * len(GOOD) + 5}: malformed JSON: Expecting value",
        ),
        (f"[\n  {GOOD}\n", "line 3 column 1: the array has no ]"),
        (f"[{GOOD}] [", f"line 1 column {len(GOOD) + 4}: unexpected data after the closing ]"),
        ("id,name\n1,Mug\n", "line 1 column 1: expected [ (a JSON array) or { (NDJSON records)"),
        (
            f'{GOOD}\n{{"id": "2", "name": "a\nb"}}',
            "line 2 column 23: malformed JSON: Invalid control character",
        ),
    ],
)
def test_malformed_json_names_the_line_and_column(
    db, services, store, tmp_path, capsys, text, where
):
    assert run(store, "products", write(tmp_path, text, "feed.txt")) == 2
    assert f"feed.txt {where}" in capsys.readouterr().err
    assert count(services, "products") == 0


def test_malformed_json_after_a_batch_says_what_was_kept(db, services, store, tmp_path, capsys):
    text = ndjson([product(1), product(2), product(3)]) + '{"id": "4",\n'
    assert run(store, "products", write(tmp_path, text), "--batch", "2") == 2
    err = capsys.readouterr().err
    assert "feed.json line 5 column 1: malformed JSON: Expecting property name" in err
    assert "(in record 4, from line 4); 2 records were imported before it" in err
    assert sorted(stored(services, store)) == ["1", "2"]


@pytest.mark.parametrize("chunk_size", [1, 3, 7, 64, 1 << 20])
def test_records_and_lines_do_not_depend_on_how_the_file_is_read(monkeypatch, chunk_size):
    """Records cut across chunks (numbers, multi-byte characters) read the same."""
    monkeypatch.setattr(importer, "CHUNK_SIZE", chunk_size)
    items = [{"id": str(i), "name": "Größe ☕ " * i, "price": 12345.678} for i in (1, 2, 3)]
    texts = {
        json.dumps(items, indent=2, ensure_ascii=False): [2, 7, 12],
        json.dumps(items, ensure_ascii=False): [1, 1, 1],
        ndjson(items): [1, 2, 3],
    }
    for text, lines in texts.items():
        assert list(Feed(io.BytesIO(text.encode())).records()) == list(
            zip(lines, items, strict=True)
        )
    numbers = Feed(io.BytesIO("\ufeff[12345, 6.5e3,\n-7]".encode()))
    assert list(numbers.records()) == [(1, 12345), (1, 6500.0), (2, -7)]
    # an error's line and column are those json.loads gives for the whole text
    for text in texts.keys() - {ndjson(items)}:
        broken = text.replace('"id": "3"', '"id" "3"')
        with pytest.raises(json.JSONDecodeError) as expected:
            json.loads(broken)
        with pytest.raises(FeedError) as found:
            list(Feed(io.BytesIO(broken.encode())).records())
        assert found.value.where == f"line {expected.value.lineno} column {expected.value.colno}"


def test_dry_run_checks_every_record_and_writes_nothing(db, services, store, tmp_path, capsys):
    items = [product(i) for i in range(1, 6)]
    assert run(store, "products", write(tmp_path, ndjson(items)), "--dry-run") == 0
    assert "checked 5 products" in capsys.readouterr().out
    items[1]["price"] = -1
    del items[3]["url"]
    path = write(tmp_path, ndjson(items), "feed.ndjson")
    assert run(store, "products", path, "--dry-run", "--batch", "1") == 2
    err = capsys.readouterr().err
    assert "feed.ndjson line 2 (record 2): price: must be a number between 0 and 1e+09" in err
    assert "feed.ndjson line 4 (record 4): url: is required" in err
    assert "2 problems in 5 records; nothing was written (dry run)" in err
    assert count(services, "products") == 0


ORDERS = [
    {
        "id": "o1",
        "products": [{"id": "1", "quantity": 2, "price": 9.5}, "2"],
        "time": 1_779_930_000,
        "email": "Ann@Shop.Example",
        "customer": "c-1",
    },
    {"id": 2, "products": [{"id": "3", "price": 5}], "time": "2026-05-28T10:00:00Z"},
    {
        "id": "o3",
        "products": [{"id": "1", "quantity": 3, "price": 1.1}],
        "time": "2026-05-28T12:00",
    },
]


def test_orders_are_imported_once_with_their_totals(db, services, store, tmp_path, capsys):
    path = write(tmp_path, json.dumps(ORDERS))
    assert run(store, "orders", path) == 0
    assert imported(capsys.readouterr().out) == 3
    orders = {row["id"]: row for row in rows(services, "orders")}
    assert {k: orders["o1"][k] for k in ("ts", "visitor_mode", "visitor_id", "session")} == {
        "ts": 1_779_930_000_000,
        "visitor_mode": "import",
        "visitor_id": None,
        "session": None,
    }
    assert orders["o1"]["email"] == "ann@shop.example" and orders["o1"]["customer"] == "c-1"
    assert orders["2"]["ts"] == datetime(2026, 5, 28, 10, tzinfo=UTC).timestamp() * 1000
    assert orders["o3"]["ts"] == datetime(2026, 5, 28, 12, tzinfo=UTC).timestamp() * 1000
    assert {k: v["total"] for k, v in orders.items()} == {"o1": 19.0, "2": 5.0, "o3": 3.3}
    lines = sorted(
        (r["order_id"], r["product_id"], r["quantity"]) for r in rows(services, "order_lines")
    )
    assert lines == [("2", "3", 1), ("o1", "1", 2), ("o1", "2", 1), ("o3", "1", 3)]
    assert count(services, "email_links") == 0  # no visitor, nothing to link

    # importing the same file again counts each order once
    assert run(store, "orders", path) == 0
    assert "imported 3 orders" in (out := capsys.readouterr().out)
    assert out.endswith(": 0 new, 3 already there\n")
    assert count(services, "orders") == 3 and count(services, "order_lines") == 4


@pytest.mark.parametrize(
    "change, message",
    [
        (
            {"time": 1_779_930_000_000},
            "time: must be between 1970 and 2286 (Unix seconds, not mill",
        ),
        ({"time": "yesterday"}, "time: must be an ISO 8601 time"),
        ({"time": True}, "time: must be Unix seconds or an ISO 8601 string, not a boolean"),
        ({"products": [{"id": "1", "quantity": 0}]}, "products[0].quantity: must be between 1"),
        ({"products": [{"id": "1", "qty": 1}]}, "unknown field products[0].qty"),
        ({"email": "not an email"}, "email: is not an email address"),
        ({"total": 19}, "unknown field total; allowed: customer, email, id, products, time"),
        ({"id": None}, "id: must be a product id (string or integer), not null"),
    ],
)
def test_a_bad_order_names_its_field(db, services, store, tmp_path, capsys, change, message):
    path = write(tmp_path, ndjson([ORDERS[0], {**ORDERS[1], **change}]), "orders.ndjson")
    assert run(store, "orders", path) == 2
    assert f"orders.ndjson line 2 (record 2): {message}" in capsys.readouterr().err
    assert count(services, "orders") == 0


def test_reads_standard_input(db, services, store, monkeypatch, capsys):
    data = ndjson([product(1), product(2)]).encode()
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(data)))
    assert run(store, "products", "-") == 0
    assert imported(capsys.readouterr().out) == 2
    assert sorted(stored(services, store)) == ["1", "2"]
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(b'{"id": 1}\n')))
    assert run(store, "products", "-") == 2
    assert "stdin line 1 (record 1): name: is required" in capsys.readouterr().err


def test_an_unknown_store_key_is_refused(db, services, store, tmp_path, capsys):
    path = write(tmp_path, ndjson([product(1)]))
    assert main(["import", "products", path, "--store", "pk_nope"]) == 2
    assert "no store has the public key 'pk_nope'" in capsys.readouterr().err
    assert count(services, "products") == 0


@pytest.mark.parametrize("text", ["", " \n\n", "[]", "\ufeff[ ]\n"])
def test_an_empty_file_imports_nothing_and_says_so(db, services, store, tmp_path, capsys, text):
    path = write(tmp_path, text, "empty.json")
    assert run(store, "products", path) == 0
    assert capsys.readouterr().out == f"imported 0 products: {path} holds no records\n"


def test_a_missing_file_is_named(db, store, tmp_path, capsys):
    assert run(store, "products", str(tmp_path / "nope.json")) == 2
    assert "nope.json: No such file or directory" in capsys.readouterr().err


def test_a_file_that_is_not_utf8_is_refused(db, store, tmp_path, capsys):
    data = json.dumps(product(1, name="Größe"), ensure_ascii=False).encode("latin-1")
    path = tmp_path / "latin1.ndjson"
    path.write_bytes(data)
    assert run(store, "products", str(path)) == 2
    offset = data.index("ö".encode("latin-1")) + 1
    assert f"byte {offset}: not UTF-8 text" in capsys.readouterr().err


@pytest.mark.parametrize("batch", ["0", "-1", "x", "100001"])
def test_the_batch_size_is_checked(db, store, tmp_path, capsys, batch):
    with pytest.raises(SystemExit) as exit:
        run(store, "products", write(tmp_path, "[]"), "--batch", batch)
    assert exit.value.code == 2 and "--batch" in capsys.readouterr().err


def test_the_progress_bar_shows_records_rate_and_share_of_the_file():
    screen = io.StringIO()
    bar = Progress(screen, "products", size=2000)
    bar.update(500, 1000)
    bar.update(600, 1200)  # within a tenth of a second: not redrawn
    bar.close()
    drawn = screen.getvalue()
    assert drawn.startswith("\r[" + "#" * 15 + "." * 15 + "]  50%  500 products, ")
    assert "600" not in drawn and drawn.endswith("\r\x1b[K")
