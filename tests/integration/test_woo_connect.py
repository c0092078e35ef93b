"""Connecting a WooCommerce store: wc-auth URL and callback, pasted keys with plain errors, CSRF, and the CLI."""

from __future__ import annotations

import ipaddress
import json
import re
import socket
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import click
import pytest
import requests
import responses
from click.testing import CliRunner
from flask.testing import FlaskClient
from sqlalchemy import func, select, update

from app.cli_woo import connect_woocommerce_cmd
from app.config import Settings
from app.db import Database, utcnow
from app.infra.crypto import cipher_for
from app.infra.links import hash_token
from app.models import AdminEmailConfirmation, AdminLoginToken, Store, WooConnectAttempt
from app.platforms.woocommerce import connect as woo_connect
from app.platforms.woocommerce.connect import ConnectError
from tests.conftest import FIXTURES
from tests.factories import RecordingQueue
from tests.woo_live import live

pytestmark = pytest.mark.integration

REST = FIXTURES / "woocommerce" / "rest"
SETTINGS = Settings(env="test", app_url="https://backsoon.example")
STORE = "https://shop.example.com"
PRODUCTS = f"{STORE}/wp-json/wc/v3/products"
KEY = "ck_" + "a1" * 20
SECRET = "cs_" + "b2" * 20
ADDRESSES = {"shop.example.com": "93.184.216.34", "internal.example": "10.0.0.5"}


def rest(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((REST / f"{name}.json").read_text())
    return data


def fake_resolver(host: str, port: int | None, *args: Any, **kwargs: Any) -> list[tuple[Any, ...]]:
    try:
        address = str(ipaddress.ip_address(host))
    except ValueError:
        if host not in ADDRESSES:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known") from None
        address = ADDRESSES[host]
    return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, port or 443))]


@dataclass
class Env:
    client: FlaskClient
    db: Database
    jobs: RecordingQueue

    def stores(self) -> list[Store]:
        with self.db.session() as s:
            rows = list(s.scalars(select(Store).order_by(Store.id)))
            s.expunge_all()
        return rows

    def csrf(self) -> str:
        with self.client.session_transaction() as sess:
            sess["woo_csrf"] = "test-csrf-token"
        return "test-csrf-token"


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    """The app URL the connect flow sends WooCommerce back to."""
    return {"app_url": SETTINGS.app_url}


@pytest.fixture
def job_queue() -> RecordingQueue:
    """Records the first sync a connection queues."""
    return RecordingQueue()


@pytest.fixture
def env(db: Database, client: FlaskClient, job_queue: RecordingQueue, monkeypatch: pytest.MonkeyPatch) -> Iterator[Env]:
    monkeypatch.setattr(woo_connect, "RESOLVER", fake_resolver)
    yield Env(client, db, job_queue)


@dataclass(frozen=True)
class Attempt:
    store_id: int
    user_id: str  # the raw attempt id wc-auth echoes back


def site_index(timezone: str = "Europe/Amsterdam", offset: float = 1) -> bytes:
    """The public site index as WordPress answers ``_fields=timezone_string,gmt_offset`` (the live store's values)."""
    captured = json.loads(live("site-index")[2])
    assert (captured["timezone_string"], captured["gmt_offset"]) == ("Europe/Amsterdam", 1)
    return json.dumps({"gmt_offset": offset, "timezone_string": timezone}).encode()


def start(env: Env, url: str = STORE, client: FlaskClient | None = None) -> Attempt:
    browser = client or env.client
    with browser.session_transaction() as sess:
        sess["woo_csrf"] = "test-csrf-token"
    # Before redirecting, BackSoon reads the store's public site index (a store with a timezone is asked nothing).
    with responses.RequestsMock(assert_all_requests_are_fired=False) as store:
        store.add(responses.GET, f"{url.rstrip('/')}/wp-json/", body=site_index(), content_type="application/json")
        resp = browser.post("/woocommerce/connect", data={"url": url, "csrf_token": "test-csrf-token"})
    assert resp.status_code == 302, resp.get_data(as_text=True)
    query = dict(parse_qsl(urlsplit(resp.headers["Location"]).query))
    store_id = int(dict(parse_qsl(urlsplit(query["return_url"]).query))["store"])
    return Attempt(store_id, query["user_id"])


