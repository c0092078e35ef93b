"""The demo shop pages: grid with badges, product page with the widget mount, demo mode only."""

from __future__ import annotations

import html
import json
import re
from datetime import date
from decimal import Decimal
from typing import Any

import pytest
from flask.testing import FlaskClient

from app.db import Database
from app.domain.waitlist import consent
from app.models import Product, StockState, Store, Variant
from tests.conftest import AppFactory, hashed_name

pytestmark = pytest.mark.integration


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    """Demo mode: the demo shop pages answer."""
    return {"demo": True}


def _seed(db: Database) -> dict[str, Any]:
    with db.session() as s:
        demo = Store(platform="demo", domain="demo.backsoon.local", name="Northwind Goods", currency="EUR")
        other = Store(platform="shopify", domain="other.myshopify.com", name="Other")
        s.add_all([demo, other])
        s.flush()
        jacket = Product(store_id=demo.id, external_id="p-jacket", title="Rain Jacket")
        mug = Product(store_id=demo.id, external_id="p-mug", title="Mug <Limited>")
        plain = Product(store_id=demo.id, external_id="p-plain", title="Plain Tee")
        foreign = Product(store_id=other.id, external_id="p-foreign", title="Foreign")
        s.add_all([jacket, mug, plain, foreign])
        s.flush()
        rows = {
            "m": (jacket, "M", Decimal("89.00"),
                  {"status": "low_stock", "badge_kind": "only_n_left", "badge_quantity": 2}),
            "l": (jacket, "L", Decimal("95.00"), {"status": "out_of_stock", "restock_eta": date(2026, 3, 12),
                                                  "eta_source": "purchase_order"}),
            "mug": (mug, "Default Title", Decimal("12.50"),
                    {"status": "out_of_stock", "restock_eta": date(2026, 4, 1)}),
            "tee": (plain, "Default Title", Decimal("19.00"), {"status": "in_stock"}),
            "f": (foreign, "Default Title", Decimal("1.00"), {"status": "in_stock"}),
        }  # fmt: skip
        ids = {}
        for pos, (key, (product, title, price, state)) in enumerate(rows.items()):
            v = Variant(store_id=product.store_id, product_id=product.id, external_id=f"v-{key}", title=title,
                        price=price, position=pos)  # fmt: skip
            s.add(v)
            s.flush()
            s.add(StockState(store_id=product.store_id, variant_id=v.id, **state))
            ids[key] = v.id
        return {"demo": demo.id, "other": other.id, "v": ids}


def _mount(body: str) -> dict[str, str]:
    tag = re.search(r'<div id="backsoon-root"([^>]*)>', body, re.S)
    assert tag is not None
    return {k: html.unescape(v) for k, v in re.findall(r'data-([a-z-]+)="([^"]*)"', tag.group(1))}


def test_shop_pages_are_404_outside_demo_mode(db: Database, make_app: AppFactory) -> None:
    _seed(db)
    client = make_app(demo=False).test_client()
    for path in ("/demo/shop/", "/demo/shop/products/p-jacket"):
        resp = client.get(path)
        assert resp.status_code == 404
        assert resp.mimetype == "text/html"


def test_grid_lists_products_with_badges_story_first(db: Database, client: FlaskClient) -> None:
    _seed(db)
    resp = client.get("/demo/shop/")
    assert resp.status_code == 200
    body = resp.get_data(as_text=True)
    order = re.findall(r'<li class="card" data-product="([^"]+)"', body)
    # Sold out with an ETA, then low stock, then the rest; the other store's product never shows.
    assert order == ["p-mug", "p-jacket", "p-plain"]
    assert '<span class="bs-badge bs-badge--only_n_left">Only 2 left</span>' in body
    assert 'Back soon · <time datetime="2026-04-01">2026-04-01</time>' in body
    assert "Mug &lt;Limited&gt;" in body and "Mug <Limited>" not in body
    # Written as the product page writes it: the store reported no money format, so "<amount> <currency>".
    assert '<p class="price">12.50 EUR</p>' in body


def test_product_page_mounts_the_widget_with_server_rendered_states(db: Database, client: FlaskClient) -> None:
    ids = _seed(db)
    resp = client.get("/demo/shop/products/p-jacket?variant=v-l")
    assert resp.status_code == 200
    body = resp.get_data(as_text=True)
    mount = _mount(body)
    assert mount["store"] == str(ids["demo"])
    assert mount["product"] == "p-jacket"
    assert mount["variant"] == "v-l"
    assert mount["api"] == f"/storefront/v1/stores/{ids['demo']}"
    assert mount["locale"] == "en"
    assert mount["buy-area"] == "#buy-area"
    assert mount["consent-version"] == consent("en", "Northwind Goods").version
    assert mount["source"] == "widget"
    assert json.loads(mount["states"]) == {
        "v-m": {"status": "low_stock", "badge": {"kind": "only_n_left", "quantity": 2}, "restock_eta": None,
                "eta_source": None, "back_soon": False, "v": 1},
        "v-l": {"status": "out_of_stock", "badge": {"kind": "none", "quantity": None}, "restock_eta": "2026-03-12",
                "eta_source": "purchase_order", "back_soon": True, "v": 1},
    }  # fmt: skip
    assert '<div id="buy-area" class="buy-area">' in body and ">Add to cart</button>" in body
    # The restock button of the selected sold-out variant is shown; the other variant's is hidden.
    restock = re.findall(
        r'<form method="post" action="/demo/restock/(\d+)"[^>]*?data-variant="([^"]+)"\s*(hidden)?', body
    )
    assert restock == [(str(ids["v"]["m"]), "v-m", "hidden"), (str(ids["v"]["l"]), "v-l", "")]
    assert 'href="/demo/mail"' in body
    assert f'href="/p/{ids["demo"]}/p-jacket"' in body
    assert f'<script src="/static/{hashed_name("widget.js")}" defer></script>' in body
    # Written as the store writes amounts; without a reported money format, "95.00 EUR".
    assert '<p class="price" id="price" data-currency="EUR">95.00 EUR</p>' in body


def test_product_page_defaults_to_first_buyable_variant(db: Database, client: FlaskClient) -> None:
    _seed(db)
    for query in ("", "?variant=nope", "?variant=v-f"):
        body = client.get(f"/demo/shop/products/p-jacket{query}").get_data(as_text=True)
        assert _mount(body)["variant"] == "v-m"
        assert re.search(
            r'value="v-m" data-backsoon-variant\s+data-price="89.00" data-price-text="89.00 EUR" checked', body
        )


@pytest.mark.parametrize("path", ["/demo/shop/products/p-foreign", "/demo/shop/products/nope",
                                  "/demo/shop/products/" + "x" * 300])  # fmt: skip
def test_unknown_or_foreign_product_is_a_404_page(db: Database, client: FlaskClient, path: str) -> None:
    _seed(db)
    resp = client.get(path)
    assert resp.status_code == 404
    assert "The demo shop has no such product." in resp.get_data(as_text=True)
