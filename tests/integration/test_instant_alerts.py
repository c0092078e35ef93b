"""The optional instant alert: off by default; when on, one email of what just happened (sell-outs, signal changes,
waitlist crossings) since the last one, exactly once, at most every 15 minutes, nothing when nothing happened."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from typing import Any

import pytest
from sqlalchemy import func, select

from app.config import Settings
from app.db import Database
from app.models import Product, StockEvent, Store, StoreSetting, Subscription, Variant
from app.services.notify import alerts
from app.services.stock.recompute import recompute
from tests.conftest import AppFactory
from tests.factories import RecordingQueue, make_store, make_variant
from tests.smtpd import smtp_server

pytestmark = pytest.mark.integration

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def _seed(db: Database, *, name: str = "Instant Shop", on: bool = True, email: str | None = "owner@shop.test") -> int:
    """A store in Amsterdam with a tee (10 left), a mug (500 left, one shopper waiting), states computed two hours
    ago; alert times are shown in the store's own time."""
    with db.session() as s:
        store = make_store(s, platform="woocommerce", name=name, admin_email=email, timezone="Europe/Amsterdam")
        values: dict[str, Any] = {"high_demand_waitlist": 2}
        if on:
            values["instant_alerts"] = True
        s.add(StoreSetting(store_id=store.id, scope="store", values=values))
        tee = Product(store_id=store.id, external_id="p-tee", title="Tee")
        mug = Product(store_id=store.id, external_id="p-mug", title="Mug")
        s.add_all([tee, mug])
        s.flush()
        make_variant(s, store, qty=10, product=tee, sku="TEE-S", title="S")
        calm = make_variant(s, store, qty=500, product=mug, sku="MUG", title="Default Title")
        _subscribe(s, store.id, calm.id, "a@x.test", NOW - timedelta(days=3))
        recompute(s, store.id, now=NOW - timedelta(hours=2))
        return store.id


def _subscribe(s: Any, store_id: int, variant_id: int, email: str, at: datetime) -> None:
    sub = Subscription(store_id=store_id, variant_id=variant_id, email=email, state="active")
    s.add(sub)
    s.flush()
    sub.created_at = at


def _variant(s: Any, store_id: int, sku: str) -> Variant:
    found = s.scalars(select(Variant).where(Variant.store_id == store_id, Variant.sku == sku)).one()
    assert isinstance(found, Variant)
    return found


def _happen(db: Database, store_id: int, at: datetime) -> None:
    """The tee sells out (a sell-out and ok → pause) and a second shopper joins the mug's waitlist."""
    with db.session() as s:
        _variant(s, store_id, "TEE-S").sellable_quantity = 0
        _subscribe(s, store_id, _variant(s, store_id, "MUG").id, "b@x.test", at)
        recompute(s, store_id, now=at)


def _text(msg: EmailMessage) -> str:
    body = msg.get_body(("plain",))
    assert body is not None
    return str(body.get_content()).replace("\r\n", "\n")


def _store(db: Database, store_id: int) -> Store:
    with db.session() as s:
        store = s.get(Store, store_id)
        assert store is not None
        s.expunge(store)
        return store


def test_off_by_default_nothing_is_sent(db: Database) -> None:
    store_id = _seed(db, on=False)
    _happen(db, store_id, NOW - timedelta(minutes=1))
    with smtp_server() as (mail, url):
        assert alerts.send_instant_alert(db, Settings(env="test", smtp_url=url), store_id, now=NOW) == "off"
        assert mail.received == []
    assert _store(db, store_id).instant_alert_at is None


