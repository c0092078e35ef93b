"""Shopify install and auth over HTTP on real PostgreSQL: app home, bounce page, code grant, session-token auth."""

from __future__ import annotations

import inspect
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import responses
from flask import Flask, jsonify
from flask.testing import FlaskClient
from responses import matchers
from sqlalchemy import func, select, text
from werkzeug.wrappers import Response

from app import job_specs
from app.db import Database
from app.infra.crypto import TokenCipher
from app.models import Store, SyncRun
from app.services.merchant.api_keys import hash_api_key
from app.web import deps
from app.web import shopify as shopify_web
from tests.conftest import AppFactory
from tests.factories import RecordingQueue
from tests.unit.test_shopify_auth import (
    API_KEY,
    API_SECRET,
    EXCHANGE,
    SHOP,
    TOKEN_URL,
    make_session_token,
    signed_query,
)

pytestmark = pytest.mark.integration

KEY = "kDm6Qy7CxHqEo3p2S8R0a5sFz1uW9vNcLbTjYgXhKeI="
HOST = "YWRtaW4uc2hvcGlmeS5jb20vc3RvcmUvYmFja3Nvb24tZGVtbw"  # base64("admin.shopify.com/store/backsoon-demo")
CSP = "frame-ancestors https://backsoon-demo.myshopify.com https://admin.shopify.com"
RETRY = "X-Shopify-Retry-Invalid-Session-Request"
APP_BRIDGE = '<script src="https://cdn.shopify.com/shopifycloud/app-bridge.js"></script>'
API_KEY_META = '<meta name="shopify-api-key" content="client-id-123">'
ALL_SCOPES = "write_products,read_inventory,read_locations,read_orders,write_app_proxy,read_locales"


@dataclass
class Harness:
    app: Flask
    client: FlaskClient
    db: Database
    http: responses.RequestsMock
    jobs: RecordingQueue

    def stores(self) -> int:
        with self.db.session() as s:
            return int(s.scalar(select(func.count()).select_from(Store)) or 0)

    def store(self, shop: str = SHOP) -> Store:
        with self.db.session() as s:
            store = s.execute(select(Store).where(Store.domain == shop)).scalar_one()
            s.expunge(store)
            return store

    def app_home(self, **params: str) -> Any:
        return self.client.get("/shopify/app?" + signed_query({"shop": SHOP, "host": HOST, "embedded": "1", **params}))


@pytest.fixture
def harness(db: Database, make_app: AppFactory) -> Iterator[Harness]:
    # Jobs are only recorded: an install queues the read of the shop's settings, which these tests do not answer.
    jobs = RecordingQueue()
    app = make_app(
        jobs=jobs,
        shopify_api_key=API_KEY,
        shopify_api_secret=API_SECRET,
        shopify_api_secret_old="shpss_previous",
        token_encryption_keys=(KEY,),
        app_url="https://backsoon.example",
    )

    @shopify_web.session_token_required
    def whoami(store: Store) -> Response:
        return jsonify({"store_id": store.id, "shop": store.domain})

    def whoami_helper() -> Response:
        store = shopify_web.require_session_token()
        return jsonify({"store_id": store.id})

    app.add_url_rule("/api/v1/shopify-test/whoami", "test_whoami", whoami)
    app.add_url_rule("/api/v1/shopify-test/helper", "test_helper", whoami_helper)
    with responses.RequestsMock(assert_all_requests_are_fired=False) as http:
        yield Harness(app, app.test_client(), db, http, jobs)


def decrypt(store: Store) -> dict[str, Any]:
    assert store.credentials_encrypted is not None
    return TokenCipher([KEY]).decrypt_json(store.credentials_encrypted)


def first_run(db: Database, store_id: int) -> int:
    """The store's one sync run: the initial one, started by the install."""
    with db.session() as s:
        (run,) = s.scalars(select(SyncRun).where(SyncRun.store_id == store_id)).all()
        assert (run.kind, run.status) == ("initial", "running")
        return run.id


def install_store(h: Harness, *, status: str = "active") -> int:
    with h.db.session() as s:
        store = Store(
            platform="shopify", domain=SHOP, name="Backsoon Demo", status=status, api_key_hash=hash_api_key("k")
        )
        s.add(store)
        s.flush()
        return store.id


# --- app home ------------------------------------------------------------------------------------------------------


