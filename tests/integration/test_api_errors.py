"""Machine paths answer their errors in JSON: 405 with an exact Allow header, 404 for unknown paths, 400/413 bodies."""

from __future__ import annotations

import re
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from app.db import Database
from app.models import Store
from app.models.waitlist import Subscription
from app.services.merchant.api_keys import hash_api_key
from app.web.factory import JSON_PATHS, JSON_PREFIXES, api_document
from tests.factories import RecordingQueue, make_store, make_variant

pytestmark = pytest.mark.integration

DOCUMENT = api_document().build()
UNDECLARED = ("TRACE", "PUT", "PATCH", "DELETE", "POST", "GET")


@pytest.fixture
def job_queue() -> RecordingQueue:
    """Nothing may be queued by any request here."""
    return RecordingQueue()


def _concrete(path: str) -> str:
    """A URL for a documented path: numbers for ids, plain words for the rest."""
    return re.sub(r"{([^}]+)}", lambda m: "7" if m.group(1).endswith("_id") else "x", path)


def _documented_allow(path: str) -> set[str]:
    methods = {m.upper() for m in DOCUMENT["paths"][path] if m != "parameters"}
    return methods | {"OPTIONS"} | ({"HEAD"} if "GET" in methods else set())


def _allow(resp: Any) -> set[str]:
    return {m.strip() for m in resp.headers.get("Allow", "").split(",") if m.strip()}


def _is_machine(url: str) -> bool:
    return url.startswith(JSON_PREFIXES) or url in JSON_PATHS


@pytest.mark.parametrize("path", sorted(DOCUMENT["paths"]))
def test_every_undeclared_method_is_a_405_with_allow_listing_exactly_the_path_methods(
    client: FlaskClient, job_queue: RecordingQueue, path: str
) -> None:
    url = _concrete(path)
    allowed = _documented_allow(path)
    for method in (m for m in UNDECLARED if m not in allowed):
        resp = client.open(url, method=method)
        assert resp.status_code == 405, (method, url)
        assert _allow(resp) == allowed, (method, url, resp.headers.get("Allow"))
        if _is_machine(url):
            assert resp.mimetype == "application/json", (method, url)
            assert resp.get_json() == {
                "error": {"code": "method_not_allowed", "message": "The method is not allowed for the requested URL."}
            }
    assert job_queue.specs == []


@pytest.mark.parametrize(
    ("url", "allow"),
    [
        ("/api/v1/stores/7", {"GET", "HEAD", "OPTIONS"}),
        ("/api/v1/stores/7/recompute", {"POST", "OPTIONS"}),
        ("/api/v1/stores/7/privacy/erase", {"POST", "OPTIONS"}),
        ("/storefront/v1/stores/7/subscriptions", {"POST", "OPTIONS"}),
        ("/storefront/v1/stores/7/variants/x", {"GET", "HEAD", "OPTIONS"}),
        ("/storefront/proxy/subscribe", {"POST", "OPTIONS"}),
        ("/webhooks/shopify", {"POST", "OPTIONS"}),
        ("/webhooks/woocommerce/7", {"POST", "OPTIONS"}),
        ("/woocommerce/callback", {"POST", "OPTIONS"}),
        ("/healthz", {"GET", "HEAD", "OPTIONS"}),
        ("/openapi.json", {"GET", "HEAD", "OPTIONS"}),
        ("/feeds/x/signals.csv", {"GET", "HEAD", "OPTIONS"}),
    ],
)
def test_trace_names_the_exact_methods(client: FlaskClient, url: str, allow: set[str]) -> None:
    resp = client.open(url, method="TRACE")
    assert (resp.status_code, resp.mimetype, _allow(resp)) == (405, "application/json", allow)
    assert resp.get_json()["error"]["code"] == "method_not_allowed"


