"""Connecting a WooCommerce store: the wc-auth approval flow, the paste-keys form, and the wc-auth key callback.

- ``GET /woocommerce/connect``: two forms (store URL for wc-auth; store URL + consumer key/secret).
- ``POST /woocommerce/connect``: create the pending store and send the merchant to the store's wc-auth page.
- ``POST /woocommerce/keys``: check pasted keys with a real API call; store them only if the call works.
- ``POST /woocommerce/callback``: WooCommerce posts the new key here (server to server). Exactly 200 keeps it;
  any other status makes WooCommerce delete the key, so a refused payload answers 400 and stores nothing.
- ``GET /woocommerce/connected``: where wc-auth returns the merchant (``success=1|0&user_id=…`` appended); the
  browser that started the attempt the key was bound to is signed in to the admin here, once.

The merchant forms carry a CSRF token kept in Flask's signed session cookie, and so does the raw id of the wc-auth
attempt this browser started (see connect.py); the callback has no cookie and is accepted only for a live attempt
whose id is the wc-auth ``user_id``.
"""

from __future__ import annotations

import hmac
import logging
import secrets as pysecrets
from typing import Any

from email_validator import EmailNotValidError, validate_email
from flask import Blueprint, jsonify, make_response, redirect, render_template, request, session, url_for
from werkzeug.wrappers import Response

from app.db import utcnow
from app.domain.store_identity import normalize
from app.infra.openapi import ApiDoc, error_response, json_response
from app.models import Store, StoreStatus
from app.platforms import registry
from app.platforms.woocommerce import connect as woo_connect
from app.platforms.woocommerce import identity as woo_identity
from app.platforms.woocommerce import sync as woo_sync
from app.platforms.woocommerce.connect import ConnectError
from app.platforms.woocommerce.platform import WOOCOMMERCE
from app.services.merchant import email_confirm
from app.services.merchant.identity import known_zones, set_overrides
from app.web.admin.auth import SESSION_STORE_KEY, sign_in
from app.web.deps import abort_json, db_session, runtime

log = logging.getLogger(__name__)

bp = Blueprint("woocommerce", __name__, url_prefix="/woocommerce")

_CSRF_KEY = "woo_csrf"
_MINE_KEY = "woo_stores"  # store ids this browser started connecting, for the return page
_ATTEMPT_KEY = "woo_attempt"  # {"store": id, "attempt": raw id} of the wc-auth attempt this browser started last


def csrf_token() -> str:
    """This browser session's CSRF token for the merchant forms (created on first use)."""
    token = session.get(_CSRF_KEY)
    if not isinstance(token, str) or not token:
        token = pysecrets.token_urlsafe(32)
        session[_CSRF_KEY] = token
    return token


def csrf_ok() -> bool:
    """True when the posted form's csrf_token matches this session's token."""
    expected = session.get(_CSRF_KEY)
    sent = request.form.get("csrf_token", "")
    return isinstance(expected, str) and bool(expected) and hmac.compare_digest(expected.encode(), sent.encode())


def _remember(store_id: int) -> None:
    mine = [i for i in session.get(_MINE_KEY, []) if isinstance(i, int) and i != store_id]
    session[_MINE_KEY] = [*mine[-4:], store_id]


def _page(template: str, status: int = 200, **context: Any) -> Response:
    resp = make_response(render_template(template, csrf_token=csrf_token(), **context), status)
    resp.headers["Cache-Control"] = "no-store"
    resp.headers["Content-Security-Policy"] = "frame-ancestors 'none'"
    return resp


def _form(status: int = 200, **context: Any) -> Response:
    context.setdefault("errors", {})
    context.setdefault("values", {})
    return _page("woocommerce/connect.html", status, **context)


@bp.get("/connect")
def connect_form() -> Response:
    """The connect page: approve in WooCommerce, or paste API keys."""
    return _form()


