"""Shopify App Proxy requests: verify the signature and read who the request is for.

Shopify forwards ``https://<shop>/<prefix>/<subpath>/...`` (``/apps/backsoon`` unless the merchant changed it) to
our proxy URL and appends ``shop``, ``logged_in_customer_id``, ``path_prefix`` (that ``/<prefix>/<subpath>``),
``timestamp`` and ``signature`` to the query. The signature is the
hex HMAC-SHA256, keyed by the app's client secret, of every other query parameter rendered as ``key=value`` (a
repeated key's values joined by ",") with those strings sorted and concatenated with no separator (shopify.dev,
"Authenticate app proxies"; the Ruby reference is ``collect { "#{k}=#{Array(v).join(',')}" }.sort.join``). The
check itself lives in :func:`integrations.shopify.verify.verify_app_proxy`; this module turns a verified query into
the shop and customer it names. Only the query is signed, never a POST body: the shop is authentic, the body is
as trustworthy as any public form post.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from integrations.shopify.app_config import PROXY_PREFIX, PROXY_SUBPATH
from integrations.shopify.verify import (
    DEFAULT_MAX_AGE,
    QueryInput,
    _query_params,
    _single,
    is_valid_shop_domain,
    verify_app_proxy,
)

__all__ = ["ProxyRequest", "proxy_path", "read_proxy_request"]

# The prefixes a merchant can pick for an app's proxy, and the subpath characters Shopify allows.
PROXY_PREFIXES = ("apps", "a", "community", "tools")
DEFAULT_PROXY_PATH = f"/{PROXY_PREFIX}/{PROXY_SUBPATH}"  # shopify.app.toml's, until a merchant moves it
_PATH_PREFIX = re.compile(r"/(?:" + "|".join(PROXY_PREFIXES) + r")/[A-Za-z0-9_-]{1,100}")


def proxy_path(path_prefix: str | None) -> str | None:
    """The shop's proxy path (``/apps/backsoon``, ``/a/restock``, …) from a path_prefix; None if it is not one."""
    if path_prefix is None:
        return None
    value = path_prefix.rstrip("/")
    return value if _PATH_PREFIX.fullmatch(value) else None


@dataclass(frozen=True, slots=True)
class ProxyRequest:
    """A verified App Proxy request: the shop domain (lowercase), the logged-in customer, if any, and the shop's
    proxy path (``path_prefix``: where the merchant mounted the proxy; the configured one if Shopify sent none)."""

    shop: str
    customer_id: str | None
    path_prefix: str


def read_proxy_request(
    query: QueryInput,
    secrets: str | Sequence[str],
    *,
    max_age: float | None = DEFAULT_MAX_AGE,
    now: float | None = None,
) -> ProxyRequest | None:
    """The shop and customer of a correctly signed, fresh App Proxy query; None for anything else.

    ``secrets`` is the current client secret and, during a rotation, the old one. Raises ValueError only when no
    secret is configured at all (a deployment error, not a bad request).
    """
    if not verify_app_proxy(query, secrets, max_age=max_age, now=now):
        return None
    params = _query_params(query)
    if params is None:
        return None
    shop = _single(params, "shop")
    if shop is None or not is_valid_shop_domain(shop):
        return None
    customer = _single(params, "logged_in_customer_id") or None
    path = proxy_path(_single(params, "path_prefix")) or DEFAULT_PROXY_PATH
    return ProxyRequest(shop=shop.lower(), customer_id=customer, path_prefix=path)
