"""Subscribers in the merchant admin: the list, the notification log, resend through the real fan-out, GDPR removal,
cross-store 404s and CSRF."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
from flask.testing import FlaskClient
from sqlalchemy import func, select
from werkzeug.test import TestResponse

from app.config import Settings
from app.db import Database
from app.models import ComplianceRequest, ConsentRecord, Delivery, StockEvent, Subscription
from app.queue import InProcessJobQueue
from app.services.notify import fanout, subscribers
from app.web.admin.auth import session_fields
from tests.conftest import AppFactory
from tests.factories import make_store, make_variant
from tests.smtpd import Collector, smtp_server

pytestmark = pytest.mark.integration
OWN_CONNECTIONS = pytest.mark.truncating(
    "the fan-out and the confirmation mail commit each send on a connection of their own"
)

CSRF = "t" * 40


@dataclass
class World:
    client: FlaskClient
    db: Database
    smtp: Collector
    jobs: InProcessJobQueue
    a: int
    b: int
    va: int
    vb: int
    subs: dict[str, int]
    events: dict[str, int]

    def post(self, path: str, **form: str) -> TestResponse:
        return self.client.post(path, data={"csrf_token": CSRF, **form})

    def sub(self, email: str) -> Subscription:
        with self.db.session() as s:
            row = s.get(Subscription, self.subs[email])
            assert row is not None
            s.expunge(row)
            return row

    def deliveries(self, email: str) -> list[tuple[int, str, str | None]]:
        with self.db.session() as s:
            rows = s.execute(
                select(Delivery.stock_event_id, Delivery.status, Delivery.skip_reason)
                .where(Delivery.subscription_id == self.subs[email])
                .order_by(Delivery.id)
            ).all()
        return [(int(e), str(st), r) for e, st, r in rows]


T0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)


@pytest.fixture
def world(db: Database, make_app: AppFactory) -> Iterator[World]:
    with db.session() as s:
        a = make_store(
            s, name="Alpha Shop", platform="woocommerce", domain="alpha.example", timezone="Europe/Amsterdam"
        )
        b = make_store(s, name="Beta Shop", platform="woocommerce", domain="beta.example")
        va = make_variant(s, a, qty=0, sku="A-RED", title="Red")
        vb = make_variant(s, b, qty=0, sku="B-BLUE", title="Blue")
        subs: dict[str, int] = {}
        for store, variant, email, state, minutes in (
            (a, va, "ann@x.test", "active", 50),
            (a, va, "bob@x.test", "pending_confirmation", 40),
            (a, va, "cid@x.test", "unsubscribed", 30),
            (b, vb, "ann@x.test", "active", 20),
        ):
            row = Subscription(
                store_id=store.id,
                variant_id=variant.id,
                email=email,
                state=state,
                storefront_root="/nl",
                created_at=T0 + timedelta(minutes=minutes),
                updated_at=T0 + timedelta(minutes=minutes),
            )
            s.add(row)
            s.flush()
            s.add(
                ConsentRecord(
                    store_id=store.id,
                    subscription_id=row.id,
                    kind="signup",
                    text_version="abc123def456",
                    text="Email me once.",
                    ip_hash="f" * 64,
                    user_agent="Firefox",
                    given_at=T0 + timedelta(minutes=minutes),
                )
            )
            subs[email if store is a else f"b:{email}"] = row.id
        # An earlier restock whose email to ann failed at the mail server; the fan-out is finished.
        ev = StockEvent(
            store_id=a.id,
            variant_id=va.id,
            kind="restock",
            quantity_before=0,
            quantity_after=2,
            occurred_at=T0 + timedelta(hours=2),
            fanout_status="done",
            waves_sent=1,
        )
        s.add(ev)
        s.flush()
        s.add_all(
            [
                Delivery(
                    store_id=a.id,
                    subscription_id=subs["ann@x.test"],
                    stock_event_id=ev.id,
                    wave=1,
                    status="failed",
                    attempts=1,
                    error="550 mailbox ann@x.test unavailable",
                    claimed_at=T0 + timedelta(hours=2),
                ),
                Delivery(
                    store_id=a.id,
                    subscription_id=subs["cid@x.test"],
                    stock_event_id=ev.id,
                    wave=1,
                    status="skipped",
                    skip_reason="unsubscribed",
                    claimed_at=T0 + timedelta(hours=2),
                ),
            ]
        )
        ids = (a.id, b.id, va.id, vb.id, ev.id)
    with smtp_server() as (handler, url):
        jobs = InProcessJobQueue(eager=True)
        app = make_app(
            jobs=jobs, app_url="https://app.test", secret_key="k", smtp_url=url, mail_from="BS <bs@mail.test>"
        )
        client = app.test_client()
        with client.session_transaction() as sess:
            sess.update(session_fields(ids[0], 0))
            sess["admin_csrf"] = CSRF
        yield World(client, db, handler, jobs, ids[0], ids[1], ids[2], ids[3], subs, {"first": ids[4]})


def _rows(html: str) -> list[list[str]]:
    body = re.search(r'<table id="subscribers">.*?<tbody>(.*?)</tbody>', html, re.S)
    assert body is not None
    out = []
    for row in re.findall(r"<tr[^>]*>(.*?)</tr>", body.group(1), re.S):
        cells = re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)
        out.append([re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", c)).strip() for c in cells[:7]])
    return out


def _set_qty(world: World, qty: int) -> None:
    from app.models import Variant

    with world.db.session() as s:
        v = s.get(Variant, world.va)
        assert v is not None
        v.sellable_quantity = qty


# --- the list --------------------------------------------------------------------------------------------------


def test_list_shows_state_reason_last_email_and_consent_of_this_store_only(world: World) -> None:
    resp = world.client.get("/admin/subscribers")
    assert resp.status_code == 200
    html = resp.get_data(as_text=True)
    rows = _rows(html)
    assert [r[0] for r in rows] == ["ann@x.test", "bob@x.test", "cid@x.test"]
    assert [r[2] for r in rows] == ["active", "pending confirmation", "unsubscribed"]
    assert [r[4] for r in rows] == ["failed", "–", "skipped (unsubscribed)"]
    assert [r[3] for r in rows] == ["–", "–", "–"]
    # Stored in UTC, shown on the Amsterdam store's clock (CET in March).
    assert [r[5] for r in rows] == ["2026-03-01 10:50 CET", "2026-03-01 10:40 CET", "2026-03-01 10:30 CET"]
    assert [r[6] for r in rows] == [
        "vabc123def456, 2026-03-01 10:50 CET",
        "vabc123def456, 2026-03-01 10:40 CET",
        "vabc123def456, 2026-03-01 10:30 CET",
    ]
    assert "B-BLUE" not in html
    counts = dict(re.findall(r'data-state="(\w+)">(\d+)<', html))
    assert counts == {
        "pending_confirmation": "1",
        "active": "1",
        "notified": "0",
        "converted": "0",
        "unsubscribed": "1",
        "redacted": "0",
    }


def test_filters_by_variant_state_and_search(world: World) -> None:
    by_state = world.client.get("/admin/subscribers?state=pending_confirmation")
    assert [r[0] for r in _rows(by_state.get_data(as_text=True))] == ["bob@x.test"]
    by_search = world.client.get("/admin/subscribers?q=ANN")
    assert [r[0] for r in _rows(by_search.get_data(as_text=True))] == ["ann@x.test"]
    # "_" is a literal, not a LIKE wildcard.
    assert "No subscriber matches this filter." in world.client.get("/admin/subscribers?q=a_n").get_data(as_text=True)
    by_variant = world.client.get(f"/admin/subscribers?variant={world.va}")
    html = by_variant.get_data(as_text=True)
    assert '<h2 id="variant-heading">' in html
    assert len(_rows(html)) == 3
    # The filter names the variant as the merchant knows it, not by our internal number.
    assert re.search(r'id="variant-filter">Variant: <strong>A-RED</strong>', html)


@pytest.mark.parametrize(
    ("query", "field", "message"),
    [
        ("state=gone", "state", "Choose one of the listed states."),
        ("variant=abc", "variant", "Choose a variant from the list (a variant id is a whole number)."),
        ("variant=99999999999999999999", "variant", "Choose a variant from the list (a variant id is a whole number)."),
    ],
)
def test_bad_filters_are_400_with_the_message(world: World, query: str, field: str, message: str) -> None:
    resp = world.client.get(f"/admin/subscribers?{query}")
    assert resp.status_code == 400
    html = resp.get_data(as_text=True)
    assert f'<p class="field-error" id="{field}-error">{message}</p>' in html
    # The variant is chosen from a row's link, not typed: its error offers the way back instead of an input.
    if field == "variant":
        assert "Show every subscriber" in html
    else:
        assert f'aria-describedby="{field}-error"' in html
    assert '<table id="subscribers">' not in html


def test_another_stores_variant_filter_is_refused(world: World) -> None:
    resp = world.client.get(f"/admin/subscribers?variant={world.vb}")
    assert resp.status_code == 400
    assert "This store has no variant with that id." in resp.get_data(as_text=True)


# --- the notification log -------------------------------------------------------------------------------------


def test_log_explains_every_subscription_delivery_and_restock(world: World) -> None:
    with world.db.session() as s:
        log = subscribers.notification_log(s, world.a, "  ANN@x.test ")
    assert log.email == "ann@x.test"
    assert [r.id for r in log.subscriptions] == [world.subs["ann@x.test"]]
    ann = world.subs["ann@x.test"]
    assert [(c.kind, c.text_version, c.has_ip) for c in log.consents[ann]] == [("signup", "abc123def456", True)]
    assert [(d.stock_event_id, d.status, d.wave, d.error) for d in log.deliveries[ann]] == [
        (world.events["first"], "failed", 1, "550 mailbox ann@x.test unavailable")
    ]
    assert [(e.id, e.fanout_status, e.waves_sent, e.outcome) for e in log.events] == [
        (world.events["first"], "done", 1, {ann: "failed: 550 mailbox ann@x.test unavailable"})
    ]
    resp = world.client.get("/admin/subscribers/log?email=ann%40x.test")
    assert resp.status_code == 200
    html = resp.get_data(as_text=True)
    assert f'<span data-outcome="{ann}">failed: 550 mailbox ann@x.test unavailable</span>' in html
    assert "Beta Shop" not in html and f"subscription-{world.subs['b:ann@x.test']}" not in html


def test_log_for_an_unknown_address_and_bad_input(world: World) -> None:
    html = world.client.get("/admin/subscribers/log?email=nobody%40x.test").get_data(as_text=True)
    assert "No subscription for nobody@x.test in this store." in html
    bad = world.client.get("/admin/subscribers/log?email=not-an-address")
    assert bad.status_code == 400
    assert '<p class="field-error" id="email-error">Enter the shopper&#39;s full email address.</p>' in bad.get_data(
        as_text=True
    )


def test_log_says_who_signed_up_after_a_finished_restock(world: World) -> None:
    with world.db.session() as s:
        log = subscribers.notification_log(s, world.a, "bob@x.test")
    bob = world.subs["bob@x.test"]
    # bob signed up at 09:40, before the 11:00 restock, and was still unconfirmed: no delivery row for him.
    assert [e.outcome for e in log.events] == [{bob: "not reached by this restock"}]


# --- resend -----------------------------------------------------------------------------------------------------


@OWN_CONNECTIONS
def test_resend_of_a_failed_email_goes_through_the_real_fanout_exactly_once(world: World) -> None:
    _set_qty(world, 2)
    ann = world.subs["ann@x.test"]
    resp = world.post(f"/admin/subscribers/{ann}/resend")
    assert resp.status_code == 303
    assert world.jobs.errors == []
    assert [r.rcpt_tos for r in world.smtp.received] == [["ann@x.test"]]
    assert world.smtp.received[0].message["Subject"] is not None
    assert world.deliveries("ann@x.test") == [(world.events["first"], "sent", None)]
    sub = world.sub("ann@x.test")
    assert (sub.state, sub.skip_reason) == ("notified", None)
    with world.db.session() as s:
        ev = s.get(StockEvent, world.events["first"])
        assert ev is not None
        assert ev.fanout_status == "done"
        assert [{k: v for k, v in r.items() if k != "at"} for r in ev.details["resends"]] == [
            {"subscription_id": ann, "status": "failed", "skip_reason": None, "wave": 1}
        ]
    # A second resend, and the fan-out run again: still one email.
    again = world.post(f"/admin/subscribers/{ann}/resend")
    assert again.status_code == 303
    assert fanout.run_fanout(world.db, _settings(world), world.events["first"]).status == "leased-out"
    assert len(world.smtp.received) == 1
    flashes = world.client.get("/admin/subscribers").get_data(as_text=True)
    assert "Already emailed for this restock on" in flashes


def _settings(world: World) -> Settings:
    from app.runtime import get_runtime

    return get_runtime().settings


def test_resend_without_stock_only_rearms(world: World) -> None:
    ann = world.subs["ann@x.test"]
    resp = world.post(f"/admin/subscribers/{ann}/resend")
    assert resp.status_code == 303
    assert world.smtp.received == []
    # The failed row stays (nothing to send now); the subscription waits for the next restock.
    assert world.deliveries("ann@x.test") == [(world.events["first"], "failed", None)]
    assert (world.sub("ann@x.test").state, world.sub("ann@x.test").skip_reason) == ("active", None)
    html = world.client.get("/admin/subscribers").get_data(as_text=True)
    assert "Waiting again: this shopper will be emailed when the item is next restocked." in html


def test_resend_refusals_change_nothing(world: World) -> None:
    _set_qty(world, 2)
    cid = world.subs["cid@x.test"]
    before = world.sub("cid@x.test")
    resp = world.post(f"/admin/subscribers/{cid}/resend")
    assert resp.status_code == 303
    html = world.client.get("/admin/subscribers").get_data(as_text=True)
    assert (
        '<p class="flash flash--error" data-toast="error">'
        "This shopper unsubscribed; they get no email until they sign up again.</p>" in html
    )
    after = world.sub("cid@x.test")
    assert (after.state, after.updated_at) == (before.state, before.updated_at)
    assert world.smtp.received == []
    assert world.deliveries("cid@x.test") == [(world.events["first"], "skipped", "unsubscribed")]


@OWN_CONNECTIONS
def test_resend_of_an_unconfirmed_signup_resends_the_confirmation(world: World) -> None:
    bob = world.subs["bob@x.test"]
    resp = world.post(f"/admin/subscribers/{bob}/resend")
    assert resp.status_code == 303
    assert world.jobs.errors == []
    assert [r.rcpt_tos for r in world.smtp.received] == [["bob@x.test"]]
    assert world.sub("bob@x.test").confirm_sent_at is not None
    # Within ten minutes a second one is refused.
    world.post(f"/admin/subscribers/{bob}/resend")
    assert len(world.smtp.received) == 1
    html = world.client.get("/admin/subscribers").get_data(as_text=True)
    assert "A confirmation email went out less than ten minutes ago; try again later." in html


def test_service_refuses_a_purchase_skip(world: World) -> None:
    _set_qty(world, 2)
    with world.db.session() as s:
        d = s.scalars(select(Delivery).where(Delivery.subscription_id == world.subs["ann@x.test"])).one()
        d.status, d.skip_reason = "skipped", "purchased"
    with world.db.session() as s:
        out = subscribers.resend(s, world.jobs, world.a, world.subs["ann@x.test"])
    assert out == subscribers.ResendOutcome(
        "refused_reason_holds", "Skipped because purchased, which still holds.", done=False
    )
    assert world.smtp.received == []


# --- removal ----------------------------------------------------------------------------------------------------


@OWN_CONNECTIONS
def test_remove_redacts_and_nothing_is_sent_afterwards(world: World) -> None:
    ann = world.subs["ann@x.test"]
    resp = world.post(f"/admin/subscribers/{ann}/remove", confirm="yes")
    assert resp.status_code == 303
    sub = world.sub("ann@x.test")
    assert (sub.email, sub.state, sub.skip_reason) == (f"removed-{ann}@redacted.invalid", "redacted", "removed")
    assert (sub.customer_external_id, sub.storefront_root) == (None, None)
    with world.db.session() as s:
        consents = s.execute(
            select(ConsentRecord.ip_hash, ConsentRecord.user_agent, ConsentRecord.text_version).where(
                ConsentRecord.subscription_id == ann
            )
        ).all()
        assert [tuple(c) for c in consents] == [(None, None, "abc123def456")]
        errors = s.scalars(select(Delivery.error).where(Delivery.subscription_id == ann)).all()
        assert errors == [None]
        audit = s.execute(
            select(ComplianceRequest.kind, ComplianceRequest.external_id, ComplianceRequest.store_id)
        ).all()
        assert [tuple(r) for r in audit] == [("admin/remove", f"subscription-{ann}", world.a)]
        # The other store's ann is untouched.
        other = s.get(Subscription, world.subs["b:ann@x.test"])
        assert other is not None and (other.email, other.state, other.storefront_root) == (
            "ann@x.test",
            "active",
            "/nl",
        )
        # A new restock fans out: the removed subscription gets no row and no email.
        ev = StockEvent(
            store_id=world.a, variant_id=world.va, kind="restock", quantity_before=0, quantity_after=5,
            fanout_status="pending",
        )  # fmt: skip
        s.add(ev)
        s.flush()
        new_event = ev.id
    _set_qty(world, 5)
    result = fanout.run_fanout(world.db, _settings(world), new_event)
    assert result.status == "done"
    assert world.smtp.received == []
    with world.db.session() as s:
        assert s.scalar(select(func.count()).where(Delivery.stock_event_id == new_event,
                                                   Delivery.subscription_id == ann)) == 0  # fmt: skip
    # Resend of a removed subscription is refused; removing twice is harmless.
    world.post(f"/admin/subscribers/{ann}/resend")
    assert world.smtp.received == []
    assert world.post(f"/admin/subscribers/{ann}/remove", confirm="yes").status_code == 303
    html = world.client.get("/admin/subscribers").get_data(as_text=True)
    assert "This subscriber was already removed." in html
    assert "ann@x.test" not in html


# --- authorization ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("action", ["resend", "remove"])
def test_another_stores_subscription_is_404_and_untouched(world: World, action: str) -> None:
    other = world.subs["b:ann@x.test"]
    resp = world.post(f"/admin/subscribers/{other}/{action}", confirm="yes")
    assert resp.status_code == 404
    with world.db.session() as s:
        row = s.get(Subscription, other)
        assert row is not None and (row.email, row.state) == ("ann@x.test", "active")
        assert s.scalar(select(func.count()).select_from(ComplianceRequest)) == 0
    assert world.smtp.received == []
    assert world.post("/admin/subscribers/99999999/remove", confirm="yes").status_code == 404
    assert world.client.get(f"/admin/subscribers/{other}/remove").status_code == 404


@pytest.mark.parametrize("action", ["resend", "remove"])
def test_csrf_is_enforced_on_the_posts(world: World, action: str) -> None:
    _set_qty(world, 2)
    ann = world.subs["ann@x.test"]
    for form in ({}, {"csrf_token": "wrong"}):
        resp = world.client.post(f"/admin/subscribers/{ann}/{action}", data=form)
        assert resp.status_code == 403
    sub = world.sub("ann@x.test")
    assert (sub.email, sub.state) == ("ann@x.test", "active")
    assert world.smtp.received == []
    assert world.deliveries("ann@x.test") == [(world.events["first"], "failed", None)]


def test_not_signed_in_redirects_to_login(world: World) -> None:
    with world.client.session_transaction() as sess:
        sess.clear()
    resp = world.client.get("/admin/subscribers")
    assert resp.status_code == 302
    assert "/admin/login" in resp.headers["Location"]
