"""Admin incoming stock and campaigns: purchase orders by form and CSV (all-or-nothing, errors per line), closing
them, planning campaigns with their sell-out forecast; every change recomputes, another store's ids are 404s."""

from __future__ import annotations

import io
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from app.db import Database
from app.domain.stock import CampaignWindow, campaign_risk
from app.models import Campaign, Product, PurchaseOrder, StockState, Supplier
from app.queue import InProcessJobQueue
from app.services.stock.recompute import recompute
from tests.conftest import AppFactory
from tests.factories import RecordingQueue, add_sale, make_store, make_variant
from tests.integration.test_admin_settings import dirty_ids, stock_state

pytestmark = pytest.mark.integration

_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
TODAY = datetime.now(UTC).date()


def day(offset: int) -> str:
    return (TODAY + timedelta(days=offset)).isoformat()


@dataclass
class Admin:
    client: FlaskClient
    db: Database
    jobs: Any
    store_id: int
    variant_ids: tuple[int, int]
    product_id: int
    other_variant_id: int
    other_product_id: int

    def post(self, path: str, data: dict[str, Any], **kw: Any) -> Any:
        match = _CSRF.search(self.client.get("/admin/incoming").get_data(as_text=True))
        assert match is not None
        return self.client.post(path, data={"csrf_token": match.group(1), **data}, **kw)

    def orders(self) -> list[tuple[int, int, date, str, str, int | None]]:
        with self.db.session() as s:
            return [
                (p.variant_id, p.quantity, p.expected_on, p.status, p.reference, p.store_id)
                for p in s.scalars(select(PurchaseOrder).order_by(PurchaseOrder.id))
            ]

    def dirty(self) -> list[int]:
        return dirty_ids(self.db)

    def state(self, variant_id: int) -> StockState:
        return stock_state(self.db, variant_id)


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    """Demo mode, with links on the test app URL."""
    return {"demo": True, "app_url": "http://backsoon.test"}


def _build(app: Flask, db: Database, jobs: Any) -> Admin:
    now = datetime.now(UTC)
    with db.session() as s:
        store = make_store(s, platform="demo", name="Demo Shop")
        other = make_store(s, platform="woocommerce", name="Other")
        v1 = make_variant(s, store, qty=0, sku="TEE-S")
        product = s.get(Product, v1.product_id)
        assert product is not None
        product.collections = ["Summer"]
        v2 = make_variant(s, store, qty=20, sku="TEE-M", product=product)
        for n in range(7):
            add_sale(s, v2, 2, days_ago=n + 0.5, now=now)  # 2 a day: 10 days of stock
        ov = make_variant(s, other, qty=3, sku="TEE-S")
        recompute(s, store.id, now=now)
        recompute(s, other.id, now=now)
        ids = (store.id, (v1.id, v2.id), product.id, ov.id, ov.product_id)
    return Admin(app.test_client(), db, jobs, *ids)


@pytest.fixture
def recorded(db: Database, make_app: AppFactory) -> Iterator[Admin]:
    jobs = RecordingQueue()
    yield _build(make_app(jobs=jobs), db, jobs)


@pytest.fixture
def live(db: Database, make_app: AppFactory) -> Iterator[Admin]:
    jobs = InProcessJobQueue(eager=True)
    yield _build(make_app(jobs=jobs), db, jobs)


def test_a_purchase_order_by_form_feeds_the_restock_eta(live: Admin) -> None:
    v1 = live.variant_ids[0]
    assert live.state(v1).restock_eta is None
    resp = live.post(
        "/admin/incoming",
        {"sku": " TEE-S ", "quantity": "24", "expected_date": day(10), "supplier": "Acme", "reference": "PO-7"},
    )
    assert (resp.status_code, resp.headers["Location"]) == (302, "/admin/incoming")
    assert live.orders() == [(v1, 24, TODAY + timedelta(days=10), "open", "PO-7", live.store_id)]
    state = live.state(v1)
    assert (state.restock_eta, state.incoming_quantity) == (TODAY + timedelta(days=10), 24)
    page = live.client.get("/admin/incoming").get_data(as_text=True)
    assert "Purchase order for TEE-S added (24 units)." in page
    assert re.search(r"<td class=\"num\">24</td>\s*<td><time datetime=\"" + day(10), page)
    with live.db.session() as s:
        assert s.scalars(select(Supplier.name)).all() == ["Acme"]


