"""A cost-aware client for Shopify's GraphQL Admin API.

Shopify meters GraphQL by query cost in a leaky bucket per app and store (``extensions.cost.throttleStatus``:
maximumAvailable, currentlyAvailable, restoreRate per second). The client remembers the last bucket state and each
document's requested cost, and before a call it sleeps just long enough for the bucket to refill to that cost, so a
sync paces itself instead of hammering into THROTTLED. Other workers share the bucket, so THROTTLED still happens;
it is handled whether it comes as HTTP 200 with ``errors[].extensions.code == "THROTTLED"`` (what Shopify sends) or
as HTTP 429 (reported by some), by waiting and retrying a bounded number of times.

Errors map to integrations.base types: 401/403 → AuthRevoked (the caller marks the store disconnected; tried once
more first if the token provider has meanwhile rotated to another token); 5xx, timeouts and connection errors →
TransientError after bounded retries (only for idempotent operations); 429 and THROTTLED → RateLimited once retries
run out; a root field refused as protected customer data → ProtectedDataDenied (an InvalidRequest); any other
GraphQL error → InvalidRequest. ``userErrors`` of a mutation are data: returned, never raised.
"""

from __future__ import annotations

import math
import re
import time
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import requests

from integrations.base import AuthRevoked, InvalidRequest, NotFound, PlatformError, RateLimited, TransientError
from integrations.http import DEFAULT_TIMEOUT, make_session
from integrations.shopify.verify import is_valid_shop_domain

__all__ = [
    "DEFAULT_API_VERSION",
    "GraphQLClient",
    "ProtectedDataDenied",
    "ThrottleStatus",
    "denied_fields",
    "is_mutation",
    "protected_roots",
]

DEFAULT_API_VERSION = "2026-10"

_MUTATION = re.compile(r"\A(?:\s|,|#[^\n]*(?:\n|\Z))*mutation\b")
# Statuses that mean the request may not have been processed and a retry can succeed.
_TRANSIENT_STATUSES = frozenset({500, 502, 503, 504, 520, 522, 524})
_TRANSIENT_CODES = frozenset({"INTERNAL_SERVER_ERROR", "SERVICE_UNAVAILABLE", "TIMEOUT"})
_MAX_RETRY_AFTER = 60.0


def denied_fields(errors: object, tolerated: Collection[str]) -> set[str]:
    """The tolerated fields a GraphQL ``errors`` list denies, or an empty set when any error is something else.

    Shopify's answer for protected customer data an app is not approved for: the field is null in ``data`` and an
    error names it, ``{"message": "This app is not approved to access the Order object. See
    https://shopify.dev/docs/apps/launch/protected-customer-data for more details.", "path": ["orders", "nodes", 0,
    "email"], "extensions": {"code": "ACCESS_DENIED"}}``.
    """
    if not tolerated or not isinstance(errors, list) or not errors:
        return set()
    found: set[str] = set()
    for error in errors:
        extensions = error.get("extensions") if isinstance(error, dict) else None
        path = error.get("path") if isinstance(error, dict) else None
        if not isinstance(extensions, dict) or extensions.get("code") != "ACCESS_DENIED":
            return set()
        # A denied field inside a node: never the root connection itself (then nothing was read at all).
        if not isinstance(path, list) or len(path) < 2 or path[-1] not in tolerated:
            return set()
        found.add(path[-1])
    return found


# How Shopify says an ACCESS_DENIED is about protected customer data rather than a missing access scope: its message
# ("This app is not approved to access the Order object. See https://shopify.dev/docs/apps/launch/protected-customer-data
# for more details.") or its extensions.documentation link names the protected customer data page. A missing scope
# says "Access denied for orders field. Required access: `read_orders` access scope." and links the scopes page.
_PROTECTED_DATA_MARKS = ("protected-customer-data", "not approved to access")


class ProtectedDataDenied(InvalidRequest):
    """Shopify refused whole root fields (``orders``) as protected customer data the app is not approved for.

    An app without protected customer data approval is refused the Order object itself: ``{"data": null, "errors":
    [{"message": "This app is not approved to access the Order object. See https://shopify.dev/docs/apps/launch/
    protected-customer-data for more details.", "path": ["orders"], "extensions": {"code": "ACCESS_DENIED"}}]}``.
    ``roots`` names the refused root fields. Still an InvalidRequest: a caller that does not expect it fails as before.
    """

    def __init__(self, message: str, roots: frozenset[str], *, status: int | None = None) -> None:
        super().__init__(message, status=status, code="ACCESS_DENIED")
        self.roots = roots


