"""Webhook endpoints: verify on the raw body, record in the inbox, enqueue after commit, answer fast."""

from __future__ import annotations

import json
import logging
import uuid
from typing import Any

from flask import Blueprint, Flask, Response, jsonify, request
from werkzeug.exceptions import HTTPException
from werkzeug.wsgi import get_input_stream

from app.infra.crypto import cipher_for
from app.logs import log_context
from app.models import Store, StoreStatus
from app.platforms import registry
from app.platforms.shopify.platform import SHOPIFY
from app.platforms.woocommerce.platform import WOOCOMMERCE
from app.runtime import Runtime
from app.services.ingest import inbox
from app.web.deps import abort_json, db_session, runtime
from app.web.openapi import ApiDoc, error_response, json_response
from integrations.shopify.payloads import PayloadError, WebhookHeaders
from integrations.shopify.verify import verify_webhook
from integrations.woocommerce.payloads import PayloadError as WooPayloadError
from integrations.woocommerce.webhooks import WooHeaders, is_ping, verify_signature
from integrations.woocommerce.webhooks import dedupe_key as woo_dedupe_key

log = logging.getLogger(__name__)

bp = Blueprint("webhooks", __name__, url_prefix="/webhooks")

# Shopify sends these after uninstall too (shop/redact comes 48 hours later): they must still be honoured.
COMPLIANCE_TOPICS = frozenset({"customers/data_request", "customers/redact", "shop/redact"})
# Only what processing or an audit needs; never the HMAC itself.
_KEPT_HEADERS = (
    "X-Shopify-Topic",
    "X-Shopify-Shop-Domain",
    "X-Shopify-Webhook-Id",
    "X-Shopify-Event-Id",
    "X-Shopify-Triggered-At",
    "X-Shopify-API-Version",
)
_KEPT = tuple((name, name.lower()) for name in _KEPT_HEADERS)
# WSGI names of the headers WebhookHeaders reads (Shopify is moving from X-Shopify-* to Shopify-*).
_SHOPIFY_PREFIXES = ("HTTP_X_SHOPIFY_", "HTTP_SHOPIFY_")


SHOPIFY_PATH = "/webhooks/shopify"
# A product with 2,000 variants is a multi-megabyte products/update delivery.
MAX_WEBHOOK_BYTES = 16 * 1024 * 1024
_STATUS_LINES = {
    200: "200 OK",
    400: "400 Bad Request",
    401: "401 Unauthorized",
    413: "413 Request Entity Too Large",
    500: "500 Internal Server Error",
    503: "503 Service Unavailable",
}
Answer = tuple[int, list[tuple[str, str]], bytes]


def install_shopify_front(app: Flask) -> None:
    """Answer POST /webhooks/shopify in front of Flask, with receive_shopify (one per app, like the read cache).

    Shopify sends every topic of every shop here, so this path is the app's busiest write. Flask's routing, request
    context, hooks and session machinery cost more than the delivery's own work, and nothing they provide is used
    here: the request id, the log context, the body limit and the JSON errors are done in receive_shopify.
    """
    rt: Runtime = app.extensions["backsoon"]
    inner = app.wsgi_app

    def front(environ: dict[str, Any], start_response: Any) -> Any:
        if environ.get("PATH_INFO") == SHOPIFY_PATH and environ.get("REQUEST_METHOD") == "POST":
            status, headers, body = receive_shopify(rt, environ)
            start_response(_STATUS_LINES[status], list(headers))  # the acknowledgements are shared
            return [body]
        return inner(environ, start_response)

    app.wsgi_app = front  # type: ignore[method-assign]


@bp.post("/shopify")
def shopify() -> Response:
    """Receive any Shopify topic, compliance topics included (served by the front; kept for the URL map)."""
    status, headers, body = receive_shopify(runtime(), request.environ)
    return Response(body, status=status, headers=headers)