def callback_payload(attempt: Attempt | str, **override: Any) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "key_id": 7,
        "user_id": attempt.user_id if isinstance(attempt, Attempt) else attempt,
        "consumer_key": KEY,
        "consumer_secret": SECRET,
        "key_permissions": "read_write",
    }
    payload.update(override)
    return {k: v for k, v in payload.items() if v is not None}


def signed_in_store(browser: FlaskClient) -> object:
    with browser.session_transaction() as sess:
        return sess.get("admin_store_id")


def attempts(env: Env) -> list[WooConnectAttempt]:
    with env.db.session() as s:
        rows = list(s.scalars(select(WooConnectAttempt).order_by(WooConnectAttempt.id)))
        s.expunge_all()
    return rows


def login_rows(env: Env) -> int:
    with env.db.session() as s:
        return int(s.scalar(select(func.count()).select_from(AdminLoginToken)) or 0)


# --- URLs --------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("https://Shop.Example.com/", "https://shop.example.com"),
        ("  https://shop.example.com:443  ", "https://shop.example.com"),
        ("http://shop.example.com:8080/wp/", "http://shop.example.com:8080/wp"),
        ("https://shop.example.com/blog/store", "https://shop.example.com/blog/store"),
    ],
)
def test_normalise_store_url(raw: str, expected: str) -> None:
    assert woo_connect.normalise_store_url(raw) == expected


@pytest.mark.parametrize(
    "raw",
    [
        "shop.example.com",
        "ftp://shop.example.com",
        "https://shop.example.com/?p=1",
        "https://shop.example.com/wp-admin/",
    ],
)
def test_normalise_store_url_refuses(raw: str) -> None:
    with pytest.raises(ConnectError) as info:
        woo_connect.normalise_store_url(raw)
    assert info.value.code == "invalid_url" and info.value.field == "url"


def test_authorize_url_is_exact() -> None:
    url = woo_connect.authorize_url("https://shop.example.com/wp/", 42, "A" * 43, "https://backsoon.example/")
    assert url == (
        "https://shop.example.com/wp/wc-auth/v1/authorize?app_name=BackSoon&scope=read_write&user_id=" + "A" * 43 + ""
        "&return_url=https%3A%2F%2Fbacksoon.example%2Fwoocommerce%2Fconnected%3Fstore%3D42"
        "&callback_url=https%3A%2F%2Fbacksoon.example%2Fwoocommerce%2Fcallback"
    )


def test_callback_must_be_https(env: Env) -> None:
    with pytest.raises(ConnectError) as info:
        woo_connect.authorize_url(STORE, 1, "A" * 43, "http://backsoon.example")
    assert info.value.code == "callback_not_https"
    assert "https" in info.value.message
    plain = Settings(env="test", app_url="http://127.0.0.1:5000")
    with env.db.session() as s, pytest.raises(ConnectError):
        woo_connect.start_connection(s, plain, STORE)
    assert env.stores() == []
    assert attempts(env) == []


# --- wc-auth -----------------------------------------------------------------------------------------------------


