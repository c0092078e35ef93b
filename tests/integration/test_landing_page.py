"""The hosted back-soon landing page: any active store, schema.org Product/ProductGroup offers per variant, escaping,
friendly 404s. (Tags, canonical and languages from what a real sync leaves: test_landing_share.py.)"""

from __future__ import annotations

import json
import re
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import pytest
from flask.testing import FlaskClient

from app.db import Database
from app.domain.waitlist import consent
from app.models import Order, OrderLine, Product, StockEvent, StockState, Store, Variant

pytestmark = pytest.mark.integration
AT = datetime(2026, 2, 1, tzinfo=UTC)


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    """Outside demo mode, on the public app URL the landing pages link to."""
    return {"demo": False, "app_url": "https://backsoon.example"}


def _product(s: Any, store: Store, ref: str, title: str, variants: list[dict[str, Any]], **kw: Any) -> Product:
    product = Product(store_id=store.id, external_id=ref, title=title, handle=ref, **kw)
    s.add(product)
    s.flush()
    for i, spec in enumerate(variants):
        spec = dict(spec)
        sold = spec.pop("sold", False)
        restocked = spec.pop("event", False)
        v = Variant(store_id=store.id, product_id=product.id, external_id=f"{ref}-{i}", title=f"V{i}",
                    price=spec.pop("price", Decimal("30.00")), position=i,
                    sellable_quantity=spec.pop("qty", 0))  # fmt: skip
        s.add(v)
        s.flush()
        s.add(StockState(store_id=store.id, variant_id=v.id, **spec))
        if sold:
            order = Order(store_id=store.id, external_id=f"o-{ref}-{i}", ordered_at=AT)
            s.add(order)
            s.flush()
            s.add(OrderLine(store_id=store.id, order_id=order.id, variant_id=v.id, external_id=f"l-{ref}-{i}",
                            quantity=1, ordered_at=AT))  # fmt: skip
        if restocked:
            s.add(StockEvent(store_id=store.id, variant_id=v.id, kind="sellout", quantity_before=1,
                             quantity_after=0, occurred_at=AT))  # fmt: skip
    return product


def _seed(db: Database) -> dict[str, int]:
    with db.session() as s:
        shop = Store(platform="shopify", domain="nl-shop.myshopify.com", name="Winkel", currency="EUR", locale="nl-NL")
        gone = Store(platform="shopify", domain="gone.myshopify.com", name="Gone", status="uninstalled")
        s.add_all([shop, gone])
        s.flush()
        out = {"status": "out_of_stock"}
        _product(s, shop, "sold-no-eta", "Sold Out Mug", [{**out, "sold": True}], image_url="https://cdn.test/mug.png")
        first = {**out, "restock_eta": date(2026, 3, 12), "eta_source": "purchase_order", "event": True}
        second = {**out, "restock_eta": date(2026, 3, 9), "eta_source": "lead_time", "sold": True}
        _product(
            s,
            shop,
            "sold-eta",
            "Rain Jacket",
            [{**first, "price": Decimal("95")}, {**second, "price": Decimal("89.5")}],
        )
        _product(s, shop, "coming", "Coming <b>Soon</b> Lamp", [{**out, "restock_eta": date(2026, 5, 1)}])
        _product(s, shop, "coming-nodate", "Idea Lamp", [out])
        _product(
            s, shop, "backorder", "Beanie", [{"status": "backorder", "restock_eta": date(2026, 4, 3), "sold": True}]
        )
        _product(s, shop, "instock", "Tee", [{"status": "in_stock", "qty": 5, "sold": True}, {**out, "sold": True}])
        _product(s, shop, "xss", '</script><script>alert("x")</script>', [{**out, "sold": True}],
                 description='<img src=x onerror=alert(1)> & "quotes"')  # fmt: skip
        _product(s, shop, "backorder-nodate", "Scarf", [{"status": "backorder", "sold": True}, {**first}])
        _product(s, shop, "deleted", "Deleted", [out], deleted_at=AT)
        _product(s, gone, "g", "Gone Product", [out])
        return {"shop": shop.id, "gone": gone.id}


def _ld(body: str) -> dict[str, Any]:
    found = re.findall(r'<script type="application/ld\+json">(.*?)</script>', body, re.S)
    assert len(found) == 1
    doc: dict[str, Any] = json.loads(found[0])
    return doc


