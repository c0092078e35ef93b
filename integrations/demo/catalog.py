"""Northwind Goods' catalog: products, variants and suppliers, generated deterministically from a seed."""

from __future__ import annotations

import random
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from integrations.base import ProductRecord, SupplierRecord, VariantRecord

VENDOR = "Northwind Goods"
STORE_URL = "https://demo.backsoon.localhost"
SIZES = ("XS", "S", "M", "L", "XL")
# Middle sizes sell best; the tails are where apparel runs out or sits on the shelf.
_SIZE_WEIGHTS = (0.55, 0.9, 1.25, 1.1, 0.7)
_COLOUR_WEIGHTS = (1.0, 0.75, 0.55, 0.45)

SUPPLIERS: tuple[SupplierRecord, ...] = (
    SupplierRecord("Nordic Wool Co.", 35, "orders@nordic-wool.example.com"),
    SupplierRecord("Baltic Cotton Mills", 21, "sales@baltic-cotton.example.com"),
    SupplierRecord("Atelier Lin", 14, "atelier@lin.example.com"),
    SupplierRecord("Porto Ceramica", 45, "export@porto-ceramica.example.com"),
    SupplierRecord("Van Dijk Home Goods", 7, "inkoop@vandijk-home.example.com"),
)
LEAD_TIMES = {s.name: s.lead_time_days for s in SUPPLIERS}

# Trend classes: exp(slope * (t - 0.5)) over the history, t in [0, 1].
TREND_SLOPES = (-1.2, -0.5, 0.0, 0.6, 1.3)
_TREND_WEIGHTS = (0.1, 0.2, 0.4, 0.2, 0.1)
SPIKE_CLASS = len(TREND_SLOPES)
FLAT_CLASS = 2

# How the merchant restocks a product.
PLANNED, REACTIVE, DISCONTINUED, OVERSTOCKED = 0, 1, 2, 3
_POLICY_WEIGHTS = (0.63, 0.14, 0.08, 0.15)

# Fixed positions keep special products present at every scale, in proportion to the catalog.
GIFT_CARD_AT = 1
DRAFT_AT = 3
_SPIKE_EVERY, _SPIKE_AT = 1500, (11, 23)
_PREORDER_EVERY, _PREORDER_AT = 60, 17
_DIGITAL_EVERY, _DIGITAL_AT = 97, 41
_GIFT_CARD_AMOUNTS = (25, 50, 100, 150)

_KNIT = ("Oat", "Charcoal", "Forest", "Rust", "Navy", "Cream")
_COTTON = ("White", "Black", "Sage", "Sand", "Navy", "Clay")
_LINEN = ("Natural", "Olive", "Chambray", "Terracotta", "White")
_GLAZE = ("Speckled White", "Sea Green", "Clay", "Midnight", "Sand")
_HOME = ("Natural", "Charcoal", "Ochre", "Moss")

