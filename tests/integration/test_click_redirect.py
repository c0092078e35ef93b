"""The restock email's buy link: /r/<token> records the click and redirects to the product."""

from __future__ import annotations

from typing import Any

import pytest
from flask.testing import FlaskClient

from app.db import Database
from app.infra.links import buy_token, unsubscribe_token
from app.models import Delivery, Product, StockEvent, Subscription
from tests.factories import NOW, make_store, make_variant

pytestmark = pytest.mark.integration

SECRET = "test-secret-for-buy-links"


def _delivery(
    db: Database,
    platform: str,
    url: str | None = None,
    handle: str = "",
    root: str | None = None,
    *,
    domain: str | None = None,
    link_params: dict[str, str] | None = None,
) -> int:
    with db.session() as s:
        store = make_store(s, platform=platform, domain=domain or f"{platform}-shop.example")
        product = Product(store_id=store.id, external_id="8001", title="Tee", url=url, handle=handle)
        s.add(product)
        s.flush()
        v = make_variant(s, store, product=product, external_id="4242", link_params=link_params or {})
        sub = Subscription(
            store_id=store.id, variant_id=v.id, email="ann@example.com", state="notified", storefront_root=root
        )
        event = StockEvent(store_id=store.id, variant_id=v.id, kind="restock", quantity_before=0, quantity_after=3)
        s.add_all([sub, event])
        s.flush()
        d = Delivery(
            store_id=store.id,
            subscription_id=sub.id,
            stock_event_id=event.id,
            status="sent",
            claimed_at=NOW,
            sent_at=NOW,
        )
        s.add(d)
        s.flush()
        return d.id


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    """The secret the buy links are signed with."""
    return {"secret_key": SECRET}


def _clicks(db: Database, delivery_id: int) -> tuple[int, Any]:
    with db.session() as s:
        d = s.get(Delivery, delivery_id)
        assert d is not None
        return d.clicks, d.clicked_at


def test_demo_link_records_the_click_and_redirects_to_the_demo_shop(client: FlaskClient, db: Database) -> None:
    did = _delivery(db, "demo", url="https://demo.example/products/tee")
    resp = client.get(f"/r/{buy_token(SECRET, did)}")
    assert resp.status_code == 302
    assert resp.headers["Location"] == "/demo/shop/products/8001?variant=4242"
    assert resp.headers["Cache-Control"] == "no-store"
    clicks, first = _clicks(db, did)
    assert clicks == 1 and first is not None
    assert client.get(f"/r/{buy_token(SECRET, did)}").status_code == 302
    assert _clicks(db, did) == (2, first)


@pytest.mark.parametrize(
    ("platform", "url", "handle", "location"),
    [
        ("shopify", "https://shop.example/products/tee", "", "https://shop.example/products/tee?variant=4242"),
        (
            "shopify",
            "https://shop.example/products/tee?utm_source=x&variant=1",
            "",
            "https://shop.example/products/tee?utm_source=x&variant=4242",
        ),
        ("shopify", None, "tee", "https://shopify-shop.example/products/tee?variant=4242"),
        ("woocommerce", "https://woo.example/product/tee/", "", "https://woo.example/product/tee/"),
        ("woocommerce", None, "", "https://woocommerce-shop.example/?p=8001"),
        ("woocommerce", "javascript:alert(1)", "", "https://woocommerce-shop.example/?p=8001"),
    ],
)
def test_platform_links_lead_to_the_product_page(
    client: FlaskClient, db: Database, platform: str, url: str | None, handle: str, location: str
) -> None:
    did = _delivery(db, platform, url=url, handle=handle)
    resp = client.get(f"/r/{buy_token(SECRET, did)}")
    assert (resp.status_code, resp.headers["Location"]) == (302, location)
    assert _clicks(db, did)[0] == 1


