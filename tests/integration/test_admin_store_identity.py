"""Admin settings, Store section: each identity field with its source, the merchant's override beside the platform's
value, going back to the platform's value; an invalid value or a missing CSRF token changes nothing."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest
from flask.testing import FlaskClient

from app.db import Database
from app.models import Store
from app.services.merchant.identity import record_reported
from app.web.admin.auth import session_fields
from tests.factories import make_store

pytestmark = pytest.mark.integration

_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
REPORTED = {
    "name": "Tulpen Winkel",
    "admin_email": "Owner@Tulpen.example",
    "timezone": "Europe/Amsterdam",
    "currency": "EUR",
    "country": "NL",
    "locale": "nl_NL",
}


@dataclass
class Shop:
    client: FlaskClient
    db: Database
    store_id: int

    def page(self) -> str:
        return self.client.get("/admin/settings").get_data(as_text=True)

    def csrf(self) -> str:
        match = _CSRF.search(self.page())
        assert match is not None
        return match.group(1)

    def save(self, data: dict[str, str], *, csrf: bool = True) -> Any:
        token = {"csrf_token": self.csrf()} if csrf else {}
        return self.client.post("/admin/settings/store", data={**token, **data})

    def row(self) -> tuple[str | None, str | None, str | None, str | None, dict[str, Any] | None]:
        with self.db.session() as s:
            store = s.get(Store, self.store_id)
            assert store is not None
            return store.currency, store.timezone, store.country, store.locale, store.identity_overrides


@pytest.fixture
def shop(db: Database, client: FlaskClient) -> Shop:
    with db.session() as s:
        store = make_store(s, platform="woocommerce", domain="tulpen.example", name=None, timezone="UTC")
        record_reported(store, REPORTED, datetime(2026, 12, 7, 9, 0, tzinfo=UTC))
        s.commit()
        store_id = store.id
    with client.session_transaction() as sess:
        sess.update(session_fields(store_id, 0))
    return Shop(client, db, store_id)


def current(html: str, field: str) -> str:
    """The text of a field's "value — source" line."""
    match = re.search(rf'<p class="field-current" id="identity_{field}-current">(.*?)</p>', html)
    assert match is not None, field
    return match.group(1)


def test_each_field_shows_its_value_and_that_it_comes_from_woocommerce(shop: Shop) -> None:
    html = shop.page()
    assert [current(html, f) for f in ("name", "admin_email", "timezone", "currency", "country", "locale")] == [
        "Tulpen Winkel — from WooCommerce",
        "owner@tulpen.example — from WooCommerce",
        "Europe/Amsterdam — from WooCommerce",
        "EUR — from WooCommerce",
        "NL — from WooCommerce",
        "nl-NL — from WooCommerce",
    ]
    # Nothing is set here: the inputs are empty, the store's value shows as the placeholder, no way back is offered.
    assert (
        '<input id="identity_currency" name="identity_currency" type="text" value="" placeholder="EUR"'
        ' aria-describedby="identity_currency-current identity_currency-help">' in html
    )
    assert 'name="identity_currency_reset"' not in html
    assert '<label for="identity_currency">Currency</label>' in html
    assert '<option value="Europe/Amsterdam">' in html


def test_overriding_the_currency_stores_it_and_shows_woocommerces_beside_it(shop: Shop) -> None:
    resp = shop.save({"identity_currency": "gbp", "identity_timezone": "", "identity_country": ""})
    assert resp.status_code == 302
    assert resp.headers["Location"] == "/admin/settings#store"
    assert shop.row() == ("GBP", "Europe/Amsterdam", "NL", "nl-NL", {"currency": "GBP"})

    html = shop.page()
    assert "Store details saved. Dates, prices and feeds use them from now on." in html
    assert current(html, "currency") == 'GBP — set here <span class="muted">(WooCommerce says EUR)</span>'
    assert current(html, "timezone") == "Europe/Amsterdam — from WooCommerce"
    assert 'id="identity_currency" name="identity_currency" type="text" value="GBP" placeholder="EUR"' in html
    assert (
        '<input type="checkbox" name="identity_currency_reset" value="1">\n'
        "    Use WooCommerce&#39;s value (EUR)</label>" in html
    )

    # Saving the same form again changes nothing.
    shop.save({"identity_currency": "GBP"})
    assert "Nothing changed." in shop.page()
    assert shop.row() == ("GBP", "Europe/Amsterdam", "NL", "nl-NL", {"currency": "GBP"})


@pytest.mark.parametrize(
    "form",
    [
        {"identity_currency": "GBP", "identity_currency_reset": "1"},  # the box wins over the input
        {"identity_currency": ""},  # an emptied input is the store's value too
    ],
)
def test_going_back_to_the_store_value_clears_the_override(shop: Shop, form: dict[str, str]) -> None:
    shop.save({"identity_currency": "GBP"})
    assert shop.row()[0] == "GBP"

    assert shop.save(form).status_code == 302
    assert shop.row() == ("EUR", "Europe/Amsterdam", "NL", "nl-NL", None)
    assert current(shop.page(), "currency") == "EUR — from WooCommerce"


def test_an_invalid_timezone_answers_400_next_to_the_field_and_changes_nothing(shop: Shop) -> None:
    shop.save({"identity_country": "BE"})
    before = shop.row()
    assert before == ("EUR", "Europe/Amsterdam", "BE", "nl-NL", {"country": "BE"})

    resp = shop.save({"identity_timezone": "Mars/Olympus", "identity_currency": "GBP", "identity_country": ""})
    html = resp.get_data(as_text=True)
    assert resp.status_code == 400
    assert shop.row() == before
    assert "Nothing was saved: 1 field needs fixing." in html
    assert (
        '<p class="field-error" id="identity_timezone-error">'
        "Not a valid timezone: use an IANA name such as Europe/Amsterdam.</p>" in html
    )
    assert (
        'value="Mars/Olympus" placeholder="Europe/Amsterdam" list="timezones" autocomplete="off" aria-invalid="true"'
        ' aria-describedby="identity_timezone-current identity_timezone-help identity_timezone-error">' in html
    )
    # The other submitted values are kept as typed, the page still says what applies now.
    assert 'id="identity_currency" name="identity_currency" type="text" value="GBP"' in html
    assert 'id="identity_country" name="identity_country" type="text" value=""' in html
    assert current(html, "country") == 'BE — set here <span class="muted">(WooCommerce says NL)</span>'


def test_without_the_csrf_token_the_form_is_refused_and_nothing_changes(shop: Shop) -> None:
    before = shop.row()
    resp = shop.save({"identity_currency": "GBP"}, csrf=False)
    assert resp.status_code == 403
    assert "This form expired" in resp.get_data(as_text=True)
    assert shop.row() == before == ("EUR", "Europe/Amsterdam", "NL", "nl-NL", None)


def test_a_store_with_nothing_reported_shows_the_defaults(db: Database, client: FlaskClient) -> None:
    with db.session() as s:
        store = make_store(s, platform="shopify", domain="bare.myshopify.com", name=None, timezone="UTC")
        s.commit()
        store_id = store.id
    with client.session_transaction() as sess:
        sess.update(session_fields(store_id, 0))
    html = client.get("/admin/settings").get_data(as_text=True)
    assert current(html, "name") == "bare.myshopify.com — default"
    assert current(html, "admin_email") == "not set — default"
    assert current(html, "currency") == "USD — default"
    assert current(html, "country") == "not set — default"
