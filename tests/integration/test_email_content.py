"""What shoppers and merchants receive, through the real fan-out, confirmation and digest code and a real aiosmtpd
server: the product image with its alt text, the variant, the price as the store writes it, an urgency line only
when the count is true, and a digest the server refused is recorded as failed and not marked sent."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from email.message import EmailMessage

import pytest
from sqlalchemy import select

from app.config import Settings
from app.db import Database
from app.models import AlertLog, Product, StockEvent, Store, StoreSetting, Subscription, Variant
from app.services.merchant import identity
from app.services.notify import alerts, confirmation, fanout
from app.services.stock.recompute import recompute
from integrations.shopify.shop import money_format as shopify_format
from tests.factories import NOW, make_store, make_variant
from tests.smtpd import Collector, smtp_server

pytestmark = pytest.mark.integration
SENDS = pytest.mark.truncating("the wave sender and the confirmation commit on connections of their own")
IMAGE = "https://cdn.shopify.com/s/files/1/0712/3456/7890/files/linen-shirt-blue.jpg?v=1728912139"


@dataclass
class Shop:
    db: Database
    smtp: Collector
    settings: Settings
    store_id: int
    variant_id: int

    def restock(self, qty: int, **variant: object) -> EmailMessage:
        """Restock the variant to ``qty`` units with one subscriber, run the fan-out, and return the email."""
        with self.db.session() as s:
            v = s.get(Variant, self.variant_id)
            assert v is not None
            v.sellable_quantity = qty
            for key, value in variant.items():
                setattr(v, key, value)
            s.add(
                Subscription(store_id=self.store_id, variant_id=v.id, email="fan@x.test", state="active", locale="nl")
            )
            ev = StockEvent(
                store_id=self.store_id,
                variant_id=v.id,
                kind="restock",
                quantity_before=0,
                quantity_after=qty,
                occurred_at=NOW,
                fanout_status="pending",
            )
            s.add(ev)
            s.flush()
            event_id = ev.id
        fanout.run_fanout(self.db, self.settings, event_id, clock=lambda: NOW)
        assert [r.rcpt_tos for r in self.smtp.received] == [["fan@x.test"]]
        return self.smtp.received[0].message


def bodies(msg: EmailMessage) -> tuple[str, str]:
    """The HTML and the plain-text part, with the text's line ends as \\n."""
    html, text = msg.get_body(("html",)), msg.get_body(("plain",))
    assert isinstance(html, EmailMessage) and isinstance(text, EmailMessage)
    return html.get_content(), text.get_content().replace("\r\n", "\n")


@pytest.fixture
def shop(db: Database) -> Iterator[Shop]:
    with db.session() as s:
        store = make_store(
            s, name="Linnen & Co", timezone="Europe/Amsterdam", locale="nl", currency="EUR", country="NL"
        )
        # What the Shopify reader records from the shop's money format (a Dutch store writes €24,95).
        identity.record_reported(
            store,
            {
                "name": "Linnen & Co",
                "currency": "EUR",
                "locale": "nl",
                "money_format": shopify_format("€{{amount_with_comma_separator}}"),
            },
            NOW,
        )
        variant = make_variant(s, store, qty=0, title="Blauw / M", price=Decimal("24.95"), image_url=IMAGE)
        variant_id, store_id = variant.id, store.id
    with smtp_server() as (handler, url):
        settings = Settings(
            env="test", smtp_url=url, app_url="https://app.test", secret_key="k", mail_from="BS <bs@mail.test>"
        )
        yield Shop(db, handler, settings, store_id, variant_id)


def _product_title(db: Database, variant_id: int) -> str:
    with db.session() as s:
        return str(
            s.scalar(
                select(Product.title).join(Variant, Variant.product_id == Product.id).where(Variant.id == variant_id)
            )
        )


@SENDS
def test_restock_email_shows_image_variant_price_and_the_true_urgency(shop: Shop) -> None:
    msg = shop.restock(3)
    product = _product_title(shop.db, shop.variant_id)
    assert msg["Subject"] == f"Weer op voorraad: {product}"
    html, text = bodies(msg)
    assert f'<img src="{IMAGE}" alt="{product} - Blauw / M" width="512"'.replace("&", "&amp;") in html
    assert '<span class="price" style="font-weight:bold">€24,95</span>' in html
    assert (
        '<td class="urgency" style="padding:12px 24px 0;font-size:15px;font-weight:bold;color:#b91c1c">'
        "Slechts 3 weer op voorraad</td>"
    ) in html
    assert text.startswith(
        f"Linnen & Co\n\nGoed nieuws: het is weer op voorraad\n\n{product} - Blauw / M\n€24,95\n\n"
        "Slechts 3 weer op voorraad\n\nJe vroeg ons"
    )


@SENDS
def test_no_urgency_line_when_the_count_is_not_a_real_limit_or_not_small(shop: Shop) -> None:
    # Overselling allowed: the 3 units say nothing about how many can be bought.
    msg = shop.restock(3, inventory_policy="continue")
    html, text = bodies(msg)
    assert 'class="urgency"' not in html and "Slechts" not in html and "Slechts" not in text
    assert "€24,95" in text  # the rest of the email is unchanged


