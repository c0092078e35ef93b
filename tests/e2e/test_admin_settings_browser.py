"""The merchant admin in headless Chromium: a bad setting shows its message next to the field, a good override saves
and the variant's public storefront state follows once the in-process recompute has run, and a purchase-order CSV
import lists its errors per line (importing nothing: imports are all-or-nothing) and then imports the fixed file."""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import delete, select

from app.models import Product, PurchaseOrder, StockState, StoreSetting, Variant
from app.queue import InProcessJobQueue
from app.services.stock.recompute import recompute
from tests.e2e.conftest import LiveServer

pytestmark = pytest.mark.e2e

REFERENCE = "E2E-PO"


def _drain(server: LiveServer) -> None:
    jobs = server.runtime.jobs
    assert isinstance(jobs, InProcessJobQueue)
    jobs.drain()
    assert jobs.errors == []


def _public_state(server: LiveServer, store_id: int, external_id: str) -> dict[str, Any]:
    # The storefront keeps rendered documents for a few seconds per process; this test wants the current state.
    server.app.extensions["backsoon_read_cache"].clear()
    url = f"{server.url}/storefront/v1/stores/{store_id}/variants/{external_id}"
    with urllib.request.urlopen(url, timeout=10) as resp:  # noqa: S310 - our own local server
        body: dict[str, Any] = json.load(resp)
    state: dict[str, Any] = body["state"]
    return state


@pytest.fixture
def demo_admin(live_server: LiveServer, demo_store_id: int) -> Iterator[int]:
    """The demo store, with this test's settings and purchase orders removed and its stock recomputed afterwards."""
    yield demo_store_id
    with live_server.db.session() as s:
        s.execute(delete(StoreSetting).where(StoreSetting.store_id == demo_store_id))
        s.execute(
            delete(PurchaseOrder).where(
                PurchaseOrder.store_id == demo_store_id, PurchaseOrder.reference.like(f"{REFERENCE}%")
            )
        )
        recompute(s, demo_store_id)


def _plain_in_stock_variant(server: LiveServer, store_id: int) -> tuple[int, str, str, int]:
    """A tracked, in-stock variant with no badge and more than 5 units: id, external id, sku, quantity."""
    with server.db.session() as s:
        row = s.execute(
            select(Variant.id, Variant.external_id, Variant.sku, StockState.sellable_quantity)
            .join(StockState, StockState.variant_id == Variant.id)
            .join(Product, Product.id == Variant.product_id)
            .where(
                Variant.store_id == store_id,
                Variant.tracked.is_(True),
                Variant.inventory_policy == "deny",
                Variant.backorder.is_(False),
                Variant.published.is_(True),
                Product.published.is_(True),
                StockState.status == "in_stock",
                StockState.badge_kind == "none",
                StockState.sellable_quantity > 5,
                StockState.sellable_quantity < 1000,
                Variant.sku != "",
            )
            .order_by(Variant.id)
            .limit(1)
        ).one()
    return int(row[0]), row[1], row[2], int(row[3])


def test_a_bad_setting_shows_its_message_next_to_the_field(live_server: LiveServer, demo_admin: int, page: Any) -> None:
    page.goto(f"{live_server.url}/admin/settings")
    page.fill("#low_stock_threshold", "lots")
    page.fill("#reply_to", "nobody-at-example")
    page.click("button:has-text('Save settings')")
    field = page.locator("[data-setting=low_stock_threshold]")
    assert field.locator(".field-error").inner_text() == "Must be a whole number."
    assert page.get_attribute("#low_stock_threshold", "aria-invalid") == "true"
    assert "low_stock_threshold-error" in (page.get_attribute("#low_stock_threshold", "aria-describedby") or "")
    assert page.locator("#reply_to-error").inner_text().startswith("Enter a valid email address")
    assert page.input_value("#low_stock_threshold") == "lots"
    # The page starts on the error summary (admin.js), which names both fields; a link focuses its field.
    assert page.evaluate("document.activeElement.id") == "settings-errors"
    summary = page.locator("#settings-errors")
    assert summary.locator("h2").inner_text() == "Nothing was saved: 2 fields need fixing."
    assert summary.locator("a").all_inner_texts() == ["Low-stock threshold (units)", "Reply-to address"]
    summary.locator("a[href='#reply_to']").click()
    assert page.evaluate("document.activeElement.id") == "reply_to"
    summary.locator("a[href='#low_stock_threshold']").click()
    assert page.evaluate("document.activeElement.id") == "low_stock_threshold"
    with live_server.db.session() as s:
        assert s.scalars(select(StoreSetting).where(StoreSetting.store_id == demo_admin)).all() == []


