"""What every request goes through: trusted proxy hops, rate limits that outlive Redis, security headers on every
page, and JSON bodies that are malformed, nested too deeply or too large answered with a 4xx JSON error."""

from __future__ import annotations

import base64
import hashlib
import hmac
import io
import logging
import socket
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from app.config import ConfigError, load_settings
from app.db import Database
from app.domain import waitlist as rules
from app.models import ComplianceRequest, StockState, WebhookEvent
from app.models.waitlist import ConsentRecord, Subscription
from app.services.merchant.api_keys import hash_api_key
from app.services.notify.waitlist import hash_ip
from app.web.security import MAX_JSON_DEPTH, too_deep
from tests.conftest import TEST_REDIS_URL, AppFactory
from tests.factories import RecordingQueue, make_store, make_variant

pytestmark = pytest.mark.integration

SECRET = "test-secret-key"
API_KEY = "bsk_hardening_test_key"
LB = "10.0.0.5"  # the load balancer in front of the app
NOT_FRAMED = {
    "Content-Security-Policy": "frame-ancestors 'none'",
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}
SECURITY_HEADERS = (*NOT_FRAMED, "Strict-Transport-Security")
DEEP = b"[" * 10_000 + b"]" * 10_000  # far deeper than Python's parser can recurse


@dataclass
class Env:
    app: Flask
    db: Database
    jobs: RecordingQueue
    store_id: int

    @property
    def url(self) -> str:
        return f"/storefront/v1/stores/{self.store_id}/subscriptions"

    def signup(self, client: FlaskClient, email: str, *, peer: str = LB, **headers: str) -> int:
        resp = client.post(self.url, json=body(email), headers=headers, environ_base={"REMOTE_ADDR": peer})
        return int(resp.status_code)

    def rows(self) -> tuple[list[str], list[str | None]]:
        with self.db.session() as s:
            emails = list(s.scalars(select(Subscription.email).order_by(Subscription.id)))
            ips = list(s.scalars(select(ConsentRecord.ip_hash).order_by(ConsentRecord.id)))
        return emails, ips


def body(email: str) -> dict[str, Any]:
    return {
        "email": email,
        "variant_id": "sold",
        "consent": True,
        "locale": "en",
        "consent_version": rules.consent("en", "Acme").version,
    }


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    """Limits counted in the test Redis; IPs hashed with SECRET."""
    return {"redis_url": TEST_REDIS_URL, "secret_key": SECRET}


@pytest.fixture
def job_queue() -> RecordingQueue:
    """Records what a signup queues."""
    return RecordingQueue()


@pytest.fixture
def env(db: Database, redis_conn: object, make_app: AppFactory, job_queue: RecordingQueue) -> Iterator[Env]:
    with db.session() as s:
        store = make_store(s, name="Acme", country="US", locale="en", api_key_hash=hash_api_key(API_KEY))
        sold = make_variant(s, store, qty=0, external_id="sold")
        s.add(StockState(store_id=store.id, variant_id=sold.id, status="out_of_stock"))
        store_id = store.id
    yield Env(make_app(), db, job_queue, store_id)


def _limited(app: Flask, spec: str = "2/minute") -> Flask:
    app.config["BACKSOON_SIGNUP_IP_LIMIT"] = spec
    return app


# --- trusted proxy hops -------------------------------------------------------------------------------------------


def test_trusted_proxy_hops_is_read_and_bounded() -> None:
    assert load_settings({}).trusted_proxy_hops == 0
    assert load_settings({"TRUSTED_PROXY_HOPS": "2"}).trusted_proxy_hops == 2
    for bad, message in (
        ("one", "TRUSTED_PROXY_HOPS must be an integer, not 'one'"),
        ("6", "TRUSTED_PROXY_HOPS must be between 0 and 5, not 6"),
        ("-1", "TRUSTED_PROXY_HOPS must be between 0 and 5, not -1"),
    ):
        with pytest.raises(ConfigError) as caught:
            load_settings({"TRUSTED_PROXY_HOPS": bad})
        assert str(caught.value) == message