@bp.post("/connect")
def connect_start() -> Response:
    """Create the pending store and redirect to the store's wc-auth approval page."""
    url = request.form.get("url", "")
    if not csrf_ok():
        return _form(400, form="authorize", values={"url": url}, errors={"form": _EXPIRED})
    settings = runtime().settings
    timezone = request.form.get("timezone", "").strip()
    if "timezone" in request.form:
        # Asked on the previous page: the store names no timezone, so the merchant's answer is the store's.
        if normalize("timezone", timezone, known_zones()) is None:
            values = {"url": url, "timezone": timezone[:64]}
            return _form(
                400,
                form="authorize",
                values=values,
                ask_timezone=True,
                zones=sorted(known_zones()),
                errors={"timezone": _TIMEZONE},
            )
    else:
        ask, offset = woo_connect.needs_timezone(settings, url)
        if ask:
            values = {"url": url, "timezone": woo_connect.offset_zone(offset) or ""}
            return _form(200, form="authorize", values=values, ask_timezone=True, zones=sorted(known_zones()))
    db = db_session()
    try:
        started = woo_connect.start_connection(db, settings, url)
        if timezone:
            set_overrides(started.store, {"timezone": timezone})
        db.commit()
    except ConnectError as exc:
        db.rollback()
        return _form(400, form="authorize", values={"url": url}, errors={exc.field or "form": exc.message})
    _remember(started.store.id)
    session[_ATTEMPT_KEY] = {"store": started.store.id, "attempt": started.attempt}
    resp = redirect(started.url, 302)
    resp.headers["Cache-Control"] = "no-store"
    return resp


_EXPIRED = "This form expired or was not sent from BackSoon. Reload the page and try again."
_TIMEZONE = "Choose a time zone from the list, for example Europe/Amsterdam."
_INVALID_EMAIL = "Enter a valid email address, or leave it empty."


@bp.post("/keys")
def connect_keys() -> Response:
    """Check pasted consumer key/secret against the store; store them only when the store accepts them."""
    url = request.form.get("url", "")
    key = request.form.get("consumer_key", "")
    secret = request.form.get("consumer_secret", "")
    admin_email = request.form.get("admin_email", "").strip()
    # The secret is never echoed back into the page.
    values = {"url": url, "consumer_key": key, "admin_email": admin_email[:320]}
    if not csrf_ok():
        return _form(400, form="keys", values=values, errors={"form": _EXPIRED})
    errors: dict[str, str] = {}
    if admin_email:
        try:
            admin_email = validate_email(admin_email, check_deliverability=False).normalized.lower()
        except EmailNotValidError:
            errors["admin_email"] = _INVALID_EMAIL
    if not url.strip():
        errors["url"] = "Enter your store's address, for example https://myshop.com."
    if not key.strip():
        errors["key"] = "Paste the consumer key (it starts with ck_)."
    if not secret.strip():
        errors["secret"] = "Paste the consumer secret (it starts with cs_)."  # noqa: S105 (a message)
    if errors:
        return _form(400, form="keys", values=values, errors=errors)
    db = db_session()
    try:
        store = woo_connect.connect_with_keys(db, runtime().settings, url, key, secret, jobs=runtime().jobs)
        # A typed address is the merchant's own value only once a link sent to it is clicked (it will receive
        # sign-in links); the address the store reports needs no link.
        link = None
        if admin_email and email_confirm.needs_confirmation(store, admin_email):
            link = email_confirm.request_confirmation(db, runtime().settings, store, admin_email, utcnow())
        elif admin_email and set_overrides(store, {"admin_email": admin_email}):
            raise ConnectError("invalid_email", _INVALID_EMAIL, field="admin_email")
        woo_sync.start_sync(db, runtime().jobs, store.id)
        db.commit()
    except ConnectError as exc:
        db.rollback()
        return _form(400, form="keys", values=values, errors={exc.field or "form": exc.message})
    if link is not None:
        email_confirm.send(runtime().settings, link)
    # Keys the store just accepted prove this browser administers it: sign it in to the merchant admin. (A wc-auth
    # approval reaches us server to server; there only the browser that started that very attempt is signed in.)
    sign_in(store.id)
    _remember(store.id)
    return redirect(url_for(".connected", store=store.id), 303)


@bp.post("/callback")
def callback() -> tuple[Response, int]:
    """Receive the key WooCommerce created (JSON); exactly 200 when stored, a 4xx JSON and nothing stored otherwise."""
    payload = request.get_json(force=True, silent=True)
    user_id = payload.get("user_id") if isinstance(payload, dict) else None
    if not isinstance(user_id, str) or not woo_connect.ATTEMPT_RE.fullmatch(user_id):
        abort_json(400, "invalid_user_id", "user_id must be the id of a connect attempt waiting for its key.")
    db = db_session()
    try:
        store, new = woo_connect.accept_keys(db, runtime().settings, payload, jobs=runtime().jobs)
        if new:
            woo_sync.start_sync(db, runtime().jobs, store.id)
            # Not read here: WooCommerce waits on this answer (see connect.py); a job reads it after the commit.
            woo_identity.schedule_refresh(db, runtime().jobs, store.id)
        db.commit()
    except ConnectError as exc:
        db.rollback()
        log.info("wc-auth callback refused: %s", exc.code)
        abort_json(exc.status, exc.code, exc.message)
    log.info("wc-auth callback stored a key for store %s", store.id)
    return jsonify({"ok": True}), 200