def test_signed_app_home_without_id_token_renders_the_bounce_page(harness: Harness) -> None:
    resp = harness.app_home()
    assert resp.status_code == 200
    assert resp.headers["Content-Security-Policy"] == CSP
    assert resp.headers["Cache-Control"] == "no-store"
    page = resp.get_data(as_text=True)
    assert API_KEY_META in page and APP_BRIDGE in page
    assert page.index(API_KEY_META) < page.index(APP_BRIDGE) < page.index("shopify.idToken()")
    # It reloads the app home with only the unsigned parameters plus the fresh token.
    assert (
        'data-reload-url="/shopify/app?shop=backsoon-demo.myshopify.com&amp;'
        'host=YWRtaW4uc2hvcGlmeS5jb20vc3RvcmUvYmFja3Nvb24tZGVtbw&amp;embedded=1"'
    ) in page
    assert "hmac" not in page
    assert harness.stores() == 0 and len(harness.http.calls) == 0


@pytest.mark.truncating("the install commits the tokens on a connection of its own")
def test_signed_app_home_with_id_token_installs_and_renders_the_shell(harness: Harness) -> None:
    id_token = make_session_token()
    harness.http.post(
        TOKEN_URL,
        json={**EXCHANGE, "scope": ALL_SCOPES},
        match=[matchers.json_params_matcher({"subject_token": id_token, "client_id": API_KEY}, strict_match=False)],
    )
    resp = harness.app_home(id_token=id_token, locale="en")
    assert resp.status_code == 302, resp.get_data(as_text=True)
    assert resp.headers["Content-Security-Policy"] == CSP
    # Installed: the merchant admin opens, authenticated by the same session token.
    assert resp.headers["Location"] == (f"/admin/?shop={SHOP}&host={HOST}&embedded=1&id_token={id_token}")
    dashboard = harness.client.get(resp.headers["Location"])
    assert dashboard.status_code == 200
    page = dashboard.get_data(as_text=True)
    assert "backsoon-demo" in page
    assert API_KEY_META in page and APP_BRIDGE in page
    assert dashboard.headers["Content-Security-Policy"] == CSP

    store = harness.store()
    assert (store.platform, store.status, store.scopes) == ("shopify", "active", ALL_SCOPES)
    assert decrypt(store)["access_token"] == "f85632530bf277ec9ac6f649fc327f17"
    with harness.db.engine.connect() as conn:
        raw = bytes(conn.execute(text("SELECT credentials_encrypted FROM stores")).scalar_one())
    assert b"f85632530bf277ec9ac6f649fc327f17" not in raw and b"shprt_" not in raw
    assert len(harness.http.calls) == 1
    # Once committed: the shop's settings are read and its catalog loaded (the first sync).
    assert harness.jobs.specs == [
        job_specs.shopify_read_identity(store.id),
        job_specs.shopify_sync(first_run(harness.db, store.id)),
    ]


def test_unsigned_reload_from_the_bounce_page_is_authenticated_by_the_session_token(harness: Harness) -> None:
    harness.http.post(TOKEN_URL, json=EXCHANGE)
    resp = harness.client.get(f"/shopify/app?shop={SHOP}&host={HOST}&embedded=1&id_token={make_session_token()}")
    assert resp.status_code == 302 and resp.headers["Location"].startswith("/admin/?")
    assert resp.headers["Content-Security-Policy"] == CSP
    assert harness.store().status == "active"


@pytest.mark.parametrize(
    "case",
    ["bad_hmac", "old_secret_ok", "stale", "tampered", "no_auth"],
)
def test_app_home_signature(harness: Harness, case: str) -> None:
    base = {"shop": SHOP, "host": HOST, "embedded": "1"}
    if case == "bad_hmac":
        query = signed_query(base, secret="not-the-secret")
    elif case == "old_secret_ok":
        query = signed_query(base, secret="shpss_previous")  # still valid during a secret rotation
    elif case == "stale":
        query = signed_query(base, timestamp=int(time.time()) - 600)
    elif case == "tampered":
        query = signed_query(base).replace("embedded=1", "embedded=0")
    else:
        query = f"shop={SHOP}&host={HOST}"
    resp = harness.client.get("/shopify/app?" + query)
    if case == "old_secret_ok":
        assert resp.status_code == 200
        return
    assert resp.status_code == 400
    page = resp.get_data(as_text=True)
    assert ("invalid_request" if case == "no_auth" else "invalid_hmac") in page
    assert APP_BRIDGE not in page
    assert harness.stores() == 0 and len(harness.http.calls) == 0


