"""Destructive admin actions in headless Chromium: the confirm step opens in a native <dialog> (focus on the safe
choice, Escape changes nothing), the cancel offers an Undo that reopens the order; without JavaScript the same
links lead to the server-rendered confirm page."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import delete, select

from app.models import PurchaseOrder, Variant
from tests.e2e.conftest import LiveServer

pytestmark = pytest.mark.e2e


@pytest.fixture
def open_po(live_server: LiveServer, demo_store_id: int) -> Iterator[int]:
    """An open purchase order in the demo store, removed afterwards."""
    with live_server.db.session() as s:
        variant_id = s.scalars(
            select(Variant.id).where(Variant.store_id == demo_store_id, Variant.sku != "").order_by(Variant.id)
        ).first()
        assert variant_id is not None
        po = PurchaseOrder(
            store_id=demo_store_id,
            variant_id=variant_id,
            reference="E2E-CONFIRM",
            quantity=12,
            expected_on=datetime.now(UTC).date() + timedelta(days=9),
        )
        s.add(po)
        s.flush()
        po_id = int(po.id)
    try:
        yield po_id
    finally:
        with live_server.db.session() as s:
            s.execute(delete(PurchaseOrder).where(PurchaseOrder.id == po_id))


def _status(server: LiveServer, po_id: int) -> str:
    with server.db.session() as s:
        return str(s.scalars(select(PurchaseOrder.status).where(PurchaseOrder.id == po_id)).one())


def test_cancel_opens_a_dialog_and_the_cancel_can_be_undone(live_server: LiveServer, open_po: int, page: Any) -> None:
    page.goto(f"{live_server.url}/admin/incoming")
    link = page.get_by_role("link", name="Cancel purchase order E2E-CONFIRM…")
    link.click()
    dialog = page.locator("dialog.confirm-dialog")
    dialog.wait_for(state="visible")
    assert page.url == f"{live_server.url}/admin/incoming"  # still on the list: the step is in the dialog
    assert dialog.get_by_role("heading", level=1).inner_text() == "Cancel purchase order E2E-CONFIRM?"
    assert "Its 12 units of" in dialog.inner_text()
    assert page.evaluate("document.activeElement.hasAttribute('data-confirm-back')")  # focus on the safe choice
    assert page.evaluate("document.querySelector('dialog.confirm-dialog').open")

    page.keyboard.press("Escape")
    dialog.wait_for(state="hidden")
    assert page.evaluate("document.activeElement.getAttribute('aria-label')") == "Cancel purchase order E2E-CONFIRM…"
    assert _status(live_server, open_po) == "open"

    link.click()
    dialog.wait_for(state="visible")
    dialog.get_by_role("link", name="Keep the order and go back").click()
    dialog.wait_for(state="hidden")
    assert _status(live_server, open_po) == "open"

    link.click()
    dialog.get_by_role("button", name="Cancel purchase order E2E-CONFIRM").click()
    page.wait_for_url("**/admin/incoming?undo=*")
    assert _status(live_server, open_po) == "cancelled"
    assert "Purchase order E2E-CONFIRM cancelled." in page.locator("#undo").inner_text()

    page.get_by_role("button", name="Undo: reopen purchase order E2E-CONFIRM").click()
    page.wait_for_url(f"{live_server.url}/admin/incoming")
    assert _status(live_server, open_po) == "open"
    assert "Purchase order E2E-CONFIRM is open again." in page.locator(".flashes").inner_text()
    assert page.locator("#undo").count() == 0


def test_without_javascript_the_link_leads_to_the_confirm_page(
    live_server: LiveServer, open_po: int, browser: Any
) -> None:
    context = browser.new_context(java_script_enabled=False, locale="en-GB")
    context.set_default_timeout(10_000)
    try:
        page = context.new_page()
        page.goto(f"{live_server.url}/admin/incoming")
        page.get_by_role("link", name="Cancel purchase order E2E-CONFIRM…").click()
        page.wait_for_url(f"**/admin/incoming/{open_po}/cancel")
        assert page.get_by_role("heading", level=1).inner_text() == "Cancel purchase order E2E-CONFIRM?"
        page.get_by_role("link", name="Keep the order and go back").click()
        page.wait_for_url(f"{live_server.url}/admin/incoming")
        assert _status(live_server, open_po) == "open"
        page.goto(f"{live_server.url}/admin/incoming/{open_po}/cancel")
        page.get_by_role("button", name="Cancel purchase order E2E-CONFIRM").click()
        page.wait_for_url("**/admin/incoming?undo=*")
        assert _status(live_server, open_po) == "cancelled"
    finally:
        context.close()
