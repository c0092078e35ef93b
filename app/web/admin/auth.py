"""Who is the merchant admin of this request: embedded Shopify session token, standalone cookie, or the demo.

Every admin page and call resolves one store and never takes a store id from the URL, so one store can never
name another's data; objects named in a URL (a variant, a purchase order) are then looked up *within* that store.

- **Embedded in the Shopify admin.** Session tokens, never cookies (a third-party cookie in the admin iframe is
  blocked by browsers). JSON calls carry ``Authorization: Bearer <token>`` (App Bridge adds it to ``fetch``); a page
  load carries ``id_token`` in the query, as Shopify and the bounce page put it there; an embedded form posts a fresh
  token in its ``id_token`` field (admin.js fills it on submit). A session token is not an ambient credential, so
  these requests need no CSRF token. A page load with ``shop`` and ``host`` but no token gets the bounce page, which
  asks App Bridge for a token and reloads.
- **Standalone** (WooCommerce and demo stores): a signed, HttpOnly, SameSite=Lax session cookie set by a single-use
  sign-in link or by the WooCommerce connect flow; every unsafe request must echo the session's CSRF token.
- **Demo mode** (``make demo``): the seeded demo store is signed in already, CSRF still applies.
"""

from __future__ import annotations

import functools
import hmac
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from typing import ParamSpec, TypeVar

from flask import g, make_response, redirect, render_template, request, session, url_for
from werkzeug.exceptions import HTTPException
from werkzeug.wrappers import Response

from app.models import Store, StoreStatus
from app.platforms.demo.platform import demo_store
from app.platforms.shopify.auth import api_secrets, find_shopify_store
from app.web.deps import abort_json, db_session, runtime
from integrations.shopify.verify import InvalidSessionToken, decode_session_token, is_valid_shop_domain

__all__ = [
    "SESSION_STORE_KEY",
    "AdminContext",
    "admin",
    "admin_required",
    "csrf_token",
    "sign_in",
    "sign_out",
]

SESSION_STORE_KEY = "admin_store_id"
_CSRF_KEY = "admin_csrf"
_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
APP_BRIDGE_URL = "https://cdn.shopify.com/shopifycloud/app-bridge.js"

P = ParamSpec("P")
R = TypeVar("R")


@dataclass(frozen=True, slots=True)
class AdminContext:
    """The signed-in store of this request and how it signed in."""

    store: Store
    via: str  # session_token | cookie | demo
    shop: str | None = None  # the myshopify domain when embedded
    host: str | None = None  # Shopify's base64 admin host, kept on embedded links

    @property
    def embedded(self) -> bool:
        """True inside the Shopify admin iframe."""
        return self.via == "session_token"

    @property
    def needs_csrf(self) -> bool:
        """Cookie-authenticated requests are the ones a cross-site form could forge."""
        return self.via in ("cookie", "demo")


class _NotSignedIn(HTTPException):
    code = 401


def _wants_json() -> bool:
    return request.path.startswith("/admin/api/") or request.accept_mimetypes.best == "application/json"


def csrf_token() -> str:
    """This session's CSRF token (created on first use), for forms and the X-CSRF-Token header."""
    token = session.get(_CSRF_KEY)
    if not isinstance(token, str) or len(token) < 32:
        token = secrets.token_urlsafe(32)
        session[_CSRF_KEY] = token
    return token


def sign_in(store_id: int) -> None:
    """Start a standalone admin session for a store (a fresh session: no fixation, a new CSRF token)."""
    session.clear()
    session[SESSION_STORE_KEY] = store_id
    session.permanent = True
    csrf_token()


def sign_out() -> None:
    """End the standalone admin session."""
    session.clear()


def _token_store(raw: str) -> Store | None:
    settings = runtime().settings
    if not (settings.shopify_api_key and settings.shopify_api_secret):
        return None
    try:
        token = decode_session_token(raw, settings.shopify_api_key, api_secrets(settings))
    except InvalidSessionToken:
        return None
    store = find_shopify_store(db_session(), token.shop)
    if store is None or store.status == StoreStatus.UNINSTALLED:
        return None
    g.admin_shop = token.shop
    return store


