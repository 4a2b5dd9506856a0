"""`clerk-collector simulate`: believable shop traffic, sent through the collector's own API.

Every event is a real request to the collector app, built with `create_app` and
called in process (`AsgiClient`: the ASGI scope, body and headers a browser's
fetch gives, the client's address in the scope), with its lifespan run, so
validation, the visitor modes, the group-commit writer, attribution and the
search log work exactly as they do for clerk.js in production. Only the clock
is simulated: `Services(settings, clock=SimulatedClock)` gives every request
the moment of its own simulated visit, over the D days before now.

The traffic, per visitor (a person with one device, sometimes two):

- mode: about half cookieless (`visitor: "auto"`; the collector derives the id
  from the simulated IP and User-Agent with the salt of the day, so the same
  shopper has a new id each day), a third persistent (a clerk.js cookie id
  that returns over several days), the rest `visitor: null` (nothing that
  identifies: no session, email or customer, as clerk.js sends them);
- visits: at most one a day, spread over the hours of the day (evenings busiest,
  weekends and recent days a little busier); each a walk over the demo shop's
  pages, with the calls its markup makes: home (visitor/history, visitor/
  complementary, popular), category (category/popular), product (log/product,
  complementary, substituting), the header's predictive search as the shopper
  types, the search page (search/search, popular), the cart (log/basket/set),
  checkout (log/email from the email field) and the order page (log/sale);
- products are viewed with a skewed popularity; queries use words of product
  names, some with a typo, some for things the shop does not sell;
- clicks on recommended products and search results are logged as clerk.js logs
  them (api, labels, 1-based position), and a clicked product is put in the
  basket much more often than one found by browsing, so that the dashboard
  shows sales through Clerk; some shoppers come back days later for a product
  they clicked, some buy twice, some on a second device with the same email.

Deterministic: the seed fixes the visitors, their visits, pages, queries and
baskets, and so every count. Which recommended product is clicked is taken from
the collector's answer, which can depend on the order in which concurrent
writes were committed (`concurrency=1` makes a run fully repeatable).
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import contextvars
import itertools
import json
import math
import random
import re
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, select

from .app import create_app
from .services import Services
from .settings import Settings
from .storage import Storage
from .storage.schema import products as products_table
from .storage.stores import Store, delete_expired_salts, store_by_public_key

HOUR_MS = 3_600_000
DAY_MS = 24 * HOUR_MS
MAX_VISITORS = 1_000_000
MAX_DAYS = 366
DEFAULT_CONCURRENCY = 16

# Widgets as the demo shop's templates declare them: (api, labels, limit).
HOME_WIDGETS = (
    ("recommendations/visitor/history", ("Home", "You previously saw"), 8),
    ("recommendations/visitor/complementary", ("Home", "Our recommendations for you"), 8),
    ("recommendations/popular", ("Home", "Bestsellers"), 8),
)
BOUGHT_TOGETHER = ("recommendations/complementary", ("Product page", "Bought together"), 4)
SIMILAR = ("recommendations/substituting", ("Product page", "Similar"), 4)
CATEGORY_BESTSELLERS = ("recommendations/category/popular", ("Category", "Bestsellers"), 4)
SEARCH_RESULTS = ("search/search", ("Search page",), 24)
SEARCH_BESTSELLERS = ("recommendations/popular", ("Search page", "Bestsellers"), 4)
HEADER_SEARCH = ("search/predictive", ("Header search",), 6)

# Visits by hour of the day (UTC), busiest in the evening.
HOURLY = (2, 1, 1, 1, 1, 2, 3, 5, 7, 8, 9, 9, 10, 10, 9, 9, 10, 11, 12, 14, 15, 13, 9, 5)
# How many visits (on different days) a visitor makes, by mode.
VISITS = {
    "auto": ((1, 2, 3), (60, 28, 12)),
    "persistent": ((1, 2, 3, 4, 5, 6), (34, 25, 18, 11, 7, 5)),
    "none": ((1, 2), (80, 20)),
}
# Queries for things the shop does not sell (they find nothing).
UNSOLD = (
    "snowboard",
    "iphone case",
    "perfume",
    "sunglasses",
    "swimsuit",
    "lego",
    "bike helmet",
    "phone charger",
    "yoga mat",
    "ski goggles",
    "umbrella",
    "watch strap",
)
USER_AGENTS = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/{v}.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/17.{m} Safari/605.1.15",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_{m} like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.{m} Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (Linux; Android 14; Pixel {m}) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/{v}.0.0.0 Mobile Safari/537.36",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:{f}.0) Gecko/20100101 Firefox/{f}.0",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/{v}.0.0.0 Safari/537.36 Edg/{v}.0.0.0",
    "Mozilla/5.0 (X11; Linux x86_64; rv:{f}.0) Gecko/20100101 Firefox/{f}.0",
)
FIRST_NAMES = (
    "anna", "ben", "clara", "david", "emma", "felix", "greta", "hugo", "ida", "jonas", "karen",
    "lars", "maria", "nils", "olivia", "paul", "rosa", "sam", "tara", "victor",
)  # fmt: skip
LAST_NAMES = (
    "andersen", "berg", "costa", "dahl", "evans", "fischer", "garcia", "holm", "jensen", "kahn",
    "larsen", "meyer", "nielsen", "olsen", "petersen", "quinn", "rossi", "schmidt", "wagner",
)  # fmt: skip
ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"

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


class SimulationError(Exception):
    """The simulation could not run, or the collector refused a request."""

    exit_code = 1


class BadArguments(SimulationError):
    """Arguments the simulation cannot run with; nothing has been written."""

    exit_code = 2


# ------------------------------------------------------------------ in-process ASGI


Message = dict[str, Any]


class AsgiClient:
    """Calls an ASGI app in this process: its lifespan, and HTTP requests (many at once)."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self._to_app: asyncio.Queue[Message] = asyncio.Queue()
        self._from_app: asyncio.Queue[Message] = asyncio.Queue()
        self._lifespan: asyncio.Task[None] | None = None

    async def startup(self) -> None:
        scope = {"type": "lifespan", "asgi": {"version": "3.0", "spec_version": "2.0"}, "state": {}}
        self._lifespan = asyncio.create_task(
            self.app(scope, self._to_app.get, self._from_app.put), name="lifespan"
        )
        await self._to_app.put({"type": "lifespan.startup"})
        answer = await self._lifespan_answer()
        if answer["type"] != "lifespan.startup.complete":
            task, self._lifespan = self._lifespan, None
            with contextlib.suppress(Exception):
                await task  # it failed, and said why in the answer
            raise SimulationError(f"the collector did not start: {answer.get('message', '')}")

    async def shutdown(self) -> None:
        if self._lifespan is None:
            return
        await self._to_app.put({"type": "lifespan.shutdown"})
        answer = await self._lifespan_answer()
        await self._lifespan
        self._lifespan = None
        if answer["type"] != "lifespan.shutdown.complete":
            raise SimulationError(f"the collector did not stop cleanly: {answer.get('message')}")

    async def _lifespan_answer(self) -> Message:
        assert self._lifespan is not None
        answer = asyncio.ensure_future(self._from_app.get())
        await asyncio.wait({answer, self._lifespan}, return_when=asyncio.FIRST_COMPLETED)
        if answer.done():
            return answer.result()
        answer.cancel()
        error = self._lifespan.exception()
        self._lifespan = None
        raise SimulationError(f"the collector's lifespan ended early: {error!r}") from error

    async def request(
        self,
        method: str,
        path: str,
        *,
        body: bytes = b"",
        headers: Sequence[tuple[str, str]] = (),
        client: tuple[str, int] = ("127.0.0.1", 50000),
    ) -> tuple[int, bytes]:
        """Send one request; answer its status and body."""
        raw_headers = [(b"host", b"collector.simulated")]
        raw_headers += [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in headers]
        raw_headers.append((b"content-length", str(len(body)).encode()))
        scope = {
            "type": "http",
            "asgi": {"version": "3.0", "spec_version": "2.4"},
            "http_version": "1.1",
            "method": method,
            "scheme": "http",
            "path": path,
            "raw_path": path.encode(),
            "query_string": b"",
            "root_path": "",
            "headers": raw_headers,
            "client": client,
            "server": ("collector.simulated", 80),
            "state": {},
        }
        received = False
        finished = asyncio.Event()
        status = 0
        chunks: list[bytes] = []

        async def receive() -> Message:
            nonlocal received
            if not received:
                received = True
                return {"type": "http.request", "body": body, "more_body": False}
            await finished.wait()
            return {"type": "http.disconnect"}

        async def send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            elif message["type"] == "http.response.body":
                chunks.append(message.get("body", b""))
                if not message.get("more_body", False):
                    finished.set()

        try:
            await self.app(scope, receive, send)
        except Exception as exc:
            # Starlette answers 500 and then re-raises for the server to log.
            raise SimulationError(
                f"{method} {path} failed in the collector (HTTP {status or 'none'}): {exc!r}"
            ) from exc
        finally:
            finished.set()
        return status, b"".join(chunks)


