"""WooCommerce REST v3 client over the ``woocommerce`` package: typed errors, stable paging, SSRF guard.

Auth follows the package: over https, HTTP Basic (or the consumer key/secret in the query string when the server
strips the Authorization header, as some hosts do); over plain http, OAuth 1.0a signed query strings. The package
sends with ``requests.request``; ``_SessionAPI`` keeps its URL building and signing but sends through our session,
so timeouts, the user agent and connection pooling apply. The package's OAuth signature encodes each query value
twice, as WooCommerce checks it, so commas (``_fields``) and colons (GMT times) are signed correctly; it leaves a
"/" unencoded, though, which WooCommerce would refuse, so no query value may contain one.

WordPress's public site index (``GET /wp-json/``, the only source of the store's timezone) is read through the same
session and SSRF guard, without the key: WordPress's own routes ignore a WooCommerce key.

Paging is by page number with ``orderby=id&order=asc`` and ``X-WP-TotalPages``: the default date order skips and
repeats products that share a creation second, and ``Link`` URLs copy our OAuth parameters, so they are never
followed.
"""

from __future__ import annotations

import ipaddress
import json
import socket
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, TypeAlias
from urllib.parse import urlencode, urlsplit

import requests
from woocommerce import API

from integrations.base import AuthRevoked, InvalidRequest, NotFound, PlatformError, RateLimited, TransientError
from integrations.http import DEFAULT_TIMEOUT, make_session

__all__ = [
    "BATCH_LIMIT",
    "MAX_PAGE_SIZE",
    "BatchItemError",
    "Resolver",
    "WooClient",
    "WooInvalidRequest",
    "check_public_url",
]

MAX_PAGE_SIZE = 100
"""WooCommerce refuses per_page above 100 (rest_invalid_param)."""

BATCH_LIMIT = 100
"""Most objects one /batch request may create, update and delete together."""

JSON: TypeAlias = Any
ParamValue: TypeAlias = str | int | bool | datetime | Sequence[str | int] | None
Resolver: TypeAlias = Callable[..., Sequence[tuple[Any, ...]]]


class WooInvalidRequest(InvalidRequest):
    """A 4xx WooCommerce refused, with its per-parameter messages (``rest_invalid_param``)."""

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        code: str | None = None,
        params: Mapping[str, Any] | None = None,
        details: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(message, status=status, code=code)
        self.params: dict[str, Any] = dict(params or {})
        self.details: dict[str, Any] = dict(details or {})


@dataclass(frozen=True, slots=True)
class BatchItemError:
    """One object a /batch call refused while the call itself answered 200."""

    action: str  # create | update | delete
    id: str | None
    code: str
    message: str
    status: int | None


# --- SSRF guard ----------------------------------------------------------------------------------------------


