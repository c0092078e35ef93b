"""Public storefront API under /storefront/v1 (state, signup), the Shopify App Proxy, confirm and unsubscribe pages.

Routes:

- ``GET/OPTIONS /storefront/v1/stores/<id>/products/<product external id>`` and ``.../variants/<variant external
  id>``: public state, ETag + short Cache-Control, CORS for the store's own origins only.
- ``POST/OPTIONS /storefront/v1/stores/<id>/subscriptions``: waitlist signup (JSON or form-encoded), 202.
- ``/storefront/proxy/v1/...``: the same three through the Shopify App Proxy (``/apps/backsoon/v1/...`` on the
  shop's domain, or the signed ``path_prefix`` the merchant moved it to), store from the verified ``shop``;
  ``POST /storefront/proxy/subscribe``: the theme block's plain form (no JavaScript), answered with a redirect back
  to the page or a small page.
- ``GET/POST /c/<token>``: double-opt-in confirmation; ``GET/POST /u/<token>``: unsubscribe (RFC 8058 one-click).

A store that is unknown or not active (pending, disconnected, uninstalled) is a 404 everywhere: its shoppers can
no longer be notified, and the answer reveals nothing about which stores exist.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Mapping
from dataclasses import replace
from typing import Any, NoReturn
from urllib.parse import urlsplit

from flask import Blueprint, Response, g, jsonify, request
from werkzeug.exceptions import BadRequest

from app.domain import waitlist as rules
from app.infra import smtp_caps
from app.models import Store
from app.platforms import registry
from app.platforms.shopify import auth as shopify_auth
from app.services.merchant import setup
from app.services.notify import waitlist as service
from app.web import limits
from app.web.deps import abort_json, db_session, runtime
from app.web.read_cache import CachedRead, read_cache
from app.web.shopper_pages import ShopperFrame, render_shopper_page, shopper_frame
from app.web.storefront_openapi import OPENAPI
from integrations.shopify.proxy import ProxyRequest, read_proxy_request

log = logging.getLogger(__name__)

bp = Blueprint("storefront", __name__)
__all__ = ["OPENAPI", "bp"]  # OPENAPI: the routes' description, kept in app.web.storefront_openapi

API = "/storefront/v1/stores/<int:store_id>"
PROXY = "/storefront/proxy/v1"
_MAX_FIELD = 1000
JsonDict = dict[str, Any]


# --- shared request helpers ---------------------------------------------------------------------------------------


def _client_ip() -> str:
    # Through the App Proxy the peer is Shopify; Shopify puts the shopper's address first in X-Forwarded-For. Elsewhere
    # remote_addr, which X-Forwarded-For sets only through TRUSTED_PROXY_HOPS (app.web.security's ProxyFix).
    if request.path.startswith("/storefront/proxy/"):
        forwarded = request.headers.get("X-Forwarded-For", "").split(",")[0].strip()
        if forwarded:
            return forwarded[:64]
    return request.remote_addr or "unknown"


def _limit(name: str, key: str) -> None:
    try:
        limits.check(name, key)
    except limits.RateLimited as exc:
        g.retry_after = exc.retry_after
        abort_json(429, "rate_limited", "Too many requests; try again later.")


@bp.after_request
def _retry_after(response: Response) -> Response:
    retry = g.pop("retry_after", None)
    if retry is not None and response.status_code == 429:
        response.headers["Retry-After"] = str(retry)
    return response


def _store_or_404(store_id: int) -> Store:
    store = service.active_store(db_session(), store_id)
    if store is None:
        abort_json(404, "not_found", "No such store.")
    return store


def _store_origins(store: Store) -> set[str]:
    domain = (store.domain or "").strip().rstrip("/")
    origins: set[str] = set()
    if "://" in domain:
        parts = urlsplit(domain)
        if parts.scheme in ("http", "https") and parts.netloc:
            origins.add(f"{parts.scheme}://{parts.netloc.lower()}")
    elif domain:
        origins.add(f"https://{domain.lower()}")
    origins |= registry.of(store).storefront_origins(store, runtime().settings.app_url)
    return origins


def _cors(response: Response, store: Store) -> Response:
    response.vary.add("Origin")
    origin = request.headers.get("Origin")
    if origin and origin.rstrip("/").lower() in _store_origins(store):
        response.headers["Access-Control-Allow-Origin"] = origin
    return response


def _preflight(store: Store, methods: str) -> Response:
    response = Response(status=204)
    _cors(response, store)
    if "Access-Control-Allow-Origin" in response.headers:
        response.headers["Access-Control-Allow-Methods"] = methods
        response.headers["Access-Control-Allow-Headers"] = "Content-Type"
        response.headers["Access-Control-Max-Age"] = "600"
    return response


def _render(body: JsonDict, store: Store) -> CachedRead:
    payload = json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    etag = hashlib.sha256(payload).hexdigest()[:32]
    return CachedRead(payload, etag, frozenset(_store_origins(store)))


def _send(read: CachedRead) -> Response:
    status, headers, body = read.respond(request.headers.get("If-None-Match"), request.headers.get("Origin"))
    return Response(body, status=status, headers=headers)


def _request_locale(store: Store, given: object = None) -> str:
    return rules.pick_locale(
        [
            given if isinstance(given, str) else None,
            *rules.accept_language_tags(request.headers.get("Accept-Language")),
            store.locale,
        ]
    )


# --- state reads ----------------------------------------------------------------------------------------------------


def _state_read(kind: str, store_id: int, ref: str, store: Store | None) -> Response:
    """A product or variant document, from the read cache or rendered (the store is looked up only on a miss)."""
    # The language comes only from ?locale= and the store, never Accept-Language: the response is cached.
    asked = request.args.get("locale", "")[:35]
    if len(ref) > 64:
        abort_json(404, "not_found", f"No such {kind} in this store.")  # external ids are at most 64 characters
    key = (kind, store_id, ref, asked)
    cached = read_cache().get(key)
    if cached is not None:
        return _send(cached)
    # Only database reads count against the per-IP limit: a cache hit costs less than the Redis counter would.
    _limit("STATE_IP_LIMIT", _client_ip())
    store = store or _store_or_404(store_id)
    session = db_session()
    setup.storefront_seen(session, store)
    if kind == "product":
        body = service.product_view(session, store, ref, rules.pick_locale([asked or None, store.locale]))
    else:
        body = service.variant_view(session, store, ref)
    if body is None:
        abort_json(404, "not_found", f"No such {kind} in this store.")
    return _send(read_cache().put(key, _render(body, store)))


@bp.route(f"{API}/products/<product_ref>", methods=["GET", "OPTIONS"])
def product_state(store_id: int, product_ref: str) -> Response:
    """A product's variants with their public stock state, the store's consent text and double-opt-in flag."""
    if request.method == "OPTIONS":
        return _preflight(_store_or_404(store_id), "GET, OPTIONS")
    return _state_read("product", store_id, product_ref, None)


@bp.route(f"{API}/variants/<variant_ref>", methods=["GET", "OPTIONS"])
def variant_state(store_id: int, variant_ref: str) -> Response:
    """One variant's public stock state."""
    if request.method == "OPTIONS":
        return _preflight(_store_or_404(store_id), "GET, OPTIONS")
    return _state_read("variant", store_id, variant_ref, None)