def _offers(client: FlaskClient, store_id: int, ref: str) -> list[dict[str, Any]]:
    """Each variant's offer: the one of a Product, or those of a ProductGroup's variants."""
    resp = client.get(f"/p/{store_id}/{ref}")
    assert resp.status_code == 200, ref
    doc = _ld(resp.get_data(as_text=True))
    if doc["@type"] == "Product":
        return [doc["offers"]]
    return [v["offers"] for v in doc["hasVariant"]]


def _page_availability(client: FlaskClient, store_id: int, ref: str) -> str:
    body = client.get(f"/p/{store_id}/{ref}").get_data(as_text=True)
    found = re.search(r'data-availability="(\w+)"', body)
    assert found is not None
    return found.group(1)


def test_sold_out_product_page_has_product_offer_out_of_stock(db: Database, client: FlaskClient) -> None:
    ids = _seed(db)
    resp = client.get(f"/p/{ids['shop']}/sold-no-eta")
    assert resp.status_code == 200
    assert resp.mimetype == "text/html"
    body = resp.get_data(as_text=True)
    # The merchant's own page is the canonical one: the search value goes to the store, not to BackSoon.
    url = "https://nl-shop.myshopify.com/products/sold-no-eta"
    assert _ld(body) == {
        "@context": "https://schema.org",
        "@type": "Product",
        "name": "Sold Out Mug",
        "url": url,
        "image": "https://cdn.test/mug.png",
        "offers": {"@type": "Offer", "url": f"{url}?variant=sold-no-eta-0", "price": "30.00", "priceCurrency": "EUR",
                   "availability": "https://schema.org/OutOfStock"},
    }  # fmt: skip
    assert '<html lang="nl">' in body
    assert f'<link rel="canonical" href="{url}">' in body
    assert 'data-locale="nl"' in body and 'data-source="landing"' in body
    assert f'data-api="/storefront/v1/stores/{ids["shop"]}"' in body
    agreed = consent("nl", "Winkel")
    assert f'data-consent-version="{agreed.version}"' in body
    assert "Mail me één keer wanneer dit artikel weer op voorraad is. Winkel gebruikt" in agreed.text
    assert agreed.text in body
    assert '<img src="https://cdn.test/mug.png" alt="Sold Out Mug">' in body
    # The no-JavaScript fallback posts form-encoded to the same API.
    assert f'<form method="post" action="/storefront/v1/stores/{ids["shop"]}/subscriptions">' in body


@pytest.mark.parametrize(
    ("ref", "availability", "offers"),
    [
        # Sold out and not oversellable: it cannot be bought, whatever the date; each variant keeps its own date.
        ("sold-eta", "OutOfStock", [("OutOfStock", "2026-03-12"), ("OutOfStock", "2026-03-09")]),
        # Never stocked is no pre-order (the catalogue has none): it cannot be bought either.
        ("coming", "OutOfStock", [("OutOfStock", "2026-05-01")]),
        ("coming-nodate", "OutOfStock", [("OutOfStock", None)]),
        ("backorder", "BackOrder", [("BackOrder", "2026-04-03")]),
        ("instock", "InStock", [("InStock", None), ("OutOfStock", None)]),
        # The sold-out variant's 2026-03-12 is not when the backordered one ships: that one has no date.
        ("backorder-nodate", "BackOrder", [("BackOrder", None), ("OutOfStock", "2026-03-12")]),
    ],
)
def test_availability_and_date_per_variant(
    db: Database, client: FlaskClient, ref: str, availability: str, offers: list[tuple[str, str | None]]
) -> None:
    ids = _seed(db)
    assert _page_availability(client, ids["shop"], ref) == availability
    found = _offers(client, ids["shop"], ref)
    assert [(o["availability"], o.get("availabilityDate")) for o in found] == [
        (f"https://schema.org/{kind}", day) for kind, day in offers
    ]


def _exact_offer(ref: str, index: int, price: str, availability: str) -> dict[str, Any]:
    url = f"https://nl-shop.myshopify.com/products/{ref}?variant={ref}-{index}"
    return {"@type": "Offer", "url": url, "price": price, "priceCurrency": "EUR",
            "availability": f"https://schema.org/{availability}"}  # fmt: skip