def _is_public(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%", 1)[0])  # drop an IPv6 zone id
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped  # ::ffff:127.0.0.1 reaches loopback
    return ip.is_global and not ip.is_multicast


def check_public_url(url: str, resolver: Resolver = socket.getaddrinfo, *, allow_private: bool = False) -> None:
    """Raise InvalidRequest unless url is http(s) and every address its host resolves to is public."""
    # A merchant types the store URL, and we call it from inside our network: without this, "http://10.0.0.5" or a
    # name resolving to 169.254.169.254 would make us probe internal services. The check runs before every request
    # (not just at connect time), which narrows but cannot close a DNS-rebinding window; egress firewalling does.
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise InvalidRequest(f"not a valid store URL: {url!r}") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InvalidRequest(f"store URL must be http(s) with a host: {url!r}")
    if parts.username is not None or parts.password is not None:
        raise InvalidRequest("store URL must not carry credentials")
    if allow_private:
        return
    try:
        infos = resolver(parts.hostname, port or (443 if parts.scheme == "https" else 80), type=socket.SOCK_STREAM)
    except (OSError, UnicodeError) as exc:
        raise InvalidRequest(f"store host {parts.hostname!r} does not resolve: {exc}") from None
    addresses = {str(info[4][0]) for info in infos}
    if not addresses:
        raise InvalidRequest(f"store host {parts.hostname!r} does not resolve")
    for address in sorted(addresses):
        try:
            public = _is_public(address)
        except ValueError:
            public = False
        if not public:
            raise InvalidRequest(f"store host {parts.hostname!r} resolves to non-public address {address}")


# --- transport -----------------------------------------------------------------------------------------------


class _SessionAPI(API):  # type: ignore[misc]  # the woocommerce package is untyped
    """The package's API, sending through a requests Session instead of the module-level requests.request."""

    def __init__(self, url: str, key: str, secret: str, *, session: requests.Session, **kwargs: Any) -> None:
        super().__init__(url, key, secret, **kwargs)
        self.session = session

    # Replaces the name-mangled API.__request; URL building and OAuth signing stay the package's.
    def _API__request(
        self, method: str, endpoint: str, data: Any, params: dict[str, Any] | None = None, **kwargs: Any
    ) -> requests.Response:
        params = dict(params or {})
        url: str = self._API__get_url(endpoint)
        auth: requests.auth.AuthBase | None = None
        headers = {"user-agent": self.user_agent, "accept": "application/json"}
        if self.is_ssl and not self.query_string_auth:
            auth = requests.auth.HTTPBasicAuth(self.consumer_key, self.consumer_secret)
        elif self.is_ssl:
            params.update({"consumer_key": self.consumer_key, "consumer_secret": self.consumer_secret})
        else:
            # OAuth signs the full query, so the parameters go into the URL before signing and not again after
            # (the package passes them twice, which only works because PHP keeps the last copy).
            url = self._API__get_oauth_url(f"{url}?{urlencode(params)}" if params else url, method)
            params = {}
        body = None
        if data is not None:
            body = json.dumps(data, ensure_ascii=False, default=str).encode("utf-8")
            headers["content-type"] = "application/json;charset=utf-8"
        return self.session.request(
            method,
            url,
            params=params or None,
            data=body,
            headers=headers,
            auth=auth,
            timeout=self.timeout,
            verify=self.verify_ssl,
            # A redirect could lead to an address check_public_url never saw; WordPress REST needs none.
            allow_redirects=False,
        )


def _param(value: ParamValue) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        return _gmt(value)
    if isinstance(value, str | int):
        return str(value)
    return ",".join(str(v) for v in value)  # WooCommerce reads list filters (include, exclude…) comma-separated


def _gmt(value: datetime) -> str:
    if value.tzinfo is None:
        raise ValueError("modified_after must be timezone-aware")  # naive would be guessed as site-local time
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S")


def _error_body(response: requests.Response) -> tuple[str | None, str, dict[str, Any]]:
    try:
        body = response.json()
    except ValueError:
        return None, response.text[:200] or response.reason or "", {}
    if not isinstance(body, dict):
        return None, str(body)[:200], {}
    data = body.get("data")
    code = body.get("code")
    message = body.get("message")
    return (
        code if isinstance(code, str) else None,
        message if isinstance(message, str) else "",
        data if isinstance(data, dict) else {},
    )


def _retry_after(response: requests.Response) -> float:
    try:
        return max(0.0, float(response.headers.get("Retry-After", "1")))
    except ValueError:
        return 1.0


def _raise_for(response: requests.Response, what: str) -> None:
    status = response.status_code
    if status < 300:
        return
    code, message, data = _error_body(response)
    text = " ".join(part for part in (f"{what}: HTTP {status}", code, message) if part)
    if status == 429:
        raise RateLimited(text, retry_after=_retry_after(response), status=status)
    if status >= 500:
        raise TransientError(text, status=status, code=code)
    if status in (401, 403):
        # 401: the key was revoked or the secret is wrong; 403: the key lacks the permission (e.g. read-only).
        # Either way only the merchant can fix it, so the store must be marked disconnected.
        raise AuthRevoked(text, status=status, code=code)
    if status == 404:
        raise NotFound(text, status=status, code=code)
    if 300 <= status < 400:
        raise InvalidRequest(f"{what}: store redirected to {response.headers.get('Location')!r}", status=status)
    params = data.get("params")
    details = data.get("details")
    raise WooInvalidRequest(
        text,
        status=status,
        code=code,
        params=params if isinstance(params, dict) else None,
        details=details if isinstance(details, dict) else None,
    )


class WooClient:
    """A WooCommerce store's REST v3 API: paged reads, batch stock writes, webhooks; errors as integrations.base."""

    def __init__(
        self,
        store_url: str,
        consumer_key: str,
        consumer_secret: str,
        *,
        session: requests.Session | None = None,
        timeout: float | tuple[float, float] = DEFAULT_TIMEOUT,
        query_string_auth: bool = False,
        page_size: int = MAX_PAGE_SIZE,
        get_retries: int = 2,
        sleep: Callable[[float], None] = time.sleep,
        resolver: Resolver = socket.getaddrinfo,
        allow_private: bool = False,
    ) -> None:
        if not 1 <= page_size <= MAX_PAGE_SIZE:
            raise ValueError(f"page_size must be 1..{MAX_PAGE_SIZE}")
        self.store_url = store_url.rstrip("/")
        self._resolver = resolver
        self._allow_private = allow_private
        check_public_url(self.store_url, resolver, allow_private=allow_private)
        self.page_size = page_size
        self.get_retries = get_retries
        self._sleep = sleep
        self._one_at_a_time = threading.Lock()
        # Every HTTP request sent (retries included): what a caller's pass cost the store.
        self.requests_sent = 0
        # Retries are ours (GET only, typed errors); the session's own would retry PUTs and hide statuses.
        self._api = _SessionAPI(
            self.store_url,
            consumer_key,
            consumer_secret,
            session=session if session is not None else make_session(retries=0, timeout=timeout),
            version="wc/v3",
            timeout=timeout,
            query_string_auth=query_string_auth,
        )

    @property
    def uses_query_string_auth(self) -> bool:
        """True once https calls carry the key in the query string instead of an Authorization header."""
        return bool(self._api.is_ssl and self._api.query_string_auth)

    # --- one request ---

    def _send(
        self,
        method: str,
        endpoint: str,
        *,
        params: Mapping[str, ParamValue] | None,
        data: Any,
        public: bool = False,
    ) -> Any:
        check_public_url(self.store_url, self._resolver, allow_private=self._allow_private)
        query = {k: v for k, v in ((k, _param(v)) for k, v in (params or {}).items()) if v is not None}
        what = f"{method} /wp-json/{endpoint}" if public else f"{method} {endpoint}"
        try:
            # One request to the merchant's host at a time, also when a page is read ahead on a helper thread.
            with self._one_at_a_time:
                self.requests_sent += 1
                if public:
                    response = self._send_public(method, endpoint, query)
                else:
                    response = self._api._API__request(method, endpoint, data, params=query)
        except requests.Timeout as exc:
            raise TransientError(f"{what}: timed out ({exc.__class__.__name__})") from None
        except requests.ConnectionError as exc:
            raise TransientError(f"{what}: connection failed ({exc.__class__.__name__})") from None
        except requests.RequestException as exc:
            raise PlatformError(f"{what}: {exc.__class__.__name__}") from None
        if response.status_code == 401 and not public and self._api.is_ssl and not self._api.query_string_auth:
            # Some hosts (CGI/FastCGI setups) drop the Authorization header, so WooCommerce sees no credentials.
            # Nothing ran on a 401, so one retry with the key in the query string is safe even for a POST; keep
            # that mode when it works.
            self._api.query_string_auth = True
            try:
                return self._send(method, endpoint, params=params, data=data)
            except AuthRevoked:
                self._api.query_string_auth = False  # the key itself is bad: keep the header mode for next time
                raise
        _raise_for(response, what)
        return response

    def _send_public(self, method: str, endpoint: str, query: Mapping[str, str]) -> requests.Response:
        # WordPress's own routes outside wc/ ignore a WooCommerce key (a key cannot even read wp/v2), so the key is
        # not sent where it proves nothing; same session, timeouts and no redirects as the signed calls.
        return self._api.session.request(
            method,
            f"{self.store_url}/wp-json/{endpoint}",
            params=dict(query) or None,
            headers={"user-agent": self._api.user_agent, "accept": "application/json"},
            timeout=self._api.timeout,
            verify=self._api.verify_ssl,
            allow_redirects=False,
        )

    def _request(
        self,
        method: str,
        endpoint: str,
        *,
        params: Mapping[str, ParamValue] | None = None,
        data: Any = None,
        public: bool = False,
    ) -> requests.Response:
        attempt = 0
        while True:
            try:
                response: requests.Response = self._send(method, endpoint, params=params, data=data, public=public)
                return response
            except TransientError as exc:
                # Only reads are retried: a POST/PUT that timed out may have been applied.
                if method != "GET" or attempt >= self.get_retries:
                    raise
                delay = exc.retry_after if isinstance(exc, RateLimited) else 0.5 * 2**attempt
                self._sleep(min(delay, 30.0))
                attempt += 1

    @staticmethod
    def _json(response: requests.Response, what: str) -> Any:
        try:
            # parse_float=Decimal keeps line-item prices (JSON numbers) exact.
            return response.json(parse_float=Decimal)
        except ValueError:
            # A 200 with HTML is a caching or security plugin answering instead of WooCommerce.
            raise PlatformError(f"{what}: response is not JSON", status=response.status_code) from None

    def get(self, endpoint: str, params: Mapping[str, ParamValue] | None = None) -> Any:
        """GET one endpoint (e.g. ``products/10``) and return its JSON."""
        return self._json(self._request("GET", endpoint, params=params), f"GET {endpoint}")

    def get_site_index(self, fields: Sequence[str]) -> dict[str, Any]:
        """WordPress's public site index (``GET /wp-json/``, sent without the key), only the given fields."""
        # _fields matters: the whole index carries the routes map (1.3 MB on a plain WooCommerce store).
        response = self._request("GET", "", params={"_fields": fields}, public=True)
        body = self._json(response, "GET /wp-json/")
        if not isinstance(body, dict):
            raise PlatformError("GET /wp-json/: expected a JSON object")
        return body

    def get_public(self, path: str, fields: Sequence[str]) -> Any:
        """A public WordPress route (``GET /wp-json/<path>``, sent without the key), only the given fields."""
        # Without the key: WordPress would take a WooCommerce key on a wp/v2 route as a wrong application password.
        response = self._request("GET", path, params={"_fields": fields}, public=True)
        return self._json(response, f"GET /wp-json/{path}")

    # --- paging ---

    def iter_pages(
        self, endpoint: str, params: Mapping[str, ParamValue] | None = None, *, read_ahead: bool = False
    ) -> Iterator[dict[str, Any]]:
        """Every object of a list endpoint, page by page in id order, until X-WP-TotalPages.

        With read_ahead, the next page is requested on a helper thread as soon as this one has arrived (when
        X-WP-TotalPages says there is one), so the store's latency overlaps the parsing and the caller's work on
        this page; still one request for the endpoint in flight at a time.
        """
        query: dict[str, ParamValue] = {"per_page": self.page_size, "orderby": "id", "order": "asc", **(params or {})}

        def fetch(number: int) -> requests.Response:
            return self._request("GET", endpoint, params={**query, "page": number})

        helper = ThreadPoolExecutor(max_workers=1, thread_name_prefix="woo-read-ahead") if read_ahead else None
        try:
            page = 1
            response = fetch(page)
            while True:
                total = response.headers.get("X-WP-TotalPages")
                last = int(total) if total is not None and total.strip().isdigit() else None
                ahead = (
                    helper.submit(fetch, page + 1) if helper is not None and last is not None and page < last else None
                )
                items = self._json(response, f"GET {endpoint}")
                if not isinstance(items, list):
                    raise PlatformError(f"GET {endpoint}: expected a JSON array")
                for item in items:
                    if not isinstance(item, dict):
                        raise PlatformError(f"GET {endpoint}: expected JSON objects in the array")
                    yield item
                if last is not None:
                    if page >= last:
                        return
                elif len(items) < self.page_size:
                    return  # without the header, a short page is the last one
                if not items:
                    return  # never loop on an empty page, whatever the header says
                response = ahead.result() if ahead is not None else fetch(page + 1)
                page += 1
        finally:
            if helper is not None:
                # A caller that stops early waits for the request in flight (bounded by its timeout), then no more.
                helper.shutdown(wait=True, cancel_futures=True)

    def iter_products(
        self, modified_after: datetime | None = None, *, read_ahead: bool = False, **filters: ParamValue
    ) -> Iterator[dict[str, Any]]:
        """Every product (raw JSON), optionally only those modified after an aware time (see iter_pages)."""
        params: dict[str, ParamValue] = dict(filters)
        if modified_after is not None:
            # Without dates_are_gmt=true WooCommerce reads the time as site-local and misses changes.
            params.update(modified_after=_gmt(modified_after), dates_are_gmt=True)
        return self.iter_pages("products", params, read_ahead=read_ahead)

    def count_products(self) -> int:
        """How many products the products list holds (its default ``status=any``: trash left out), from X-WP-Total.

        One product's id is asked for (``per_page=1&_fields=id``): WordPress trims every REST response to
        ``_fields``, so the answer is a few bytes whatever the catalog's size.
        """
        response = self._request("GET", "products", params={"per_page": 1, "_fields": "id"})
        total = response.headers.get("X-WP-Total", "").strip()
        if not total.isdigit():
            raise PlatformError(f"GET products: no X-WP-Total header (got {total!r})")
        return int(total)

    def iter_product_ids(self) -> Iterator[str]:
        """The id of every product the products list holds (``_fields=id``, page by page in id order)."""
        for item in self.iter_pages("products", {"_fields": "id"}):
            yield str(_raw_product_id(item))

    def iter_variations(self, product_id: int | str) -> Iterator[dict[str, Any]]:
        """Every variation of a variable product (raw JSON)."""
        return self.iter_pages(f"products/{_path_id(product_id)}/variations")

    def iter_orders(self, modified_after: datetime | None = None, **filters: ParamValue) -> Iterator[dict[str, Any]]:
        """Every order (raw JSON), optionally only those modified after an aware time."""
        params: dict[str, ParamValue] = dict(filters)
        if modified_after is not None:
            params.update(modified_after=_gmt(modified_after), dates_are_gmt=True)
        return self.iter_pages("orders", params)

    def get_product(self, product_id: int | str) -> dict[str, Any]:
        """One product (raw JSON; a trashed one answers with ``status: "trash"``); NotFound when deleted for good."""
        body = self.get(f"products/{_path_id(product_id)}")
        if not isinstance(body, dict):
            raise PlatformError(f"GET products/{product_id}: expected a JSON object")
        return body

    def get_order(self, order_id: int | str) -> dict[str, Any]:
        """One order (raw JSON, the same body its order.* webhooks carry); NotFound when it is gone."""
        body = self.get(f"orders/{_path_id(order_id)}")
        if not isinstance(body, dict):
            raise PlatformError(f"GET orders/{order_id}: expected a JSON object")
        return body

    def iter_refunds(self, order_id: int | str) -> Iterator[dict[str, Any]]:
        """Every refund of an order (raw JSON, line quantities negative)."""
        return self.iter_pages(f"orders/{_path_id(order_id)}/refunds")

    def list_webhooks(self) -> list[dict[str, Any]]:
        """Every webhook of the store."""
        return list(self.iter_pages("webhooks"))

    # --- writes ---

    def set_webhook_status(self, webhook_id: int | str, status: str) -> dict[str, Any]:
        """Set one webhook's status (active, paused or disabled) and return the webhook as WooCommerce now has it."""
        if status not in ("active", "paused", "disabled"):
            raise ValueError(f"unknown webhook status {status!r}")
        endpoint = f"webhooks/{_path_id(webhook_id)}"
        body = self._json(self._request("PUT", endpoint, data={"status": status}), f"PUT {endpoint}")
        if not isinstance(body, dict):
            raise PlatformError(f"PUT {endpoint}: expected a JSON object")
        return body

    def batch_update_products(self, updates: Sequence[Mapping[str, Any]]) -> list[BatchItemError]:
        """Apply product updates in /products/batch calls of ≤100; return the items WooCommerce refused."""
        return self._batch_update("products/batch", updates)

    def batch_update_variations(
        self, product_id: int | str, updates: Sequence[Mapping[str, Any]]
    ) -> list[BatchItemError]:
        """Apply updates to one variable product's variations in /variations/batch calls of ≤100; return refusals."""
        return self._batch_update(f"products/{_path_id(product_id)}/variations/batch", updates)

    def _batch_update(self, endpoint: str, updates: Sequence[Mapping[str, Any]]) -> list[BatchItemError]:
        errors: list[BatchItemError] = []
        for start in range(0, len(updates), BATCH_LIMIT):
            chunk = [dict(u) for u in updates[start : start + BATCH_LIMIT]]
            response = self._request("POST", endpoint, data={"update": chunk})
            body = self._json(response, f"POST {endpoint}")
            if not isinstance(body, dict):
                raise PlatformError(f"POST {endpoint}: expected a JSON object")
            # A refused item comes back as {"id": …, "error": {code, message, data: {status}}} inside a 200.
            for action in ("create", "update", "delete"):
                items = body.get(action)
                for item in items if isinstance(items, list) else []:
                    if isinstance(item, dict) and isinstance(item.get("error"), dict):
                        errors.append(_batch_error(action, item))
        return errors

    def create_webhook(self, topic: str, delivery_url: str, secret: str, *, name: str | None = None) -> dict[str, Any]:
        """Create an active webhook signed with our secret (WooCommerce does not echo it back)."""
        if not secret:
            raise ValueError("a webhook secret is required")  # WooCommerce would otherwise sign with a default
        body = self._json(
            self._request(
                "POST",
                "webhooks",
                data={
                    "name": name or f"BackSoon {topic}",
                    "topic": topic,
                    "delivery_url": delivery_url,
                    "secret": secret,
                    "status": "active",
                },
            ),
            "POST webhooks",
        )
        if not isinstance(body, dict):
            raise PlatformError("POST webhooks: expected a JSON object")
        return body

    def delete_webhook(self, webhook_id: int | str) -> None:
        """Delete a webhook for good (``force=true``: webhooks have no trash, WooCommerce refuses without it)."""
        self._request("DELETE", f"webhooks/{_path_id(webhook_id)}", params={"force": "true"})


def _raw_product_id(item: Mapping[str, Any]) -> int:
    value = item.get("id")
    if isinstance(value, bool) or not isinstance(value, int):
        raise PlatformError(f"GET products: expected a numeric id, got {value!r}")
    return value


def _path_id(value: int | str) -> str:
    text = str(value)
    if not text.isdigit():
        raise ValueError(f"not a numeric id: {value!r}")  # keeps ids from rewriting the endpoint path
    return text


def _batch_error(action: str, item: Mapping[str, Any]) -> BatchItemError:
    error: Mapping[str, Any] = item["error"]
    data = error.get("data")
    status = data.get("status") if isinstance(data, dict) else None
    raw_id = item.get("id")
    return BatchItemError(
        action=action,
        id=None if raw_id is None else str(raw_id),
        code=str(error.get("code", "")),
        message=str(error.get("message", "")),
        status=status if isinstance(status, int) and not isinstance(status, bool) else None,
    )
