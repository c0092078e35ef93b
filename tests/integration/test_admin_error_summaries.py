"""Admin forms that come back with errors start with a summary naming each invalid field by its label and linking to
it; unknown admin addresses, too-large posts and wrong methods get styled pages, not werkzeug's."""

from __future__ import annotations

import io
import re
from collections.abc import Iterator
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import func, select

from app.db import Database
from app.models import PurchaseOrder
from tests.conftest import AppFactory
from tests.factories import RecordingQueue
from tests.integration.test_admin_settings import Admin, _build

pytestmark = pytest.mark.integration

_SUMMARY = re.compile(r'<div class="error-summary" id="([^"]+)" role="alert" tabindex="-1".*?</div>', re.S)
_WERKZEUG = ("Werkzeug", "The requested URL was not found on the server", "<title>404 Not Found</title>")


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    """Demo mode, with links on the test app URL."""
    return {"demo": True, "app_url": "http://backsoon.test"}


@pytest.fixture
def admin(db: Database, make_app: AppFactory) -> Iterator[Admin]:
    jobs = RecordingQueue()
    yield _build(make_app(jobs=jobs), db, jobs)


def summary(html: str) -> tuple[str, str, list[tuple[str, str, str]]]:
    """The one error summary of a page: its id, heading text and (href, link text, message) lines."""
    found = _SUMMARY.findall(html)
    assert len(found) == 1, found
    block = _SUMMARY.search(html)
    assert block is not None
    heading = re.search(r'<h[23] class="error-summary__title" id="[^"]+">(.*?)</h[23]>', block.group(0), re.S)
    assert heading is not None
    lines = re.findall(r'<li><a href="(#[^"]+)">(.*?)</a>: (.*?)</li>', block.group(0), re.S)
    return found[0], heading.group(1), lines


def assert_targets_exist(html: str, lines: list[tuple[str, str, str]]) -> None:
    """Every summary link points at an element of the page."""
    for href, _, _ in lines:
        assert f'id="{href[1:]}"' in html, href


def test_the_settings_summary_names_each_invalid_field_in_form_order_and_links_to_it(admin: Admin) -> None:
    resp = admin.post(
        "/admin/settings",
        {"low_stock_threshold": "abc", "wave_ratio": "0", "reply_to": "x", "text_fr_back_soon": "Retour le [dte]"},
    )
    html = resp.get_data(as_text=True)
    assert resp.status_code == 400
    sid, heading, lines = summary(html)
    assert sid == "settings-errors"
    assert heading == "Nothing was saved: 4 fields need fixing."
    assert [(href, label) for href, label, _ in lines] == [
        ("#low_stock_threshold", "Low-stock threshold (units)"),
        ("#wave_ratio", "Restock wave ratio"),
        ("#reply_to", "Reply-to address"),
        ("#text_fr_back_soon", lines[3][1]),
    ]
    assert lines[0][2] == "Must be a whole number."
    assert lines[1][2] == "Must be greater than 0 and at most 10."
    assert lines[3][1].endswith(" (fr)")
    assert lines[3][2] == "Unknown placeholder [dte]; placeholders you can use here: [date]."
    assert_targets_exist(html, lines)
    # The summary sits inside its form, before the first card.
    assert html.index('id="settings-errors"') < html.index('id="low_stock_threshold"')
    assert admin.rows() == []


def test_one_invalid_field_is_named_in_the_singular(admin: Admin) -> None:
    html = admin.post("/admin/settings", {"wave_ratio": "0"}).get_data(as_text=True)
    _, heading, lines = summary(html)
    assert heading == "Nothing was saved: 1 field needs fixing."
    assert lines == [("#wave_ratio", "Restock wave ratio", "Must be greater than 0 and at most 10.")]


def test_a_valid_settings_page_has_no_summary(admin: Admin) -> None:
    html = admin.client.get("/admin/settings").get_data(as_text=True)
    assert "error-summary" not in html.replace(".error-summary", "")
    assert "data-error-summary" not in html


