"""Shopify access tokens: token exchange (embedded install), refresh of expiring offline tokens, code grant.

All three are one POST to ``https://{shop}/admin/oauth/access_token`` with a JSON body, as in Shopify's token
exchange reference and its ``shopifyapp`` package. Implemented here on ``requests`` rather than wrapping
``shopifyapp`` 1.0.2 (inspected): its results carry expiry times computed from its own ``datetime.now`` and drop the
raw ``expires_in``, so no clock can be injected; ``refresh_access_token`` decides by itself, on the system clock with
a fixed 60 s margin, that a token is "still valid" and then makes no call, which defeats refreshing minutes ahead;
it sleeps in-process on 429 (up to ``Retry-After`` seconds, while we hold the per-store refresh lock) and re-sends a
rotating refresh token right after a 5xx; failures come back as log codes with the HTTP status only inside its logs;
and it has no authorization code grant at all.

No retries happen here beyond connect errors (the shared ``integrations.http`` session never re-sends a POST that
may have reached Shopify): a refresh rotates the refresh token, so a re-send is the caller's decision, made under a
per-store lock in app/platforms/shopify/auth.py. Secrets travel only in request bodies, never in URLs, and no
exception message or ``repr`` includes a token.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

import requests

from integrations.base import AuthRevoked, InvalidRequest, PlatformError, RateLimited, TransientError
from integrations.http import make_session
from integrations.shopify.verify import is_valid_shop_domain

__all__ = [
    "ID_TOKEN_TYPE",
    "OFFLINE_ACCESS_TOKEN_TYPE",
    "TOKEN_EXCHANGE_GRANT",
    "AccessToken",
    "InvalidClient",
    "InvalidGrant",
    "InvalidSubjectToken",
    "ShopifyOAuth",
    "TokenRejected",
    "granted_scopes",
    "missing_scopes",
    "visible_order_days",
]

ALL_ORDERS_SCOPE = "read_all_orders"
DEFAULT_VISIBLE_ORDER_DAYS = 60
"""Shopify's Order docs: "Only the last 60 days' worth of orders from a store are accessible from the Order object by
default"; older ones need the read_all_orders scope (granted to an app only after Shopify approves its request)."""

# OAuth URNs (RFC 8693 and Shopify's), not secrets.
TOKEN_EXCHANGE_GRANT = "urn:ietf:params:oauth:grant-type:token-exchange"  # noqa: S105
ID_TOKEN_TYPE = "urn:ietf:params:oauth:token-type:id_token"  # noqa: S105
OFFLINE_ACCESS_TOKEN_TYPE = "urn:shopify:params:oauth:token-type:offline-access-token"  # noqa: S105

# (connect, read) seconds: a token call sits on the path of a page load or a job, so it must fail fast.
DEFAULT_TIMEOUT = (5.0, 15.0)
# A token response is a few hundred bytes; anything huge is not one.
_MAX_BODY = 64 * 1024


class TokenRejected(AuthRevoked):
    """Shopify refused the grant (400/401 with an OAuth error code); ``error`` holds that code."""

    def __init__(self, message: str, *, status: int | None, error: str) -> None:
        super().__init__(message, status=status, code=error)
        self.error = error


class InvalidSubjectToken(TokenRejected):
    """The session token offered for exchange is expired or invalid: get a fresh one from App Bridge and retry."""


class InvalidGrant(TokenRejected):
    """The refresh token or authorization code is invalid, expired or revoked: the merchant must open the app."""


class InvalidClient(PlatformError):
    """Our client id/secret were refused: a deployment problem (or the app was deleted), not one store's fault."""


@dataclass(frozen=True, slots=True)
class AccessToken:
    """An Admin API access token and, for expiring offline tokens, its refresh token; times are UTC."""

    access_token: str = field(repr=False)
    scope: str
    expires_at: datetime | None = None
    refresh_token: str | None = field(default=None, repr=False)
    refresh_token_expires_at: datetime | None = None

    @property
    def scopes(self) -> frozenset[str]:
        """The granted scopes as a set."""
        return granted_scopes(self.scope)

    @property
    def expiring(self) -> bool:
        """True for an expiring token (it has an expiry time)."""
        return self.expires_at is not None

    def to_credentials(self) -> dict[str, Any]:
        """The JSON object stored (encrypted) for a store."""
        return {
            "access_token": self.access_token,
            "scope": self.scope,
            "expires_at": _iso(self.expires_at),
            "refresh_token": self.refresh_token,
            "refresh_token_expires_at": _iso(self.refresh_token_expires_at),
        }

    @classmethod
    def from_credentials(cls, data: Mapping[str, Any]) -> AccessToken:
        """Rebuild a token from what to_credentials stored."""
        token = data.get("access_token")
        if not isinstance(token, str) or not token:
            raise ValueError("stored credentials have no access token")
        refresh = data.get("refresh_token")
        return cls(
            access_token=token,
            scope=str(data.get("scope") or ""),
            expires_at=_parse_iso(data.get("expires_at")),
            refresh_token=refresh if isinstance(refresh, str) and refresh else None,
            refresh_token_expires_at=_parse_iso(data.get("refresh_token_expires_at")),
        )


