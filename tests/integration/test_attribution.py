"""Attribution: orders matched to restock emails (direct/assisted, window, refunds), and the admin report."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.db import Database
from app.models import Delivery, Order, OrderLine, StockEvent, Store, StoreSetting, Subscription, Variant
from app.services.merchant.api_keys import hash_api_key
from app.services.notify.attribution import attribute_orders
from tests.factories import NOW, make_store, make_variant

pytestmark = pytest.mark.integration

SENT = NOW - timedelta(days=10)
_n = iter(range(1, 10_000))


def _delivery(
    s: Session,
    variant: Variant,
    email: str = "ann@example.com",
    *,
    sent_at: datetime = SENT,
    clicked: datetime | None = None,
) -> Delivery:
    sub = s.execute(
        select(Subscription).where(Subscription.variant_id == variant.id, Subscription.email == email)
    ).scalar_one_or_none()
    if sub is None:
        sub = Subscription(store_id=variant.store_id, variant_id=variant.id, email=email, state="notified")
        s.add(sub)
        s.flush()
    event = StockEvent(
        store_id=variant.store_id,
        variant_id=variant.id,
        kind="restock",
        quantity_before=0,
        quantity_after=5,
        occurred_at=sent_at,
        fanout_status="done",
    )
    s.add(event)
    s.flush()
    d = Delivery(
        store_id=variant.store_id,
        subscription_id=sub.id,
        stock_event_id=event.id,
        status="sent",
        claimed_at=sent_at,
        sent_at=sent_at,
        clicked_at=clicked,
        clicks=1 if clicked else 0,
    )
    s.add(d)
    s.flush()
    return d


def _order(
    s: Session,
    store: Store,
    email: str | None,
    at: datetime,
    lines: list[tuple[Variant, int, str, int]],
    *,
    cancelled: bool = False,
) -> Order:
    n = next(_n)
    order = Order(
        store_id=store.id, external_id=f"ord{n}", email=email, ordered_at=at, cancelled_at=at if cancelled else None
    )
    s.add(order)
    s.flush()
    for i, (variant, qty, price, refunded) in enumerate(lines):
        s.add(
            OrderLine(
                store_id=store.id,
                order_id=order.id,
                variant_id=variant.id,
                external_id=f"l{n}-{i}",
                quantity=qty,
                refunded_quantity=refunded,
                price=Decimal(price),
                ordered_at=at,
                cancelled=cancelled,
            )
        )
    s.flush()
    return order


def _state(s: Session, d: Delivery) -> dict[str, Any]:
    s.expire_all()
    d = s.get(Delivery, d.id)  # type: ignore[assignment]
    sub = s.get(Subscription, d.subscription_id)
    assert sub is not None
    return {
        "converted_at": d.converted_at,
        "order": d.converted_order_id,
        "kind": d.conversion_kind,
        "revenue": d.revenue,
        "sub_state": sub.state,
        "sub_order": sub.converted_order_id,
    }


NOTHING = {
    "converted_at": None,
    "order": None,
    "kind": None,
    "revenue": None,
    "sub_state": "notified",
    "sub_order": None,
}


def test_direct_conversion_when_clicked_before_the_order(db: Database) -> None:
    with db.session() as s:
        store = make_store(s)
        v = make_variant(s, store)
        other = make_variant(s, store)
        d = _delivery(s, v, clicked=SENT + timedelta(hours=1))
        o = _order(s, store, "Ann@Example.COM", SENT + timedelta(hours=2), [(v, 2, "25.00", 0), (other, 1, "99.00", 0)])
        assert attribute_orders(s, store.id, NOW) == 1
        assert _state(s, d) == {
            "converted_at": SENT + timedelta(hours=2),
            "order": o.id,
            "kind": "direct",
            "revenue": Decimal("50.00"),
            "sub_state": "converted",
            "sub_order": o.id,
        }
        assert s.get(Order, o.id).attributed_subscription_id == d.subscription_id  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("clicked", "kind"),
    [(None, "assisted"), (SENT + timedelta(days=4), "assisted"), (SENT + timedelta(days=3), "direct")],
)
def test_assisted_without_a_click_before_the_order(db: Database, clicked: datetime | None, kind: str) -> None:
    with db.session() as s:
        store = make_store(s)
        v = make_variant(s, store)
        d = _delivery(s, v, clicked=clicked)
        o = _order(s, store, "ann@example.com", SENT + timedelta(days=3), [(v, 1, "12.50", 0)])
        attribute_orders(s, store.id, NOW)
        st = _state(s, d)
        assert (st["kind"], st["order"], st["revenue"]) == (kind, o.id, Decimal("12.50"))


@pytest.mark.parametrize(
    ("offset", "matched"),
    [
        (timedelta(seconds=-1), False),
        (timedelta(0), True),
        (timedelta(days=7), True),
        (timedelta(days=7, seconds=1), False),
    ],
)
def test_window_is_sent_at_to_seven_days_after(db: Database, offset: timedelta, matched: bool) -> None:
    with db.session() as s:
        store = make_store(s)
        v = make_variant(s, store)
        d = _delivery(s, v)
        o = _order(s, store, "ann@example.com", SENT + offset, [(v, 1, "10.00", 0)])
        assert attribute_orders(s, store.id, NOW) == (1 if matched else 0)
        assert _state(s, d)["order"] == (o.id if matched else None)
        assert s.get(Order, o.id).attributed_subscription_id == (d.subscription_id if matched else None)  # type: ignore[union-attr]


def test_window_follows_store_and_variant_overrides(db: Database) -> None:
    with db.session() as s:
        store = make_store(s)
        short = make_variant(s, store)
        long = make_variant(s, store)
        s.add(StoreSetting(store_id=store.id, scope="store", values={"attribution_days": 2}))
        s.add(StoreSetting(store_id=store.id, scope="variant", variant_id=long.id, values={"attribution_days": "5"}))
        d_short = _delivery(s, short)
        d_long = _delivery(s, long)
        _order(s, store, "ann@example.com", SENT + timedelta(days=3), [(short, 1, "10.00", 0)])
        o_long = _order(s, store, "ann@example.com", SENT + timedelta(days=4), [(long, 1, "10.00", 0)])
        assert attribute_orders(s, store.id, NOW) == 1
        assert _state(s, d_short) == NOTHING
        assert _state(s, d_long)["order"] == o_long.id


@pytest.mark.parametrize("case", ["cancelled", "other_email", "no_email", "other_variant", "not_sent", "unsubscribed"])
def test_orders_that_do_not_count(db: Database, case: str) -> None:
    with db.session() as s:
        store = make_store(s)
        v = make_variant(s, store)
        w = make_variant(s, store)
        d = _delivery(s, v)
        at = SENT + timedelta(days=1)
        email: str | None = "ann@example.com"
        if case == "other_email":
            email = "bob@example.com"
        elif case == "no_email":
            email = None
        elif case == "not_sent":
            d.status = "failed"
        elif case == "unsubscribed":
            s.get(Subscription, d.subscription_id).state = "unsubscribed"  # type: ignore[union-attr]
        o = _order(
            s, store, email, at, [(w if case == "other_variant" else v, 1, "10.00", 0)], cancelled=case == "cancelled"
        )
        assert attribute_orders(s, store.id, NOW) == 0
        expected = dict(NOTHING, sub_state="unsubscribed") if case == "unsubscribed" else NOTHING
        assert _state(s, d) == expected
        assert s.get(Order, o.id).attributed_subscription_id is None  # type: ignore[union-attr]


def test_refunds_reduce_revenue_now_and_on_a_later_run(db: Database) -> None:
    with db.session() as s:
        store = make_store(s)
        v = make_variant(s, store)
        d = _delivery(s, v)
        o = _order(s, store, "ann@example.com", SENT + timedelta(days=1), [(v, 3, "10.00", 1)])
        attribute_orders(s, store.id, NOW)
        assert _state(s, d)["revenue"] == Decimal("20.00")
        line = s.execute(select(OrderLine).where(OrderLine.order_id == o.id)).scalar_one()
        line.refunded_quantity = 3
        s.flush()
        assert attribute_orders(s, store.id, NOW) == 0
        st = _state(s, d)
        assert (st["revenue"], st["order"], st["kind"]) == (Decimal("0.00"), o.id, "assisted")


def test_first_order_wins_and_a_rerun_changes_nothing(db: Database) -> None:
    with db.session() as s:
        store = make_store(s)
        v = make_variant(s, store)
        d = _delivery(s, v, clicked=SENT + timedelta(minutes=5))
        second = _order(s, store, "ann@example.com", SENT + timedelta(days=2), [(v, 1, "40.00", 0)])
        first = _order(s, store, "ann@example.com", SENT + timedelta(days=1), [(v, 1, "30.00", 0)])
        assert attribute_orders(s, store.id, NOW) == 1
        before = _state(s, d)
        assert (before["order"], before["revenue"], before["kind"]) == (first.id, Decimal("30.00"), "direct")
        assert attribute_orders(s, store.id, NOW) == 0
        assert _state(s, d) == before
        assert s.get(Order, second.id).attributed_subscription_id is None  # type: ignore[union-attr]


def test_one_order_credits_only_the_latest_email_of_a_subscription(db: Database) -> None:
    with db.session() as s:
        store = make_store(s)
        v = make_variant(s, store)
        older = _delivery(s, v, sent_at=SENT)
        newer = _delivery(s, v, sent_at=SENT + timedelta(days=1))
        o = _order(s, store, "ann@example.com", SENT + timedelta(days=2), [(v, 1, "10.00", 0)])
        assert attribute_orders(s, store.id, NOW) == 1
        assert _state(s, newer)["order"] == o.id
        assert _state(s, older)["order"] is None
        assert attribute_orders(s, store.id, NOW) == 0
        assert _state(s, older)["order"] is None


def test_a_delivery_of_store_a_never_matches_an_order_of_store_b(db: Database) -> None:
    with db.session() as s:
        a, b = make_store(s), make_store(s)
        v = make_variant(s, a)
        d = _delivery(s, v)
        # Same email, even a line naming store A's variant: still another store's order.
        o = _order(s, b, "ann@example.com", SENT + timedelta(days=1), [(v, 1, "10.00", 0)])
        assert attribute_orders(s, a.id, NOW) == 0
        assert attribute_orders(s, b.id, NOW) == 0
        assert _state(s, d) == NOTHING
        assert s.get(Order, o.id).attributed_subscription_id is None  # type: ignore[union-attr]


def test_attribution_on_sqlite(sqlite_db: Database) -> None:
    with sqlite_db.session() as s:
        store = make_store(s)
        v = make_variant(s, store)
        d = _delivery(s, v, clicked=SENT + timedelta(hours=1))
        late = _delivery(s, make_variant(s, store))
        o = _order(s, store, "ANN@example.com", SENT + timedelta(days=6, hours=23), [(v, 2, "9.99", 1)])
        _order(s, store, "ann@example.com", SENT + timedelta(days=8), [(late_variant(s, late), 1, "5.00", 0)])
        assert attribute_orders(s, store.id, NOW) == 1
        st = _state(s, d)
        assert (st["order"], st["kind"], st["revenue"], st["sub_state"]) == (
            o.id,
            "direct",
            Decimal("9.99"),
            "converted",
        )
        assert st["converted_at"].replace(tzinfo=None) == (SENT + timedelta(days=6, hours=23)).replace(tzinfo=None)
        assert _state(s, late) == NOTHING
        assert attribute_orders(s, store.id, NOW) == 0


def late_variant(s: Session, d: Delivery) -> Variant:
    sub = s.get(Subscription, d.subscription_id)
    assert sub is not None
    v = s.get(Variant, sub.variant_id)
    assert v is not None
    return v


# --- admin report --------------------------------------------------------------------------


@dataclass(frozen=True)
class Report:
    a: int
    b: int
    p1: int
    p2: int
    e1: int
    e2: int
    e3: int


@pytest.fixture
def report_seed(db: Database) -> Report:
    with db.session() as s:
        a = make_store(s, api_key_hash=hash_api_key("key-a"), currency="EUR")
        b = make_store(s, api_key_hash=hash_api_key("key-b"))
        v1 = make_variant(s, a)
        v2 = make_variant(s, a)
        # Restock 1 of v1: two emails, one direct conversion (2 × 15.00), one nothing.
        d1 = _delivery(s, v1, "ann@example.com", clicked=SENT + timedelta(hours=1))
        e1 = d1.stock_event_id
        d2 = Delivery(
            store_id=a.id,
            subscription_id=_subscription_for(s, v1, "bob@example.com"),
            stock_event_id=e1,
            status="sent",
            claimed_at=SENT,
            sent_at=SENT,
        )
        s.add(d2)
        _order(s, a, "ann@example.com", SENT + timedelta(hours=2), [(v1, 2, "15.00", 0)])
        # Restock 2 of v1 (later): one assisted conversion 1 × 15.00; a skipped row is not "sent".
        d3 = _delivery(s, v1, "cid@example.com", sent_at=SENT + timedelta(days=2))
        e2 = d3.stock_event_id
        s.add(
            Delivery(
                store_id=a.id,
                subscription_id=_subscription_for(s, v1, "dan@example.com"),
                stock_event_id=e2,
                status="skipped",
                skip_reason="unsubscribed",
                claimed_at=SENT,
            )
        )
        _order(s, a, "cid@example.com", SENT + timedelta(days=3), [(v1, 1, "15.00", 0)])
        # v2: one email, no order.
        e3 = _delivery(s, v2, "eve@example.com", sent_at=SENT + timedelta(days=1)).stock_event_id
        # Store B has its own converted email, invisible to A.
        vb = make_variant(s, b)
        _delivery(s, vb, "ann@example.com")
        _order(s, b, "ann@example.com", SENT + timedelta(hours=3), [(vb, 1, "500.00", 0)])
        s.flush()
        attribute_orders(s, a.id, NOW)
        attribute_orders(s, b.id, NOW)
        return Report(a=a.id, b=b.id, p1=v1.product_id, p2=v2.product_id, e1=e1, e2=e2, e3=e3)


def _subscription_for(s: Session, v: Variant, email: str) -> int:
    sub = Subscription(store_id=v.store_id, variant_id=v.id, email=email, state="notified")
    s.add(sub)
    s.flush()
    return sub.id


def _figures(sent: int, clicked: int, converted: int, direct: int, assisted: int, revenue: float) -> dict[str, Any]:
    return {
        "sent": sent,
        "clicked": clicked,
        "converted": converted,
        "direct": direct,
        "assisted": assisted,
        "conversion_rate": round(converted / sent, 4) if sent else 0.0,
        "revenue": revenue,
    }


def test_report_by_product(client: FlaskClient, report_seed: Report) -> None:
    r = report_seed
    resp = client.get(f"/api/v1/stores/{r.a}/attribution?by=product", headers={"Authorization": "Bearer key-a"})
    assert resp.status_code == 200
    body = resp.get_json()
    assert body["by"] == "product" and body["currency"] == "EUR"
    assert [(i["product_id"], {k: i[k] for k in _figures(1, 0, 0, 0, 0, 0)}) for i in body["items"]] == [
        (r.p1, _figures(3, 1, 2, 1, 1, 45.0)),
        (r.p2, _figures(1, 0, 0, 0, 0, 0.0)),
    ]
    assert body["totals"] == _figures(4, 1, 2, 1, 1, 45.0)


def test_report_by_restock(client: FlaskClient, report_seed: Report) -> None:
    r = report_seed
    body = client.get(
        f"/api/v1/stores/{r.a}/attribution?by=restock", headers={"Authorization": "Bearer key-a"}
    ).get_json()
    assert [(i["stock_event_id"], {k: i[k] for k in _figures(1, 0, 0, 0, 0, 0)}) for i in body["items"]] == [
        (r.e2, _figures(1, 0, 1, 0, 1, 15.0)),
        (r.e3, _figures(1, 0, 0, 0, 0, 0.0)),
        (r.e1, _figures(2, 1, 1, 1, 0, 30.0)),
    ]


def test_report_auth_and_errors(client: FlaskClient, report_seed: Report) -> None:
    r = report_seed
    c = client
    other = c.get(f"/api/v1/stores/{r.a}/attribution", headers={"Authorization": "Bearer key-b"})
    assert other.status_code == 404 and other.get_json()["error"]["code"] == "not_found"
    assert c.get(f"/api/v1/stores/{r.a}/attribution").status_code == 401
    assert c.get("/api/v1/stores/999999/attribution", headers={"Authorization": "Bearer key-a"}).status_code == 404
    bad = c.get(f"/api/v1/stores/{r.a}/attribution?by=variant", headers={"Authorization": "Bearer key-a"})
    assert bad.status_code == 400 and set(bad.get_json()["error"]["details"]) == {"by"}
    own_b = c.get(f"/api/v1/stores/{r.b}/attribution", headers={"Authorization": "Bearer key-b"}).get_json()
    assert own_b["totals"] == _figures(1, 0, 1, 0, 1, 500.0)
    doc = c.get("/openapi.json").get_json()
    assert "get" in doc["paths"]["/api/v1/stores/{store_id}/attribution"]
