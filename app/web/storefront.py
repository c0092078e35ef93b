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
from typing import Any, NoReturn
from urllib.parse import urlsplit

from flask import Blueprint, Response, g, jsonify, render_template, request
from werkzeug.exceptions import BadRequest

from app.domain import waitlist as rules
from app.domain.stock import BadgeKind, Status
from app.infra.openapi import ApiDoc, error_response, json_response, schema_ref
from app.models import Store
from app.platforms import registry
from app.platforms.shopify import auth as shopify_auth
from app.services.notify import waitlist as service
from app.web import limits
from app.web.deps import abort_json, db_session, runtime
from app.web.read_cache import CACHE_CONTROL, CachedRead, read_cache
from integrations.shopify.proxy import ProxyRequest, read_proxy_request

log = logging.getLogger(__name__)

bp = Blueprint("storefront", __name__)

API = "/storefront/v1/stores/<int:store_id>"
PROXY = "/storefront/proxy/v1"
_MAX_FIELD = 1000
JsonDict = dict[str, Any]


# --- shared request helpers ---------------------------------------------------------------------------------------


def _client_ip() -> str:
    # Through the App Proxy the peer is Shopify; Shopify puts the shopper's address first in X-Forwarded-For.
    # Elsewhere the peer address is the client (a reverse proxy in front of us is the factory's ProxyFix concern).
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
    # Only what reaches the database counts against the per-IP limit: a cached document costs no more than a
    # static file, and a shared Redis counter would double its price.
    _limit("STATE_IP_LIMIT", _client_ip())
    store = store or _store_or_404(store_id)
    session = db_session()
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
        email = service.normalise_email(email_raw)
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


def _agree_page(store: Store, verified: ProxyRequest, data: Mapping[str, str]) -> Response:
    """The consent text, its version and a checkbox, for a form that sent no version: nothing is stored yet."""
    locale = _request_locale(store, data.get("locale"))
    agreed = service.store_consent(db_session(), store, locale)
    prefix = f"{verified.path_prefix}/subscribe"  # shown on the shop's domain: back through the shop's proxy path
    fields = [(name, data[name][:_MAX_FIELD]) for name in _AGREE_FIELDS if data.get(name)]
    title, button, action = rules.message(locale, "agree_title"), rules.message(locale, "agree_button"), prefix
    page = render_template("storefront_pages/agree.html", lang=locale, title=title, button=button, action=action,
                           fields=fields, consent_text=agreed.text, consent_version=agreed.version)  # fmt: skip
    return Response(page, status=200, mimetype="text/html")


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
        return _agree_page(store, verified, data)
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
    page = render_template(
        "storefront_pages/message.html",
        lang=locale,
        title=rules.message(locale, "confirmed_title" if status != "error" else "error_title"),
        body=rules.message(locale, key),
    )
    return Response(page, status=200 if status != "error" else 400, mimetype="text/html")


# --- OpenAPI description of the JSON routes above ------------------------------------------------------------------

_STORE_ID: JsonDict = {"$ref": "#/components/parameters/StoreId"}
_PRODUCT_REF: JsonDict = {
    "name": "product_ref",
    "in": "path",
    "required": True,
    "description": "The product's id on the platform (its external id)",
    "schema": {"type": "string", "maxLength": 64},
}
_VARIANT_REF: JsonDict = {
    "name": "variant_ref",
    "in": "path",
    "required": True,
    "description": "The variant's id on the platform (its external id)",
    "schema": {"type": "string", "maxLength": 64},
}
_LOCALE: JsonDict = {
    "name": "locale",
    "in": "query",
    "required": False,
    "description": "Language of the consent text (en, nl, fr, de; a tag like nl-BE works); default: the store's",
    "schema": {"type": "string"},
}
_PROXY_PARAMS: list[JsonDict] = [
    {"name": name, "in": "query", "required": name in ("shop", "timestamp", "signature"), "schema": {"type": "string"}}
    for name in ("shop", "logged_in_customer_id", "path_prefix", "timestamp", "signature")
]
_CACHE_HEADERS: JsonDict = {
    "ETag": {"description": "Strong validator; send it back as If-None-Match", "schema": {"type": "string"}},
    "Cache-Control": {"description": CACHE_CONTROL, "schema": {"type": "string"}},
}
_READ_ERRORS: JsonDict = {
    "304": {"description": "Not modified (If-None-Match matched)"},
    "404": error_response("Unknown or inactive store, or unknown product/variant"),
    "429": error_response("Too many requests from this address (Retry-After says when to retry)"),
}
_SIGNUP_ERRORS: JsonDict = {
    "400": error_response("invalid_email, consent_required or invalid_request (bad JSON, wrong field types)"),
    "404": error_response("Unknown or inactive store, or unknown variant"),
    "409": error_response("in_stock: the variant can be bought now, no waitlist needed"),
    "413": error_response("The body is larger than 1 MiB"),
    "429": error_response("rate_limited: too many signups from this address or for this email"),
}
_PROXY_ERRORS: JsonDict = {"401": error_response("The App Proxy signature is missing, wrong or older than 90 s")}
_SIGNUP_BODY: JsonDict = {
    "required": True,
    "content": {
        media: {"schema": schema_ref("StorefrontSignup")}
        for media in ("application/json", "application/x-www-form-urlencoded")
    },
}