def test_without_trusted_hops_x_forwarded_for_is_ignored(env: Env) -> None:
    client = _limited(env.app).test_client()
    # Each request claims another shopper; all come from the balancer's address, which is all that counts.
    codes = [env.signup(client, f"u{i}@example.com", **{"X-Forwarded-For": f"203.0.113.{i}"}) for i in range(3)]
    assert codes == [202, 202, 429]
    emails, ips = env.rows()
    assert emails == ["u0@example.com", "u1@example.com"]
    assert ips == [hash_ip(SECRET, LB)] * 2
    # Nor is the scheme believed: over plain http there is no HSTS, whatever the header says.
    page = client.get("/admin/login", headers={"X-Forwarded-Proto": "https"})
    assert "Strict-Transport-Security" not in page.headers


def test_with_a_trusted_hop_limits_count_each_shopper(env: Env, make_app: AppFactory) -> None:
    client = _limited(make_app(trusted_proxy_hops=1)).test_client()
    # Three shoppers behind the same balancer: each has a bucket of its own.
    codes = [env.signup(client, f"u{i}@example.com", **{"X-Forwarded-For": f"203.0.113.{i}"}) for i in range(3)]
    assert codes == [202, 202, 202]
    # One shopper's third signup is refused; what it writes left of the balancer's entry changes nothing.
    assert env.signup(client, "again@example.com", **{"X-Forwarded-For": "203.0.113.1"}) == 202
    spoofed = {"X-Forwarded-For": "198.51.100.77, 203.0.113.1"}
    assert env.signup(client, "spoof@example.com", **spoofed) == 429
    emails, ips = env.rows()
    assert emails == ["u0@example.com", "u1@example.com", "u2@example.com", "again@example.com"]
    assert ips == [hash_ip(SECRET, ip) for ip in ("203.0.113.0", "203.0.113.1", "203.0.113.2", "203.0.113.1")]
    # The balancer's X-Forwarded-Proto is believed too: https is HSTS.
    page = client.get("/admin/login", headers={"X-Forwarded-Proto": "https"})
    assert page.headers["Strict-Transport-Security"] == "max-age=31536000"


# --- limits without Redis -------------------------------------------------------------------------------------------


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_an_unreachable_redis_falls_back_to_counting_in_the_process(
    env: Env, make_app: AppFactory, caplog: pytest.LogCaptureFixture
) -> None:
    app = _limited(make_app(redis_url=f"redis://127.0.0.1:{_closed_port()}/0"))
    client = app.test_client()
    with caplog.at_level(logging.WARNING, logger="app.web.limits"):
        codes = [env.signup(client, f"u{i}@example.com") for i in range(4)]
    assert codes == [202, 202, 429, 429]
    assert env.rows()[0] == ["u0@example.com", "u1@example.com"]
    # Logged once for the outage, not once per request.
    warnings = [r.getMessage() for r in caplog.records if r.name == "app.web.limits"]
    assert warnings == [
        "rate limit storage unavailable (ConnectionError on SIGNUP_IP_LIMIT): counting in this process until it "
        "answers again"
    ]
    # The per-email limit falls back the same way: never off.
    app.config["BACKSOON_SIGNUP_IP_LIMIT"] = "100/minute"
    app.config["BACKSOON_SIGNUP_EMAIL_LIMIT"] = "1/hour"
    assert [env.signup(client, "same@example.com") for _ in range(2)] == [202, 429]


# --- security headers -----------------------------------------------------------------------------------------------


def _security(resp: Any) -> dict[str, str]:
    return {name: resp.headers[name] for name in SECURITY_HEADERS if name in resp.headers}


def test_every_page_is_unframeable_nosniff_and_keeps_its_referrer(env: Env) -> None:
    client = env.app.test_client()
    for path, status in (
        ("/admin/login", 200),
        (f"/storefront/v1/stores/{env.store_id}/variants/sold", 200),
        ("/u/not-a-token", 404),
        ("/no-such-page", 404),
        ("/openapi.json", 200),
        ("/static/admin.js", 200),
    ):
        resp = client.get(path)
        assert (resp.status_code, _security(resp)) == (status, NOT_FRAMED), path


def test_hsts_once_served_over_https(env: Env, make_app: AppFactory) -> None:
    https_app = make_app(app_url="https://backsoon.example").test_client()
    for path in ("/admin/login", f"/storefront/v1/stores/{env.store_id}/variants/sold"):
        assert _security(https_app.get(path)) == {**NOT_FRAMED, "Strict-Transport-Security": "max-age=31536000"}
    # An http APP_URL, but this request came over TLS.
    secure = env.app.test_client().get("/admin/login", base_url="https://localhost")
    assert secure.headers["Strict-Transport-Security"] == "max-age=31536000"


# --- JSON bodies ----------------------------------------------------------------------------------------------------