def test_what_happened_is_sent_once_in_one_email(db: Database) -> None:
    store_id = _seed(db)
    _happen(db, store_id, NOW - timedelta(minutes=1))
    with smtp_server() as (mail, url):
        settings = Settings(env="test", app_url="http://backsoon.test", smtp_url=url)
        assert alerts.send_instant_alert(db, settings, store_id, now=NOW) == "sent"
        # The job again, at once and after the spacing: nothing new happened, nothing more is sent.
        assert alerts.send_instant_alert(db, settings, store_id, now=NOW) == "waiting"
        assert alerts.send_instant_alert(db, settings, store_id, now=NOW + timedelta(minutes=20)) == "empty"
        assert len(mail.received) == 1
        msg = mail.received[0].message
    assert msg["To"] == "owner@shop.test"
    assert msg["Subject"] == "Instant Shop: 3 new stock alerts"
    assert msg["Auto-Submitted"] == "auto-generated"
    assert _text(msg) == (
        "Instant Shop — what just happened (2026-11-22 13:00 CET)\n"
        "\nSold out (1)\n"
        "- Tee – S [TEE-S]: sold out\n"
        "\nMarketing signal changed (1)\n"
        "- Tee – S [TEE-S]: ok → pause\n"
        "\nHigh demand on the waitlist (1)\n"
        "- Mug [MUG]: 2 waiting\n"
        "\nOpen the dashboard: http://backsoon.test/admin/\n"
        "You get these alerts at most every 15 minutes; turn them off in Settings: http://backsoon.test/admin/settings\n"
    )
    html = msg.get_body(("html",)).get_content()  # type: ignore[union-attr]
    assert '<h2 style="font-size:16px;margin:0 0 8px">Marketing signal changed (1)</h2>' in html
    assert '<li>Tee – S <span style="color:#71717a">[TEE-S]</span>: ok → pause</li>' in html
    store = _store(db, store_id)
    assert store.instant_alert_at == NOW
    assert store.instant_alert_cursor is not None
    with db.session() as s:
        tee_id = _variant(s, store_id, "TEE-S").id
    assert store.instant_alert_cursor["signals"] == {str(tee_id): "pause"}


def test_a_second_batch_waits_for_the_spacing_then_goes(db: Database) -> None:
    store_id = _seed(db)
    _happen(db, store_id, NOW - timedelta(minutes=1))
    later = NOW + timedelta(minutes=5)
    with smtp_server() as (mail, url):
        settings = Settings(env="test", app_url="http://backsoon.test", smtp_url=url)
        assert alerts.send_instant_alert(db, settings, store_id, now=NOW) == "sent"
        with db.session() as s:
            assert alerts.instant_due_store_ids(s, NOW + timedelta(minutes=15)) == []  # nothing changed since
            _variant(s, store_id, "TEE-S").sellable_quantity = 40  # a restock is no alert; pause → ok is
            recompute(s, store_id, now=later)
        assert alerts.send_instant_alert(db, settings, store_id, now=later) == "waiting"
        assert len(mail.received) == 1
        with db.session() as s:
            assert alerts.instant_due_store_ids(s, NOW + timedelta(minutes=14)) == []
            assert alerts.instant_due_store_ids(s, NOW + timedelta(minutes=15)) == [store_id]
        assert alerts.send_instant_alert(db, settings, store_id, now=NOW + timedelta(minutes=15)) == "sent"
        assert len(mail.received) == 2
        second = mail.received[1].message
    assert second["Subject"] == "Instant Shop: 1 new stock alert"
    assert _text(second) == (
        "Instant Shop — what just happened (2026-11-22 13:15 CET)\n"
        "\nMarketing signal changed (1)\n"
        "- Tee – S [TEE-S]: pause → ok\n"
        "\nOpen the dashboard: http://backsoon.test/admin/\n"
        "You get these alerts at most every 15 minutes; turn them off in Settings: http://backsoon.test/admin/settings\n"
    )
    with db.session() as s:
        top = s.scalar(select(func.max(StockEvent.id)).where(StockEvent.store_id == store_id))
    # The restock moved the event cursor on; the tee is back to ok, so no signal is remembered.
    assert _store(db, store_id).instant_alert_cursor == {"event_id": top, "signals": {}}


def test_no_admin_email_sends_nothing(db: Database) -> None:
    store_id = _seed(db, email=None)
    _happen(db, store_id, NOW - timedelta(minutes=1))
    with smtp_server() as (mail, url):
        assert alerts.send_instant_alert(db, Settings(env="test", smtp_url=url), store_id, now=NOW) == "skipped"
        assert mail.received == []
    assert _store(db, store_id).instant_alert_cursor is None


def test_a_failed_send_gives_the_cursor_back(db: Database) -> None:
    store_id = _seed(db)
    _happen(db, store_id, NOW - timedelta(minutes=1))
    with pytest.raises(OSError):
        alerts.send_instant_alert(db, Settings(env="test", smtp_url="smtp://127.0.0.1:9"), store_id, now=NOW)
    store = _store(db, store_id)
    assert (store.instant_alert_at, store.instant_alert_cursor) == (None, None)


