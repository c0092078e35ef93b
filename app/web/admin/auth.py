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
  sign-in link or by the WooCommerce connect flow; every unsafe request must echo the session's CSRF token. A
  session ends after 12 hours unused and 7 days after sign-in whatever its use, and carries the store's admin
  session generation: signing out moves the generation on, which ends every session of that admin, everywhere.
- **Demo mode** (``make demo``): the seeded demo store is signed in already, CSRF still applies.
"""

from __future__ import annotations

import functools
import hmac
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import ParamSpec, TypeVar

from flask import g, make_response, redirect, render_template, request, session, url_for
from sqlalchemy import update
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
    "session_fields",
    "sign_in",
    "sign_out",
    "sign_out_everywhere",
]

SESSION_STORE_KEY = "admin_store_id"
_CSRF_KEY = "admin_csrf"
_GENERATION_KEY = "admin_generation"
_SINCE_KEY = "admin_since"  # when the session signed in (Unix seconds)
_SEEN_KEY = "admin_seen"  # its last admin request (Unix seconds)
# A session unused this long ends; one this old ends whatever its use (the cookie's own lifetime is the idle one).
IDLE_LIFETIME = timedelta(hours=12)
ABSOLUTE_LIFETIME = timedelta(days=7)
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
    store = db_session().get(Store, store_id)
    session.clear()
    session.update(session_fields(store_id, store.admin_session_generation if store is not None else 0))
    session.permanent = True
    csrf_token()


def session_fields(store_id: int, generation: int) -> dict[str, int]:
    """What a standalone session signed in now holds: its store, the generation it belongs to, its times."""
    now = int(time.time())
    return {SESSION_STORE_KEY: store_id, _GENERATION_KEY: generation, _SINCE_KEY: now, _SEEN_KEY: now}


def sign_out() -> None:
    """End this browser's standalone admin session (others of the same admin live on: see sign_out_everywhere)."""
    session.clear()


def sign_out_everywhere() -> None:
    """End every standalone session of this browser's signed-in admin, wherever its cookie is; commits.

    Only a session that is still valid moves the generation on: an expired or revoked cookie cannot sign others out.
    """
    store = _session_store()
    if store is not None:
        db = db_session()
        db.execute(
            update(Store)
            .where(Store.id == store.id)
            .values(admin_session_generation=Store.admin_session_generation + 1)
        )
        db.commit()
    session.clear()


def _session_store() -> Store | None:
    """The store of this browser's standalone session while it is valid: right generation, neither idle nor old."""
    store_id = session.get(SESSION_STORE_KEY)
    if not isinstance(store_id, int):
        return None
    since, seen, generation = session.get(_SINCE_KEY), session.get(_SEEN_KEY), session.get(_GENERATION_KEY)
    if not (isinstance(since, int) and isinstance(seen, int) and isinstance(generation, int)):
        return None  # a cookie from before sessions carried these: sign in again
    now = int(time.time())
    if now - seen > IDLE_LIFETIME.total_seconds() or now - since > ABSOLUTE_LIFETIME.total_seconds():
        return None
    store = db_session().get(Store, store_id)
    if store is None or store.status == StoreStatus.UNINSTALLED or store.admin_session_generation != generation:
        return None
    return store


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
    if SESSION_STORE_KEY in session:
        store = _session_store()
        if store is not None:
            session[_SEEN_KEY] = int(time.time())
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