def test_too_deep_counts_levels_without_recursing() -> None:
    nested: Any = "leaf"
    for _ in range(MAX_JSON_DEPTH):
        nested = [nested]
    assert too_deep(nested, MAX_JSON_DEPTH) is False
    assert too_deep({"a": nested}, MAX_JSON_DEPTH) is True
    assert too_deep([[1], {"b": [2]}], 2) is True and too_deep([[1], {"b": 2}], 2) is False


def test_a_signup_body_nested_too_deeply_is_a_400_and_stores_nothing(env: Env) -> None:
    client = env.app.test_client()
    nested = b'{"email": "deep@example.com", "variant_id": "sold", "x": ' + b"[" * 40 + b"]" * 40 + b"}"
    for raw in (DEEP, nested, b'{"email": '):
        resp = client.post(env.url, data=raw, content_type="application/json")
        assert (resp.status_code, resp.get_json()) == (
            400,
            {"error": {"code": "invalid_request", "message": "The body is not valid JSON."}},
        )
    assert env.rows() == ([], []) and env.jobs.specs == []


def _chunked(client: FlaskClient, path: str, raw: bytes, **headers: str) -> Any:
    # No Content-Length: the body arrives in chunks and is cut off once it passes the limit.
    return client.post(
        path,
        input_stream=io.BytesIO(raw),
        content_type="application/json",
        headers=headers,
        environ_overrides={"wsgi.input_terminated": True},
    )


def test_an_oversized_chunked_body_is_a_413_everywhere(env: Env) -> None:
    client = env.app.test_client()
    big = b'{"email": "' + b"a" * (1024 * 1024) + b'"}'
    auth = {"Authorization": f"Bearer {API_KEY}"}
    for path, headers in (
        (env.url, {}),
        (f"/api/v1/stores/{env.store_id}/privacy/export", auth),
        ("/woocommerce/callback", {}),
    ):
        resp = _chunked(client, path, big, **headers)
        assert resp.status_code == 413, path
        assert resp.get_json()["error"]["code"] == "request_entity_too_large", path
    assert env.rows() == ([], []) and env.jobs.specs == []
    with env.db.session() as s:
        assert s.scalar(select(func.count()).select_from(ComplianceRequest)) == 0


def test_the_privacy_api_and_the_wc_auth_callback_refuse_deep_json_with_a_400(env: Env) -> None:
    client = env.app.test_client()
    auth = {"Authorization": f"Bearer {API_KEY}"}
    for path in ("export", "erase"):
        resp = client.post(
            f"/api/v1/stores/{env.store_id}/privacy/{path}", data=DEEP, content_type="application/json", headers=auth
        )
        assert (resp.status_code, resp.get_json()) == (
            400,
            {"error": {"code": "invalid_body", "message": 'Send a JSON object: {"email": "..."}.'}},
        )
    resp = client.post("/woocommerce/callback", data=DEEP, content_type="application/json")
    assert resp.status_code == 400 and resp.get_json()["error"]["code"] == "invalid_user_id"
    with env.db.session() as s:
        assert s.scalar(select(func.count()).select_from(ComplianceRequest)) == 0


@pytest.mark.truncating("the webhook front stores deliveries on its autocommit engine's own connections")
def test_a_signed_webhook_nested_too_deeply_is_received_not_a_500(db: Database, make_app: AppFactory) -> None:
    secret = "shpss_hardening"
    app = make_app(shopify_api_secret=secret, jobs=RecordingQueue())
    with db.session() as s:
        make_store(s, platform="shopify", domain="deep-shop.myshopify.com", name="Deep")
    raw = b'{"id": 1, "variants": ' + DEEP + b"}"
    headers = {
        "X-Shopify-Topic": "products/update",
        "X-Shopify-Shop-Domain": "deep-shop.myshopify.com",
        "X-Shopify-Webhook-Id": "deep-1",
        "X-Shopify-API-Version": "2026-10",
        "X-Shopify-Hmac-Sha256": base64.b64encode(hmac.new(secret.encode(), raw, hashlib.sha256).digest()).decode(),
    }
    resp = app.test_client().post("/webhooks/shopify", data=raw, headers=headers, content_type="application/json")
    assert (resp.status_code, resp.get_json()) == (200, {"received": True, "duplicate": False, "processed": True})
    with db.session() as s:
        assert s.execute(select(WebhookEvent.dedupe_key, WebhookEvent.status)).all() == [("deep-1", "received")]