def test_app_home_error_as_json_when_asked(harness: Harness) -> None:
    query = signed_query({"shop": SHOP}, secret="wrong")
    resp = harness.client.get("/shopify/app?" + query, headers={"Accept": "application/json"})
    assert resp.status_code == 400
    assert resp.get_json() == {
        "error": {"code": "invalid_hmac", "message": "This link's signature is invalid or expired; open the app again."}
    }


@pytest.mark.parametrize(
    "shop",
    [
        "evil.example",
        "backsoon-demo.myshopify.com.evil.example",
        "https://backsoon-demo.myshopify.com",
        "backsoon-demo.myshopify.com/admin",
        "-bad.myshopify.com",
        "",
    ],
)
def test_app_home_rejects_bad_shops(harness: Harness, shop: str) -> None:
    resp = harness.client.get("/shopify/app?" + signed_query({"shop": shop, "host": HOST}))
    assert resp.status_code == 400
    assert "invalid_shop" in resp.get_data(as_text=True)
    assert resp.headers["Content-Security-Policy"] == "frame-ancestors 'none'"
    assert harness.stores() == 0


def test_app_home_rejects_a_bad_host(harness: Harness) -> None:
    resp = harness.client.get("/shopify/app?" + signed_query({"shop": SHOP, "host": "not*base64"}))
    assert resp.status_code == 400 and "invalid_host" in resp.get_data(as_text=True)


def test_invalid_id_token_on_a_signed_load_bounces_once(harness: Harness) -> None:
    expired = make_session_token(now=time.time() - 3600)
    resp = harness.app_home(id_token=expired)
    assert resp.status_code == 200 and "shopify.idToken()" in resp.get_data(as_text=True)
    assert harness.stores() == 0 and len(harness.http.calls) == 0


@pytest.mark.parametrize(
    "token_kwargs",
    [{"secret": "forged"}, {"api_key": "another-app"}, None],
    ids=["forged", "other_app", "malformed"],
)
def test_invalid_id_token_after_the_bounce_is_an_error_not_a_loop(
    harness: Harness, token_kwargs: dict[str, str] | None
) -> None:
    if token_kwargs is None:
        token = "not.a.jwt"
    else:
        token = make_session_token(
            secret=token_kwargs.get("secret", API_SECRET), api_key=token_kwargs.get("api_key", API_KEY)
        )
    resp = harness.client.get(f"/shopify/app?shop={SHOP}&id_token={token}")
    assert resp.status_code == 401
    assert "invalid_session_token" in resp.get_data(as_text=True)
    assert harness.stores() == 0 and len(harness.http.calls) == 0


def test_id_token_for_another_shop_is_refused(harness: Harness) -> None:
    resp = harness.app_home(id_token=make_session_token("other-shop.myshopify.com"))
    assert resp.status_code == 400 and "shop_mismatch" in resp.get_data(as_text=True)
    assert harness.stores() == 0


def test_exchange_refusing_the_session_token_bounces(harness: Harness) -> None:
    harness.http.post(TOKEN_URL, json={"error": "invalid_subject_token"}, status=400)
    resp = harness.app_home(id_token=make_session_token())
    assert resp.status_code == 200 and "shopify.idToken()" in resp.get_data(as_text=True)
    assert harness.stores() == 0


def test_shopify_down_during_install_is_a_503_and_stores_nothing(harness: Harness) -> None:
    harness.http.post(TOKEN_URL, json={"errors": "unavailable"}, status=503)
    resp = harness.app_home(id_token=make_session_token())
    assert resp.status_code == 503
    assert resp.headers["Retry-After"] == "30"
    assert resp.headers["Content-Security-Policy"] == CSP
    assert harness.stores() == 0


def test_app_home_without_shopify_settings_is_a_503(client: FlaskClient) -> None:
    resp = client.get(f"/shopify/app?shop={SHOP}")
    assert resp.status_code == 503 and "shopify_not_configured" in resp.get_data(as_text=True)


# --- authorization code grant ------------------------------------------------------------------------------------


def start_install(h: Harness) -> str:
    resp = h.client.get(f"/shopify/install?shop={SHOP}")
    assert resp.status_code == 302
    location = urlsplit(resp.headers["Location"])
    assert (location.scheme, location.netloc, location.path) == ("https", SHOP, "/admin/oauth/authorize")
    query = parse_qs(location.query)
    state = query["state"][0]
    assert query == {
        "client_id": [API_KEY],
        "scope": [ALL_SCOPES],
        "redirect_uri": ["https://backsoon.example/shopify/callback"],
        "state": [state],
    }
    assert len(state) >= 40
    with h.client.session_transaction() as sess:
        assert sess["shopify_oauth"]["state"] == state and sess["shopify_oauth"]["shop"] == SHOP
    return state


