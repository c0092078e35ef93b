"""Benchmark: Lighthouse performance of theme-like storefront pages with and without BackSoon, and the admin's
web vitals against Built for Shopify's thresholds.

Storefront. The Shopify stand-in of the browser tests (tests/e2e/shops.py) serves a Dawn-like shop on 127.0.0.1:
a home page (hero banner, featured collection of product cards), a collection page (a grid of product cards) and a
product page (shops.shopify_product_page: the theme app extension's Liquid blocks rendered with python-liquid,
wrapped in the theme's header, media gallery and footer). Each page is served twice: without BackSoon (the theme
alone) and with it (the app embed turned on, and on the product page the "Back soon" block placed, the embed's
auto-mount off, as README's Shopify section tells merchants). Shopify adds an app embed's schema stylesheet and
script to every page, so home and collection carry BackSoon's CSS and JS although nothing renders there (the
extension provides no product-card badge; a card badge is theme code reading the listing metafield). The product
page shows a sold-out variant, BackSoon's worst case: the form is drawn and the consent text is fetched through the
App Proxy, which the stand-in forwards, signed, to the real app serving a seeded Shopify store from PostgreSQL.

Lighthouse 12.2.3 (npm, pinned in benchmarks/lighthouse/) drives Debian Chromium (CHROME_PATH, default
/usr/bin/chromium): performance category only, default mobile emulation, simulated throttling. Each page and
variant runs --runs times, interleaved (the order of the two variants alternates per round); the median score of
each counts, weighted as Shopify weighs them (home 17 %, product 40 %, collection 43 %). The product page is also
measured with the app embed alone on auto-mount (no block placed), reported on stderr only.

Admin. The demo store (500 variants, 180 days) is served in demo mode; the dashboard, the at-risk (stock) list,
the waitlist demand, subscribers and settings pages get Lighthouse navigation runs (same mobile settings: LCP and
CLS), and INP is measured with Playwright in Chromium at 4x CPU slowdown: clicks and typing on the page, the worst
interaction read from a PerformanceObserver on 'event' entries (durationThreshold 16). Human-readable lines go to
stderr, the JSON line to stdout.
"""

from __future__ import annotations

import argparse
import gzip
import json
import logging
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

LIGHTHOUSE_DIR = ROOT / "benchmarks" / "lighthouse"
DEFAULT_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/backsoon_bench_lighthouse"
CHROME = os.environ.get("CHROME_PATH", "/usr/bin/chromium")
SHOP = "backsoon-bench.myshopify.com"
SECRET = "shpss_bench_lighthouse_secret"  # noqa: S105 - the stand-in shop signs with it, nothing else
ASSETS = "/cdn/shop/extensions/backsoon-theme/assets"
THEME = "/cdn/shop/t/1/assets"

# Shopify's weights for the App Store's performance check: "home page 17 %, product page 40 %, collection page 43 %".
WEIGHTS: dict[str, float] = {"home": 0.17, "product": 0.40, "collection": 0.43}
# Built for Shopify, embedded admin (p75): LCP ≤ 2.5 s, CLS ≤ 0.1, INP ≤ 200 ms.
ADMIN_LIMITS = {"lcp_ms": 2500.0, "cls": 0.1, "inp_ms": 200.0}
ADMIN_PAGES = (
    ("dashboard", "/admin/"),
    ("at-risk (stock list)", "/admin/at-risk"),
    ("waitlist demand", "/admin/demand"),
    ("subscribers", "/admin/subscribers"),
    ("settings", "/admin/settings"),
)
INP_CPU_SLOWDOWN = 4
COMPRESSED = {"text/html", "text/css", "text/javascript", "image/svg+xml"}