# ------------------------------------------------------------------ the simulated clock

_NOW: contextvars.ContextVar[float | None] = contextvars.ContextVar("simulated_now", default=None)


class SimulatedClock:
    """The collector's clock during a simulation.

    Visits run in worker tasks, each of which sets the time of its next request
    (`at`, a context variable), so concurrent visits each see their own moment;
    anything else (the salt janitor) sees `now`, moved forward day by day.
    """

    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        local = _NOW.get()
        return self.now if local is None else local

    @staticmethod
    def at(seconds: float) -> None:
        _NOW.set(seconds)


# ------------------------------------------------------------------ what is simulated


@dataclass(frozen=True)
class Product:
    id: str
    name: str
    price: float
    categories: tuple[str, ...]
    in_stock: bool


@dataclass(frozen=True)
class Device:
    ip: str
    port: int
    user_agent: str
    cookie: str | None  # the clerk_visitor cookie id (persistent mode)


@dataclass
class Person:
    index: int
    mode: str  # "auto" | "persistent" | "none"
    email: str | None
    customer: str | None
    devices: list[Device]
    # Products this person clicked in a widget or search result, in order.
    clicked: list[str] = field(default_factory=list)
    orders: int = 0


@dataclass(frozen=True)
class VisitPlan:
    person: Person
    number: int  # the person's n-th visit, from 0
    device: int
    start_ms: int
    end_ms: int  # nothing of the visit happens at or after this


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


