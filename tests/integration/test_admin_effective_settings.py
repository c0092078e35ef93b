"""Effective settings: every page shows the value the engine uses and where it comes from (default, store, supplier,
product, variant), double opt-in as the signup decides it, overrides reachable from the variant page and the at-risk
rows, and a return address (``next``) that never leaves the admin."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from app.db import Database
from app.models import Product, StockState, Store, StoreSetting, Supplier
from app.queue import InProcessJobQueue
from app.services.notify.waitlist import store_double_opt_in
from app.services.stock.recompute import recompute
from app.web.admin.auth import session_fields
from app.web.admin.settings import safe_next
from app.web.admin.shell import return_path
from tests.conftest import AppFactory
from tests.factories import make_store, make_variant

pytestmark = pytest.mark.integration

_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
LEAD = "Supplier lead time (days)"


@dataclass
class Shop:
    app: Flask
    client: FlaskClient
    db: Database
    store_id: int
    supplied: int  # product with supplier Acme, as the catalog sync creates it (lead time 14)
    v1: int
    v2: int
    plain: int  # a variant of a product without a supplier

    def post(self, path: str, data: dict[str, Any]) -> Any:
        match = _CSRF.search(self.client.get("/admin/settings").get_data(as_text=True))
        assert match is not None
        return self.client.post(path, data={"csrf_token": match.group(1), **data})

    def text(self, path: str) -> str:
        resp = self.client.get(path)
        assert resp.status_code == 200, path
        return str(resp.get_data(as_text=True))

    def row(self, variant_id: int, name: str) -> tuple[str, str]:
        """The variant page's "Settings used" row: (value, source)."""
        html = self.text(f"/admin/variants/{variant_id}")
        cells = r'<th scope="row">[^<]*</th><td>([^<]*)</td><td>([^<]*)</td>'
        found = re.search(rf'<tr data-setting="{name}">{cells}', html)
        assert found is not None, name
        return found.group(1), found.group(2)

    def applies(self, path: str, name: str) -> str:
        found = re.search(rf'<p class="field-current" id="{name}-current">Applies: ([^<]*)</p>', self.text(path))
        assert found is not None, (path, name)
        return found.group(1)

    def inherit(self, path: str, name: str) -> str:
        html = self.text(path)
        found = re.search(rf'name="inherit_{name}" value="1"[^>]*>\s*Inherit: <span class="muted">([^<]*)</span>', html)
        assert found is not None, (path, name)
        return found.group(1)

    def lead_state(self, variant_id: int) -> int:
        with self.db.session() as s:
            state = s.get(StockState, variant_id)
            assert state is not None
            return state.lead_time_days

    def rows(self) -> list[tuple[str, int | None, int | None, dict[str, Any]]]:
        with self.db.session() as s:
            return [
                (r.scope, r.product_id, r.variant_id, r.values)
                for r in s.scalars(select(StoreSetting).order_by(StoreSetting.id))
            ]


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    """Demo mode, with links on the test app URL."""
    return {"demo": True, "app_url": "http://backsoon.test"}


@pytest.fixture
def shop(db: Database, make_app: AppFactory) -> Iterator[Shop]:
    """An EU store as an install leaves it: no settings saved, one supplier named by the catalog sync."""
    app = make_app(jobs=InProcessJobQueue(eager=True))
    with db.session() as s:
        store = make_store(s, platform="demo", name="Demo Shop", country="NL")
        supplier = Supplier(store_id=store.id, name="Acme", lead_time_days=14)  # the catalog sync's default
        s.add(supplier)
        s.flush()
        product = Product(store_id=store.id, external_id="p-acme", title="Wool Hat", supplier_id=supplier.id)
        s.add(product)
        s.flush()
        v1 = make_variant(s, store, qty=2, product=product, sku="HAT-RED", title="Red")
        v2 = make_variant(s, store, qty=3, product=product, sku="HAT-BLUE")
        plain = make_variant(s, store, qty=1, sku="SCARF")
        recompute(s, store.id)
        ids = (store.id, product.id, v1.id, v2.id, plain.id)
    client = app.test_client()
    with client.session_transaction() as sess:
        sess.update(session_fields(ids[0], 0))
    yield Shop(app, client, db, *ids)


