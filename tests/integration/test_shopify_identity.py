"""A Shopify shop's own settings on real PostgreSQL and Redis: read at install by the queued job, kept fresh by signed
shop/update deliveries through /webhooks/shopify and the inbox, the merchant's own values kept, failures harmless.

Every store here is created by the install code (token exchange answered by `responses`), as a real install leaves it:
named after its myshopify handle, on UTC, USD and English, with no admin email.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import hmac
import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest
import responses
from flask.testing import FlaskClient
from responses import matchers
from rq import SimpleWorker
from sqlalchemy import func, select

from app import job_specs
from app.config import Settings
from app.db import Database
from app.models import Store, SyncRun, WebhookEvent
from app.platforms.shopify import sync as shopify_sync
from app.platforms.shopify.auth import install_from_session_token
from app.queue import RedisJobQueue
from app.runtime import Runtime, set_runtime
from app.services.merchant import identity as store_identity
from app.web.factory import build_app
from integrations.shopify.queries import SHOP_IDENTITY
from integrations.shopify.verify import decode_session_token
from tests.conftest import FIXTURES, TEST_REDIS_URL
from tests.factories import RecordingQueue
from tests.unit.test_shopify_auth import API_KEY, API_SECRET, EXCHANGE, make_session_token

FRONT = pytest.mark.truncating("the webhook front stores deliveries on its autocommit engine's own connections")

pytestmark = pytest.mark.integration

KEY = "kDm6Qy7CxHqEo3p2S8R0a5sFz1uW9vNcLbTjYgXhKeI="
WEBHOOK_SECRET = "shpss_fixture_secret"  # the fixtures' signing secret, still accepted as the previous app secret
DUTCH = "amsterdam-linen.myshopify.com"
DEMO = "backsoon-demo.myshopify.com"
ALL_SCOPES = "write_products,read_inventory,read_locations,read_orders,write_app_proxy,read_locales"
OLD_SCOPES = "write_products,read_inventory,read_orders,write_app_proxy"  # granted before read_locales was asked
GQL = FIXTURES / "shopify" / "graphql"
SHOP_UPDATE: dict[str, Any] = json.loads((FIXTURES / "shopify" / "webhooks" / "shop-update.json").read_text())
IDENTITY: dict[str, Any] = json.loads((GQL / "shop_identity.json").read_text())
DUTCH_REPORTED = {
    "name": "Amsterdam Linen Co",
    "admin_email": "eva.dekker@amsterdam-linen.example",
    "timezone": "Europe/Amsterdam",
    "currency": "EUR",
    "country": "NL",
    "locale": "nl",
    # currencyFormats.moneyInEmailsFormat "€{{amount_with_comma_separator}}"
    "money_format": {"pattern": "€{amount}", "thousands": ".", "decimal": ",", "decimals": 2},
    # shopLocales(published: true), the primary first; primaryDomain.host
    "languages": ["nl", "en", "de"],
    "primary_domain": "www.amsterdam-linen.example",
}
# What the install code leaves before anything is read: the handle as name, BackSoon's defaults.
INSTALLED = {
    "name": "amsterdam-linen",
    "admin_email": None,
    "timezone": "UTC",
    "currency": "USD",
    "country": None,
    "locale": "en",
    "reported_identity": None,
    "identity_overrides": None,
    "identity_read_at": None,
}


def graphql_url(shop: str) -> str:
    return f"https://{shop}/admin/api/2026-10/graphql.json"


@dataclass
class Harness:
    client: FlaskClient
    db: Database
    jobs: RedisJobQueue
    http: responses.RequestsMock
    settings: Settings

    def install(self, shop: str = DUTCH, scopes: str = ALL_SCOPES) -> int:
        """Install through token exchange, as the app home does; the identity read goes to Redis after commit."""
        self.http.post(f"https://{shop}/admin/oauth/access_token", json={**EXCHANGE, "scope": scopes})
        token = decode_session_token(make_session_token(shop), API_KEY, [API_SECRET])
        with self.db.session() as s:
            store_id = install_from_session_token(s, self.settings, token, jobs=self.jobs).id
        # These tests are about the settings read: the first sync an install also starts (test_shopify_auth_service)
        # is taken off the queue and marked done, so only the read runs here.
        with self.db.session() as s:
            for run in s.scalars(select(SyncRun).where(SyncRun.store_id == store_id, SyncRun.status == "running")):
                self.jobs.queues["default"].remove(f"sync-{run.id}")
                run.status = "done"
        return store_id

    def work(self, *queues: str) -> None:
        names = queues or ("high", "default")
        SimpleWorker([self.jobs.queues[n] for n in names], connection=self.jobs.connection).work(burst=True)

    def row(self, store_id: int) -> dict[str, Any]:
        with self.db.session() as s:
            store = s.get(Store, store_id)
            assert store is not None
            return {key: getattr(store, key) for key in INSTALLED}

    def deliver(self, body: dict[str, Any] | None = None, shop: str = DEMO, topic: str = "shop/update") -> Any:
        """POST a delivery signed like Shopify signs it: the shop/update fixture as is, or a body for a shop."""
        if body is None:
            raw, headers = SHOP_UPDATE["body_text"], SHOP_UPDATE["headers"]
        else:
            raw = json.dumps(body, separators=(",", ":"))
            digest = hmac.new(WEBHOOK_SECRET.encode(), raw.encode(), hashlib.sha256).digest()
            headers = {
                **SHOP_UPDATE["headers"],
                "X-Shopify-Topic": topic,
                "X-Shopify-Shop-Domain": shop,
                "X-Shopify-Webhook-Id": str(uuid.uuid4()),
                "X-Shopify-Hmac-Sha256": base64.b64encode(digest).decode(),
            }
        return self.client.post("/webhooks/shopify", data=raw.encode(), headers=headers)

    def events(self) -> list[tuple[Any, ...]]:
        with self.db.session() as s:
            rows = s.execute(
                select(WebhookEvent.topic, WebhookEvent.store_id, WebhookEvent.status, WebhookEvent.error)
            ).all()
            return [tuple(r) for r in rows]

    def graphql_calls(self, shop: str = DUTCH) -> list[dict[str, Any]]:
        return [json.loads(c.request.body) for c in self.http.calls if c.request.url == graphql_url(shop)]


@pytest.fixture
def harness(db: Database, redis_conn: Any) -> Iterator[Harness]:
    settings = Settings(
        env="test",
        shopify_api_key=API_KEY,
        shopify_api_secret=API_SECRET,
        shopify_api_secret_old=WEBHOOK_SECRET,
        token_encryption_keys=(KEY,),
        app_url="https://backsoon.example",
    )
    jobs = RedisJobQueue(TEST_REDIS_URL)
    runtime = Runtime(settings, db, jobs)
    app = build_app(runtime=runtime)
    set_runtime(runtime)  # the worker's jobs find the runtime here
    with responses.RequestsMock(assert_all_requests_are_fired=False) as http:
        yield Harness(app.test_client(), db, jobs, http, settings)
    set_runtime(None)


def answer_identity(h: Harness, *, with_locales: bool = True, body: dict[str, Any] | None = None) -> None:
    h.http.post(
        graphql_url(DUTCH),
        json=body if body is not None else IDENTITY,
        match=[matchers.json_params_matcher({"query": SHOP_IDENTITY, "variables": {"withLocales": with_locales}})],
    )


def read_at_between(h: Harness, store_id: int, before: datetime, after: datetime) -> None:
    read_at = h.row(store_id)["identity_read_at"]
    assert read_at is not None and before <= read_at <= after


def dutch_body(**changes: Any) -> dict[str, Any]:
    """The Dutch shop as a shop/update body: the fixture's Shop object with that shop's values."""
    body: dict[str, Any] = json.loads(SHOP_UPDATE["body_text"])
    body.update(
        id=71029384756,
        name="Amsterdam Linen Co",
        email="eva.dekker@amsterdam-linen.example",
        customer_email="klantenservice@amsterdam-linen.example",
        domain="www.amsterdam-linen.example",
        myshopify_domain=DUTCH,
        country="NL",
        country_code="NL",
        country_name="Netherlands",
        iana_timezone="Europe/Amsterdam",
        timezone="(GMT+01:00) Amsterdam",
        currency="EUR",
        money_format="&euro;{{amount_with_comma_separator}}",
        money_with_currency_format="&euro;{{amount_with_comma_separator}} EUR",
        money_in_emails_format="€{{amount_with_comma_separator}}",
        money_with_currency_in_emails_format="€{{amount_with_comma_separator}} EUR",
        primary_locale="nl",
    )
    body.update(changes)
    return body


POUNDS = {
    "money_format": "&pound;{{amount}}",
    "money_with_currency_format": "&pound;{{amount}} GBP",
    "money_in_emails_format": "£{{amount}}",
    "money_with_currency_in_emails_format": "£{{amount}} GBP",
}
POUNDS_REPORTED = {"pattern": "£{amount}", "thousands": ",", "decimal": ".", "decimals": 2}


# --- install → job → the shop's settings -----------------------------------------------------------------------


def test_install_queues_the_read_and_the_job_records_the_shops_settings(harness: Harness) -> None:
    h = harness
    store_id = h.install()
    assert h.row(store_id) == INSTALLED
    assert h.jobs.queues["default"].job_ids == [f"shopify-identity-{store_id}"]

    answer_identity(h)
    before = datetime.now(UTC)
    h.work("default")
    after = datetime.now(UTC)

    assert h.jobs.queues["default"].failed_job_registry.count == 0
    row = h.row(store_id)
    read_at_between(h, store_id, before, after)
    assert {k: v for k, v in row.items() if k != "identity_read_at"} == {
        "name": "Amsterdam Linen Co",
        "admin_email": "eva.dekker@amsterdam-linen.example",
        "timezone": "Europe/Amsterdam",
        "currency": "EUR",
        "country": "NL",
        "locale": "nl",
        "reported_identity": DUTCH_REPORTED,
        "identity_overrides": None,
    }
    assert h.graphql_calls() == [{"query": SHOP_IDENTITY, "variables": {"withLocales": True}}]
    with h.db.session() as s:
        store = s.get(Store, store_id)
        assert store is not None
        sources = {field: (value.value, value.source.value) for field, value in store_identity.identity(store).items()}
    assert sources == {
        "name": ("Amsterdam Linen Co", "platform"),
        "admin_email": ("eva.dekker@amsterdam-linen.example", "platform"),
        "timezone": ("Europe/Amsterdam", "platform"),
        "currency": ("EUR", "platform"),
        "country": ("NL", "platform"),
        "locale": ("nl", "platform"),
    }


def test_a_store_without_read_locales_reads_everything_but_the_language(harness: Harness) -> None:
    h = harness
    store_id = h.install(scopes=OLD_SCOPES)
    without_locales = copy.deepcopy(IDENTITY)
    del without_locales["data"]["shopLocales"]  # what @include(if: false) leaves out
    answer_identity(h, with_locales=False, body=without_locales)
    h.work("default")
    row = h.row(store_id)
    assert (row["name"], row["timezone"], row["currency"], row["country"], row["locale"]) == (
        "Amsterdam Linen Co",
        "Europe/Amsterdam",
        "EUR",
        "NL",
        "en",  # unknown, so BackSoon's default: never an error for the whole read
    )
    not_said = ("locale", "languages")
    assert row["reported_identity"] == {k: v for k, v in DUTCH_REPORTED.items() if k not in not_said}
    assert h.graphql_calls() == [{"query": SHOP_IDENTITY, "variables": {"withLocales": False}}]


# --- shop/update ---------------------------------------------------------------------------------------------------


@FRONT
def test_shop_update_changes_the_currency_and_timezone(harness: Harness) -> None:
    h = harness
    store_id = h.install()
    answer_identity(h)
    h.work("default")
    read_before = h.row(store_id)["identity_read_at"]

    # The merchant moves the shop to London prices and hours in Shopify's settings.
    resp = h.deliver(dutch_body(currency="GBP", iana_timezone="Europe/London", **POUNDS), shop=DUTCH)
    assert resp.status_code == 200
    assert resp.get_json() == {"received": True, "duplicate": False, "processed": True}
    h.work("high")

    row = h.row(store_id)
    assert {k: v for k, v in row.items() if k != "identity_read_at"} == {
        "name": "Amsterdam Linen Co",
        "admin_email": "eva.dekker@amsterdam-linen.example",
        "timezone": "Europe/London",
        "currency": "GBP",
        "country": "NL",
        "locale": "nl",
        "reported_identity": {
            **DUTCH_REPORTED,
            "currency": "GBP",
            "timezone": "Europe/London",
            "money_format": POUNDS_REPORTED,
        },
        "identity_overrides": None,
    }
    assert row["identity_read_at"] > read_before
    assert h.events() == [("shop/update", store_id, "processed", None)]
    assert len(h.graphql_calls()) == 1  # the delivery carried everything: no second read


@FRONT
def test_a_merchant_override_survives_shop_update(harness: Harness) -> None:
    h = harness
    store_id = h.install()
    answer_identity(h)
    h.work("default")
    with h.db.session() as s:
        store = s.get(Store, store_id)
        assert store is not None
        # The merchant keeps Amsterdam hours for BackSoon's digests whatever Shopify says.
        assert store_identity.set_overrides(store, {"timezone": "Europe/Amsterdam"}) == {}

    assert h.deliver(dutch_body(currency="GBP", iana_timezone="Europe/London", **POUNDS), shop=DUTCH).status_code == 200
    h.work("high")

    row = h.row(store_id)
    assert (row["timezone"], row["currency"]) == ("Europe/Amsterdam", "GBP")
    assert row["identity_overrides"] == {"timezone": "Europe/Amsterdam"}
    assert row["reported_identity"] == {
        **DUTCH_REPORTED,
        "currency": "GBP",
        "timezone": "Europe/London",
        "money_format": POUNDS_REPORTED,
    }
    with h.db.session() as s:
        store = s.get(Store, store_id)
        assert store is not None
        timezone = store_identity.identity(store)["timezone"]
    assert (timezone.value, timezone.source.value, timezone.reported) == (
        "Europe/Amsterdam",
        "merchant",
        "Europe/London",
    )


@FRONT
def test_the_fixture_delivery_replaces_the_defaults_of_a_fresh_install(harness: Harness) -> None:
    h = harness
    store_id = h.install(shop=DEMO)  # the identity job stays queued: only the inbox is drained here
    resp = h.deliver()
    assert resp.get_json() == {"received": True, "duplicate": False, "processed": True}
    h.work("high")
    row = h.row(store_id)
    assert {k: v for k, v in row.items() if k != "identity_read_at"} == {
        "name": "BackSoon Demo",
        "admin_email": "owner@example.com",
        "timezone": "America/New_York",
        "currency": "USD",
        "country": "US",
        "locale": "en",
        "reported_identity": {
            "name": "BackSoon Demo",
            "admin_email": "owner@example.com",
            "timezone": "America/New_York",
            "currency": "USD",
            "country": "US",
            "locale": "en",
            # money_in_emails_format "${{amount}}"
            "money_format": {"pattern": "${amount}", "thousands": ",", "decimal": ".", "decimals": 2},
            "primary_domain": "backsoon-demo.myshopify.com",  # the body's "domain": no domain of its own
        },
        "identity_overrides": None,
    }
    assert row["identity_read_at"] is not None
    assert h.events() == [("shop/update", store_id, "processed", None)]


# --- negative paths --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "answer",
    [
        # Shopify refuses a field (the scopes column said read_locales, the token did not have it).
        {
            "data": {"shop": IDENTITY["data"]["shop"], "shopLocales": None},
            "errors": [
                {
                    "message": "Access denied for shopLocales field. Required access: `read_locales` access scope.",
                    "extensions": {"code": "ACCESS_DENIED"},
                    "path": ["shopLocales"],
                }
            ],
        },
        # An answer without the shop object cannot be mapped.
        {"data": {"shop": None, "shopLocales": []}},
    ],
    ids=["access_denied", "no_shop"],
)
def test_a_failed_read_changes_nothing(harness: Harness, answer: dict[str, Any]) -> None:
    h = harness
    store_id = h.install()
    answer_identity(h, body=answer)
    h.work("default")
    assert h.jobs.queues["default"].failed_job_registry.count == 1
    assert h.row(store_id) == INSTALLED  # nothing half-written: not even the read time
    assert len(h.graphql_calls()) == 1


def test_the_job_skips_a_store_uninstalled_before_it_ran(harness: Harness) -> None:
    h = harness
    store_id = h.install()
    with h.db.session() as s:
        store = s.get(Store, store_id)
        assert store is not None
        store.status, store.credentials_encrypted = "uninstalled", None
    h.work("default")
    assert h.jobs.queues["default"].failed_job_registry.count == 0
    assert h.graphql_calls() == []
    assert h.row(store_id) == INSTALLED


@FRONT
def test_an_unknown_shops_shop_update_stores_only_the_ignored_delivery(harness: Harness) -> None:
    h = harness
    store_id = h.install()  # another shop: it must not be touched
    resp = h.deliver()  # backsoon-demo is not installed
    assert resp.status_code == 200
    assert resp.get_json() == {"received": True, "duplicate": False, "processed": False}
    h.work("high")
    assert h.events() == [("shop/update", None, "ignored", None)]
    with h.db.session() as s:
        assert s.scalar(select(func.count()).select_from(Store)) == 1
    assert h.row(store_id) == INSTALLED
    assert h.jobs.queues["high"].count == 0


@FRONT
def test_a_delivery_describing_another_shop_changes_nothing(harness: Harness) -> None:
    h = harness
    store_id = h.install()
    # Signed by Shopify for the Dutch shop's header, but the body is another shop's: refused, kept for a retry.
    resp = h.deliver(dutch_body(myshopify_domain=DEMO, currency="GBP", **POUNDS), shop=DUTCH)
    assert resp.get_json() == {"received": True, "duplicate": False, "processed": True}
    h.work("high")
    ((topic, event_store, status, error),) = h.events()
    assert (topic, event_store, status) == ("shop/update", store_id, "received")
    assert error == f"ValueError: Shopify described {DEMO}, but store {store_id} is {DUTCH}"
    assert h.row(store_id) == INSTALLED


# --- the sync reads the settings of stores that never had them read -------------------------------------------


def test_a_sync_reads_the_settings_only_when_they_were_never_read(harness: Harness) -> None:
    h = harness
    store_id = h.install()
    jobs = RecordingQueue()
    with h.db.session() as s:
        run_id = shopify_sync.start_sync(s, jobs, store_id, kind="reconcile").id
    assert jobs.specs == [job_specs.shopify_sync(run_id), job_specs.shopify_read_identity(store_id)]

    answer_identity(h)
    h.work("default")
    with h.db.session() as s:
        run = s.get(SyncRun, run_id)
        assert run is not None
        run.status = "done"
    jobs = RecordingQueue()
    with h.db.session() as s:
        again = shopify_sync.start_sync(s, jobs, store_id).id
    assert jobs.specs == [job_specs.shopify_sync(again)]


@FRONT
def test_granting_read_locales_later_reads_the_language(harness: Harness) -> None:
    h = harness
    store_id = h.install(scopes=OLD_SCOPES)
    without_locales = copy.deepcopy(IDENTITY)
    del without_locales["data"]["shopLocales"]
    answer_identity(h, with_locales=False, body=without_locales)
    h.work("default")
    assert h.row(store_id)["locale"] == "en"

    # The merchant approves the new scope: app/scopes_update arrives, and the settings are read again with it.
    scopes = {
        "id": 70932529319,
        "shop_id": "gid://shopify/Shop/71029384756",
        "previous": OLD_SCOPES.split(","),
        "current": ALL_SCOPES.split(","),
        "updated_at": "2026-10-14T19:00:03.000Z",
    }
    assert h.deliver(scopes, shop=DUTCH, topic="app/scopes_update").status_code == 200
    h.work("high")
    assert h.jobs.queues["default"].job_ids == [f"shopify-identity-{store_id}"]
    answer_identity(h)
    h.work("default")

    row = h.row(store_id)
    assert (row["locale"], row["reported_identity"]) == ("nl", DUTCH_REPORTED)
    assert [c["variables"] for c in h.graphql_calls()] == [{"withLocales": False}, {"withLocales": True}]
    assert h.events() == [("app/scopes_update", store_id, "processed", None)]
