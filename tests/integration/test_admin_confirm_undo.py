"""Destructive admin actions (issue #17): each needs an explicit confirmation (a server-rendered step), a cancel
of a purchase order or campaign can be undone exactly (shopper-facing restock date included) while nothing changed
it since, and a subscriber's GDPR erase is confirmed and final."""

from __future__ import annotations

import html
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import func, select, update

from app.db import Database
from app.models import (
    Campaign,
    ComplianceRequest,
    DirtyVariant,
    Product,
    PurchaseOrder,
    Store,
    Subscription,
    Variant,
)
from app.models.waitlist import ConsentRecord
from app.queue import InProcessJobQueue
from app.web.admin import confirm
from app.web.admin.auth import session_fields
from tests.conftest import TEST_REDIS_URL, AppFactory
from tests.factories import RecordingQueue
from tests.integration.test_admin_planning import TODAY, Admin, _build, day

pytestmark = pytest.mark.integration

_UNDO = re.compile(r'<form method="post" action="([^"]+)" class="inline">.*?name="undo" value="([^"]+)"', re.S)


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    """Demo mode (signed in to the demo store), the storefront's rate limits in the test Redis."""
    return {"demo": True, "app_url": "http://backsoon.test", "redis_url": TEST_REDIS_URL}


@pytest.fixture
def live(db: Database, make_app: AppFactory, redis_conn: object) -> Iterator[Admin]:
    jobs = InProcessJobQueue(eager=True)
    yield _build(make_app(jobs=jobs), db, jobs)


@pytest.fixture
def recorded(db: Database, make_app: AppFactory) -> Iterator[Admin]:
    jobs = RecordingQueue()
    yield _build(make_app(jobs=jobs), db, jobs)


def _po_rows(db: Database) -> list[tuple[Any, ...]]:
    with db.session() as s:
        return [
            (
                p.id,
                p.store_id,
                p.variant_id,
                p.supplier_id,
                p.reference,
                p.quantity,
                p.received_quantity,
                p.expected_on,
                p.status,
            )
            for p in s.scalars(select(PurchaseOrder).order_by(PurchaseOrder.id))
        ]


def _campaign_rows(db: Database) -> list[tuple[Any, ...]]:
    with db.session() as s:
        return [
            (c.id, c.store_id, c.name, c.starts_on, c.ends_on, c.uplift_pct, c.product_ids, c.collections, c.status)
            for c in s.scalars(select(Campaign).order_by(Campaign.id))
        ]


def _shopper_view(admin: Admin, variant_id: int) -> dict[str, Any]:
    """The variant's public stock document, as the storefront widget reads it (never from the 15 s read cache)."""
    with admin.db.session() as s:
        ext = s.get(Variant, variant_id).external_id  # type: ignore[union-attr]
    admin.client.application.extensions["backsoon_read_cache"].clear()
    resp = admin.client.get(f"/storefront/v1/stores/{admin.store_id}/variants/{ext}")
    assert resp.status_code == 200
    state: dict[str, Any] = resp.get_json()["state"]
    return state


def _add_po(admin: Admin) -> int:
    resp = admin.post(
        "/admin/incoming", {"sku": "TEE-S", "quantity": "24", "expected_date": day(10), "reference": "PO-7"}
    )
    assert resp.status_code == 302
    with admin.db.session() as s:
        return int(s.scalars(select(PurchaseOrder.id).where(PurchaseOrder.reference == "PO-7")).one())


def _undo_form(admin: Admin, location: str) -> tuple[str, str]:
    page = admin.client.get(location).get_data(as_text=True)
    match = _UNDO.search(page)
    assert match is not None, page
    return html.unescape(match.group(1)), html.unescape(match.group(2))


# --- purchase orders ------------------------------------------------------------------------------------------------