def test_connect_redirects_to_wc_auth_with_a_pending_store_and_a_hashed_attempt(env: Env) -> None:
    page = env.client.get("/woocommerce/connect")
    assert page.status_code == 200 and 'name="csrf_token"' in page.get_data(as_text=True)
    attempt = start(env)
    (store,) = env.stores()
    assert (store.id, store.platform, store.domain, store.status) == (attempt.store_id, "woocommerce", STORE, "pending")
    assert store.credentials_encrypted is None
    assert store.webhook_secret_encrypted is not None
    assert len(cipher_for(SETTINGS).decrypt(store.webhook_secret_encrypted)) >= 32
    (row,) = attempts(env)
    # Only the hash is stored; the raw id is wc-auth's user_id and sits in this browser's signed cookie.
    assert (row.store_id, row.token_hash) == (store.id, hash_token(attempt.user_id))
    assert len(attempt.user_id) == 43 and attempt.user_id != str(store.id)
    assert (row.invalidated_at, row.keys_bound_at, row.signed_in_at) == (None, None, None)
    with env.client.session_transaction() as sess:
        assert sess["woo_attempt"] == {"store": store.id, "attempt": attempt.user_id}


def test_callback_stores_keys_and_the_starting_browser_is_signed_in_once(env: Env) -> None:
    attempt = start(env)
    resp = env.client.post(
        "/woocommerce/callback",
        data=json.dumps(callback_payload(attempt)),
        headers={"Content-Type": "application/json;charset=UTF-8"},
    )
    assert resp.status_code == 200
    (store,) = env.stores()
    assert store.status == "active" and store.scopes == "read_write"
    raw = store.credentials_encrypted
    assert raw is not None and KEY.encode() not in raw and SECRET.encode() not in raw
    assert cipher_for(SETTINGS).decrypt_json(raw) == {"consumer_key": KEY, "consumer_secret": SECRET, "key_id": "7"}
    # The store's settings are read by a job after the commit: WooCommerce is waiting on this answer.
    assert [spec.job_id for spec in env.jobs.specs] == ["woo-sync-1", "woo-identity-1"]
    # The same delivery again (a proxy retry) is still a 200 and changes nothing.
    again = env.client.post("/woocommerce/callback", json=callback_payload(attempt))
    assert again.status_code == 200
    assert [spec.job_id for spec in env.jobs.specs] == ["woo-sync-1", "woo-identity-1"]
    (row,) = attempts(env)
    assert (row.key_id, row.consumer_key_hash, row.signed_in_at) == ("7", hash_token(KEY), None)
    assert row.keys_bound_at is not None

    page = env.client.get(f"/woocommerce/connected?store={store.id}&success=1&user_id={attempt.user_id}")
    html = page.get_data(as_text=True)
    assert "Connected, syncing" in html and "data-signed-in" in html
    assert signed_in_store(env.client) == store.id
    assert attempts(env)[0].signed_in_at is not None
    # The next step: the plugin, with the store key it needs and where to download it.
    assert 'data-next-step="woocommerce"' in html
    assert f"<code data-store-key>{store.id}</code>" in html
    assert "<code data-backend-url>https://backsoon.example</code>" in html
    assert 'href="/admin/plugin/backsoon-woocommerce.zip"' in html
    assert login_rows(env) == 0


def test_a_second_browser_that_started_earlier_is_not_signed_in(env: Env) -> None:
    intruder = build_client(env)
    theirs = start(env, client=intruder)
    mine = start(env)  # the real merchant starts later: the intruder's attempt is worthless from now on
    assert theirs.store_id == mine.store_id and theirs.user_id != mine.user_id
    first, second = attempts(env)
    assert first.invalidated_at is not None and second.invalidated_at is None
    assert env.client.post("/woocommerce/callback", json=callback_payload(mine)).status_code == 200

    page = intruder.get(f"/woocommerce/connected?store={mine.store_id}&success=1&user_id={mine.user_id}")
    assert page.status_code == 200 and "data-signed-in" not in page.get_data(as_text=True)
    assert "data-store-key" not in page.get_data(as_text=True)
    assert signed_in_store(intruder) is None
    assert intruder.get("/admin/").status_code == 302  # to the sign-in page
    assert login_rows(env) == 0
    assert [a.signed_in_at for a in attempts(env)] == [None, None]

    env.client.get(f"/woocommerce/connected?store={mine.store_id}&success=1&user_id={mine.user_id}")
    assert signed_in_store(env.client) == mine.store_id