def _say(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


# --- pure helpers (tests/unit/test_bench_lighthouse.py) --------------------------------------------------------------


def median(values: Iterable[float]) -> float:
    """The median of the runs (the mean of the middle two for an even count)."""
    items = list(values)
    if not items:
        raise ValueError("no runs to take a median of")
    return float(statistics.median(items))


def weighted_score(scores: Mapping[str, float], weights: Mapping[str, float] = WEIGHTS) -> float:
    """Shopify's weighted storefront score: each page type's score times its weight, over the weights' sum."""
    missing = sorted(set(weights) - set(scores))
    if missing:
        raise ValueError(f"no score for page type(s) {', '.join(missing)}")
    total = sum(weights.values())
    return sum(scores[page] * weight for page, weight in weights.items()) / total


def interleaved_plan(pages: Sequence[str], variants: Sequence[str], runs: int) -> list[tuple[str, str]]:
    """(page, variant) pairs for ``runs`` rounds; the variants' order flips every round so drift hits both alike."""
    plan: list[tuple[str, str]] = []
    for r in range(runs):
        order = list(variants) if r % 2 == 0 else list(reversed(variants))
        plan.extend((page, variant) for page in pages for variant in order)
    return plan


def inp_from_events(events: Iterable[Mapping[str, Any]]) -> tuple[float, int]:
    """INP as web-vitals computes it for fewer than 50 interactions: the longest interaction (entries grouped by
    interactionId, each interaction as long as its longest entry), and the number of interactions."""
    longest: dict[int, float] = {}
    for e in events:
        iid = int(e.get("interactionId") or 0)
        if iid:
            longest[iid] = max(longest.get(iid, 0.0), float(e["duration"]))
    return (max(longest.values()) if longest else 0.0), len(longest)


# --- the stores ------------------------------------------------------------------------------------------------------

SIZES = ("S", "M", "L")
TITLES = (
    "Merino Crew Sweater",
    "Linen Shirt",
    "Canvas Tote",
    "Wool Beanie",
    "Cotton Tee",
    "Denim Jacket",
    "Rain Shell",
    "Cord Trousers",
    "Cashmere Scarf",
    "Leather Belt",
    "Trail Socks",
    "Fleece Hoodie",
    "Chino Shorts",
    "Knit Cardigan",
    "Silk Scarf",
    "Field Cap",
)
PRODUCT_ID0 = 9587413528000
VARIANT_ID0 = 49712345670000


def _quantities(p: int) -> list[int]:
    # The product page's product (p == 0) has S sold out, M low, L plenty; the others a mix.
    if p == 0:
        return [0, 2, 40]
    return [(p * 7 + i * 11) % 30 if (p + i) % 5 else 0 for i in range(len(SIZES))]


@dataclass(frozen=True)
class ShopCatalog:
    """The Shopify store's products as the theme renders them, and each variant's metafield value."""

    store_id: int
    products: list[dict[str, Any]]
    states: dict[str, dict[str, Any]]
    listings: dict[str, dict[str, Any]]


def _seed(url: str) -> tuple[int, ShopCatalog]:
    """The demo store's id (for the admin) and the Shopify store's catalog, seeding both when the database is new."""
    from sqlalchemy import select

    from app.db import Database
    from app.models import Product, Store, Variant
    from app.platforms.demo.seed import seed_demo
    from app.services.stock import recompute as stock
    from app.services.stock.storefront_state import listing_value, product_listings, unpublished_states
    from benchmarks.recompute import _ensure_db
    from integrations.shopify.storefront import state_value

    _ensure_db(url)
    db = Database(url)
    try:
        with db.session() as s:
            demo_id = s.execute(select(Store.id).where(Store.platform == "demo")).scalar_one_or_none()
        if demo_id is None:
            _say("seeding the demo store (500 variants, 180 days) for the admin pages …")
            demo_id = seed_demo(db, variants=500, days=180).store_id
            with db.session() as s:
                stock.recompute(s, demo_id)
        with db.session() as s:
            shop_id = s.execute(
                select(Store.id).where(Store.platform == "shopify", Store.domain == SHOP)
            ).scalar_one_or_none()
            if shop_id is None:
                store = Store(platform="shopify", domain=SHOP, name="Merino & Co", timezone="Europe/Amsterdam")
                s.add(store)
                s.flush()
                shop_id = store.id
                for p, title in enumerate(TITLES):
                    product = Product(
                        store_id=shop_id,
                        external_id=str(PRODUCT_ID0 + p),
                        title=title,
                        handle=title.lower().replace(" ", "-"),
                        kind="variable",
                    )
                    s.add(product)
                    s.flush()
                    for i, (size, qty) in enumerate(zip(SIZES, _quantities(p), strict=True)):
                        s.add(
                            Variant(
                                store_id=shop_id,
                                product_id=product.id,
                                external_id=str(VARIANT_ID0 + p * 10 + i),
                                sku=f"BENCH-{p:02d}-{size}",
                                title=size,
                                options={"Size": size},
                                price=Decimal("49.00") + p,
                                sellable_quantity=qty,
                                position=i,
                            )
                        )
                s.flush()
                stock.recompute(s, shop_id)
        with db.session() as s:
            rows = s.execute(
                select(Product.id, Product.external_id, Product.title, Product.handle)
                .where(Product.store_id == shop_id)
                .order_by(Product.external_id)
            ).all()
            variants = s.execute(
                select(Variant.product_id, Variant.external_id, Variant.title, Variant.price)
                .where(Variant.store_id == shop_id)
                .order_by(Variant.external_id)
            ).all()
            # What the app writes to the variants' $app:backsoon.state and the products' listing metafields.
            states = {u.external_id: state_value(u.state) for u in unpublished_states(s, shop_id, 10_000)}
            by_pk = {pk: ext for pk, ext, _t, _h in rows}
            listings = {
                by_pk[pk]: listing_value(status, badge)
                for pk, (status, badge) in product_listings(s, shop_id, by_pk).items()
            }
        products: list[dict[str, Any]] = [
            {
                "id": int(ext),
                "title": title,
                "handle": handle,
                "price": next(str(v.price) for v in variants if v.product_id == pk),
                "variants": [{"id": int(v.external_id), "title": v.title} for v in variants if v.product_id == pk],
            }
            for pk, ext, title, handle in rows
        ]
        if len(states) < len(variants):
            raise RuntimeError("the Shopify store's states were marked published; drop the bench database")
        return int(demo_id), ShopCatalog(int(shop_id), products, states, listings)
    finally:
        db.dispose()


# --- the theme -------------------------------------------------------------------------------------------------------

# A compact Dawn-like stylesheet (layout, header, grid, cards, buttons): render-blocking, as a theme's base.css is.
THEME_CSS = """
:root{--page-width:120rem;--font-body:-apple-system,BlinkMacSystemFont,"Segoe UI",Roboto,Helvetica,Arial,sans-serif}
*,*::before,*::after{box-sizing:border-box}
html{font-size:62.5%}
body{margin:0;font-family:var(--font-body);font-size:1.6rem;line-height:1.5;color:#121212;background:#fff}
a{color:inherit}
img{max-width:100%;height:auto;display:block}
.page-width{max-width:var(--page-width);margin:0 auto;padding:0 1.5rem}
.announcement-bar{background:#121212;color:#fff;text-align:center;font-size:1.3rem;padding:1rem}
.header{display:grid;grid-template-columns:1fr auto 1fr;align-items:center;padding:2rem 1.5rem;
  border-bottom:1px solid rgba(18,18,18,.08)}
.header__heading{margin:0;font-size:2.4rem;text-align:center}
.header__menu{display:flex;gap:2rem;list-style:none;margin:0;padding:0;font-size:1.4rem}
.header__icons{display:flex;justify-content:flex-end;gap:1.5rem}
.banner{position:relative;min-height:40rem;display:flex;align-items:center;justify-content:center;overflow:hidden}
.banner__media{position:absolute;inset:0}
.banner__media img{width:100%;height:100%;object-fit:cover}
.banner__box{position:relative;background:#fff;padding:3rem 4rem;text-align:center;max-width:60rem}
.banner__heading{font-size:4rem;margin:0 0 1rem}
.button{display:inline-flex;align-items:center;justify-content:center;min-height:4.5rem;padding:0 3rem;border:0;
  background:#121212;color:#fff;font:inherit;text-decoration:none;cursor:pointer}
.section{padding:3.6rem 0}
.title{font-size:3rem;margin:0 0 2rem}
.grid{display:grid;grid-template-columns:repeat(2,minmax(0,1fr));gap:1rem;list-style:none;margin:0;padding:0}
@media (min-width:750px){.grid{grid-template-columns:repeat(4,minmax(0,1fr));gap:2rem}}
.card{position:relative;display:flex;flex-direction:column}
.card__media{aspect-ratio:1/1;background:#f3f3f3;overflow:hidden}
.card__media img{width:100%;height:100%;object-fit:cover}
.card__heading{font-size:1.5rem;margin:1rem 0 .4rem}
.card__badge{position:absolute;top:1rem;left:1rem}
.badge{display:inline-block;padding:.4rem 1.2rem;border-radius:4rem;font-size:1.2rem;background:#121212;color:#fff}
.price{font-size:1.4rem;letter-spacing:.06rem}
.facets{display:flex;justify-content:space-between;padding:1.5rem 0;font-size:1.4rem}
.product{display:grid;gap:3rem}
@media (min-width:750px){.product{grid-template-columns:1.3fr 1fr}}
.product__media img{width:100%;aspect-ratio:1/1;object-fit:cover;background:#f3f3f3}
.product__info-container h1{font-size:3.2rem;margin:0 0 1rem}
.select__select{font:inherit;padding:1rem;min-width:14rem;margin:1rem 0}
.product-form__buttons{margin:1.5rem 0}
.product-form__submit{width:100%}
.product__description{font-size:1.5rem;color:rgba(18,18,18,.75)}
.footer{border-top:1px solid rgba(18,18,18,.08);padding:4rem 1.5rem;font-size:1.4rem;color:rgba(18,18,18,.75)}
.footer__blocks{display:grid;grid-template-columns:repeat(auto-fit,minmax(20rem,1fr));gap:2rem}
"""

# A small deferred theme script doing what Dawn's variant picker does: keep the form's variant id and the URL in step.
THEME_JS = """
(function () {
  document.addEventListener('change', function (e) {
    var select = e.target.closest && e.target.closest('variant-selects select');
    if (!select) return;
    var input = document.querySelector('form[action*="/cart/add"] input[name="id"]');
    if (input) input.value = select.value;
    history.replaceState({}, '', '?variant=' + select.value);
    document.dispatchEvent(new CustomEvent('variant:change', { detail: { variant: { id: select.value } } }));
  });
})();
"""


def _image_svg(label: str, hue: int) -> str:
    return (
        '<svg xmlns="http://www.w3.org/2000/svg" width="800" height="800" viewBox="0 0 800 800">'
        f'<rect width="800" height="800" fill="hsl({hue},35%,85%)"/>'
        f'<circle cx="400" cy="360" r="190" fill="hsl({hue},40%,60%)"/>'
        f'<text x="400" y="700" font-family="sans-serif" font-size="48" text-anchor="middle">{label}</text></svg>'
    )


def _head(title: str, extra: str = "") -> str:
    return (
        '<meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">'
        f'<title>{title}</title><link rel="stylesheet" href="{THEME}/base.css">'
        f'<script src="{THEME}/global.js" defer></script>{extra}'
    )


def _header() -> str:
    return (
        '<div class="announcement-bar">Free shipping on orders over €75</div>'
        '<header class="header page-width"><ul class="header__menu"><li><a href="/">Home</a></li>'
        '<li><a href="/collections/all">Catalog</a></li><li><a href="/pages/contact">Contact</a></li></ul>'
        '<h1 class="header__heading"><a href="/">Merino &amp; Co</a></h1>'
        '<div class="header__icons"><a href="/search">Search</a><a href="/account">Account</a>'
        '<a href="/cart">Cart</a></div></header>'
    )


FOOTER = (
    '<footer class="footer"><div class="footer__blocks page-width"><div><h2>Quick links</h2><ul><li>Search</li>'
    "<li>Shipping</li><li>Returns</li></ul></div><div><h2>Our mission</h2><p>Good clothes, made to last, back in "
    "stock when you need them.</p></div><div><h2>Newsletter</h2><p>Subscribe for new arrivals.</p></div></div>"
    "</footer>"
)


def _card(product: Mapping[str, Any], index: int, eager: bool) -> str:
    loading = 'fetchpriority="high"' if eager else 'loading="lazy"'
    return (
        f'<li class="grid__item"><div class="card"><div class="card__media"><img src="/cdn/shop/files/p{index}.svg" '
        f'alt="{product["title"]}" width="800" height="800" {loading}></div>'
        f'<h3 class="card__heading"><a href="/products/{product["handle"]}">{product["title"]}</a></h3>'
        f'<div class="price">€{product["price"]}</div></div></li>'
    )


@dataclass(frozen=True)
class EmbedAssets:
    """What Shopify adds to a page for BackSoon's blocks: schema stylesheets in <head>, deferred scripts, block HTML."""

    head: str
    body_end: str


def _embed(template: str, context: Mapping[str, Any]) -> EmbedAssets:
    from tests.e2e.shops import liquid_environment, render_block

    env = liquid_environment("en", ASSETS)
    rendered = render_block(env, "app-embed", {**context, "template": {"name": template}}, {})
    head = f'<link rel="stylesheet" href="{ASSETS}/{rendered.schema["stylesheet"]}">'
    tail = f'<div id="shopify-block-app-embed" class="shopify-app-block">{rendered.html}</div>'
    tail += f'<script src="{ASSETS}/{rendered.schema["javascript"]}" defer></script>'
    return EmbedAssets(head, tail)


def home_page(catalog: ShopCatalog, with_backsoon: bool) -> str:
    """A Dawn-like home page: hero banner and a featured collection of eight product cards."""
    embed = _embed("index", {"request": {"locale": {"iso_code": "en"}}, "routes": {"root_url": "/"}, "product": None})
    cards = "".join(_card(p, i, False) for i, p in enumerate(catalog.products[:8]))
    return (
        f'<!doctype html><html lang="en"><head>{_head("Merino & Co", embed.head if with_backsoon else "")}</head>'
        f'<body class="template-index">{_header()}<main id="MainContent">'
        '<section class="banner"><div class="banner__media"><img src="/cdn/shop/files/hero.svg" alt="" '
        'width="1600" height="800" fetchpriority="high"></div><div class="banner__box"><h2 class="banner__heading">'
        'Back in stock, all winter</h2><p>Knits and layers made to last.</p><a class="button" '
        'href="/collections/all">Shop all</a></div></section>'
        '<section class="section page-width"><h2 class="title">Featured collection</h2>'
        f'<ul class="grid">{cards}</ul></section></main>{FOOTER}'
        f"{embed.body_end if with_backsoon else ''}</body></html>"
    )


def collection_page(catalog: ShopCatalog, with_backsoon: bool) -> str:
    """A Dawn-like collection page: title, facets bar and a grid of sixteen product cards."""
    embed = _embed(
        "collection", {"request": {"locale": {"iso_code": "en"}}, "routes": {"root_url": "/"}, "product": None}
    )
    cards = "".join(_card(p, i, i < 2) for i, p in enumerate(catalog.products))
    return (
        f'<!doctype html><html lang="en"><head>{_head("All – Merino & Co", embed.head if with_backsoon else "")}'
        f'</head><body class="template-collection">{_header()}<main id="MainContent">'
        '<section class="section page-width"><h1 class="title">All products</h1>'
        f'<div class="facets"><span>Filter: Availability · Price</span><span>{len(catalog.products)} products</span>'
        f'</div><ul class="grid">{cards}</ul></section></main>{FOOTER}'
        f"{embed.body_end if with_backsoon else ''}</body></html>"
    )


def product_page(catalog: ShopCatalog, variant: str) -> str:
    """The stand-in's Dawn-like product page (tests/e2e/shops.py) in the theme's head, header, media and footer.

    ``variant``: "without" (the theme alone), "with" (block placed, embed auto-mount off) or "embed" (embed alone,
    auto-mount on).
    """
    from tests.e2e.shops import shopify_product_page

    product = catalog.products[0]
    selected = str(product["variants"][0]["id"])  # sold out
    html = shopify_product_page(
        locale="en",
        product=product,
        selected_variant_id=selected,
        states=catalog.states,
        asset_base=ASSETS,
        embed_settings={"auto_mount": variant == "embed"},
        with_block=variant == "with",
    )
    if variant == "without":
        # The theme alone: the stand-in always renders the embed, so its markup and assets come out again.
        html = html.split('<div id="shopify-block-app-embed"', 1)[0] + "</body>\n</html>\n"
        html = html.replace(f'<link rel="stylesheet" href="{ASSETS}/backsoon.css">', "")
    # The theme's own head, header, media gallery and footer around the stand-in's product section.
    head_start = html.index("<head>") + len("<head>")
    head_end = html.index("</head>")
    own = html[head_start:head_end].split("</title>", 1)[1]
    html = html[:head_start] + _head(product["title"], own) + html[head_end:]
    html = html.replace('<body class="template-product">', f'<body class="template-product">{_header()}', 1).replace(
        '<div class="product__info-container">',
        '<div class="product page-width"><div class="product__media"><img src="/cdn/shop/files/p0.svg" '
        f'alt="{product["title"]}" width="800" height="800" fetchpriority="high"></div>'
        '<div class="product__info-container"><div class="price">€' + product["price"] + "</div>",
        1,
    )
    description = (
        '<div class="product__description"><p>Fine merino, knitted in Portugal. Warm without bulk, soft on the '
        "skin, and it keeps its shape wash after wash.</p></div></div>"
    )
    at = html.index("</section>")
    html = html[:at] + description + html[at:]
    at = html.index("</main>") + len("</main>")
    return html[:at] + FOOTER + html[at:]


# --- serving ---------------------------------------------------------------------------------------------------------


@dataclass
class Served:
    app_url: str
    shop_origin: str
    stop: Any


def _serve(url: str, catalog: ShopCatalog) -> Served:
    """The real app (werkzeug, threaded) and the shop stand-in that serves the theme and forwards the App Proxy."""
    from flask import Flask
    from werkzeug.serving import make_server
    from werkzeug.wrappers import Request, Response

    from app.config import Settings
    from app.db import Database
    from app.queue import make_queue
    from app.runtime import Runtime
    from app.web.factory import build_app
    from tests.e2e.shops import EXTENSION, PROXY_PREFIX, file_response, forward_app_proxy, start_shop_server

    server = make_server("127.0.0.1", 0, Flask("placeholder"), threaded=True)
    app_url = f"http://127.0.0.1:{server.server_port}"
    settings = Settings(env="test", database_url=url, demo=True, app_url=app_url, shopify_api_secret=SECRET)
    db = Database(url)
    server.app = build_app(runtime=Runtime(settings, db, make_queue(settings.redis_url)))
    thread = threading.Thread(target=server.serve_forever, name="bench-app", daemon=True)
    thread.start()

    pages: dict[str, str] = {}
    for variant in ("without", "with"):
        pages[f"/{variant}/"] = home_page(catalog, variant == "with")
        pages[f"/{variant}/collections/all"] = collection_page(catalog, variant == "with")
    for variant in ("without", "with", "embed"):
        pages[f"/{variant}/products/{catalog.products[0]['handle']}"] = product_page(catalog, variant)
    images = {
        f"/cdn/shop/files/p{i}.svg": _image_svg(p["title"], (i * 37) % 360) for i, p in enumerate(catalog.products)
    }
    images["/cdn/shop/files/hero.svg"] = _image_svg("Winter", 200).replace(
        'width="800" height="800" viewBox="0 0 800 800"', 'width="1600" height="800" viewBox="0 0 800 800"'
    )
    long_cache = {"Cache-Control": "public, max-age=31536000"}
    # Each request's log line would drown the figures.
    logging.getLogger("werkzeug").setLevel(logging.WARNING)

    def handler(request: Request) -> Response:
        answer = route(request)
        # Shopify's CDN and storefront compress text; transfer sizes should be what a shopper downloads.
        if (
            "gzip" in request.headers.get("Accept-Encoding", "")
            and answer.status_code == 200
            and answer.mimetype in COMPRESSED
        ):
            answer.set_data(gzip.compress(answer.get_data(), compresslevel=6))
            answer.headers["Content-Encoding"] = "gzip"
            answer.vary.add("Accept-Encoding")
        return answer

    def route(request: Request) -> Response:
        path = request.path
        if path in pages:
            return Response(pages[path], mimetype="text/html")
        if path in images:
            return Response(images[path], mimetype="image/svg+xml", headers=long_cache)
        if path == f"{THEME}/base.css":
            return Response(THEME_CSS, mimetype="text/css", headers=long_cache)
        if path == f"{THEME}/global.js":
            return Response(THEME_JS, mimetype="text/javascript", headers=long_cache)
        if path.startswith(f"{ASSETS}/"):
            name = path.rsplit("/", 1)[1]
            kind = "text/css" if name.endswith(".css") else "text/javascript"
            answer = file_response(EXTENSION / "assets" / name, kind)
            answer.headers.update(long_cache)
            return answer
        if path.startswith(f"{PROXY_PREFIX}/"):
            return forward_app_proxy(
                request, app_url=app_url, proxy_url_path="/storefront/proxy", shop=SHOP, secret=SECRET
            )
        return Response("not found", status=404)

    shop = start_shop_server()
    shop.handler = handler

    def stop() -> None:
        shop.stop()
        server.shutdown()
        thread.join(timeout=10)
        server.server_close()
        db.dispose()

    return Served(app_url, shop.origin, stop)


def _check(served: Served, catalog: ShopCatalog) -> None:
    """The pages answer, and the widget's App Proxy call reaches the real app and answers the product's document."""
    import requests

    handle = catalog.products[0]["handle"]
    for path in ("/with/", "/with/collections/all", f"/with/products/{handle}", f"/without/products/{handle}"):
        answer = requests.get(served.shop_origin + path, timeout=10)
        answer.raise_for_status()
    proxied = requests.get(f"{served.shop_origin}/apps/backsoon/v1/products/{catalog.products[0]['id']}", timeout=10)
    if proxied.status_code != 200 or "consent" not in proxied.text:
        raise RuntimeError(f"the App Proxy answered {proxied.status_code}: {proxied.text[:300]}")
    for _name, path in ADMIN_PAGES:
        answer = requests.get(served.app_url + path, timeout=30)
        if answer.status_code != 200:
            raise RuntimeError(f"{path} answered {answer.status_code}")


# --- Lighthouse and Playwright ---------------------------------------------------------------------------------------


def _lighthouse(runs: list[dict[str, str]]) -> list[dict[str, Any]]:
    """Run the plan with benchmarks/lighthouse/run.mjs in one Chromium; one summary per run, in order."""
    if not (LIGHTHOUSE_DIR / "node_modules" / "lighthouse").is_dir():
        raise SystemExit(f"Lighthouse is not installed: cd {LIGHTHOUSE_DIR.relative_to(ROOT)} && npm ci")
    node = shutil.which("node")
    if node is None:
        raise SystemExit("node is not installed (Lighthouse 12 needs Node 18.20 or newer)")
    with tempfile.NamedTemporaryFile("w", suffix=".json", prefix="lh-plan-", delete=False) as plan:
        json.dump({"runs": runs}, plan)
    try:
        results: list[dict[str, Any]] = []
        proc = subprocess.Popen(
            [node, "run.mjs", plan.name],
            cwd=LIGHTHOUSE_DIR,
            env={**os.environ, "CHROME_PATH": CHROME},
            stdout=subprocess.PIPE,
            text=True,
        )
        assert proc.stdout is not None
        for line in proc.stdout:
            result = json.loads(line)
            if result.get("error"):
                raise RuntimeError(f"Lighthouse failed on {result['url']}: {result['error']}")
            results.append(result)
            _say(
                f"  {result['id']:<28} score {result['score']:5.1f}  FCP {result['fcp']:6.0f} ms  "
                f"LCP {result['lcp']:6.0f} ms  TBT {result['tbt']:5.0f} ms  CLS {result['cls']:.3f}"
            )
        if proc.wait() != 0:
            raise RuntimeError(f"Lighthouse exited with {proc.returncode}")
        return results
    finally:
        os.unlink(plan.name)


# Recorded from the first script the page runs, before any of its own.
INP_OBSERVER = """
window.__bsEvents = [];
new PerformanceObserver(function (list) {
  list.getEntries().forEach(function (e) {
    window.__bsEvents.push({name: e.name, duration: e.duration, interactionId: e.interactionId});
  });
}).observe({type: 'event', durationThreshold: 16, buffered: true});
"""


def _interact(page: Any) -> list[str]:
    """Click and type on what the page offers without leaving it; what was done."""
    done: list[str] = []
    for selector, action in (
        ("summary", "click"),
        ("main input[type=search], main input[type=text], main input[type=email], main input[type=number]", "type"),
        ("main select", "select"),
        ("main input[type=checkbox]", "click"),
        ("main th, main h1", "click"),
    ):
        target = page.locator(selector).first
        if target.count() == 0 or not target.is_visible():
            continue
        if action == "type":
            target.click()
            page.keyboard.type("blue 12", delay=60)
        elif action == "select":
            target.focus()
            page.keyboard.press("ArrowDown")
        else:
            target.click()
        done.append(f"{action} {selector.split(',')[0]}")
        page.wait_for_timeout(300)
    return done


def _admin_inp(app_url: str, rounds: int, slowdown: float) -> dict[str, tuple[float, int, list[str]]]:
    """Per admin page: the median over rounds of the page's INP, the interactions counted and what was done."""
    from playwright.sync_api import sync_playwright

    out: dict[str, tuple[float, int, list[str]]] = {}
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROME, headless=True, args=["--no-sandbox", "--disable-gpu"])
        try:
            for name, path in ADMIN_PAGES:
                values: list[float] = []
                count = 0
                done: list[str] = []
                for _ in range(rounds):
                    context = browser.new_context(viewport={"width": 1280, "height": 900})
                    context.add_init_script(INP_OBSERVER)
                    page = context.new_page()
                    cdp = context.new_cdp_session(page)
                    cdp.send("Emulation.setCPUThrottlingRate", {"rate": slowdown})
                    page.goto(app_url + path, wait_until="load")
                    done = _interact(page)
                    page.wait_for_timeout(500)
                    inp, count = inp_from_events(page.evaluate("window.__bsEvents"))
                    values.append(inp)
                    context.close()
                out[name] = (median(values), count, done)
                # Interactions under 16 ms leave no 'event' entry; none at all means INP below 16 ms.
                shown = f"{median(values):5.0f} ms" if count else " < 16 ms"
                _say(f"  INP {name:<22} {shown}, {count} interactions of 16 ms or more ({', '.join(done)})")
        finally:
            browser.close()
    return out