def test_the_brand_summary_links_to_the_brand_inputs(admin: Admin) -> None:
    resp = admin.post(
        "/admin/settings/brand", {"brand_primary_colour": "blue", "brand_logo_url": "http://x.example/l.png"}
    )
    html = resp.get_data(as_text=True)
    assert resp.status_code == 400
    sid, heading, lines = summary(html)
    assert (sid, heading) == ("brand-errors", "Nothing was saved: 2 fields need fixing.")
    assert [(href, label) for href, label, _ in lines] == [
        ("#brand_primary_colour", "Primary colour"),
        ("#brand_logo_url", "Logo address"),
    ]
    assert_targets_exist(html, lines)


def test_an_override_summary_links_to_each_field(admin: Admin) -> None:
    v1 = admin.variant_ids[0]
    resp = admin.post(f"/admin/settings/variants/{v1}", {"min_inventory": "0", "quiet_hours_start": "25"})
    html = resp.get_data(as_text=True)
    assert resp.status_code == 400
    sid, heading, lines = summary(html)
    assert (sid, heading) == ("override-errors", "Nothing was saved: 2 fields need fixing.")
    assert {(href, message) for href, _, message in lines} == {
        ("#min_inventory", "Must be between 1 and 100000."),
        ("#quiet_hours_start", "Must be an hour from 0 to 23, or empty."),
    }
    assert dict((h, label) for h, label, _ in lines)["#min_inventory"] == "Minimum restock (units)"
    assert_targets_exist(html, lines)
    assert "fix the fields marked below" not in html
    assert admin.rows() == []


def _po_count(db: Database, store_id: int) -> int:
    with db.session() as s:
        return s.scalar(select(func.count()).select_from(PurchaseOrder).where(PurchaseOrder.store_id == store_id)) or 0


def test_the_purchase_order_form_summary_links_to_its_fields(admin: Admin) -> None:
    resp = admin.post("/admin/incoming", {"sku": "", "quantity": "ten", "expected_date": "soon"})
    html = resp.get_data(as_text=True)
    assert resp.status_code == 400
    sid, _, lines = summary(html)
    assert sid == "po-errors"
    hrefs = [href for href, _, _ in lines]
    assert hrefs == sorted(hrefs, key=["#sku", "#quantity", "#expected_date", "#supplier", "#reference"].index)
    assert "#quantity" in hrefs and "#expected_date" in hrefs
    assert dict((h, label) for h, label, _ in lines)["#quantity"] == "Quantity"
    assert_targets_exist(html, lines)
    assert _po_count(admin.db, admin.store_id) == 0


def test_a_csv_import_summary_lists_the_first_ten_problems_and_counts_the_rest(admin: Admin) -> None:
    body = "sku,quantity,expected_date\n" + "".join(f"NOPE-{i},1,2099-01-01\n" for i in range(12))
    resp = admin.client.post(
        "/admin/incoming/import",
        data={"csrf_token": admin.csrf(), "file": (io.BytesIO(body.encode()), "bad.csv")},
        content_type="multipart/form-data",
    )
    html = resp.get_data(as_text=True)
    assert resp.status_code == 400
    block = re.search(r'<div class="error-summary" role="alert" tabindex="-1" id="import-summary".*?</div>', html, re.S)
    assert block is not None
    text = block.group(0)
    heading = '<h3 class="error-summary__title" id="import-summary-heading">'
    assert heading + "Nothing was imported from bad.csv: 12 problems.</h3>" in text
    lines = re.findall(r'<li><a href="(#[^"]+)">(.*?)</a>: (.*?)</li>', text)
    assert lines[0] == ("#import-error-1", "Line 2", "unknown SKU &#39;NOPE-0&#39;")
    assert [h for h, _, _ in lines] == [f"#import-error-{n}" for n in range(1, 11)]
    assert '<p><a href="#import-errors">All 12 problems</a> (2 more than listed here).</p>' in text
    assert_targets_exist(html, lines)
    assert html.count('<tr id="import-error-') == 12
    # The summary comes before the upload form; the full table after it.
    assert html.index('id="import-summary"') < html.index('id="file"') < html.index('id="import-errors"')
    assert _po_count(admin.db, admin.store_id) == 0


