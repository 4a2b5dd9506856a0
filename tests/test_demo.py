"""`clerk-collector demo`'s seeding: the demo store lists the shop's origin, so the shop's
personal widgets (history, basket) are answered."""

from __future__ import annotations

from collector.demo import seed
from collector.services import Services
from collector.storage.stores import store_by_public_key


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