def test_a_variant_override_changes_the_storefront_state_after_recompute(
    live_server: LiveServer, demo_admin: int, page: Any
) -> None:
    variant_id, external_id, _, qty = _plain_in_stock_variant(live_server, demo_admin)
    assert _public_state(live_server, demo_admin, external_id)["badge"] == {"kind": "none", "quantity": None}

    page.goto(f"{live_server.url}/admin/settings/variants/{variant_id}")
    assert page.is_checked("input[name=inherit_low_stock_threshold]")
    page.fill("#low_stock_threshold", str(qty))  # typing unticks "Inherit"
    assert not page.is_checked("input[name=inherit_low_stock_threshold]")
    page.click("button:has-text('Save overrides')")
    assert "Settings saved." in page.locator(".flashes").inner_text()
    assert page.input_value("#low_stock_threshold") == str(qty)

    _drain(live_server)
    assert _public_state(live_server, demo_admin, external_id)["badge"] == {"kind": "only_n_left", "quantity": qty}

    # Back to inherit: the badge goes again.
    page.check("input[name=inherit_low_stock_threshold]")
    page.click("button:has-text('Save overrides')")
    _drain(live_server)
    assert _public_state(live_server, demo_admin, external_id)["badge"] == {"kind": "none", "quantity": None}


def test_a_csv_import_lists_errors_per_line_then_imports_the_fixed_file(
    live_server: LiveServer, demo_admin: int, page: Any, tmp_path: Any
) -> None:
    variant_id, _, sku, _ = _plain_in_stock_variant(live_server, demo_admin)
    with live_server.db.session() as s:
        before = s.get(StockState, variant_id)
        assert before is not None
        incoming_before = before.incoming_quantity
    soon = (datetime.now(UTC).date() + timedelta(days=20)).isoformat()
    bad = tmp_path / "bad.csv"
    bad.write_text(
        f"sku;quantity;expected_date;reference\r\n{sku};12;{soon};{REFERENCE}-1\r\nNO-SUCH-SKU;3;{soon};{REFERENCE}-2\r\n"
        f"{sku};ten;{soon};{REFERENCE}-3\r\n",
        encoding="utf-8-sig",
    )
    page.goto(f"{live_server.url}/admin/incoming")
    page.set_input_files("#file", str(bad))
    page.click("button:has-text('Import')")
    assert page.evaluate("document.activeElement.id") == "import-summary"
    assert page.locator("#import-summary h3").inner_text() == (
        "Nothing was imported from bad.csv: 2 problems; 1 line was fine."
    )
    page.locator("#import-summary a[href='#import-error-2']").click()
    assert page.evaluate("document.activeElement.id") == "import-error-2"
    report = page.locator("#import-errors")
    rows = report.locator("tbody tr")
    assert rows.count() == 2
    assert rows.nth(0).inner_text().split("\t") == ["3", "unknown SKU 'NO-SUCH-SKU'"]
    assert rows.nth(1).inner_text().split("\t") == ["4", "quantity 'ten' is not a positive whole number"]
    with live_server.db.session() as s:
        mine = select(PurchaseOrder.id).where(
            PurchaseOrder.store_id == demo_admin, PurchaseOrder.reference.like(f"{REFERENCE}%")
        )
        assert s.scalars(mine).all() == []

    good = tmp_path / "good.csv"
    good.write_text(f"sku,quantity,expected_date,reference\n{sku},12,{soon},{REFERENCE}-1\n", encoding="utf-8")
    page.set_input_files("#file", str(good))
    page.click("button:has-text('Import')")
    assert "Imported 1 purchase order." in page.locator(".flashes").inner_text()
    assert page.locator(f"#open-orders tr:has-text('{REFERENCE}-1') td.num").inner_text() == "12"
    _drain(live_server)
    with live_server.db.session() as s:
        state = s.get(StockState, variant_id)
        assert state is not None and state.incoming_quantity == incoming_before + 12