def protected_roots(errors: object) -> frozenset[str]:
    """The root fields a GraphQL ``errors`` list refuses as protected customer data; empty when any error is
    something else (another code, a missing scope, a field inside a node, no path)."""
    if not isinstance(errors, list) or not errors:
        return frozenset()
    roots: set[str] = set()
    for error in errors:
        if not isinstance(error, dict):
            return frozenset()
        extensions = error.get("extensions")
        path = error.get("path")
        if not isinstance(extensions, dict) or extensions.get("code") != "ACCESS_DENIED":
            return frozenset()
        if not isinstance(path, list) or len(path) != 1 or not isinstance(path[0], str):
            return frozenset()
        said = f"{error.get('message', '')} {extensions.get('documentation', '')}".lower()
        if not any(mark in said for mark in _PROTECTED_DATA_MARKS):
            return frozenset()
        roots.add(path[0])
    return frozenset(roots)


def is_mutation(query: str) -> bool:
    """True when a GraphQL document's first operation is a mutation (leading whitespace and comments skipped)."""
    return _MUTATION.match(query) is not None


@dataclass(frozen=True, slots=True)
class ThrottleStatus:
    """The cost bucket as Shopify last reported it, and when (on the client's clock)."""

    maximum: float
    available: float
    restore_rate: float
    at: float

    def available_at(self, now: float) -> float:
        """Points expected in the bucket at ``now``: the bucket refills at restore_rate up to its maximum."""
        return min(self.maximum, self.available + self.restore_rate * max(0.0, now - self.at))

    def wait_for(self, cost: float, now: float) -> float:
        """Seconds to wait at ``now`` until the bucket holds ``cost`` points (capped at a full bucket)."""
        if self.restore_rate <= 0:
            return 0.0
        needed = min(cost, self.maximum) - self.available_at(now)
        return max(0.0, needed / self.restore_rate)


