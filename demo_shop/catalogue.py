"""A deterministic, believable catalogue for the demo shop.

The products use the collector's product format, so the same list can be
imported into the collector and rendered by the shop. Product 7 carries
hostile markup in its name on purpose: every renderer must show it as text.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

# Creation dates are spread over the year before this instant (2026-11-01 UTC)
# so that the output never depends on the clock.
CATALOGUE_EPOCH = 1_793_491_200
HOSTILE_PRODUCT_ID = "7"
HOSTILE_NAME = "<img src=x onerror=alert(1)> Trail Mug"


@dataclass(frozen=True)
class Item:
    """A kind of product: its noun, the materials it comes in, a price band."""

    noun: str
    materials: tuple[str, ...]
    low: int
    high: int


@dataclass(frozen=True)
class Category:
    name: str
    slug: str
    blurb: str
    items: tuple[Item, ...] = ()
    # Each completes "<Material> <noun> with ...".
    features: tuple[str, ...] = ()
    # Coloured categories name the shade ("..., Moss"); the others draw a colour from
    # their own palette (plain colour names), which only the `colour` attribute carries.
    coloured: bool = False
    palette: tuple[str, ...] = ()


def _items(*rows: tuple[str, str, int, int]) -> tuple[Item, ...]:
    return tuple(Item(noun, tuple(m.split("/")), low, high) for noun, m, low, high in rows)


# Data tables read better dense.
# fmt: off
CATEGORIES: tuple[Category, ...] = (
    Category(
        "Jackets & Coats", "jackets", "Shells, parkas and layers for every forecast.",
        _items(
            ("Shell Jacket", "Recycled Nylon/Ripstop/Three-Layer", 149, 349),
            ("Down Parka", "Recycled Down/Hooded/Expedition", 199, 449),
            ("Rain Jacket", "Recycled Nylon/Packable/Waxed Cotton", 89, 229),
            ("Insulated Vest", "Synthetic/Down/Quilted", 79, 169),
            ("Anorak", "Waxed Cotton/Ripstop/Cotton Canvas", 99, 199),
            ("Fleece Jacket", "Recycled Fleece/Sherpa/Grid Fleece", 69, 139),
            ("Overcoat", "Wool/Melton Wool/Loden", 179, 399),
        ),
        ("taped seams and a hood that moves with you", "deep, fleece-lined hand pockets",
         "a water-repellent finish that holds up in sideways rain",
         "a cut that leaves room for a warm layer underneath"),
        coloured=True,
    ),
    Category(
        "Knitwear", "knitwear", "Merino and lambswool knits that get better with age.",
        _items(
            ("Crew Sweater", "Merino/Lambswool/Cotton/Cashmere Blend", 69, 189),
            ("Cardigan", "Merino/Lambswool/Alpaca Blend", 79, 199),
            ("Turtleneck", "Merino/Cashmere Blend/Ribbed Cotton", 69, 179),
            ("Half-Zip Pullover", "Merino/Lambswool/Recycled Wool", 79, 169),
            ("Fisherman Sweater", "Lambswool/Undyed Wool/Alpaca Blend", 99, 219),
        ),
        ("a relaxed fit and ribbed cuffs", "yarn spun and knitted in small batches",
         "a soft hand that does not itch", "reinforced elbows for years of wear"),
        coloured=True,
    ),
    Category(
        "Clothing", "clothing", "Shirts, tees and trousers for town and trail.",
        _items(
            ("Flannel Shirt", "Organic Cotton/Brushed Cotton/Wool Blend", 49, 119),
            ("Oxford Shirt", "Organic Cotton/Linen Blend", 49, 99),
            ("Henley", "Organic Cotton/Merino/Slub Cotton", 35, 79),
            ("Tee", "Organic Cotton/Merino/Hemp", 24, 59),
            ("Hiking Trousers", "Stretch Nylon/Ripstop/Softshell", 69, 139),
            ("Chinos", "Organic Cotton/Stretch Twill/Hemp", 59, 119),
            ("Trail Shorts", "Stretch Nylon/Ripstop/Hemp", 39, 79),
            ("Work Pants", "Stretch Canvas/Duck Canvas/Waxed Cotton", 69, 129),
        ),
        ("a gusseted cut that keeps up on the climb", "flat seams that sit well under a pack",
         "a garment-dyed finish that softens wash after wash",
         "fabric that dries quickly and has a touch of stretch"),
        coloured=True,
    ),
    Category(
        "Footwear", "footwear", "Boots and shoes broken in by our own team.",
        _items(
            ("Hiking Boots", "Leather/Nubuck/Waterproof", 139, 279),
            ("Trail Runners", "Recycled Mesh/Lightweight/Waterproof", 99, 179),
            ("Chelsea Boots", "Leather/Suede/Oiled Leather", 149, 259),
            ("Camp Slippers", "Felted Wool/Shearling/Quilted", 39, 89),
            ("Approach Shoes", "Suede/Leather/Recycled Mesh", 109, 179),
            ("Rain Boots", "Natural Rubber/Lined Rubber", 69, 139),
        ),
        ("a grippy outsole for wet rock", "a cushioned footbed you can stand on all day",
         "a gusseted tongue that keeps grit out", "a sole that our cobbler can replace"),
        palette=("Brown", "Brown", "Black", "Grey", "Green"),
    ),
    Category(
        "Bags & Packs", "bags", "Daypacks, duffels and totes that carry it all.",
        _items(
            ("Daypack", "Waxed Canvas/Recycled Nylon/Cordura", 69, 149),
            ("Rolltop Backpack", "Waxed Canvas/Sailcloth/Recycled Nylon", 89, 189),
            ("Duffel Bag", "Waxed Canvas/Cordura/Leather-Trimmed", 89, 229),
            ("Tote", "Waxed Canvas/Organic Cotton/Leather", 29, 139),
            ("Hip Pack", "Recycled Nylon/Cordura/Waxed Canvas", 34, 69),
            ("Dry Bag", "Recycled Nylon/Welded/Lightweight", 19, 49),
        ),
        ("comfortable straps that spread the load", "a quick-access pocket for the small stuff",
         "hardware built to be repaired, not replaced",
         "a water-resistant base for wet ground"),
        palette=("Green", "Black", "Brown", "Blue", "Grey", "Yellow"),
    ),
    Category(
        "Camping", "camping", "Tents, sleeping bags and lights for nights outside.",
        _items(
            ("Tent", "Two-Person/Ultralight/Four-Season", 229, 549),
            ("Sleeping Bag", "Down/Synthetic/Three-Season", 149, 399),
            ("Sleeping Pad", "Insulated/Self-Inflating/Foam", 49, 179),
            ("Hammock", "Ultralight/Ripstop/Cotton", 49, 119),
            ("Camp Chair", "Folding/Packable/Oak and Canvas", 59, 169),
            ("Headlamp", "Rechargeable/Compact/Red-Light", 24, 79),
            ("Lantern", "Rechargeable/Solar/Collapsible", 29, 89),
            ("Trekking Poles", "Carbon/Aluminium/Folding", 59, 159),
        ),
        ("a packed size smaller than a loaf of bread", "a build tested through a northern winter",
         "a weight you will not notice in your pack", "parts you can replace in the field"),
        palette=("Green", "Orange", "Grey", "Blue", "Red", "Yellow"),
    ),
    Category(
        "Camp Kitchen", "kitchen", "Mugs, cookware and flasks for coffee with a view.",
        _items(
            ("Trail Mug", "Enamel/Titanium/Stainless Steel", 12, 39),
            ("Enamel Plate", "Speckled/Two-Tone", 9, 24),
            ("Cook Set", "Titanium/Stainless Steel/Hard-Anodised", 39, 129),
            ("Water Bottle", "Stainless Steel/Insulated/Titanium", 19, 49),
            ("Coffee Press", "Stainless Steel/Insulated/Titanium", 29, 79),
            ("Cast Iron Skillet", "Pre-Seasoned/Campfire", 39, 99),
            ("Spork Set", "Titanium/Bamboo/Stainless Steel", 9, 24),
            ("Insulated Flask", "Stainless Steel/Vacuum", 29, 69),
        ),
        ("a build that shrugs off campfires and dishwashers",
         "a finish that only gets better with use", "a weight you will not notice in your pack",
         "a lifetime guarantee against dents and rust"),
        palette=("Grey", "White", "Blue", "Red", "Black", "Green"),
    ),
    Category(
        "Home & Cabin", "home", "Blankets, ceramics and small comforts for the cabin.",
        _items(
            ("Wool Blanket", "Lambswool/Merino/Undyed", 89, 199),
            ("Throw Pillow", "Linen/Wool/Woven Cotton", 34, 79),
            ("Candle", "Beeswax/Soy Wax/Pine-Scented", 14, 39),
            ("Linen Napkins", "Stonewashed/Washed", 24, 49),
            ("Ceramic Vase", "Stoneware/Glazed/Hand-Thrown", 29, 99),
            ("Doormat", "Coir/Rubber-Backed/Woven", 29, 69),
            ("Bath Towel", "Organic Cotton/Linen/Waffle Cotton", 24, 59),
            ("Cutting Board", "Oak/Walnut/End-Grain", 34, 119),
        ),
        ("a natural texture that warms a room", "a design simple enough to live with for decades",
         "materials that age beautifully instead of wearing out",
         "the care of a family workshop we have worked with for years"),
        palette=("White", "Beige", "Grey", "Green", "Brown", "Blue"),
    ),
    Category(
        "Accessories", "accessories", "Beanies, gloves, socks and the little things.",
        _items(
            ("Beanie", "Merino/Lambswool/Recycled Fleece", 24, 49),
            ("Scarf", "Lambswool/Merino/Cashmere Blend", 39, 119),
            ("Gloves", "Leather/Merino/Windproof", 29, 89),
            ("Cap", "Organic Cotton/Waxed Cotton/Wool", 24, 44),
            ("Belt", "Leather/Webbing/Bridle Leather", 29, 79),
            ("Hiking Socks", "Merino/Wool Blend/Cushioned", 14, 29),
        ),
        ("a snug fit that stays put in the wind", "a soft, breathable feel",
         "a size that slips into any pocket", "small details finished by hand"),
        coloured=True,
    ),
    Category("Gifts", "gifts", "Small things that make someone's weekend."),
)
GIFTS = CATEGORIES[-1]
PRIMARY_CATEGORIES = CATEGORIES[:-1]

MODELS = (
    "Ridgeline", "Alder", "Tundra", "Cascade", "Summit", "Northfield", "Harbor", "Birch",
    "Granite", "Aspen", "Moraine", "Fjord", "Solstice", "Ember", "Driftwood", "Highland",
    "Cirrus", "Larch", "Basalt", "Timberline",
)
BRANDS = (
    "Northbeam", "Fjellro", "Alder & Oak", "Cairn Supply", "Highmoor", "Tidewater",
    "Greyling", "Kestrel Works", "Hollow Pine", "Saltmarsh",
)
COLOURS = ("Moss", "Slate", "Rust", "Navy", "Oat", "Charcoal", "Forest", "Ochre", "Stone")
# The plain colour a shade is filed under: what the `colour` attribute (and its facet) says.
COLOUR_OF = {
    "Moss": "Green", "Forest": "Green", "Slate": "Grey", "Charcoal": "Grey", "Stone": "Beige",
    "Oat": "Beige", "Rust": "Red", "Navy": "Blue", "Ochre": "Yellow",
}
CLOSINGS = (
    "Designed in our studio and built to last for years.",
    "Backed by our free repair service.",
    "Made in small runs from traceable materials.",
    "Tested on three seasons of weekend trips.",
    "A favourite of our shop team.",
)
# fmt: on


def categories() -> list[dict[str, str]]:
    """Name, slug and blurb of every category, in navigation order."""
    return [{"name": c.name, "slug": c.slug, "blurb": c.blurb} for c in CATEGORIES]


def category_by_slug(slug: str) -> dict[str, str] | None:
    return next((c for c in categories() if c["slug"] == slug), None)


def _shop_price(value: float) -> float:
    """Round to a shop-looking price: mostly .95, sometimes whole."""
    whole = max(math.floor(value), 1)
    return float(whole) if whole % 10 == 0 else whole + 0.95


def _price(rng: random.Random, item: Item) -> tuple[float, float]:
    # Skewed towards the cheap end of the band, as in a real assortment.
    list_price = _shop_price(item.low + (item.high - item.low) * rng.random() ** 1.6)
    if rng.random() < 0.2:
        sale = _shop_price(list_price * rng.choice((0.7, 0.75, 0.8, 0.85)))
        if sale < list_price:
            return sale, list_price
    return list_price, list_price


def _stock(rng: random.Random, index: int) -> int:
    roll = rng.random()
    # Keep the first products (the home page's featured ones) in stock.
    if index > 12 and roll < 0.04:
        return 0
    return rng.randint(1, 8) if roll < 0.2 else rng.randint(9, 150)


def _product(rng: random.Random, index: int, shop_url: str, names: set[str]) -> dict:
    pid = str(index)
    if pid == HOSTILE_PRODUCT_ID:
        category = next(c for c in CATEGORIES if c.slug == "kitchen")
        item = category.items[0]
    else:
        category = rng.choice(PRIMARY_CATEGORIES)
        item = rng.choice(category.items)
    noun = item.noun
    material = rng.choice(item.materials)
    model = rng.choice(MODELS)
    # "Grid Fleece" + "Fleece Jacket" reads "Grid Fleece Jacket".
    overlap = material.split()[-1] == noun.split()[0]
    phrase = f"{material} {noun.split(' ', 1)[1]}" if overlap else f"{material} {noun}"
    name = f"{model} {phrase}" if rng.random() < 0.7 else f"{model} {noun}"
    shade = ""
    if category.coloured or name in names:
        shade = rng.choice(COLOURS)
        name = f"{name}, {shade}"
    if name in names:
        name = f"{name} ({index})"
    names.add(name)
    if pid == HOSTILE_PRODUCT_ID:
        name = HOSTILE_NAME
    price, list_price = _price(rng, item)
    cats = [category.name]
    if price < 60 and rng.random() < 0.25:
        cats.append(GIFTS.name)
    description = (
        f"{phrase.capitalize()} with {rng.choice(category.features)}. {rng.choice(CLOSINGS)}"
    )
    return {
        "id": pid,
        "name": name,
        "description": description,
        "price": price,
        "list_price": list_price,
        "image": f"{shop_url}/img/{pid}.svg",
        "url": f"{shop_url}/product/{pid}",
        "categories": cats,
        "brand": rng.choice(BRANDS),
        "created_at": CATALOGUE_EPOCH - rng.randint(0, 365 * 86_400),
        "stock": _stock(rng, index),
        "colour": COLOUR_OF[shade] if shade else _colour(category, index),
    }


def _colour(category: Category, index: int) -> str:
    """A colour from the category's palette, drawn apart from the catalogue's generator so
    that every other field stays as it was before products had colours."""
    return random.Random(f"colour-{index}").choice(category.palette)


def generate_catalogue(shop_url: str, n: int = 300, seed: int = 42) -> list[dict]:
    """Return ``n`` products; the same arguments always give the same list.

    Products are drawn one after another from one generator, so a smaller
    catalogue is a prefix of a larger one with the same seed.
    """
    rng = random.Random(seed)
    shop_url = shop_url.rstrip("/")
    names: set[str] = set()
    return [_product(rng, i, shop_url, names) for i in range(1, n + 1)]
