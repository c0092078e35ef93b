"""Exports in headless Chromium: the demo merchant downloads the at-risk CSV from the admin page."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import LiveServer

pytestmark = pytest.mark.e2e


def test_download_the_at_risk_export(live_server: LiveServer, demo_store_id: int, page: Any, tmp_path: Path) -> None:
    page.goto(f"{live_server.url}/admin/exports")
    assert page.locator("h1").inner_text() == "Exports & feeds"
    with page.expect_download() as info:
        page.click("#export-at-risk")
    download = info.value
    name = download.suggested_filename
    assert name.startswith("backsoon-") and "-at-risk-" in name and name.endswith(".csv")
    target = tmp_path / "at-risk.csv"
    download.save_as(target)
    lines = target.read_bytes().decode("utf-8").split("\r\n")
    assert lines[0] == (
        "variant_id,sku,product_title,variant_title,status,sellable_quantity,velocity_per_day,days_on_hand,"
        "lead_time_days,stockout_on,reorder_by,suggested_reorder_qty,incoming_quantity,restock_eta,signal,"
        "signal_reason,waitlist_open"
    )
    assert len(lines) > 2
    first = lines[1].split(",")
    assert first[0].isdigit() and first[4] in ("low_stock", "out_of_stock", "in_stock", "backorder", "untracked")