def _read_op(op_id: str, summary: str, schema: str, params: list[JsonDict], proxy: bool = False) -> JsonDict:
    return {
        "operationId": op_id,
        "summary": summary,
        "tags": ["storefront"],
        "security": [],
        "parameters": params,
        "responses": {
            "200": json_response(summary, schema_ref(schema), headers=_CACHE_HEADERS),
            **_READ_ERRORS,
            **(_PROXY_ERRORS if proxy else {}),
        },
    }


def _signup_op(op_id: str, summary: str, params: list[JsonDict], proxy: bool = False) -> JsonDict:
    return {
        "operationId": op_id,
        "summary": summary,
        "description": (
            "Idempotent per (store, variant, email); the same 202 whether or not the address was already on "
            "the list. A filled `website` field (honeypot) is answered 202 and ignored. With double opt-in the "
            "shopper gets a confirmation email (confirm: true)."
        ),
        "tags": ["storefront"],
        "security": [],
        "parameters": params,
        "requestBody": _SIGNUP_BODY,
        "responses": {
            "202": json_response("Accepted", schema_ref("StorefrontSignupAccepted")),
            **_SIGNUP_ERRORS,
            **(_PROXY_ERRORS if proxy else {}),
        },
    }


_HTML_PAGE: JsonDict = {"description": "An HTML page", "content": {"text/html": {"schema": {"type": "string"}}}}
_TOKEN: JsonDict = {"name": "token", "in": "path", "required": True, "schema": {"type": "string"}}

_STATUS: JsonDict = {"type": "string", "enum": [s.value for s in Status]}
_BADGE: JsonDict = {
    "type": "object",
    "required": ["kind", "quantity"],
    "properties": {
        "kind": {"type": "string", "enum": [b.value for b in BadgeKind]},
        "quantity": {"type": ["integer", "null"]},
    },
}
_CONSENT_VERSION = "The consent version the form showed; missing or not current: 400 consent_required"
_WAY = "Only when true: sold out with no date, the platform reports stock on its way (undated): never say when"

_STATE_SCHEMA: JsonDict = {
    "type": "object",
    "required": ["status", "badge", "restock_eta", "eta_source", "back_soon", "v"],
    "properties": {
        "status": _STATUS,
        "badge": _BADGE,
        "restock_eta": {"type": ["string", "null"], "format": "date"},
        "eta_source": {"type": ["string", "null"]},
        "on_its_way": {"type": "boolean", "const": True, "description": _WAY},
        "back_soon": {"type": "boolean", "description": "true when the back-soon form should be offered"},
        "v": {"type": "integer", "const": 1},
    },
}

