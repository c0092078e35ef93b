"""A WooCommerce store's identity on real PostgreSQL: read at connect (pasted keys, wc-auth), kept fresh once a day.

Every store here is created the way a merchant's connect creates it; the store answers with the live 9.4.3
captures (tests/woo_live.py), over https, so with HTTP Basic on the wc/v3 calls and no key on the site index.
"""

from __future__ import annotations

import ipaddress
import json
import socket
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest
import requests
import responses
from flask.testing import FlaskClient
from responses import matchers
from sqlalchemy import select

from app import job_specs
from app.config import Settings
from app.db import Database, utcnow
from app.models import Store
from app.platforms.woocommerce import connect as woo_connect
from app.platforms.woocommerce import identity as woo_identity
from app.platforms.woocommerce import sync as woo_sync
from app.runtime import Runtime, set_runtime
from app.services.merchant.brand import brand_of
from app.services.merchant.identity import set_overrides
from app.web import woocommerce
from app.web.factory import build_app
from integrations.base import AuthRevoked, TransientError
from integrations.woocommerce.client import WooClient
from tests.factories import RecordingQueue
from tests.woo_live import IDENTITY, constructed, live, serve_identity, serve_identity_with_site_logo

pytestmark = pytest.mark.integration

SETTINGS = Settings(env="test", app_url="https://backsoon.example")
STORE = "https://shop.example.com"
KEY = "ck_" + "a1" * 20
SECRET = "cs_" + "b2" * 20
CREDENTIALS = {"key": KEY, "secret": SECRET}
LIVE_REPORTED = {
    "name": "Live Test Shop",
    "admin_email": "admin@shop.example",
    "timezone": "Europe/Amsterdam",
    "currency": "EUR",
    "country": "NL",
    "locale": "en_US",
    # system_status' settings: currency_symbol "&euro;", currency_position "left", separators "," and ".", 2 decimals
    "money_format": {"pattern": "€{amount}", "thousands": ",", "decimal": ".", "decimals": 2},
    "logo_url": "",  # the site index's site_logo 0: the store has no logo
}
# name, timezone, currency, country, admin_email, locale: the store's columns every email, date and price reads.
LIVE_COLUMNS = ("Live Test Shop", "Europe/Amsterdam", "EUR", "NL", "admin@shop.example", "en-US")
SIGNED = [path for path in IDENTITY if path != "/wp-json/"]
REFUSED = (401, live("error-401-oauth1-comma-not-double-encoded")[2])


def fake_resolver(host: str, port: int | None, *args: Any, **kwargs: Any) -> list[tuple[Any, ...]]:
    try:
        address = str(ipaddress.ip_address(host))
    except ValueError:
        if host != "shop.example.com":
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known") from None
        address = "93.184.216.34"
    return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, port or 443))]


@dataclass
class Env:
    client: FlaskClient
    db: Database
    jobs: RecordingQueue

    def store(self) -> Store:
        with self.db.session() as s:
            (row,) = s.scalars(select(Store))
            s.expunge(row)
        return row

    def csrf(self) -> str:
        with self.client.session_transaction() as sess:
            sess["woo_csrf"] = "test-csrf-token"
        return "test-csrf-token"

    def job_ids(self) -> list[str | None]:
        return [spec.job_id for spec in self.jobs.specs]


@pytest.fixture
def env(db: Database, monkeypatch: pytest.MonkeyPatch) -> Iterator[Env]:
    monkeypatch.setattr(woo_connect, "RESOLVER", fake_resolver)
    real_client_for = woo_sync.client_for

    def offline_client_for(settings: Settings, store: Store, **kw: Any) -> WooClient:
        woo = real_client_for(settings, store, resolver=fake_resolver)
        woo._sleep = lambda _s: None  # retries without the real back-off
        return woo

    monkeypatch.setattr(woo_sync, "client_for", offline_client_for)
    jobs = RecordingQueue()
    runtime = Runtime(SETTINGS, db, jobs)
    app = build_app(runtime=runtime)
    if "woocommerce" not in app.blueprints:
        app.register_blueprint(woocommerce.bp)
    set_runtime(runtime)
    yield Env(app.test_client(), db, jobs)
    set_runtime(None)


def serve_products() -> None:
    """The key check's GET products?per_page=1."""
    responses.add(
        responses.GET,
        f"{STORE}/wp-json/wc/v3/products",
        json=[{"id": 10, "name": "Tea Towel"}],
        headers={"X-WP-TotalPages": "9"},
        match=[matchers.query_param_matcher({"per_page": "1"})],
    )