def _bearer() -> str:
    header = request.headers.get("Authorization", "")
    return header[7:].strip() if header[:7].lower() == "bearer " else ""


def _demo_store() -> Store | None:
    if not runtime().settings.demo:
        return None
    return demo_store(db_session())


def _embedded_params() -> tuple[str | None, str | None]:
    shop = request.values.get("shop")
    host = request.values.get("host")
    return (shop.lower() if shop and is_valid_shop_domain(shop.lower()) else None), host


def _resolve() -> AdminContext | Response:
    shop, host = _embedded_params()
    raw = _bearer() or request.values.get("id_token", "")
    if raw:
        store = _token_store(raw)
        if store is None:
            if _wants_json():
                resp = make_response({"error": {"code": "invalid_session_token", "message": "Reload the app."}}, 401)
                resp.headers["X-Shopify-Retry-Invalid-Session-Request"] = "1"
                return resp
            return _bounce(shop) if shop else _login_redirect()
        return AdminContext(store, "session_token", shop=g.get("admin_shop"), host=host)
    if shop and host and request.method in _SAFE_METHODS:
        # Embedded page load without a token (a link inside the app): App Bridge supplies one and reloads.
        return _bounce(shop)
    store_id = session.get(SESSION_STORE_KEY)
    if isinstance(store_id, int):
        store = db_session().get(Store, store_id)
        if store is not None and store.status != StoreStatus.UNINSTALLED:
            return AdminContext(store, "cookie")
        sign_out()
    demo = _demo_store()
    if demo is not None:
        return AdminContext(demo, "demo")
    if _wants_json():
        abort_json(401, "unauthorized", "Sign in to the BackSoon admin first.")
    return _login_redirect()


def _login_redirect() -> Response:
    return redirect(url_for("admin.login", next=request.full_path if request.method == "GET" else None))


def _bounce(shop: str) -> Response:
    settings = runtime().settings
    resp = make_response(
        render_template(
            "shopify/bounce.html",
            api_key=settings.shopify_api_key or "",
            app_bridge_url=APP_BRIDGE_URL,
            reload_url=request.full_path,
        )
    )
    resp.headers["Content-Security-Policy"] = f"frame-ancestors https://{shop} https://admin.shopify.com"
    return resp


def _check_csrf(ctx: AdminContext) -> Response | None:
    if request.method in _SAFE_METHODS or not ctx.needs_csrf:
        return None
    sent = request.headers.get("X-CSRF-Token") or request.form.get("csrf_token") or ""
    expected = session.get(_CSRF_KEY)
    if isinstance(expected, str) and sent and hmac.compare_digest(sent, expected):
        return None
    if _wants_json():
        abort_json(403, "csrf_failed", "The form's security token is missing or expired; reload the page.")
    resp = make_response(
        render_template(
            "admin/error.html",
            title="This form expired",
            message="For your security the form could not be accepted. Reload the page and try again.",
        ),
        403,
    )
    return resp


def admin() -> AdminContext:
    """The AdminContext of the current request (only inside an @admin_required view)."""
    ctx: AdminContext = g.admin
    return ctx


def admin_required(view: Callable[P, R]) -> Callable[P, R | Response]:
    """Resolve the signed-in store (or answer with the bounce page, a sign-in redirect or a 401/403)."""

    @functools.wraps(view)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R | Response:
        resolved = _resolve()
        if isinstance(resolved, Response):
            return resolved
        failed = _check_csrf(resolved)
        if failed is not None:
            return failed
        g.admin = resolved
        return view(*args, **kwargs)

    return wrapper


def security_headers(resp: Response) -> Response:
    """CSP frame-ancestors: only the signed-in shop's admin may frame an embedded page; nobody frames the rest."""
    ctx: AdminContext | None = g.get("admin")
    if "Content-Security-Policy" not in resp.headers:
        if ctx is not None and ctx.embedded and ctx.shop:
            resp.headers["Content-Security-Policy"] = f"frame-ancestors https://{ctx.shop} https://admin.shopify.com"
        else:
            resp.headers["Content-Security-Policy"] = "frame-ancestors 'none'"
    resp.headers.setdefault("Referrer-Policy", "same-origin")
    resp.headers.setdefault("X-Content-Type-Options", "nosniff")
    return resp
