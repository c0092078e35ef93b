"""The landing page as ads and social posts meet it, from what a real sync leaves: Open Graph and Twitter tags, the
image, an offer per variant, the canonical link to the merchant's own page, the App Proxy address on a Shopify store's
domain, and the store's languages.

The Shopify store is read and synced from the fixtures (shop identity with three published languages and a primary
domain; a bulk product file whose products carry featured images and options) through the real read and sync code,
with only Shopify's HTTP simulated; the WooCommerce product is the captured Hoodie with images (constructed fixture)
applied as the sync applies it.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import time
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

import pytest
import requests
import responses
from flask.testing import FlaskClient
from sqlalchemy import func, select

from app.db import Database
from app.models import Store, Subscription, Variant
from app.platforms.shopify import sync as shopify_sync
from app.platforms.shopify.identity import read_identity
from app.services import catalog
from app.services.merchant import identity as store_identity
from app.services.stock.recompute import recompute
from app.web.admin.auth import session_fields
from integrations.shopify.graphql import GraphQLClient
from integrations.woocommerce.payloads import parse_product
from tests.conftest import FIXTURES
from tests.factories import RecordingQueue
from tests.integration.test_shopify_sync import FILE_URL, FakeAdmin

pytestmark = pytest.mark.integration

SHOP = "amsterdam-linen.myshopify.com"
GRAPHQL = f"https://{SHOP}/admin/api/2026-10/graphql.json"
GQL = FIXTURES / "shopify" / "graphql"
WOO = FIXTURES / "woocommerce" / "constructed"
SCOPES = "write_products,read_inventory,read_locations,read_orders,write_app_proxy,read_locales"
APP_SECRET = "shpss_landing"
CDN = "https://cdn.shopify.com/s/files/1/0712/3456/7890/files/"
SWEATER = "9587413528877"
APRON = "9587413594413"
TOTE = "9587413659949"
HOME = "https://www.amsterdam-linen.example"
SHARE = f"{HOME}/apps/backsoon/p/{SWEATER}"
UPLOADS = "http://127.0.0.1:8091/wp-content/uploads/2026/11/"


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    """Outside demo mode, on BackSoon's public address, with the Shopify app's secret (App Proxy signatures)."""
    return {
        "demo": False,
        "app_url": "https://backsoon.example",
        "shopify_api_key": "landing-key",
        "shopify_api_secret": APP_SECRET,
    }


BULK_FILE = (GQL / "bulk_products_with_media.jsonl").read_bytes()


def _answer(admin: FakeAdmin) -> Any:
    identity = (GQL / "shop_identity.json").read_text()

    def answer(request: Any) -> tuple[int, dict[str, str], str]:
        if json.loads(request.body)["query"].lstrip().startswith("query ShopIdentity"):
            return 200, {"Content-Type": "application/json"}, identity
        status, headers, text = admin(request)
        body = json.loads(text)
        operation = body["data"].get("bulkOperation") or {}
        if operation.get("url") == FILE_URL:
            operation["fileSize"] = str(len(BULK_FILE))  # this file's size, as Shopify reports the one it wrote
        return status, headers, json.dumps(body)

    return answer


def sync_dutch_shop(db: Database) -> int:
    """The Dutch shop as its install leaves it, then its settings read and its catalogue synced from the fixtures."""
    with db.session() as s:
        store = Store(platform="shopify", domain=SHOP, name="amsterdam-linen", scopes=SCOPES)
        s.add(store)
        s.flush()
        store_id = store.id
    with responses.RequestsMock() as http:
        http.add_callback(responses.POST, GRAPHQL, callback=_answer(FakeAdmin(polls_before_done=0)))
        http.add(responses.GET, FILE_URL, body=BULK_FILE)
        graphql = GraphQLClient(SHOP, lambda: "shpat_test", sleep=lambda _s: None)
        assert read_identity(db, store_id, graphql).startswith("applied:")
        jobs = RecordingQueue()
        with db.session() as s:
            run_id = shopify_sync.start_sync(s, jobs, store_id).id
        clients = shopify_sync.Clients(graphql=graphql, http=requests.Session())
        outcomes = [shopify_sync.step(db, jobs, run_id, clients) for _ in range(4)]
        assert outcomes[-1] == "done"
    return store_id


@pytest.fixture
def shopify_store(db: Database) -> int:
    """The synced Dutch shop's id."""
    return sync_dutch_shop(db)