def test_a_second_browser_that_started_later_supersedes_the_older_attempt(env: Env) -> None:
    mine = start(env)
    intruder = build_client(env)
    theirs = start(env, client=intruder)
    # The merchant approves the older attempt: refused, so WooCommerce deletes that key; nothing is stored.
    resp = env.client.post("/woocommerce/callback", json=callback_payload(mine))
    assert resp.status_code == 409
    assert resp.get_json()["error"]["code"] == "attempt_superseded"
    (store,) = env.stores()
    assert (store.status, store.credentials_encrypted) == ("pending", None)
    assert env.jobs.specs == []
    assert [a.keys_bound_at for a in attempts(env)] == [None, None]
    for browser, attempt in ((env.client, mine), (intruder, theirs)):
        browser.get(f"/woocommerce/connected?store={store.id}&success=1&user_id={attempt.user_id}")
        assert signed_in_store(browser) is None
    assert login_rows(env) == 0


def test_replays_are_refused(env: Env) -> None:
    attempt = start(env)
    assert env.client.post("/woocommerce/callback", json=callback_payload(attempt)).status_code == 200
    before = env.stores()[0]
    # Another key for an attempt that already has one: refused, the stored key stays.
    other = callback_payload(attempt, key_id=8, consumer_key="ck_" + "c3" * 20)
    resp = env.client.post("/woocommerce/callback", json=other)
    assert (resp.status_code, resp.get_json()["error"]["code"]) == (409, "attempt_used")
    assert env.stores()[0].credentials_encrypted == before.credentials_encrypted
    assert [spec.job_id for spec in env.jobs.specs] == ["woo-sync-1", "woo-identity-1"]
    # The return URL replayed by another browser signs nobody in.
    stranger = build_client(env)
    stranger.get(f"/woocommerce/connected?store={attempt.store_id}&success=1&user_id={attempt.user_id}")
    assert signed_in_store(stranger) is None
    # The starting browser's cookie works once: a copy of it replayed after the sign-in does not work again.
    env.client.get(f"/woocommerce/connected?store={attempt.store_id}&success=1&user_id={attempt.user_id}")
    assert signed_in_store(env.client) == attempt.store_id
    copy = build_client(env)
    with copy.session_transaction() as sess:
        sess["woo_stores"] = [attempt.store_id]
        sess["woo_attempt"] = {"store": attempt.store_id, "attempt": attempt.user_id}
    copy.get(f"/woocommerce/connected?store={attempt.store_id}&success=1&user_id={attempt.user_id}")
    assert signed_in_store(copy) is None
    assert login_rows(env) == 0


@pytest.mark.parametrize(
    ("override", "code"),
    [
        ({"user_id": "Z" * 43}, "unknown_attempt"),
        ({"consumer_secret": None}, "missing_field"),
        ({"consumer_key": None}, "missing_field"),
        ({"key_id": None}, "missing_field"),
        ({"key_permissions": "read"}, "wrong_permissions"),
        ({"consumer_key": "ck_short"}, "invalid_field"),
    ],
)
def test_callback_refuses_bad_payloads_and_stores_nothing(env: Env, override: dict[str, Any], code: str) -> None:
    attempt = start(env)
    before = env.stores()
    resp = env.client.post("/woocommerce/callback", json=callback_payload(attempt, **override))
    assert resp.status_code == (404 if code == "unknown_attempt" else 400)
    assert resp.get_json()["error"]["code"] == code
    (store,) = env.stores()
    assert (store.status, store.credentials_encrypted, store.updated_at) == (
        "pending",
        None,
        before[0].updated_at,
    )
    assert [a.keys_bound_at for a in attempts(env)] == [None]
    assert env.jobs.specs == []