_PREFIXES = (
    "Harbour", "Fjord", "Dune", "Meadow", "Alder", "Birch", "Cove", "Heath", "Juniper", "Linden",
    "Moss", "Pebble", "Quay", "Rowan", "Saltmarsh", "Tide", "Willow", "Ember", "Fern", "Granite",
    "Haven", "Isle", "Kelp", "Larch", "Marram", "North", "Orchard", "Pine", "Rye", "Skerry",
    "Thistle", "Umber", "Vale", "Wren", "Yarrow", "Zephyr", "Bramble", "Cairn", "Drift", "Estuary",
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class _Template:
    name: str
    product_type: str
    collections: tuple[str, ...]
    supplier: str
    low: int
    high: int
    shape: str  # sized_coloured | sized | coloured | single
    palette: tuple[str, ...] = ()
    weight: float = 1.0
    blurb: str = ""


_WOOL, _COTTON_MILL, _LIN, _PORTO, _VAN_DIJK = (s.name for s in SUPPLIERS)
_TEMPLATES: tuple[_Template, ...] = (
    _Template("Merino Crew Sweater", "Sweater", ("knitwear",), _WOOL, 89, 129, "sized_coloured", _KNIT, 1.0,
              "Fine-gauge merino, knitted in Portugal."),
    _Template("Cable Knit Cardigan", "Cardigan", ("knitwear",), _WOOL, 119, 169, "sized_coloured", _KNIT, 0.8,
              "A heavy cable cardigan with horn buttons."),
    _Template("Chunky Roll-neck", "Sweater", ("knitwear",), _WOOL, 129, 189, "sized", _KNIT, 0.7,
              "Hand-finished chunky wool for cold days."),
    _Template("Ribbed Beanie", "Hat", ("knitwear", "gifts"), _WOOL, 29, 39, "coloured", _KNIT, 1.0,
              "Soft ribbed lambswool, one size."),
    _Template("Alpaca Scarf", "Scarf", ("knitwear", "gifts"), _WOOL, 59, 79, "coloured", _KNIT, 0.8,
              "Brushed alpaca, long enough to wrap twice."),
    _Template("Wool Socks", "Socks", ("knitwear",), _WOOL, 14, 19, "single", (), 1.5,
              "Cushioned wool socks, two pairs."),
    _Template("Organic Cotton Tee", "T-shirt", ("tees", "summer"), _COTTON_MILL, 24, 35, "sized_coloured", _COTTON,
              1.2, "Midweight organic cotton jersey."),
    _Template("Heavyweight Pocket Tee", "T-shirt", ("tees",), _COTTON_MILL, 35, 45, "sized_coloured", _COTTON, 0.8,
              "Boxy heavyweight tee with a chest pocket."),
    _Template("Breton Stripe Top", "Top", ("tees", "summer"), _COTTON_MILL, 45, 59, "sized", (), 0.8,
              "The classic striped sailor top."),
    _Template("Hooded Sweatshirt", "Sweatshirt", ("tees",), _COTTON_MILL, 69, 89, "sized_coloured", _COTTON, 0.7,
              "Loopback cotton hoodie."),
    _Template("Canvas Tote Bag", "Bag", ("gifts",), _COTTON_MILL, 19, 25, "single", (), 1.7,
              "Heavy canvas tote with a long strap."),
    _Template("Linen Shirt", "Shirt", ("summer", "linen"), _LIN, 69, 95, "sized_coloured", _LINEN, 0.9,
              "Washed European linen, relaxed fit."),
    _Template("Linen Shorts", "Shorts", ("summer", "linen"), _LIN, 49, 65, "sized", (), 0.8,
              "Drawstring linen shorts."),
    _Template("Linen Summer Dress", "Dress", ("summer", "linen"), _LIN, 89, 129, "sized", (), 0.7,
              "A loose linen dress with pockets."),
    _Template("Wide-brim Sun Hat", "Hat", ("summer",), _LIN, 35, 49, "coloured", _LINEN, 0.7,
              "Packable straw-effect sun hat."),
    _Template("Linen Tea Towel", "Tea towel", ("kitchen", "linen"), _LIN, 12, 16, "coloured", _LINEN, 1.3,
              "Absorbent stone-washed linen."),
    _Template("Linen Cushion Cover", "Cushion", ("living", "linen"), _LIN, 29, 39, "coloured", _LINEN, 1.0,
              "Envelope-back cushion cover, 50 x 50 cm."),
    _Template("Linen Napkins", "Napkins", ("kitchen", "linen"), _LIN, 24, 32, "coloured", _LINEN, 0.9,
              "Set of four washed linen napkins."),
    _Template("Stoneware Mug", "Mug", ("kitchen",), _PORTO, 14, 22, "coloured", _GLAZE, 1.5,
              "Reactive-glaze stoneware, 350 ml."),
    _Template("Stoneware Dinner Plate", "Plate", ("kitchen",), _PORTO, 18, 26, "coloured", _GLAZE, 1.1,
              "Dishwasher-safe stoneware plate."),
    _Template("Pasta Bowl", "Bowl", ("kitchen",), _PORTO, 16, 22, "coloured", _GLAZE, 1.0,
              "Wide, shallow stoneware bowl."),
    _Template("Serving Bowl", "Bowl", ("kitchen",), _PORTO, 32, 48, "single", (), 1.9,
              "A large hand-thrown serving bowl."),
    _Template("Ceramic Teapot", "Teapot", ("kitchen", "gifts"), _PORTO, 49, 69, "coloured", _GLAZE, 0.6,
              "One-litre teapot with a steel infuser."),
    _Template("Olive Oil Cruet", "Cruet", ("kitchen",), _PORTO, 26, 34, "single", (), 1.9,
              "Drip-free stoneware cruet."),
    _Template("Oak Chopping Board", "Board", ("kitchen",), _VAN_DIJK, 39, 59, "single", (), 2.3,
              "Solid oak, oiled by hand."),
    _Template("Enamel Pan", "Pan", ("kitchen",), _VAN_DIJK, 35, 49, "single", (), 1.9,
              "Enamelled steel pan for every hob."),
    _Template("Glass Carafe", "Carafe", ("kitchen",), _VAN_DIJK, 24, 32, "single", (), 2.1,
              "Mouth-blown glass carafe, one litre."),
    _Template("Wool Throw", "Throw", ("living", "knitwear"), _WOOL, 99, 149, "coloured", _HOME, 0.8,
              "A heavy woven wool throw, 130 x 180 cm."),
    _Template("Rattan Basket", "Basket", ("living",), _VAN_DIJK, 29, 45, "single", (), 2.3,
              "Hand-woven rattan storage basket."),
    _Template("Soy Candle", "Candle", ("living", "gifts"), _VAN_DIJK, 18, 28, "single", (), 2.7,
              "Hand-poured soy wax, 40 hours."),
    _Template("Brass Candle Holder", "Candle holder", ("living", "gifts"), _VAN_DIJK, 22, 34, "single", (), 2.1,
              "Solid brass, made to last."),
    _Template("Wall Hook Set", "Hooks", ("living",), _VAN_DIJK, 15, 19, "single", (), 2.1,
              "Three oak wall hooks."),
)  # fmt: skip
_TEMPLATE_WEIGHTS = tuple(t.weight for t in _TEMPLATES)
_SPIKE_TEMPLATES = tuple(i for i, t in enumerate(_TEMPLATES) if t.shape == "sized_coloured")


@dataclass(frozen=True, slots=True)
class ProductPlan:
    """A product's record plus what the simulation needs to know about it."""

    record: ProductRecord
    weights: tuple[float, ...]
    trend: int
    policy: int
    lead_time: int


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def _code(value: str) -> str:
    return value if value in SIZES else re.sub(r"[^A-Z0-9]", "", value.upper())[:3]


def _price(rng: random.Random, low: int, high: int) -> Decimal:
    euros = rng.randint(low, high)
    # Shops price at round figures or just under them.
    if euros > low and rng.random() < 0.4:
        return Decimal(euros) - Decimal("0.05")
    return Decimal(f"{euros}.00")


def iter_catalog(seed: int, variants: int, epoch: datetime) -> Iterator[ProductPlan]:
    """Yield products until exactly `variants` variants exist; the same seed yields the same catalog."""
    rng = random.Random(f"northwind:{seed}:catalog")
    remaining = variants
    index = 0
    pending_spikes = 0
    variant_no = 0
    while remaining > 0:
        index += 1
        if index % _SPIKE_EVERY in _SPIKE_AT:
            pending_spikes += 1
        special = ""
        if index == GIFT_CARD_AT:
            special = "gift_card"
        elif index == DRAFT_AT:
            special = "draft"
        elif pending_spikes:
            special = "spike"
            pending_spikes -= 1
        elif index % _PREORDER_EVERY == _PREORDER_AT:
            special = "preorder"
        elif index % _DIGITAL_EVERY == _DIGITAL_AT:
            special = "digital"
        template = rng.choices(_TEMPLATES, weights=_TEMPLATE_WEIGHTS)[0]
        if special == "spike":
            # What goes viral is a sized piece of clothing people already liked.
            template = _TEMPLATES[rng.choice(_SPIKE_TEMPLATES)]
        prefix = rng.choice(_PREFIXES)
        popularity = rng.lognormvariate(0.0, 1.1)
        trend = rng.choices(range(len(TREND_SLOPES)), weights=_TREND_WEIGHTS)[0]
        policy = rng.choices(range(4), weights=_POLICY_WEIGHTS)[0]
        n_colours = rng.randint(2, 4)
        price = _price(rng, template.low, template.high)
        age_days = rng.randint(1, 400)
        on_sale = rng.random() < 0.08
        updated_at = epoch - timedelta(days=age_days, seconds=rng.randrange(86400))

        title = f"{prefix} {template.name}"
        product_type = template.product_type
        collections = template.collections + (("sale",) if on_sale else ())
        description = template.blurb
        supplier: str | None = template.supplier
        tags: tuple[str, ...] = (product_type.lower(),)
        status, published, tracked, inventory_policy = "active", True, True, "deny"
        options: list[dict[str, str]]
        weights: list[float]
        prices: list[Decimal]
        if special == "gift_card":
            title, product_type, description = "Northwind Gift Card", "Gift card", "A digital gift card, sent by email."
            collections, supplier, tags, tracked = ("gifts",), None, ("gift-card", "digital"), False
            options = [{"Amount": f"€{a}"} for a in _GIFT_CARD_AMOUNTS]
            prices = [Decimal(a) for a in _GIFT_CARD_AMOUNTS]
            weights = [popularity * w for w in (0.8, 1.0, 0.6, 0.3)]
            policy, trend = PLANNED, FLAT_CLASS
        elif special == "digital":
            title, product_type = f"{prefix} Knitting Pattern (PDF)", "Digital pattern"
            description = "A downloadable knitting pattern with charts."
            collections, supplier, tags, tracked = ("knitwear", "gifts"), None, ("pattern", "digital"), False
            options, prices, weights = [{}], [Decimal("12.00")], [popularity]
        else:
            options, weights = _variant_options(template, n_colours, popularity, rng)
            prices = [price] * len(options)
            if special == "draft":
                status, published = "draft", False
                tags = (*tags, "coming-soon")
                collections = ("new-arrivals",)
                weights = [0.0] * len(options)
                policy = DISCONTINUED
            elif special == "preorder":
                inventory_policy = "continue"
                tags = (*tags, "pre-order")
                policy = PLANNED
            elif special == "spike":
                weights = [max(w, 1.0) * 3 for w in weights]
                trend, policy = SPIKE_CLASS, PLANNED
        options = options[:remaining]
        remaining -= len(options)
        handle = f"{_slug(title)}-{index}"
        variant_records = []
        for pos, opts in enumerate(options):
            variant_no += 1
            values = list(opts.values())
            sku = "-".join([f"NW{index:05d}", *(_code(v) for v in values)])
            variant_records.append(
                VariantRecord(
                    external_id=f"demo-v-{variant_no}",
                    sku=sku,
                    title=" / ".join(values) if values else "Default Title",
                    options=opts,
                    price=prices[pos],
                    tracked=tracked,
                    inventory_policy=inventory_policy,
                    published=published,
                    position=pos + 1,
                    inventory_item_id=f"demo-ii-{variant_no}",
                    updated_at=updated_at,
                )
            )
        record = ProductRecord(
            external_id=f"demo-p-{index}",
            title=title,
            handle=handle,
            description=description,
            vendor=VENDOR,
            product_type=product_type,
            kind="variable" if len(variant_records) > 1 else "simple",
            url=f"{STORE_URL}/products/{handle}",
            status=status,
            published=published,
            collections=collections,
            tags=tags,
            supplier=supplier,
            updated_at=updated_at,
            variants=tuple(variant_records),
        )
        lead = LEAD_TIMES[supplier] if supplier else 0
        yield ProductPlan(record, tuple(weights[: len(variant_records)]), trend, policy, lead)


def _variant_options(
    template: _Template, n_colours: int, popularity: float, rng: random.Random
) -> tuple[list[dict[str, str]], list[float]]:
    options: list[dict[str, str]] = []
    weights: list[float] = []
    colours = rng.sample(template.palette, min(n_colours, len(template.palette))) if template.palette else []
    if template.shape == "sized_coloured":
        colours = colours[: 2 + (n_colours == 4)]
    if template.shape in ("sized_coloured", "coloured"):
        for rank, colour in enumerate(colours):
            sizes = SIZES if template.shape == "sized_coloured" else ("",)
            for size, size_weight in zip(sizes, _SIZE_WEIGHTS, strict=False):
                opts = {"Size": size, "Colour": colour} if size else {"Colour": colour}
                options.append(opts)
                weights.append(popularity * _COLOUR_WEIGHTS[rank] * (size_weight if size else 1.0))
    elif template.shape == "sized":
        for size, size_weight in zip(SIZES, _SIZE_WEIGHTS, strict=True):
            options.append({"Size": size})
            weights.append(popularity * size_weight)
    else:
        options.append({})
        weights.append(popularity)
    # Individual variants drift from the product's popularity.
    weights = [w * rng.uniform(0.75, 1.25) for w in weights]
    return options, weights