def test_each_level_shows_its_value_and_source_and_the_engine_uses_it(shop: Shop) -> None:
    v1_form = f"/admin/settings/variants/{shop.v1}"
    product_form = f"/admin/settings/products/{shop.supplied}"
    # A fresh install: the default, and the supplier row the sync created (its 14 days count as entered).
    assert shop.row(shop.plain, "lead_time_days") == ("14 days", "Default")
    assert shop.row(shop.v1, "lead_time_days") == ("14 days", "Supplier Acme (14 days)")
    assert shop.row(shop.v1, "low_stock_threshold") == ("5 units", "Default")
    assert shop.applies("/admin/settings", "lead_time_days") == "14 days — Default"

    # Store level: the supplier-less variant follows; the supplier still beats the store's lead time.
    assert shop.post("/admin/settings", {"lead_time_days": "20", "low_stock_threshold": "8"}).status_code == 302
    assert shop.applies("/admin/settings", "lead_time_days") == "20 days — Store setting"
    assert shop.row(shop.plain, "lead_time_days") == ("20 days", "Store setting")
    assert shop.row(shop.v1, "lead_time_days") == ("14 days", "Supplier Acme (14 days)")
    assert shop.row(shop.v1, "low_stock_threshold") == ("8 units", "Store setting")

    # Supplier level: the merchant enters Acme's real lead time.
    with shop.db.session() as s:
        acme = s.scalars(select(Supplier.id).where(Supplier.store_id == shop.store_id)).one()
    store_form = {"lead_time_days": "20", "low_stock_threshold": "8"}  # the form posts every field again
    assert shop.post("/admin/settings", {**store_form, f"supplier_{acme}_lead_time": "35"}).status_code == 302
    assert shop.row(shop.v1, "lead_time_days") == ("35 days", "Supplier Acme (35 days)")
    assert shop.inherit(product_form, "lead_time_days") == "35 days from supplier Acme"
    assert shop.inherit(v1_form, "lead_time_days") == "35 days from supplier Acme"
    assert 'name="lead_time_days" type="text" value="" inputmode="numeric" placeholder="35"' in shop.text(v1_form)
    assert shop.inherit(v1_form, "low_stock_threshold") == "8 units from the store setting"
    assert (shop.lead_state(shop.v1), shop.lead_state(shop.v2), shop.lead_state(shop.plain)) == (35, 35, 20)

    # Product level beats the supplier for all its variants.
    assert shop.post(product_form, {"lead_time_days": "45"}).status_code == 302
    assert shop.applies(product_form, "lead_time_days") == "45 days — Product override"
    assert shop.row(shop.v2, "lead_time_days") == ("45 days", "Product override")
    assert shop.inherit(v1_form, "lead_time_days") == "45 days from the product"

    # Variant level beats the product, for that variant only.
    assert shop.post(v1_form, {"lead_time_days": "50"}).status_code == 302
    assert shop.applies(v1_form, "lead_time_days") == "50 days — Variant override"
    assert shop.inherit(v1_form, "lead_time_days") == "45 days from the product"
    assert shop.row(shop.v1, "lead_time_days") == ("50 days", "Variant override")
    assert shop.row(shop.v2, "lead_time_days") == ("45 days", "Product override")
    # The engine planned with the same values: its stored lead time, and the variant page's figure.
    assert (shop.lead_state(shop.v1), shop.lead_state(shop.v2), shop.lead_state(shop.plain)) == (50, 45, 20)
    assert "<div><dt>Lead time</dt><dd>50 days</dd></div>" in shop.text(f"/admin/variants/{shop.v1}")
    # The store settings page lists both overrides, linking to their forms.
    listed = re.search(r'<fieldset class="card" id="overrides">(.*?)</fieldset>', shop.text("/admin/settings"), re.S)
    assert listed is not None
    items = [re.sub(r"\s+", " ", li).strip() for li in re.findall(r"<li>(.*?)</li>", listed.group(1), re.S)]
    assert items == [
        f'<a href="/admin/settings/products/{shop.supplied}">Wool Hat</a> '
        '<span class="muted">(product: Supplier lead time (days))</span>',
        f'<a href="/admin/settings/variants/{shop.v1}">Wool Hat · Red (HAT-RED)</a> '
        '<span class="muted">(variant: Supplier lead time (days))</span>',
    ]
    assert shop.rows() == [
        ("store", None, None, {"lead_time_days": 20, "low_stock_threshold": 8}),
        ("product", shop.supplied, None, {"lead_time_days": 45}),
        ("variant", None, shop.v1, {"lead_time_days": 50}),
    ]


