"""The model of shoppers: who they are, the catalogue as they see it, what they type, and
when they come (every visit planned from the seed before anything is sent)."""

from __future__ import annotations

import itertools
import random
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from .clock import DAY_MS, HOUR_MS

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
