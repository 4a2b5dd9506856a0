"""The dashboard's URL map, mounted at /dashboard by create_app.

/                                   -> the first store's overview
/login (GET, POST), /logout (POST)
/switch?store=ID&page=NAME          the header's store picker
/stores (GET; POST creates)         stores and keys; /stores.csv
/about                              about this install (version, database, maintenance)
/stores/ID/rotate-key (POST)        a new private key, shown once
/stores/ID/origins (POST)           replace the store's allowed origins
/stores/ID/slug (POST)              a new slug: the store's script moves to /<slug>.js
/stores/ID/overview|widgets|products|searches|customers|privacy|visitor
                                    reports; each also as .csv (or ?format=csv),
                                    ?table=NAME picks one of a page's tables
/stores/ID/forget (POST)            erase a customer (email) or a visitor
/stores/ID/contents (GET ?edit=ID; POST saves or previews), /stores/ID/contents/delete
                                    (POST): the store's contents
/static/dashboard.css
"""

from __future__ import annotations

from collections.abc import Callable

from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.routing import BaseRoute, Mount, Route, Router
from starlette.types import Receive, Scope, Send

from . import about, auth, contents, forget, stores, views
from .middleware import DashboardSession, SecurityHeaders

# A content's design may be 50,000 characters, which a form sends URL-encoded (up to 3 bytes
# a character).
MAX_BODY = 256 * 1024
REPORTS = ["overview", "widgets", "products", "searches", "customers", "privacy", "visitor"]


def _routes() -> list[BaseRoute]:
    routes: list[BaseRoute] = [
        Route("/", views.home, name="home"),
        Route("/login", auth.login_form, methods=["GET"], name="login"),
        Route("/login", auth.login, methods=["POST"], name="login_submit"),
        Route("/logout", auth.logout, methods=["POST"], name="logout"),
        Route("/switch", views.switch, name="switch"),
        Route("/static/dashboard.css", views.stylesheet, name="css"),
        Route("/stores", stores.stores_page, methods=["GET"], name="stores"),
        Route("/about", about.about, methods=["GET"], name="about"),
        Route("/stores.csv", stores.stores_page, methods=["GET"], name="stores_csv"),
        Route("/stores", stores.create, methods=["POST"], name="create_store"),
        Route("/stores/{store_id:int}/rotate-key", stores.rotate, methods=["POST"], name="rotate"),
        Route(
            "/stores/{store_id:int}/origins",
            stores.save_origins,
            methods=["POST"],
            name="origins",
        ),
        Route("/stores/{store_id:int}/slug", stores.save_slug, methods=["POST"], name="slug"),
        Route("/stores/{store_id:int}/forget", forget.forget, methods=["POST"], name="forget"),
        Route(
            "/stores/{store_id:int}/contents",
            contents.contents_page,
            methods=["GET"],
            name="contents",
        ),
        Route(
            "/stores/{store_id:int}/contents",
            contents.save_content,
            methods=["POST"],
            name="save_content",
        ),
        Route(
            "/stores/{store_id:int}/contents/delete",
            contents.delete_content,
            methods=["POST"],
            name="delete_content",
        ),
    ]
    for name in REPORTS:
        endpoint = getattr(views, name)
        routes.append(Route(f"/stores/{{store_id:int}}/{name}", endpoint, name=name))
        routes.append(Route(f"/stores/{{store_id:int}}/{name}.csv", endpoint, name=f"{name}_csv"))
    return routes


async def _not_found(scope: Scope, receive: Receive, send: Send) -> None:
    response = views.not_found(Request(scope, receive))
    await response(scope, receive, send)


def mount(secret_key: Callable[[], str]) -> Mount:
    """The dashboard as one Mount; its session cookie exists under /dashboard only.

    `secret_key` gives the collector's one secret key (Services.secret_key), which exists
    once the app has started."""
    return Mount(
        "/dashboard",
        app=Router(_routes(), default=_not_found),
        name="dashboard",
        middleware=[
            Middleware(SecurityHeaders),
            Middleware(DashboardSession, secret_key=secret_key),
        ],
        max_body_size=MAX_BODY,
    )
