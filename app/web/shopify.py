"""Shopify install and authentication: the embedded app home, the authorization code grant, session-token auth.

- ``GET /shopify/app``: the app home Shopify loads in the admin iframe. Signed query (HMAC) or a session token
  (``id_token``) required; with a session token the shop is installed or reconnected through token exchange and the
  embedded shell is rendered, without one a bounce page lets App Bridge fetch a token and reload.
- ``GET /shopify/install`` and ``GET /shopify/callback``: the authorization code grant for non-embedded installs.
- ``require_session_token()`` / ``@session_token_required``: authenticate admin JSON requests by the App Bridge
  session token in ``Authorization: Bearer``.
"""

from __future__ import annotations

import functools
import hmac
import logging
import secrets as pysecrets
import time
from collections.abc import Callable
from typing import Any, Concatenate, ParamSpec, TypeVar

from flask import Blueprint, g, jsonify, make_response, redirect, render_template, request, session, url_for
from werkzeug.wrappers import Response

from app.config import Settings
from app.models import Store, StoreStatus
from app.platforms.shopify.auth import (
    REQUIRED_SCOPES,
    MissingScopes,
    api_secrets,
    find_shopify_store,
    install_from_code,
    install_from_session_token,
    oauth_client,
)
from app.web.deps import ApiError, abort_json, db_session, runtime
from integrations.base import PlatformError, RateLimited, TransientError
from integrations.shopify.auth import InvalidClient, InvalidSubjectToken, TokenRejected
from integrations.shopify.verify import (
    InvalidHost,
    InvalidSessionToken,
    SessionToken,
    decode_host,
    decode_session_token,
    is_valid_shop_domain,
    verify_query_hmac,
)

log = logging.getLogger(__name__)

bp = Blueprint("shopify", __name__, url_prefix="/shopify")

APP_BRIDGE_URL = "https://cdn.shopify.com/shopifycloud/app-bridge.js"
RETRY_HEADER = "X-Shopify-Retry-Invalid-Session-Request"
# The pending authorization-code grant lives in Flask's signed session cookie; a merchant approves within minutes.
_OAUTH_SESSION_KEY = "shopify_oauth"
_STATE_MAX_AGE = 600

P = ParamSpec("P")
R = TypeVar("R")


# --- helpers -----------------------------------------------------------------------------------------------------


def _settings() -> Settings:
    return runtime().settings


def _configured(settings: Settings) -> bool:
    return bool(settings.shopify_api_key and settings.shopify_api_secret)


def frame_ancestors(shop: str | None) -> str:
    """The CSP that lets only this shop's admin frame our pages (Shopify's requirement for embedded apps)."""
    if shop is None:
        return "frame-ancestors 'none'"
    return f"frame-ancestors https://{shop} https://admin.shopify.com"


def _page(template: str, status: int = 200, *, shop: str | None, **context: Any) -> Response:
    resp = make_response(render_template(template, **context), status)
    resp.headers["Content-Security-Policy"] = frame_ancestors(shop)
    # Each page embeds a per-request state (session token, nonce): never cache it.
    resp.headers["Cache-Control"] = "no-store"
    return resp


def _error(status: int, code: str, message: str, *, shop: str | None = None) -> Response:
    if request.accept_mimetypes.best == "application/json":
        resp = jsonify({"error": {"code": code, "message": message}})
        resp.status_code = status
        resp.headers["Content-Security-Policy"] = frame_ancestors(shop)
        return resp
    return _page("shopify/error.html", status, shop=shop, code=code, message=message)


def _shop_param() -> str | None:
    shop = request.args.get("shop", "")
    # Anchored *.myshopify.com only; lowercase so the row key and the CSP never depend on how the shop was spelled.
    return shop.lower() if is_valid_shop_domain(shop) else None


def _valid_host(host: str) -> bool:
    try:
        decode_host(host)
    except InvalidHost:
        return False
    return True


# --- app home ------------------------------------------------------------------------------------------------------