def receive_shopify(rt: Runtime, environ: dict[str, Any]) -> Answer:
    """Verify, record and acknowledge one Shopify delivery from its WSGI environ."""
    request_id = environ.get("HTTP_X_REQUEST_ID") or uuid.uuid4().hex[:16]
    with log_context(request_id=request_id):
        try:
            return _receive_shopify(rt, environ)
        except HTTPException as exc:
            # What werkzeug raises while reading the body: too large, or the client went away.
            return _error(exc.code or 400, (exc.name or "error").lower().replace(" ", "_"), exc.description or "")
        except inbox.DatabaseUnavailable as exc:
            # 503 quickly so Shopify retries later, instead of a slow 500.
            log.error("database unavailable on POST %s: %s", SHOPIFY_PATH, exc.__cause__.__class__.__name__)
            status, headers, body = _error(503, "unavailable", "The database is unavailable; retry later.")
            return status, [*headers, ("Retry-After", "30")], body
        except Exception:
            log.exception("unhandled error on POST %s", SHOPIFY_PATH)
            return _error(500, "internal_error", "Something went wrong on our side.")


def _receive_shopify(rt: Runtime, environ: dict[str, Any]) -> Answer:
    # Refused on Content-Length before anything is read; a chunked body is cut off past the limit.
    raw = get_input_stream(environ, max_content_length=MAX_WEBHOOK_BYTES).read()
    settings = rt.settings
    secrets = [s for s in (settings.shopify_api_secret, settings.shopify_api_secret_old) if s]
    if not secrets or not verify_webhook(raw, environ.get("HTTP_X_SHOPIFY_HMAC_SHA256"), secrets):
        # Nothing is stored for a delivery we cannot prove came from Shopify.
        return _error(401, "invalid_hmac", "The X-Shopify-Hmac-Sha256 header does not match the body.")
    # Only Shopify's own headers, lower-cased: names are case-insensitive, and the kept ones are stored under
    # _KEPT_HEADERS' spelling.
    sent = {
        key[5:].replace("_", "-").lower(): value for key, value in environ.items() if key.startswith(_SHOPIFY_PREFIXES)
    }
    try:
        headers = WebhookHeaders.from_headers(sent)
    except PayloadError as exc:
        return _error(400, "invalid_headers", str(exc))
    recorded = inbox.ingest(
        rt.db,
        rt.jobs,
        platform=SHOPIFY.name,
        domain=headers.shop_domain,
        topic=headers.topic,
        dedupe_key=headers.webhook_id,
        body=raw,
        headers={name: sent[lower] for name, lower in _KEPT if lower in sent},
        triggered_at=headers.triggered_at,
        even_if_uninstalled=headers.topic in COMPLIANCE_TOPICS,
    )
    # 200 even for unknown or uninstalled shops: a non-2xx only makes Shopify retry, then give up on us.
    return _ACKS[(not recorded.created, recorded.processed)]


def _json(status: int, doc: dict[str, Any]) -> Answer:
    # As Flask's jsonify writes it (compact, trailing newline), so clients see the same bytes as from any route.
    body = (json.dumps(doc, separators=(",", ":")) + "\n").encode()
    return status, [("Content-Type", "application/json"), ("Content-Length", str(len(body)))], body


# The four acknowledgements, built once: this path answers every delivery of every shop.
_ACKS = {
    (duplicate, processed): _json(200, {"received": True, "duplicate": duplicate, "processed": processed})
    for duplicate in (False, True)
    for processed in (False, True)
}


def _error(status: int, code: str, message: str) -> Answer:
    # The shape of abort_json and the app's JSON error handlers.
    return _json(status, {"error": {"code": code, "message": message}})


@bp.post("/woocommerce/<int:store_id>")
def woocommerce(store_id: int) -> tuple[Response, int]:
    """Receive a WooCommerce webhook for one of our stores (its URL names the store; the secret is ours)."""
    raw = request.get_data(cache=False)
    webhook_id = is_ping(request.content_type, raw)
    if webhook_id is not None:
        # WooCommerce pings a new webhook unsigned and disables it unless the answer is 2xx; nothing to store.
        return jsonify({"ping": True, "webhook_id": webhook_id}), 200
    session = db_session()
    store = session.get(Store, store_id) if 0 < store_id <= 2**63 - 1 else None
    if store is None or registry.of(store) is not WOOCOMMERCE:
        abort_json(404, "not_found", "No such store.")
    secret = _woo_secret(store)
    if secret is None or not verify_signature(raw, request.headers.get("X-WC-Webhook-Signature"), secret):
        abort_json(401, "invalid_signature", "The X-WC-Webhook-Signature header does not match the body.")
    try:
        headers = WooHeaders.from_headers(request.headers)
    except WooPayloadError as exc:
        abort_json(400, "invalid_headers", str(exc))
    kept = {name: request.headers[name] for name in _WOO_KEPT_HEADERS if name in request.headers}
    recorded = inbox.record_delivery(
        session,
        runtime().jobs,
        platform=WOOCOMMERCE.name,
        topic=headers.topic,
        # X-WC-Webhook-Delivery-ID repeats across deliveries; topic + body identify one.
        dedupe_key=woo_dedupe_key(headers.topic, raw),
        body=raw,
        headers=kept,
        store_id=store.id,
        process=store.status == StoreStatus.ACTIVE,
    )
    session.commit()
    return jsonify({"received": True, "duplicate": not recorded.created, "processed": recorded.processed}), 200


