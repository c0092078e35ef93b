"""The demo's SMTP sink and inbox pages, and the simulated restock button."""

from __future__ import annotations

import smtplib
from collections.abc import Iterator
from dataclasses import dataclass
from email.message import EmailMessage
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import func, select

from app import job_specs
from app.db import Database
from app.infra.mailsink import MailSink, start_sink, stop_sink
from app.models import InventoryLevel, StockEvent, Variant
from app.services.stock import recompute as stock
from tests.conftest import AppFactory
from tests.factories import RecordingQueue, make_location, make_store, make_variant

pytestmark = pytest.mark.integration

HOST = "http://localhost"


@pytest.fixture
def sink() -> Iterator[MailSink]:
    running = start_sink()
    try:
        yield running
    finally:
        stop_sink()


@dataclass(frozen=True)
class Shop:
    store: int
    other_store: int
    sold_out: int
    in_stock: int
    foreign: int


@pytest.fixture
def shop(db: Database) -> Shop:
    with db.session() as s:
        store = make_store(s, platform="demo", name="Demo Outfitters")
        other = make_store(s, platform="shopify")
        loc = make_location(s, store)
        sold_out = make_variant(s, store, qty=0, sku="TEE-M")
        in_stock = make_variant(s, store, qty=4, sku="TEE-L")
        s.add_all(
            [
                InventoryLevel(store_id=store.id, variant_id=sold_out.id, location_id=loc.id, available=-2),
                InventoryLevel(store_id=store.id, variant_id=in_stock.id, location_id=loc.id, available=4),
            ]
        )
        foreign = make_variant(s, other, qty=0)
        s.flush()
        stock.recompute(s, store.id)
        return Shop(store.id, other.id, sold_out.id, in_stock.id, foreign.id)


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    """Demo mode, where the sink's inbox and the restock button live."""
    return {"demo": True, "secret_key": "demo-mail-test"}


@pytest.fixture
def job_queue() -> RecordingQueue:
    """Records the fan-out a restock queues instead of running it."""
    return RecordingQueue()


