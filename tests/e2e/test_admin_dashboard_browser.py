"""The merchant dashboard in headless Chromium: the demo store's tables and charts, a variant's charts, and the
embedded mode with App Bridge stubbed (Shopify's CDN is never reached)."""

from __future__ import annotations

import json
import os
from typing import Any

import pytest

from tests.e2e.conftest import HOST, SHOP, LiveServer
from tests.unit.test_shopify_auth import make_session_token

pytestmark = pytest.mark.e2e

# Set to a path (e.g. docs/admin-dashboard.png) to keep the dashboard's screenshot; a plain run writes nothing
# into the checkout.
SCREENSHOT_ENV = "BACKSOON_DASHBOARD_SCREENSHOT"


def test_the_demo_dashboard_renders_its_tables_and_charts(
    live_server: LiveServer, demo_store_id: int, page: Any
) -> None:
    page.goto(f"{live_server.url}/admin/")
    assert page.locator("h1").inner_text() == "Northwind Goods (demo)"
    assert page.locator("#at-risk-table tbody tr").count() >= 1
    assert page.locator("svg.spark").count() == 6
    assert page.locator("#stat-at-risk").inner_text().isdigit()
    if os.environ.get(SCREENSHOT_ENV):
        page.screenshot(path=os.environ[SCREENSHOT_ENV])
    # The trend figures are there as a table for anyone who cannot see the lines.
    page.locator("#trend-table summary").click()
    assert page.locator("#trend-table tbody tr").count() == 30

    sku = page.locator("#at-risk-table tbody th a").first.inner_text()
    page.locator("#at-risk-table tbody th a").first.click()
    page.wait_for_url("**/admin/variants/*")
    assert sku in page.title()
    assert page.locator("svg.chart").count() == 4
    assert page.locator("#chart-sales svg").get_attribute("aria-label").startswith("Units sold per day")

    page.get_by_role("link", name="At risk", exact=True).click()
    page.wait_for_url("**/admin/at-risk")
    page.select_option("#status", "low_stock")
    page.get_by_role("button", name="Filter").click()
    page.wait_for_url("**/admin/at-risk?status=low_stock*")
    statuses = page.locator("#at-risk-table tbody .pill--low_stock").count()
    assert statuses == page.locator("#at-risk-table tbody tr").count()


def test_the_embedded_dashboard_loads_with_a_stubbed_app_bridge_and_its_nav_works(
    embedded_server: LiveServer, page: Any
) -> None:
    calls: list[str] = []

    def app_bridge(route: Any) -> None:
        calls.append(route.request.url)
        token = make_session_token(ttl=600)
        script = f"window.shopify = {{idToken: () => Promise.resolve({json.dumps(token)})}};"
        route.fulfill(status=200, content_type="application/javascript", body=script)

    page.route("https://cdn.shopify.com/**", app_bridge)
    page.goto(f"{embedded_server.url}/admin/?shop={SHOP}&host={HOST}&embedded=1")
    # The bounce page asks App Bridge for a session token and reloads with it.
    page.wait_for_url("**id_token=*")
    assert page.locator("h1").inner_text() == "Embedded Shop"
    assert page.locator("body").get_attribute("data-embedded") == "true"
    assert page.locator("#stat-at-risk").inner_text() == "0"

    # Embedded, the admin's own header is hidden (Shopify's frame shows the app's menu), so follow its link.
    href = page.locator('nav[aria-label="Admin"] a', has_text="Waitlist demand").get_attribute("href")
    assert href == f"/admin/demand?shop={SHOP}&host={HOST}&embedded=1"
    page.goto(f"{embedded_server.url}{href}")
    page.wait_for_url("**/admin/demand?*id_token=*")
    assert page.locator("h1").inner_text() == "Waitlist demand"
    assert "Nobody is waiting" in page.locator("main").inner_text()
    assert calls and all(url.startswith("https://cdn.shopify.com/") for url in calls)