def visible_order_days(granted: str | Iterable[str]) -> int | None:
    """How many days back the granted scopes let the app read orders; None when all of them (read_all_orders)."""
    return None if ALL_ORDERS_SCOPE in granted_scopes(granted) else DEFAULT_VISIBLE_ORDER_DAYS


def granted_scopes(scope: str | Iterable[str]) -> frozenset[str]:
    """Split a comma-separated scope string (Shopify's format) into a set."""
    items = scope.split(",") if isinstance(scope, str) else scope
    return frozenset(s.strip() for s in items if s and s.strip())


def missing_scopes(required: Iterable[str], granted: str | Iterable[str]) -> tuple[str, ...]:
    """Required scopes not covered by the granted ones (write_X implies read_X, as Shopify documents)."""
    have = granted_scopes(granted)
    implied = {"read_" + s.removeprefix("write_") for s in have if s.startswith("write_")}
    implied |= {
        "unauthenticated_read_" + s.removeprefix("unauthenticated_write_")
        for s in have
        if s.startswith("unauthenticated_write_")
    }
    return tuple(s for s in required if s not in have and s not in implied)


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.astimezone(UTC).isoformat()


def _parse_iso(value: object) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    parsed = datetime.fromisoformat(value)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _utcnow() -> datetime:
    return datetime.now(UTC)


def _new_session() -> requests.Session:
    # The shared hardened session: it retries connect errors (nothing was sent) but never re-sends a POST that may
    # have reached Shopify, which matters here because a refresh spends the refresh token.
    return make_session()


class ShopifyOAuth:
    """The token endpoint of Shopify shops, for one app (client id + secret)."""

    def __init__(
        self,
        api_key: str,
        api_secret: str,
        *,
        session: requests.Session | None = None,
        clock: Callable[[], datetime] = _utcnow,
        timeout: float | tuple[float, float] = DEFAULT_TIMEOUT,
    ) -> None:
        if not api_key or not api_secret:
            raise ValueError("SHOPIFY_API_KEY and SHOPIFY_API_SECRET must be configured")
        self.api_key = api_key
        self._api_secret = api_secret
        self._session = session or _new_session()
        self._clock = clock
        self._timeout = timeout

    def __repr__(self) -> str:
        return f"<ShopifyOAuth api_key={self.api_key!r}>"

    # --- the three grants -----------------------------------------------------------------------------------

    def exchange_session_token(self, shop: str, session_token: str, *, expiring: bool = True) -> AccessToken:
        """Exchange a verified session token (App Bridge ID token) for an offline access token."""
        if not session_token:
            raise ValueError("session token is empty")
        body: dict[str, Any] = {
            "grant_type": TOKEN_EXCHANGE_GRANT,
            "subject_token": session_token,
            "subject_token_type": ID_TOKEN_TYPE,
            "requested_token_type": OFFLINE_ACCESS_TOKEN_TYPE,
            # Expiring offline tokens (1 h, with a rotating refresh token) are required for new public apps.
            "expiring": 1 if expiring else 0,
        }
        return self._token_request(shop, body, what="token exchange")

    def refresh(self, shop: str, refresh_token: str) -> AccessToken:
        """Trade a refresh token for a new access token AND a new refresh token (the old one is retired)."""
        if not refresh_token:
            raise ValueError("refresh token is empty")
        body = {"grant_type": "refresh_token", "refresh_token": refresh_token}
        token = self._token_request(shop, body, what="token refresh")
        if token.refresh_token is None:
            # Shopify rotates on every refresh; a response without a new one would leave us unable to refresh again.
            raise TransientError("token refresh response carried no new refresh_token", status=200)
        return token

    def exchange_code(self, shop: str, code: str, *, expiring: bool = True) -> AccessToken:
        """Exchange an authorization code from the OAuth callback for an offline access token."""
        if not code:
            raise ValueError("authorization code is empty")
        return self._token_request(shop, {"code": code, "expiring": 1 if expiring else 0}, what="code exchange")

    def authorize_url(self, shop: str, *, scopes: Iterable[str], redirect_uri: str, state: str) -> str:
        """The authorization page to send a merchant to for the authorization code grant (offline access)."""
        _check_shop(shop)
        query = urlencode(
            {"client_id": self.api_key, "scope": ",".join(scopes), "redirect_uri": redirect_uri, "state": state}
        )
        return f"https://{shop}/admin/oauth/authorize?{query}"

    # --- transport ------------------------------------------------------------------------------------------

    def _token_request(self, shop: str, grant: Mapping[str, Any], *, what: str) -> AccessToken:
        _check_shop(shop)
        body = {"client_id": self.api_key, "client_secret": self._api_secret, **grant}
        url = f"https://{shop}/admin/oauth/access_token"
        try:
            # No redirects: a 3xx would re-send the secret to wherever it points.
            resp = self._session.post(
                url,
                json=body,
                headers={"Accept": "application/json"},
                timeout=self._timeout,
                allow_redirects=False,
            )
        except requests.RequestException as exc:
            # Only the exception's class name: its text could carry the request, and the request carries secrets.
            kind = "timed out" if isinstance(exc, requests.Timeout) else f"failed ({exc.__class__.__name__})"
            raise TransientError(f"{what} for {shop} {kind}") from exc
        received_at = self._clock()
        return _parse_response(resp, shop=shop, what=what, received_at=received_at)