@pytest.mark.parametrize(
    ("url", "location"),
    [
        (
            "https://woo.example/product/hoodie/",
            "https://woo.example/product/hoodie/?attribute_color=Grey&attribute_pa_size=L",
        ),
        # Plain permalinks keep their own query; a stale attribute in it is replaced.
        (
            "https://woo.example/?product=hoodie&attribute_pa_size=S",
            "https://woo.example/?product=hoodie&attribute_color=Grey&attribute_pa_size=L",
        ),
        (None, "https://woo.example/wp/?p=8001&attribute_color=Grey&attribute_pa_size=L"),
    ],
)
def test_a_woocommerce_buy_link_opens_the_exact_variation(
    client: FlaskClient, db: Database, url: str | None, location: str
) -> None:
    did = _delivery(
        db,
        "woocommerce",
        url=url,
        domain="https://woo.example/wp",
        link_params={"attribute_pa_size": "L", "attribute_color": "Grey"},
    )
    resp = client.get(f"/r/{buy_token(SECRET, did)}")
    assert (resp.status_code, resp.headers["Location"]) == (302, location)


@pytest.mark.parametrize(
    ("platform", "url", "handle", "root", "location"),
    [
        # A Dutch shopper who signed up under /nl gets the Dutch page; a market subfolder is kept too.
        (
            "shopify",
            "https://shop.example/products/tee",
            "",
            "/nl",
            "https://shop.example/nl/products/tee?variant=4242",
        ),
        ("shopify", None, "tee", "/en-ca", "https://shopify-shop.example/en-ca/products/tee?variant=4242"),
        # Already under that root: not doubled.
        (
            "shopify",
            "https://shop.example/nl/products/tee",
            "",
            "/nl",
            "https://shop.example/nl/products/tee?variant=4242",
        ),
        # Whatever else was stored never reaches the redirect: only a locale root is ever a prefix.
        (
            "shopify",
            "https://shop.example/products/tee",
            "",
            "//evil.example",
            "https://shop.example/products/tee?variant=4242",
        ),
        (
            "shopify",
            "https://shop.example/products/tee",
            "",
            "/account/logout",
            "https://shop.example/products/tee?variant=4242",
        ),
        # WooCommerce language plugins have their own URL schemes: its permalink is used as is.
        ("woocommerce", "https://woo.example/product/tee/", "", "/de", "https://woo.example/product/tee/"),
    ],
)
def test_shopify_links_lead_back_under_the_shoppers_storefront_root(
    client: FlaskClient, db: Database, platform: str, url: str | None, handle: str, root: str, location: str
) -> None:
    did = _delivery(db, platform, url=url, handle=handle, root=root)
    resp = client.get(f"/r/{buy_token(SECRET, did)}")
    assert (resp.status_code, resp.headers["Location"]) == (302, location)
    assert _clicks(db, did)[0] == 1


def _tampered(token: str) -> str:
    # One character inside the signature changed: its last character carries spare bits of the base64 encoding, and
    # replacing the tail with fixed text gives back the very token whenever it already ended that way.
    i = len(token) - 5
    return token[:i] + ("B" if token[i] == "A" else "A") + token[i + 1 :]


@pytest.mark.parametrize("kind", ["forged", "other_secret", "unsubscribe_token", "unknown_delivery", "garbage"])
def test_bad_tokens_are_a_404_page_and_record_nothing(client: FlaskClient, db: Database, kind: str) -> None:
    did = _delivery(db, "demo")
    token = {
        "forged": _tampered(buy_token(SECRET, did)),
        "other_secret": buy_token("another-secret", did),
        "unsubscribe_token": unsubscribe_token(SECRET, did),
        "unknown_delivery": buy_token(SECRET, did + 1000),
        "garbage": "%00<script>" + "a" * 2000,
    }[kind]
    resp = client.get(f"/r/{token}")
    assert resp.status_code == 404
    assert resp.mimetype == "text/html"
    assert "This link is not valid" in resp.get_data(as_text=True)
    json_resp = client.get(f"/r/{token}", headers={"Accept": "application/json"})
    assert json_resp.status_code == 404
    assert json_resp.get_json()["error"]["code"] == "not_found"
    assert _clicks(db, did) == (0, None)


def test_head_probe_redirects_without_counting(client: FlaskClient, db: Database) -> None:
    did = _delivery(db, "demo")
    resp = client.head(f"/r/{buy_token(SECRET, did)}")
    assert resp.status_code == 302
    assert _clicks(db, did) == (0, None)