def connect(env: Env, **form: str) -> str:
    """Paste the keys on the connect form; the page the merchant is sent to."""
    resp = env.client.post(
        "/woocommerce/keys",
        data={"url": STORE, "consumer_key": KEY, "consumer_secret": SECRET, "csrf_token": env.csrf(), **form},
    )
    assert resp.status_code == 303, resp.get_data(as_text=True)
    return env.client.get(resp.headers["Location"]).get_data(as_text=True)


def columns(store: Store) -> tuple[Any, ...]:
    return (store.name, store.timezone, store.currency, store.country, store.admin_email, store.locale)


def paths() -> list[str]:
    return [urlsplit(call.request.url or "").path for call in responses.calls]


def refresh(env: Env, store_id: int, now: datetime) -> list[str] | None:
    woo = WooClient(STORE, KEY, SECRET, resolver=fake_resolver, get_retries=0)
    with env.db.session() as s:
        return woo_identity.refresh_identity(s, store_id, woo, now)


def general_with(**values: str) -> tuple[int, bytes]:
    body = json.loads(live("wc-settings-general")[2])
    for item in body:
        if item["id"] in values:
            item["value"] = values[item["id"]]
    return 200, json.dumps(body).encode()


# --- at connect --------------------------------------------------------------------------------------------------


@responses.activate
def test_pasted_keys_connect_records_the_live_store_identity(env: Env) -> None:
    serve_products()
    serve_identity(STORE, **CREDENTIALS)
    before = utcnow()
    page = connect(env)
    store = env.store()
    assert columns(store) == LIVE_COLUMNS
    assert store.reported_identity == LIVE_REPORTED
    assert store.identity_overrides is None
    assert store.identity_read_at is not None and before <= store.identity_read_at <= utcnow()
    assert paths() == [
        "/wp-json/wc/v3/products",
        "/wp-json/",
        "/wp-json/wc/v3/settings/general",
        "/wp-json/wc/v3/customers",
        "/wp-json/wc/v3/system_status",
    ]
    assert env.job_ids() == ["woo-sync-1"]  # read already: no identity job
    assert "<strong data-store-name>Live Test Shop</strong> at https://shop.example.com" in page


@responses.activate
def test_the_merchants_typed_email_wins_once_confirmed_and_after_a_refresh(
    env: Env, caplog: pytest.LogCaptureFixture
) -> None:
    serve_products()
    serve_identity(STORE, **CREDENTIALS)
    connect(env, admin_email=" Owner@MyShop.example.com ")
    # Until its link is clicked the address the store reports stays the admin email.
    assert (env.store().admin_email, env.store().identity_overrides) == ("admin@shop.example", None)
    # No SMTP_URL here: the link is logged instead of mailed.
    (link,) = [m.split(": ", 1)[1] for m in caplog.messages if "admin email confirmation link" in m]
    assert env.client.post(link.removeprefix(SETTINGS.app_url)).status_code == 200
    store = env.store()
    assert store.admin_email == "owner@myshop.example.com"
    assert store.identity_overrides == {"admin_email": "owner@myshop.example.com"}
    assert store.reported_identity == LIVE_REPORTED
    assert refresh(env, store.id, utcnow()) == []
    assert env.store().admin_email == "owner@myshop.example.com"


@responses.activate
def test_a_store_that_reports_no_admin_email_leaves_it_unset(env: Env) -> None:
    serve_products()
    serve_identity(STORE, **CREDENTIALS, replace={p: REFUSED for p in SIGNED if "customers" in p or "email" in p})
    connect(env)
    store = env.store()
    assert columns(store) == ("Live Test Shop", "Europe/Amsterdam", "EUR", "NL", None, "en-US")
    assert store.reported_identity == {k: v for k, v in LIVE_REPORTED.items() if k != "admin_email"}
    assert store.status == "active"  # one refused source is not a refused key


@responses.activate
def test_a_connect_whose_identity_read_fails_still_connects_and_invents_nothing(env: Env) -> None:
    serve_products()
    for path in IDENTITY:
        responses.add(responses.GET, STORE + path, body=requests.ConnectionError("reset by peer"))
    connect(env)
    store = env.store()
    assert (store.status, columns(store)) == ("active", ("shop.example.com", "UTC", "USD", None, None, "en"))
    assert (store.reported_identity, store.identity_read_at) == (None, None)
    assert env.job_ids() == ["woo-sync-1"]