def _check_shop(shop: str) -> None:
    # The shop becomes the host we POST our client secret to: only a bare *.myshopify.com name may.
    if not is_valid_shop_domain(shop):
        raise InvalidRequest("not a *.myshopify.com shop domain", code="invalid_shop")


def _json_body(resp: requests.Response) -> dict[str, Any] | None:
    if len(resp.content) > _MAX_BODY:
        return None
    try:
        value = resp.json()
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def _seconds(data: Mapping[str, Any], key: str) -> int | None:
    value = data.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        raise TransientError(f"token response has a malformed {key}", status=200)
    return int(value)


def _parse_response(resp: requests.Response, *, shop: str, what: str, received_at: datetime) -> AccessToken:
    status = resp.status_code
    data = _json_body(resp)
    if status == 200:
        if data is None or not isinstance(data.get("access_token"), str) or not data["access_token"]:
            # The grant may have been consumed; Shopify keeps the previous refresh token usable, so retry later.
            raise TransientError(f"{what} for {shop} returned 200 without an access token", status=status)
        expires_in = _seconds(data, "expires_in")
        refresh_expires_in = _seconds(data, "refresh_token_expires_in")
        refresh = data.get("refresh_token")
        return AccessToken(
            access_token=data["access_token"],
            scope=str(data.get("scope") or ""),
            # Computed from when the response arrived, so the stored expiry is never later than Shopify's.
            expires_at=None if expires_in is None else received_at + timedelta(seconds=expires_in),
            refresh_token=refresh if isinstance(refresh, str) and refresh else None,
            refresh_token_expires_at=(
                None if refresh_expires_in is None else received_at + timedelta(seconds=refresh_expires_in)
            ),
        )
    error = str((data or {}).get("error") or "")
    if status == 429:
        raise RateLimited(f"{what} for {shop} was rate limited", retry_after=_retry_after(resp), status=status)
    if status >= 500:
        raise TransientError(f"{what} for {shop} failed with HTTP {status}", status=status)
    if error == "invalid_subject_token":
        raise InvalidSubjectToken(f"{what} for {shop}: session token rejected", status=status, error=error)
    if error == "invalid_grant":
        raise InvalidGrant(f"{what} for {shop}: grant invalid, expired or revoked", status=status, error=error)
    if error == "invalid_client":
        raise InvalidClient(f"{what} for {shop}: client credentials rejected", status=status, code=error)
    if status in (401, 403):
        # Shopify answers an uninstalled app or a revoked grant with a bare 401/403 on some paths.
        raise TokenRejected(f"{what} for {shop} was refused (HTTP {status})", status=status, error=error or "refused")
    raise InvalidRequest(
        f"{what} for {shop} failed with HTTP {status} {error}".rstrip(), status=status, code=error or None
    )


def _retry_after(resp: requests.Response) -> float:
    try:
        return max(1.0, float(resp.headers.get("Retry-After", "1")))
    except ValueError:
        return 1.0