@dataclass
class Result:
    """What a simulation sent and what the collector recorded."""

    visitors: int = 0
    modes: dict[str, int] = field(default_factory=dict)
    visits: int = 0
    requests: int = 0
    events: int = 0  # rows of `events`: views, clicks, basket changes, widget renders
    views: int = 0
    clicks: int = 0
    searches: int = 0
    orders: int = 0
    revenue: float = 0.0
    emails: int = 0  # log/email calls
    days: int = 0
    seed: int = 0
    start_ms: int = 0
    end_ms: int = 0
    elapsed: float = 0.0

    @property
    def requests_per_second(self) -> float:
        return self.requests / self.elapsed if self.elapsed > 0 else 0.0

    def summary(self) -> str:
        names = {"auto": "cookieless", "persistent": "persistent", "none": "null"}
        modes = ", ".join(f"{self.modes.get(mode, 0)} {name}" for mode, name in names.items())
        return (
            f"simulated {self.visitors} visitors ({modes}) in {self.visits} visits over "
            f"{self.days} days (seed {self.seed}): {self.requests} requests, {self.events} events "
            f"({self.views} views, {self.clicks} clicks), {self.searches} searches, "
            f"{self.orders} orders ({self.revenue:,.2f} revenue) "
            f"in {self.elapsed:.1f} s ({self.requests_per_second:,.0f} requests/s)"
        )


# ------------------------------------------------------------------ choosing with fixed draws
# Choices that depend on the collector's answers use exactly one draw each, so a
# different answer can never shift the rest of a seed's plan.


