"""One visit: a shopper's walk over the demo shop's pages, with the calls their markup makes.

The widgets are the shop's own (demo_shop/widgets.py, which its templates render), so
the simulated pages ask the collector exactly what the real ones ask: where a page embeds
a Clerk content (`@id`), the content's api with its limit and labels, which is what the
collector's content call runs and records.
"""

from __future__ import annotations

import bisect
import math
import random
from dataclasses import dataclass, field
from typing import Any

from demo_shop.widgets import (
    CATEGORY_POPULAR,
    CATEGORY_TRENDING,
    HEADER_SEARCH,
    PRODUCT_ALTERNATIVES,
    PRODUCT_OTHERS_BOUGHT,
    SEARCH_BESTSELLERS,
    SEARCH_RESULTS,
    Widget,
)
from demo_shop.widgets import HOME as HOME_WIDGETS

from ..storage.stores import Store
from .outcome import Result
from .shoppers import Catalogue, Device, Product, VisitPlan, pick, position, query_for, rid

# What a shopper does next on a page (the rest: open a product from the page's own grid).
P_CLICK_RECOMMENDATION = 0.15
P_SEARCH = 0.14
P_CATEGORY = 0.18
# In a search: a suggestion of the predictive box clicked, or a result of the search page.
P_CLICK_SUGGESTION = 0.25
P_CLICK_RESULT = 0.4
# Putting the product in the basket: browsed to, or clicked in a widget or search result,
# or come back for (three times as likely on a buying visit).
P_ADD = 0.07
P_ADD_CLICKED = 0.15
P_ADD_RETURNED_FOR = 0.4
# Of visits that end with a basket, how many check out (buying visits / others).
P_CHECKOUT_INTENT = 0.85
P_CHECKOUT = 0.25
# A visit is a buying visit: by default; back for a product clicked on an earlier visit;
# by a customer who ordered before; on a second device (with the same email).
INTENT = 0.05
INTENT_RETURNING = 0.3
INTENT_CUSTOMER = 0.2
INTENT_SECOND_DEVICE = 0.6
# A visitor with clicks on an earlier visit comes back for one of those products.
P_RETURN = 0.3


@dataclass(frozen=True)
class Shown:
    """A widget's answer on the page: what the shopper can click."""

    api: str
    labels: tuple[str, ...]
    ids: list[str]


@dataclass
class Page:
    kind: str  # home | category | product | search | cart | checkout | order
    shown: list[Shown] = field(default_factory=list)
    product: Product | None = None
    category: str | None = None
    via_click: bool = False


# ------------------------------------------------------------------ one browser tab


class Tab:
    """A shopper's browser tab during one visit: its clock, session and clerk.js's calls."""

    def __init__(self, sim: Visits, plan: VisitPlan, timing: random.Random) -> None:
        self.sim = sim
        self.person = plan.person
        self.device = plan.person.devices[plan.device]
        self.timing = timing
        self.ms = plan.start_ms
        self.end_ms = plan.end_ms - 1
        self.session = rid(timing)
        self.opened = False

    def wait(self, ms: float) -> None:
        self.ms = min(self.ms + int(ms), self.end_ms)

    def open(self) -> None:
        """A new page: clerk.js's in-memory session id is new; the last page was read first."""
        reading = 8_000 + 70_000 * self.timing.random()
        if self.opened:
            self.wait(reading)
        self.opened = True
        self.session = rid(self.timing)

    def visitor(self) -> dict[str, Any]:
        # As clerk.js's vf(): null mode sends nothing else that identifies.
        if self.person.mode == "none":
            return {"visitor": None}
        if self.person.mode == "auto":
            return {"visitor": "auto", "session": self.session}
        return {"visitor": self.device.cookie, "session": self.session}

    async def call(self, endpoint: str, /, **args: Any) -> dict[str, Any]:
        self.wait(30 + 300 * self.timing.random())
        payload = {"key": self.sim.store.public_key, **args, **self.visitor()}
        if self.person.mode == "none":
            for private in ("session", "email", "customer"):
                payload.pop(private, None)
        return await self.sim.send(endpoint, payload, self.device, self.ms)

    async def widget(self, spec: Widget, **args: Any) -> Shown:
        api, labels, limit = spec[:3]  # what clerk.js sends (the title is only shown)
        answer = await self.call(api, limit=limit, labels=list(labels), **args)
        return Shown(api, labels, [str(pid) for pid in answer.get("result", [])])

    async def click(self, shown: Shown, n: int) -> str:
        product = shown.ids[n]
        await self.call(
            "log/click", product=product, api=shown.api, labels=list(shown.labels), n=n + 1
        )
        self.person.clicked.append(product)
        return product


