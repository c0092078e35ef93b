"""The exports forms and the WooCommerce connect forms start, when they come back with errors, with the admin's error
summary: each invalid field by its label, linking to it; nothing is saved and nobody is called."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import responses
from flask.testing import FlaskClient
from sqlalchemy import select

from app.db import Database
from app.models import Store, StoreSetting
from app.platforms.woocommerce import connect as woo_connect
from tests.conftest import AppFactory
from tests.factories import RecordingQueue
from tests.integration.test_admin_error_summaries import assert_targets_exist, settings_overrides, summary
from tests.integration.test_admin_settings import Admin, _build
from tests.integration.test_woo_connect import fake_resolver

__all__ = ["settings_overrides"]

pytestmark = pytest.mark.integration


@pytest.fixture
def admin(db: Database, make_app: AppFactory) -> Iterator[Admin]:
    jobs = RecordingQueue()
    yield _build(make_app(jobs=jobs), db, jobs)


def _store(db: Database, store_id: int) -> tuple[str | None, list[dict[str, object]]]:
    """The store's webhook URL and its settings rows (where the feed's id format is kept)."""
    with db.session() as s:
        store = s.get(Store, store_id)
        assert store is not None
        rows = [dict(r.values or {}) for r in s.scalars(select(StoreSetting).where(StoreSetting.store_id == store_id))]
        return store.outbound_webhook_url, rows


def test_the_feed_id_form_summary_names_both_fields_and_only_them(admin: Admin) -> None:
    before = _store(admin.db, admin.store_id)
    resp = admin.post("/admin/exports/feed-settings", {"feed_id_scheme": "nope", "feed_country": "Netherlands"})
    html = resp.get_data(as_text=True)
    assert resp.status_code == 400
    sid, heading, lines = summary(html)
    assert sid == "feed-errors"
    assert heading == "Nothing was saved: 2 fields need fixing."
    assert lines == [
        ("#feed_id_scheme", "Id format", "Choose one of the listed id formats."),
        ("#feed_country", "Target country", "Enter a two-letter country code, such as US or NL."),
    ]
    assert_targets_exist(html, lines)
    assert html.index('id="feed-errors"') < html.index('id="feed_id_scheme"')
    assert 'id="webhook-errors"' not in html
    assert _store(admin.db, admin.store_id) == before
    assert admin.jobs.specs == []


def test_the_webhook_form_summary_names_the_url(admin: Admin) -> None:
    resp = admin.post("/admin/exports/webhook", {"action": "save", "webhook_url": "http://localhost/hook"})
    html = resp.get_data(as_text=True)
    assert resp.status_code == 400
    sid, heading, lines = summary(html)
    assert (sid, heading) == ("webhook-errors", "Nothing was saved: 1 field needs fixing.")
    assert [(href, label) for href, label, _ in lines] == [("#webhook_url", "Webhook URL")]
    assert lines[0][2] in html.split('id="webhook_url-error">')[1]
    assert_targets_exist(html, lines)
    assert html.index('id="webhook-errors"') < html.index('id="webhook_url"')
    assert _store(admin.db, admin.store_id)[0] is None
    assert admin.jobs.specs == []


@pytest.fixture
def woo(client: FlaskClient, monkeypatch: pytest.MonkeyPatch) -> FlaskClient:
    monkeypatch.setattr(woo_connect, "RESOLVER", fake_resolver)
    with client.session_transaction() as sess:
        sess["woo_csrf"] = "test-csrf-token"
    return client


def _stores(db: Database) -> list[int]:
    with db.session() as s:
        return list(s.scalars(select(Store.id)))


@responses.activate
def test_the_keys_form_summary_names_each_missing_field_and_links_to_its_input(woo: FlaskClient, db: Database) -> None:
    resp = woo.post(
        "/woocommerce/keys",
        data={
            "url": "",
            "consumer_key": "",
            "consumer_secret": "",
            "admin_email": "nope",
            "csrf_token": "test-csrf-token",
        },
    )
    html = resp.get_data(as_text=True)
    assert resp.status_code == 400
    sid, heading, lines = summary(html)
    assert (sid, heading) == ("keys-errors", "Nothing was saved: 4 fields need fixing.")
    assert lines == [
        ("#keys-url", "Store address", "Enter your store&#39;s address, for example https://myshop.com."),
        ("#keys-key", "Consumer key", "Paste the consumer key (it starts with ck_)."),
        ("#keys-secret", "Consumer secret", "Paste the consumer secret (it starts with cs_)."),
        ("#keys-email", "Your email address", "Enter a valid email address, or leave it empty."),
    ]
    assert_targets_exist(html, lines)
    assert html.index('id="keys-errors"') < html.index('id="keys-url"')
    assert 'id="authorize-errors"' not in html
    assert _stores(db) == [] and len(responses.calls) == 0


@responses.activate
def test_the_authorize_form_summary_names_the_address(woo: FlaskClient, db: Database) -> None:
    resp = woo.post("/woocommerce/connect", data={"url": "not a url", "csrf_token": "test-csrf-token"})
    html = resp.get_data(as_text=True)
    assert resp.status_code == 400
    sid, heading, lines = summary(html)
    assert (sid, heading) == ("authorize-errors", "Nothing was saved: 1 field needs fixing.")
    assert [(href, label) for href, label, _ in lines] == [("#authorize-url", "Store address")]
    assert_targets_exist(html, lines)
    assert _stores(db) == [] and len(responses.calls) == 0


def test_an_expired_form_is_summarised_with_a_link_to_its_button(woo: FlaskClient, db: Database) -> None:
    resp = woo.post("/woocommerce/connect", data={"url": "https://shop.example.com", "csrf_token": "wrong"})
    html = resp.get_data(as_text=True)
    assert resp.status_code == 400
    _, heading, lines = summary(html)
    assert heading == "Nothing was saved: 1 field needs fixing."
    assert lines == [
        (
            "#authorize-submit",
            "Connecting",
            "This form expired or was not sent from BackSoon. Reload the page and try again.",
        )
    ]
    assert_targets_exist(html, lines)
    assert _stores(db) == []
