"""The demo storefront: ``uvicorn demo_shop.app:create_app --factory``.

Configured by environment: DEMO_COLLECTOR_URL, DEMO_PUBLIC_KEY, DEMO_SHOP_URL,
DEMO_CATALOGUE_SIZE (see settings.py).
"""

from __future__ import annotations

from pathlib import Path

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from demo_shop import checkout, info, pages, privacy
from demo_shop.catalogue import categories, generate_catalogue
from demo_shop.orders import OrderBook
from demo_shop.settings import Settings

STATIC_DIR = Path(__file__).parent / "static"


def _load_catalogue(app: Starlette, settings: Settings) -> None:
    catalogue = generate_catalogue(settings.shop_url, settings.catalogue_size)
    state = app.state
    state.catalogue = catalogue
    state.products = {p["id"]: p for p in catalogue}
    state.categories = categories()
    state.category_by_name = {c["name"]: c for c in state.categories}
    state.by_category = {c["name"]: [] for c in state.categories}
    for product in catalogue:
        for name in product["categories"]:
            state.by_category[name].append(product)


def create_app(settings: Settings | None = None) -> Starlette:
    settings = settings or Settings.from_env()
    routes = [
        Route("/", pages.home),
        Route("/category/{slug}", pages.category),
        Route("/product/{product_id}", pages.product),
        Route("/search", pages.search),
        Route("/img/{product_id}.svg", pages.product_image),
        Route("/cart", checkout.cart_page),
        Route("/cart/add", checkout.cart_add, methods=["POST"]),
        Route("/cart/update", checkout.cart_update, methods=["POST"]),
        Route("/cart/remove", checkout.cart_remove, methods=["POST"]),
        Route("/checkout", checkout.checkout_form, methods=["GET"]),
        Route("/checkout", checkout.checkout_submit, methods=["POST"]),
        Route("/order/{order_id}", checkout.order_page),
        Route("/consent", privacy.consent_page, methods=["GET"]),
        Route("/consent", privacy.consent_submit, methods=["POST"]),
        *(Route(f"/{page.slug}", info.info_page) for page in info.INFO_PAGES),
        Mount("/static", StaticFiles(directory=STATIC_DIR), name="static"),
    ]
    app = Starlette(routes=routes, exception_handlers={HTTPException: pages.http_error})
    app.state.settings = settings
    app.state.orders = OrderBook()
    app.state.info_pages = info.INFO_PAGES
    _load_catalogue(app, settings)
    return app