class GraphQLClient:
    """Execute GraphQL Admin documents for one shop with cost-aware pacing and bounded retries."""

    def __init__(
        self,
        shop_domain: str,
        access_token_provider: Callable[[], str],
        api_version: str = DEFAULT_API_VERSION,
        session: requests.Session | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
        *,
        timeout: float | tuple[float, float] = DEFAULT_TIMEOUT,
        max_retries: int = 4,
        max_throttle_retries: int = 8,
        backoff: float = 1.0,
        max_backoff: float = 16.0,
    ) -> None:
        # The token goes to this host: accept nothing but a bare *.myshopify.com name.
        if not is_valid_shop_domain(shop_domain):
            raise ValueError(f"not a myshopify.com domain: {shop_domain!r}")
        if not re.fullmatch(r"[0-9]{4}-[0-9]{2}|unstable", api_version):
            raise ValueError(f"not a Shopify API version: {api_version!r}")
        self.shop_domain = shop_domain.lower()
        self.api_version = api_version
        self.url = f"https://{self.shop_domain}/admin/api/{api_version}/graphql.json"
        self._token = access_token_provider
        # No transport retries in our own session: this client owns retry timing (cost-aware, injectable sleep).
        self._session = session if session is not None else make_session(retries=0)
        self._sleep = sleep
        self._clock = clock
        self._timeout = timeout
        self._max_retries = max_retries
        self._max_throttle_retries = max_throttle_retries
        self._backoff = backoff
        self._max_backoff = max_backoff
        self.throttle: ThrottleStatus | None = None
        # requestedQueryCost last seen per document: the estimate for its next call (pages of one query cost alike).
        self._estimates: dict[str, float] = {}
        # Every HTTP request sent (retries included): what a caller's pass cost the shop.
        self.requests_sent = 0
        # Fields Shopify answered null with ACCESS_DENIED for, among those a caller said it can do without
        # (execute's tolerate_denied): protected customer data the app is not approved for on this shop.
        self.denied_fields: set[str] = set()

    # --- public -----------------------------------------------------------------------------------------------

    def execute(
        self,
        query: str,
        variables: Mapping[str, Any] | None = None,
        *,
        idempotent: bool | None = None,
        tolerate_denied: Collection[str] = (),
    ) -> dict[str, Any]:
        """Run a document and return its ``data``; mutations are not retried after a possible send unless idempotent.

        ``tolerate_denied`` names fields (protected customer data) the caller can do without: an answer whose only
        errors are ACCESS_DENIED on such fields is returned with them null, and the fields join ``denied_fields``.
        """
        if idempotent is None:
            idempotent = not is_mutation(query)
        payload: dict[str, Any] = {"query": query}
        if variables:
            payload["variables"] = dict(variables)
        transient_failures = 0
        throttled = 0
        token_retried = False
        while True:
            self._pace(query)
            # Asked on every attempt: expiring offline tokens rotate, and a refresh may land between a throttled
            # attempt and its retry.
            token = self._token()
            try:
                response = self._post(payload, token)
            except requests.ConnectTimeout as exc:
                # Nothing reached Shopify: safe to retry even a mutation.
                transient_failures = self._retry_or_raise(transient_failures, True, f"connect timeout: {exc}")
                continue
            except requests.Timeout as exc:
                transient_failures = self._retry_or_raise(transient_failures, idempotent, f"timeout: {exc}")
                continue
            except requests.ConnectionError as exc:
                transient_failures = self._retry_or_raise(transient_failures, idempotent, f"connection error: {exc}")
                continue

            status = response.status_code
            if status == 429:
                # A throttled request was not executed, so retrying is safe for mutations too.
                wait = self._retry_after(response)
                throttled = self._throttle_or_raise(throttled, wait, status)
                continue
            if status in (401, 403):
                # An expiring token can lapse between the provider handing it out and Shopify reading it: if the
                # provider now has another one, try that once before declaring the store disconnected.
                if not token_retried and self._token() != token:
                    token_retried = True
                    continue
                raise AuthRevoked(f"Shopify rejected the access token for {self.shop_domain}", status=status)
            if status in _TRANSIENT_STATUSES:
                transient_failures = self._retry_or_raise(transient_failures, idempotent, f"HTTP {status}", status)
                continue
            if status == 404:
                raise NotFound(f"no GraphQL endpoint at {self.url}", status=status)
            if status in (402, 423):
                # Frozen (unpaid) or locked shop: nothing works until the merchant acts; not a revoked token.
                raise PlatformError(f"shop {self.shop_domain} is unavailable (HTTP {status})", status=status)
            if status >= 400:
                raise InvalidRequest(f"HTTP {status}: {_snippet(response)}", status=status)

            body = self._json(response)
            if body is None:
                # A 200 that is not JSON is a proxy or maintenance page, not an answer.
                transient_failures = self._retry_or_raise(transient_failures, idempotent, "response is not JSON")
                continue
            self._record_cost(query, body)
            errors = body.get("errors")
            if errors:
                codes = _error_codes(errors)
                if "THROTTLED" in codes:
                    throttled = self._throttle_or_raise(throttled, self._throttle_wait(query), status)
                    continue
                if codes & _TRANSIENT_CODES:
                    transient_failures = self._retry_or_raise(transient_failures, idempotent, _messages(errors), status)
                    continue
                denied = denied_fields(errors, tolerate_denied)
                data = body.get("data")
                if denied and isinstance(data, dict):
                    # Shopify answers the rest in full and null for a protected field the app is not approved for.
                    self.denied_fields |= denied
                    return data
                roots = protected_roots(errors)
                if roots:
                    raise ProtectedDataDenied(f"GraphQL errors: {_messages(errors)}", roots, status=status)
                # Partial data with other errors is refused: a sync must never treat half an answer as the whole.
                code = next(iter(sorted(codes)), None)
                raise InvalidRequest(f"GraphQL errors: {_messages(errors)}", status=status, code=code)
            data = body.get("data")
            if not isinstance(data, dict):
                raise InvalidRequest("GraphQL response has no data", status=status)
            return data

    def paginate(
        self,
        query: str,
        variables: Mapping[str, Any] | None = None,
        path: Sequence[str] = ("products",),
        *,
        tolerate_denied: Collection[str] = (),
    ) -> Iterator[dict[str, Any]]:
        """Yield every node of the connection at ``path`` in ``data``, following pageInfo via the ``after`` variable."""
        page_vars = dict(variables or {})
        seen_cursors: set[str] = set()
        while True:
            data = self.execute(query, page_vars, tolerate_denied=tolerate_denied)
            connection = _at_path(data, path)
            yield from _connection_nodes(connection, path)
            info = connection.get("pageInfo")
            if not isinstance(info, dict) or info.get("hasNextPage") is not True:
                return
            cursor = info.get("endCursor")
            # A missing or repeated cursor would loop forever on the same page.
            if not isinstance(cursor, str) or cursor in seen_cursors:
                raise InvalidRequest(f"pagination at {'.'.join(path)} returned no new endCursor")
            seen_cursors.add(cursor)
            page_vars["after"] = cursor

    # --- internals --------------------------------------------------------------------------------------------

    def _post(self, payload: dict[str, Any], token: str) -> requests.Response:
        headers = {
            "X-Shopify-Access-Token": token,
            "Content-Type": "application/json",
            "Accept": "application/json",
        }
        self.requests_sent += 1
        return self._session.post(self.url, json=payload, headers=headers, timeout=self._timeout)

    def _pace(self, query: str) -> None:
        """Sleep until the bucket (as last reported) holds the document's estimated cost."""
        estimate = self._estimates.get(query)
        if estimate is None or self.throttle is None:
            return
        wait = self.throttle.wait_for(estimate, self._clock())
        if wait > 0:
            self._sleep(wait)

    def _record_cost(self, query: str, body: Mapping[str, Any]) -> None:
        cost = _mapping(_mapping(body.get("extensions")).get("cost"))
        requested = _number(cost.get("requestedQueryCost"))
        if requested is not None:
            self._estimates[query] = requested
        status = _mapping(cost.get("throttleStatus"))
        maximum = _number(status.get("maximumAvailable"))
        available = _number(status.get("currentlyAvailable"))
        rate = _number(status.get("restoreRate"))
        if maximum is not None and available is not None and rate is not None:
            self.throttle = ThrottleStatus(maximum=maximum, available=available, restore_rate=rate, at=self._clock())

    def _throttle_wait(self, query: str) -> float:
        """Seconds until the bucket holds this document's cost; 1 s when Shopify gave nothing to compute from."""
        estimate = self._estimates.get(query)
        if estimate is None or self.throttle is None or self.throttle.restore_rate <= 0:
            return 1.0
        # At least one restore tick: being throttled means the bucket was short even if our numbers say otherwise.
        return max(self.throttle.wait_for(estimate, self._clock()), 1.0 / self.throttle.restore_rate)

    def _throttle_or_raise(self, attempts: int, wait: float, status: int) -> int:
        if attempts >= self._max_throttle_retries:
            raise RateLimited(
                f"Shopify kept throttling {self.shop_domain} after {attempts} waits", retry_after=wait, status=status
            )
        self._sleep(wait)
        return attempts + 1

    def _retry_or_raise(self, attempts: int, retryable: bool, message: str, status: int | None = None) -> int:
        if not retryable or attempts >= self._max_retries:
            suffix = "" if retryable else " (not retried: the operation is not idempotent)"
            raise TransientError(f"Shopify GraphQL {message}{suffix}", status=status)
        self._sleep(min(self._max_backoff, self._backoff * 2**attempts))
        return attempts + 1

    def _retry_after(self, response: requests.Response) -> float:
        header = response.headers.get("Retry-After")
        try:
            seconds = float(header) if header is not None else None
        except ValueError:  # an HTTP-date: Shopify sends seconds; fall back to a short wait
            seconds = None
        if seconds is None or not math.isfinite(seconds) or seconds < 0:
            return 1.0
        return min(seconds, _MAX_RETRY_AFTER)

    @staticmethod
    def _json(response: requests.Response) -> dict[str, Any] | None:
        try:
            body = response.json()
        except ValueError:  # requests' JSONDecodeError is a ValueError
            return None
        return body if isinstance(body, dict) else None


