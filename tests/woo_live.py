"""The live WooCommerce 9.4.3 captures (tests/fixtures/woocommerce/live-9.4.3) served by `responses`.

Each capture is served with its own status, Content-Type and raw body. Every request is checked the way the store
checks it: signed requests must carry a signature WooCommerce's own algorithm accepts (OAuth 1.0a over http, HTTP
Basic over https), and the public site index must carry no key at all.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import parse_qsl, quote, urlsplit

import requests
import responses

from integrations.woocommerce.identity import SYSTEM_STATUS_FIELDS
from tests.conftest import FIXTURES

LIVE = FIXTURES / "woocommerce" / "live-9.4.3"
CONSTRUCTED = FIXTURES / "woocommerce" / "constructed"

Matcher = Callable[[requests.PreparedRequest], tuple[bool, str]]

# Path → (capture, the exact query the identity reader sends, besides the OAuth parameters).
IDENTITY: dict[str, tuple[str, dict[str, str]]] = {
    "/wp-json/": ("site-index", {"_fields": "name,gmt_offset,timezone_string,site_logo"}),
    "/wp-json/wc/v3/settings/general": ("wc-settings-general", {"_fields": "id,value"}),
    "/wp-json/wc/v3/customers": (
        "wc-customers-role-administrator",
        {"role": "administrator", "orderby": "id", "order": "asc", "per_page": "1", "_fields": "id,email"},
    ),
    "/wp-json/wc/v3/settings/email": ("wc-settings-email", {"_fields": "id,value,default"}),
    "/wp-json/wc/v3/system_status": ("wc-system-status", {"_fields": ",".join(SYSTEM_STATUS_FIELDS)}),
}


def live(name: str) -> tuple[int, dict[str, str], bytes]:
    """A capture's status, response headers and raw body."""
    head = (LIVE / f"{name}.headers.txt").read_bytes().decode("latin-1").split("\r\n")  # CRLF, kept as captured
    headers = dict(line.split(": ", 1) for line in head[1:] if ": " in line)
    return int(head[0].split()[1]), headers, (LIVE / f"{name}.json").read_bytes()


def rawurlencode(text: str) -> str:
    """PHP's rawurlencode (RFC 3986): everything but letters, digits and -._~ is percent-encoded."""
    return quote(text, safe="-._~")


def woocommerce_accepts(request: requests.PreparedRequest, key: str, secret: str) -> bool:
    """True when WooCommerce's OAuth 1.0a check (WC_REST_Authentication::check_oauth_signature) passes.

    The store decodes the query ($_GET), sorts it by name, encodes each name and value, joins each pair with "="
    and encodes that pair again, so a comma in a value is signed as %252C.
    """
    parts = urlsplit(request.url or "")
    params = dict(parse_qsl(parts.query, keep_blank_values=True))
    signature = params.pop("oauth_signature", "")
    if params.get("oauth_consumer_key") != key:
        return False
    pairs = [rawurlencode(f"{rawurlencode(k)}={rawurlencode(v)}") for k, v in sorted(params.items())]
    base = f"{request.method}&{rawurlencode(f'{parts.scheme}://{parts.netloc}{parts.path}')}&{'%26'.join(pairs)}"
    digest = hmac.new(f"{secret}&".encode(), base.encode(), hashlib.sha256).digest()
    return hmac.compare_digest(base64.b64encode(digest).decode(), signature)


def request_matcher(query: Mapping[str, str], *, key: str, secret: str, signed: bool) -> Matcher:
    """Match the exact query (besides OAuth's) and the credentials the store expects on this route."""

    def match(request: requests.PreparedRequest) -> tuple[bool, str]:
        parts = urlsplit(request.url or "")
        pairs = parse_qsl(parts.query, keep_blank_values=True)
        given = {k: v for k, v in pairs if not k.startswith("oauth_")}
        # Over https the store also takes the key in the query (the client's retry for hosts that drop the header).
        in_query = (given.pop("consumer_key", None), given.pop("consumer_secret", None))
        if given != dict(query) or len(pairs) != len({k for k, _ in pairs}):
            return False, f"query {given} != {dict(query)}"
        oauth = any(k.startswith("oauth_") for k, _ in pairs)
        basic = "Basic " + base64.b64encode(f"{key}:{secret}".encode()).decode()
        authorization = request.headers.get("Authorization")
        if not signed:
            unsigned = not oauth and authorization is None and in_query == (None, None)
            return unsigned, "the public index must be asked without the key"
        if parts.scheme == "https":
            return authorization == basic or in_query == (key, secret), "expected the key, by HTTP Basic or query"
        return woocommerce_accepts(request, key, secret), "OAuth signature WooCommerce would refuse"

    return match


def serve(
    base: str,
    path: str,
    name: str,
    query: Mapping[str, str],
    *,
    key: str,
    secret: str,
    body: bytes | None = None,
    status: int | None = None,
) -> None:
    """Serve one capture (or a body and status in its place) at base + path, for exactly this query."""
    captured_status, headers, captured_body = live(name)
    responses.add(
        "GET",
        base + path,
        body=captured_body if body is None else body,
        status=captured_status if status is None else status,
        content_type=headers["Content-Type"],
        headers={k: v for k, v in headers.items() if k in ("X-WP-Total", "X-WP-TotalPages")},
        match=[request_matcher(query, key=key, secret=secret, signed=path != "/wp-json/")],
    )


def serve_identity(
    base: str,
    *,
    key: str,
    secret: str,
    replace: Mapping[str, tuple[int, bytes]] | None = None,
) -> None:
    """Serve the live store's identity sources at base; ``replace`` answers a path with (status, body) instead."""
    for path, (name, query) in IDENTITY.items():
        status, body = (replace or {}).get(path, (None, None))
        serve(base, path, name, query, key=key, secret=secret, body=body, status=status)


def constructed(name: str) -> dict[str, Any]:
    """A hand-written answer of tests/fixtures/woocommerce/constructed: {request, status, headers, body}."""
    found: dict[str, Any] = json.loads((CONSTRUCTED / f"{name}.json").read_text())
    return found


def serve_constructed(base: str, name: str, *, key: str, secret: str) -> None:
    """Serve a constructed answer at base + its path, for exactly its query and without the key."""
    answer = constructed(name)
    responses.add(
        answer["request"]["method"],
        base + answer["request"]["path"],
        body=json.dumps(answer["body"]),
        status=answer["status"],
        content_type=answer["headers"]["Content-Type"],
        match=[request_matcher(answer["request"]["query"], key=key, secret=secret, signed=False)],
    )


def serve_identity_with_site_logo(base: str, *, key: str, secret: str) -> None:
    """The live store's identity after a site logo was set: the constructed index, and the logo's attachment."""
    index = json.dumps(constructed("site-index-site-logo")["body"]).encode()
    serve_identity(base, key=key, secret=secret, replace={"/wp-json/": (200, index)})
    serve_constructed(base, "media-site-logo", key=key, secret=secret)