def test_form_errors_are_shown_next_to_the_fields_and_nothing_is_created(recorded: Admin) -> None:
    resp = recorded.post(
        "/admin/incoming", {"sku": "NOPE", "quantity": "0", "expected_date": day(-1), "reference": "x" * 256}
    )
    html = resp.get_data(as_text=True)
    assert resp.status_code == 400
    assert '<p class="field-error" id="sku-error">No variant in this store has the SKU &#39;NOPE&#39;.</p>' in html
    assert '<p class="field-error" id="quantity-error">Quantity &#39;0&#39; is not a positive whole number.</p>' in html
    assert f'<p class="field-error" id="expected_date-error">Expected_date {day(-1)} is in the past.</p>' in html
    assert '<p class="field-error" id="reference-error">At most 255 characters.</p>' in html
    # Another store's SKU is unknown here.
    assert (
        recorded.post("/admin/incoming", {"sku": "TEE-S", "quantity": "1", "expected_date": day(1)}).status_code == 302
    )
    assert [o[0] for o in recorded.orders()] == [recorded.variant_ids[0]]


def test_a_csv_with_errors_imports_nothing_and_lists_every_error(recorded: Admin) -> None:
    data = f"sku;quantity;expected_date\r\nTEE-S;5;{day(3)}\r\nNOPE;5;{day(3)}\r\nTEE-M;x;{day(3)}\r\n".encode()
    resp = recorded.post("/admin/incoming/import", {"file": (io.BytesIO(b"\xef\xbb\xbf" + data), "po.csv")})
    html = resp.get_data(as_text=True)
    assert resp.status_code == 400
    assert "Nothing was imported from po.csv: 2 problems; 1 line was fine.</h3>" in html
    assert '<li><a href="#import-error-1">Line 3</a>: unknown SKU &#39;NOPE&#39;</li>' in html
    assert (
        '<tr id="import-error-1" tabindex="-1"><td class="num">3</td><td>unknown SKU &#39;NOPE&#39;</td></tr>' in html
    )
    assert (
        '<tr id="import-error-2" tabindex="-1"><td class="num">4</td>'
        "<td>quantity &#39;x&#39; is not a positive whole number</td></tr>" in html
    )
    assert (recorded.orders(), recorded.dirty(), recorded.jobs.specs) == ([], [], [])


def test_a_clean_csv_imports_every_line_and_marks_the_variants_dirty(recorded: Admin) -> None:
    v1, v2 = recorded.variant_ids
    data = f"sku,quantity,expected_date,supplier,reference\nTEE-S,5,{day(3)},Acme,A\nTEE-M,7,{day(9)},acme,B\n"
    resp = recorded.post("/admin/incoming/import", {"file": (io.BytesIO(data.encode()), "po.csv")})
    assert resp.status_code == 302
    assert recorded.orders() == [
        (v1, 5, TODAY + timedelta(days=3), "open", "A", recorded.store_id),
        (v2, 7, TODAY + timedelta(days=9), "open", "B", recorded.store_id),
    ]
    assert recorded.dirty() == [v1, v2]
    assert [s.job_id for s in recorded.jobs.specs] == [f"recompute-dirty-{recorded.store_id}"]
    with recorded.db.session() as s:
        assert s.scalars(select(Supplier.name)).all() == ["Acme"]  # one supplier, matched case-insensitively


def test_an_import_without_a_file_is_a_400(recorded: Admin) -> None:
    resp = recorded.post("/admin/incoming/import", {})
    assert resp.status_code == 400
    assert "Choose a CSV file to import." in resp.get_data(as_text=True)


def test_closing_a_purchase_order_stops_it_counting_as_incoming(live: Admin) -> None:
    v1 = live.variant_ids[0]
    live.post("/admin/incoming", {"sku": "TEE-S", "quantity": "4", "expected_date": day(5)})
    with live.db.session() as s:
        po_id = s.scalars(select(PurchaseOrder.id)).one()
    assert live.state(v1).incoming_quantity == 4
    assert live.post(f"/admin/incoming/{po_id}/close", {"action": "bogus"}).status_code == 400
    assert live.post(f"/admin/incoming/{po_id}/close", {"action": "received"}).status_code == 302
    assert live.orders()[0][3] == "received"
    assert (live.state(v1).incoming_quantity, live.state(v1).restock_eta) == (0, None)
    assert live.post(f"/admin/incoming/{po_id}/close", {"action": "cancelled"}).status_code == 409
    assert live.orders()[0][3] == "received"