# --- signup -----------------------------------------------------------------------------------------------------------


def _body() -> Mapping[str, Any]:
    if request.is_json:
        try:
            data = request.get_json(force=True, silent=False)
        except BadRequest:
            abort_json(400, "invalid_request", "The body is not valid JSON.")
        if not isinstance(data, dict):
            abort_json(400, "invalid_request", "The body must be a JSON object.")
        return data
    return request.form


def _text(data: Mapping[str, Any], name: str) -> str | None:
    value = data.get(name)
    if value is None:
        return None
    if not isinstance(value, str):
        abort_json(400, "invalid_request", f"{name} must be a string.", {name: "must be a string"})
    if len(value) > _MAX_FIELD or "\x00" in value:
        abort_json(400, "invalid_request", f"{name} is not acceptable.", {name: "too long or contains NUL"})
    return value


def _consent_given(value: object) -> bool:
    if value is True:
        return True
    return isinstance(value, str) and value.strip().lower() in ("true", "1", "yes", "on")


def _signup_error(exc: service.SignupError) -> NoReturn:
    abort_json(exc.status, exc.code, exc.message, exc.details or None)


def _signup(store: Store, data: Mapping[str, Any], source: str, customer_id: str | None = None) -> JsonDict:
    """Run one signup from request data; returns the 202 body or raises a JSON error. Commits."""
    _limit("SIGNUP_IP_LIMIT", _client_ip())
    honeypot = _text(data, "website")
    locale = _request_locale(store, _text(data, "locale"))
    double = service.store_double_opt_in(db_session(), store)
    if honeypot:
        # A bot filled the hidden field: the same answer a person gets, nothing stored, nothing sent.
        log.info("signup honeypot filled for store %s", store.id)
        return _accepted(locale, double)
    email_raw = _text(data, "email")
    variant_ref = _text(data, "variant_id")
    if not variant_ref:
        abort_json(400, "invalid_request", "variant_id is required.", {"variant_id": "required"})
    try:
        email = service.normalise_email(email_raw, smtputf8=smtp_caps.cache_for(runtime().settings.smtp_url).offered)
    except service.SignupError as exc:
        _signup_error(exc)
    _limit("SIGNUP_EMAIL_LIMIT", f"{store.id}:{email}")
    requested_source = _text(data, "source")
    req = service.SignupRequest(
        variant_ref=variant_ref.strip(),
        email=email,
        consent=_consent_given(data.get("consent")),
        consent_version=(_text(data, "consent_version") or "").strip() or None,
        locale=locale,
        source=source if source == "app_proxy" else (requested_source or source),
        ip=_client_ip(),
        user_agent=request.headers.get("User-Agent"),
        customer_external_id=customer_id,
        # Where the shopper was (the theme's routes.root_url): the restock email's buy link goes back there. Anything
        # that is not a locale root is dropped, not refused: a signup is never lost over it.
        storefront_root=rules.storefront_root(_text(data, "root")),
    )
    session = db_session()
    try:
        result = service.subscribe(session, runtime().jobs, runtime().settings.secret_key, store, req)
    except service.SignupError as exc:
        session.rollback()
        _signup_error(exc)
    session.commit()
    log.info("signup store=%s subscription=%s outcome=%s", store.id, result.subscription_id, result.outcome)
    return _accepted(locale, result.confirm)


