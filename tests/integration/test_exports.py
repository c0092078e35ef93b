"""Admin exports: streamed CSV with exact rows, the formula-injection guard, store isolation, sign-in required."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from app.db import Database
from app.models import ConsentRecord, Store, Subscription
from app.services.merchant.exports import safe_cell
from app.services.stock.recompute import recompute
from app.web.admin.auth import session_fields
from tests.factories import add_sale, make_store, make_variant

pytestmark = pytest.mark.integration

GIVEN = datetime(2026, 11, 1, 9, 30, tzinfo=UTC)


def signed_in(app: Flask, store_id: int) -> FlaskClient:
    """A test client with a standalone admin session for the store and a known CSRF token."""
    client = app.test_client()
    with client.session_transaction() as sess:
        sess.update(session_fields(store_id, 0))
        sess["admin_csrf"] = "t" * 43
    return client


CSRF = {"csrf_token": "t" * 43}


@dataclass
class Shops:
    app: Flask
    db: Database
    a: int
    b: int
    a_variants: tuple[int, int]
    b_variant: int
    subs: tuple[int, int]


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    """Admin links on the test app URL."""
    return {"app_url": "http://backsoon.test"}


@pytest.fixture
def shops(db: Database, app: Flask) -> Iterator[Shops]:
    now = datetime.now(UTC)
    with db.session() as s:
        a = make_store(s, platform="woocommerce", name="Shop A", domain="a.example")
        b = make_store(s, platform="woocommerce", name="Shop B", domain="b.example")
        sold_out = make_variant(s, a, qty=0, sku='=HYPERLINK("x")', title="Red")
        healthy = make_variant(s, a, qty=500, sku="TEE-M", title="M")
        add_sale(s, healthy, 1, days_ago=1, now=now)
        other = make_variant(s, b, qty=0, sku="B-ONLY", title="Blue")
        sub1 = Subscription(store_id=a.id, variant_id=sold_out.id, email="+1@shop.test", state="active")
        sub2 = Subscription(store_id=a.id, variant_id=sold_out.id, email="ann@shop.test", state="notified")
        sub_b = Subscription(store_id=b.id, variant_id=other.id, email="bob@b.test", state="active")
        s.add_all([sub1, sub2, sub_b])
        s.flush()
        for sub, kind in ((sub1, "signup"), (sub1, "confirmation"), (sub_b, "signup")):
            s.add(
                ConsentRecord(
                    store_id=sub.store_id,
                    subscription_id=sub.id,
                    kind=kind,
                    text_version="v1",
                    text='Email me, "once"',
                    ip_hash="abc",
                    given_at=GIVEN,
                )
            )
        s.flush()
        for sub in (sub1, sub2, sub_b):
            sub.created_at = GIVEN
        recompute(s, a.id, now=now)
        recompute(s, b.id, now=now)
        ids = (a.id, b.id, (sold_out.id, healthy.id), other.id, (sub1.id, sub2.id))
    yield Shops(app, db, *ids)


def test_safe_cell_neutralises_formulas_but_not_numbers() -> None:
    assert [safe_cell(v) for v in ("=1+1", "+31 6", "-x", "@SUM", "\tx", "plain", -3, None, 1.5, True)] == [
        "'=1+1",
        "'+31 6",
        "'-x",
        "'@SUM",
        "'\tx",
        "plain",
        "-3",
        "",
        "1.5",
        "true",
    ]


def test_anonymous_is_sent_to_sign_in_and_gets_no_rows(shops: Shops) -> None:
    resp = shops.app.test_client().get("/admin/exports/subscribers.csv")
    assert resp.status_code == 302
    assert resp.headers["Location"].startswith("/admin/login")
    assert "@" not in resp.get_data(as_text=True)


def test_subscribers_export_is_streamed_with_consent_rows(shops: Shops) -> None:
    resp = signed_in(shops.app, shops.a).get("/admin/exports/subscribers.csv")
    assert resp.status_code == 200
    assert resp.is_streamed
    assert resp.mimetype == "text/csv"
    assert resp.headers["Content-Disposition"].startswith('attachment; filename="backsoon-a-example-subscribers-')
    lines = resp.get_data(as_text=True).split("\r\n")
    s1, s2 = shops.subs
    v = shops.a_variants[0]
    product = f"Product {_product_no(shops, v)}"
    assert lines[0] == (
        "subscription_id,email,state,skip_reason,source,locale,variant_id,sku,product_title,variant_title,"
        "subscribed_at,confirmed_at,notified_at,unsubscribed_at,converted_at,consent_kind,consent_text_version,"
        "consent_text,consent_given_at,consent_ip_hash"
    )
    given = "2026-11-01T09:30:00+00:00"
    sku = '"\'=HYPERLINK(""x"")"'
    assert lines[1:] == [
        f"{s1},'+1@shop.test,active,,widget,en,{v},{sku},{product},Red,{given},,,,,signup,v1,"
        f'"Email me, ""once""",{given},abc',
        f"{s1},'+1@shop.test,active,,widget,en,{v},{sku},{product},Red,{given},,,,,confirmation,v1,"
        f'"Email me, ""once""",{given},abc',
        f"{s2},ann@shop.test,notified,,widget,en,{v},{sku},{product},Red,{given},,,,,,,,,",
        "",
    ]
    assert "bob@b.test" not in resp.get_data(as_text=True)


