"""`clerk-collector demo`'s seeding: the demo store lists the shop's origin, so the shop's
personal widgets (history, basket) are answered."""

from __future__ import annotations

from collector.demo import seed
from collector.services import Services
from collector.storage import contents
from collector.storage.stores import store_by_public_key
from demo_shop.contents import contents as demo_contents


def test_the_demo_store_lists_the_shops_origin_on_every_port_it_ran_on(services: Services):
    key = seed(services.storage, shop_url="http://localhost:8001")
    store = services.storage.run(store_by_public_key, public_key=key)
    assert store is not None and store.origins == ("http://localhost:8001",)
    # A later run on another port keeps the first origin and adds its own, once.
    assert seed(services.storage, shop_url="http://localhost:9001") == key
    assert seed(services.storage, shop_url="http://localhost:9001") == key
    store = services.storage.run(store_by_public_key, public_key=key)
    assert store is not None
    assert store.origins == ("http://localhost:8001", "http://localhost:9001")


def test_the_demo_store_gets_the_shops_contents_and_keeps_an_owners_edits(services: Services):
    key = seed(services.storage, shop_url="http://localhost:8001")
    store = services.storage.run(store_by_public_key, public_key=key)
    assert store is not None
    stored = services.storage.run(contents.list_all, store_id=store.id)
    wanted = {c["id"]: c for c in demo_contents()}
    assert {c["id"] for c in stored} == set(wanted)
    for content in stored:
        assert {k: content[k] for k in wanted[content["id"]]} == wanted[content["id"]]

    # The owner changes a content's limit in the dashboard; the next start keeps it.
    edited = {**wanted["exit-intent"], "limit": 8}
    services.storage.run(contents.upsert, store_id=store.id, contents=[edited], now=1)
    seed(services.storage, shop_url="http://localhost:8001")
    again = services.storage.run(contents.get, store_id=store.id, content_id="exit-intent")
    assert again is not None and again["limit"] == 8