def callback(h: Harness, state: str, **overrides: str) -> Any:
    params = {"code": "0907a61c0c8d55e99db179b68161bc00", "shop": SHOP, "host": HOST, "state": state, **overrides}
    return h.client.get("/shopify/callback?" + signed_query(params))


def test_code_grant_installs_the_store(harness: Harness) -> None:
    state = start_install(harness)
    harness.http.post(
        TOKEN_URL,
        json={**EXCHANGE, "scope": ALL_SCOPES},
        match=[
            matchers.json_params_matcher(
                {
                    "client_id": API_KEY,
                    "client_secret": API_SECRET,
                    "code": "0907a61c0c8d55e99db179b68161bc00",
                    "expiring": 1,
                },
                strict_match=True,
            )
        ],
    )
    resp = callback(harness, state)
    assert resp.status_code == 302
    assert resp.headers["Location"] == "https://backsoon-demo.myshopify.com/admin/apps/client-id-123"
    store = harness.store()
    assert store.status == "active"
    assert store.scopes == ALL_SCOPES
    assert decrypt(store)["refresh_token"] == "shprt_xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
    # Once committed: the shop's settings are read and its catalog loaded (the first sync).
    assert harness.jobs.specs == [
        job_specs.shopify_read_identity(store.id),
        job_specs.shopify_sync(first_run(harness.db, store.id)),
    ]
    # The state is single use: replaying the same callback is refused before any call to Shopify.
    assert callback(harness, state).status_code == 403
    assert len(harness.http.calls) == 1


def test_install_checks_a_present_hmac_and_the_shop(harness: Harness) -> None:
    bad = harness.client.get("/shopify/install?" + signed_query({"shop": SHOP}, secret="wrong"))
    assert bad.status_code == 400 and "invalid_hmac" in bad.get_data(as_text=True)
    good = harness.client.get("/shopify/install?" + signed_query({"shop": SHOP}))
    assert good.status_code == 302
    evil = harness.client.get("/shopify/install?shop=backsoon-demo.myshopify.com.evil.example")
    assert evil.status_code == 400 and "invalid_shop" in evil.get_data(as_text=True)
    upper = harness.client.get("/shopify/install?shop=BackSoon-Demo.myshopify.com")
    assert upper.headers["Location"].startswith("https://backsoon-demo.myshopify.com/admin/oauth/authorize?")


@pytest.mark.parametrize(
    ("case", "status", "code"),
    [
        ("wrong_state", 403, "invalid_state"),
        ("no_cookie", 403, "invalid_state"),
        ("other_shop", 403, "invalid_state"),
        ("bad_hmac", 400, "invalid_hmac"),
        ("stale_hmac", 400, "invalid_hmac"),
        ("bad_shop", 400, "invalid_shop"),
        ("no_code", 400, "missing_code"),
    ],
)
def test_callback_refusals_store_nothing(harness: Harness, case: str, status: int, code: str) -> None:
    state = start_install(harness)
    params = {"code": "abc", "shop": SHOP, "state": state}
    if case == "wrong_state":
        query = signed_query({**params, "state": "guessed"})
    elif case == "no_cookie":
        harness.client.delete_cookie("session")
        query = signed_query(params)
    elif case == "other_shop":
        query = signed_query({**params, "shop": "other-shop.myshopify.com"})
    elif case == "bad_hmac":
        query = signed_query(params, secret="wrong")
    elif case == "stale_hmac":
        query = signed_query(params, timestamp=int(time.time()) - 3600)
    elif case == "bad_shop":
        query = signed_query({**params, "shop": "evil.example"})
    else:
        query = signed_query({"shop": SHOP, "state": state})
    resp = harness.client.get("/shopify/callback?" + query, headers={"Accept": "application/json"})
    assert resp.status_code == status
    assert resp.get_json()["error"]["code"] == code
    assert harness.stores() == 0 and len(harness.http.calls) == 0


def test_callback_with_missing_scopes_stores_nothing(harness: Harness) -> None:
    state = start_install(harness)
    harness.http.post(TOKEN_URL, json={**EXCHANGE, "scope": "read_products,read_orders"})
    resp = callback(harness, state)
    assert resp.status_code == 403
    page = resp.get_data(as_text=True)
    assert "missing_scopes" in page
    assert "write_products, read_inventory, read_locations, write_app_proxy, read_locales" in page
    assert harness.stores() == 0 and len(harness.http.calls) == 1
    assert harness.jobs.specs == []  # nothing installed, nothing to read


