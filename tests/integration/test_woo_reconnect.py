"""Reconnecting a WooCommerce store with new keys: the old key's webhooks go, the admin says which key to revoke."""

from __future__ import annotations

import base64
import ipaddress
import json
import socket
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest
import responses
from flask.testing import FlaskClient
from responses import matchers
from sqlalchemy import select

from app import job_specs
from app.config import Settings
from app.db import Database
from app.infra.crypto import cipher_for
from app.models import Store
from app.platforms.woocommerce import connect as woo_connect
from app.platforms.woocommerce import sync as woo_sync
from app.services.merchant import plugin_zip
from integrations.woocommerce.client import WooClient
from jobs import woocommerce as woo_jobs
from tests.conftest import FIXTURES
from tests.factories import RecordingQueue

pytestmark = pytest.mark.integration

LIVE = FIXTURES / "woocommerce" / "live-9.4.3"
REST = FIXTURES / "woocommerce" / "rest"
SETTINGS = Settings(env="test", app_url="https://backsoon.example")
STORE = "https://shop.example.com"
API = f"{STORE}/wp-json/wc/v3"
OLD_KEY = "ck_" + "a1" * 16 + "0123abcd"
NEW_KEY = "ck_" + "c3" * 20
SECRET = "cs_" + "b2" * 20


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
            row = s.scalars(select(Store)).one()
            s.expunge_all()
        return row

    def paste(self, key: str) -> None:
        with self.client.session_transaction() as sess:
            sess["woo_csrf"] = "test-csrf-token"
        products: dict[str, Any] = json.loads((REST / "products-list-orderby-id-page1.json").read_text())
        responses.add(responses.GET, f"{API}/products", json=products["body"][:1])
        resp = self.client.post(
            "/woocommerce/keys",
            data={"url": STORE, "consumer_key": key, "consumer_secret": SECRET, "csrf_token": "test-csrf-token"},
        )
        assert resp.status_code == 303, resp.get_data(as_text=True)


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    """The app URL webhooks deliver to."""
    return {"app_url": SETTINGS.app_url}


@pytest.fixture
def job_queue() -> RecordingQueue:
    """Records the jobs a reconnect queues."""
    return RecordingQueue()


@pytest.fixture
def env(db: Database, client: FlaskClient, job_queue: RecordingQueue, monkeypatch: pytest.MonkeyPatch) -> Iterator[Env]:
    monkeypatch.setattr(woo_connect, "RESOLVER", fake_resolver)
    yield Env(client, db, job_queue)


def live_webhooks() -> list[dict[str, Any]]:
    hooks: list[dict[str, Any]] = json.loads((LIVE / "webhooks-list-status-disabled.json").read_text())
    return hooks


@responses.activate
def test_new_pasted_keys_ask_to_revoke_the_old_one_and_queue_the_webhook_cleanup(env: Env) -> None:
    env.paste(OLD_KEY)
    assert env.store().replaced_key_suffix is None
    env.paste(OLD_KEY)  # the same key again replaces nothing
    assert env.store().replaced_key_suffix is None
    assert not [s for s in env.jobs.specs if s.func == job_specs.WOO_REPLACE_WEBHOOKS]

    env.paste(NEW_KEY)
    store = env.store()
    # WooCommerce lists a key by its last 7 characters ("truncated_key" = substr(consumer_key, -7)).
    assert store.replaced_key_suffix == OLD_KEY[-7:]
    (spec,) = [s for s in env.jobs.specs if s.func == job_specs.WOO_REPLACE_WEBHOOKS]
    assert spec.job_id == f"woo-replace-hooks-{store.id}" and spec.args[0] == store.id
    assert datetime.fromisoformat(spec.args[1]).tzinfo is not None

    page = env.client.get("/admin/").get_data(as_text=True)
    assert f"Revoke the old key ending in …{OLD_KEY[-7:]} in WooCommerce → Settings → Advanced → REST API" in page
    with env.client.session_transaction() as sess:
        token = sess["admin_csrf"]
    assert env.client.post("/admin/replaced-key/dismiss", data={"csrf_token": "wrong"}).status_code == 403
    assert env.store().replaced_key_suffix == OLD_KEY[-7:]
    assert env.client.post("/admin/replaced-key/dismiss", data={"csrf_token": token}).status_code == 302
    assert env.store().replaced_key_suffix is None
    assert "Revoke the old key" not in env.client.get("/admin/").get_data(as_text=True)