def test_double_opt_in_shows_what_the_signup_does_and_no_is_saved(shop: Shop) -> None:
    eu_default = "On by default for stores in the EU/EEA (store country: NL)"
    assert shop.applies("/admin/settings", "double_opt_in") == f"Yes — {eu_default}"
    html = shop.text("/admin/settings")
    assert f'<option value="" selected>Automatic: Yes — {eu_default}</option>' in html
    assert '<option value="false">No</option>' in html

    def signup_asks() -> bool:
        with shop.db.session() as s:
            store = s.get(Store, shop.store_id)
            assert store is not None
            return store_double_opt_in(s, store)

    assert signup_asks() is True
    # "No" is a real choice on an EU store: it is stored and the signup follows.
    assert shop.post("/admin/settings", {"double_opt_in": "false"}).status_code == 302
    assert shop.rows() == [("store", None, None, {"double_opt_in": False})]
    assert shop.applies("/admin/settings", "double_opt_in") == "No — Store setting"
    assert '<option value="false" selected>No</option>' in shop.text("/admin/settings")
    assert signup_asks() is False
    # Back to automatic: the country's default applies again.
    assert shop.post("/admin/settings", {"double_opt_in": ""}).status_code == 302
    assert shop.rows() == [("store", None, None, {})]
    assert signup_asks() is True

    # A variant cannot change it: no control, the reason, and a posted value is not saved.
    form = f"/admin/settings/variants/{shop.v1}"
    page = shop.text(form)
    assert 'name="double_opt_in"' not in page
    assert f'<p class="field-current" id="double_opt_in-current">Applies: Yes — {eu_default}</p>' in page
    assert "Set for the whole store only: a product or a variant cannot change it." in page
    assert shop.post(form, {"double_opt_in": "false", "low_stock_threshold": "3"}).status_code == 302
    assert shop.rows() == [("store", None, None, {}), ("variant", None, shop.v1, {"low_stock_threshold": 3})]


def test_a_store_outside_the_eu_shows_double_opt_in_off_by_default(db: Database, shop: Shop) -> None:
    with db.session() as s:
        us = make_store(s, platform="demo", name="US Shop", country="US").id
    with shop.client.session_transaction() as sess:
        sess.update(session_fields(us, 0))
    expected = "No — Default for stores outside the EU/EEA (store country: US)"
    assert shop.applies("/admin/settings", "double_opt_in") == expected


def test_the_variant_page_and_at_risk_rows_link_to_the_override_form_and_back(shop: Shop) -> None:
    variant_page = shop.text(f"/admin/variants/{shop.v1}")
    back = f"/admin/variants/{shop.v1}"
    assert f'href="/admin/settings/variants/{shop.v1}?next={back}" id="variant-settings-link"' in variant_page
    assert f'href="/admin/settings/products/{shop.supplied}?next={back}" id="product-settings-link"' in variant_page

    at_risk = shop.text("/admin/at-risk?status=low_stock")
    link = f'href="/admin/settings/variants/{shop.v1}?next=/admin/at-risk?status%3Dlow_stock"'
    assert link in at_risk
    assert 'aria-label="Settings for HAT-RED">Settings</a>' in at_risk

    form = shop.text(f"/admin/settings/variants/{shop.v1}?next=/admin/at-risk?status=low_stock")
    assert '<input type="hidden" name="next" value="/admin/at-risk?status=low_stock">' in form
    assert '<a href="/admin/at-risk?status=low_stock" id="back-link">' in form
    saved = shop.post(f"/admin/settings/variants/{shop.v1}", {"safety_days": "9", "next": back})
    assert (saved.status_code, saved.headers["Location"]) == (302, back)
    assert shop.row(shop.v1, "safety_days") == ("9 days", "Variant override")


@pytest.mark.parametrize(
    "target",
    [
        "https://evil.example/admin/",
        "//evil.example/admin",
        "/\\evil.example",
        "/admin/\\\\evil.example",
        "/admin/\t//evil.example",
        "/settings",
        "javascript:alert(1)",
        "/administrator",
    ],
)
def test_an_outside_return_address_is_refused_and_nothing_is_saved(shop: Shop, target: str) -> None:
    assert safe_next(target) is None
    form = f"/admin/settings/variants/{shop.v1}"
    resp = shop.post(form, {"safety_days": "9", "next": target})
    assert resp.status_code == 400
    assert "Location" not in resp.headers
    assert "The return address must be a page of this admin" in resp.get_data(as_text=True)
    assert shop.rows() == []
    assert shop.client.get(form, query_string={"next": target}).status_code == 400


def test_admin_paths_are_accepted_as_return_addresses() -> None:
    assert safe_next("/admin/at-risk?status=low_stock&page=2") == "/admin/at-risk?status=low_stock&page=2"
    assert safe_next("/admin") == "/admin"
    assert safe_next(None) is None


def test_the_return_path_keeps_the_filters_but_not_an_embedded_session_token(shop: Shop) -> None:
    with shop.app.test_request_context("/admin/at-risk?status=low_stock&id_token=eyJ.x.y&shop=a.myshopify.com&page=2"):
        assert return_path() == "/admin/at-risk?status=low_stock&shop=a.myshopify.com&page=2"
    with shop.app.test_request_context("/admin/variants/7"):
        assert return_path() == "/admin/variants/7"
