"""Cart, checkout and order confirmation."""

from __future__ import annotations

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from demo_shop import cart
from demo_shop.orders import valid_email
from demo_shop.templating import render


def _secure(request: Request) -> bool:
    return request.url.scheme == "https"


def _quantity(raw: object, default: int) -> int:
    text = raw if isinstance(raw, str) else ""
    return min(int(text), cart.MAX_QUANTITY) if text.strip().isdigit() else default


async def _posted_product(request: Request) -> tuple[dict, object]:
    form = await request.form()
    pid = form.get("product_id")
    item = request.app.state.products.get(pid) if isinstance(pid, str) else None
    if item is None:
        raise HTTPException(404, "No such product")
    return item, form.get("quantity")


def _back_to_cart(
    request: Request, shopping_cart: cart.Cart, just_added: str | None = None
) -> Response:
    response = RedirectResponse("/cart", status_code=303)
    cart.write(response, shopping_cart, secure=_secure(request), just_added=just_added)
    return response


async def cart_page(request: Request) -> HTMLResponse:
    """The cart; right after an add to cart, with the "powerstep" popup for the product
    added (shown once: the cookie forgets it)."""
    shopping_cart = cart.read(request)
    state = request.app.state
    lines = cart.lines(shopping_cart, state.products)
    added = cart.added(request)
    context = {
        "lines": lines,
        "total": cart.total(lines),
        "cart_ids": list(shopping_cart),
        "added": state.products.get(added),
        "added_category": added and state.category_by_name[state.products[added]["categories"][0]],
    }
    response = render(request, "cart.html", context)
    if added:
        cart.write(response, shopping_cart, secure=_secure(request))
    return response


async def cart_add(request: Request) -> Response:
    item, quantity = await _posted_product(request)
    if item["stock"] <= 0:
        raise HTTPException(400, "Sorry, this product is sold out")
    shopping_cart = cart.add(cart.read(request), item, _quantity(quantity, 1))
    return _back_to_cart(request, shopping_cart, just_added=item["id"])


async def cart_update(request: Request) -> Response:
    item, quantity = await _posted_product(request)
    return _back_to_cart(request, cart.update(cart.read(request), item, _quantity(quantity, 1)))


async def cart_remove(request: Request) -> Response:
    item, _ = await _posted_product(request)
    return _back_to_cart(request, cart.update(cart.read(request), item, 0))


def _checkout_form(
    request: Request, *, email: str = "", name: str = "", error: str | None = None
) -> HTMLResponse:
    lines = cart.lines(cart.read(request), request.app.state.products)
    context = {
        "lines": lines,
        "total": cart.total(lines),
        "email": email,
        "name": name,
        "error": error,
    }
    return render(request, "checkout.html", context, status_code=400 if error else 200)


async def checkout_form(request: Request) -> HTMLResponse:
    return _checkout_form(request)


async def checkout_submit(request: Request) -> Response:
    form = await request.form()
    email = str(form.get("email") or "").strip()
    name = str(form.get("name") or "").strip()
    lines = cart.lines(cart.read(request), request.app.state.products)
    if not lines:
        error = "Your cart is empty. Add something before placing an order."
        return _checkout_form(request, email=email, name=name, error=error)
    if not valid_email(email):
        error = "Please enter a valid email address, like name@example.com."
        return _checkout_form(request, email=email, name=name, error=error)
    order = request.app.state.orders.place(email=email, name=name, cart_lines=lines)
    response = RedirectResponse(f"/order/{order.id}", status_code=303)
    cart.clear(response, secure=_secure(request))
    return response


async def order_page(request: Request) -> HTMLResponse:
    order = request.app.state.orders.get(request.path_params["order_id"])
    if order is None:
        raise HTTPException(404, "No such order")
    return render(request, "order.html", {"order": order})