# ------------------------------------------------------------------ the walk


class Visits:
    """How a simulation's visits go, page by page, each decision a draw from the seed.

    The runner (runner.Simulation) gives it the store, the catalogue, the seed, the
    run's tag for sale ids, the result it counts into, and `send` (one call to the
    collector, answered as a dict).
    """

    store: Store
    catalogue: Catalogue
    seed: int
    run_tag: str
    result: Result

    async def send(
        self, api: str, payload: dict[str, Any], device: Device, at_ms: int
    ) -> dict[str, Any]:
        raise NotImplementedError

    # ---------------------------------------------------------------- pages

    async def home(self, tab: Tab) -> Page:
        tab.open()
        return Page("home", [await tab.widget(spec) for spec in HOME_WIDGETS])

    async def category_page(self, tab: Tab, category: str) -> Page:
        tab.open()
        popular = await tab.widget(CATEGORY_POPULAR, category=category)
        # data-exclude-from: trending shows none of what popular shows.
        trending = await tab.widget(CATEGORY_TRENDING, exclude=popular.ids)
        return Page("category", [popular, trending], category=category)

    async def product_page(self, tab: Tab, product_id: str, *, via_click: bool = False) -> Page:
        tab.open()
        await tab.call("log/product", product=product_id)  # Clerk('context', {product})
        alternatives = await tab.widget(PRODUCT_ALTERNATIVES, products=[product_id])
        others = await tab.widget(
            PRODUCT_OTHERS_BOUGHT, products=[product_id], exclude=alternatives.ids
        )
        shown = [alternatives, others]
        product = self.catalogue.by_id.get(product_id)
        return Page("product", shown, product=product, via_click=via_click)

    async def search(self, tab: Tab, rng: random.Random, pick_rng: random.Random) -> Page:
        """Typing in the header's predictive box; then a suggestion or the results page."""
        query = query_for(rng, self.catalogue)
        typed, suggest, click = rng.random(), rng.random(), rng.random()
        cuts = sorted({max(2, int(len(query) * (0.3 + 0.6 * typed))), len(query)})
        if typed < 0.35:
            cuts = [len(query)]
        suggestions = Shown(*HEADER_SEARCH[:2], [])
        for cut in cuts:
            tab.wait(250 + 700 * tab.timing.random())
            suggestions = await tab.widget(HEADER_SEARCH, query=query[:cut])
        if suggestions.ids and suggest < P_CLICK_SUGGESTION:
            product = await tab.click(suggestions, position(pick_rng, len(suggestions.ids)))
            return await self.product_page(tab, product, via_click=True)
        tab.open()
        results = await tab.widget(SEARCH_RESULTS, query=query)
        page = Page("search", [results, await tab.widget(SEARCH_BESTSELLERS)])
        if results.ids and click < P_CLICK_RESULT:
            product = await tab.click(results, position(pick_rng, len(results.ids)))
            return await self.product_page(tab, product, via_click=True)
        return page

    async def cart_page(self, tab: Tab, cart: dict[str, int]) -> Page:
        tab.open()
        await tab.call("log/basket/set", products=list(cart))
        return Page("cart")

    # ---------------------------------------------------------------- one visit

    async def visit(self, plan: VisitPlan) -> None:
        name = f"{self.seed}/{plan.person.index}/{plan.number}"
        rng = random.Random(f"{name}/plan")  # decisions: fixed by the seed
        pick_rng = random.Random(f"{name}/pick")  # which answered product is clicked
        tab = Tab(self, plan, random.Random(f"{name}/timing"))
        person, catalogue = plan.person, self.catalogue
        cart: dict[str, int] = {}
        added = 0  # units put in the basket

        landing, intent_roll, bounce, length, back, which = (rng.random() for _ in range(6))
        # Back for a product clicked on an earlier visit (the same id, or an email links them).
        returning = bool(person.clicked) and person.mode != "none" and back < P_RETURN
        intent = INTENT
        if returning:
            intent = INTENT_RETURNING
        if person.orders:
            intent = max(intent, INTENT_CUSTOMER)
        if plan.device == 1:
            intent = INTENT_SECOND_DEVICE
        buying = intent_roll < intent
        steps = 0 if bounce < 0.25 and not buying else 1 + min(int(-3.5 * _log(length)), 9)

        if returning:
            wanted = person.clicked[-1 - int(which * min(len(person.clicked), 3))]
            page = await self.product_page(tab, wanted)
            page.via_click = True  # it was clicked on an earlier visit
        elif landing < 0.5:
            page = await self.home(tab)
        elif landing < 0.7:
            page = await self.category_page(tab, catalogue.category(rng))
        elif landing < 0.9:
            page = await self.product_page(tab, catalogue.popular(rng).id)
        else:
            page = await self.search(tab, rng, pick_rng)
        first = True

        for _ in range(steps + 1):
            if not first:
                page = await self._next_page(tab, rng, pick_rng, page)
            # On a product page the shopper may put it in the basket.
            add, quantity, drop = rng.random(), rng.random(), rng.random()
            if page.kind == "product" and page.product is not None and page.product.in_stock:
                chance = P_ADD_CLICKED if page.via_click else P_ADD
                if first and returning:
                    chance = P_ADD_RETURNED_FOR
                if buying:
                    chance = min(chance * 3, 0.9)
                if add < chance:
                    units = 1 if quantity < 0.88 else 2
                    cart[page.product.id] = cart.get(page.product.id, 0) + units
                    added += units
                    page = await self.cart_page(tab, cart)
                    # Changed their mind about one. (Units, not lines, decide: two clicked
                    # products can turn out to be the same one, and counts must not change.)
                    if added > 1 and drop < 0.12:
                        gone = pick(pick_rng, list(cart))
                        cart[gone] -= 1
                        added -= 1
                        if not cart[gone]:
                            del cart[gone]
                        await tab.call("log/basket/set", products=list(cart))
            first = False

        checkout, signup, typed_email = rng.random(), rng.random(), rng.random()
        can_email = person.email is not None and person.mode != "none"
        if cart and checkout < (P_CHECKOUT_INTENT if buying else P_CHECKOUT):
            await self._order(tab, plan, cart, email_field=can_email and typed_email < 0.6)
        elif can_email and signup < 0.04:  # a newsletter sign-up
            await tab.call("log/email", email=person.email)

    async def _next_page(
        self, tab: Tab, rng: random.Random, pick_rng: random.Random, page: Page
    ) -> Page:
        action, first, second = rng.random(), rng.random(), rng.random()
        catalogue = self.catalogue
        clickable = [shown for shown in page.shown if shown.ids]
        if action < P_CLICK_RECOMMENDATION and clickable:
            shown = pick(pick_rng, clickable)
            clicked = await tab.click(shown, position(pick_rng, len(shown.ids)))
            return await self.product_page(tab, clicked, via_click=True)
        if P_CLICK_RECOMMENDATION <= action < P_CLICK_RECOMMENDATION + P_SEARCH:
            return await self.search(tab, rng, pick_rng)
        if action < P_CLICK_RECOMMENDATION + P_SEARCH + P_CATEGORY:
            here = page.product.categories if page.product else ()
            if here and first < 0.6:
                name = here[min(int(second * len(here)), len(here) - 1)]
            else:
                name = catalogue.categories[
                    _bisect(catalogue.categories_cum, second * catalogue.categories_cum[-1])
                ]
            return await self.category_page(tab, name)
        # Open a product from the page's own grid (not a Clerk widget: no click event).
        if page.kind == "category" and page.category in catalogue.members:
            members, cum = catalogue.members[page.category], catalogue.members_cum[page.category]
            product = members[_bisect(cum, first * cum[-1])]
        else:
            product = catalogue.items[_bisect(catalogue.cum, first * catalogue.cum[-1])]
        return await self.product_page(tab, product.id)

    async def _order(
        self, tab: Tab, plan: VisitPlan, cart: dict[str, int], *, email_field: bool
    ) -> None:
        person = plan.person
        tab.open()  # checkout: clerk.js sends the email field (collect_email) as it is left
        if email_field:
            await tab.call("log/email", email=person.email)
        tab.open()  # the order page: its log/sale markup, and the emptied cart
        lines: list[dict[str, Any]] = [
            {"id": pid, "quantity": quantity, "price": self.catalogue.by_id[pid].price}
            for pid, quantity in cart.items()
        ]
        sale: dict[str, Any] = {
            "sale": f"SIM{self.run_tag}-{person.index}-{plan.number}",
            "products": lines,
        }
        if person.mode != "none":
            if person.email:
                sale["email"] = person.email
            if person.customer:
                sale["customer"] = person.customer
        answer = await tab.call("log/sale", **sale)
        if answer.get("recorded"):
            self.result.orders += 1
            self.result.revenue += sum(line["quantity"] * line["price"] for line in lines)
        person.orders += 1
        await tab.call("log/basket/set", products=[])


def _bisect(cum: list[float], value: float) -> int:
    return min(bisect.bisect_right(cum, value), len(cum) - 1)


def _log(value: float) -> float:
    return math.log(max(value, 1e-9))