@SENDS
def test_no_urgency_line_when_stock_is_untracked(shop: Shop) -> None:
    msg = shop.restock(3, tracked=False)
    html, text = bodies(msg)
    assert 'class="urgency"' not in html and "Slechts" not in text


@SENDS
def test_no_urgency_line_above_the_low_stock_threshold(shop: Shop) -> None:
    with shop.db.session() as s:
        s.add(StoreSetting(store_id=shop.store_id, scope="store", values={"low_stock_threshold": 2}))
    html, text = bodies(shop.restock(3))
    assert 'class="urgency"' not in html and "Slechts" not in text


@SENDS
def test_no_price_line_when_the_platform_gave_no_price(shop: Shop) -> None:
    html, text = bodies(shop.restock(3, price=Decimal("0")))
    assert 'class="price"' not in html and "€" not in text


@SENDS
def test_confirmation_email_shows_product_variant_price_and_image(shop: Shop) -> None:
    with shop.db.session() as s:
        sub = Subscription(
            store_id=shop.store_id,
            variant_id=shop.variant_id,
            email="c@x.test",
            state="pending_confirmation",
            locale="nl",
        )
        s.add(sub)
        s.flush()
        sid = sub.id
    assert confirmation.send_confirmation(shop.db, shop.settings, sid, clock=lambda: NOW) is True
    msg = shop.smtp.received[0].message
    product = _product_title(shop.db, shop.variant_id)
    assert msg["Subject"] == "Bevestig je e-mailadres voor Linnen & Co"
    html, text = bodies(msg)
    assert f'<strong>{product}</strong> - Blauw / M<br><span class="price">€24,95</span>' in html
    assert f'<img src="{IMAGE}" alt="{product} - Blauw / M" width="256"'.replace("&", "&amp;") in html
    assert f"{product} - Blauw / M\n€24,95\n\nMijn e-mailadres bevestigen: https://app.test/c/" in text


def _digest_store(db: Database) -> int:
    with db.session() as s:
        store = make_store(s, platform="woocommerce", name="Digest Shop", admin_email="owner@digest.test")
        s.add(StoreSetting(store_id=store.id, scope="store", values={"high_demand_waitlist": 1}))
        v = make_variant(s, store, qty=500, sku="TEE-M", title="M")
        sub = Subscription(store_id=store.id, variant_id=v.id, email="a@x.test", state="active")
        s.add(sub)
        s.flush()
        recompute(s, store.id, now=NOW)
        return store.id


def test_a_digest_the_server_refuses_is_recorded_failed_and_not_marked_sent(db: Database) -> None:
    store_id = _digest_store(db)
    with smtp_server() as (mail, url):
        mail.replies["owner@digest.test"] = "451 4.3.0 try again later"
        settings = Settings(env="test", app_url="http://backsoon.test", smtp_url=url)
        with pytest.raises(alerts.AlertRefused, match="451"):
            alerts.send_digest(db, settings, store_id, now=NOW)
        assert mail.received == []
        with db.session() as s:
            assert s.scalar(select(Store.last_digest_on).where(Store.id == store_id)) is None
            logged = [(r.kind, r.status, r.recipient, r.lines) for r in s.scalars(select(AlertLog))]
            assert logged == [("digest", "failed", "owner@digest.test", 1)]
        # The next run retries, and this time the server takes it.
        del mail.replies["owner@digest.test"]
        assert alerts.send_digest(db, settings, store_id, now=NOW + timedelta(minutes=5)) == "sent"
        assert [r.rcpt_tos for r in mail.received] == [["owner@digest.test"]]
    with db.session() as s:
        assert s.scalar(select(Store.last_digest_on).where(Store.id == store_id)) == NOW.date()
        rows = [(r.status, r.subject) for r in s.scalars(select(AlertLog).order_by(AlertLog.id))]
    subject = f"Digest Shop: 1 stock alert for {NOW.date().isoformat()}"
    assert [status for status, _ in rows] == ["failed", "sent"]
    assert rows[1][1] == subject


def test_a_digest_turned_off_is_not_sent_nor_due(db: Database) -> None:
    store_id = _digest_store(db)
    with db.session() as s:
        row = s.scalar(select(StoreSetting).where(StoreSetting.store_id == store_id))
        assert row is not None
        row.values = {**row.values, "daily_digest": False}
    with smtp_server() as (mail, url):
        settings = Settings(env="test", smtp_url=url)
        assert alerts.send_digest(db, settings, store_id, now=NOW) == "off"
        assert mail.received == []
    with db.session() as s:
        assert store_id not in alerts.due_store_ids(s, NOW + timedelta(days=1))
        assert s.scalar(select(Store.last_digest_on).where(Store.id == store_id)) is None
        assert s.scalars(select(AlertLog)).all() == []
