"""Admin settings: store-wide values, product and variant overrides, texts, supplier lead times; validation messages
next to each field, nothing saved on an error, and a saved change recomputes the affected variants."""

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
from app.models import DirtyVariant, Product, StockState, StoreSetting, Supplier
from app.queue import InProcessJobQueue
from app.services.stock.recompute import recompute
from tests.conftest import AppFactory
from tests.factories import RecordingQueue, make_store, make_variant

pytestmark = pytest.mark.integration

_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def dirty_ids(db: Database) -> list[int]:
    """Variants waiting for a recompute."""
    with db.session() as s:
        return sorted(s.scalars(select(DirtyVariant.variant_id)))


def stock_state(db: Database, variant_id: int) -> StockState:
    """A variant's computed state, detached."""
    with db.session() as s:
        state = s.get(StockState, variant_id)
        assert state is not None
        s.expunge(state)
        return state


@dataclass
class Admin:
    app: Flask
    client: FlaskClient
    db: Database
    jobs: Any
    store_id: int
    other_id: int
    product_id: int
    variant_ids: tuple[int, int]
    other_variant_id: int
    other_product_id: int

    def csrf(self) -> str:
        match = _CSRF.search(self.client.get("/admin/settings").get_data(as_text=True))
        assert match is not None
        return match.group(1)

    def post(self, path: str, data: dict[str, Any]) -> Any:
        return self.client.post(path, data={"csrf_token": self.csrf(), **data})

    def rows(self) -> list[tuple[str, int | None, int | None, dict[str, Any]]]:
        with self.db.session() as s:
            return [
                (r.scope, r.product_id, r.variant_id, r.values)
                for r in s.scalars(select(StoreSetting).order_by(StoreSetting.id))
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
    with db.session() as s:
        store = make_store(s, platform="demo", name="Demo Shop")
        other = make_store(s, platform="woocommerce", name="Other")
        v1 = make_variant(s, store, qty=8)
        v2 = make_variant(s, store, qty=30, product=s.get(Product, v1.product_id))
        ov = make_variant(s, other, qty=3)
        recompute(s, store.id)
        recompute(s, other.id)
        ids = (store.id, other.id, v1.product_id, (v1.id, v2.id), ov.id, ov.product_id)
    return Admin(app, app.test_client(), db, jobs, ids[0], ids[1], ids[2], ids[3], ids[4], ids[5])


@pytest.fixture
def recorded(db: Database, make_app: AppFactory) -> Iterator[Admin]:
    jobs = RecordingQueue()
    yield _build(make_app(jobs=jobs), db, jobs)


@pytest.fixture
def live(db: Database, make_app: AppFactory) -> Iterator[Admin]:
    jobs = InProcessJobQueue(eager=True)
    yield _build(make_app(jobs=jobs), db, jobs)


def test_the_settings_page_shows_every_field_with_its_default(recorded: Admin) -> None:
    html = recorded.client.get("/admin/settings").get_data(as_text=True)
    assert 'id="low_stock_threshold" name="low_stock_threshold" type="text" value="5"' in html
    assert 'name="velocity_windows" type="text" value="7, 28, 90"' in html
    shown = re.search(r'<select id="show_lead_time_eta" name="show_lead_time_eta"[^>]*>(.*?)</select>', html, re.S)
    assert shown is not None
    assert '<option value="false" selected>No</option>' in shown.group(1)
    assert '<option value="true">Yes</option>' in shown.group(1)
    assert 'placeholder="Only [count] left"' in html
    assert 'placeholder="Nur noch [count] verfügbar"' in html


def test_bad_values_show_their_messages_next_to_the_fields_and_nothing_is_saved(recorded: Admin) -> None:
    resp = recorded.post(
        "/admin/settings",
        {
            "low_stock_threshold": "abc",
            "wave_ratio": "0",
            "quiet_hours_start": "22",
            "velocity_windows": "7, 28",
            "reply_to": "not-an-address",
            "text_en_only_n_left": "Hurry, few left",
            "text_fr_back_soon": "Retour le [dte]",
            "sender_name": "Shop\r\nBcc: x@evil.example",
        },
    )
    html = resp.get_data(as_text=True)
    assert resp.status_code == 400
    expected = {
        "low_stock_threshold": "Must be a whole number.",
        "wave_ratio": "Must be greater than 0 and at most 10.",
        "quiet_hours_start": "Set both quiet hours start and quiet hours end, or neither.",
        "velocity_windows": "Must have as many entries as velocity weights (3).",
        "text_en_only_n_left": "Must contain [count], where the number goes.",
        "text_fr_back_soon": "Unknown placeholder [dte]; placeholders you can use here: [date].",
        "sender_name": "Use letters, digits and spaces; no line breaks, quotes or angle brackets.",
    }
    for name, message in expected.items():
        assert f'<p class="field-error" id="{name}-error">{message}</p>' in html
        assert re.search(rf'id="{name}" name="{name}"[^>]*aria-invalid="true"', html, re.S), name
    assert 'id="reply_to-error">Enter a valid email address (' in html
    # What was typed is shown again, so the merchant fixes rather than retypes it.
    assert 'name="low_stock_threshold" type="text" value="abc"' in html
    assert recorded.rows() == []
    assert recorded.dirty() == []
    assert recorded.jobs.specs == []


def test_a_store_change_saves_only_what_differs_and_marks_every_variant_dirty(recorded: Admin) -> None:
    resp = recorded.post(
        "/admin/settings",
        {
            "low_stock_threshold": "12",
            "lead_time_days": "14",
            "double_opt_in": "true",
            "quiet_hours_start": "22",
            "quiet_hours_end": "7",
            "sender_name": "Demo Shop Team",
            "reply_to": "Help@Example.COM",
            "text_nl_only_n_left": "Nog maar [count]!",
            "text_en_consent": "Email me when [store] restocks it.",
        },
    )
    assert (resp.status_code, resp.headers["Location"]) == (302, "/admin/settings")
    assert recorded.rows() == [
        (
            "store",
            None,
            None,
            {
                "low_stock_threshold": 12,
                "quiet_hours_start": 22,
                "quiet_hours_end": 7,
                "double_opt_in": True,
                "sender_name": "Demo Shop Team",
                "reply_to": "Help@example.com",
                "texts": {
                    "en": {"consent": "Email me when [store] restocks it."},
                    "nl": {"only_n_left": "Nog maar [count]!"},
                },
            },
        )
    ]
    assert recorded.dirty() == sorted(recorded.variant_ids)
    assert [s.job_id for s in recorded.jobs.specs] == [f"recompute-dirty-{recorded.store_id}"]
    page = recorded.client.get("/admin/settings").get_data(as_text=True)
    assert "Settings saved." in page
    assert 'name="low_stock_threshold" type="text" value="12"' in page
    assert 'name="text_nl_only_n_left" type="text" value="Nog maar [count]!"' in page


def test_a_text_only_change_does_not_recompute(recorded: Admin) -> None:
    assert recorded.post("/admin/settings", {"sender_name": "Team"}).status_code == 302
    assert recorded.rows() == [("store", None, None, {"sender_name": "Team"})]
    assert (recorded.dirty(), recorded.jobs.specs) == ([], [])


def test_a_supplier_lead_time_is_validated_and_saved(recorded: Admin) -> None:
    with recorded.db.session() as s:
        supplier = Supplier(store_id=recorded.store_id, name="Acme", lead_time_days=14)
        s.add(supplier)
        s.flush()
        sid = supplier.id
    bad = recorded.post("/admin/settings", {f"supplier_{sid}_lead_time": "400"})
    assert bad.status_code == 400
    assert f'id="supplier_{sid}_lead_time-error">Must be between 0 and 365.</p>' in bad.get_data(as_text=True)
    assert recorded.post("/admin/settings", {f"supplier_{sid}_lead_time": "30"}).status_code == 302
    with recorded.db.session() as s:
        assert s.get(Supplier, sid).lead_time_days == 30  # type: ignore[union-attr]
    assert recorded.dirty() == sorted(recorded.variant_ids)


def test_a_variant_override_shows_inherited_values_and_recomputes_its_state(live: Admin) -> None:
    v1, v2 = live.variant_ids
    assert live.state(v1).badge_kind == "none"  # 8 units, threshold 5
    page = live.client.get(f"/admin/settings/variants/{v1}").get_data(as_text=True)
    assert 'name="inherit_low_stock_threshold" value="1" checked' in page
    assert 'placeholder="5"' in page

    resp = live.post(f"/admin/settings/variants/{v1}", {"low_stock_threshold": "10"})
    assert (resp.status_code, resp.headers["Location"]) == (302, f"/admin/settings/variants/{v1}")
    assert live.rows() == [("variant", None, v1, {"low_stock_threshold": 10})]
    # The in-process queue ran the recompute after commit: the badge follows, the sibling is untouched.
    assert (live.state(v1).badge_kind, live.state(v1).badge_quantity) == ("only_n_left", 8)
    assert live.state(v2).badge_kind == "none"
    assert live.dirty() == []

    # Ticking "inherit" clears the override and the badge goes again.
    cleared = live.post(
        f"/admin/settings/variants/{v1}", {"low_stock_threshold": "10", "inherit_low_stock_threshold": "1"}
    )
    assert cleared.status_code == 302
    assert live.rows() == [("variant", None, v1, {})]
    assert live.state(v1).badge_kind == "none"


def test_a_product_override_is_inherited_by_its_variants(live: Admin) -> None:
    resp = live.post(f"/admin/settings/products/{live.product_id}", {"low_stock_threshold": "40"})
    assert resp.status_code == 302
    assert [live.state(v).badge_kind for v in live.variant_ids] == ["only_n_left", "only_n_left"]
    page = live.client.get(f"/admin/settings/variants/{live.variant_ids[0]}").get_data(as_text=True)
    # The variant form shows the product's value as what it inherits.
    assert 'placeholder="40"' in page


def test_an_override_error_is_shown_and_nothing_is_saved(recorded: Admin) -> None:
    v1 = recorded.variant_ids[0]
    resp = recorded.post(f"/admin/settings/variants/{v1}", {"min_inventory": "0", "quiet_hours_start": "25"})
    html = resp.get_data(as_text=True)
    assert resp.status_code == 400
    assert '<p class="field-error" id="min_inventory-error">Must be between 1 and 100000.</p>' in html
    assert '<p class="field-error" id="quiet_hours_start-error">Must be an hour from 0 to 23, or empty.</p>' in html
    assert (recorded.rows(), recorded.dirty(), recorded.jobs.specs) == ([], [], [])


def test_no_quiet_hours_for_one_variant_overrides_the_store(recorded: Admin) -> None:
    v1 = recorded.variant_ids[0]
    assert recorded.post("/admin/settings", {"quiet_hours_start": "22", "quiet_hours_end": "7"}).status_code == 302
    resp = recorded.post(f"/admin/settings/variants/{v1}", {"quiet_hours_start": "", "quiet_hours_end": ""})
    assert resp.status_code == 302
    assert recorded.rows()[1] == ("variant", None, v1, {"quiet_hours_start": None, "quiet_hours_end": None})


def test_another_stores_product_or_variant_is_a_404_and_unchanged(recorded: Admin) -> None:
    for path in (
        f"/admin/settings/variants/{recorded.other_variant_id}",
        f"/admin/settings/products/{recorded.other_product_id}",
        "/admin/settings/variants/99999999",
        "/admin/settings/variants/99999999999999999999999",
    ):
        assert recorded.client.get(path).status_code == 404
        assert recorded.post(path, {"low_stock_threshold": "3"}).status_code == 404
    assert (recorded.rows(), recorded.dirty()) == ([], [])


def test_a_post_without_the_csrf_token_is_refused(recorded: Admin) -> None:
    resp = recorded.client.post("/admin/settings", data={"low_stock_threshold": "3"})
    assert resp.status_code == 403
    assert recorded.rows() == []