def test_the_cancel_confirm_page_says_what_will_happen(live: Admin) -> None:
    po_id = _add_po(live)
    listing = live.client.get("/admin/incoming").get_data(as_text=True)
    assert f'href="/admin/incoming/{po_id}/cancel"' in listing  # the list's Cancel is a link to the confirm step
    assert 'value="cancelled"' not in listing
    page = live.client.get(f"/admin/incoming/{po_id}/cancel")
    text = page.get_data(as_text=True)
    assert page.status_code == 200
    assert '<h1 id="confirm-heading">Cancel purchase order PO-7?</h1>' in text
    assert f"<p>Its 24 units of TEE-S (Product {_product_n(live)}), expected on {day(10)}, stop counting" in text
    assert f"The restock date for TEE-S (now {day(10)}) is worked out again without this order" in text
    assert "You can undo this for 15 minutes" in text
    assert "This cannot be undone." not in text
    assert f'<form method="post" action="/admin/incoming/{po_id}/close" class="confirm-actions">' in text
    assert '<input type="hidden" name="confirm" value="yes">' in text
    assert '<input type="hidden" name="action" value="cancelled">' in text
    assert 'name="csrf_token"' in text
    assert '<a href="/admin/incoming" class="button button--secondary" data-confirm-back>Keep the order' in text


def _product_n(admin: Admin) -> str:
    with admin.db.session() as s:
        v = s.get(Variant, admin.variant_ids[0])
        assert v is not None
        product = s.get(Product, v.product_id)
        assert product is not None
        return product.title.removeprefix("Product ")


def test_cancelling_a_po_without_the_confirmation_changes_nothing(recorded: Admin) -> None:
    po_id = _add_po(recorded)
    before, dirty, jobs = _po_rows(recorded.db), recorded.dirty(), len(recorded.jobs.specs)
    resp = recorded.post(f"/admin/incoming/{po_id}/close", {"action": "cancelled"})
    assert resp.status_code == 400
    assert '<h1 id="confirm-heading">Cancel purchase order PO-7?</h1>' in resp.get_data(as_text=True)
    as_json = recorded.post(
        f"/admin/incoming/{po_id}/close",
        {"action": "cancelled", "confirm": "no"},
        headers={"Accept": "application/json"},
    )
    assert as_json.status_code == 400
    assert as_json.get_json()["error"]["code"] == "confirmation_required"
    assert _po_rows(recorded.db) == before
    assert before[0][-1] == "open"
    assert (recorded.dirty(), len(recorded.jobs.specs)) == (dirty, jobs)
    # Receiving stays one click: it destroys nothing.
    assert recorded.post(f"/admin/incoming/{po_id}/close", {"action": "received"}).status_code == 302
    assert _po_rows(recorded.db)[0][-3:] == (24, TODAY + timedelta(days=10), "received")


def test_undo_of_a_po_cancel_restores_the_order_and_the_shoppers_restock_date(live: Admin) -> None:
    v1 = live.variant_ids[0]
    po_id = _add_po(live)
    before = _po_rows(live.db)
    state = live.state(v1)
    assert (state.restock_eta, state.incoming_quantity) == (TODAY + timedelta(days=10), 24)
    shown = _shopper_view(live, v1)
    assert (shown["status"], shown["restock_eta"], shown["eta_source"]) == ("out_of_stock", day(10), "incoming_stock")

    resp = live.post(f"/admin/incoming/{po_id}/close", {"action": "cancelled", "confirm": "yes"})
    assert resp.status_code == 303
    assert resp.headers["Location"].startswith("/admin/incoming?undo=")
    assert [r[-1] for r in _po_rows(live.db)] == ["cancelled"]
    assert (live.state(v1).restock_eta, live.state(v1).incoming_quantity) == (None, 0)
    assert _shopper_view(live, v1)["restock_eta"] is None  # the "Back soon" date is gone with the order

    action, ticket = _undo_form(live, resp.headers["Location"])
    assert action == f"/admin/incoming/{po_id}/undo-cancel"
    page = live.client.get(resp.headers["Location"]).get_data(as_text=True)
    assert "Purchase order PO-7 cancelled." in page
    assert 'aria-label="Undo: reopen purchase order PO-7">Undo</button>' in page

    undone = live.post(action, {"undo": ticket})
    assert (undone.status_code, undone.headers["Location"]) == (303, "/admin/incoming")
    assert _po_rows(live.db) == before
    state = live.state(v1)
    assert (state.restock_eta, state.incoming_quantity, state.eta_source) == (
        TODAY + timedelta(days=10),
        24,
        "incoming_stock",
    )
    assert _shopper_view(live, v1) == shown
    after = live.client.get("/admin/incoming").get_data(as_text=True)
    assert "Purchase order PO-7 is open again." in after
    # The same undo again: the order is open, so it is refused and stays as it is.
    again = live.post(action, {"undo": ticket})
    assert again.status_code == 409
    assert "This purchase order is open now" in again.get_data(as_text=True)
    assert _po_rows(live.db) == before
    # The banner is gone once the order is no longer as the cancel left it.
    assert 'name="undo"' not in live.client.get(resp.headers["Location"]).get_data(as_text=True)