def test_an_import_without_a_file_links_to_the_file_input(admin: Admin) -> None:
    resp = admin.client.post("/admin/incoming/import", data={"csrf_token": admin.csrf()})
    html = resp.get_data(as_text=True)
    assert resp.status_code == 400
    assert '<li><a href="#file">CSV file</a>: Choose a CSV file to import.</li>' in html


def _assert_styled(html: str, heading: str) -> None:
    assert f"<h1>{heading}</h1>" in html
    for text in _WERKZEUG:
        assert text not in html


def test_an_unknown_admin_address_is_a_styled_404_in_the_admin_layout(admin: Admin) -> None:
    resp = admin.client.get("/admin/nope")
    html = resp.get_data(as_text=True)
    assert resp.status_code == 404
    assert resp.mimetype == "text/html"
    _assert_styled(html, "Page not found")
    assert '<body class="admin' in html
    assert '<p><a href="/admin/">Back to the dashboard</a></p>' in html


def test_an_oversized_admin_post_is_a_styled_413_and_saves_nothing(admin: Admin) -> None:
    resp = admin.client.post(
        "/admin/settings", data={"csrf_token": admin.csrf(), "sender_name": "x" * (1024 * 1024 + 1)}
    )
    html = resp.get_data(as_text=True)
    assert resp.status_code == 413
    _assert_styled(html, "That was too large")
    assert "larger than BackSoon accepts (1 MB)" in html
    assert '<body class="admin' in html
    assert admin.rows() == []


def test_a_wrong_method_on_an_admin_page_is_a_styled_405_with_allow(admin: Admin) -> None:
    resp = admin.client.delete("/admin/settings")
    assert resp.status_code == 405
    assert set(resp.headers["Allow"].split(", ")) == {"GET", "HEAD", "OPTIONS", "POST"}
    _assert_styled(resp.get_data(as_text=True), "This page cannot do that")


def test_an_unknown_public_page_is_a_neutral_styled_404(admin: Admin) -> None:
    client: FlaskClient = admin.client
    resp = client.get("/no-such-page", headers={"Accept": "text/html"})
    html = resp.get_data(as_text=True)
    assert resp.status_code == 404
    _assert_styled(html, "Page not found")
    assert '<body class="admin' not in html
    assert "Back to the start page</a>" in html


def test_machine_paths_keep_their_json_errors(admin: Admin) -> None:
    for path in ("/api/nope", "/storefront/nope", "/webhooks/nope", "/feeds/nope"):
        resp = admin.client.get(path, headers={"Accept": "text/html"})
        assert resp.status_code == 404, path
        assert resp.get_json()["error"]["code"] == "not_found", path


def test_the_campaign_form_summary_links_to_the_product_list(admin: Admin) -> None:
    resp = admin.post(
        "/admin/campaigns", {"name": "X", "starts_on": "2099-01-02", "ends_on": "2099-01-03", "uplift_pct": "5"}
    )
    html = resp.get_data(as_text=True)
    assert resp.status_code == 400
    sid, heading, lines = summary(html)
    assert (sid, heading) == ("campaign-errors", "Nothing was saved: 1 field needs fixing.")
    assert lines == [("#product_ids", "Products", "Choose at least one product or collection.")]
    assert_targets_exist(html, lines)


def test_the_alert_settings_summary_links_to_the_invalid_choice(admin: Admin) -> None:
    resp = admin.post("/admin/alerts", {"daily_digest": "weekly", "instant_alerts": "true"})
    html = resp.get_data(as_text=True)
    assert resp.status_code == 400
    sid, heading, lines = summary(html)
    assert (sid, heading) == ("alert-form-error", "Nothing was saved: 1 field needs fixing.")
    assert lines == [("#daily_digest", "Daily digest", "Choose Yes or No.")]


def test_the_store_details_summary_links_to_the_timezone(admin: Admin) -> None:
    resp = admin.post("/admin/settings/store", {"identity_timezone": "Mars/Olympus"})
    html = resp.get_data(as_text=True)
    assert resp.status_code == 400
    sid, heading, lines = summary(html)
    assert (sid, heading) == ("store-errors", "Nothing was saved: 1 field needs fixing.")
    assert lines == [
        ("#identity_timezone", "Timezone", "Not a valid timezone: use an IANA name such as Europe/Amsterdam.")
    ]
    assert_targets_exist(html, lines)