def _sign_in_attempt(store: Store) -> None:
    """Sign this browser in when it started the attempt the store's key was bound to (once, latest attempt only)."""
    mine = session.get(_ATTEMPT_KEY)
    if not isinstance(mine, dict) or mine.get("store") != store.id or not isinstance(mine.get("attempt"), str):
        return
    db = db_session()
    if not woo_connect.sign_in_attempt(db, store.id, mine["attempt"]):
        db.rollback()
        return
    db.commit()
    sign_in(store.id)  # a fresh session: the spent attempt id goes with the old one
    _remember(store.id)


@bp.get("/connected")
def connected() -> Response:
    """The page wc-auth returns the merchant to: connected and syncing, still waiting, or why it failed."""
    raw = request.args.get("store", "")
    store_id = int(raw) if raw.isdigit() and 0 < int(raw) <= 2**63 - 1 else None
    mine = session.get(_MINE_KEY, [])
    store: Store | None = None
    if store_id is not None and isinstance(mine, list) and store_id in mine:
        found = db_session().get(Store, store_id)
        store = found if found is not None and registry.of(found) is WOOCOMMERCE else None
    if store is None:
        # Not started from this browser: say nothing about the store.
        return _page("woocommerce/connected.html", state="unknown", store=None, warning=None)
    if request.args.get("success") == "0" and store.status != StoreStatus.ACTIVE:
        state = "declined"
    elif store.status == StoreStatus.ACTIVE:
        state = "connected"
        _sign_in_attempt(store)
    elif store.status == StoreStatus.PENDING:
        state = "waiting"
    else:
        state = "failed"
    signed_in = session.get(SESSION_STORE_KEY) == store.id
    return _page(
        "woocommerce/connected.html",
        state=state,
        store=store,
        warning=woo_connect.http_warning(store.domain),
        signed_in=signed_in,
        pending_email=email_confirm.pending(db_session(), store.id, utcnow()) if signed_in else None,
        # The store key is for the merchant only: shown once this browser is signed in to the store's admin.
        next_step=WOOCOMMERCE.next_step(store, runtime().settings) if signed_in and state == "connected" else None,
    )


OPENAPI = ApiDoc(
    {
        "/woocommerce/callback": {
            "post": {
                "operationId": "wooCommerceAuthCallback",
                "summary": "Receive the API keys WooCommerce's wc-auth flow posts after the merchant approves",
                "description": (
                    "Server-to-server JSON from the store: key_id, user_id (the id of our connect attempt), "
                    "consumer_key, consumer_secret, key_permissions (must be read_write). Answered exactly 200 on "
                    "success, because WooCommerce deletes the key on any other status; a superseded or already "
                    "used attempt answers 409."
                ),
                "tags": ["woocommerce"],
                "security": [],
                "requestBody": {
                    "required": True,
                    "content": {
                        "application/json": {
                            "schema": {
                                "type": "object",
                                "required": ["key_id", "user_id", "consumer_key", "consumer_secret", "key_permissions"],
                                "properties": {
                                    "key_id": {"type": "integer", "minimum": 0},
                                    "user_id": {"type": "string", "pattern": "^[A-Za-z0-9_-]{32,64}$"},
                                    "consumer_key": {"type": "string", "pattern": "^ck_[0-9a-f]{40}$"},
                                    "consumer_secret": {"type": "string", "pattern": "^cs_[0-9a-f]{40}$"},
                                    "key_permissions": {"type": "string", "enum": ["read_write"]},
                                },
                            }
                        }
                    },
                },
                "responses": {
                    "200": json_response("Keys stored; the first sync starts", {"type": "object"}),
                    "400": error_response("Missing or invalid fields, or the attempt expired; nothing stored"),
                    "404": error_response("No connect attempt is waiting under this user_id; nothing stored"),
                    "409": error_response("Attempt superseded by a newer one, or already used; nothing stored"),
                },
            }
        }
    }
)