def _product_no(shops: Shops, variant_id: int) -> str:
    from app.models import Product, Variant

    with shops.db.session() as s:
        variant = s.get(Variant, variant_id)
        assert variant is not None
        product = s.get(Product, variant.product_id)
        assert product is not None
        return product.title.removeprefix("Product ")


def test_at_risk_and_demand_exports_hold_only_this_stores_variants(shops: Shops) -> None:
    client = signed_in(shops.app, shops.a)
    v = shops.a_variants[0]
    product = f"Product {_product_no(shops, v)}"
    at_risk = client.get("/admin/exports/at-risk.csv").get_data(as_text=True).split("\r\n")
    assert at_risk[0].startswith("variant_id,sku,product_title,variant_title,status,sellable_quantity,")
    assert len(at_risk) == 3 and at_risk[2] == ""
    today = datetime.now(UTC).date()
    dates = ",".join(d.isoformat() for d in (today, today - timedelta(days=21)))
    sku = '"\'=HYPERLINK(""x"")"'
    # No purchase order and only the store's default 14-day lead time: no restock date (the empty column).
    assert at_risk[1] == f"{v},{sku},{product},Red,out_of_stock,0,0.0,0.0,14,{dates},1,0,,pause,out_of_stock,1"
    demand = client.get("/admin/exports/demand.csv").get_data(as_text=True).split("\r\n")
    assert demand[0] == (
        "variant_id,sku,product_title,variant_title,waitlist_open,status,sellable_quantity,incoming_quantity,"
        "restock_eta,reorder_by,suggested_reorder_qty,priority"
    )
    assert [line.split(",")[0] for line in demand[1:-1]] == [str(v)]
    assert demand[1].split(",")[4:7] == ["1", "out_of_stock", "0"]
    # Store B sees its own variant, never A's.
    b_rows = signed_in(shops.app, shops.b).get("/admin/exports/at-risk.csv").get_data(as_text=True)
    assert str(shops.b_variant) in b_rows and "HYPERLINK" not in b_rows and "TEE-M" not in b_rows


def test_unknown_export_is_a_404(shops: Shops) -> None:
    assert signed_in(shops.app, shops.a).get("/admin/exports/orders.csv").status_code == 404


def test_exports_page_lists_downloads(shops: Shops) -> None:
    resp = signed_in(shops.app, shops.a).get("/admin/exports")
    html = resp.get_data(as_text=True)
    assert resp.status_code == 200
    for kind in ("subscribers", "at-risk", "demand"):
        assert f'href="/admin/exports/{kind}.csv"' in html
    assert 'id="feed-off"' in html
    assert isinstance(shops.app, Flask) and Store is not None
