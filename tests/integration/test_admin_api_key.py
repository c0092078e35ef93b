"""The merchant creates the store's admin API key in the admin (the plugin's privacy tools use it), shown once."""

from __future__ import annotations

import re

from flask.testing import FlaskClient
from sqlalchemy import select

from app.db import Database
from app.models import Store
from app.services.merchant.api_keys import hash_api_key
from app.web.admin.auth import session_fields
from tests.factories import make_store

_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
_KEY = re.compile(r"<code id=\"api-key\" data-api-key>(bsk_[A-Za-z0-9_-]{43})</code>")


def _signed_in(client: FlaskClient, store_id: int) -> str:
    with client.session_transaction() as sess:
        sess.update(session_fields(store_id, 0))
    html = client.get("/admin/").get_data(as_text=True)
    # A WooCommerce store's next step offers the key for the plugin's privacy tools; replacing one goes through the
    # confirm step (the current key stops working).
    assert ('action="/admin/api-key"' in html and ">Create an API key</button>" in html) or (
        'href="/admin/api-key"' in html and ">Replace the API key…</a>" in html
    )
    match = _CSRF.search(html)
    assert match is not None
    return match.group(1)


def _export(client: FlaskClient, store_id: int, key: str) -> int:
    resp = client.post(
        f"/api/v1/stores/{store_id}/privacy/export",
        json={"email": "maya@example.com"},
        headers={"Authorization": f"Bearer {key}"},
    )
    return resp.status_code


def test_the_key_is_shown_once_stored_as_its_hash_and_replaces_the_previous_one(
    db: Database, client: FlaskClient
) -> None:
    with db.session() as s:
        store_id = make_store(
            s, platform="woocommerce", domain="https://shop.example.com", api_key_hash=hash_api_key("old")
        ).id
    token = _signed_in(client, store_id)
    assert ">Replace the API key…</a>" in client.get("/admin/").get_data(as_text=True)
    step = client.get("/admin/api-key").get_data(as_text=True)
    assert '<h1 id="confirm-heading">Replace the store&#39;s API key?</h1>' in step
    assert "The current key stops working at once" in step and "This cannot be undone." in step

    # Without the confirmation the current key stays.
    refused = client.post("/admin/api-key", data={"csrf_token": token})
    assert refused.status_code == 400 and "bsk_" not in refused.get_data(as_text=True)
    with db.session() as s:
        assert s.execute(select(Store.api_key_hash).where(Store.id == store_id)).scalar_one() == hash_api_key("old")
    assert _export(client, store_id, "old") == 200

    resp = client.post("/admin/api-key", data={"csrf_token": token, "confirm": "yes"})
    assert resp.status_code == 200
    assert resp.headers["Cache-Control"] == "no-store"
    match = _KEY.search(resp.get_data(as_text=True))
    assert match is not None
    key = match.group(1)
    with db.session() as s:
        assert s.execute(select(Store.api_key_hash).where(Store.id == store_id)).scalar_one() == hash_api_key(key)
    assert _export(client, store_id, key) == 200
    assert _export(client, store_id, "old") == 403
    # Shown once: nothing else in the admin prints it again.
    assert key not in client.get("/admin/").get_data(as_text=True)


def test_without_the_csrf_token_no_key_is_issued(db: Database, client: FlaskClient) -> None:
    with db.session() as s:
        store_id = make_store(
            s, platform="woocommerce", domain="https://shop.example.com", api_key_hash=hash_api_key("old")
        ).id
    _signed_in(client, store_id)
    for data in ({}, {"csrf_token": "forged"}):
        resp = client.post("/admin/api-key", data=data)
        assert resp.status_code == 403
        assert "bsk_" not in resp.get_data(as_text=True)
    with db.session() as s:
        assert s.execute(select(Store.api_key_hash).where(Store.id == store_id)).scalar_one() == hash_api_key("old")


def test_signed_out_no_key_is_issued(db: Database, client: FlaskClient) -> None:
    with db.session() as s:
        store_id = make_store(s, platform="woocommerce", api_key_hash=None).id
    resp = client.post("/admin/api-key", data={})
    assert resp.status_code == 302 and resp.headers["Location"].startswith("/admin/login")
    with db.session() as s:
        assert s.execute(select(Store.api_key_hash).where(Store.id == store_id)).scalar_one() is None


def test_the_first_key_needs_no_confirmation(db: Database, client: FlaskClient) -> None:
    with db.session() as s:
        store_id = make_store(s, platform="woocommerce", domain="https://shop.example.com", api_key_hash=None).id
    token = _signed_in(client, store_id)
    assert client.get("/admin/api-key").headers["Location"] == "/admin/#next-step"  # nothing to confirm
    resp = client.post("/admin/api-key", data={"csrf_token": token})
    match = _KEY.search(resp.get_data(as_text=True))
    assert resp.status_code == 200 and match is not None
    with db.session() as s:
        stored = s.execute(select(Store.api_key_hash).where(Store.id == store_id)).scalar_one()
    assert stored == hash_api_key(match.group(1))