def _accepted(locale: str, confirm: bool) -> JsonDict:
    text = rules.message(locale, "confirm_sent" if confirm else "subscribed")
    return {"ok": True, "confirm": confirm, "message": text}


@bp.route(f"{API}/subscriptions", methods=["POST", "OPTIONS"])
def subscribe(store_id: int) -> tuple[Response, int] | Response:
    """Join a variant's waitlist; the same 202 whether or not the address was already on it."""
    store = _store_or_404(store_id)
    if request.method == "OPTIONS":
        return _preflight(store, "POST, OPTIONS")
    body = _signup(store, _body(), "widget")
    return _cors(jsonify(body), store), 202


# --- Shopify App Proxy ----------------------------------------------------------------------------------------------


def _proxy_store() -> tuple[Store, ProxyRequest]:
    settings = runtime().settings
    secrets = [s for s in (settings.shopify_api_secret, settings.shopify_api_secret_old) if s]
    if not secrets:
        abort_json(404, "not_found", "The Shopify App Proxy is not configured.")
    verified = read_proxy_request(request.query_string, secrets)
    if verified is None:
        abort_json(401, "invalid_signature", "The App Proxy signature is missing, wrong or stale.")
    store = shopify_auth.active_shop(db_session(), verified.shop)
    if store is None:
        abort_json(404, "not_found", "No such store.")
    return store, verified


