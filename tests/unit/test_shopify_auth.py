"""Shopify token endpoint client: exact request shapes, parsing of the documented responses, typed errors.

HTTP is mocked with `responses` from tests/fixtures/shopify/graphql/token_*.json. The helpers at the bottom
(session tokens, signed queries) are reused by the integration tests.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

import pytest
import requests
import responses
from responses import matchers

from integrations.base import AuthRevoked, InvalidRequest, PlatformError, RateLimited, TransientError
from integrations.shopify.auth import (
    AccessToken,
    InvalidClient,
    InvalidGrant,
    InvalidSubjectToken,
    ShopifyOAuth,
    TokenRejected,
    granted_scopes,
    missing_scopes,
)
from integrations.shopify.verify import decode_session_token, verify_query_hmac
from tests.conftest import FIXTURES

GRAPHQL = FIXTURES / "shopify" / "graphql"
SHOP = "backsoon-demo.myshopify.com"
TOKEN_URL = f"https://{SHOP}/admin/oauth/access_token"
API_KEY = "client-id-123"
API_SECRET = "shpss_test_secret_current"
NOW = datetime(2026, 10, 14, 14, 0, tzinfo=UTC)
SESSION_JWT = "eyJhbGciOiJIUzI1NiJ9.eyJkZXN0IjoiaHR0cHM6Ly9iYWNrc29vbi1kZW1vLm15c2hvcGlmeS5jb20ifQ.c2ln"


def fixture(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((GRAPHQL / name).read_text(encoding="utf-8"))
    return data


EXCHANGE = fixture("token_exchange.offline_expiring.json")
REFRESH = fixture("token_refresh.json")
ONLINE = fixture("token_exchange.online.json")


@pytest.fixture
def client() -> ShopifyOAuth:
    return ShopifyOAuth(API_KEY, API_SECRET, clock=lambda: NOW)


@pytest.fixture
def mocked() -> Any:
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        yield rsps


# --- request shapes and parsing -------------------------------------------------------------------------------


def test_token_exchange_request_shape_and_expiring_offline_response(client: ShopifyOAuth, mocked: Any) -> None:
    mocked.post(
        TOKEN_URL,
        json=EXCHANGE,
        match=[
            matchers.json_params_matcher(
                {
                    "client_id": API_KEY,
                    "client_secret": API_SECRET,
                    "grant_type": "urn:ietf:params:oauth:grant-type:token-exchange",
                    "subject_token": SESSION_JWT,
                    "subject_token_type": "urn:ietf:params:oauth:token-type:id_token",
                    "requested_token_type": "urn:shopify:params:oauth:token-type:offline-access-token",
                    "expiring": 1,
                },
                strict_match=True,
            ),
            matchers.header_matcher({"Content-Type": "application/json", "Accept": "application/json"}),
        ],
    )
    token = client.exchange_session_token(SHOP, SESSION_JWT)
    assert token == AccessToken(
        access_token="f85632530bf277ec9ac6f649fc327f17",
        scope="write_orders,read_customers",
        expires_at=datetime(2026, 10, 14, 15, 0, tzinfo=UTC),  # NOW + 3600 s
        refresh_token="shprt_xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
        refresh_token_expires_at=datetime(2027, 1, 12, 14, 0, tzinfo=UTC),  # NOW + 7,776,000 s (90 days)
    )
    assert token.expiring and token.scopes == frozenset({"write_orders", "read_customers"})
    assert len(mocked.calls) == 1
    assert mocked.calls[0].request.url == TOKEN_URL  # nothing secret in the URL


def test_token_exchange_non_expiring_sends_expiring_0(client: ShopifyOAuth, mocked: Any) -> None:
    body = {"access_token": "shpat_static", "scope": "read_products"}
    mocked.post(TOKEN_URL, json=body, match=[matchers.json_params_matcher({"expiring": 0}, strict_match=False)])
    token = client.exchange_session_token(SHOP, SESSION_JWT, expiring=False)
    assert token == AccessToken("shpat_static", "read_products", None, None, None)
    assert not token.expiring


def test_refresh_request_shape_and_rotated_pair(client: ShopifyOAuth, mocked: Any) -> None:
    mocked.post(
        TOKEN_URL,
        json=REFRESH,
        match=[
            matchers.json_params_matcher(
                {
                    "client_id": API_KEY,
                    "client_secret": API_SECRET,
                    "grant_type": "refresh_token",
                    "refresh_token": "shprt_xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
                },
                strict_match=True,
            )
        ],
    )
    token = client.refresh(SHOP, "shprt_xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx")
    assert token == AccessToken(
        access_token="9b1c47e2d08a4f3c95e61a7b2d4c8f05",
        scope="write_orders,read_customers",
        expires_at=datetime(2026, 10, 14, 15, 0, tzinfo=UTC),
        refresh_token="shprt_7d3f9a1c5e2b8d4f6a0c3e9b1d7f5a2c",  # a NEW refresh token every time
        refresh_token_expires_at=datetime(2027, 1, 12, 14, 0, tzinfo=UTC),
    )


def test_refresh_without_a_new_refresh_token_is_transient(client: ShopifyOAuth, mocked: Any) -> None:
    mocked.post(TOKEN_URL, json={"access_token": "a", "scope": "s", "expires_in": 3600})
    with pytest.raises(TransientError, match="no new refresh_token"):
        client.refresh(SHOP, "shprt_old")


def test_code_grant_request_shape(client: ShopifyOAuth, mocked: Any) -> None:
    mocked.post(
        TOKEN_URL,
        json=EXCHANGE,
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
    token = client.exchange_code(SHOP, "0907a61c0c8d55e99db179b68161bc00")
    assert token.access_token == "f85632530bf277ec9ac6f649fc327f17"
    assert token.refresh_token == "shprt_xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
    assert token.expires_at == datetime(2026, 10, 14, 15, 0, tzinfo=UTC)


def test_online_response_parses_and_ignores_user_fields(client: ShopifyOAuth, mocked: Any) -> None:
    mocked.post(TOKEN_URL, json=ONLINE)
    token = client.exchange_code(SHOP, "code")
    assert token == AccessToken(
        "f85632530bf277ec9ac6f649fc327f17",
        "write_orders,read_customers",
        datetime(2026, 10, 15, 13, 59, 59, tzinfo=UTC),  # NOW + 86,399 s
        None,
        None,
    )


def test_expiry_is_measured_from_when_the_response_arrived(mocked: Any) -> None:
    ticks = iter([NOW + timedelta(seconds=7)])
    client = ShopifyOAuth(API_KEY, API_SECRET, clock=lambda: next(ticks))
    mocked.post(TOKEN_URL, json=EXCHANGE)
    assert client.exchange_session_token(SHOP, SESSION_JWT).expires_at == datetime(2026, 10, 14, 15, 0, 7, tzinfo=UTC)


def test_authorize_url(client: ShopifyOAuth) -> None:
    url = client.authorize_url(
        SHOP,
        scopes=("read_products", "read_inventory", "read_orders", "write_app_proxy"),
        redirect_uri="https://backsoon.example/shopify/callback",
        state="n0nce",
    )
    assert url == (
        "https://backsoon-demo.myshopify.com/admin/oauth/authorize?client_id=client-id-123"
        "&scope=read_products%2Cread_inventory%2Cread_orders%2Cwrite_app_proxy"
        "&redirect_uri=https%3A%2F%2Fbacksoon.example%2Fshopify%2Fcallback&state=n0nce"
    )


# --- errors --------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "body", "error_type", "code"),
    [
        (
            400,
            {"error": "invalid_subject_token", "error_description": "expired"},
            InvalidSubjectToken,
            "invalid_subject_token",
        ),
        (401, {"error": "invalid_subject_token"}, InvalidSubjectToken, "invalid_subject_token"),
        (400, {"error": "invalid_grant", "error_description": "revoked"}, InvalidGrant, "invalid_grant"),
        (401, {"error": "invalid_grant"}, InvalidGrant, "invalid_grant"),
        (401, {"error": "invalid_client"}, InvalidClient, "invalid_client"),
        (401, {}, TokenRejected, "refused"),
        (403, {"errors": "forbidden"}, TokenRejected, "refused"),
        (400, {"error": "invalid_request"}, InvalidRequest, "invalid_request"),
        (404, {"errors": "Not Found"}, InvalidRequest, None),
        (500, {"errors": "Internal Server Error"}, TransientError, None),
        (502, None, TransientError, None),
        (503, {}, TransientError, None),
    ],
)
def test_errors_are_typed(
    client: ShopifyOAuth, mocked: Any, status: int, body: Any, error_type: type[PlatformError], code: str | None
) -> None:
    if body is None:
        mocked.post(TOKEN_URL, body="<html>Bad Gateway</html>", status=status)
    else:
        mocked.post(TOKEN_URL, json=body, status=status)
    with pytest.raises(error_type) as info:
        client.refresh(SHOP, "shprt_secret_value")
    assert type(info.value) is error_type
    assert info.value.status == status
    assert info.value.code == code
    assert "shprt_secret_value" not in str(info.value) and API_SECRET not in str(info.value)


def test_revocation_errors_are_auth_revoked_but_client_errors_are_not() -> None:
    assert issubclass(InvalidGrant, AuthRevoked) and issubclass(InvalidSubjectToken, AuthRevoked)
    # A wrong client secret is our deployment's fault: it must never disconnect every store.
    assert not issubclass(InvalidClient, AuthRevoked)


def test_rate_limit_carries_retry_after(client: ShopifyOAuth, mocked: Any) -> None:
    mocked.post(TOKEN_URL, json={"errors": "Too Many Requests"}, status=429, headers={"Retry-After": "7"})
    with pytest.raises(RateLimited) as info:
        client.exchange_session_token(SHOP, SESSION_JWT)
    assert info.value.retry_after == 7.0
    assert info.value.status == 429
    assert len(mocked.calls) == 1  # no in-process sleeping and retrying


@pytest.mark.parametrize("exc", [requests.ConnectTimeout("slow"), requests.ConnectionError("down")])
def test_network_failures_are_transient(client: ShopifyOAuth, mocked: Any, exc: Exception) -> None:
    mocked.post(TOKEN_URL, body=exc)
    with pytest.raises(TransientError):
        client.refresh(SHOP, "shprt_x")


@pytest.mark.parametrize("body", ["not json", "[1]", '{"scope": "x"}', '{"access_token": ""}'])
def test_a_200_without_a_token_is_transient(client: ShopifyOAuth, mocked: Any, body: str) -> None:
    mocked.post(TOKEN_URL, body=body, status=200)
    with pytest.raises(TransientError, match="without an access token"):
        client.exchange_code(SHOP, "code")


def test_malformed_expiry_is_transient(client: ShopifyOAuth, mocked: Any) -> None:
    mocked.post(TOKEN_URL, json={**EXCHANGE, "expires_in": "soon"})
    with pytest.raises(TransientError, match="malformed expires_in"):
        client.exchange_code(SHOP, "code")


def test_redirects_are_not_followed(client: ShopifyOAuth, mocked: Any) -> None:
    mocked.post(TOKEN_URL, status=302, headers={"Location": "https://evil.example/steal"})
    with pytest.raises(InvalidRequest):
        client.exchange_code(SHOP, "code")
    assert len(mocked.calls) == 1


@pytest.mark.parametrize(
    "shop",
    ["evil.example", "backsoon-demo.myshopify.com.evil.example", "backsoon-demo.myshopify.com\n", "a@b.myshopify.com"],
)
def test_only_myshopify_hosts_receive_the_secret(client: ShopifyOAuth, mocked: Any, shop: str) -> None:
    with pytest.raises(InvalidRequest):
        client.exchange_code(shop, "code")
    with pytest.raises(InvalidRequest):
        client.authorize_url(shop, scopes=(), redirect_uri="https://x", state="s")
    assert len(mocked.calls) == 0


def test_empty_inputs_are_refused_before_any_call(client: ShopifyOAuth, mocked: Any) -> None:
    with pytest.raises(ValueError, match="session token is empty"):
        client.exchange_session_token(SHOP, "")
    with pytest.raises(ValueError, match="refresh token is empty"):
        client.refresh(SHOP, "")
    with pytest.raises(ValueError, match="authorization code is empty"):
        client.exchange_code(SHOP, "")
    assert len(mocked.calls) == 0
    with pytest.raises(ValueError, match="SHOPIFY_API_KEY"):
        ShopifyOAuth("", API_SECRET)


# --- values --------------------------------------------------------------------------------------------------------


def test_secrets_stay_out_of_reprs() -> None:
    token = AccessToken("shpat_secret", "read_products", NOW, "shprt_secret", NOW)
    assert "shpat_secret" not in repr(token) and "shprt_secret" not in repr(token)
    assert API_SECRET not in repr(ShopifyOAuth(API_KEY, API_SECRET))


def test_credentials_round_trip() -> None:
    token = AccessToken("shpat_a", "read_products", NOW, "shprt_b", NOW + timedelta(days=90))
    stored = token.to_credentials()
    assert stored == {
        "access_token": "shpat_a",
        "scope": "read_products",
        "expires_at": "2026-10-14T14:00:00+00:00",
        "refresh_token": "shprt_b",
        "refresh_token_expires_at": "2027-01-12T14:00:00+00:00",
    }
    assert AccessToken.from_credentials(json.loads(json.dumps(stored))) == token
    assert AccessToken.from_credentials({"access_token": "x"}) == AccessToken("x", "", None, None, None)
    with pytest.raises(ValueError):
        AccessToken.from_credentials({"scope": "x"})


def test_scope_checks() -> None:
    required = ("read_products", "read_inventory", "read_orders", "write_app_proxy")
    assert granted_scopes(" read_products, write_orders ,,") == frozenset({"read_products", "write_orders"})
    assert missing_scopes(required, "read_products,read_inventory,read_orders,write_app_proxy") == ()
    # write_X implies read_X, as Shopify may list only the write scope.
    assert missing_scopes(required, "write_products,write_inventory,write_orders,write_app_proxy") == ()
    assert missing_scopes(required, "read_products,read_orders") == ("read_inventory", "write_app_proxy")
    assert missing_scopes(required, "read_app_proxy,read_products,read_inventory,read_orders") == ("write_app_proxy",)
    assert missing_scopes(required, "") == required
    assert missing_scopes(["unauthenticated_read_product_listings"], "unauthenticated_write_product_listings") == ()


# --- helpers shared with the integration tests ------------------------------------------------------------------


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def make_session_token(
    shop: str = SHOP, *, secret: str = API_SECRET, api_key: str = API_KEY, now: float | None = None, ttl: int = 60
) -> str:
    """An App Bridge session token (HS256 JWT) for a shop, signed like Shopify signs them."""
    issued = int(time.time() if now is None else now)
    header = {"alg": "HS256", "typ": "JWT"}
    claims = {
        "iss": f"https://{shop}/admin",
        "dest": f"https://{shop}",
        "aud": api_key,
        "sub": "42",
        "exp": issued + ttl,
        "nbf": issued,
        "iat": issued,
        "jti": f"jti-{issued}-{shop}",
        "sid": "aaea182f2732d44c23057c0fea584021a4485b2bd25d3eb7fd349313ad24c685",
    }
    signing_input = (
        _b64url(json.dumps(header, separators=(",", ":")).encode())
        + "."
        + _b64url(json.dumps(claims, separators=(",", ":")).encode())
    )
    sig = hmac.new(secret.encode(), signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{_b64url(sig)}"


def signed_query(params: dict[str, str], *, secret: str = API_SECRET, timestamp: int | None = None) -> str:
    """A query string signed like Shopify signs app-home and OAuth-callback URLs (values without & = %)."""
    values = {**params, "timestamp": str(int(time.time()) if timestamp is None else timestamp)}
    message = "&".join(sorted(f"{k}={v}" for k, v in values.items()))
    digest = hmac.new(secret.encode(), message.encode(), hashlib.sha256).hexdigest()
    return urlencode({**values, "hmac": digest})


def test_helpers_produce_what_the_verifier_accepts() -> None:
    token = make_session_token(now=1_800_000_000)
    assert decode_session_token(token, API_KEY, API_SECRET, now=1_800_000_010).shop == SHOP
    query = signed_query({"shop": SHOP, "host": "YWRtaW4uc2hvcGlmeS5jb20vc3RvcmUvYmFja3Nvb24tZGVtbw"}, timestamp=5)
    assert verify_query_hmac(query, API_SECRET, now=10)
    assert not verify_query_hmac(query, "other", now=10)
