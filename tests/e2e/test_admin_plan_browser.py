"""The at-risk planning table in headless Chromium at 1366×768: the ads signal is on screen without scrolling."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.e2e.conftest import LiveServer

pytestmark = pytest.mark.e2e


@pytest.fixture
def laptop(browser: Any) -> Iterator[Any]:
    """A page the size of a common laptop screen."""
    context = browser.new_context(locale="en-GB", viewport={"width": 1366, "height": 768})
    context.set_default_timeout(10_000)
    try:
        yield context.new_page()
    finally:
        context.close()


def test_the_ads_signal_column_is_visible_at_1366_without_scrolling(
    live_server: LiveServer, demo_store_id: int, laptop: Any
) -> None:
    laptop.goto(f"{live_server.url}/admin/at-risk")
    assert laptop.locator("#at-risk-table tbody tr").count() >= 1
    box = laptop.evaluate(
        """() => {
            const th = [...document.querySelectorAll('#at-risk-table thead th')]
                .find(el => el.textContent.includes('Ads signal'));
            const cell = document.querySelector('#at-risk-table tbody td.signal-cell');
            const scroller = document.querySelector('#at-risk-table').closest('.table-scroll');
            const h = th.getBoundingClientRect(), c = cell.getBoundingClientRect();
            return {thRight: h.right, cellRight: c.right, cellLeft: c.left, scrollLeft: scroller.scrollLeft,
                    pageScroll: window.scrollX, width: window.innerWidth,
                    overflows: scroller.scrollWidth > scroller.clientWidth};
        }"""
    )
    assert (box["scrollLeft"], box["pageScroll"], box["width"]) == (0, 0, 1366)
    # The table is wider than the screen: only a column placed early is seen without scrolling.
    assert box["overflows"] is True
    assert box["cellLeft"] >= 0
    assert box["thRight"] <= 1366 and box["cellRight"] <= 1366

    # Sorting by a column is a plain link: no script needed, and the order shows in the URL.
    laptop.locator("#at-risk-table thead a[data-sort='incoming']").click()
    laptop.wait_for_url("**/admin/at-risk?sort=incoming&dir=desc")
    assert laptop.locator("#at-risk-table thead th[aria-sort='descending'] a").inner_text() == "Incoming"