def pick(rng: random.Random, items: Sequence[Any]) -> Any:
    return items[min(int(rng.random() * len(items)), len(items) - 1)]


def position(rng: random.Random, count: int) -> int:
    """A 0-based position in a list shown to the shopper: the top is clicked most."""
    return min(int(count * rng.random() ** 1.8), count - 1)


def rid(rng: random.Random, length: int = 22) -> str:
    """A random id as clerk.js makes them (cookie and session ids)."""
    return "".join(ALPHABET[int(rng.random() * 64)] for _ in range(length))


class Catalogue:
    """The store's products, with a skewed popularity (a few sell a lot)."""

    def __init__(self, items: list[Product], rng: random.Random) -> None:
        order = list(items)
        rng.shuffle(order)
        weights = [1.0 / (rank + 3) for rank in range(len(order))]
        self.items = order
        self.cum = list(itertools.accumulate(weights))
        self.by_id = {p.id: p for p in order}
        members: dict[str, list[tuple[Product, float]]] = {}
        for product, weight in zip(order, weights, strict=True):
            for category in product.categories:
                members.setdefault(category, []).append((product, weight))
        self.categories = sorted(members)
        self.members = {c: [p for p, _ in m] for c, m in members.items()}
        self.members_cum = {
            c: list(itertools.accumulate(w for _, w in m)) for c, m in members.items()
        }
        category_weight = [self.members_cum[c][-1] for c in self.categories]
        self.categories_cum = list(itertools.accumulate(category_weight))
        self.vocabulary = {p.id: _words(p.name) for p in order}

    def popular(self, rng: random.Random) -> Product:
        chosen: Product = rng.choices(self.items, cum_weights=self.cum)[0]
        return chosen

    def category(self, rng: random.Random) -> str:
        chosen: str = rng.choices(self.categories, cum_weights=self.categories_cum)[0]
        return chosen


def _words(name: str) -> list[str]:
    """Words a shopper would type for a product: letters only, markup left out."""
    text = re.sub(r"<[^>]*>", " ", name)
    return [w for w in re.findall(r"[A-Za-z]{3,}", text) if w.lower() not in {"and", "with"}]


def typo(rng: random.Random, word: str) -> str:
    """One slip of the finger: a letter dropped, doubled or two swapped (never the first)."""
    if len(word) < 5:
        return word
    at = 1 + int(rng.random() * (len(word) - 2))
    kind = rng.random()
    if kind < 0.4:
        return word[:at] + word[at + 1 :]
    if kind < 0.7:
        return word[:at] + word[at] + word[at:]
    return word[:at] + word[at + 1] + word[at] + word[at + 2 :]


def query_for(rng: random.Random, catalogue: Catalogue) -> str:
    kind, case = rng.random(), rng.random()
    product = catalogue.popular(rng)
    words = catalogue.vocabulary[product.id] or [product.name]
    at = rng.random()
    query: str
    if kind < 0.12:
        query = pick(rng, UNSOLD)
    elif kind < 0.24:
        long_words = [w for w in words if len(w) >= 5] or words
        query = typo(rng, pick(rng, long_words))
    elif kind < 0.62:
        query = pick(rng, words)
    else:
        start = min(int(at * len(words)), max(len(words) - 2, 0))
        query = " ".join(words[start : start + 2])
    return query.lower() if case < 0.85 else query


# ------------------------------------------------------------------ planning


def hour_slots(days: int, now_ms: int) -> tuple[list[int], list[float]]:
    """Starts of the whole UTC hours of the `days` days before now, and their weights."""
    end = now_ms // HOUR_MS * HOUR_MS
    starts = [end - days * DAY_MS + k * HOUR_MS for k in range(days * 24)]
    weights = []
    for k, start in enumerate(starts):
        moment = datetime.fromtimestamp(start / 1000, UTC)
        weekend = 1.15 if moment.weekday() >= 5 else 1.0
        growth = 1.0 + 0.3 * k / len(starts)
        weights.append(HOURLY[moment.hour] * weekend * growth)
    return starts, list(itertools.accumulate(weights))