@bp.get("/app")
def app_home() -> Response:
    """The embedded app home: install/reconnect with the session token, or bounce through App Bridge to get one."""
    settings = _settings()
    if not _configured(settings):
        return _error(503, "shopify_not_configured", "SHOPIFY_API_KEY and SHOPIFY_API_SECRET are not set.")
    assert settings.shopify_api_key is not None
    shop = _shop_param()
    if shop is None:
        return _error(400, "invalid_shop", "The shop parameter must be a *.myshopify.com domain.")
    host = request.args.get("host")
    if host is not None and not _valid_host(host):
        return _error(400, "invalid_host", "The host parameter is not valid.", shop=shop)
    keys = api_secrets(settings)
    signed = "hmac" in request.args
    if signed and not verify_query_hmac(request.query_string, keys):
        # Framable by that shop's admin so the merchant sees why; the page holds nothing worth clickjacking.
        return _error(
            400, "invalid_hmac", "This link's signature is invalid or expired; open the app again.", shop=shop
        )
    id_token = request.args.get("id_token")
    if not signed and not id_token:
        # Only Shopify can send a merchant here: it signs the query, or App Bridge adds a session token.
        return _error(400, "invalid_request", "Open BackSoon from your Shopify admin.")

    api_key = settings.shopify_api_key

    def bounce() -> Response:
        # App Bridge fetches a fresh session token and reloads the app home with it (see bounce.html).
        reload_url = url_for(".app_home", shop=shop, host=host, embedded=request.args.get("embedded"))
        return _page(
            "shopify/bounce.html", shop=shop, api_key=api_key, app_bridge_url=APP_BRIDGE_URL, reload_url=reload_url
        )

    if not id_token:
        return bounce()
    try:
        token = decode_session_token(id_token, settings.shopify_api_key, keys)
    except InvalidSessionToken as exc:
        log.info("app home for %s: session token rejected (%s)", shop, exc.reason)
        # A signed first load may carry a stale token: bounce once for a fresh one. An unsigned load already
        # came back from the bounce page, so bouncing again would loop.
        if signed:
            return bounce()
        return _error(401, "invalid_session_token", "Your Shopify session could not be verified; reload the app.")
    if token.shop != shop:
        return _error(400, "shop_mismatch", "The session token belongs to another shop.", shop=shop)

    db = db_session()
    try:
        store = install_from_session_token(db, settings, token, jobs=runtime().jobs)
        db.commit()
    except InvalidSubjectToken:
        db.rollback()
        if signed:
            return bounce()
        return _error(401, "invalid_session_token", "Shopify rejected this session; reload the app.", shop=shop)
    except PlatformError as exc:
        db.rollback()
        return _platform_error(exc, shop)
    # Installed: the app is the merchant admin. Its pages authenticate every load by the same session token.
    target = url_for("admin_dashboard.index", shop=shop, host=host, embedded="1", id_token=id_token)
    resp = redirect(target, code=302)
    resp.headers["Content-Security-Policy"] = frame_ancestors(shop)
    resp.headers["Cache-Control"] = "no-store"
    log.info("app home for store %s: opening the admin", store.id)
    return resp


def _platform_error(exc: PlatformError, shop: str) -> Response:
    if isinstance(exc, RateLimited):
        resp = _error(503, "shopify_rate_limited", "Shopify asked us to slow down; try again shortly.", shop=shop)
        resp.headers["Retry-After"] = str(int(exc.retry_after))
        return resp
    if isinstance(exc, TransientError):
        resp = _error(503, "shopify_unavailable", "Shopify did not answer; try again in a minute.", shop=shop)
        resp.headers["Retry-After"] = "30"
        return resp
    if isinstance(exc, InvalidClient):
        log.error("Shopify refused our client credentials for %s: check SHOPIFY_API_KEY/SECRET", shop)
        return _error(500, "shopify_misconfigured", "BackSoon's Shopify credentials were refused.", shop=shop)
    if isinstance(exc, TokenRejected):
        return _error(403, "shopify_refused", "Shopify refused to grant access; reinstall the app.", shop=shop)
    log.warning("Shopify token request for %s failed: %s", shop, exc)
    return _error(502, "shopify_error", "Shopify returned an unexpected answer.", shop=shop)


# --- authorization code grant (non-embedded installs) --------------------------------------------------------------


@bp.get("/install")
def install() -> Response:
    """Start the authorization code grant: remember a state nonce, send the merchant to Shopify's consent page."""
    settings = _settings()
    if not _configured(settings):
        return _error(503, "shopify_not_configured", "SHOPIFY_API_KEY and SHOPIFY_API_SECRET are not set.")
    shop = _shop_param()
    if shop is None:
        return _error(400, "invalid_shop", "The shop parameter must be a *.myshopify.com domain.")
    # Shopify signs the install link; a merchant typing their shop into our own form sends no hmac at all.
    if "hmac" in request.args and not verify_query_hmac(request.query_string, api_secrets(settings)):
        return _error(400, "invalid_hmac", "This link's signature is invalid or expired.")
    state = pysecrets.token_urlsafe(32)
    session[_OAUTH_SESSION_KEY] = {"state": state, "shop": shop, "at": int(time.time())}
    url = oauth_client(settings).authorize_url(
        shop, scopes=REQUIRED_SCOPES, redirect_uri=settings.app_url + url_for(".callback"), state=state
    )
    resp = redirect(url, 302)
    resp.headers["Cache-Control"] = "no-store"
    return resp


