"""The daily digest: exact content from yesterday's and today's history, sent once a day, nothing when quiet."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from app.config import Settings
from app.db import Database
from app.models import Product, StockStateHistory, Store, StoreSetting, Subscription, Variant
from app.services.notify import alerts
from app.services.stock.recompute import recompute
from tests.factories import make_store, make_variant
from tests.smtpd import smtp_server

pytestmark = pytest.mark.integration

NOW = datetime.now(UTC)
TODAY = NOW.date()
YESTERDAY = TODAY - timedelta(days=1)


def _seed(db: Database) -> tuple[int, int, int]:
    with db.session() as s:
        store = make_store(s, platform="woocommerce", name="Digest Shop", admin_email="owner@digest.test")
        s.add(StoreSetting(store_id=store.id, scope="store", values={"high_demand_waitlist": 2}))
        sold = make_variant(s, store, qty=0, sku="TEE-S", title="S")
        calm = make_variant(s, store, qty=500, sku="TEE-M", title="M")
        for n, email in enumerate(("a@x.test", "b@x.test")):
            sub = Subscription(store_id=store.id, variant_id=calm.id, email=email, state="active")
            s.add(sub)
            s.flush()
            sub.created_at = NOW - timedelta(days=3) if n == 0 else NOW
        recompute(s, store.id, now=NOW)
        for v in (sold, calm):
            s.add(
                StockStateHistory(
                    store_id=store.id,
                    variant_id=v.id,
                    day=YESTERDAY,
                    sellable_quantity=10,
                    velocity=1.0,
                    days_on_hand=30.0,
                    status="in_stock",
                    signal="ok",
                )
            )
        return store.id, sold.id, calm.id


def test_the_digest_lists_what_changed_and_is_sent_once_a_day(db: Database) -> None:
    store_id, sold_id, calm_id = _seed(db)
    with smtp_server() as (mail, url):
        settings = Settings(env="test", app_url="http://backsoon.test", smtp_url=url)
        assert alerts.send_digest(db, settings, store_id, now=NOW) == "sent"
        assert alerts.send_digest(db, settings, store_id, now=NOW) == "skipped"
        assert len(mail.received) == 1
        msg = mail.received[0].message
    assert msg["To"] == "owner@digest.test"
    assert msg["Subject"] == f"Digest Shop: 3 stock alerts for {TODAY.isoformat()}"
    text = msg.get_body(("plain",)).get_content().replace("\r\n", "\n")  # type: ignore[union-attr]
    with db.session() as s:
        store = s.get(Store, store_id)
        assert store is not None and store.last_digest_on == TODAY
        names = dict(s.execute(select(Variant.id, Product.title).join(Product, Product.id == Variant.product_id)).all())
    assert text == (
        f"Digest Shop — stock alerts for {TODAY.isoformat()} (changes since {YESTERDAY.isoformat()})\n"
        "\nSold out (1)\n"
        f"- {names[sold_id]} – S [TEE-S]: sold out\n"
        "\nMarketing signal changed (1)\n"
        f"- {names[sold_id]} – S [TEE-S]: ok → pause\n"
        "\nHigh demand on the waitlist (1)\n"
        f"- {names[calm_id]} – M [TEE-M]: 2 waiting\n"
        "\nOpen the dashboard: http://backsoon.test/admin/\n"
    )
    html = msg.get_body(("html",)).get_content()  # type: ignore[union-attr]
    assert '<h2 style="font-size:16px;margin:0 0 8px">Sold out (1)</h2>' in html


def test_a_quiet_day_claims_the_day_and_sends_nothing(db: Database) -> None:
    with db.session() as s:
        store = make_store(s, platform="woocommerce", admin_email="quiet@x.test")
        make_variant(s, store, qty=500)
        recompute(s, store.id, now=NOW)
        store_id = store.id
    with smtp_server() as (mail, url):
        settings = Settings(env="test", smtp_url=url)
        assert alerts.send_digest(db, settings, store_id, now=NOW) == "empty"
        assert mail.received == []
    with db.session() as s:
        assert s.scalar(select(Store.last_digest_on).where(Store.id == store_id)) == TODAY


def test_a_failed_send_gives_the_day_back(db: Database) -> None:
    store_id, _, _ = _seed(db)
    settings = Settings(env="test", smtp_url="smtp://127.0.0.1:9")  # nothing listens on the discard port
    with pytest.raises(OSError):
        alerts.send_digest(db, settings, store_id, now=NOW)
    with db.session() as s:
        assert s.scalar(select(Store.last_digest_on).where(Store.id == store_id)) is None


def test_due_stores_wait_for_the_morning_and_skip_claimed_days(db: Database) -> None:
    with db.session() as s:
        a = make_store(s, platform="woocommerce", admin_email="a@x.test")
        b = make_store(s, platform="woocommerce", admin_email="b@x.test", last_digest_on=TODAY)
        make_store(s, platform="woocommerce")  # no address, no digest
        morning = datetime.combine(TODAY, datetime.min.time(), UTC) + timedelta(hours=alerts.DIGEST_HOUR)
        assert alerts.due_store_ids(s, morning - timedelta(minutes=1)) == []
        assert alerts.due_store_ids(s, morning) == [a.id]
        assert b.id not in alerts.due_store_ids(s, morning + timedelta(hours=3))


def test_the_daily_purge_drops_alert_log_rows_past_90_days_and_keeps_the_rest(db: Database) -> None:
    from app.models import AlertLog
    from app.runtime import Runtime, set_runtime
    from jobs.maintenance import purge_alert_log
    from tests.factories import RecordingQueue

    with db.session() as s:
        a = make_store(s, platform="woocommerce", admin_email="a@x.test")
        b = make_store(s, platform="woocommerce", admin_email="b@x.test")
        for store, age, subject in (
            (a, timedelta(days=91), "old a"),
            (a, timedelta(days=89), "recent a"),
            (b, timedelta(days=200), "old b"),
            (b, timedelta(hours=1), "recent b"),
        ):
            s.add(
                AlertLog(
                    store_id=store.id, kind="digest", status="sent", recipient="a@x.test", subject=subject,
                    created_at=NOW - age,
                )
            )  # fmt: skip
    set_runtime(Runtime(Settings(env="test"), db, RecordingQueue()))
    assert purge_alert_log() == 2
    assert purge_alert_log() == 0
    with db.session() as s:
        assert sorted(s.scalars(select(AlertLog.subject))) == ["recent a", "recent b"]