@pytest.mark.parametrize(
    "body", [b"not json", b"[1, 2]", b'{"user_id": "abc"}', b"{}", b'{"user_id": 1}', b'{"user_id": "1"}']
)
def test_callback_refuses_non_object_bodies_and_store_ids(env: Env, body: bytes) -> None:
    start(env)
    resp = env.client.post("/woocommerce/callback", data=body, headers={"Content-Type": "application/json"})
    assert resp.status_code == 400 and resp.get_json()["error"]["code"] == "invalid_user_id"
    assert env.stores()[0].credentials_encrypted is None


def test_an_expired_attempt_is_refused(env: Env) -> None:
    attempt = start(env)
    with env.db.session() as s:
        s.execute(update(WooConnectAttempt).values(created_at=utcnow() - woo_connect.PENDING_MAX_AGE * 2))
    resp = env.client.post("/woocommerce/callback", json=callback_payload(attempt))
    assert (resp.status_code, resp.get_json()["error"]["code"]) == (400, "expired")
    assert env.stores()[0].credentials_encrypted is None and env.jobs.specs == []


def test_declined_and_foreign_return_pages(env: Env) -> None:
    attempt = start(env)
    declined = env.client.get(f"/woocommerce/connected?store={attempt.store_id}&success=0&user_id={attempt.user_id}")
    assert 'data-state="declined"' in declined.get_data(as_text=True)
    assert signed_in_store(env.client) is None
    other = build_client(env)
    page = other.get(f"/woocommerce/connected?store={attempt.store_id}&success=1")
    assert 'data-state="unknown"' in page.get_data(as_text=True) and STORE not in page.get_data(as_text=True)


def build_client(env: Env) -> FlaskClient:
    return env.client.application.test_client()


# --- CSRF --------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "data"),
    [
        ("/woocommerce/connect", {"url": STORE}),
        ("/woocommerce/keys", {"url": STORE, "consumer_key": KEY, "consumer_secret": SECRET}),
    ],
)
def test_forms_without_csrf_token_are_400(env: Env, path: str, data: dict[str, str]) -> None:
    env.csrf()
    resp = env.client.post(path, data=data)
    assert resp.status_code == 400
    assert "form expired" in resp.get_data(as_text=True)
    resp = env.client.post(path, data={**data, "csrf_token": "wrong"})
    assert resp.status_code == 400
    assert env.stores() == []


# --- pasted keys -------------------------------------------------------------------------------------------------


@responses.activate
def test_pasted_keys_are_checked_then_stored(env: Env) -> None:
    fixture = rest("products-list-orderby-id-page1")
    responses.add(responses.GET, PRODUCTS, json=fixture["body"][:1], headers={"X-WP-TotalPages": "5"})
    resp = env.client.post(
        "/woocommerce/keys",
        data={"url": STORE + "/", "consumer_key": KEY, "consumer_secret": SECRET, "csrf_token": env.csrf()},
    )
    assert resp.status_code == 303, resp.get_data(as_text=True)
    call, *identity = responses.calls
    assert call.request.url == PRODUCTS + "?per_page=1"
    assert call.request.headers["Authorization"].startswith("Basic ")
    # Then the store's own settings (not served here, so each fails alone and the connect goes on; see
    # test_woo_identity for what they give).
    assert [urlsplit(c.request.url or "").path for c in identity] == [
        "/wp-json/",
        "/wp-json/wc/v3/settings/general",
        "/wp-json/wc/v3/customers",
        "/wp-json/wc/v3/settings/email",
        "/wp-json/wc/v3/system_status",
    ]
    (store,) = env.stores()
    assert store.status == "active" and store.domain == STORE
    assert store.credentials_encrypted is not None and SECRET.encode() not in store.credentials_encrypted
    assert cipher_for(SETTINGS).decrypt_json(store.credentials_encrypted) == {
        "consumer_key": KEY,
        "consumer_secret": SECRET,
    }
    assert store.webhook_secret_encrypted is not None
    page = env.client.get(resp.headers["Location"])
    assert "Connected, syncing" in page.get_data(as_text=True)


