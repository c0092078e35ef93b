"""Admin Emails and Alerts pages: every email previewed from the store's own data (or a labelled sample), served in a
sandboxed frame under its own policy, another store's variant 404; alert settings saved, bad input saves nothing, and
the alerts sent listed."""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select

from app.db import Database
from app.models import AlertLog, Product, StoreSetting, Subscription
from app.services.merchant import identity
from app.services.stock.recompute import recompute
from app.web.admin.auth import session_fields
from integrations.woocommerce.identity import money_format as woo_format
from tests.conftest import AppFactory
from tests.factories import NOW, make_store, make_variant

pytestmark = pytest.mark.integration
CSRF = "c" * 40
IMAGE = "https://shop.example.nl/wp-content/uploads/2026/10/linnen-hemd-blauw.jpg"
NBSP = "\u00a0"


@dataclass
class Admin:
    client: FlaskClient
    db: Database
    store_id: int
    variant_id: int
    other_variant_id: int
    product_title: str

    def get(self, path: str) -> tuple[int, str]:
        resp = self.client.get(path)
        return resp.status_code, resp.get_data(as_text=True)

    def post(self, path: str, data: dict[str, Any]) -> Any:
        return self.client.post(path, data={"csrf_token": CSRF, **data})

    def store_values(self) -> dict[str, Any] | None:
        with self.db.session() as s:
            row = s.scalar(
                select(StoreSetting).where(StoreSetting.store_id == self.store_id, StoreSetting.scope == "store")
            )
            return None if row is None else dict(row.values)


def _client(make_app: AppFactory, store_id: int) -> FlaskClient:
    client = make_app(secret_key="k").test_client()
    with client.session_transaction() as sess:
        sess.update(session_fields(store_id, 0))
        sess["admin_csrf"] = CSRF
    return client


@pytest.fixture
def shop(db: Database, make_app: AppFactory) -> Admin:
    with db.session() as s:
        store = make_store(s, platform="woocommerce", name="Linnen & Co", admin_email="eigenaar@linnen.test")
        # system_status' price settings as the live Dutch WooCommerce 9.4.3 store answers them (€ 1.234,56).
        fmt = woo_format(
            {
                "currency_symbol": "&euro;",
                "currency_position": "left_space",
                "thousand_separator": ".",
                "decimal_separator": ",",
                "number_of_decimals": 2,
            }
        )
        identity.record_reported(
            store,
            {
                "name": "Linnen & Co",
                "admin_email": "eigenaar@linnen.test",
                "currency": "EUR",
                "locale": "nl_NL",
                "money_format": fmt,
            },
            NOW,
        )
        v = make_variant(s, store, qty=2, title="Blauw / M", price=Decimal("24.95"), image_url=IMAGE)
        quiet = make_variant(s, store, qty=50)
        s.add(Subscription(store_id=store.id, variant_id=v.id, email="a@x.test", state="active"))
        other = make_store(s, platform="woocommerce", name="Other")
        ov = make_variant(s, other, qty=3)
        recompute(s, store.id)
        product = s.get(Product, v.product_id)
        assert product is not None and quiet.id
        ids = (store.id, v.id, ov.id, product.title)
    return Admin(_client(make_app, ids[0]), db, *ids)


def _text_part(html: str, kind: str) -> str:
    found = re.search(rf'<pre id="preview-{kind}-text"[^>]*>(.*?)</pre>', html, re.S)
    assert found is not None
    return found.group(1)


def test_the_emails_page_previews_every_email_from_the_stores_own_variant(shop: Admin) -> None:
    status, html = shop.get("/admin/emails")
    assert status == 200
    assert "<h1>Emails</h1>" in html
    headings = re.findall(r'<h2 id="preview-(\w+)-heading">([^<]+)</h2>', html)
    assert headings == [
        ("restock", "Restock email"),
        ("confirmation", "Confirmation email"),
        ("digest", "Daily digest"),
        ("instant", "Instant alert"),
    ]
    assert f'<strong id="preview-variant">{shop.product_title} – Blauw / M</strong>' in html
    # The shopper emails: the store's language, its product, price as the store writes it, the true urgency.
    assert f'<strong id="preview-restock-subject">Weer op voorraad: {shop.product_title}</strong>' in html
    restock = _text_part(html, "restock")
    assert f"{shop.product_title} - Blauw / M\n€{NBSP}24,95\n\nSlechts 2 weer op voorraad\n" in restock
    confirm = _text_part(html, "confirmation")
    assert f"{shop.product_title} - Blauw / M\n€{NBSP}24,95\n" in confirm
    assert 'id="preview-restock-sample"' not in html and 'id="preview-confirmation-sample"' not in html
    # The merchant emails: nothing to report yet, so examples built on the same variant, labelled as samples.
    assert (
        '<p class="notice" id="preview-digest-sample"><strong>Sample: there is nothing to report right now, '
        "so these lines are examples.</strong></p>"
    ) in html
    assert 'id="preview-instant-sample"' in html
    assert f"- {shop.product_title} – Blauw / M [" in _text_part(html, "digest")
    # Each HTML part is framed, sandboxed, from its own route.
    frames = re.findall(r'<iframe title="([^"]+)" sandbox="" [^>]*src="([^"]+)"', html)
    assert frames == [
        (f"{title} (HTML)", f"/admin/emails/{kind}/preview?variant_id={shop.variant_id}") for kind, title in headings
    ]


