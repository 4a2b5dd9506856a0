"""The shopping cart, kept in the shop's own necessary cookie.

The cookie holds ``id:qty`` pairs joined by dots (``"12:1.7:2"``): only
characters that need no quoting in a cookie, and nothing but product ids
and quantities. Unknown ids and malformed pairs are dropped when read.
Right after an add to cart it also holds ``+id`` (``"12:1.7:2.+7"``): the product
just added, which the cart page shows once, in the "powerstep" popup.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

COOKIE = "demo_cart"
MAX_AGE = 30 * 86_400
MAX_LINES = 50
MAX_QUANTITY = 99

Cart = dict[str, int]
ADDED = "+"


def parse(value: str | None, products: Mapping[str, Mapping[str, Any]]) -> Cart:
    cart: Cart = {}
    for pair in (value or "").split(".")[:MAX_LINES]:
        pid, _, qty = pair.partition(":")
        if pid in products and qty.isdigit() and int(qty) > 0:
            cart[pid] = min(int(qty), MAX_QUANTITY)
    return cart


def serialise(cart: Cart) -> str:
    return ".".join(f"{pid}:{qty}" for pid, qty in cart.items())


def read(request: Request) -> Cart:
    return parse(request.cookies.get(COOKIE), request.app.state.products)


def added(request: Request) -> str | None:
    """The product just added to the cart, if this is the page right after the add."""
    for pair in (request.cookies.get(COOKIE) or "").split(".")[: MAX_LINES + 1]:
        if pair.startswith(ADDED) and pair[1:] in request.app.state.products:
            return pair[1:]
    return None


def write(response: Response, cart: Cart, *, secure: bool, just_added: str | None = None) -> None:
    if not cart:
        clear(response, secure=secure)
        return
    value = serialise(cart)
    if just_added in cart:
        value += f".{ADDED}{just_added}"
    response.set_cookie(
        COOKIE,
        value,
        max_age=MAX_AGE,
        path="/",
        httponly=True,
        samesite="lax",
        secure=secure,
    )


def clear(response: Response, *, secure: bool) -> None:
    response.delete_cookie(COOKIE, path="/", httponly=True, samesite="lax", secure=secure)


def add(cart: Cart, product: Mapping[str, Any], quantity: int) -> Cart:
    """Return a new cart with ``quantity`` more of ``product``, capped by stock."""
    pid = product["id"]
    if int(product["stock"]) <= 0 or (pid not in cart and len(cart) >= MAX_LINES):
        return dict(cart)
    wanted = cart.get(pid, 0) + max(quantity, 1)
    return {**cart, pid: min(wanted, MAX_QUANTITY, int(product["stock"]))}


def update(cart: Cart, product: Mapping[str, Any], quantity: int) -> Cart:
    pid = product["id"]
    if quantity <= 0 or pid not in cart:
        return {k: v for k, v in cart.items() if k != pid}
    return {**cart, pid: min(quantity, MAX_QUANTITY, max(int(product["stock"]), 1))}


def lines(cart: Cart, products: Mapping[str, Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Cart lines with their product, quantity and subtotal, in cart order."""
    return [
        {
            "product": products[pid],
            "quantity": qty,
            "subtotal": round(products[pid]["price"] * qty, 2),
        }
        for pid, qty in cart.items()
        if pid in products
    ]


def total(cart_lines: list[dict[str, Any]]) -> float:
    return round(sum(line["subtotal"] for line in cart_lines), 2)


def count(cart: Cart) -> int:
    return sum(cart.values())