def _cancel(admin: Admin, po_id: int) -> tuple[str, str]:
    resp = admin.post(f"/admin/incoming/{po_id}/close", {"action": "cancelled", "confirm": "yes"})
    assert resp.status_code == 303
    return _undo_form(admin, resp.headers["Location"])


def test_undo_after_the_po_was_received_is_refused_and_changes_nothing(recorded: Admin) -> None:
    po_id = _add_po(recorded)
    action, ticket = _cancel(recorded, po_id)
    with recorded.db.session() as s:
        s.execute(update(PurchaseOrder).values(status="received", received_quantity=24))
    before, jobs = _po_rows(recorded.db), len(recorded.jobs.specs)
    with recorded.db.session() as s:
        s.execute(DirtyVariant.__table__.delete())
    resp = recorded.post(action, {"undo": ticket})
    assert resp.status_code == 409
    assert "This purchase order is received now: left as it is. Nothing was changed." in resp.get_data(as_text=True)
    as_json = recorded.post(action, {"undo": ticket}, headers={"Accept": "application/json"})
    assert (as_json.status_code, as_json.get_json()["error"]["code"]) == (409, "not_cancelled")
    assert _po_rows(recorded.db) == before
    assert (recorded.dirty(), len(recorded.jobs.specs)) == ([], jobs)


def test_undo_is_refused_when_the_po_changed_since_or_the_ticket_is_wrong_or_stale(
    recorded: Admin, monkeypatch: pytest.MonkeyPatch
) -> None:
    po_id = _add_po(recorded)
    action, ticket = _cancel(recorded, po_id)
    cancelled = _po_rows(recorded.db)
    # Tampered, missing, or another row's ticket: 400, nothing changed.
    for bad in (ticket[:-2] + "xx", ""):
        assert recorded.post(action, {"undo": bad}).status_code == 400
    assert _po_rows(recorded.db) == cancelled
    # Past the window.
    monkeypatch.setattr(confirm, "UNDO_SECONDS", -1)
    stale = recorded.post(action, {"undo": ticket}, headers={"Accept": "application/json"})
    assert (stale.status_code, stale.get_json()["error"]["code"]) == (409, "undo_expired")
    monkeypatch.undo()
    # Changed after the cancel (a later edit bumps updated_at): the undo would overwrite it, so it is refused.
    with recorded.db.session() as s:
        s.execute(update(PurchaseOrder).values(updated_at=datetime.now(UTC) + timedelta(seconds=1)))
    changed = recorded.post(action, {"undo": ticket}, headers={"Accept": "application/json"})
    assert (changed.status_code, changed.get_json()["error"]["code"]) == (409, "changed_since")
    assert [r[-1] for r in _po_rows(recorded.db)] == ["cancelled"]


def _sign_in_as(client: FlaskClient, store_id: int) -> None:
    with client.session_transaction() as sess:
        sess.clear()
        sess.update(session_fields(store_id, 0))


