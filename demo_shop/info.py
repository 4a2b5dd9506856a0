"""The shop's information pages (shipping, returns, size guide, ...), and what the Clerk
store holds about the shop besides products: its categories and pages, as Clerk's
`/v2/categories` and `/v2/pages` take them (`clerk-collector demo` seeds them, so the
header's live search has categories and pages to show).

Category ids are the category names the products carry (their `categories`, and the
`category` the category page sends in `Clerk('context')` and `data-category`), so a
product's category and the store's category data meet on the same id.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import HTMLResponse

from demo_shop.catalogue import CATEGORIES
from demo_shop.templating import render


@dataclass(frozen=True)
class InfoPage:
    slug: str  # served at /<slug>
    title: str
    kind: str  # Clerk's page `type`
    paragraphs: tuple[str, ...]


# fmt: off
INFO_PAGES: tuple[InfoPage, ...] = (
    InfoPage("shipping", "Shipping & delivery", "help", (
        "Orders placed before 2 pm ship the same working day from our warehouse in the hills. "
        "Standard delivery takes 2 to 4 working days and is free on orders over $75; below "
        "that it costs $5.95.",
        "Express delivery (next working day) costs $12.95. Tents, packs and other bulky "
        "camping gear ship in recycled boxes, without plastic fillers.",
        "You get a tracking link by email as soon as your parcel leaves us.",
    )),
    InfoPage("returns", "Returns & refunds", "help", (
        "Try it on the trail: you have 30 days to return anything, worn outdoors or not. "
        "Send it back with the return label in your parcel and we refund you within five "
        "working days of receiving it.",
        "Exchanges for another size or colour are free. Jackets, boots and knitwear that "
        "wear out are repaired for free for as long as you own them: see our repairs promise.",
    )),
    InfoPage("size-guide", "Size guide", "guide", (
        "Our jackets, coats and knitwear are cut to leave room for a warm layer underneath: "
        "if you are between sizes, take the smaller one for a trim fit.",
        "Chest (cm): XS 84-88, S 89-94, M 95-101, L 102-108, XL 109-116. Boots and trail "
        "runners follow European sizes; half sizes should size up.",
        "Not sure? Exchanges are free, and our shop team answers sizing questions by email.",
    )),
    InfoPage("about", "About Fjord & Pine", "cms", (
        "We are a small outdoor shop that started with one market stall of wool blankets. "
        "Today we design clothing, camping gear and cabin goods with workshops we know by "
        "name, and test every piece on our own weekend trips.",
        "Everything we sell is built to last and to be repaired: that is why repairs are free "
        "for life.",
    )),
    InfoPage("contact", "Contact us", "cms", (
        "Questions about an order, a size or a repair? Write to hello@fjordandpine.example "
        "and our shop team answers within one working day.",
        "Our shop and repair workshop is open Tuesday to Saturday, 10 am to 6 pm.",
    )),
    InfoPage("privacy", "Privacy policy", "cms", (
        "We keep what we need to deliver your order, and nothing else, for as long as the law "
        "asks. Personal recommendations and search use the choice you make in the privacy "
        "settings: reject them and the shop works just the same.",
        "You can change that choice at any time from the privacy settings at the foot of "
        "every page.",
    )),
)
# A category of the store and the ones filed under it (Clerk's `subcategories`).
SUBCATEGORIES = {
    "Clothing": ("Jackets & Coats", "Knitwear"),
    "Camping": ("Camp Kitchen",),
}
# fmt: on
PAGES_BY_SLUG = {page.slug: page for page in INFO_PAGES}


def store_categories(shop_url: str) -> list[dict[str, Any]]:
    """The shop's categories as `/v2/categories` takes them."""
    shop_url = shop_url.rstrip("/")
    return [
        {
            "id": category.name,
            "name": category.name,
            "url": f"{shop_url}/category/{category.slug}",
            "subcategories": list(SUBCATEGORIES.get(category.name, ())),
            "description": category.blurb,
        }
        for category in CATEGORIES
    ]


def store_pages(shop_url: str) -> list[dict[str, Any]]:
    """The shop's information pages as `/v2/pages` takes them."""
    shop_url = shop_url.rstrip("/")
    return [
        {
            "id": page.slug,
            "type": page.kind,
            "url": f"{shop_url}/{page.slug}",
            "title": page.title,
            "text": "\n\n".join(page.paragraphs),
        }
        for page in INFO_PAGES
    ]


async def info_page(request: Request) -> HTMLResponse:
    page = PAGES_BY_SLUG.get(request.url.path.strip("/"))
    if page is None:
        raise HTTPException(404, "No such page")
    return render(request, "info.html", {"page": page, "info_pages": INFO_PAGES})