def _ld(body: str) -> dict[str, Any]:
    found = re.findall(r'<script type="application/ld\+json">(.*?)</script>', body, re.S)
    assert len(found) == 1
    doc: dict[str, Any] = json.loads(found[0])
    return doc


def _tags(body: str) -> list[tuple[str, str]]:
    """The page's Open Graph (property=) and Twitter (name=) tags, in order."""
    return re.findall(r'<meta (?:property|name)="((?:og|product|twitter):[\w:]+)" content="([^"]*)">', body)


def _links(body: str, rel: str) -> list[tuple[str, ...]]:
    if rel == "alternate":
        return re.findall(r'<link rel="alternate" hreflang="([\w-]+)" href="([^"]+)">', body)
    return [(href,) for href in re.findall(rf'<link rel="{rel}" href="([^"]+)">', body)]


def _proxy_query(**extra: str) -> str:
    """The query Shopify appends to a proxied request, signed with the app's secret as its docs describe."""
    params = {**extra, "shop": SHOP, "logged_in_customer_id": "", "path_prefix": "/apps/backsoon"}
    params["timestamp"] = str(int(time.time()))
    message = "".join(sorted(f"{k}={v}" for k, v in params.items()))
    params["signature"] = hmac.new(APP_SECRET.encode(), message.encode(), hashlib.sha256).hexdigest()
    return urlencode(params)


SWEATER_TAGS = [
    ("og:type", "product"),
    ("og:title", "Merino Crew Sweater"),
    ("og:url", SHARE),
    ("og:site_name", "Amsterdam Linen Co"),
    ("og:description", "Soft merino crew neck with ribbed cuffs &amp; hem."),
    ("og:image", f"{CDN}merino-crew-sweater.jpg?v=1728912139"),
    ("og:image:alt", "Merino Crew Sweater"),
    ("product:price:amount", "89.00"),
    ("product:price:currency", "EUR"),
    ("product:availability", "in stock"),
    ("twitter:card", "summary_large_image"),
    ("twitter:title", "Merino Crew Sweater"),
    ("twitter:description", "Soft merino crew neck with ribbed cuffs &amp; hem."),
    ("twitter:image", f"{CDN}merino-crew-sweater.jpg?v=1728912139"),
]


def _variant(size: str, sku: str, variant_id: str, price: str, availability: str, root: str = "") -> dict[str, Any]:
    return {
        "@type": "Product",
        "name": f"Merino Crew Sweater - {size}",
        "sku": sku,
        "image": f"{CDN}merino-crew-sweater.jpg?v=1728912139",
        "size": size,
        "offers": {
            "@type": "Offer",
            "url": f"{HOME}{root}/products/merino-crew-sweater?variant={variant_id}",
            "price": price,
            "priceCurrency": "EUR",
            "availability": f"https://schema.org/{availability}",
        },
    }