@responses.activate
def test_pasted_keys_sign_the_browser_in_to_the_admin_with_its_email(env: Env) -> None:
    fixture = rest("products-list-orderby-id-page1")
    responses.add(responses.GET, PRODUCTS, json=fixture["body"][:1], headers={"X-WP-TotalPages": "5"})
    assert env.client.get("/admin/").status_code == 302  # not signed in before
    resp = env.client.post(
        "/woocommerce/keys",
        data={
            "url": STORE,
            "consumer_key": KEY,
            "consumer_secret": SECRET,
            "admin_email": " Owner@MyShop.Example.com ",
            "csrf_token": env.csrf(),
        },
    )
    assert resp.status_code == 303
    (store,) = env.stores()
    # A typed address receives sign-in links only once the link sent to it is clicked (test_admin_email_confirm).
    assert (store.admin_email, store.identity_overrides) == (None, None)
    with env.db.session() as s:
        pending = s.scalars(select(AdminEmailConfirmation)).all()
        assert [(p.store_id, p.email, p.confirmed_at) for p in pending] == [
            (store.id, "owner@myshop.example.com", None)
        ]
    page = env.client.get(resp.headers["Location"]).get_data(as_text=True)
    assert "Open your BackSoon admin" in page
    assert 'data-pending-email="owner@myshop.example.com"' in page
    admin = env.client.get("/admin/")
    assert admin.status_code == 200 and store.domain.split("//")[1] in admin.get_data(as_text=True)


@responses.activate
def test_an_invalid_admin_email_stores_nothing_and_calls_nobody(env: Env) -> None:
    resp = env.client.post(
        "/woocommerce/keys",
        data={
            "url": STORE,
            "consumer_key": KEY,
            "consumer_secret": SECRET,
            "admin_email": "owner@\r\nBcc: x@evil.example",
            "csrf_token": env.csrf(),
        },
    )
    assert resp.status_code == 400
    assert 'id="keys-admin_email-error"' in resp.get_data(as_text=True)
    assert env.stores() == [] and len(responses.calls) == 0
    assert env.client.get("/admin/").status_code == 302


def _html_404() -> None:
    responses.add(responses.GET, PRODUCTS, body="<!doctype html><title>Page not found</title>", status=404)


def _no_route() -> None:
    body = {"code": "rest_no_route", "message": "No route was found.", "data": {"status": 404}}
    responses.add(responses.GET, PRODUCTS, json=body, status=404)


def _bad_signature() -> None:
    fixture = rest("error-401-bad-signature")
    responses.add(responses.GET, PRODUCTS, json=fixture["body"], status=fixture["status"])


def _refused() -> None:
    responses.add(responses.GET, PRODUCTS, body=requests.ConnectionError("Connection refused"))


def _html_200() -> None:
    responses.add(responses.GET, PRODUCTS, body="<html>a cache plugin</html>", content_type="text/html")


@pytest.mark.parametrize(
    ("url", "mock", "field", "code", "text"),
    [
        (STORE, _bad_signature, "key", "wrong_keys", "rejected these keys"),
        (STORE, _no_route, "url", "no_rest_route", "WooCommerce plugin is installed and active"),
        (STORE, _html_404, "url", "plain_permalinks", "Settings → Permalinks"),
        (STORE, _html_200, "url", "plain_permalinks", "Settings → Permalinks"),
        (STORE, _refused, "url", "unreachable", "could not connect to shop.example.com"),
        ("http://internal.example", None, "url", "private_address", "private or local network address"),
        ("https://10.0.0.5", None, "url", "private_address", "private or local network address"),
        ("https://nowhere.example", None, "url", "host_not_found", "does not exist"),
    ],
)
@responses.activate
def test_pasted_key_failures_explain_themselves_and_store_nothing(
    env: Env, url: str, mock: Any, field: str, code: str, text: str
) -> None:
    if mock is not None:
        mock()
    with env.db.session() as s, pytest.raises(ConnectError) as info:
        woo_connect.connect_with_keys(s, SETTINGS, url, KEY, SECRET)
    assert (info.value.code, info.value.field) == (code, field)
    resp = env.client.post(
        "/woocommerce/keys", data={"url": url, "consumer_key": KEY, "consumer_secret": SECRET, "csrf_token": env.csrf()}
    )
    assert resp.status_code == 400
    html = resp.get_data(as_text=True)
    assert f'id="keys-{field}-error"' in html and text in html
    assert SECRET not in html
    assert env.stores() == []


