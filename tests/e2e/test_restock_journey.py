"""The whole shopper journey on the demo shop, in headless Chromium with a real SMTP server.

A shopper picks a sold-out variant, signs up through the widget, confirms from the double-opt-in email, the
merchant restocks (the demo's button), exactly one restock email arrives, its buy link leads to the product and
records the click, and the shopper's later order is attributed to that email as a direct conversion.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import delete, select

from app.models import Delivery, StockEvent, StoreSetting, Subscription
from app.services import catalog
from app.services.notify import attribution
from integrations.base import OrderLineRecord, OrderRecord
from tests.e2e.conftest import LiveServer, ensure_demo_store, make_live_server, sold_out_variant
from tests.factories import RecordingQueue
from tests.smtpd import Collector, smtp_server

pytestmark = [pytest.mark.integration, pytest.mark.e2e]

SHOPPER = "ada.lovelace@example.com"  # email-validator refuses special-use domains such as .test


@dataclass
class Journey:
    live: LiveServer
    mail: Collector
    store_id: int
    product_ext: str
    variant_ext: str
    variant_id: int

    def mail_to(self, address: str, subject_part: str, timeout: float = 20.0) -> Any:
        """Wait for a message to `address` whose subject contains `subject_part`; the parsed message."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for received in list(self.mail.received):
                msg = received.message
                if address in received.rcpt_tos and subject_part in str(msg["Subject"]):
                    return msg
            time.sleep(0.1)
        subjects = [(r.rcpt_tos, str(r.message["Subject"])) for r in self.mail.received]
        raise AssertionError(f"no mail to {address} with {subject_part!r}; received {subjects}")

    def link(self, msg: Any, path: str) -> str:
        """The first link to `path` in the message's plain-text part."""
        body = msg.get_body(("plain",)).get_content()
        match = re.search(rf"{re.escape(self.live.url)}{path}[\w.\-~]+", body)
        assert match is not None, body
        return match.group(0)


@pytest.fixture
def journey(pg_url: str) -> Iterator[Journey]:
    with smtp_server() as (mail, smtp_url):
        live = make_live_server(pg_url, smtp_url=smtp_url)
        try:
            store_id = ensure_demo_store(live.db)
            with live.db.session() as s:
                vid, vext, _, pext = sold_out_variant(s, store_id)
                # The seeded waitlist would come first in the wave (oldest first); this journey is about one shopper.
                s.execute(delete(Subscription).where(Subscription.variant_id == vid))
                s.execute(delete(StoreSetting).where(StoreSetting.store_id == store_id, StoreSetting.scope == "store"))
                s.add(StoreSetting(store_id=store_id, scope="store", values={"double_opt_in": True}))
            yield Journey(live, mail, store_id, pext, vext, vid)
        finally:
            live.stop()
            live.db.dispose()


def test_sign_up_confirm_restock_email_click_and_conversion(page: Any, journey: Journey) -> None:
    j = journey
    page.goto(f"{j.live.url}/demo/shop/products/{j.product_ext}?variant={j.variant_ext}")

    # 1. The widget swapped the sold-out variant's buy area for the back-soon form; sign up.
    page.get_by_label("Email address").fill(SHOPPER)
    page.locator(".bs-consent input[type=checkbox]").check()
    page.get_by_role("button", name="Email me when it’s back").click()
    page.get_by_text("Almost done: please confirm with the link we just emailed you.").wait_for()
    with j.live.db.session() as s:
        sub = s.execute(select(Subscription).where(Subscription.email == SHOPPER)).scalar_one()
        assert (sub.state, sub.variant_id, sub.source) == ("pending_confirmation", j.variant_id, "widget")

    # 2. Double opt-in: the confirmation mail's link shows a button; confirming activates the subscription.
    confirm = j.mail_to(SHOPPER, "confirm your email")
    assert confirm["List-Unsubscribe-Post"] is None
    page.goto(j.link(confirm, "/c/"))
    page.get_by_role("button").click()
    page.get_by_role("heading").first.wait_for()
    with j.live.db.session() as s:
        assert s.execute(select(Subscription.state).where(Subscription.email == SHOPPER)).scalar_one() == "active"

    # 3. The merchant restocks (the demo's button posts the restock; in-process jobs recompute and fan out).
    page.goto(f"{j.live.url}/demo/shop/products/{j.product_ext}?variant={j.variant_ext}")
    page.locator(f'form.demo-restock[data-variant="{j.variant_ext}"] button').click()
    # Back on the product page, which says what happened.
    page.locator(".flash--success").get_by_text("Restock emails are on their way to the demo inbox.").wait_for()
    restock = j.mail_to(SHOPPER, "Back in stock")
    assert restock["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert f"{j.live.url}/u/" in restock["List-Unsubscribe"]

    # 4. The buy link records the click and lands on the product with the variant selected.
    page.goto(j.link(restock, "/r/"))
    assert page.url == f"{j.live.url}/demo/shop/products/{j.product_ext}?variant={j.variant_ext}"
    with j.live.db.session() as s:
        delivery = s.execute(select(Delivery).join(Subscription).where(Subscription.email == SHOPPER)).scalar_one()
        assert (delivery.status, delivery.clicks) == ("sent", 1)
        assert delivery.sent_at is not None and delivery.clicked_at is not None
        event = s.get(StockEvent, delivery.stock_event_id)
        assert event is not None and event.kind == "restock"

    # 5. The shopper orders the variant: a direct conversion of that email, with its revenue.
    ordered_at = datetime.now(UTC)
    order = OrderRecord(
        external_id="journey-1",
        ordered_at=ordered_at,
        email=SHOPPER.upper(),  # platforms keep the case the shopper typed; matching is case-insensitive
        lines=(OrderLineRecord("journey-1-1", j.variant_ext, 2, Decimal("19.50")),),
        updated_at=ordered_at,
    )
    with j.live.db.session() as s:
        catalog.apply_orders(s, RecordingQueue(), j.store_id, [order])
    with j.live.db.session() as s:
        attribution.attribute_orders(s, j.store_id, datetime.now(UTC))
    with j.live.db.session() as s:
        delivery = s.execute(select(Delivery).join(Subscription).where(Subscription.email == SHOPPER)).scalar_one()
        assert (delivery.conversion_kind, delivery.revenue) == ("direct", Decimal("39.00"))
        assert s.execute(select(Subscription.state).where(Subscription.email == SHOPPER)).scalar_one() == "converted"
    report = page.request.get(f"{j.live.url}/api/v1/stores/{j.store_id}/attribution?by=restock").json()
    rows = [r for r in report["items"] if r["stock_event_id"] == delivery.stock_event_id]
    assert [(r["sent"], r["clicked"], r["converted"], r["direct"]) for r in rows] == [(1, 1, 1, 1)]

    # Exactly one restock email reached the shopper, and nothing else went to them.
    to_shopper = [r for r in j.mail.received if SHOPPER in r.rcpt_tos]
    assert len(to_shopper) == 2
