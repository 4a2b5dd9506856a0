"""The dashboard's Contents page: list, create, edit, delete, preview; CSRF, escaping, errors
next to their field, and one store's admin never seeing another's contents."""

from __future__ import annotations

import html
import json
import re
from typing import Any

import pytest
from starlette.testclient import TestClient

from collector.services import Services
from collector.storage.stores import create_admin

from .factories import StoreKeys, all_text, make_store, product, rows

PASSWORD = "correct horse battery"
OWNER = "owner@shop.example"
SCRIPT = "<script>alert(1)</script>"
ATTRIBUTE = '"><img src=x onerror=alert(2)>'
DESIGN = (
    "{% for product in products %}<a class='p' href='{{ product.url }}'>{{ product.name }}</a>"
    "{% endfor %}<a href='javascript:alert(3)'>x</a><img src='{{ content.name }}'>"
)


def csrf_of(page: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', page)
    assert found, "no CSRF field in the page"
    return found.group(1)


def make_admin(services: Services, stores: list[str]) -> None:
    services.storage.run(create_admin, email=OWNER, password=PASSWORD, now=0, store_keys=stores)


@pytest.fixture
def owner(client: TestClient, services: Services, store: StoreKeys) -> TestClient:
    make_admin(services, [store.public_key])
    form = client.get("/dashboard/login")
    signed = client.post(
        "/dashboard/login",
        data={"csrf": csrf_of(form.text), "email": OWNER, "password": PASSWORD},
        follow_redirects=False,
    )
    assert signed.status_code == 303
    return client


def catalogue(client: TestClient, store: StoreKeys, *items: dict[str, Any]) -> None:
    body = {"key": store.public_key, "private_key": store.private_key, "products": list(items)}
    assert client.post("/v2/products", json=body).status_code == 200


def page_of(client: TestClient, store: StoreKeys, **query: str) -> Any:
    return client.get(f"/dashboard/stores/{store.id}/contents", params=query)


def submit(client: TestClient, store: StoreKeys, action: str = "save", **fields: str) -> Any:
    form = {
        "csrf": csrf_of(page_of(client, store).text),
        "id": "home-popular",
        "name": "Bestsellers",
        "api": "recommendations/popular",
        "limit": "4",
        "labels": "Home\nBestsellers",
        "arguments": "{}",
        "design": DESIGN,
        "action": action,
        **fields,
    }
    return client.post(f"/dashboard/stores/{store.id}/contents", data=form)


def srcdoc(page: str) -> str:
    """The preview frame's document (as the browser reads the attribute)."""
    found = re.search(r'<iframe class="preview" title="Preview" sandbox srcdoc="([^"]*)"', page)
    assert found, "no sandboxed preview frame"
    return html.unescape(found.group(1))


def test_create_preview_edit_and_delete(owner, services, store):
    catalogue(owner, store, product(1, name="Blue mug"), product(2, name="Red mug"))
    empty = page_of(owner, store)
    assert empty.status_code == 200 and "No contents yet" in empty.text
    # Preview: rendered over the store's products, nothing saved, nothing recorded
    shown = submit(owner, store, action="preview")
    assert shown.status_code == 200, shown.text
    frame = srcdoc(shown.text)
    assert ">Blue mug</a>" in frame and ">Red mug</a>" in frame
    assert "javascript:" not in frame and "<a>x</a>" in frame
    assert rows(services, "contents") == []
    assert [r for r in rows(services, "events") if r["kind"] == "render"] == []
    # Save
    saved = submit(owner, store)
    assert saved.status_code == 200 and "Content home-popular saved." in saved.text
    (row,) = rows(services, "contents")
    assert (row["store_id"], row["name"], row["limit"]) == (store.id, "Bestsellers", 4)
    assert json.loads(row["labels"]) == ["Home", "Bestsellers"] and row["design"] == DESIGN
    # Listed, and its edit form filled in with its preview
    listed = page_of(owner, store)
    assert "<code>home-popular</code>" in listed.text and "Home, Bestsellers" in listed.text
    editing = page_of(owner, store, edit="home-popular")
    assert 'value="Bestsellers"' in editing.text and ">Blue mug</a>" in srcdoc(editing.text)
    assert page_of(owner, store, edit="nope").status_code == 404
    # Delete
    token = csrf_of(listed.text)
    gone = owner.post(
        f"/dashboard/stores/{store.id}/contents/delete", data={"csrf": token, "id": "home-popular"}
    )
    assert gone.status_code == 200 and "Content home-popular deleted." in gone.text
    assert rows(services, "contents") == []


@pytest.mark.parametrize(
    ("field", "value", "says"),
    [
        ("design", "<ul>\n{% for p in products %}<li>", "design: line 2, column 0: for is never"),
        ("design", "{{ product.name ", "design: line 1, column 0: expected"),
        ("arguments", "{not json", "arguments: is not JSON"),
        ("arguments", '{"colour": "red"}', "arguments.colour: is not an argument"),
        ("limit", "many", "limit: must be a whole number"),
        ("limit", "500", "limit: must be between 1 and 100"),
        ("id", "has space", "id: must be 1-64 characters"),
        ("api", "log/sale", "api: log/sale is not a list endpoint"),
        ("labels", "\n".join(["x"] * 11), "labels: has 11 items"),
    ],
)
def test_a_problem_is_shown_next_to_its_field_and_nothing_is_saved(
    owner, services, store, field, value, says
):
    before = all_text(services)
    for action in ("save", "preview"):
        answer = submit(owner, store, action=action, **{field: value})
        assert answer.status_code == 400
        shown = re.findall(
            r'<small class="field-problem" role="alert">([^<]*)</small>', answer.text
        )
        assert len(shown) == 1 and says in html.unescape(shown[0]), shown
        # next to its own field: the problem follows that field's label
        before_problem = answer.text.split('class="field-problem"')[0]
        assert before_problem.rfind(f'name="{field}"') > before_problem.rfind("<label")
        assert all_text(services) == before


def test_a_post_without_the_sessions_csrf_token_does_nothing(owner, services, store):
    submit(owner, store)
    before = all_text(services)
    for path, data in (
        ("contents", {"id": "other", "api": "recommendations/new", "limit": "3"}),
        ("contents/delete", {"id": "home-popular"}),
    ):
        for token in ({}, {"csrf": "forged"}):
            answer = owner.post(f"/dashboard/stores/{store.id}/contents", data={**data, **token})
            answer = owner.post(f"/dashboard/stores/{store.id}/{path}", data={**data, **token})
            assert answer.status_code == 403
    assert all_text(services) == before


def test_hostile_names_and_design_output_are_text(owner, services, store):
    catalogue(owner, store, product(1, name=SCRIPT), product(2, name=ATTRIBUTE))
    answer = submit(owner, store, name=SCRIPT + ATTRIBUTE, labels=SCRIPT)
    assert answer.status_code == 200
    listed = page_of(owner, store).text
    for text in (listed, answer.text):
        assert "<script" not in text and "<img src=x" not in text
        assert "&lt;script&gt;" in text
    frame = srcdoc(answer.text)
    # the design's output is escaped: the names are text in the frame's document too
    assert "<script" not in frame and "<img src=x" not in frame
    assert "&lt;script&gt;alert(1)&lt;/script&gt;</a>" in frame
    assert "&#34;&gt;&lt;img src=x onerror=alert(2)&gt;" in frame or "&quot;&gt;&lt;img" in frame
    # the frame is sandboxed without scripts, and the page runs none
    assert re.search(r"<iframe[^>]* sandbox srcdoc=", answer.text)
    assert "allow-scripts" not in answer.text
    csp = answer.headers["content-security-policy"]
    assert "default-src 'none'" in csp and "script-src" not in csp


def test_the_preview_of_a_seeded_api_starts_from_popular_products(owner, services, store):
    catalogue(
        owner,
        store,
        product(1, name="Blue mug", categories=["Mugs"]),
        product(2, name="Red mug", categories=["Mugs"]),
        product(3, name="Green tea", categories=["Tea"]),
    )
    owner.post("/v2/log/product", json={"key": store.public_key, "product": "1", "visitor": "a1"})
    for api in ("recommendations/substituting", "recommendations/category/popular"):
        answer = submit(owner, store, action="preview", api=api)
        assert answer.status_code == 200, answer.text
        assert ">Red mug</a>" in srcdoc(answer.text), api
    search = submit(owner, store, action="preview", api="search/search")
    assert ">Blue mug</a>" in srcdoc(search.text)
    assert rows(services, "searches") == []  # a preview records no search


def test_a_personal_preview_never_shows_a_shoppers_data(owner, services, store):
    catalogue(owner, store, *(product(i, name=f"Thing {i}") for i in range(1, 4)))
    sale = {"key": store.public_key, "sale": "o1", "products": ["2"], "visitor": "ann1"}
    owner.post("/v2/log/sale", json=sale)
    owner.post("/v2/log/product", json={"key": store.public_key, "product": "3", "visitor": "ann1"})
    answer = submit(owner, store, action="preview", api="recommendations/visitor/history")
    frame = srcdoc(answer.text)
    # the store's most popular products (the sold one first), as for any visitor
    assert frame.index(">Thing 2</a>") < frame.index(">Thing 3</a>")


def test_one_stores_admin_never_sees_or_changes_anothers_contents(owner, client, services, store):
    other = make_store(services, name="Other shop")
    body = {
        "key": other.public_key,
        "private_key": other.private_key,
        "contents": [{"id": "secret-slot", "name": "Other's slot", "api": "recommendations/new"}],
    }
    assert client.post("/v2/contents", json=body).status_code == 200
    assert "secret-slot" not in page_of(owner, store).text
    assert page_of(owner, other).status_code == 404
    assert page_of(owner, store, edit="secret-slot").status_code == 404
    token = csrf_of(page_of(owner, store).text)
    deleted = owner.post(
        f"/dashboard/stores/{other.id}/contents/delete", data={"csrf": token, "id": "secret-slot"}
    )
    assert deleted.status_code == 404
    mine = owner.post(
        f"/dashboard/stores/{store.id}/contents/delete", data={"csrf": token, "id": "secret-slot"}
    )
    assert mine.status_code == 404
    assert [r["id"] for r in rows(services, "contents")] == ["secret-slot"]


def test_the_header_links_the_contents_page(owner, store):
    overview = owner.get(f"/dashboard/stores/{store.id}/overview").text
    assert f'href="/dashboard/stores/{store.id}/contents"' in overview