OPENAPI = ApiDoc(
    {
        "/storefront/v1/stores/{store_id}/products/{product_ref}": {
            "get": _read_op(
                "storefrontProduct",
                "A product's variants with their stock state, and the store's signup settings",
                "StorefrontProduct",
                [_STORE_ID, _PRODUCT_REF, _LOCALE],
            ),
        },
        "/storefront/v1/stores/{store_id}/variants/{variant_ref}": {
            "get": _read_op(
                "storefrontVariant", "One variant's stock state", "StorefrontVariant", [_STORE_ID, _VARIANT_REF]
            ),
        },
        "/storefront/v1/stores/{store_id}/subscriptions": {
            "post": _signup_op("storefrontSubscribe", "Join a variant's back-in-stock waitlist", [_STORE_ID]),
        },
        "/storefront/proxy/v1/products/{product_ref}": {
            "get": _read_op(
                "proxyProduct",
                "The product document through the Shopify App Proxy",
                "StorefrontProduct",
                [_PRODUCT_REF, _LOCALE, *_PROXY_PARAMS],
                proxy=True,
            ),
        },
        "/storefront/proxy/v1/variants/{variant_ref}": {
            "get": _read_op(
                "proxyVariant",
                "One variant's state through the Shopify App Proxy",
                "StorefrontVariant",
                [_VARIANT_REF, *_PROXY_PARAMS],
                proxy=True,
            ),
        },
        "/storefront/proxy/v1/subscriptions": {
            "post": _signup_op(
                "proxySubscribe", "Join a waitlist through the Shopify App Proxy", _PROXY_PARAMS, proxy=True
            ),
        },
        "/storefront/proxy/subscribe": {
            "post": {
                "operationId": "proxyFormSubscribe",
                "summary": "The theme block's plain form signup (no JavaScript) through the Shopify App Proxy",
                "description": (
                    "Form fields as StorefrontSignup plus return_to (a path on the shop). Answers 303 to "
                    "return_to with backsoon=subscribed|error and backsoon_reason, or a small HTML page."
                ),
                "tags": ["storefront"],
                "security": [],
                "parameters": _PROXY_PARAMS,
                "requestBody": {
                    "required": True,
                    "content": {"application/x-www-form-urlencoded": {"schema": schema_ref("StorefrontSignup")}},
                },
                "responses": {
                    "200": _HTML_PAGE,
                    "303": {"description": "Back to return_to with the outcome in the query"},
                    "400": _HTML_PAGE,
                    **_PROXY_ERRORS,
                    "404": error_response("Unknown or inactive shop"),
                    "429": error_response("rate_limited"),
                },
            }
        },
        "/c/{token}": {
            "parameters": [_TOKEN],
            "get": {
                "operationId": "confirmPage",
                "summary": "Double-opt-in page with a Confirm button (never confirms by itself)",
                "tags": ["storefront"],
                "security": [],
                "responses": {"200": _HTML_PAGE, "404": _HTML_PAGE, "409": _HTML_PAGE, "410": _HTML_PAGE},
            },
            "post": {
                "operationId": "confirmSubscription",
                "summary": "Confirm the signup once (404 unknown, 409 already used, 410 expired)",
                "tags": ["storefront"],
                "security": [],
                "responses": {"200": _HTML_PAGE, "404": _HTML_PAGE, "409": _HTML_PAGE, "410": _HTML_PAGE},
            },
        },
        "/u/{token}": {
            "parameters": [_TOKEN],
            "get": {
                "operationId": "unsubscribePage",
                "summary": "Unsubscribe page with a button (never unsubscribes by itself)",
                "tags": ["storefront"],
                "security": [],
                "responses": {"200": _HTML_PAGE, "404": _HTML_PAGE},
            },
            "post": {
                "operationId": "unsubscribe",
                "summary": "Unsubscribe: the page's form or RFC 8058 one-click (List-Unsubscribe=One-Click)",
                "tags": ["storefront"],
                "security": [],
                "responses": {"200": _HTML_PAGE, "404": _HTML_PAGE},
            },
        },
    },
    components={
        "schemas": {
            "StorefrontState": _STATE_SCHEMA,
            "StorefrontProduct": {
                "type": "object",
                "required": ["store", "product", "variants"],
                "properties": {
                    "store": {
                        "type": "object",
                        "required": ["id", "name", "locale", "double_opt_in", "consent"],
                        "properties": {
                            "id": {"type": "integer"},
                            "name": {"type": "string"},
                            "locale": {"type": "string", "enum": list(rules.LOCALES)},
                            "double_opt_in": {"type": "boolean"},
                            "consent": {
                                "type": "object",
                                "required": ["text", "version"],
                                "properties": {"text": {"type": "string"}, "version": {"type": "string"}},
                            },
                            "texts": {
                                "type": "object",
                                "description": (
                                    "The merchant's own storefront words in this language, only those set: "
                                    "[count] and [date] are slots for the widget to fill."
                                ),
                                "properties": {
                                    "only_n_left": {"type": "string"},
                                    "selling_fast": {"type": "string"},
                                    "back_soon": {"type": "string"},
                                },
                            },
                        },
                    },
                    "product": {
                        "type": "object",
                        "required": ["id", "title", "url", "image_url", "listing"],
                        "properties": {
                            "id": {"type": "string"},
                            "title": {"type": "string"},
                            "url": {"type": ["string", "null"]},
                            "image_url": {"type": ["string", "null"]},
                            "listing": {
                                "type": "object",
                                "description": "The whole product as a listing card shows it (its published variants)",
                                "required": ["status", "badge"],
                                "properties": {"status": _STATUS, "badge": _BADGE},
                            },
                        },
                    },
                    "variants": {
                        "type": "object",
                        "description": "Keyed by variant external id: the state shape plus the variant title",
                        "additionalProperties": {
                            "allOf": [
                                schema_ref("StorefrontState"),
                                {"type": "object", "properties": {"title": {"type": "string"}}},
                            ]
                        },
                    },
                },
            },
            "StorefrontVariant": {
                "type": "object",
                "required": ["variant", "product", "state"],
                "properties": {
                    "variant": {"type": "string"},
                    "product": {"type": "string"},
                    "state": schema_ref("StorefrontState"),
                },
            },
            "StorefrontSignup": {
                "type": "object",
                "required": ["email", "variant_id", "consent", "consent_version"],
                "properties": {
                    "email": {"type": "string", "maxLength": 254},
                    "variant_id": {"type": "string", "description": "The variant's external id"},
                    "consent": {"type": "boolean"},
                    "consent_version": {"type": "string", "description": _CONSENT_VERSION},
                    "root": {
                        "type": "string",
                        "description": (
                            "The storefront's locale or market root the shopper is on (Shopify routes.root_url, "
                            "e.g. /nl or /en-ca); the restock email's buy link leads back under it. Other values are "
                            "ignored."
                        ),
                    },
                    "locale": {"type": "string"},
                    "source": {"type": "string", "enum": ["widget", "landing"]},
                    "website": {"type": "string", "description": "Honeypot: leave empty"},
                },
            },
            "StorefrontSignupAccepted": {
                "type": "object",
                "required": ["ok", "confirm", "message"],
                "properties": {
                    "ok": {"type": "boolean", "const": True},
                    "confirm": {"type": "boolean", "description": "true: a confirmation email is on its way"},
                    "message": {"type": "string", "description": "Localised text to show the shopper"},
                },
            },
        }
    },
)
