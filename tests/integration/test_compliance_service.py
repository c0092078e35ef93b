"""Privacy requests: export and erase one shopper, erase a whole shop; other shoppers and stores untouched."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import func, select

from app.db import Database
from app.models import ConsentRecord, Order, StockState, StockStateHistory, Store, Subscription, Variant
from app.services.merchant import compliance
from app.services.stock.recompute import recompute
from tests.factories import add_sale, make_store, make_variant

pytestmark = pytest.mark.integration

AT = datetime(2026, 11, 1, 9, 30, tzinfo=UTC)


def _subscribe(s: object, variant: Variant, email: str) -> Subscription:
    from sqlalchemy.orm import Session

    assert isinstance(s, Session)
    sub = Subscription(
        store_id=variant.store_id, variant_id=variant.id, email=email, locale="nl", storefront_root="/nl", created_at=AT
    )
    s.add(sub)
    s.flush()
    s.add(
        ConsentRecord(
            store_id=variant.store_id,
            subscription_id=sub.id,
            kind="signup",
            text_version="v1",
            text="Email me when it is back",
            given_at=AT,
        )
    )
    return sub


def test_export_then_redact_one_customer(db: Database) -> None:
    with db.session() as s:
        store = make_store(s)
        other_store = make_store(s)
        v = make_variant(s, store, qty=0, sku="MCS-S", title="S")
        ov = make_variant(s, other_store, qty=0)
        _subscribe(s, v, "maya.chen@example.com")
        _subscribe(s, v, "sam.ortiz@example.com")
        _subscribe(s, ov, "maya.chen@example.com")
        line = add_sale(s, v, 1, days_ago=3)
        order = s.get(Order, line.order_id)
        assert order is not None
        order.email, order.customer_external_id, order.name = "maya.chen@example.com", "cust-1", "#1042"
        sid, osid = store.id, other_store.id
    with db.session() as s:
        export = compliance.export_customer(s, sid, "Maya.Chen@example.com ", None)
    assert export["orders"] == [
        {"order": "#1042", "email": "maya.chen@example.com", "ordered_at": "2026-11-17T12:00:00+00:00"}
    ]
    assert [
        (x["sku"], x["state"], x["locale"], x["storefront_root"], x["subscribed_at"])
        for x in export["waitlist_subscriptions"]
    ] == [("MCS-S", "active", "nl", "/nl", "2026-11-01T09:30:00+00:00")]
    assert export["waitlist_subscriptions"][0]["consents"] == [
        {
            "kind": "signup",
            "text_version": "v1",
            "text": "Email me when it is back",
            "given_at": "2026-11-01T09:30:00+00:00",
        }
    ]

    with db.session() as s:
        result = compliance.redact_customer(s, sid, "maya.chen@example.com", "cust-1", ["999"])
        compliance.record_request(
            s,
            store_id=sid,
            platform="shopify",
            shop_domain="x.myshopify.com",
            kind="customers/redact",
            external_id="r1",
            email="maya.chen@example.com",
            counts={"subscriptions": result.subscriptions, "orders": result.orders},
        )
    assert result == compliance.Redacted(subscriptions=1, orders=1)
    with db.session() as s:
        remaining = s.execute(select(Subscription.store_id, Subscription.email).order_by(Subscription.id)).all()
        assert [tuple(r) for r in remaining] == [(sid, "sam.ortiz@example.com"), (osid, "maya.chen@example.com")]
        assert s.scalar(select(func.count()).select_from(ConsentRecord)) == 2
        o = s.execute(select(Order.email, Order.customer_external_id, Order.name)).one()
        assert tuple(o) == (None, None, "#1042")


def test_redact_shop_removes_everything_of_that_store_only(db: Database) -> None:
    with db.session() as s:
        store = make_store(s)
        keep = make_store(s)
        _subscribe(s, make_variant(s, store, qty=0), "a@example.com")
        _subscribe(s, make_variant(s, keep, qty=0), "b@example.com")
        sid, kid = store.id, keep.id
    for store_id in (sid, kid):
        with db.session() as s:
            recompute(s, store_id)
    with db.session() as s:
        assert compliance.redact_shop(s, sid) is True
        assert compliance.redact_shop(s, sid) is False
    with db.session() as s:
        assert s.scalars(select(Store.id)).all() == [kid]
        assert s.scalars(select(Subscription.email)).all() == ["b@example.com"]
        assert s.scalar(select(func.count()).select_from(Variant)) == 1
        # Stock states and their history go with the store's variants.
        assert s.scalars(select(StockState.store_id)).all() == [kid]
        assert s.scalars(select(StockStateHistory.store_id)).all() == [kid]


def test_nothing_to_match_erases_nothing(db: Database) -> None:
    with db.session() as s:
        store = make_store(s)
        _subscribe(s, make_variant(s, store, qty=0), "a@example.com")
        sid = store.id
    with db.session() as s:
        assert compliance.redact_customer(s, sid, None, None) == compliance.Redacted(0, 0)
        assert compliance.export_customer(s, sid, None, None) == {"waitlist_subscriptions": [], "orders": []}
    with db.session() as s:
        assert s.scalar(select(func.count()).select_from(Subscription)) == 1
