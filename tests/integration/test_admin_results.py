"""The Results page (restock funnel per product and per restock) and the demo controls, on real PostgreSQL."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import func, select

from app import job_specs
from app.config import Settings
from app.db import Database
from app.models import Delivery, Order, StockEvent, Subscription, Variant
from app.services.notify import fanout
from app.services.stock import recompute as stock
from app.web.admin.auth import session_fields
from tests.factories import RecordingQueue, make_store, make_variant
from tests.smtpd import smtp_server

pytestmark = pytest.mark.integration

INSTALLED = datetime(2026, 11, 2, 15, 0, tzinfo=UTC)
_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def _cells(html: str, table_id: str) -> list[list[str]]:
    body = html.split(f'id="{table_id}"', 1)[1].split("</table>", 1)[0]
    rows = re.findall(r"<tr>(.*?)</tr>", body, re.S)
    return [
        [re.sub(r"<[^>]+>", "", c).strip() for c in re.findall(r"<t[hd][^>]*>(.*?)</t[hd]>", r, re.S)] for r in rows
    ]


def _sign_in(client: FlaskClient, store_id: int) -> None:
    with client.session_transaction() as sess:
        sess.update(session_fields(store_id, 0))


@pytest.fixture
def job_queue() -> RecordingQueue:
    """Records the jobs the controls queue."""
    return RecordingQueue()


# ---------------------------------------------------------------------------------------------
# A real install with no history yet
# ---------------------------------------------------------------------------------------------


def test_an_empty_install_shows_zeros_and_when_its_history_starts(db: Database, client: FlaskClient) -> None:
    with db.session() as s:
        store = make_store(s, platform="woocommerce", installed_at=INSTALLED, currency="EUR")
        variant = make_variant(s, store, qty=0)
        stock.recompute(s, store.id)
        ids = (store.id, variant.id)
    _sign_in(client, ids[0])
    page = client.get("/admin/results")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "History starts 2026-11-02" in html
    assert _cells(html, "funnel-table")[1:] == [
        ["Signups", "0"],
        ["Confirmed", "0"],
        ["Emailed", "0"],
        ["Clicked", "0"],
        ["Bought", "0"],
    ]
    assert re.search(r'id="conversion-rate">\u2013<', html)
    assert re.search(r'id="recovered-revenue">0.00 EUR<', html)
    assert "No restock email sent yet, so no conversion rate" in html
    assert 'id="no-products"' in html and 'id="no-restocks"' in html
    assert "funnel-bar" not in html
    # Not a demo: no controls, and their addresses do not exist.
    assert 'id="demo-controls"' not in html
    token = _csrf(client.get("/admin/settings").get_data(as_text=True))
    assert client.post("/admin/results/demo/next-wave", data={"csrf_token": token}).status_code == 404
    sale = client.post("/admin/results/demo/sale", data={"csrf_token": token, "email": "a@x.test"})
    assert sale.status_code == 404
    with db.session() as s:
        assert s.scalar(select(func.count(Order.id))) == 0
    # The variant page carries its own (empty) funnel.
    variant_page = client.get(f"/admin/variants/{ids[1]}")
    assert variant_page.status_code == 200
    variant_html = variant_page.get_data(as_text=True)
    # The 90-day charts of a new install start at its first daily record (today's), and say so.
    today = datetime.now(UTC).date().isoformat()
    assert f"Stock history starts {today}: the days before have no record." in variant_html
    assert _cells(variant_html, "variant-funnel")[1] == [
            "0", "0", "0", "0", "0", "\u2013", "0.00 EUR",
        ]  # fmt: skip


def _csrf(html: str) -> str:
    match = _CSRF.search(html)
    assert match is not None
    return match.group(1)


# ---------------------------------------------------------------------------------------------
# A store with history
# ---------------------------------------------------------------------------------------------


@dataclass
class History:
    store_id: int
    variant_id: int
    other_variant_id: int
    event_id: int


def _history(db: Database, *, platform: str = "shopify", start: datetime = INSTALLED) -> History:
    t = start
    with db.session() as s:
        store = make_store(s, platform=platform, installed_at=t, currency="USD")
        v = make_variant(s, store, qty=5, title="M / Navy", price=Decimal("40.00"))
        other = make_variant(s, store, qty=0, title="S / Red")
        ev = StockEvent(
            store_id=store.id, variant_id=v.id, kind="restock", quantity_before=0, quantity_after=5,
            occurred_at=t + timedelta(days=3), fanout_status="done", waves_sent=1,
        )  # fmt: skip
        s.add(ev)
        s.flush()
        subs = []
        for i, (state, confirmed) in enumerate(
            [("notified", True), ("notified", True), ("notified", True), ("pending_confirmation", False)]
        ):
            sub = Subscription(
                store_id=store.id, variant_id=v.id, email=f"s{i}@x.test", state=state,
                created_at=t + timedelta(days=1, hours=i), confirm_sent_at=t + timedelta(days=1),
                confirmed_at=t + timedelta(days=1, hours=i) if confirmed else None,
            )  # fmt: skip
            subs.append(sub)
        # Single opt-in: no confirmation asked, so confirmed at signup.
        subs.append(Subscription(store_id=store.id, variant_id=other.id, email="o@x.test", created_at=t))
        s.add_all(subs)
        s.flush()
        sent_at = t + timedelta(days=3, minutes=5)
        s.add_all(
            [
                Delivery(store_id=store.id, subscription_id=subs[0].id, stock_event_id=ev.id, status="sent",
                         claimed_at=sent_at, sent_at=sent_at, clicked_at=sent_at + timedelta(minutes=3), clicks=2,
                         converted_at=sent_at + timedelta(hours=1), conversion_kind="direct", revenue=Decimal("40.00")),
                Delivery(store_id=store.id, subscription_id=subs[1].id, stock_event_id=ev.id, status="sent",
                         claimed_at=sent_at, sent_at=sent_at, clicked_at=sent_at + timedelta(minutes=9), clicks=1),
                Delivery(store_id=store.id, subscription_id=subs[2].id, stock_event_id=ev.id, status="sent",
                         claimed_at=sent_at, sent_at=sent_at),
                # Claimed but never sent: not an email the shopper got.
                Delivery(store_id=store.id, subscription_id=subs[3].id, stock_event_id=ev.id, status="skipped",
                         skip_reason="unconfirmed", claimed_at=sent_at),
            ]
        )  # fmt: skip
        stock.recompute(s, store.id)
        return History(store.id, v.id, other.id, ev.id)


def test_the_funnel_counts_real_rows_per_product_and_per_restock(db: Database, client: FlaskClient) -> None:
    h = _history(db)
    _sign_in(client, h.store_id)
    html = client.get("/admin/results").get_data(as_text=True)
    assert "History starts 2026-11-02" in html
    assert _cells(html, "funnel-table")[1:] == [
        ["Signups", "5"],
        ["Confirmed", "4"],
        ["Emailed", "3"],
        ["Clicked", "2"],
        ["Bought", "1"],
    ]
    assert re.search(r'id="conversion-rate">33.3 %<', html)
    assert "33.3 % is above the 10-15 % restock emails commonly convert at." in html
    assert _cells(html, "product-funnels")[1:] == [
        [_title(db, h.variant_id), "4", "3", "3", "2", "1", "33.3 %", "40.00 USD"],
        [_title(db, h.other_variant_id), "1", "1", "0", "0", "0", "\u2013", "0.00 USD"],
    ]
    assert _cells(html, "restock-funnels")[1:] == [
        ["2026-11-05 15:00", f"{_title(db, h.variant_id)} · M / Navy", "4", "3", "3", "2", "1", "33.3 %", "40.00 USD"],
    ]
    assert html.count('class="funnel-bar"') == 5
    variant_html = client.get(f"/admin/variants/{h.variant_id}").get_data(as_text=True)
    assert _cells(variant_html, "variant-funnel")[1] == ["4", "3", "3", "2", "1", "33.3 %", "40.00 USD"]


def _title(db: Database, variant_id: int) -> str:
    from app.models import Product

    with db.session() as s:
        return str(
            s.scalar(
                select(Product.title).join(Variant, Variant.product_id == Product.id).where(Variant.id == variant_id)
            )
        )


def test_another_stores_rows_never_show(db: Database, client: FlaskClient) -> None:
    _history(db)
    with db.session() as s:
        mine = make_store(s, platform="shopify", installed_at=INSTALLED).id
    _sign_in(client, mine)
    html = client.get("/admin/results").get_data(as_text=True)
    assert [row[1] for row in _cells(html, "funnel-table")[1:]] == ["0", "0", "0", "0", "0"]


# ---------------------------------------------------------------------------------------------
# Demo controls
# ---------------------------------------------------------------------------------------------


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    """Demo mode: the demo store is signed in and the controls exist."""
    return {"demo": True, "secret_key": "results-test"}


def _demo_page(client: FlaskClient) -> str:
    page = client.get("/admin/results")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert 'id="demo-controls"' in html
    return html


def test_simulate_a_sale_goes_through_order_intake_and_attribution(db: Database, client: FlaskClient) -> None:
    # Emailed a day ago: a sale now is inside the 7-day attribution window.
    h = _history(db, platform="demo", start=datetime.now(UTC) - timedelta(days=4))
    html = _demo_page(client)
    reply = client.post("/admin/results/demo/sale", data={"csrf_token": _csrf(html), "email": "S2@x.test"})
    assert reply.status_code == 303
    with db.session() as s:
        order = s.scalars(select(Order)).one()
        assert (order.email, order.total, order.store_id) == ("s2@x.test", Decimal("40.00"), h.store_id)
        sub_id = s.scalar(select(Subscription.id).where(Subscription.email == "s2@x.test"))
        assert order.attributed_subscription_id == sub_id
        delivery = s.scalars(select(Delivery).where(Delivery.subscription_id == sub_id)).one()
        assert (delivery.converted_order_id, delivery.conversion_kind, delivery.revenue) == (
            order.id, "assisted", Decimal("40.00"),
        )  # fmt: skip
    after = client.get("/admin/results").get_data(as_text=True)
    assert [row[1] for row in _cells(after, "funnel-table")[1:]] == ["5", "4", "3", "2", "2"]
    assert re.search(r'id="recovered-revenue">80.00 USD<', after)


def test_a_sale_for_an_address_never_emailed_places_no_order(db: Database, client: FlaskClient) -> None:
    _history(db, platform="demo")
    html = _demo_page(client)
    reply = client.post("/admin/results/demo/sale", data={"csrf_token": _csrf(html), "email": "s3@x.test"})
    assert reply.status_code == 303
    assert "No restock email was sent to s3@x.test" in client.get("/admin/results").get_data(as_text=True)
    with db.session() as s:
        assert s.scalar(select(func.count(Order.id))) == 0
        assert s.scalar(select(func.count(Delivery.id)).where(Delivery.converted_at.is_not(None))) == 1
    # Without the CSRF token nothing happens either.
    assert client.post("/admin/results/demo/sale", data={"email": "s2@x.test"}).status_code in (400, 403)
    with db.session() as s:
        assert s.scalar(select(func.count(Order.id))) == 0


@pytest.mark.truncating("the wave sender commits each delivery on a connection of its own")
def test_send_the_next_wave_now_runs_the_scheduled_wave_to_smtp(
    db: Database, client: FlaskClient, job_queue: RecordingQueue
) -> None:
    now = datetime.now(UTC)
    with db.session() as s:
        store = make_store(s, platform="demo", name="Demo", installed_at=now - timedelta(days=1))
        v = make_variant(s, store, qty=3)
        ev = StockEvent(
            store_id=store.id, variant_id=v.id, kind="restock", quantity_before=0, quantity_after=3,
            occurred_at=now - timedelta(minutes=5), fanout_status="pending", waves_sent=1,
            next_wave_at=now + timedelta(hours=1),
        )  # fmt: skip
        s.add(ev)
        s.add(Subscription(store_id=store.id, variant_id=v.id, email="late@x.test", created_at=now - timedelta(days=1)))
        s.flush()
        event_id = ev.id
    html = _demo_page(client)
    assert client.post("/admin/results/demo/next-wave", data={"csrf_token": _csrf(html)}).status_code == 303
    assert [spec.func for spec in job_queue.specs] == [job_specs.fanout_event(event_id).func]
    assert job_queue.specs[0].args == (event_id,)
    with db.session() as s:
        due_at = s.scalar(select(StockEvent.next_wave_at).where(StockEvent.id == event_id))
        assert due_at is not None and due_at <= datetime.now(UTC)
    # The queued job is the wave scheduler's own fan-out: run it against a real SMTP server.
    with smtp_server() as (handler, url):
        settings = Settings(env="test", smtp_url=url, app_url="https://app.test", secret_key="k", mail_from="d@x.test")
        result = fanout.run_fanout(db, settings, event_id)
    assert result.sent == 1
    assert [r.rcpt_tos for r in handler.received] == [["late@x.test"]]
    with db.session() as s:
        assert s.scalar(select(Delivery.status).where(Delivery.stock_event_id == event_id)) == "sent"


def test_next_wave_with_nothing_waiting_queues_nothing(
    db: Database, client: FlaskClient, job_queue: RecordingQueue
) -> None:
    _history(db, platform="demo")
    html = _demo_page(client)
    assert client.post("/admin/results/demo/next-wave", data={"csrf_token": _csrf(html)}).status_code == 303
    assert job_queue.specs == []
    assert "No restock has a wave waiting" in client.get("/admin/results").get_data(as_text=True)


@pytest.fixture(autouse=True)
def _no_leak() -> Iterator[None]:
    yield