# --- main ------------------------------------------------------------------------------------------------------------


def _ranges(results: list[dict[str, Any]], key: str) -> dict[str, list[float]]:
    by_id: dict[str, list[float]] = {}
    for r in results:
        by_id.setdefault(r["id"], []).append(float(r[key]))
    return by_id


def _storefront_report(results: list[dict[str, Any]], pages: list[str], runs: int) -> dict[str, Any]:
    """Print the storefront figures; the JSON line's fields."""
    scores = _ranges(results, "score")
    med = {key: median(values) for key, values in scores.items()}
    _say(f"\nstorefront, median of {runs} Lighthouse runs (range), mobile, simulated throttling:")
    for page in pages:
        for variant in ("without", "with", "embed"):
            key = f"{page}/{variant}"
            if key not in scores:
                continue
            picked = [r for r in results if r["id"] == key]
            lcp = median(r["lcp"] for r in picked)
            cls = median(r["cls"] for r in picked)
            tbt = median(r["tbt"] for r in picked)
            _say(
                f"  {key:<20} {med[key]:5.1f} ({min(scores[key]):.0f}–{max(scores[key]):.0f})  LCP {lcp:5.0f} ms  "
                f"TBT {tbt:4.0f} ms  CLS {cls:.3f}  bytes {median(r['bytes'] for r in picked):,.0f}"
            )
    for key in ("home/with", "product/with", "product/embed"):
        sample = next((r for r in results if r["id"] == key), None)
        if sample is not None:
            shown = ", ".join(
                f"{b['url'].rsplit('/', 1)[-1].split('?')[0]} {b['bytes']:,} B ({b['priority']})"
                for b in sample["backsoon"]
            )
            _say(f"  BackSoon's requests on {key}: {shown or 'none'}")
    errored = sorted({a for r in results for a in r["errored"]})
    if errored:
        _say(f"  audits Lighthouse 12.2.3 could not compute on this Chromium (score unaffected): {', '.join(errored)}")
    value = weighted_score({page: med[f"{page}/with"] for page in pages})
    floor = weighted_score({page: med[f"{page}/without"] for page in pages})
    ratio = value / floor if floor else 0.0
    _say(
        f"weighted (home 17 %, product 40 %, collection 43 %): {value:.1f} with BackSoon vs {floor:.1f} without, "
        f"drop {floor - value:.1f} points, ratio {ratio:.3f} (goal: drop <= 2, ratio >= 0.98)"
    )
    return {
        "benchmark": "storefront_lighthouse",
        "metric": "weighted_performance_score",
        "value": round(value, 1),
        "floor": round(floor, 1),
        "ratio": round(ratio, 3),
        "unit": "points",
    }