@responses.activate
def test_replace_webhooks_deletes_only_ours_made_before_the_new_key_and_creates_fresh_ones() -> None:
    url = "https://backsoon.example/webhooks/woocommerce/1"
    foreign, ours_old = live_webhooks()  # webhook 12 delivers elsewhere; webhook 2 is BackSoon's, disabled
    ours_old = {**ours_old, "delivery_url": url}
    ours_new = {**ours_old, "id": 30, "status": "active", "date_created_gmt": "2026-12-07T10:00:01"}
    responses.add(responses.GET, f"{API}/webhooks", json=[foreign, ours_old, ours_new])
    deleted_body = json.loads((LIVE / "webhook-delete-force.json").read_text())
    delete = responses.add(
        responses.DELETE,
        f"{API}/webhooks/2",
        json={**deleted_body, "id": 2},
        match=[matchers.query_param_matcher({"force": "true"})],
    )
    responses.add(responses.GET, f"{API}/webhooks", json=[foreign, ours_new])
    created = json.loads((LIVE / "webhook-create-product-updated.json").read_text())
    create = responses.add(responses.POST, f"{API}/webhooks", json=created, status=201)
    client = WooClient(STORE, NEW_KEY, SECRET, resolver=fake_resolver)

    counts = woo_sync.replace_webhooks(client, url, "hook-secret", datetime(2026, 12, 7, 10, 0, tzinfo=UTC))

    # Webhook 2 (ours, created 04:24 UTC, before the new key) goes; 12 (not ours) and 30 (newer) stay.
    assert counts == (1, len(woo_sync.WEBHOOK_TOPICS) - 1)
    assert delete.call_count == 1
    assert delete.calls[0].request.headers["Authorization"].startswith("Basic ")
    assert not any(c.request.method == "DELETE" and "/webhooks/12" in (c.request.url or "") for c in responses.calls)
    assert create.call_count == len(woo_sync.WEBHOOK_TOPICS) - 1
    topics = sorted(json.loads(c.request.body or b"{}")["topic"] for c in create.calls)
    assert topics == sorted(t for t in woo_sync.WEBHOOK_TOPICS if t != "product.updated")


@responses.activate
def test_the_plugin_zip_is_served_to_the_signed_in_merchant_only(env: Env) -> None:
    anonymous = env.client.application.test_client()
    assert anonymous.get("/admin/plugin/backsoon-woocommerce.zip").status_code == 302
    env.paste(OLD_KEY)  # pasted keys sign this browser in
    resp = env.client.get("/admin/plugin/backsoon-woocommerce.zip")
    assert resp.status_code == 200
    assert resp.headers["Content-Type"] == "application/zip"
    assert resp.headers["Content-Disposition"] == 'attachment; filename="backsoon-woocommerce.zip"'
    assert resp.data == plugin_zip.build_plugin_zip()
    page = env.client.get("/admin/").get_data(as_text=True)
    assert f"<code data-store-key>{env.store().id}</code>" in page


def test_a_wc_auth_reconnect_of_a_disconnected_store_replaces_the_key_the_same_way(env: Env) -> None:
    with env.db.session() as s:
        old = cipher_for(SETTINGS).encrypt_json({"consumer_key": OLD_KEY, "consumer_secret": SECRET})
        s.add(
            Store(platform="woocommerce", domain=STORE, name="Shop", status="disconnected", credentials_encrypted=old)
        )
    with env.client.session_transaction() as sess:
        sess["woo_csrf"] = "t" * 32
    resp = env.client.post("/woocommerce/connect", data={"url": STORE, "csrf_token": "t" * 32})
    assert resp.status_code == 302
    user_id = dict(parse_qsl(urlsplit(resp.headers["Location"]).query))["user_id"]
    payload = {
        "key_id": 9,
        "user_id": user_id,
        "consumer_key": NEW_KEY,
        "consumer_secret": SECRET,
        "key_permissions": "read_write",
    }
    assert env.client.post("/woocommerce/callback", json=payload).status_code == 200
    store = env.store()
    assert (store.status, store.replaced_key_suffix) == ("active", OLD_KEY[-7:])
    assert [s.job_id for s in env.jobs.specs] == [
        f"woo-replace-hooks-{store.id}",
        "woo-sync-1",
        f"woo-identity-{store.id}",
    ]


@responses.activate
def test_the_replace_webhooks_job_uses_the_new_key(env: Env, monkeypatch: pytest.MonkeyPatch) -> None:
    real_client_for = woo_sync.client_for
    monkeypatch.setattr(
        woo_sync, "client_for", lambda settings, store, **kw: real_client_for(settings, store, resolver=fake_resolver)
    )
    env.paste(OLD_KEY)
    env.paste(NEW_KEY)
    store = env.store()
    (spec,) = [s for s in env.jobs.specs if s.func == job_specs.WOO_REPLACE_WEBHOOKS]
    url = f"https://backsoon.example/webhooks/woocommerce/{store.id}"
    _, ours = live_webhooks()
    responses.add(responses.GET, f"{API}/webhooks", json=[{**ours, "delivery_url": url}])
    delete = responses.add(
        responses.DELETE, f"{API}/webhooks/2", json=ours, match=[matchers.query_param_matcher({"force": "true"})]
    )
    responses.add(responses.GET, f"{API}/webhooks", json=[])
    created = json.loads((LIVE / "webhook-create-product-updated.json").read_text())
    responses.add(responses.POST, f"{API}/webhooks", json=created, status=201)

    assert woo_jobs.replace_webhooks(*spec.args) == {"deleted": 1, "created": len(woo_sync.WEBHOOK_TOPICS)}
    auth = delete.calls[0].request.headers["Authorization"]
    assert base64.b64decode(auth.removeprefix("Basic ")).decode() == f"{NEW_KEY}:{SECRET}"