@responses.activate
def test_wc_auth_callback_calls_nobody_and_the_queued_job_reads_the_identity(env: Env) -> None:
    from jobs import woocommerce as woo_jobs

    serve_identity(STORE, **CREDENTIALS)
    resp = env.client.post("/woocommerce/connect", data={"url": STORE, "csrf_token": env.csrf()})
    attempt = dict(parse_qsl(urlsplit(resp.headers["Location"]).query))["user_id"]
    # Before the redirect only the public site index was read (it names a timezone: nothing to ask).
    assert [urlsplit(c.request.url).path for c in responses.calls] == ["/wp-json/"]
    responses.calls.reset()
    store_id = env.store().id
    payload = {
        "key_id": 7,
        "user_id": attempt,
        "consumer_key": KEY,
        "consumer_secret": SECRET,
        "key_permissions": "read_write",
    }
    assert env.client.post("/woocommerce/callback", json=payload).status_code == 200
    assert len(responses.calls) == 0  # WooCommerce is waiting on this answer: the store is not called
    assert env.job_ids() == ["woo-sync-1", f"woo-identity-{store_id}"]
    spec = env.jobs.specs[1]
    assert (spec.func, spec.args, spec.queue) == (job_specs.WOO_REFRESH_IDENTITY, (store_id,), "default")
    assert (env.store().name, env.store().reported_identity) == ("shop.example.com", None)

    assert woo_jobs.refresh_identity(store_id) == ["name", "admin_email", "timezone", "currency", "country", "locale"]
    store = env.store()
    assert (columns(store), store.reported_identity) == (LIVE_COLUMNS, LIVE_REPORTED)
    assert woo_jobs.refresh_identity(store_id) == []  # idempotent: a second run changes nothing
    assert env.job_ids() == ["woo-sync-1", f"woo-identity-{store_id}"]


# --- kept fresh --------------------------------------------------------------------------------------------------


@responses.activate
def test_a_merchant_override_survives_a_later_refresh(env: Env) -> None:
    serve_products()
    serve_identity(STORE, **CREDENTIALS)
    connect(env)
    with env.db.session() as s:
        store = s.get(Store, 1)
        assert store is not None
        assert set_overrides(store, {"name": "Tulip & Co", "timezone": "America/New_York"}) == {}
    responses.reset()
    serve_identity(STORE, **CREDENTIALS, replace={SIGNED[0]: general_with(woocommerce_currency="GBP")})
    later = utcnow() + timedelta(days=1)
    assert refresh(env, 1, later) == ["currency"]
    store = env.store()
    assert columns(store) == ("Tulip & Co", "America/New_York", "GBP", "NL", "admin@shop.example", "en-US")
    assert store.reported_identity == {**LIVE_REPORTED, "currency": "GBP"}
    assert store.identity_overrides == {"name": "Tulip & Co", "timezone": "America/New_York"}
    assert store.identity_read_at == later


@responses.activate
def test_a_refresh_without_the_site_index_keeps_the_previous_name_and_timezone(env: Env) -> None:
    serve_products()
    serve_identity(STORE, **CREDENTIALS)
    connect(env)
    responses.reset()
    serve_identity(
        STORE,
        **CREDENTIALS,
        replace={"/wp-json/": (503, b"<html>maintenance</html>"), SIGNED[0]: general_with(woocommerce_currency="GBP")},
    )
    later = utcnow() + timedelta(days=1)
    assert refresh(env, 1, later) == ["currency"]
    store = env.store()
    assert columns(store) == ("Live Test Shop", "Europe/Amsterdam", "GBP", "NL", "admin@shop.example", "en-US")
    assert store.reported_identity == {**LIVE_REPORTED, "currency": "GBP"}
    assert store.identity_read_at == later


@responses.activate
def test_a_refresh_that_cannot_read_changes_nothing_and_queues_nothing(env: Env) -> None:
    from jobs import woocommerce as woo_jobs

    serve_products()
    serve_identity(STORE, **CREDENTIALS)
    connect(env)
    before = env.store()
    jobs_before = env.job_ids()

    def unchanged() -> None:
        after = env.store()
        assert (columns(after), after.reported_identity, after.identity_read_at) == (
            columns(before),
            before.reported_identity,
            before.identity_read_at,
        )
        assert env.job_ids() == jobs_before

    # The store is down: nothing answers.
    responses.reset()
    for path in IDENTITY:
        responses.add(responses.GET, STORE + path, body=requests.ConnectionError("refused"))
    with pytest.raises(TransientError):
        refresh(env, before.id, utcnow() + timedelta(days=1))
    unchanged()
    with pytest.raises(TransientError):
        woo_jobs.refresh_identity(before.id)  # the job fails; the next reconciliation queues it again
    unchanged()
    assert env.store().status == "active"

    # The key was revoked: every signed source refuses it, though the public index still answers.
    responses.reset()
    serve_identity(STORE, **CREDENTIALS, replace=dict.fromkeys(SIGNED, REFUSED))
    with pytest.raises(AuthRevoked):
        refresh(env, before.id, utcnow() + timedelta(days=1))
    unchanged()
    assert woo_jobs.refresh_identity(before.id) == []
    unchanged()
    assert (env.store().status, env.store().status_reason) == ("disconnected", "WooCommerce rejected the API key")
    calls = len(responses.calls)
    assert woo_jobs.refresh_identity(before.id) == []  # a disconnected store is not read
    assert len(responses.calls) == calls