def test_a_preview_frame_is_the_emails_html_under_a_policy_that_runs_nothing(shop: Admin) -> None:
    resp = shop.client.get(f"/admin/emails/restock/preview?variant_id={shop.variant_id}")
    assert resp.status_code == 200
    assert resp.headers["Content-Security-Policy"] == (
        "default-src 'none'; img-src https: http: data:; style-src 'unsafe-inline'; sandbox; frame-ancestors 'self'"
    )
    assert "X-Frame-Options" not in resp.headers
    html = resp.get_data(as_text=True)
    assert html.startswith('<!doctype html>\n<html lang="nl">')
    alt = f"{shop.product_title} - Blauw / M"
    assert f'<img src="{IMAGE}" alt="{alt}" width="512"' in html
    assert f'<span class="price" style="font-weight:bold">€{NBSP}24,95</span>' in html


def test_another_stores_variant_and_unknown_kinds_are_404(shop: Admin) -> None:
    assert shop.client.get(f"/admin/emails?variant_id={shop.other_variant_id}").status_code == 404
    assert shop.client.get(f"/admin/emails/restock/preview?variant_id={shop.other_variant_id}").status_code == 404
    assert shop.client.get("/admin/emails/restock/preview?variant_id=abc").status_code == 404
    assert shop.client.get("/admin/emails/invoice/preview").status_code == 404


def test_a_store_without_products_previews_a_labelled_sample(db: Database, make_app: AppFactory) -> None:
    with db.session() as s:
        store_id = make_store(s, platform="woocommerce", name="Nieuw", locale="en", currency="EUR").id
    client = _client(make_app, store_id)
    html = client.get("/admin/emails").get_data(as_text=True)
    assert "a\n    <strong>sample product</strong>, because your store has no products yet" in html
    for kind in ("restock", "confirmation"):
        assert (
            f'<p class="notice" id="preview-{kind}-sample"><strong>Sample: the store has no products yet, '
            "so a sample product is shown.</strong></p>"
        ) in html
    assert "Sample product - Sample variant\n24.95 EUR\n" in _text_part(html, "restock")
    assert client.get("/admin/emails/digest/preview").status_code == 200


def test_the_alerts_page_shows_and_saves_the_settings(shop: Admin) -> None:
    status, html = shop.get("/admin/alerts")
    assert status == 200
    assert "<h1>Alerts</h1>" in html
    assert '<strong id="alert-recipient">eigenaar@linnen.test</strong>' in html
    assert re.search(r'<select id="daily_digest".*?<option value="true" selected>Yes</option>', html, re.S)
    assert re.search(r'<select id="instant_alerts".*?<option value="false" selected>No</option>', html, re.S)
    assert '<p id="no-alerts">No alert email yet.</p>' in html
    before = shop.store_values()
    resp = shop.post("/admin/alerts", {"daily_digest": "false", "instant_alerts": "true"})
    assert resp.status_code == 303
    assert shop.store_values() == {**(before or {}), "daily_digest": False, "instant_alerts": True}
    html = shop.client.get("/admin/alerts").get_data(as_text=True)
    assert re.search(r'<select id="daily_digest".*?<option value="false" selected>No</option>', html, re.S)
    assert "Alert settings saved." in html
    # Back to the defaults: nothing of these two is stored.
    assert shop.post("/admin/alerts", {"daily_digest": "true", "instant_alerts": "false"}).status_code == 303
    assert shop.store_values() == (before or {})


def test_invalid_alert_settings_show_an_error_and_save_nothing(shop: Admin) -> None:
    before = shop.store_values()
    resp = shop.post("/admin/alerts", {"daily_digest": "weekly", "instant_alerts": "true"})
    assert resp.status_code == 400
    html = resp.get_data(as_text=True)
    assert '<p class="field-error" id="daily_digest-error">Choose Yes or No.</p>' in html
    assert 'id="instant_alerts-error"' not in html
    assert shop.store_values() == before


def test_the_alerts_page_lists_the_alerts_sent_and_failed(shop: Admin) -> None:
    with shop.db.session() as s:
        for status, error in (("sent", None), ("failed", "AlertRefused: the SMTP server answered 451 try later")):
            s.add(
                AlertLog(
                    store_id=shop.store_id,
                    kind="digest",
                    status=status,
                    recipient="eigenaar@linnen.test",
                    subject="Linnen & Co: 1 stock alert for 2026-11-20",
                    lines=1,
                    error=error,
                    created_at=NOW,
                )
            )
    html = shop.client.get("/admin/alerts").get_data(as_text=True)
    body = re.search(r'<table id="alert-log">.*?<tbody>(.*?)</tbody>', html, re.S)
    assert body is not None
    rows = [
        [re.sub(r"<[^>]+>", "", c).strip() for c in re.findall(r"<td[^>]*>(.*?)</td>", r, re.S)]
        for r in re.findall(r"<tr[^>]*>(.*?)</tr>", body.group(1), re.S)
    ]
    assert rows == [
        [
            "2026-11-20 12:00 UTC",
            "Daily digest",
            "eigenaar@linnen.test",
            "Linnen &amp; Co: 1 stock alert for 2026-11-20",
            "Failed, will be retried: AlertRefused: the SMTP server answered 451 try later",
        ],
        [
            "2026-11-20 12:00 UTC",
            "Daily digest",
            "eigenaar@linnen.test",
            "Linnen &amp; Co: 1 stock alert for 2026-11-20",
            "Sent",
        ],
    ]