def test_synced_shopify_product_has_social_tags_group_offers_and_the_merchants_canonical(
    db: Database, client: FlaskClient, shopify_store: int
) -> None:
    resp = client.get(f"/p/{shopify_store}/{SWEATER}")
    assert resp.status_code == 200
    body = resp.get_data(as_text=True)
    assert _tags(body) == SWEATER_TAGS
    # The search value goes to the store's own product page on its primary domain, not to BackSoon.
    assert _links(body, "canonical") == [(f"{HOME}/products/merino-crew-sweater",)]
    assert _ld(body) == {
        "@context": "https://schema.org",
        "@type": "ProductGroup",
        "name": "Merino Crew Sweater",
        "url": f"{HOME}/products/merino-crew-sweater",
        "productGroupID": SWEATER,
        "image": f"{CDN}merino-crew-sweater.jpg?v=1728912139",
        "description": "Soft merino crew neck with ribbed cuffs & hem.",
        "variesBy": ["https://schema.org/size"],
        "hasVariant": [
            # S sold out (deny), M in stock, L oversells (continue) with 3 on hand: in stock too.
            _variant("S", "MCS-S", "49712345678125", "89.00", "OutOfStock"),
            _variant("M", "MCS-M", "49712345710893", "89.00", "InStock"),
            _variant("L", "MCS-L", "49712345743661", "94.00", "InStock"),
        ],
    }
    # The store's language (Dutch, its primary one), with its other published languages as alternates.
    assert '<html lang="nl">' in body
    assert _links(body, "alternate") == [
        ("nl", f"{SHARE}?lang=nl"),
        ("en", f"{SHARE}?lang=en"),
        ("de", f"{SHARE}?lang=de"),
        ("x-default", SHARE),
    ]
    # People read the price the way the store writes it; the tags and the JSON-LD keep "89.00".
    assert '<p class="price" id="price" data-currency="EUR">€89,00</p>' in body
    assert 'data-price-text="€94,00"' in body
    assert f'<a class="buy-link" href="{HOME}/products/merino-crew-sweater">Terug naar Amsterdam Linen Co</a>' in body


def test_single_variant_product_is_a_product_with_one_offer(
    db: Database, client: FlaskClient, shopify_store: int
) -> None:
    body = client.get(f"/p/{shopify_store}/{APRON}").get_data(as_text=True)
    assert _ld(body) == {
        "@context": "https://schema.org",
        "@type": "Product",
        "name": "Linen Café Apron",
        "url": f"{HOME}/products/linen-cafe-apron",
        "sku": "LCA-NAT",
        "image": f"{CDN}linen-cafe-apron.jpg?v=1728912138",
        "description": "Stonewashed linen apron with two pockets.",
        "offers": {
            "@type": "Offer",
            "url": f"{HOME}/products/linen-cafe-apron?variant=49712345776429",
            "price": "24.00",
            "priceCurrency": "EUR",
            "availability": "https://schema.org/InStock",
        },
    }


def test_a_product_without_an_image_gets_the_summary_card_and_no_image_tags(
    db: Database, client: FlaskClient, shopify_store: int
) -> None:
    body = client.get(f"/p/{shopify_store}/{TOTE}").get_data(as_text=True)
    tags = dict(_tags(body))
    assert tags["twitter:card"] == "summary"
    assert "og:image" not in tags and "twitter:image" not in tags and "og:image:alt" not in tags
    assert "og:description" not in tags  # the tote has no description: nothing is made up
    assert "image" not in _ld(body)
    assert tags["og:title"] == "Canvas Tote"


@pytest.mark.parametrize(
    ("query", "accept", "lang", "buy_text"),
    [
        ("", "de-DE,de;q=0.9,en;q=0.5", "de", "Zurück zu Amsterdam Linen Co"),
        # French is a language BackSoon speaks, but the store is not published in it: the store's own language.
        ("", "fr-FR,fr;q=0.9", "nl", "Terug naar Amsterdam Linen Co"),
        ("?lang=en", "de", "en", "Back to Amsterdam Linen Co"),
    ],
)
def test_the_page_speaks_the_shoppers_language_among_the_stores(
    db: Database, client: FlaskClient, shopify_store: int, query: str, accept: str, lang: str, buy_text: str
) -> None:
    body = client.get(f"/p/{shopify_store}/{SWEATER}{query}", headers={"Accept-Language": accept}).get_data(
        as_text=True
    )
    assert f'<html lang="{lang}">' in body
    assert f'data-locale="{lang}"' in body
    root = "" if lang == "nl" else f"/{lang}"
    # Canonical and offers point at the store's page in that language (Shopify's /<locale>/ root).
    assert _links(body, "canonical") == [(f"{HOME}{root}/products/merino-crew-sweater",)]
    assert _ld(body)["hasVariant"][1] == _variant("M", "MCS-M", "49712345710893", "89.00", "InStock", root)
    assert dict(_tags(body))["og:url"] == (SHARE if lang == "nl" else f"{SHARE}?lang={lang}")
    assert f'">{buy_text}</a>' in body


