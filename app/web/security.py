"""What every response and request body goes through: proxy headers, security headers, guarded JSON bodies.

- **Proxies.** ``TRUSTED_PROXY_HOPS`` proxies in front of the app are believed about the client's address, scheme
  and host (werkzeug's ProxyFix, counting from the right); with 0, ``X-Forwarded-*`` is ignored and the peer is
  the client, so a shopper cannot pick the address its rate limits count against.
- **Headers.** Every response says ``nosniff`` and a ``Referrer-Policy``, gets HSTS once served over https, and
  may not be framed (``frame-ancestors 'none'`` and ``X-Frame-Options: DENY``), except the pages of the embedded
  Shopify admin, which only the signed-in shop's admin may frame (Shopify's rule for embedded apps).
- **JSON bodies.** A body nested deeper than :data:`MAX_JSON_DEPTH` (or too deep for the parser) is invalid JSON
  like any other, so every ``get_json`` caller answers its own 400 instead of failing on a ``RecursionError``.
"""

from __future__ import annotations

import json
from typing import Any

from flask import Flask, g, request
from flask.json.provider import DefaultJSONProvider
from werkzeug.middleware.proxy_fix import ProxyFix
from werkzeug.wrappers import Response

from app.config import Settings

# No JSON body we accept nests deeper than a few levels; 32 leaves room and stays far from the recursion limit.
MAX_JSON_DEPTH = 32
HSTS = "max-age=31536000"
REFERRER_POLICY = "same-origin"
NOT_FRAMED = "frame-ancestors 'none'"


def install(app: Flask, settings: Settings) -> None:
    """Put the proxy fix, the guarded JSON provider and the security headers on the app."""
    hops = settings.trusted_proxy_hops
    if hops:
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops)  # type: ignore[method-assign]
    app.json = GuardedJSONProvider(app)
    app.json.sort_keys = False
    https_app = settings.app_url.startswith("https://")

    @app.after_request
    def _security_headers(resp: Response) -> Response:
        headers = resp.headers
        policy = headers.get("Content-Security-Policy")
        if policy is None:
            headers["Content-Security-Policy"] = embedded_frame_ancestors() or NOT_FRAMED
        elif "frame-ancestors" not in policy:
            headers["Content-Security-Policy"] = f"{policy}; {NOT_FRAMED}"
        if NOT_FRAMED in headers["Content-Security-Policy"]:
            # For browsers that predate frame-ancestors; a page the Shopify admin frames must not carry it.
            headers.setdefault("X-Frame-Options", "DENY")
        headers.setdefault("X-Content-Type-Options", "nosniff")
        headers.setdefault("Referrer-Policy", REFERRER_POLICY)
        if https_app or request.is_secure:
            headers.setdefault("Strict-Transport-Security", HSTS)
        return resp


def frame_ancestors(shop: str | None) -> str:
    """The CSP that lets only this shop's admin frame a page (Shopify's requirement), or nobody without a shop."""
    if not shop:
        return NOT_FRAMED
    return f"frame-ancestors https://{shop} https://admin.shopify.com"


def embedded_frame_ancestors() -> str | None:
    """The frame-ancestors of an embedded admin request (its shop verified by a session token), else None."""
    ctx = g.get("admin")
    if ctx is not None and ctx.embedded and ctx.shop:
        return frame_ancestors(ctx.shop)
    return None


class GuardedJSONProvider(DefaultJSONProvider):
    """Flask's JSON, refusing bodies nested too deeply as invalid (a ValueError, which get_json turns into a 400)."""

    def loads(self, s: str | bytes, **kwargs: Any) -> Any:
        """Parse ``s``; ValueError when it is not JSON or nests deeper than MAX_JSON_DEPTH."""
        try:
            value = json.loads(s, **kwargs)
        except RecursionError:
            raise ValueError("the JSON nests too deeply") from None
        if too_deep(value, MAX_JSON_DEPTH):
            raise ValueError(f"the JSON nests deeper than {MAX_JSON_DEPTH} levels")
        return value


def too_deep(value: object, limit: int) -> bool:
    """True when arrays and objects nest more than ``limit`` levels (walked without recursion)."""
    stack: list[tuple[object, int]] = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        children = node.values() if isinstance(node, dict) else node if isinstance(node, list) else None
        if children is None:
            continue
        if depth > limit:
            return True
        stack.extend((child, depth + 1) for child in children if isinstance(child, dict | list))
    return False