def main() -> None:
    """Run the benchmark and print its JSON line."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=5, help="Lighthouse runs per storefront page and variant")
    parser.add_argument("--admin-runs", type=int, default=3, help="Lighthouse and INP runs per admin page")
    parser.add_argument(
        "--inp-cpu-slowdown", type=float, default=INP_CPU_SLOWDOWN, help="CPU slowdown for the INP runs (1 = none)"
    )
    parser.add_argument("--skip-admin", action="store_true", help="storefront only")
    parser.add_argument("--skip-storefront", action="store_true", help="admin only (no JSON line)")
    parser.add_argument(
        "--admin-preset",
        choices=("mobile", "desktop"),
        default="mobile",
        help="Lighthouse settings for the admin pages: mobile (the default, as the storefront) or desktop",
    )
    args = parser.parse_args()
    if not Path(CHROME).is_file():
        raise SystemExit(f"Chromium not found at {CHROME} (apt-get install chromium, or set CHROME_PATH)")

    url = os.environ.get("BENCH_LIGHTHOUSE_DATABASE_URL", DEFAULT_URL)
    started = time.monotonic()
    _demo_id, catalog = _seed(url)
    served = _serve(url, catalog)
    try:
        _check(served, catalog)
        load = os.getloadavg()
        _say(
            f"shop {served.shop_origin}, app {served.app_url}; Lighthouse 12.2.3, simulated throttling; "
            f"{0 if args.skip_storefront else args.runs} storefront runs per page and variant (mobile), "
            f"{0 if args.skip_admin else args.admin_runs} per admin page ({args.admin_preset}); "
            f"load average {load[0]:.1f} {load[1]:.1f} {load[2]:.1f} "
            f"on {os.cpu_count()} CPUs"
        )
        handle = catalog.products[0]["handle"]
        paths = {"home": "/", "collection": "/collections/all", "product": f"/products/{handle}"}
        plan = interleaved_plan(list(paths), ["without", "with"], args.runs)
        plan += [("product", "embed")] * args.runs
        runs = [
            {"id": f"{page}/{variant}", "url": f"{served.shop_origin}/{variant}{paths[page]}"} for page, variant in plan
        ]
        results = [] if args.skip_storefront else _lighthouse(runs)
        if not args.skip_admin:
            admin_runs = [
                {"id": f"admin {name}", "url": served.app_url + path, "preset": args.admin_preset}
                for _ in range(args.admin_runs)
                for name, path in ADMIN_PAGES
            ]
            admin_results = _lighthouse(admin_runs)
            inp = _admin_inp(served.app_url, args.admin_runs, args.inp_cpu_slowdown)
    finally:
        served.stop()
    load = os.getloadavg()

    line = None if args.skip_storefront else _storefront_report(results, list(paths), args.runs)
    if not args.skip_admin:
        _say(
            f"\nadmin (demo store, 500 variants), median of {args.admin_runs}: LCP and CLS from Lighthouse "
            f"({args.admin_preset}, simulated throttling), INP from Playwright at {args.inp_cpu_slowdown:g}x CPU "
            "slowdown; "
            "Built for Shopify: LCP <= 2.5 s, CLS <= 0.1, INP <= 200 ms"
        )
        for name, _path in ADMIN_PAGES:
            picked = [r for r in admin_results if r["id"] == f"admin {name}"]
            lcp = median(r["lcp"] for r in picked)
            cls = median(r["cls"] for r in picked)
            worst_inp = inp[name][0]
            ok = lcp <= ADMIN_LIMITS["lcp_ms"] and cls <= ADMIN_LIMITS["cls"] and worst_inp <= ADMIN_LIMITS["inp_ms"]
            _say(
                f"  {name:<22} LCP {lcp / 1000:4.2f} s  CLS {cls:.3f}  INP {worst_inp:4.0f} ms  "
                f"score {median(r['score'] for r in picked):5.1f}  {'pass' if ok else 'FAIL'}"
            )
    _say(f"load average at the end {load[0]:.1f} {load[1]:.1f} {load[2]:.1f}; took {time.monotonic() - started:.0f} s")
    if line is not None:
        print(json.dumps(line), flush=True)


if __name__ == "__main__":
    main()