def test_undo_of_another_stores_po_is_a_404_and_changes_nothing(recorded: Admin) -> None:
    po_id = _add_po(recorded)
    action, ticket = _cancel(recorded, po_id)
    cancelled, jobs = _po_rows(recorded.db), len(recorded.jobs.specs)
    with recorded.db.session() as s:
        other = s.scalars(select(Store.id).where(Store.name == "Other")).one()
    _sign_in_as(recorded.client, other)
    assert recorded.post(action, {"undo": ticket}).status_code == 404
    assert recorded.client.get(f"/admin/incoming/{po_id}/cancel").status_code == 404
    assert recorded.post(f"/admin/incoming/{po_id}/close", {"action": "cancelled", "confirm": "yes"}).status_code == 404
    assert _po_rows(recorded.db) == cancelled
    assert len(recorded.jobs.specs) == jobs


# --- campaigns ------------------------------------------------------------------------------------------------------


def test_campaign_cancel_needs_confirmation_and_undo_restores_the_forecast(live: Admin) -> None:
    v2 = live.variant_ids[1]
    resp = live.post(
        "/admin/campaigns",
        {"name": "Summer sale", "starts_on": day(2), "ends_on": day(9), "uplift_pct": "100", "collections": "Summer"},
    )
    camp_id = int(resp.headers["Location"].rsplit("/", 1)[1])
    before = _campaign_rows(live.db)
    forecast = (live.state(v2).campaign_id, live.state(v2).campaign_stockout_on)
    assert forecast[0] == camp_id and forecast[1] is not None

    detail = live.client.get(f"/admin/campaigns/{camp_id}").get_data(as_text=True)
    assert f'href="/admin/campaigns/{camp_id}/cancel"' in detail
    page = live.client.get(f"/admin/campaigns/{camp_id}/cancel").get_data(as_text=True)
    assert '<h1 id="confirm-heading">Cancel the campaign &#39;Summer sale&#39;?</h1>' in page
    assert f"It is planned from {day(2)} to {day(9)} with 100% more demand on 2 variants" in page
    assert "Its sell-out forecast (1 variant it would sell out)" in page

    refused = live.post(f"/admin/campaigns/{camp_id}/cancel", {})
    assert refused.status_code == 400
    assert _campaign_rows(live.db) == before
    assert (live.state(v2).campaign_id, live.state(v2).campaign_stockout_on) == forecast

    done = live.post(f"/admin/campaigns/{camp_id}/cancel", {"confirm": "yes"})
    assert done.status_code == 303
    assert [r[-1] for r in _campaign_rows(live.db)] == ["cancelled"]
    assert (live.state(v2).campaign_id, live.state(v2).campaign_stockout_on) == (None, None)
    action, ticket = _undo_form(live, done.headers["Location"])
    assert action == f"/admin/campaigns/{camp_id}/undo-cancel"
    assert "Campaign &#39;Summer sale&#39; cancelled." in live.client.get(done.headers["Location"]).get_data(
        as_text=True
    )

    undone = live.post(action, {"undo": ticket})
    assert (undone.status_code, undone.headers["Location"]) == (303, f"/admin/campaigns/{camp_id}")
    assert _campaign_rows(live.db) == before
    assert (live.state(v2).campaign_id, live.state(v2).campaign_stockout_on) == forecast
    assert live.post(action, {"undo": ticket}).status_code == 409
    assert _campaign_rows(live.db) == before


def test_undo_of_another_stores_campaign_is_a_404(recorded: Admin) -> None:
    resp = recorded.post(
        "/admin/campaigns",
        {"name": "Mine", "starts_on": day(2), "ends_on": day(9), "uplift_pct": "50", "collections": "Summer"},
    )
    camp_id = int(resp.headers["Location"].rsplit("/", 1)[1])
    done = recorded.post(f"/admin/campaigns/{camp_id}/cancel", {"confirm": "yes"})
    action, ticket = _undo_form(recorded, done.headers["Location"])
    cancelled = _campaign_rows(recorded.db)
    with recorded.db.session() as s:
        other = s.scalars(select(Store.id).where(Store.name == "Other")).one()
    _sign_in_as(recorded.client, other)
    assert recorded.post(action, {"undo": ticket}).status_code == 404
    assert _campaign_rows(recorded.db) == cancelled


