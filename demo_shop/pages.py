"""Catalogue pages: home, category, product, product images and errors."""

from __future__ import annotations

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response

from demo_shop.images import product_svg
from demo_shop.templating import render

FEATURED = 8
SORTS = {
    "featured": ("Featured", lambda p: int(p["id"])),
    "price-asc": ("Price: low to high", lambda p: (p["price"], int(p["id"]))),
    "price-desc": ("Price: high to low", lambda p: (-p["price"], int(p["id"]))),
    "newest": ("Newest", lambda p: (-p["created_at"], int(p["id"]))),
}


def _product_or_404(request: Request) -> dict:
    product = request.app.state.products.get(request.path_params["product_id"])
    if product is None:
        raise HTTPException(404, "No such product")
    return product


async def home(request: Request) -> HTMLResponse:
    state = request.app.state
    featured = [p for p in state.catalogue if p["stock"] > 0][:FEATURED]
    return render(request, "home.html", {"featured": featured})


async def category(request: Request) -> HTMLResponse:
    state = request.app.state
    slug = request.path_params["slug"]
    info = next((c for c in state.categories if c["slug"] == slug), None)
    if info is None:
        raise HTTPException(404, "No such category")
    sort = request.query_params.get("sort", "featured")
    if sort not in SORTS:
        sort = "featured"
    products = sorted(state.by_category[info["name"]], key=SORTS[sort][1])
    context = {"category": info, "products": products, "sort": sort, "sorts": SORTS}
    return render(request, "category.html", context)


async def product(request: Request) -> HTMLResponse:
    item = _product_or_404(request)
    primary = request.app.state.category_by_name[item["categories"][0]]
    return render(request, "product.html", {"product": item, "category": primary})


async def search(request: Request) -> HTMLResponse:
    """The search page: results come from the collector, rendered by clerk.js."""
    query = request.query_params.get("q", "").strip()[:200]
    return render(request, "search.html", {"query": query})


async def product_image(request: Request) -> Response:
    svg = product_svg(_product_or_404(request))
    return Response(
        svg,
        media_type="image/svg+xml",
        headers={"Cache-Control": "public, max-age=86400"},
    )


async def http_error(request: Request, exc: Exception) -> Response:
    status = exc.status_code if isinstance(exc, HTTPException) else 500
    detail = exc.detail if isinstance(exc, HTTPException) else "Something went wrong"
    headers = getattr(exc, "headers", None)
    if request.url.path.startswith("/img/"):
        return Response(status_code=status, headers=headers)
    response = render(request, "error.html", {"status": status, "detail": detail}, status)
    response.headers.update(headers or {})
    return response