def _send(sink: MailSink) -> None:
    msg = EmailMessage()
    msg["From"] = "Demo Outfitters <restock@backsoon.localhost>"
    msg["To"] = "ann@example.com"
    msg["Subject"] = "Tee is back in stock"
    msg["List-Unsubscribe"] = "<https://app.example/u/abc>, <mailto:restock@backsoon.localhost?subject=unsubscribe>"
    msg["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    msg.set_content("Tee is back. Buy it: http://localhost/r/token123\n")
    msg.add_alternative('<p>Tee is <b>back</b>. <a href="http://localhost/r/token123">Buy</a></p>', subtype="html")
    with smtplib.SMTP(sink.host, sink.port, timeout=5) as smtp:
        smtp.send_message(msg)


def _events(db: Database, variant_id: int) -> list[tuple[str, int, int]]:
    """The variant's edges: the span the fixture's first recompute records for a variant found sold out is left out
    (test_sold_out_variant_has_its_found_span checks it)."""
    with db.session() as s:
        rows = s.execute(
            select(StockEvent.kind, StockEvent.quantity_before, StockEvent.quantity_after)
            .where(StockEvent.variant_id == variant_id, StockEvent.source != "found")
            .order_by(StockEvent.id)
        )
        return [tuple(r) for r in rows]  # type: ignore[misc]


def test_sold_out_variant_has_its_found_span(db: Database, shop: Shop) -> None:
    with db.session() as s:
        rows = s.execute(
            select(StockEvent.kind, StockEvent.source, StockEvent.details).where(StockEvent.variant_id == shop.sold_out)
        ).all()
    # The fixture has no sale for it and its level no update time: sold out since it was first seen.
    assert [tuple(r) for r in rows] == [("sellout", "found", {"since": "connect"})]


def test_sink_receives_smtp_and_the_inbox_shows_it(client: FlaskClient, shop: Shop, sink: MailSink) -> None:
    _send(sink)
    [received] = sink.messages()
    assert (received.mail_from, received.rcpt_tos, received.subject) == (
        "restock@backsoon.localhost",
        ("ann@example.com",),
        "Tee is back in stock",
    )
    inbox = client.get("/demo/mail")
    assert inbox.status_code == 200
    page = inbox.get_data(as_text=True)
    assert "Tee is back in stock" in page and sink.url in page
    assert f"/demo/mail/{received.id}" in page

    view = client.get(f"/demo/mail/{received.id}").get_data(as_text=True)
    assert "List-Unsubscribe" in view and "List-Unsubscribe=One-Click" in view
    assert "&lt;https://app.example/u/abc&gt;" in view
    # The HTML part only ever appears escaped inside a sandboxed srcdoc, never as live markup on the page.
    assert 'sandbox="allow-popups allow-popups-to-escape-sandbox"' in view
    assert 'srcdoc="&lt;p&gt;Tee is &lt;b&gt;back&lt;/b&gt;.' in view
    assert "<b>back</b>" not in view
    assert "Tee is back. Buy it: http://localhost/r/token123" in view
    assert '<a href="http://localhost/r/token123">' in view
    assert client.get("/demo/mail/999").status_code == 404


def test_sink_keeps_only_the_latest_messages() -> None:
    small = MailSink(capacity=3)
    for i in range(5):
        small.add("a@example.com", ("b@example.com",), f"Subject: m{i}\r\n\r\nbody\r\n".encode())
    assert [m.subject for m in small.messages()] == ["m4", "m3", "m2"]
    assert small.get(1) is None and small.get(5) is not None
    assert not small.running


def test_inbox_without_a_sink_explains_itself(client: FlaskClient, shop: Shop) -> None:
    stop_sink()
    page = client.get("/demo/mail").get_data(as_text=True)
    assert "No local mail sink is running" in page


def test_restock_creates_a_restock_event_and_queues_the_fanout(
    db: Database, shop: Shop, client: FlaskClient, job_queue: RecordingQueue
) -> None:
    resp = client.post(f"/demo/restock/{shop.sold_out}", headers={"Origin": HOST, "Referer": f"{HOST}/demo/shop/"})
    assert resp.status_code == 303
    assert resp.headers["Location"] == f"{HOST}/demo/shop/"
    events = _events(db, shop.sold_out)
    assert events == [("restock", 0, 5)]
    with db.session() as s:
        event_id = s.execute(
            select(StockEvent.id).where(StockEvent.variant_id == shop.sold_out, StockEvent.kind == "restock")
        ).scalar_one()
        assert s.execute(select(StockEvent.fanout_status).where(StockEvent.id == event_id)).scalar_one() == "pending"
        v = s.get(Variant, shop.sold_out)
        assert v is not None and v.sellable_quantity == 5
    fanouts = [spec for spec in job_queue.specs if spec.func == job_specs.FANOUT_EVENT]
    assert [(spec.args, spec.job_id) for spec in fanouts] == [((event_id,), f"fanout-{event_id}")]
    page = client.get("/demo/mail").get_data(as_text=True)
    assert "Restocked TEE-M: 0 → 5 units." in page


def test_restock_of_an_in_stock_variant_adds_units_without_an_event(
    db: Database, shop: Shop, client: FlaskClient, job_queue: RecordingQueue
) -> None:
    resp = client.post(f"/demo/restock/{shop.in_stock}", headers={"Origin": HOST})
    assert (resp.status_code, resp.headers["Location"]) == (303, "/demo/mail")
    assert _events(db, shop.in_stock) == []
    assert [spec for spec in job_queue.specs if spec.func == job_specs.FANOUT_EVENT] == []
    with db.session() as s:
        assert s.get(Variant, shop.in_stock).sellable_quantity == 9  # type: ignore[union-attr]


@pytest.mark.parametrize(
    "headers",
    [
        {"Origin": "https://evil.example"},
        {"Referer": "https://evil.example/page"},
        {"Origin": "null"},
        {},
        {"Origin": "http://localhost:8080"},
    ],
)
def test_cross_origin_restock_is_refused_and_changes_nothing(
    db: Database, shop: Shop, headers: dict[str, str], client: FlaskClient, job_queue: RecordingQueue
) -> None:
    resp = client.post(f"/demo/restock/{shop.sold_out}", headers=headers)
    assert resp.status_code == 403
    assert _events(db, shop.sold_out) == []
    assert job_queue.specs == []
    with db.session() as s:
        assert s.get(Variant, shop.sold_out).sellable_quantity == 0  # type: ignore[union-attr]
        assert s.execute(select(func.sum(InventoryLevel.available))).scalar_one() == 2


def test_restock_of_another_stores_or_unknown_variant_is_404(
    db: Database, shop: Shop, client: FlaskClient, job_queue: RecordingQueue
) -> None:
    for vid in (shop.foreign, 10**9, 2**63):
        assert client.post(f"/demo/restock/{vid}", headers={"Origin": HOST}).status_code == 404
    assert _events(db, shop.foreign) == []
    assert job_queue.specs == []


def test_everything_is_404_outside_demo_mode(
    db: Database, shop: Shop, sink: MailSink, make_app: AppFactory, job_queue: RecordingQueue
) -> None:
    _send(sink)
    client = make_app(demo=False).test_client()
    assert client.get("/demo/mail").status_code == 404
    assert client.get(f"/demo/mail/{sink.messages()[0].id}").status_code == 404
    assert client.post(f"/demo/restock/{shop.sold_out}", headers={"Origin": HOST}).status_code == 404
    assert _events(db, shop.sold_out) == []
    assert job_queue.specs == []