@bp.get(f"{PROXY}/products/<product_ref>")
def proxy_product_state(product_ref: str) -> Response:
    """The product state document through the Shopify App Proxy."""
    store, _ = _proxy_store()
    return _state_read("product", store.id, product_ref, store)


@bp.get(f"{PROXY}/variants/<variant_ref>")
def proxy_variant_state(variant_ref: str) -> Response:
    """One variant's state through the Shopify App Proxy."""
    store, _ = _proxy_store()
    return _state_read("variant", store.id, variant_ref, store)


@bp.post(f"{PROXY}/subscriptions")
def proxy_subscribe() -> tuple[Response, int]:
    """Waitlist signup through the Shopify App Proxy (same body and answers as the direct API)."""
    store, verified = _proxy_store()
    return jsonify(_signup(store, _body(), "app_proxy", verified.customer_id)), 202


def _safe_return_path(value: str | None) -> str | None:
    # Only a path on the shop's own domain: "//evil.example" and "/\evil" would leave it.
    if not value or not value.startswith("/") or value.startswith("//") or any(c in value for c in "\\\r\n\t "):
        return None
    return value[:_MAX_FIELD]


_AGREE_FIELDS = ("email", "variant_id", "product_id", "product_handle", "locale", "return_to")  # all else dropped


def _proxy_frame(store: Store, back: str | None) -> ShopperFrame:
    """The store's frame, its way back being the product page the form was on (a path on the shop's domain)."""
    frame = shopper_frame(db_session(), store)
    return replace(frame, back_url=back) if back is not None else frame


def _agree_page(store: Store, verified: ProxyRequest, data: Mapping[str, str], back: str | None) -> Response:
    """The consent text, its version and a checkbox, for a form that sent no version: nothing is stored yet."""
    locale = _request_locale(store, data.get("locale"))
    agreed = service.store_consent(db_session(), store, locale)
    prefix = f"{verified.path_prefix}/subscribe"  # shown on the shop's domain: back through the shop's proxy path
    fields = [(name, data[name][:_MAX_FIELD]) for name in _AGREE_FIELDS if data.get(name)]
    title, button, action = rules.message(locale, "agree_title"), rules.message(locale, "agree_button"), prefix
    return render_shopper_page("agree.html", 200, locale, _proxy_frame(store, back), title, button=button,
                               action=action, fields=fields, consent_text=agreed.text,
                               consent_version=agreed.version)  # fmt: skip


@bp.post("/storefront/proxy/subscribe")
def proxy_form_subscribe() -> Response:
    """The theme block's plain form POST (email, variant_id, product_id): redirect back to the page, or a page.

    Without a consent_version (the form without JavaScript cannot know our text) it answers the consent page first.
    """
    store, verified = _proxy_store()
    form = request.form
    back = _safe_return_path(form.get("return_to")) or _safe_return_path(
        f"/products/{form.get('product_handle')}" if form.get("product_handle") else None
    )
    data = {**form.to_dict(), "source": "app_proxy"}
    if not (form.get("consent_version") or "").strip():
        return _agree_page(store, verified, data, back)
    status, key = "subscribed", "subscribed"
    try:
        body = _signup(store, data, "app_proxy", verified.customer_id)
        key = "confirm_sent" if body["confirm"] else "subscribed"
    except Exception as exc:
        code = getattr(exc, "error_code", None)
        if code is None or code == "rate_limited":
            raise
        status, key = "error", code if code in ("invalid_email", "consent_required", "in_stock") else "invalid_email"
        db_session().rollback()
    locale = _request_locale(store, form.get("locale"))
    if back is not None:
        joiner = "&" if "?" in back else "?"
        target = f"{back}{joiner}backsoon={status}&backsoon_reason={key}"
        return Response(status=303, headers={"Location": target})
    title = rules.message(locale, "confirmed_title" if status != "error" else "error_title")
    return render_shopper_page(
        "message.html",
        200 if status != "error" else 400,
        locale,
        _proxy_frame(store, None),
        title,
        body=rules.message(locale, key),
    )
