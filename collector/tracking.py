"""Tracking endpoints (log/*) and the shopper's own erasure (privacy/forget)."""

from __future__ import annotations

from typing import Any

from starlette.routing import Route

from . import caps, origins
from .api import COUNT, Call, Handler, answer, endpoint
from .errors import ApiError, invalid
from .fields import labels_field, sale_line
from .storage import returns, tracking
from .validation import (
    REQUIRED,
    described,
    email,
    integer,
    list_of,
    product_id,
    refuse_derived,
    text,
    text_or_id,
)
from .visitors import SERVER_MODE, Visitor


async def _event(call: Call, kind: str, **fields: Any) -> dict[str, Any]:
    visitor = await call.visitor()
    event = tracking.event(
        store_id=call.store.id,
        ts=call.services.now_ms(),
        kind=kind,
        visitor_mode=visitor.mode,
        visitor_id=visitor.id,
        session=visitor.session,
        **fields,
    )
    await call.services.storage.insert(event)
    return {}


async def log_product(call: Call) -> dict[str, Any]:
    return await _event(call, "view", product_id=call.data["product"])


async def log_click(call: Call) -> dict[str, Any]:
    data = call.data
    return await _event(
        call,
        "click",
        product_id=data["product"],
        api=data["api"],
        labels=data["labels"],
        position=data["n"],
    )


async def log_sale(call: Call) -> dict[str, Any]:
    """Record a sale once per id. With the private key it is the shop's own record, which
    replaces one a browser logged with that id (anyone can log a sale from a page), and
    the answer says so with `replaced`."""
    data, visitor = call.data, await call.visitor()
    lines = [
        line if isinstance(line, dict) else {"id": line, "quantity": 1, "price": 0.0}
        for line in data["products"]
    ]
    outcome = await call.services.storage.write(
        tracking.record_sale,
        store_id=call.store.id,
        ts=call.services.now_ms(),
        sale_id=data["sale"],
        lines=lines,
        visitor_mode=visitor.mode,
        visitor_id=visitor.id,
        session=visitor.session,
        # In null mode nothing that identifies the shopper is kept. A private-key sale
        # without a visitor (mode "server") is the shop's own record: it keeps them.
        email=None if visitor.anonymous else data["email"],
        customer=None if visitor.anonymous else data["customer"],
        source="server" if call.private else "browser",
    )
    if call.private:
        return {"recorded": outcome is not None, "replaced": outcome == "replaced"}
    return {"recorded": outcome is not None}


async def log_returned(call: Call) -> dict[str, Any]:
    """Units of a product of an order that came back (Clerk's log/returned: `order`,
    `product`, `quantity`; `sale` is taken for `order`). Private key only: a return
    lowers the shop's revenue figures, and a page's public key is anyone's. `quantity`
    is the units returned so far, so a repeated call replaces rather than adds; a
    return for an order not recorded yet is kept and applied when the order arrives."""
    data = call.data
    order, sale = data["order"], data["sale"]
    if order is None and sale is None:
        raise ApiError(400, "missing_field", "order: is required (the sale id)")
    if order is not None and sale is not None and order != sale:
        raise invalid("sale", "names another order than order; send one of them")
    outcome: dict[str, Any] = await call.services.storage.write(
        returns.record_return,
        store_id=call.store.id,
        order_id=order if order is not None else sale,
        product_id=data["product"],
        quantity=data["quantity"],
        ts=call.services.now_ms(),
    )
    return {"recorded": True, **outcome}


async def _link_email(call: Call, visitor: Visitor, email: str) -> bool:
    """Link the email to the caller's visitor; none in null mode (nothing identifying kept)."""
    if visitor.id is None:
        return False
    await call.services.storage.write(
        tracking.link_email,
        store_id=call.store.id,
        email=email,
        visitor_id=visitor.id,
        ts=call.services.now_ms(),
    )
    return True


async def log_email(call: Call) -> dict[str, Any]:
    return {"recorded": await _link_email(call, await call.visitor(), call.data["email"])}


def basket(op: str) -> Handler:
    async def log_basket(call: Call) -> dict[str, Any]:
        visitor = await call.visitor()
        if (
            call.data.get("email")
            and visitor.mode == "auto"
            and not origins.from_browser(call.request)
        ):
            # Magento's and WooCommerce's servers send the logged-in customer's basket
            # and email with the public key only: a cookieless id derived from the shop
            # server's address would be every customer's, and linking their emails to it
            # would join their histories. No browser sends a POST without Origin and
            # Sec-Fetch-*, so such a call is a server's: it gets no visitor.
            visitor = Visitor(mode=SERVER_MODE, id=None, session=visitor.session)
        items = await call.services.storage.write(
            tracking.record_basket,
            store_id=call.store.id,
            ts=call.services.now_ms(),
            visitor_mode=visitor.mode,
            visitor_id=visitor.id,
            session=visitor.session,
            op=op,
            products=call.data.get("products", ()),
            product=call.data.get("product"),
        )
        # Magento's and WooCommerce's servers send the shopper's email with the basket:
        # linked as log/email links it.
        if call.data.get("email"):
            await _link_email(call, visitor, call.data["email"])
        return {"basket": items}

    return log_basket