_WOO_KEPT_HEADERS = (
    "X-WC-Webhook-Topic",
    "X-WC-Webhook-Resource",
    "X-WC-Webhook-Event",
    "X-WC-Webhook-Source",
    "X-WC-Webhook-ID",
    "X-WC-Webhook-Delivery-ID",
)


def _woo_secret(store: Store) -> str | None:
    if store.webhook_secret_encrypted is None:
        return None
    try:
        return cipher_for(runtime().settings).decrypt(store.webhook_secret_encrypted).decode()
    except Exception:
        # A secret we cannot read verifies nothing; the delivery is refused like a bad signature.
        return None


OPENAPI = ApiDoc(
    {
        "/webhooks/shopify": {
            "post": {
                "operationId": "shopifyWebhook",
                "summary": "Receive a Shopify webhook (every subscribed topic, compliance topics included)",
                "description": (
                    "Verified with X-Shopify-Hmac-Sha256 over the raw body (current or previous app secret), "
                    "stored once per X-Shopify-Webhook-Id, processed in the background."
                ),
                "tags": ["webhooks"],
                "security": [],
                "parameters": [
                    {"name": name, "in": "header", "required": True, "schema": {"type": "string"}}
                    for name in (
                        "X-Shopify-Hmac-Sha256",
                        "X-Shopify-Topic",
                        "X-Shopify-Shop-Domain",
                        "X-Shopify-Webhook-Id",
                    )
                ],
                "requestBody": {"required": True, "content": {"application/json": {"schema": {"type": "object"}}}},
                "responses": {
                    "200": json_response(
                        "Stored (or a duplicate, or for a shop we do not serve: acknowledged and ignored)",
                        {
                            "type": "object",
                            "required": ["received", "duplicate", "processed"],
                            "properties": {
                                "received": {"type": "boolean"},
                                "duplicate": {"type": "boolean"},
                                "processed": {"type": "boolean"},
                            },
                        },
                    ),
                    "400": error_response("Missing or invalid X-Shopify-* headers"),
                    "401": error_response("The HMAC does not match the body; nothing was stored"),
                    "413": error_response("Body over 16 MiB"),
                    "503": error_response("The database is unavailable; Shopify will retry"),
                },
            }
        },
        "/webhooks/woocommerce/{store_id}": {
            "post": {
                "operationId": "wooCommerceWebhook",
                "summary": "Receive a WooCommerce webhook for one of our stores",
                "description": (
                    "Verified with X-WC-Webhook-Signature (base64 HMAC-SHA256 of the raw body with the secret we "
                    "set when creating the webhook). The unsigned form-encoded ping (webhook_id=N) is answered "
                    "200 and not stored. Deliveries are deduplicated on topic + body."
                ),
                "tags": ["webhooks"],
                "security": [],
                "parameters": [
                    {"name": "store_id", "in": "path", "required": True, "schema": {"type": "integer", "minimum": 1}}
                ],
                "requestBody": {"required": True, "content": {"application/json": {"schema": {"type": "object"}}}},
                "responses": {
                    "200": json_response("Stored, a duplicate, or a ping", {"type": "object"}),
                    "400": error_response("Missing or malformed X-WC-Webhook-* headers"),
                    "401": error_response("The signature does not match the body; nothing was stored"),
                    "404": error_response("No such WooCommerce store"),
                    "413": error_response("Body over 16 MiB"),
                    "503": error_response("The database is unavailable"),
                },
            }
        },
    }
)
