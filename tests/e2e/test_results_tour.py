"""The README tour in headless Chromium with a real SMTP server: sign up on the demo product page, restock, send the
next wave now, the mail arrives, click its buy link, simulate a sale, and the Results page shows the conversion."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import delete, select

from app.models import Delivery, Order, StockEvent, StoreSetting, Subscription, Variant
from tests.e2e.conftest import LiveServer, ensure_demo_store, make_live_server, sold_out_variant
from tests.smtpd import Collector, smtp_server

pytestmark = [pytest.mark.integration, pytest.mark.e2e]

SHOPPER = "grace.hopper@example.com"
AHEAD = [f"ahead.{i}@example.com" for i in range(5)]  # signed up earlier: the first wave is theirs


@dataclass
class Tour:
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
                if address in received.rcpt_tos and subject_part in str(received.message["Subject"]):
                    return received.message
            time.sleep(0.1)
        raise AssertionError(f"no mail to {address} with {subject_part!r}")

    def link(self, msg: Any, path: str) -> str:
        """The first link to `path` in the message's plain-text part."""
        body = msg.get_body(("plain",)).get_content()
        match = re.search(rf"{re.escape(self.live.url)}{path}[\w.\-~]+", body)
        assert match is not None, body
        return match.group(0)


@pytest.fixture
def tour(pg_url: str) -> Iterator[Tour]:
    with smtp_server() as (mail, smtp_url):
        live = make_live_server(pg_url, smtp_url=smtp_url)
        try:
            store_id = ensure_demo_store(live.db)
            with live.db.session() as s:
                vid, vext, _, pext = sold_out_variant(s, store_id, last=True)
                s.execute(delete(Subscription).where(Subscription.variant_id == vid))
                now = datetime.now(UTC)
                for i, email in enumerate(AHEAD):
                    s.add(
                        Subscription(
                            store_id=store_id, variant_id=vid, email=email, created_at=now - timedelta(days=5 - i)
                        )
                    )
                s.execute(delete(StoreSetting).where(StoreSetting.store_id == store_id, StoreSetting.scope == "store"))
                s.add(StoreSetting(store_id=store_id, scope="store", values={"double_opt_in": True}))
            yield Tour(live, mail, store_id, pext, vext, vid)
        finally:
            live.stop()
            live.db.dispose()


def _wait_for_next_wave(t: Tour, timeout: float = 20.0) -> None:
    """Until the first wave has settled and scheduled the next (the in-process job runs after the request)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with t.live.db.session() as s:
            pending = s.execute(
                select(StockEvent.id).where(
                    StockEvent.variant_id == t.variant_id,
                    StockEvent.fanout_status == "pending",
                    StockEvent.waves_sent == 1,
                    StockEvent.next_wave_at.is_not(None),
                )
            ).first()
        if pending is not None:
            return
        time.sleep(0.1)
    raise AssertionError("the first wave never scheduled a second")


def _restock_row(page: Any, title_part: str) -> list[str]:
    row = page.locator("#restock-funnels tbody tr").filter(has_text=title_part).first
    return [c.strip() for c in row.locator("th, td").all_inner_texts()]


def test_the_readme_tour_ends_with_the_conversion_on_the_results_page(page: Any, tour: Tour) -> None:
    t = tour
    product_url = f"{t.live.url}/demo/shop/products/{t.product_ext}?variant={t.variant_ext}"
    page.goto(product_url)
    page.get_by_label("Email address").fill(SHOPPER)
    page.locator(".bs-consent input[type=checkbox]").check()
    page.get_by_role("button", name="Email me when it’s back").click()
    page.get_by_text("Almost done: please confirm with the link we just emailed you.").wait_for()
    page.goto(t.link(t.mail_to(SHOPPER, "confirm your email"), "/c/"))
    page.get_by_role("button").click()
    page.get_by_role("heading").first.wait_for()

    # Restock: the first wave (5 units) goes to the five who signed up earlier, not to the shopper.
    page.goto(product_url)
    page.locator(f'form.demo-restock[data-variant="{t.variant_ext}"] button').click()
    page.locator(".flash--success").get_by_text("Restock emails are on their way").wait_for()
    for address in AHEAD:
        t.mail_to(address, "Back in stock")
    _wait_for_next_wave(t)
    with t.live.db.session() as s:
        mine = s.execute(select(Delivery.id).join(Subscription).where(Subscription.email == SHOPPER)).first()
        assert mine is None

    # Send the next wave now, from the Results page's demo controls: the shopper's email arrives.
    page.goto(f"{t.live.url}/admin/results")
    page.get_by_role("button", name="Send the next wave now").click()
    page.locator(".flash--success").get_by_text("is on its way to the demo inbox").wait_for()
    restock = t.mail_to(SHOPPER, "Back in stock")

    # The buy link records the click and leads to the product.
    page.goto(t.link(restock, "/r/"))
    assert page.url == product_url

    # Simulate a sale for the shopper: an order through the order intake, attributed to the email.
    page.goto(f"{t.live.url}/admin/results")
    page.get_by_label("Shopper email").fill(SHOPPER)
    page.get_by_role("button", name="Simulate a sale").click()
    page.locator(".flash--success").get_by_text("attributed to the restock email").wait_for()
    with t.live.db.session() as s:
        delivery = s.execute(select(Delivery).join(Subscription).where(Subscription.email == SHOPPER)).scalar_one()
        assert (delivery.wave, delivery.conversion_kind) == (2, "direct")
        order = s.scalars(select(Order).where(Order.id == delivery.converted_order_id)).one()
        assert order.email == SHOPPER
        price = s.scalar(select(Variant.price).where(Variant.id == t.variant_id))
        variant_title = s.scalar(select(Variant.title).where(Variant.id == t.variant_id))
    assert delivery.revenue == price
    # The restock's row: 6 waiting (all confirmed), 6 emailed, 1 clicked, 1 bought.
    cells = _restock_row(page, str(variant_title))
    assert cells[2:8] == ["6", "6", "6", "1", "1", "16.7 %"]
    assert page.locator("#history-starts").inner_text().startswith("History starts ")