def test_callback_with_a_rejected_code_stores_nothing(harness: Harness) -> None:
    state = start_install(harness)
    harness.http.post(TOKEN_URL, json={"error": "invalid_grant"}, status=400)
    resp = callback(harness, state)
    assert resp.status_code == 403 and "shopify_refused" in resp.get_data(as_text=True)
    assert harness.stores() == 0


# --- session-token auth for admin JSON endpoints ----------------------------------------------------------------


def test_session_token_auth_returns_the_store(harness: Harness) -> None:
    store_id = install_store(harness)
    headers = {"Authorization": f"Bearer {make_session_token()}"}
    resp = harness.client.get("/api/v1/shopify-test/whoami", headers=headers)
    assert resp.status_code == 200
    assert resp.get_json() == {"store_id": store_id, "shop": SHOP}
    assert RETRY not in resp.headers
    assert harness.client.get("/api/v1/shopify-test/helper", headers=headers).get_json() == {"store_id": store_id}


_ASK = "Send the App Bridge session token as 'Authorization: Bearer <token>'."


@pytest.mark.parametrize(
    ("header", "message"),
    [
        (None, _ASK),
        ("Bearer ", _ASK),
        ("Basic dXNlcjpwYXNz", _ASK),
        ("Bearer not.a.jwt", "The session token is not valid (malformed)."),
        ("Bearer {forged}", "The session token is not valid (bad_signature)."),
        ("Bearer {expired}", "The session token is not valid (expired)."),
        ("Bearer {other_app}", "The session token is not valid (wrong_audience)."),
    ],
)
def test_invalid_session_tokens_get_401_with_the_retry_header(
    harness: Harness, header: str | None, message: str
) -> None:
    install_store(harness)
    headers: dict[str, str] = {}
    if header is not None:
        # Tokens are minted here, not at collection time, so a slow suite cannot expire them first.
        headers["Authorization"] = header.format(
            forged=make_session_token(secret="forged"),
            expired=make_session_token(now=time.time() - 3600),
            other_app=make_session_token(api_key="another-app"),
        )
    resp = harness.client.get("/api/v1/shopify-test/whoami", headers=headers)
    assert resp.status_code == 401
    assert resp.headers[RETRY] == "1"
    assert resp.get_json() == {"error": {"code": "invalid_session_token", "message": message}}


def test_a_token_signed_with_the_old_secret_is_accepted_during_rotation(harness: Harness) -> None:
    install_store(harness)
    headers = {"Authorization": f"Bearer {make_session_token(secret='shpss_previous')}"}
    assert harness.client.get("/api/v1/shopify-test/whoami", headers=headers).status_code == 200


@pytest.mark.parametrize("status", [None, "uninstalled"])
def test_a_valid_token_for_a_shop_not_installed_is_404(harness: Harness, status: str | None) -> None:
    if status is not None:
        install_store(harness, status=status)
    resp = harness.client.get(
        "/api/v1/shopify-test/whoami", headers={"Authorization": f"Bearer {make_session_token()}"}
    )
    assert resp.status_code == 404
    assert RETRY not in resp.headers
    assert resp.get_json()["error"]["code"] == "not_installed"


def test_the_api_key_path_is_unchanged(harness: Harness) -> None:
    store_id = install_store(harness)
    resp = harness.client.get(f"/api/v1/stores/{store_id}", headers={"Authorization": "Bearer k"})
    assert resp.status_code == 200
    assert resp.get_json()["id"] == store_id


def test_store_for_request_and_session_tokens(harness: Harness) -> None:
    store_id = install_store(harness)
    with harness.db.session() as s:
        other = Store(platform="shopify", domain="other-shop.myshopify.com", name="Other")
        s.add(other)
        s.flush()
        other_id = other.id
    token = {"Authorization": f"Bearer {make_session_token()}"}
    own = harness.client.get(f"/api/v1/stores/{store_id}", headers=token)
    cross = harness.client.get(f"/api/v1/stores/{other_id}", headers=token)
    bad = harness.client.get(f"/api/v1/stores/{store_id}", headers={"Authorization": "Bearer a.b.c"})
    assert cross.status_code == 404  # another shop's store is never reachable with this shop's token
    if "require_session_token" not in inspect.getsource(deps.store_for_request):
        # Before the proposed deps.store_for_request change a session token is just an unknown API key.
        assert (own.status_code, bad.status_code) == (404, 404)
        return
    assert own.status_code == 200 and own.get_json()["id"] == store_id
    assert bad.status_code == 401 and bad.headers[RETRY] == "1"