@responses.activate
def test_reconciliation_queues_a_read_once_a_day(env: Env) -> None:
    from jobs import woocommerce as woo_jobs

    serve_products()
    serve_identity(STORE, **CREDENTIALS)
    connect(env)
    store_id = env.store().id

    def read_ago(age: timedelta | None) -> list[str | None]:
        with env.db.session() as s:
            store = s.get(Store, store_id)
            assert store is not None
            store.identity_read_at = None if age is None else utcnow() - age
        env.jobs.specs.clear()
        assert woo_jobs.reconcile_all() == 0  # no initial sync finished: no reconciliation run yet
        return env.job_ids()

    assert read_ago(timedelta(minutes=1)) == []
    assert read_ago(timedelta(hours=23, minutes=59)) == []
    assert read_ago(timedelta(days=1, minutes=1)) == [f"woo-identity-{store_id}"]
    assert read_ago(None) == [f"woo-identity-{store_id}"]
    with env.db.session() as s:
        store = s.get(Store, store_id)
        assert store is not None
        store.status = "disconnected"
    assert read_ago(timedelta(days=3)) == []
    assert len(responses.calls) == 5  # only the connect's key check and identity read called the store


@responses.activate
def test_an_email_typed_before_identities_were_read_is_kept_as_the_merchants(env: Env) -> None:
    serve_products()
    serve_identity(STORE, **CREDENTIALS)
    connect(env)
    with env.db.session() as s:
        # What migration 0009 leaves of a store connected before: the typed email in the column and as the
        # merchant's own value, nothing recorded from the store (test_migrations checks the migration itself).
        store = s.get(Store, 1)
        assert store is not None
        store.admin_email, store.reported_identity = "owner@myshop.example.com", None
        store.identity_overrides = {"admin_email": "owner@myshop.example.com"}
        store.identity_read_at = None
    assert refresh(env, 1, utcnow()) == []
    store = env.store()
    assert (store.admin_email, store.identity_overrides) == (
        "owner@myshop.example.com",
        {"admin_email": "owner@myshop.example.com"},
    )
    assert store.reported_identity == LIVE_REPORTED


# --- the site logo ---------------------------------------------------------------------------------------------


@responses.activate
def test_the_site_logo_is_picked_up_by_a_refresh_kept_through_a_failed_read_and_dropped_when_removed(
    env: Env,
) -> None:
    logo = constructed("media-site-logo")["body"]["source_url"]
    serve_products()
    serve_identity(STORE, **CREDENTIALS)
    connect(env)
    store = env.store()
    assert store.reported_identity is not None and store.reported_identity["logo_url"] == ""
    assert brand_of(store).logo_url is None
    # The merchant sets a logo in WordPress's Customizer: the next daily read finds it.
    responses.reset()
    serve_identity_with_site_logo(STORE, **CREDENTIALS)
    assert refresh(env, store.id, utcnow() + timedelta(days=1)) == []  # no identity column changed
    store = env.store()
    assert store.reported_identity == {**LIVE_REPORTED, "logo_url": logo}
    assert (brand_of(store).logo_url, brand_of(store).logo_source) == (logo, "platform")
    assert "/wp-json/wp/v2/media/31" in paths()
    # The attachment cannot be read this time: the logo read before stays.
    responses.reset()
    index = json.dumps(constructed("site-index-site-logo")["body"]).encode()
    serve_identity(STORE, **CREDENTIALS, replace={"/wp-json/": (200, index)})
    responses.add(responses.GET, f"{STORE}/wp-json/wp/v2/media/31", status=503, body=b"<html>busy</html>")
    refresh(env, store.id, utcnow() + timedelta(days=2))
    assert brand_of(env.store()).logo_url == logo
    # Removed in WordPress (site_logo 0): gone here too, and the pages go back to the store's name alone.
    responses.reset()
    serve_identity(STORE, **CREDENTIALS)
    refresh(env, store.id, utcnow() + timedelta(days=3))
    assert env.store().reported_identity == LIVE_REPORTED
    assert brand_of(env.store()).logo_url is None
