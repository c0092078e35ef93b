"""The shopper's confirm page on a phone in headless Chromium: the store's colour on a full-width button at least
44 px high (WCAG 2.5.5's touch target), the way back to the product, and a second visit that says it is done."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import delete

from app.infra.links import new_confirm_token
from app.models import Product, Store
from app.models.waitlist import ConsentRecord, Subscription
from app.services.merchant.identity import record_reported
from tests.e2e.conftest import LiveServer
from tests.factories import make_store, make_variant

pytestmark = pytest.mark.e2e

PHONE = {"width": 375, "height": 667}  # an iPhone SE's CSS viewport
PERMALINK = "https://tulpen.example/product/enamel-mug/"


@pytest.fixture
def pending(live_server: LiveServer) -> Iterator[str]:
    """A WooCommerce store with a brand colour and one subscription waiting for its confirmation: the raw token."""
    raw, digest = new_confirm_token()
    with live_server.db.session() as s:
        store = make_store(s, platform="woocommerce", domain="https://tulpen-e2e.example", name="")
        record_reported(store, {"name": "Tulpen Winkel", "locale": "en"}, datetime.now(UTC))
        store.brand = {"primary_colour": "#0b6e4f"}
        product = Product(store_id=store.id, external_id="11", title="Enamel Mug", url=PERMALINK)
        s.add(product)
        s.flush()
        variant = make_variant(s, store, qty=0, product=product, title="Enamel Mug")
        sub = Subscription(
            store_id=store.id,
            variant_id=variant.id,
            email="ann@example.com",
            locale="en",
            state="pending_confirmation",
            confirm_token_hash=digest,
            confirm_expires_at=datetime.now(UTC) + timedelta(hours=48),
            confirm_sent_at=datetime.now(UTC),
        )
        s.add(sub)
        s.flush()
        s.add(
            ConsentRecord(
                store_id=store.id,
                subscription_id=sub.id,
                kind="signup",
                text_version="v1",
                text="Mail me.",
                given_at=datetime.now(UTC),
            )
        )
        s.commit()
        store_id = store.id
    yield raw
    with live_server.db.session() as s:
        s.execute(delete(Store).where(Store.id == store_id))
        s.commit()


def test_the_confirm_button_is_a_real_touch_target_on_a_phone(
    live_server: LiveServer, browser: Any, pending: str
) -> None:
    context = browser.new_context(locale="en-GB", viewport=PHONE, is_mobile=True, has_touch=True)
    context.set_default_timeout(10_000)
    try:
        phone = context.new_page()
        phone.goto(f"{live_server.url}/c/{pending}")
        assert phone.locator("h1").inner_text() == "Confirm your email"
        button = phone.get_by_role("button", name="Confirm")
        box = button.bounding_box()
        assert box is not None
        assert box["height"] >= 44
        # Full width of the card on a phone: the viewport less the page and card padding (2 × 20 px + 2 × 20 px + 2).
        assert box["width"] >= PHONE["width"] - 90
        colours = button.evaluate("b => [getComputedStyle(b).backgroundColor, getComputedStyle(b).color]")
        assert colours == ["rgb(11, 110, 79)", "rgb(255, 255, 255)"]
        back = phone.get_by_role("link", name="Back to Tulpen Winkel")
        assert back.get_attribute("href") == PERMALINK
        back_box = back.bounding_box()
        assert back_box is not None and back_box["height"] >= 44
        assert phone.locator("a[href*='openapi'], a[href*='healthz']").count() == 0

        with phone.expect_navigation():  # the form's POST answers the next page on the same address
            button.tap()
        assert phone.locator("h1").inner_text() == "You're on the list"
        phone.goto(f"{live_server.url}/c/{pending}")
        assert phone.locator("h1").inner_text() == "You're already on the list for Enamel Mug"
    finally:
        context.close()