def new_device(rng: random.Random, *, persistent: bool) -> Device:
    agent = rng.choice(USER_AGENTS).format(
        v=rng.randint(120, 131), m=rng.randint(1, 8), f=rng.randint(120, 132)
    )
    ip = f"10.{rng.randint(0, 255)}.{rng.randint(0, 255)}.{rng.randint(1, 254)}"
    return Device(ip, rng.randint(32768, 60999), agent, rid(rng) if persistent else None)


def plan_people(
    rng: random.Random, visitors: int, days: int, now_ms: int
) -> tuple[list[Person], list[VisitPlan]]:
    starts, cum = hour_slots(days, now_ms)
    people: list[Person] = []
    plans: list[VisitPlan] = []
    for index in range(visitors):
        roll = rng.random()
        mode = "auto" if roll < 0.5 else "persistent" if roll < 0.85 else "none"
        email = customer = None
        if mode != "none" and rng.random() < (0.75 if mode == "persistent" else 0.6):
            first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
            email = f"{first}.{last}{index + 1}@example.{rng.choice(('com', 'org', 'net'))}"
            if mode == "persistent" and rng.random() < 0.5:
                customer = f"C{100000 + index}"
        person = Person(
            index, mode, email, customer, [new_device(rng, persistent=mode == "persistent")]
        )
        counts, weights = VISITS[mode]
        wanted = min(rng.choices(counts, weights)[0], days)
        chosen: dict[int, int] = {}  # day -> slot start
        for _ in range(wanted * 8):
            if len(chosen) == wanted:
                break
            slot = rng.choices(starts, cum_weights=cum)[0]
            chosen.setdefault(slot // DAY_MS, slot)
        second_device = email is not None and len(chosen) >= 2 and rng.random() < 0.2
        if second_device:
            person.devices.append(new_device(rng, persistent=mode == "persistent"))
        for number, slot in enumerate(sorted(chosen.values())):
            device = 1 if second_device and number == len(chosen) - 1 else 0
            start = slot + int(rng.random() * 35 * 60_000)
            plans.append(VisitPlan(person, number, device, start, slot + HOUR_MS))
        people.append(person)
    plans.sort(key=lambda plan: (plan.start_ms, plan.person.index))
    return people, plans


# ------------------------------------------------------------------ one browser tab


class Tab:
    """A shopper's browser tab during one visit: its clock, session and clerk.js's calls."""

    def __init__(self, sim: Simulation, plan: VisitPlan, timing: random.Random) -> None:
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

    async def widget(self, spec: tuple[str, tuple[str, ...], int], **args: Any) -> Shown:
        api, labels, limit = spec
        answer = await self.call(api, limit=limit, labels=list(labels), **args)
        return Shown(api, labels, [str(pid) for pid in answer.get("result", [])])

    async def click(self, shown: Shown, n: int) -> str:
        product = shown.ids[n]
        await self.call(
            "log/click", product=product, api=shown.api, labels=list(shown.labels), n=n + 1
        )
        self.person.clicked.append(product)
        return product


# ------------------------------------------------------------------ the simulation


class Simulation:
    def __init__(
        self,
        settings: Settings,
        *,
        store: Store,
        products: list[Product],
        visitors: int,
        days: int,
        seed: int,
        now: float,
        concurrency: int,
        progress: Callable[[str], None] | None,
    ) -> None:
        # The simulation is the operator's own traffic, thousands of requests a second
        # from a few simulated addresses: rate limits would only cut it short.
        self.settings = replace(settings, rate_limit_client="0", rate_limit_store="0")
        self.store = store
        self.seed = seed
        self.days = days
        self.concurrency = concurrency
        self.progress = progress
        self.now_ms = int(now * 1000)
        rng = random.Random(f"{seed}/people")
        self.catalogue = Catalogue(products, rng)
        self.people, self.plans = plan_people(rng, visitors, days, self.now_ms)
        self.start_ms = self.now_ms // HOUR_MS * HOUR_MS - days * DAY_MS
        # Sale ids: unique per run (a later run's orders are new orders), fixed by the clock.
        self.run_tag = f"{self.now_ms // 1000:x}"
        # Where clerk.js runs: the shop's origin, as the browser sends it. A store without
        # a list serves personal calls to no page (collector/origins.py), so there the
        # simulated browser sends no Origin, as a same-origin or server call, and the
        # personal widgets still get their traffic.
        self.origin = store.origins[0] if store.origins else None
        self.clock = SimulatedClock(self.start_ms / 1000)
        self.result = Result(
            visitors=visitors,
            days=days,
            seed=seed,
            start_ms=self.start_ms,
            end_ms=self.now_ms // HOUR_MS * HOUR_MS,
        )
        for person in self.people:
            self.result.modes[person.mode] = self.result.modes.get(person.mode, 0) + 1
        self.client: AsgiClient | None = None

    async def send(
        self, api: str, payload: dict[str, Any], device: Device, at_ms: int
    ) -> dict[str, Any]:
        assert self.client is not None
        SimulatedClock.at(at_ms / 1000)
        headers = [
            ("content-type", "text/plain;charset=UTF-8"),
            ("user-agent", device.user_agent),
            ("accept", "*/*"),
        ]
        if self.origin:
            headers.append(("origin", self.origin))
        status, body = await self.client.request(
            "POST",
            f"/v2/{api}",
            body=json.dumps(payload, separators=(",", ":")).encode(),
            headers=headers,
            client=(device.ip, device.port),
        )
        self.result.requests += 1
        try:
            answer = json.loads(body)
        except ValueError:
            answer = None
        if not 200 <= status < 300 or not isinstance(answer, dict) or answer.get("status") != "ok":
            shown = body[:300].decode("utf-8", "replace")
            raise SimulationError(f"POST /v2/{api} answered HTTP {status}: {shown}")
        self._count(api)
        return answer

    def _count(self, api: str) -> None:
        result = self.result
        if api.startswith(("recommendations/", "search/")):
            result.events += 1  # the render
            result.searches += api.startswith("search/")
        elif api in ("log/product", "log/click") or api.startswith("log/basket/"):
            result.events += 1
            result.views += api == "log/product"
            result.clicks += api == "log/click"
        elif api == "log/email":
            result.emails += 1

    # ---------------------------------------------------------------- pages

    async def home(self, tab: Tab) -> Page:
        tab.open()
        return Page("home", [await tab.widget(spec) for spec in HOME_WIDGETS])

    async def category_page(self, tab: Tab, category: str) -> Page:
        tab.open()
        shown = await tab.widget(CATEGORY_BESTSELLERS, category=category)
        return Page("category", [shown], category=category)

    async def product_page(self, tab: Tab, product_id: str, *, via_click: bool = False) -> Page:
        tab.open()
        await tab.call("log/product", product=product_id)
        shown = [
            await tab.widget(BOUGHT_TOGETHER, products=[product_id]),
            await tab.widget(SIMILAR, products=[product_id]),
        ]
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

    # ---------------------------------------------------------------- running

    async def run(self) -> Result:
        started = time.monotonic()
        services = Services(self.settings, clock=self.clock)
        self.client = AsgiClient(create_app(self.settings, services=services))
        try:
            await self.client.startup()
            for day, plans in _by_day(self.plans):
                self.clock.now = plans[0].start_ms / 1000
                await self._run_day(plans)
                result = self.result
                result.visits += len(plans)
                if self.progress:
                    date = datetime.fromtimestamp(day * DAY_MS / 1000, UTC).date().isoformat()
                    self.progress(
                        f"{date}: {len(plans)} visits (so far {result.visits} of "
                        f"{len(self.plans)} visits, {result.requests} requests, "
                        f"{result.orders} orders)"
                    )
            self.clock.now = self.now_ms / 1000
        finally:
            try:
                await self.client.shutdown()
            finally:
                self.result.elapsed = time.monotonic() - started
                storage = services.storage
                if self.result.requests:
                    # The last simulated day's salt may be over by now: destroy it at once.
                    storage.run(delete_expired_salts, now=int(time.time() * 1000))
                    _invalidate_rollups(storage, self.store.id, self.start_ms, self.result.end_ms)
                storage.dispose()
        return self.result

    async def _run_day(self, plans: list[VisitPlan]) -> None:
        """The day's visits, `concurrency` at a time, in order of their start."""
        queue = iter(plans)

        async def worker() -> None:
            for plan in queue:
                await self.visit(plan)

        try:
            async with asyncio.TaskGroup() as group:
                for _ in range(min(self.concurrency, len(plans))):
                    group.create_task(worker())
        except ExceptionGroup as failed:
            first = failed.exceptions[0]
            while isinstance(first, ExceptionGroup):
                first = first.exceptions[0]
            raise first from None


def _by_day(plans: list[VisitPlan]) -> Iterator[tuple[int, list[VisitPlan]]]:
    # Salt periods are whole days (UTC), so no day's visits straddle two periods.
    for day, group in itertools.groupby(plans, key=lambda plan: plan.start_ms // DAY_MS):
        yield day, list(group)


def _bisect(cum: list[float], value: float) -> int:
    return min(bisect.bisect_right(cum, value), len(cum) - 1)


def _log(value: float) -> float:
    return math.log(max(value, 1e-9))


def _invalidate_rollups(storage: Storage, store_id: int, start_ms: int, end_ms: int) -> None:
    """The dashboard's daily roll-ups of the simulated days are stale now: events were
    written into the past."""
    from .storage.rollups import invalidate_rollups

    storage.run(invalidate_rollups, store_id=store_id, start_ms=start_ms, end_ms=end_ms)


# ------------------------------------------------------------------ entry point


def _products(conn: Connection, *, store_id: int) -> list[Product]:
    p = products_table
    rows = conn.execute(
        select(p.c.id, p.c.name, p.c.price, p.c.categories, p.c.stock, p.c.url)
        .where(p.c.store_id == store_id)
        .order_by(p.c.id)
    )
    return [
        Product(
            str(row.id),
            str(row.name),
            float(row.price),
            tuple(json.loads(row.categories) or ()),
            row.stock is None or row.stock > 0,
        )
        for row in rows
    ]


def simulate(
    settings: Settings,
    *,
    store_key: str,
    visitors: int,
    days: int,
    seed: int = 1,
    concurrency: int = DEFAULT_CONCURRENCY,
    now: float | None = None,
    progress: Callable[[str], None] | None = None,
) -> Result:
    """Send `visitors` shoppers' visits over the `days` days before `now` to the collector.

    Raises BadArguments (nothing written) for arguments it cannot run with, and
    SimulationError when the collector refuses a request.
    """
    if not 1 <= visitors <= MAX_VISITORS:
        raise BadArguments(f"--visitors must be from 1 to {MAX_VISITORS}, not {visitors}")
    if not 1 <= days <= MAX_DAYS:
        raise BadArguments(f"--days must be from 1 to {MAX_DAYS}, not {days}")
    if not 1 <= concurrency <= 256:
        raise BadArguments(f"--concurrency must be from 1 to 256, not {concurrency}")
    storage = Storage(settings.database_url)
    try:
        storage.migrate()
        store = storage.run(store_by_public_key, public_key=store_key)
        if store is None:
            raise BadArguments(f"--store: no store has the public key {store_key!r}")
        items = storage.run(_products, store_id=store.id)
    finally:
        storage.dispose()
    if not items:
        raise BadArguments(f"--store: the store {store.name!r} has no products; import some first")
    if not any(p.in_stock for p in items):
        raise BadArguments(f"--store: every product of {store.name!r} is out of stock")
    simulation = Simulation(
        settings,
        store=store,
        products=items,
        visitors=visitors,
        days=days,
        seed=seed,
        now=time.time() if now is None else now,
        concurrency=concurrency,
        progress=progress,
    )
    return asyncio.run(simulation.run())
