"""Campaign pages in headless Chromium: the month calendar and its month links, the product picker's filter box
(keyboard only), the forecast's progress that reloads by itself, and focus moving to the error summaries of the
campaign, exports and WooCommerce connect forms."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import delete, select

from app.models import Campaign, DirtyVariant, Product, Variant
from tests.e2e.conftest import LiveServer

pytestmark = pytest.mark.e2e


@pytest.fixture
def campaign_id(live_server: LiveServer, demo_store_id: int) -> Iterator[int]:
    """A campaign across the January/February 2031 edge over nothing (no forecast changes), removed afterwards."""
    with live_server.db.session() as s:
        c = Campaign(
            store_id=demo_store_id,
            name="Edge of the year",
            starts_on=date(2031, 1, 29),
            ends_on=date(2031, 2, 2),
            uplift_pct=Decimal("30"),
            product_ids=[],
            collections=[],
            status="planned",
        )
        s.add(c)
        s.flush()
        cid = c.id
    try:
        yield cid
    finally:
        with live_server.db.session() as s:
            s.execute(
                delete(DirtyVariant).where(DirtyVariant.store_id == demo_store_id, DirtyVariant.reason == "campaign")
            )
            s.execute(delete(Campaign).where(Campaign.id == cid))


def _names_on(page: Any, day: str) -> list[str]:
    return [t.strip() for t in page.locator(f'td[data-date="{day}"] .cal-event a').all_inner_texts()]


def test_the_calendar_shows_a_campaign_across_the_month_edge(
    live_server: LiveServer, campaign_id: int, page: Any
) -> None:
    page.goto(f"{live_server.url}/admin/campaigns")
    assert page.locator("td[aria-current='date']").count() == 1
    assert "Today" in page.locator("td[aria-current='date']").inner_text()

    page.goto(f"{live_server.url}/admin/campaigns?month=2031-01")
    assert page.locator("#calendar caption").inner_text() == "January 2031"
    assert page.locator("#calendar thead th").all_inner_texts()[1:] == ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]
    assert page.locator("#calendar tbody tr").count() == 5  # 30 Dec 2030 to 2 Feb 2031
    shown = [d for d in ("2031-01-28", "2031-01-29", "2031-01-31", "2031-02-01", "2031-02-02", "2031-02-03")]
    assert [_names_on(page, d) for d in shown] == [[], ["Edge of the year"]] + [["Edge of the year"]] * 3 + [[]]
    assert page.locator('td[data-date="2031-02-02"]').get_attribute("class") == "cal-day cal-day--outside"

    page.locator("#cal-next").click()
    page.wait_for_url("**/admin/campaigns?month=2031-02#calendar-heading")
    assert page.locator("#calendar caption").inner_text() == "February 2031"
    assert [_names_on(page, f"2031-02-0{n}") for n in (1, 2, 3)] == [["Edge of the year"], ["Edge of the year"], []]
    page.locator('td[data-date="2031-02-01"] .cal-event a').click()
    page.wait_for_url(f"**/admin/campaigns/{campaign_id}")
    assert page.locator("h1").inner_text() == "Edge of the year"


def test_a_bad_month_says_so_and_shows_this_month(live_server: LiveServer, demo_store_id: int, page: Any) -> None:
    response = page.goto(f"{live_server.url}/admin/campaigns?month=2031-13")
    assert response.status == 400
    assert page.locator("#month-error").inner_text().startswith("Unknown month '2031-13': the month is 01 to 12.")
    assert page.locator("td[aria-current='date']").count() == 1


def test_the_picker_filters_by_sku_and_works_from_the_keyboard(
    live_server: LiveServer, demo_store_id: int, page: Any
) -> None:
    with live_server.db.session() as s:
        pid, sku = s.execute(
            select(Product.id, Variant.sku)
            .join(Variant, Variant.product_id == Product.id)
            .where(Product.store_id == demo_store_id, Variant.sku != "", Variant.deleted_at.is_(None))
            .order_by(Product.id, Variant.id)
        ).first()  # type: ignore[misc]
        total = len(
            s.scalars(select(Product.id).where(Product.store_id == demo_store_id, Product.deleted_at.is_(None))).all()
        )
        matching = {
            int(p)
            for p in s.scalars(
                select(Variant.product_id).where(
                    Variant.store_id == demo_store_id, Variant.sku.ilike(f"%{sku}%"), Variant.deleted_at.is_(None)
                )
            )
        }
    page.goto(f"{live_server.url}/admin/campaigns")
    items = page.locator("#product-picker li")
    assert items.count() == total
    assert page.locator("#product-filter").is_visible()
    assert page.locator("#product-filter-status").inner_text() == f"{total} products"

    page.locator("#product-filter").focus()
    page.keyboard.type(sku.lower())
    visible = page.locator("#product-picker li:not([hidden]) input")
    assert {int(v) for v in [visible.nth(i).get_attribute("value") for i in range(visible.count())]} >= matching
    assert visible.count() < total
    assert page.locator("#product-filter-status").inner_text() == f"{visible.count()} of {total} products shown"
    page.keyboard.press("Enter")  # must not submit the half-filled form
    assert page.locator(".error-summary").count() == 0
    page.keyboard.press("Tab")
    focused = page.evaluate("() => [document.activeElement.name, document.activeElement.value]")
    assert focused[0] == "product_ids"
    page.keyboard.press("Space")
    ticked = page.locator(f"#product-picker input[value='{focused[1]}']")
    assert ticked.is_checked()

    # Clearing the filter shows everything again; a filter that matches nothing still shows the ticked product.
    page.locator("#product-filter").fill("zz-no-such-product-zz")
    assert page.locator("#product-picker li:not([hidden])").count() == 1
    assert ticked.is_visible()
    page.locator("#product-filter").fill("")
    assert page.locator("#product-picker li:not([hidden])").count() == total
    assert pid in matching


def test_the_forecast_progress_reloads_the_page_once_the_recompute_is_done(
    live_server: LiveServer, demo_store_id: int, campaign_id: int, page: Any
) -> None:
    with live_server.db.session() as s:
        product_id, variant_id = s.execute(
            select(Product.id, Variant.id)
            .join(Variant, Variant.product_id == Product.id)
            .where(Product.store_id == demo_store_id, Variant.deleted_at.is_(None))
            .order_by(Product.id, Variant.id)
        ).first()  # type: ignore[misc]
        camp = s.get(Campaign, campaign_id)
        assert camp is not None
        camp.product_ids = [int(product_id)]
        # A dirty mark nobody works off yet: what the page shows while the recompute job is queued.
        s.add(DirtyVariant(store_id=demo_store_id, variant_id=variant_id, reason="campaign"))
    page.goto(f"{live_server.url}/admin/campaigns/{campaign_id}")
    message = page.locator("#forecast-progress-message")
    assert message.inner_text().startswith("Working out the stock forecast of 1 of ")
    assert "This page updates by itself when it is done." in message.inner_text()

    with live_server.db.session() as s:
        s.execute(delete(DirtyVariant).where(DirtyVariant.variant_id == variant_id))
    page.locator("#forecast-computed").wait_for(timeout=20_000)
    assert page.locator("#forecast-progress").count() == 0
    assert page.locator("#forecast-computed").inner_text().startswith("The forecasts of all ")


def _focused_id(page: Any) -> str:
    return str(page.evaluate("() => document.activeElement.id"))


def test_focus_starts_on_the_campaign_forms_error_summary_and_its_links_focus_the_field(
    live_server: LiveServer, demo_store_id: int, page: Any
) -> None:
    page.goto(f"{live_server.url}/admin/campaigns")
    page.locator("form.card button[type='submit']").click()
    page.locator("#campaign-errors").wait_for()
    assert _focused_id(page) == "campaign-errors"
    page.locator("#campaign-errors a[href='#product_ids']").click()
    assert _focused_id(page) == "product_ids"


def test_focus_starts_on_the_exports_error_summary(live_server: LiveServer, demo_store_id: int, page: Any) -> None:
    page.goto(f"{live_server.url}/admin/exports")
    page.locator("#feed_country").fill("Netherlands")
    page.get_by_role("button", name="Save id format").click()
    page.locator("#feed-errors").wait_for()
    assert _focused_id(page) == "feed-errors"
    assert page.locator("#feed-errors li").all_inner_texts() == [
        "Target country: Enter a two-letter country code, such as US or NL."
    ]
    page.locator("#feed-errors a").click()
    assert _focused_id(page) == "feed_country"


def test_focus_starts_on_the_woocommerce_keys_error_summary(live_server: LiveServer, page: Any) -> None:
    page.goto(f"{live_server.url}/woocommerce/connect")
    page.get_by_role("button", name="Check and connect").click()
    page.locator("#keys-errors").wait_for()
    assert _focused_id(page) == "keys-errors"
    assert [t.split(":")[0] for t in page.locator("#keys-errors li").all_inner_texts()] == [
        "Store address",
        "Consumer key",
        "Consumer secret",
    ]
    page.locator("#keys-errors a[href='#keys-secret']").click()
    assert _focused_id(page) == "keys-secret"