def test_http_store_is_allowed_with_a_warning() -> None:
    assert woo_connect.http_warning("https://shop.example.com") is None
    warning = woo_connect.http_warning("http://shop.example.com")
    assert warning is not None and "unencrypted" in warning


# --- CLI ---------------------------------------------------------------------------------------------------------


def _cli() -> click.Group:
    @click.group()
    def group() -> None:
        """Test group."""

    group.add_command(connect_woocommerce_cmd)
    return group


@responses.activate
def test_cli_connects_with_a_prompted_secret(env: Env) -> None:
    responses.add(responses.GET, PRODUCTS, json=rest("products-list-orderby-id-page1")["body"])
    result = CliRunner().invoke(_cli(), ["connect-woocommerce", "--url", STORE, "--key", KEY], input=SECRET + "\n")
    assert result.exit_code == 0, result.output
    (store,) = env.stores()
    assert result.stdout.strip().splitlines()[-1] == str(store.id)
    assert SECRET not in result.output
    assert store.status == "active" and store.credentials_encrypted is not None
    assert [spec.job_id for spec in env.jobs.specs] == [f"woo-sync-{1}"]


@responses.activate
def test_cli_reports_wrong_keys_plainly(env: Env) -> None:
    _bad_signature()
    result = CliRunner().invoke(
        _cli(), ["connect-woocommerce", "--url", STORE, "--key", KEY, "--secret", SECRET, "--no-sync"]
    )
    assert result.exit_code == 1
    assert "rejected these keys" in result.output and "[wrong_keys]" in result.output
    assert env.stores() == []


@responses.activate
def test_a_store_whose_key_was_revoked_tells_its_merchant_in_the_admin(env: Env) -> None:
    fixture = rest("products-list-orderby-id-page1")
    responses.add(responses.GET, PRODUCTS, json=fixture["body"][:1], headers={"X-WP-TotalPages": "5"})
    env.client.post(
        "/woocommerce/keys",
        data={"url": STORE, "consumer_key": KEY, "consumer_secret": SECRET, "csrf_token": env.csrf()},
    )
    (store,) = env.stores()
    assert 'id="store-disconnected"' not in env.client.get("/admin/").get_data(as_text=True)
    # What woo_sync.disconnect records when WooCommerce answers 401 to our key.
    from app.platforms.woocommerce import sync as woo_sync

    woo_sync.disconnect(env.db, store.id, "access revoked: 401")
    page = env.client.get("/admin/").get_data(as_text=True)
    assert 'id="store-disconnected"' in page
    assert "WooCommerce rejected the API key. Syncing and storefront updates are paused." in page
    assert "Reconnect with a new API key" in page


# --- what the store does not say is asked before the approval --------------------------------------------------


def _post_start(env: Env, data: dict[str, str], index: tuple[int, bytes] | None) -> tuple[Any, list[Any]]:
    env.csrf()
    with responses.RequestsMock(assert_all_requests_are_fired=False) as store:
        if index is not None:
            store.add(
                responses.GET, f"{STORE}/wp-json/", status=index[0], body=index[1], content_type="application/json"
            )
        resp = env.client.post("/woocommerce/connect", data={"url": STORE, "csrf_token": "test-csrf-token", **data})
        return resp, list(store.calls)