def test_shopify_app_proxy_serves_the_page_on_the_stores_domain(
    db: Database, client: FlaskClient, shopify_store: int
) -> None:
    resp = client.get(f"/storefront/proxy/p/{SWEATER}?{_proxy_query()}")
    assert resp.status_code == 200
    assert resp.mimetype == "text/html"  # a whole page: a Liquid answer would take the theme's head instead
    body = resp.get_data(as_text=True)
    assert _tags(body) == SWEATER_TAGS
    assert _links(body, "canonical") == [(f"{HOME}/products/merino-crew-sweater",)]
    # On the shop's domain the widget calls the App Proxy there, and assets come from BackSoon's address.
    assert 'data-api="/apps/backsoon/v1"' in body and 'data-source="app_proxy"' in body
    assert re.search(r'<script src="https://backsoon\.example/static/widget\.\w+\.js" defer></script>', body)
    assert re.search(r'<link rel="stylesheet" href="https://backsoon\.example/static/widget\.\w+\.css">', body)
    assert '<form method="post" action="/apps/backsoon/subscribe">' in body
    # The language comes in the signed query too.
    german = client.get(f"/storefront/proxy/p/{SWEATER}?{_proxy_query(lang='de')}").get_data(as_text=True)
    assert '<html lang="de">' in german and dict(_tags(german))["og:url"] == f"{SHARE}?lang=de"


@pytest.mark.parametrize("case", ["unsigned", "bad-signature", "unknown-product", "unknown-shop"])
def test_app_proxy_refusals_are_the_styled_404_and_change_nothing(
    db: Database, client: FlaskClient, shopify_store: int, case: str
) -> None:
    query = _proxy_query()
    path = f"/storefront/proxy/p/{SWEATER}"
    if case == "unsigned":
        query = "shop=" + SHOP
    elif case == "bad-signature":
        query = query.replace("signature=", "signature=0")
    elif case == "unknown-product":
        path = "/storefront/proxy/p/1234"
    else:
        query = query.replace(SHOP, "someone-else.myshopify.com")
    resp = client.get(f"{path}?{query}")
    assert resp.status_code == 404
    assert resp.mimetype == "text/html"
    assert "<h1>Not found</h1>" in resp.get_data(as_text=True)
    with db.session() as s:
        assert s.scalar(select(func.count()).select_from(Subscription)) == 0


@pytest.fixture
def woo_store(db: Database) -> int:
    """A French WooCommerce store with the Hoodie (images on the product and per variation) as its sync applies it."""
    product = json.loads((WOO / "product-variable-images.json").read_text())["body"]
    variations = json.loads((WOO / "product-variations-images.json").read_text())["body"]
    update = parse_product(product, variations)
    with db.session() as s:
        store = Store(platform="woocommerce", domain="http://127.0.0.1:8091", name="Live Test Shop")
        s.add(store)
        s.flush()
        # Name, site language and currency as the WooCommerce reader reports them (WordPress writes fr_FR).
        store_identity.record_reported(
            store, {"name": "Live Test Shop", "locale": "fr_FR", "currency": "EUR"}, datetime.now(UTC)
        )
        jobs = RecordingQueue()
        catalog.apply_products(s, jobs, store.id, [update.product])
        catalog.apply_inventory(s, jobs, store.id, list(update.inventory))
        recompute(s, store.id)
        return store.id


