"""The store's words in memory (search/words.py) give each query's rank tiers exactly as
the engine's full-text index does (FTS5 on SQLite, tsvectors on PostgreSQL): random
catalogues and queries (several words, prefixes, typo corrections, accents, words in
the name, the labels or the description only, another store with the same words), and
a catalogue change carries the index over with the changed documents asked about apart."""

from __future__ import annotations

import random
from typing import Any

import pytest
from starlette.testclient import TestClient

from collector.services import Services
from collector.storage.caches import clear_all
from collector.storage.folding import words as folded
from collector.storage.search import columns, query, words
from collector.storage.search.paging import Term

from .factories import StoreKeys, make_store
from .test_columns_update import held
from .test_search import Shop

VOCABULARY = [
    "jacket",
    "jackets",
    "jacke",
    "rain",
    "rainy",
    "wool",
    "woollen",
    "down",
    "light",
    "lights",
    "Café",
    "cafe",
    "boots",
    "boot",
    "liner",
    "linen",
    "Borealis",
    "borealis2",
    "ja",
]


def _text(rng: random.Random, most: int) -> str:
    return " ".join(rng.choice(VOCABULARY) for _ in range(rng.randint(0, most)))


def _catalogue(rng: random.Random, size: int) -> list[dict[str, Any]]:
    items = [
        {
            "id": str(pid),
            "name": _text(rng, 3) or "item",
            "url": f"/p/{pid}",
            "price": 10,
            "brand": _text(rng, 1),
            "categories": [],
            "description": _text(rng, 6),
            "stock": rng.choice([None, None, 0, 4]),
        }
        for pid in range(size)
    ]
    return [{k: v for k, v in item.items() if v is not None} for item in items]


def _query(rng: random.Random) -> str:
    picked = [rng.choice(VOCABULARY) for _ in range(rng.randint(1, 3))]
    if rng.random() < 0.3:  # a typo of a long word
        word = rng.choice(["jacket", "woollen", "borealis"])
        at = rng.randrange(len(word))
        picked[0] = word[:at] + word[at + 1 :]
    return " ".join(picked)


def _tiers_both_ways(services: Services, store_id: int, typed: str, prefix: bool) -> Any:
    engine = services.storage.engine
    with engine.connect() as conn:
        state = query._state(conn, store_id)
        plan = query._Plan(
            conn,
            query._cache(engine),
            state,
            (store_id, state.version, tuple(folded(typed)), prefix),
        )
        terms = plan.terms
        ranking = plan.ranking()
        with_matches, matches = ranking.ranked_matches()  # what a deep page reads
        engine_tiers: list[set[int]] = [set() for _ in ranking.tiers]
        for doc, rank in ranking.rows(
            f"{with_matches} SELECT m.doc_id, m.rank FROM {matches} WHERE d.store_id = :store"
        ):
            engine_tiers[rank].add(doc)
        memory = [set(t) for t in words.read(conn, store_id).tiers(terms)]
    return terms, engine_tiers, memory


@pytest.mark.parametrize("seed", [1, 2, 3, 4])
def test_tiers_in_memory_are_the_full_text_indexes(
    client: TestClient, services: Services, store: StoreKeys, seed: int
):
    rng = random.Random(seed)
    Shop(client, store).catalogue(*_catalogue(rng, 60))
    other = make_store(services, name="Other shop")
    Shop(client, other).catalogue(*_catalogue(rng, 20))
    checked = fuzzy = prefixed = several = 0
    for _ in range(40):
        typed, prefix = _query(rng), rng.random() < 0.4
        terms, engine_tiers, memory = _tiers_both_ways(services, store.id, typed, prefix)
        if not terms:
            continue
        assert memory == engine_tiers, f"seed {seed}: {typed!r} prefix={prefix} {terms}"
        checked += 1
        fuzzy += any(t.variants for t in terms)
        prefixed += any(t.prefix for t in terms)
        several += len(terms) > 1
    assert checked > 30 and fuzzy and prefixed and several


def test_one_word_in_name_labels_and_description_only():
    rows = [
        (1, "rain jacket", "borealis", "warm"),
        (2, "rain coat", "jacket", "jacket"),
        (3, "coat", "borealis", "a rain jacket"),
        (4, "jackets", "", ""),
    ]
    index = words.build(rows)
    assert [sorted(t) for t in index.tiers([Term("jacket", False)])] == [[1], [2], [3]]
    assert [sorted(t) for t in index.tiers([Term("jacket", False, ("jackets",))])] == [
        [1],
        [2],
        [3],
        [4],
        [],
        [],
    ]
    assert [sorted(t) for t in index.tiers([Term("rain", False), Term("jacket", False)])] == [
        [1],
        [2],
        [3],
    ]
    assert [sorted(t) for t in index.tiers([Term("jack", True)])] == [[1, 4], [2], [3]]
    assert [list(t) for t in index.tiers([Term("nothing", False)])] == [[], [], []]
    # corrections that overlap: each document once, in its best field of any of them
    index = words.build([*rows, (5, "jackets", "", "jacket")])
    typo = [sorted(t) for t in index.tiers([Term("jackt", False, ("jacket", "jackets"))])]
    assert typo == [[], [], [], [1, 4, 5], [2], [3]]


def test_a_change_carries_the_index_over_and_too_many_read_it_again(
    client: TestClient, services: Services, store: StoreKeys, monkeypatch: pytest.MonkeyPatch
):
    shop = Shop(client, store)
    items = [
        {"id": str(pid), "name": f"Rain Jacket {pid}", "url": f"/p/{pid}", "price": pid}
        for pid in range(1, 9)
    ]
    shop.catalogue(*items)
    call = {"facets": ["price"]}
    assert shop.search("jacket", **call)["count"] == 8
    [entry] = held(services)
    assert entry._words is not None and not entry._words.stale
    built = entry._words.index

    shop.catalogue({**items[0], "name": "Rain Coat"})  # leaves the query
    shop.catalogue({"id": "9", "name": "Wool Jacket", "url": "/p/9", "price": 9})  # joins it
    found = shop.search("jacket", **call)
    [entry] = held(services)
    assert entry._words is not None and entry._words.index is built  # carried over
    assert len(entry._words.stale) >= 2 and entry._words.fresh is not None  # read apart
    assert sorted(found["result"], key=int) == [str(p) for p in range(2, 10)]
    clear_all()
    assert shop.search("jacket", **call) == found
    [entry] = held(services)
    assert entry._words is not None
    built = entry._words.index  # read again with the columns

    monkeypatch.setattr(words, "STALE_MAX", 0)
    shop.catalogue({**items[1], "name": "Rain Boots"})
    found = shop.search("jacket", **call)
    [entry] = held(services)
    assert entry._words is not None and entry._words.index is not built  # read again
    assert not entry._words.stale
    assert "2" not in found["result"] and found["count"] == 7
    assert isinstance(entry, columns.Columns)
