"""Headless Chromium: from an at-risk row to its variant's settings, an override saved, and back to the same filtered
at-risk page, where the row shows the lead time the engine now plans with."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import delete, select

from app.models import StockState, StoreSetting
from app.queue import InProcessJobQueue
from app.services.stock.recompute import recompute
from tests.e2e.conftest import LiveServer

pytestmark = pytest.mark.e2e


@pytest.fixture
def demo_admin(live_server: LiveServer, demo_store_id: int) -> Iterator[int]:
    """The demo store, with this test's settings removed and its stock recomputed afterwards."""
    yield demo_store_id
    with live_server.db.session() as s:
        s.execute(delete(StoreSetting).where(StoreSetting.store_id == demo_store_id))
        recompute(s, demo_store_id)


def test_an_at_risk_row_leads_to_its_override_and_back(live_server: LiveServer, demo_admin: int, page: Any) -> None:
    page.goto(f"{live_server.url}/admin/at-risk?status=low_stock")
    row = page.locator("#at-risk-table tbody tr").first
    sku = row.locator("th").inner_text().strip()
    row.locator("a.settings-link").click()

    page.wait_for_url(re.compile(r".*/admin/settings/variants/[0-9]+\?next=.*"))
    variant_id = int(page.url.split("/admin/settings/variants/")[1].split("?")[0])
    assert page.locator("#back-link").get_attribute("href") == "/admin/at-risk?status=low_stock"
    assert page.locator("#lead_time_days-current").inner_text().startswith("Applies: ")
    page.fill("#lead_time_days", "99")  # typing unticks "Inherit"
    page.click("button:has-text('Save overrides')")

    page.wait_for_url(re.compile(r".*/admin/at-risk\?status=low_stock$"))
    assert "Settings saved." in page.locator(".flashes").inner_text()
    with live_server.db.session() as s:
        values = s.scalars(
            select(StoreSetting.values).where(
                StoreSetting.store_id == demo_admin, StoreSetting.variant_id == variant_id
            )
        ).one()
    assert values == {"lead_time_days": 99}

    jobs = live_server.runtime.jobs
    assert isinstance(jobs, InProcessJobQueue)
    jobs.drain()
    assert jobs.errors == []
    with live_server.db.session() as s:
        state = s.get(StockState, variant_id)
        assert state is not None and state.lead_time_days == 99
    page.goto(f"{live_server.url}/admin/variants/{variant_id}")
    lead = page.locator("#settings-table tr[data-setting=lead_time_days] td")
    assert [lead.nth(0).inner_text(), lead.nth(1).inner_text()] == ["99 days", "Variant override"]
    assert page.locator("p.lede code").inner_text() == sku