UNKNOWN = [
    ("GET", "/api/"),
    ("GET", "/api/v2/stores"),
    ("GET", "/api/v1/stores/7/nothing"),
    ("POST", "/api/v1/nothing"),
    ("DELETE", "/api/v1/stores/7/variants/8/x"),
    ("GET", "/storefront/"),
    ("GET", "/storefront/v1/stores/7/nothing"),
    ("GET", "/storefront/v1/stores/abc/products/p"),
    ("GET", "/storefront/proxy/v1/nothing"),
    ("POST", "/storefront/proxy/nothing"),
    ("GET", "/webhooks/"),
    ("POST", "/webhooks/nothing"),
    ("POST", "/webhooks/woocommerce/abc"),
    ("GET", "/feeds/"),
    ("GET", "/feeds/token/nothing.csv"),
]


@pytest.mark.parametrize(("method", "url"), UNKNOWN)
@pytest.mark.parametrize("accept", ["text/html,application/xhtml+xml,*/*;q=0.8", "*/*"])
def test_unknown_paths_under_every_api_prefix_are_a_json_404(
    client: FlaskClient, job_queue: RecordingQueue, method: str, url: str, accept: str
) -> None:
    resp = client.open(url, method=method, headers={"Accept": accept})
    assert (resp.status_code, resp.mimetype) == (404, "application/json"), (method, url)
    assert resp.get_json() == {
        "error": {
            "code": "not_found",
            "message": "The requested URL was not found on the server. If you entered the URL manually please "
            "check your spelling and try again.",
        }
    }
    assert job_queue.specs == []


def test_unknown_pages_outside_the_api_stay_html(client: FlaskClient) -> None:
    for url in ("/nothing", "/admin/nothing", "/apiary"):
        resp = client.get(url, headers={"Accept": "text/html"})
        assert (resp.status_code, resp.mimetype) == (404, "text/html"), url
    # A page path still answers JSON to a client that asks for JSON.
    resp = client.get("/nothing", headers={"Accept": "application/json"})
    assert (resp.status_code, resp.get_json()["error"]["code"]) == (404, "not_found")


@pytest.fixture
def store(db: Database) -> dict[str, Any]:
    with db.session() as s:
        store = make_store(s, platform="woocommerce", domain="https://acme.example", api_key_hash=hash_api_key("k"))
        make_variant(s, store, qty=0, external_id="v-out")
        s.commit()
        return {"id": store.id}


def _bodies() -> list[tuple[str, bytes]]:
    return [
        ("malformed", b'{"email": "a@example.com", '),
        ("deep", b"[" * 2000 + b"]" * 2000),
        ("not an object", b'["email"]'),
    ]


@pytest.mark.parametrize(("kind", "raw"), _bodies())
def test_bad_json_bodies_are_a_400_json_error_everywhere_and_store_nothing(
    db: Database, client: FlaskClient, job_queue: RecordingQueue, store: dict[str, Any], kind: str, raw: bytes
) -> None:
    auth = {"Authorization": "Bearer k"}
    for url, headers in (
        (f"/storefront/v1/stores/{store['id']}/subscriptions", {}),
        (f"/api/v1/stores/{store['id']}/privacy/export", auth),
        (f"/api/v1/stores/{store['id']}/privacy/erase", auth),
        ("/woocommerce/callback", {}),
    ):
        resp = client.post(url, data=raw, content_type="application/json", headers=headers)
        assert (resp.status_code, resp.mimetype) == (400, "application/json"), (kind, url)
        assert set(resp.get_json()["error"]) >= {"code", "message"}, (kind, url)
    assert job_queue.specs == []
    with db.session() as s:
        assert s.scalar(select(func.count()).select_from(Subscription)) == 0
        assert s.scalar(select(func.count()).select_from(Store)) == 1


def test_a_declared_oversized_body_is_a_413_json_error_before_any_handler(
    app: Flask, job_queue: RecordingQueue, store: dict[str, Any]
) -> None:
    client = app.test_client()
    big = b'{"email": "' + b"a" * (1024 * 1024) + b'"}'
    for url in (
        f"/storefront/v1/stores/{store['id']}/subscriptions",
        f"/api/v1/stores/{store['id']}/privacy/export",
        "/woocommerce/callback",
        "/storefront/proxy/v1/subscriptions",
    ):
        resp = client.post(url, data=big, content_type="application/json")
        assert (resp.status_code, resp.mimetype) == (413, "application/json"), url
        assert resp.get_json()["error"]["code"] == "request_entity_too_large", url
    assert job_queue.specs == []