def test_a_store_with_a_timezone_is_asked_nothing_and_its_index_is_read_without_the_key(env: Env) -> None:
    resp, calls = _post_start(env, {}, (200, site_index()))
    assert resp.status_code == 302
    (call,) = calls
    query = dict(parse_qsl(urlsplit(call.request.url).query))
    assert query == {"_fields": "timezone_string,gmt_offset"}  # no key, no signature: the index is public
    (store,) = env.stores()
    assert (store.identity_overrides, store.timezone) == (None, "UTC")  # the identity read after connect fills it


def test_a_store_on_a_manual_offset_is_asked_its_timezone_before_the_approval(env: Env) -> None:
    resp, calls = _post_start(env, {}, (200, site_index(timezone="", offset=1)))
    assert resp.status_code == 200 and len(calls) == 1
    page = resp.get_data(as_text=True)
    assert 'id="ask-timezone"' in page
    # UTC+1 all year is Etc/GMT-1 (IANA inverts the sign); the merchant may pick their city instead.
    assert re.search(r'name="timezone"[^>]*\n?\s*value="Etc/GMT-1"', page)
    assert '<option value="Europe/Amsterdam">' in page
    assert env.stores() == [] and attempts(env) == []

    resp, calls = _post_start(env, {"timezone": "Europe/Amsterdam"}, None)
    assert resp.status_code == 302 and calls == []  # answered: the index is not read again
    (store,) = env.stores()
    assert (store.status, store.identity_overrides, store.timezone) == (
        "pending",
        {"timezone": "Europe/Amsterdam"},
        "Europe/Amsterdam",
    )
    assert len(attempts(env)) == 1


@pytest.mark.parametrize(
    ("offset", "prefilled"), [("-5", "Etc/GMT+5"), ("5.5", ""), ("", ""), ("nan", ""), ("inf", "")]
)
def test_an_offset_stored_as_text_is_read_too(env: Env, offset: str, prefilled: str) -> None:
    # A real WordPress 6.5 answered "gmt_offset":"1" for an option saved outside its settings page.
    body = json.dumps({"gmt_offset": offset, "timezone_string": ""}).encode()
    resp, _ = _post_start(env, {}, (200, body))
    assert resp.status_code == 200
    assert re.search(rf'name="timezone"[^>]*\n?\s*value="{re.escape(prefilled)}"', resp.get_data(as_text=True))


def test_a_timezone_that_is_not_one_is_refused_and_nothing_is_stored(env: Env) -> None:
    resp, calls = _post_start(env, {"timezone": "Mars/Olympus"}, None)
    assert resp.status_code == 400 and calls == []
    page = resp.get_data(as_text=True)
    assert "Choose a time zone from the list, for example Europe/Amsterdam." in page
    assert 'value="Mars/Olympus"' in page
    assert env.stores() == [] and attempts(env) == []


@pytest.mark.parametrize(
    "index",
    [
        (500, b"<html>error</html>"),
        (200, b"<!doctype html><p>a security plugin</p>"),
        (404, b'{"code":"rest_no_route"}'),
    ],
)
def test_a_store_whose_index_cannot_be_read_is_asked_nothing(env: Env, index: tuple[int, bytes]) -> None:
    resp, calls = _post_start(env, {}, index)
    assert resp.status_code == 302 and len(calls) == 1
    (store,) = env.stores()
    assert store.identity_overrides is None


@pytest.mark.parametrize(
    ("offset", "zone"),
    [(1, "Etc/GMT-1"), (-5, "Etc/GMT+5"), (0, "Etc/UTC"), (14, "Etc/GMT-14"), (5.5, None), (15, None), (None, None)],
)
def test_offset_zone(offset: float | None, zone: str | None) -> None:
    assert woo_connect.offset_zone(offset) == zone