@bp.get("/callback")
def callback() -> Response:
    """Finish the authorization code grant: check shop, HMAC and state, exchange the code, insist on the scopes."""
    settings = _settings()
    if not _configured(settings):
        return _error(503, "shopify_not_configured", "SHOPIFY_API_KEY and SHOPIFY_API_SECRET are not set.")
    assert settings.shopify_api_key is not None
    # The nonce is single-use whatever happens next.
    pending = session.pop(_OAUTH_SESSION_KEY, None)
    shop = _shop_param()
    if shop is None:
        return _error(400, "invalid_shop", "The shop parameter must be a *.myshopify.com domain.")
    if not verify_query_hmac(request.query_string, api_secrets(settings)):
        return _error(400, "invalid_hmac", "The callback's signature is invalid or expired.")
    if not _state_matches(pending, request.args.get("state", ""), shop):
        return _error(403, "invalid_state", "This sign-in link is stale or was not started here; install again.")
    code = request.args.get("code", "")
    if not code:
        return _error(400, "missing_code", "Shopify sent no authorization code.")
    db = db_session()
    try:
        install_from_code(db, settings, shop, code, jobs=runtime().jobs)
        db.commit()
    except MissingScopes as exc:
        db.rollback()
        return _error(
            403, "missing_scopes", "BackSoon needs these permissions to work: " + ", ".join(exc.missing) + "."
        )
    except PlatformError as exc:
        db.rollback()
        return _platform_error(exc, shop)
    # Into the app inside the admin, which loads /shopify/app with a session token.
    return redirect(f"https://{shop}/admin/apps/{settings.shopify_api_key}", 302)


def _state_matches(pending: object, state: str, shop: str) -> bool:
    if not isinstance(pending, dict) or not state:
        return False
    expected = pending.get("state")
    at = pending.get("at")
    if not isinstance(expected, str) or not isinstance(at, int) or pending.get("shop") != shop:
        return False
    if time.time() - at > _STATE_MAX_AGE:
        return False
    return hmac.compare_digest(expected.encode(), state.encode())


# --- session-token authentication for admin JSON endpoints --------------------------------------------------------


class InvalidSessionRequest(ApiError):
    """A 401 that App Bridge answers by retrying with a fresh session token (it looks for RETRY_HEADER)."""

    def __init__(self, message: str) -> None:
        super().__init__(401, "invalid_session_token", message)


@bp.app_errorhandler(InvalidSessionRequest)
def _invalid_session(exc: InvalidSessionRequest) -> tuple[Response, int]:
    resp = jsonify({"error": {"code": exc.error_code, "message": exc.description}})
    resp.headers[RETRY_HEADER] = "1"
    return resp, 401


def session_token_from_request() -> SessionToken:
    """The verified session token of this request's ``Authorization: Bearer`` header, or a 401 App Bridge retries."""
    settings = _settings()
    if not _configured(settings):
        abort_json(503, "shopify_not_configured", "SHOPIFY_API_KEY and SHOPIFY_API_SECRET are not set.")
    assert settings.shopify_api_key is not None
    header = request.headers.get("Authorization", "")
    raw = header[7:].strip() if header[:7].lower() == "bearer " else ""
    if not raw:
        raise InvalidSessionRequest("Send the App Bridge session token as 'Authorization: Bearer <token>'.")
    try:
        token = decode_session_token(raw, settings.shopify_api_key, api_secrets(settings))
    except InvalidSessionToken as exc:
        raise InvalidSessionRequest(f"The session token is not valid ({exc.reason}).") from None
    g.shopify_session_token = token
    return token


def is_session_token_shaped(bearer: str) -> bool:
    """True for a JWT-shaped bearer value (three dot-separated parts); admin API keys (bsk_…) have no dots."""
    return bearer.count(".") == 2


def store_for_session_token(token: SessionToken) -> Store:
    """The installed Store of a verified session token's shop, or a 404 JSON error."""
    store = find_shopify_store(db_session(), token.shop)
    if store is None or store.status == StoreStatus.UNINSTALLED:
        abort_json(404, "not_installed", "BackSoon is not installed on this shop; open it from the Shopify admin.")
    return store


def require_session_token() -> Store:
    """Authenticate the request by its session token and return the shop's Store (401 + retry header, or 404)."""
    return store_for_session_token(session_token_from_request())


def session_token_required(view: Callable[Concatenate[Store, P], R]) -> Callable[P, R]:
    """Decorator: the view receives the authenticated Store as its first argument."""

    @functools.wraps(view)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        return view(require_session_token(), *args, **kwargs)

    return wrapper