# --- helpers -------------------------------------------------------------------------------------------------


def _mapping(value: object) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _number(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def _error_codes(errors: object) -> set[str]:
    codes: set[str] = set()
    if isinstance(errors, list):
        for error in errors:
            code = _mapping(_mapping(error).get("extensions")).get("code")
            if isinstance(code, str):
                codes.add(code)
    return codes


def _messages(errors: object) -> str:
    if isinstance(errors, str):  # REST-style {"errors": "..."} bodies
        return errors[:500]
    if isinstance(errors, list):
        texts = [str(_mapping(e).get("message", e)) for e in errors]
        return "; ".join(texts)[:500]
    return str(errors)[:500]


def _snippet(response: requests.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text[:200]
    if isinstance(body, dict) and "errors" in body:
        return _messages(body["errors"])
    return response.text[:200]


def _at_path(data: Mapping[str, Any], path: Sequence[str]) -> Mapping[str, Any]:
    node: object = data
    for key in path:
        node = _mapping(node).get(key)
    if not isinstance(node, Mapping):
        raise InvalidRequest(f"no connection at {'.'.join(path)} in the response")
    return node


def _connection_nodes(connection: Mapping[str, Any], path: Sequence[str]) -> Iterator[dict[str, Any]]:
    nodes = connection.get("nodes")
    if nodes is None and isinstance(connection.get("edges"), list):
        nodes = [_mapping(edge).get("node") for edge in connection["edges"]]
    if not isinstance(nodes, list):
        raise InvalidRequest(f"connection at {'.'.join(path)} has neither nodes nor edges")
    for node in nodes:
        if isinstance(node, dict):
            yield node