def test_woocommerce_product_canonical_is_its_permalink_and_variants_carry_their_images(
    db: Database, client: FlaskClient, woo_store: int
) -> None:
    body = client.get(f"/p/{woo_store}/14", headers={"Accept-Language": "de"}).get_data(as_text=True)
    permalink = "http://127.0.0.1:8091/product/hoodie/"
    assert _links(body, "canonical") == [(permalink,)]
    # One language (French): served in it, with no alternates; og:url is BackSoon's own page for a WooCommerce store.
    assert '<html lang="fr">' in body and _links(body, "alternate") == []
    tags = dict(_tags(body))
    assert (tags["og:url"], tags["og:site_name"], tags["og:image"]) == (
        f"https://backsoon.example/p/{woo_store}/14",
        "Live Test Shop",
        f"{UPLOADS}hoodie.jpg",
    )
    assert (tags["product:price:amount"], tags["product:availability"], tags["twitter:card"]) == (
        "45.00",
        "in stock",
        "summary_large_image",
    )
    doc = _ld(body)
    assert (doc["@type"], doc["image"], doc["variesBy"]) == (
        "ProductGroup",
        f"{UPLOADS}hoodie.jpg",
        ["https://schema.org/size"],
    )
    assert [
        (v["sku"], v["size"], v["image"], v["offers"]["url"], v["offers"]["price"], v["offers"]["availability"])
        for v in doc["hasVariant"]
    ] == [
        # The variation's own page: its attribute in the query, as the emails' buy links (WooCommerce's form
        # sanitizes a global attribute's term name before matching it).
        ("WCF-HOODIE-S", "S", f"{UPLOADS}hoodie.jpg", f"{permalink}?attribute_pa_size=S", "45.00",
         "https://schema.org/OutOfStock"),
        ("WCF-HOODIE-M", "M", f"{UPLOADS}hoodie-m.jpg", f"{permalink}?attribute_pa_size=M", "45.00",
         "https://schema.org/InStock"),
        ("WCF-HOODIE-L", "L", f"{UPLOADS}hoodie-l.jpg", f"{permalink}?attribute_pa_size=L", "49.00",
         "https://schema.org/InStock"),
    ]  # fmt: skip


@pytest.mark.parametrize("path", ["/p/{store}/nope", "/p/999999/{sweater}", "/p/{store}/"])
def test_unknown_store_or_product_is_the_styled_404(
    db: Database, client: FlaskClient, shopify_store: int, path: str
) -> None:
    resp = client.get(path.format(store=shopify_store, sweater=SWEATER))
    assert resp.status_code == 404
    assert resp.mimetype == "text/html"
    body = resp.get_data(as_text=True)
    assert "og:" not in body and "application/ld+json" not in body


def _variant_id(db: Database, store_id: int, external_id: str) -> int:
    with db.session() as s:
        found = s.scalar(select(Variant.id).where(Variant.store_id == store_id, Variant.external_id == external_id))
        assert found is not None
        return found


def test_the_admin_offers_the_shopify_stores_own_domain_address_to_share(
    db: Database, client: FlaskClient, shopify_store: int
) -> None:
    with client.session_transaction() as sess:
        sess.update(session_fields(shopify_store, 0))
    body = client.get(f"/admin/variants/{_variant_id(db, shopify_store, '49712345678125')}").get_data(as_text=True)
    assert f'<a href="{SHARE}" id="share-link">{SHARE}</a>' in body
    assert "served on your store's own domain, through the app proxy" in body
    links = re.findall(r'<li><a href="([^"]+)" hreflang="(\w+)">', body)
    assert links == [(f"{SHARE}?lang=nl", "nl"), (f"{SHARE}?lang=en", "en"), (f"{SHARE}?lang=de", "de")]
    # The address shared is the page the App Proxy serves: Shopify forwards /apps/backsoon/p/… to the proxy route.
    assert client.get(f"/storefront/proxy/p/{SWEATER}?{_proxy_query()}").status_code == 200


def test_the_admin_offers_backsoons_address_for_a_woocommerce_store(
    db: Database, client: FlaskClient, woo_store: int
) -> None:
    with client.session_transaction() as sess:
        sess.update(session_fields(woo_store, 0))
    body = client.get(f"/admin/variants/{_variant_id(db, woo_store, '16')}").get_data(as_text=True)
    url = f"https://backsoon.example/p/{woo_store}/14"
    assert f'<a href="{url}" id="share-link">{url}</a>' in body
    assert "app proxy" not in body and 'id="share-languages"' not in body  # one language: one address
    assert client.get(f"/p/{woo_store}/14").status_code == 200
