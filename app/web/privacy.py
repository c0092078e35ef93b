"""A store's own privacy tools reach BackSoon here: export and erase one shopper's waitlist data.

The WordPress plugin registers WordPress's personal-data exporter and eraser and calls these two endpoints with
the store's admin API key (``Authorization: Bearer <key>``), so a request handled in *Tools → Export/Erase
Personal Data* covers what BackSoon holds too. Only an admin API key opens them: unlike the read API, the demo
store is not public here and no App Bridge session token is taken, since the answer is one shopper's personal data.
"""

from __future__ import annotations

import hmac
from typing import Any

from flask import Blueprint, Response, jsonify, request

from app.infra.openapi import ApiDoc, error_response, json_response
from app.models import Store
from app.services.merchant import compliance
from app.services.merchant.api_keys import hash_api_key
from app.services.notify.waitlist import MAX_EMAIL_LENGTH, SignupError, normalise_email
from app.web.deps import ASK_FOR_KEY, NO_KEY, abort_json, bearer_token, db_session
from app.web.params import check_id

bp = Blueprint("privacy", __name__, url_prefix="/api/v1")


def _store_for_key(store_id: int) -> Store:
    """The store in the URL when the request carries its admin API key: 401 without a key, 403 with another."""
    check_id(store_id, "store")
    token = bearer_token()
    if not token:
        abort_json(401, "unauthorized", NO_KEY, headers=ASK_FOR_KEY)
    store = db_session().get(Store, store_id) if store_id > 0 else None
    if store is None:
        abort_json(404, "not_found", "No such store.")
    if store.api_key_hash is None or not hmac.compare_digest(store.api_key_hash, hash_api_key(token)):
        abort_json(403, "forbidden", "This key is not the admin API key of this store.")
    return store


def _email() -> str:
    """The shopper's address as stored: 400 unless the body is {"email": "<something@somewhere>"}."""
    body = request.get_json(force=True, silent=True)
    if not isinstance(body, dict):
        abort_json(400, "invalid_body", 'Send a JSON object: {"email": "..."}.')
    raw = body.get("email")
    if not isinstance(raw, str) or "@" not in raw or len(raw.strip()) > MAX_EMAIL_LENGTH:
        abort_json(400, "invalid_email", "Send the shopper's email address.", {"email": "invalid"})
    text = raw.strip()
    if any(ch in text for ch in "\r\n\x00"):
        abort_json(400, "invalid_email", "Send the shopper's email address.", {"email": "invalid"})
    try:
        return normalise_email(text)
    except SignupError:
        # Signup refuses such an address (e.g. a .test domain), so no waitlist holds it; the store's privacy tool
        # still gets an answer ("nothing held") rather than an error that would stop its whole request.
        return text.lower()


@bp.post("/stores/<int:store_id>/privacy/export")
def export_shopper(store_id: int) -> Response:
    """Everything BackSoon holds about one shopper of the store: waitlist subscriptions and order records."""
    store = _store_for_key(store_id)
    email = _email()
    session = db_session()
    export = compliance.export_shopper(session, store, email)
    session.commit()
    return jsonify({"email": email, **export})


@bp.post("/stores/<int:store_id>/privacy/erase")
def erase_shopper(store_id: int) -> Response:
    """Erase one shopper of the store; asking again is harmless and reports nothing removed."""
    store = _store_for_key(store_id)
    email = _email()
    session = db_session()
    result = compliance.erase_shopper(session, store, email)
    session.commit()
    return jsonify({"email": email, "subscriptions_removed": result.subscriptions, "orders_anonymised": result.orders})


_BODY: dict[str, Any] = {
    "required": True,
    "content": {
        "application/json": {
            "schema": {
                "type": "object",
                "required": ["email"],
                "properties": {"email": {"type": "string", "format": "email"}},
            }
        }
    },
}
_ERRORS: dict[str, Any] = {
    "400": error_response("Not a JSON object, or no email address in it"),
    "401": error_response("No admin API key was sent"),
    "403": error_response("The key is not this store's admin API key"),
    "404": error_response("No such store"),
}
_WHEN = {"type": "string", "format": "date-time"}
_MAYBE_WHEN = {"type": ["string", "null"], "format": "date-time"}

OPENAPI = ApiDoc(
    {
        "/api/v1/stores/{store_id}/privacy/export": {
            "parameters": [{"$ref": "#/components/parameters/StoreId"}],
            "post": {
                "operationId": "exportShopper",
                "summary": "Everything BackSoon holds about one shopper (the store's personal-data export)",
                "tags": ["privacy"],
                "security": [{"adminKey": []}],
                "requestBody": _BODY,
                "responses": {
                    "200": json_response(
                        "The shopper's data",
                        {
                            "type": "object",
                            "required": ["email", "waitlist_subscriptions", "orders"],
                            "properties": {
                                "email": {"type": "string"},
                                "waitlist_subscriptions": {
                                    "type": "array",
                                    "items": {
                                        "type": "object",
                                        "properties": {
                                            "product": {"type": "string"},
                                            "variant": {"type": "string"},
                                            "sku": {"type": ["string", "null"]},
                                            "email": {"type": "string"},
                                            "locale": {"type": ["string", "null"]},
                                            "storefront_root": {"type": ["string", "null"]},
                                            "state": {"type": "string"},
                                            "subscribed_at": _WHEN,
                                            "confirmed_at": _MAYBE_WHEN,
                                            "notified_at": _MAYBE_WHEN,
                                            "unsubscribed_at": _MAYBE_WHEN,
                                            "consents": {"type": "array", "items": {"type": "object"}},
                                            "emails": {"type": "array", "items": {"type": "object"}},
                                        },
                                    },
                                },
                                "orders": {
                                    "type": "array",
                                    "items": {
                                        "type": "object",
                                        "properties": {
                                            "order": {"type": "string"},
                                            "email": {"type": ["string", "null"]},
                                            "ordered_at": _WHEN,
                                        },
                                    },
                                },
                            },
                        },
                    ),
                    **_ERRORS,
                },
            },
        },
        "/api/v1/stores/{store_id}/privacy/erase": {
            "parameters": [{"$ref": "#/components/parameters/StoreId"}],
            "post": {
                "operationId": "eraseShopper",
                "summary": "Erase one shopper's waitlist data and the personal fields of their order records",
                "description": "Idempotent: asking again answers 200 with nothing removed.",
                "tags": ["privacy"],
                "security": [{"adminKey": []}],
                "requestBody": _BODY,
                "responses": {
                    "200": json_response(
                        "What was erased",
                        {
                            "type": "object",
                            "required": ["email", "subscriptions_removed", "orders_anonymised"],
                            "properties": {
                                "email": {"type": "string"},
                                "subscriptions_removed": {"type": "integer"},
                                "orders_anonymised": {"type": "integer"},
                            },
                        },
                    ),
                    **_ERRORS,
                },
            },
        },
    }
)