def test_sold_out_variants_are_out_of_stock_with_their_own_dates(db: Database, client: FlaskClient) -> None:
    ids = _seed(db)
    body = client.get(f"/p/{ids['shop']}/sold-eta").get_data(as_text=True)
    doc = _ld(body)
    assert doc["@type"] == "ProductGroup"
    assert [v["offers"] for v in doc["hasVariant"]] == [
        {**_exact_offer("sold-eta", 0, "95.00", "OutOfStock"), "availabilityDate": "2026-03-12"},
        {**_exact_offer("sold-eta", 1, "89.50", "OutOfStock"), "availabilityDate": "2026-03-09"},
    ]
    assert 'data-availability="OutOfStock"' in body
    assert "BackOrder" not in body and "PreOrder" not in body


def test_never_stocked_product_without_a_date_is_out_of_stock_without_a_date(db: Database, client: FlaskClient) -> None:
    ids = _seed(db)
    body = client.get(f"/p/{ids['shop']}/coming-nodate").get_data(as_text=True)
    assert _ld(body)["offers"] == _exact_offer("coming-nodate", 0, "30.00", "OutOfStock")
    assert "availabilityDate" not in body and "PreOrder" not in body


def test_never_stocked_product_not_yet_assessed_is_out_of_stock(db: Database, client: FlaskClient) -> None:
    ids = _seed(db)
    with db.session() as s:
        product = Product(store_id=ids["shop"], external_id="new", title="New Lamp", handle="new")
        s.add(product)
        s.flush()
        s.add(Variant(store_id=ids["shop"], product_id=product.id, external_id="new-0", title="V0",
                      price=Decimal("12"), position=0, sellable_quantity=0))  # fmt: skip
    assert _offers(client, ids["shop"], "new") == [_exact_offer("new", 0, "12.00", "OutOfStock")]


def test_each_variant_offers_its_own_price_and_the_tags_the_lowest(db: Database, client: FlaskClient) -> None:
    ids = _seed(db)
    assert [o["price"] for o in _offers(client, ids["shop"], "sold-eta")] == ["95.00", "89.50"]
    body = client.get(f"/p/{ids['shop']}/sold-eta").get_data(as_text=True)
    assert '<meta property="product:price:amount" content="89.50">' in body


def test_everything_is_escaped(db: Database, client: FlaskClient) -> None:
    ids = _seed(db)
    body = client.get(f"/p/{ids['shop']}/xss").get_data(as_text=True)
    assert '<script>alert("x")</script>' not in body
    assert "<img src=x" not in body
    assert "&lt;/script&gt;&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in body
    # Inside JSON-LD nothing can close the script element.
    raw = re.search(r'<script type="application/ld\+json">(.*?)</script>', body, re.S)
    assert raw is not None and "<" not in raw.group(1) and "\\u003c/script\\u003e" in raw.group(1)
    doc = _ld(body)
    assert doc["name"] == '</script><script>alert("x")</script>'
    # Descriptions are the text of the product's HTML: the markup is dropped, the text kept.
    assert doc["description"] == '& "quotes"'
    assert '<meta property="og:description" content="&amp; &#34;quotes&#34;">' in body


def test_coming_soon_title_markup_is_text(db: Database, client: FlaskClient) -> None:
    ids = _seed(db)
    body = client.get(f"/p/{ids['shop']}/coming").get_data(as_text=True)
    assert "<h1>Coming &lt;b&gt;Soon&lt;/b&gt; Lamp</h1>" in body


@pytest.mark.parametrize(
    "path",
    [
        "/p/{shop}/nope",
        "/p/{shop}/deleted",
        "/p/{gone}/g",
        "/p/999999999/x",
        "/p/99999999999999999999999/x",
        "/p/0/x",
        "/p/{shop}/" + "y" * 500,
        "/p/abc/x",
    ],
)
def test_unknown_store_or_product_is_a_404_html_page(db: Database, client: FlaskClient, path: str) -> None:
    ids = _seed(db)
    resp = client.get(path.format(**ids))
    assert resp.status_code == 404
    assert resp.mimetype == "text/html"
    assert "<h1>Not found</h1>" in resp.get_data(as_text=True)