def test_stores_are_alerted_about_their_own_variants_only(db: Database) -> None:
    quiet_id = _seed(db, name="Quiet Shop")
    busy_id = _seed(db, name="Busy Shop")
    _happen(db, busy_id, NOW - timedelta(minutes=1))
    with smtp_server() as (mail, url):
        settings = Settings(env="test", app_url="http://backsoon.test", smtp_url=url)
        assert alerts.send_instant_alert(db, settings, quiet_id, now=NOW) == "empty"
        assert alerts.send_instant_alert(db, settings, busy_id, now=NOW) == "sent"
        assert [r.message["Subject"] for r in mail.received] == ["Busy Shop: 3 new stock alerts"]
    assert _store(db, quiet_id).instant_alert_at is None
    # The busy store's events and signals are not news for the quiet one later either.
    with smtp_server() as (mail, url):
        settings = Settings(env="test", smtp_url=url)
        assert alerts.send_instant_alert(db, settings, quiet_id, now=NOW + timedelta(minutes=1)) == "empty"
        assert mail.received == []


def test_the_settings_page_saves_the_toggle(db: Database, make_app: AppFactory) -> None:
    app = make_app(jobs=RecordingQueue(), demo=True)
    with db.session() as s:
        store_id = make_store(s, platform="demo", name="Demo Shop").id
    client = app.test_client()
    page = client.get("/admin/settings").get_data(as_text=True)
    assert '<option value="false" selected>No</option>' in page.split('id="instant_alerts"')[1].split("</select>")[0]

    def post(data: dict[str, str]) -> Any:
        match = _CSRF.search(client.get("/admin/settings").get_data(as_text=True))
        assert match is not None
        return client.post("/admin/settings", data={"csrf_token": match.group(1), **data})

    def saved() -> dict[str, Any]:
        with db.session() as s:
            values = s.scalars(select(StoreSetting.values).where(StoreSetting.store_id == store_id)).first()
            return dict(values or {})

    bad = post({"instant_alerts": "maybe"})
    assert bad.status_code == 400
    html = bad.get_data(as_text=True)
    assert '<p class="field-error" id="instant_alerts-error">Choose Yes or No.</p>' in html
    assert re.search(r'id="instant_alerts" name="instant_alerts"[^>]*aria-invalid="true"', html)
    assert saved() == {}
    assert post({"instant_alerts": "true", "sender_name": "Team"}).status_code == 302
    assert saved() == {"instant_alerts": True, "sender_name": "Team"}
    page = client.get("/admin/settings").get_data(as_text=True)
    assert '<option value="true" selected>Yes</option>' in page.split('id="instant_alerts"')[1].split("</select>")[0]
    with db.session() as s:
        assert alerts.instant_alerts_on(s, store_id) is True
    assert post({"instant_alerts": "false", "sender_name": "Team"}).status_code == 302
    assert saved() == {"sender_name": "Team"}


def test_an_instant_alert_the_server_refuses_is_recorded_failed_and_sent_next_time(db: Database) -> None:
    from app.models import AlertLog

    store_id = _seed(db)
    at = NOW - timedelta(minutes=30)
    _happen(db, store_id, at)
    with smtp_server() as (mail, url):
        mail.replies["owner@shop.test"] = "450 4.2.1 mailbox busy"
        settings = Settings(env="test", app_url="https://app.test", smtp_url=url)
        with pytest.raises(alerts.AlertRefused, match="450"):
            alerts.send_instant_alert(db, settings, store_id, now=NOW)
        assert mail.received == []
        store = _store(db, store_id)
        assert (store.instant_alert_at, store.instant_alert_cursor) == (None, None)
        del mail.replies["owner@shop.test"]
        assert alerts.send_instant_alert(db, settings, store_id, now=NOW + timedelta(minutes=1)) == "sent"
        assert [r.rcpt_tos for r in mail.received] == [["owner@shop.test"]]
    with db.session() as s:
        rows = [(r.kind, r.status, r.lines) for r in s.scalars(select(AlertLog).order_by(AlertLog.id))]
    assert rows == [("instant", "failed", 3), ("instant", "sent", 3)]