@described({"const": "auto"})
def previous_field(name: str, value: Any, from_query: bool) -> str:
    if value != "auto":
        if isinstance(value, str):
            refuse_derived(name, value)
        raise invalid(name, 'only "auto" can be carried over')
    return "auto"


async def log_visitor(call: Call) -> dict[str, Any]:
    """Consent given mid-visit: carry the cookieless visit over to the new id."""
    new_id = call.data["visitor"]
    if new_id in (None, "auto"):
        raise ApiError(400, "invalid_field", "visitor: must be the new visitor id")
    request = call.request
    old_id = await call.services.visitors.derive(
        store_key=call.store.public_key,
        ip=request.client.host if request.client else "",
        user_agent=request.headers.get("user-agent", ""),
    )
    moved = await call.services.storage.write(
        tracking.merge_visitor,
        store_id=call.store.id,
        old_id=old_id,
        new_id=new_id,
        ts=call.services.now_ms(),
    )
    return {"merged": moved}


async def privacy_forget(call: Call) -> dict[str, Any]:
    """Erase a visitor (the caller's own with the public key) or, with the private key, an email."""
    data = call.data
    if data["email"] and not call.private:
        raise ApiError(403, "private_key_required", "email: forgetting an email needs private_key")
    visitor = await call.visitor()
    ids = [visitor.id] if visitor.id else []
    if not ids and not data["email"]:
        nothing = ("visitors", "events", "orders", "links", "searches", "customers")
        return {"forgotten": dict.fromkeys(nothing, 0)}
    counts = await call.services.storage.write(
        tracking.forget, store_id=call.store.id, visitor_ids=ids, email=data["email"]
    )
    return {"forgotten": counts}


RECORDED = answer(recorded={"type": "boolean"})
BASKET = answer(basket={"type": "array", "items": {"type": "string"}})

routes = [
    Route(
        "/v2/log/product",
        endpoint({"product": (product_id, REQUIRED)}, log_product),
        methods=["GET", "POST"],
    ),
    Route(
        "/v2/log/click",
        endpoint(
            {
                "product": (product_id, REQUIRED),
                "api": (text(caps.API_LENGTH_MAX), None),
                "labels": (labels_field, []),
                "n": (integer(0, 10_000), None),
            },
            log_click,
        ),
        methods=["GET", "POST"],
    ),
    Route(
        "/v2/log/sale",
        endpoint(
            {
                "sale": (product_id, REQUIRED),
                "products": (list_of(sale_line, caps.SALE_LINES_MAX), REQUIRED),
                "email": (email, None),
                "customer": (text_or_id(128), None),
            },
            log_sale,
            answer=RECORDED,
        ),
        methods=["GET", "POST"],
    ),
    Route(
        "/v2/log/email",
        endpoint({"email": (email, REQUIRED)}, log_email, answer=RECORDED),
        methods=["GET", "POST"],
    ),
    Route(
        "/v2/log/returned",
        endpoint(
            {
                "order": (product_id, None),
                "sale": (product_id, None),
                "product": (product_id, REQUIRED),
                "quantity": (integer(0, caps.QUANTITY_MAX), 1),
            },
            log_returned,
            private=True,
            answer=RECORDED,
        ),
        methods=["GET", "POST"],
    ),
    # Personal calls that change a visitor's data: POST only, so that a cross-site GET
    # (an <img>, which carries no Origin) can never change a visitor (collector/origins.py).
    Route(
        "/v2/log/basket/set",
        endpoint(
            {
                "products": (list_of(product_id, caps.BASKET_PRODUCTS_MAX), REQUIRED),
                "email": (email, None),
            },
            basket("set"),
            personal=True,
            answer=BASKET,
        ),
        methods=["POST"],
    ),
    Route(
        "/v2/log/basket/add",
        endpoint({"product": (product_id, REQUIRED)}, basket("add"), personal=True, answer=BASKET),
        methods=["POST"],
    ),
    Route(
        "/v2/log/basket/remove",
        endpoint(
            {"product": (product_id, REQUIRED)}, basket("remove"), personal=True, answer=BASKET
        ),
        methods=["POST"],
    ),
    Route(
        "/v2/log/visitor",
        endpoint(
            {"previous": (previous_field, REQUIRED)},
            log_visitor,
            personal=True,
            answer=answer(merged=COUNT),
        ),
        methods=["POST"],
    ),
    Route(
        "/v2/privacy/forget",
        endpoint(
            {"email": (email, None)},
            privacy_forget,
            personal=True,
            answer=answer(forgotten={"type": "object", "additionalProperties": COUNT}),
        ),
        methods=["POST"],
    ),
]