def test_another_stores_purchase_order_or_campaign_is_a_404(recorded: Admin, db: Database) -> None:
    with db.session() as s:
        other_store = s.get(Product, recorded.other_product_id).store_id  # type: ignore[union-attr]
        po = PurchaseOrder(store_id=other_store, variant_id=recorded.other_variant_id, quantity=3, expected_on=TODAY)
        camp = Campaign(store_id=other_store, name="Theirs", starts_on=TODAY, ends_on=TODAY, product_ids=[])
        s.add_all([po, camp])
        s.flush()
        po_id, camp_id = po.id, camp.id
    assert recorded.post(f"/admin/incoming/{po_id}/close", {"action": "cancelled", "confirm": "yes"}).status_code == 404
    assert recorded.client.get(f"/admin/incoming/{po_id}/cancel").status_code == 404
    assert recorded.client.get(f"/admin/campaigns/{camp_id}").status_code == 404
    assert recorded.post(f"/admin/campaigns/{camp_id}/cancel", {"confirm": "yes"}).status_code == 404
    assert recorded.client.get(f"/admin/campaigns/{camp_id}/cancel").status_code == 404
    with db.session() as s:
        assert s.get(PurchaseOrder, po_id).status == "open"  # type: ignore[union-attr]
        assert s.get(Campaign, camp_id).status == "planned"  # type: ignore[union-attr]
    assert recorded.dirty() == []


def test_a_campaign_shows_which_variants_it_would_sell_out_and_when(live: Admin) -> None:
    v1, v2 = live.variant_ids
    resp = live.post(
        "/admin/campaigns",
        {"name": "Summer sale", "starts_on": day(2), "ends_on": day(9), "uplift_pct": "100", "collections": "Summer"},
    )
    assert resp.status_code == 302
    with live.db.session() as s:
        camp = s.scalars(select(Campaign)).one()
        assert (camp.name, camp.collections, camp.product_ids, float(camp.uplift_pct)) == (
            "Summer sale",
            ["Summer"],
            [],
            100.0,
        )
    assert resp.headers["Location"] == f"/admin/campaigns/{camp.id}"
    # The recompute ran after commit; its date is the domain's simulation of exactly this campaign.
    state = live.state(v2)
    risk = campaign_risk(
        20,
        state.velocity,
        (),
        [CampaignWindow(camp.id, TODAY + timedelta(days=2), TODAY + timedelta(days=9), 100.0)],
        TODAY,
    )
    assert risk is not None
    assert (state.campaign_id, state.campaign_stockout_on) == (camp.id, risk.stockout_on)
    assert state.campaign_stockout_on is not None
    page = live.client.get(f"/admin/campaigns/{camp.id}").get_data(as_text=True)
    assert '<span id="targeted">2</span>' in page
    assert '<span id="sell-out-count">1</span>' in page
    assert f'<time datetime="{state.campaign_stockout_on.isoformat()}">' in page
    risks = page.split('id="sell-outs"')[1].split("</table>")[0]
    assert "TEE-M" in risks and f'/admin/settings/variants/{v1}"' not in risks
    # TEE-S has no stock: listed apart as already sold out, not as the campaign's risk.
    assert f'<tr data-variant="{v1}">' in page.split('id="already-sold-out"')[1]
    listing = live.client.get("/admin/campaigns").get_data(as_text=True)
    assert "Summer sale" in listing

    assert live.post(f"/admin/campaigns/{camp.id}/cancel", {"confirm": "yes"}).status_code == 303
    assert live.state(v2).campaign_id is None
    assert live.post(f"/admin/campaigns/{camp.id}/cancel", {"confirm": "yes"}).status_code == 409


def test_campaign_form_errors_are_shown_and_nothing_is_saved(recorded: Admin) -> None:
    resp = recorded.post(
        "/admin/campaigns",
        {
            "name": "",
            "starts_on": day(5),
            "ends_on": day(4),
            "uplift_pct": "-3",
            "product_ids": str(recorded.other_product_id),
        },
    )
    html = resp.get_data(as_text=True)
    assert resp.status_code == 400
    assert '<p class="field-error" id="name-error">Give the campaign a name.</p>' in html
    assert '<p class="field-error" id="ends_on-error">The campaign cannot end before it starts.</p>' in html
    assert (
        '<p class="field-error" id="uplift_pct-error">Enter the expected extra sales in percent, from 0 to 1000.</p>'
        in html
    )
    assert '<p class="field-error" id="product_ids-error">Choose products from the list.</p>' in html
    empty = recorded.post("/admin/campaigns", {"name": "X", "starts_on": day(1), "ends_on": day(2), "uplift_pct": "5"})
    assert 'id="product_ids-error">Choose at least one product or collection.</p>' in empty.get_data(as_text=True)
    with recorded.db.session() as s:
        assert s.scalars(select(Campaign)).all() == []
    assert (recorded.dirty(), recorded.jobs.specs) == ([], [])