# --- a subscriber's GDPR erase --------------------------------------------------------------------------------------


def _subscribe(admin: Admin, email: str, variant_id: int) -> int:
    with admin.db.session() as s:
        sub = Subscription(store_id=admin.store_id, variant_id=variant_id, email=email, state="active")
        s.add(sub)
        s.flush()
        s.add(
            ConsentRecord(
                subscription_id=sub.id,
                text_version="v1",
                text="ok",
                store_id=admin.store_id,
                ip_hash="abc",
                user_agent="UA",
                given_at=datetime.now(UTC),
            )
        )
        return int(sub.id)


def _subscriber_rows(db: Database) -> list[tuple[Any, ...]]:
    with db.session() as s:
        subs = [
            (x.id, x.email, x.state, x.skip_reason) for x in s.scalars(select(Subscription).order_by(Subscription.id))
        ]
        consents = [(c.subscription_id, c.ip_hash, c.user_agent) for c in s.scalars(select(ConsentRecord))]
        audits = s.scalar(select(func.count()).select_from(ComplianceRequest))
        return [*subs, *consents, audits]


def test_a_gdpr_erase_is_confirmed_and_final(recorded: Admin) -> None:
    v1, v2 = recorded.variant_ids
    jo = _subscribe(recorded, "jo@example.com", v1)
    _subscribe(recorded, "jo@example.com", v2)
    before = _subscriber_rows(recorded.db)

    listing = recorded.client.get("/admin/subscribers").get_data(as_text=True)
    assert f'href="/admin/subscribers/{jo}/remove"' in listing
    page = recorded.client.get(f"/admin/subscribers/{jo}/remove")
    text = page.get_data(as_text=True)
    assert page.status_code == 200
    assert (
        f'<h1 id="confirm-heading">Erase jo@example.com from the waitlist for TEE-S (Product {_product_n(recorded)})?'
        in text
    )
    assert "The address jo@example.com, the IP fingerprint and browser of their consent" in text
    assert "its notification history (0 restock emails) stays without the address" in text
    assert "Their 1 other waitlist signup in this store is not touched" in text
    assert "<strong>This cannot be undone.</strong>" in text
    assert "You can undo" not in text

    for form in ({}, {"confirm": "true"}):
        refused = recorded.post(f"/admin/subscribers/{jo}/remove", form)
        assert refused.status_code == 400
        assert "This cannot be undone." in refused.get_data(as_text=True)
    assert _subscriber_rows(recorded.db) == before

    done = recorded.post(f"/admin/subscribers/{jo}/remove", {"confirm": "yes"})
    assert (done.status_code, done.headers["Location"]) == (303, "/admin/subscribers")
    after = _subscriber_rows(recorded.db)
    assert after[0] == (jo, f"removed-{jo}@redacted.invalid", "redacted", "removed")
    assert after[1] == (jo + 1, "jo@example.com", "active", None)
    assert after[-1] == 1
    shown = recorded.client.get(done.headers["Location"]).get_data(as_text=True)
    assert "Subscriber removed: the address is erased." in shown
    assert 'name="undo"' not in shown and "Undo" not in shown


def test_erasing_from_the_log_goes_back_to_the_log(recorded: Admin) -> None:
    jo = _subscribe(recorded, "jo@example.com", recorded.variant_ids[0])
    log = recorded.client.get("/admin/subscribers/log?email=jo@example.com").get_data(as_text=True)
    link = f"/admin/subscribers/{jo}/remove?log_email=jo@example.com"
    assert f'href="{link}"' in log
    page = recorded.client.get(link).get_data(as_text=True)
    assert '<input type="hidden" name="log_email" value="jo@example.com">' in page
    assert (
        'href="/admin/subscribers/log?email=jo@example.com" class="button button--secondary" data-confirm-back>' in page
    )
    done = recorded.post(f"/admin/subscribers/{jo}/remove", {"confirm": "yes", "log_email": "jo@example.com"})
    assert (done.status_code, done.headers["Location"]) == (303, "/admin/subscribers/log?email=jo@example.com")
