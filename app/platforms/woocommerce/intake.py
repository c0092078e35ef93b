"""WooCommerce's webhook intake: one URL per store, signed with the secret BackSoon set on the store's webhooks."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from werkzeug.datastructures import EnvironHeaders

from app.infra.crypto import cipher_for
from app.infra.http import Answer, error_answer, json_answer
from app.infra.openapi import error_response, json_response
from app.models import Store, StoreStatus
from app.platforms.base import WebhookIntake
from app.runtime import Runtime
from app.services.ingest import inbox
from integrations.woocommerce.payloads import PayloadError
from integrations.woocommerce.webhooks import WooHeaders, dedupe_key, is_ping, verify_signature

PLATFORM = "woocommerce"
_KEPT_HEADERS = (
    "X-WC-Webhook-Topic",
    "X-WC-Webhook-Resource",
    "X-WC-Webhook-Event",
    "X-WC-Webhook-Source",
    "X-WC-Webhook-ID",
    "X-WC-Webhook-Delivery-ID",
)
_MAX_ID = 2**63 - 1


def receive(rt: Runtime, environ: dict[str, Any], raw: bytes, values: Mapping[str, Any]) -> Answer:
    """Answer a creation ping, or verify one delivery for the store its URL names and store it once per state."""
    webhook_id = is_ping(environ.get("CONTENT_TYPE"), raw)
    if webhook_id is not None:
        # WooCommerce pings a new webhook unsigned and disables it unless the answer is 2xx; nothing to store.
        return json_answer(200, {"ping": True, "webhook_id": webhook_id})
    store_id: int = values["store_id"]
    sent = EnvironHeaders(environ)
    with rt.db.session() as session:
        store = session.get(Store, store_id) if 0 < store_id <= _MAX_ID else None
        if store is None or store.platform != PLATFORM:
            return error_answer(404, "not_found", "No such store.")
        secret = _secret(rt, store)
        if secret is None or not verify_signature(raw, sent.get("X-WC-Webhook-Signature"), secret):
            return error_answer(401, "invalid_signature", "The X-WC-Webhook-Signature header does not match the body.")
        try:
            headers = WooHeaders.from_headers(sent)
        except PayloadError as exc:
            return error_answer(400, "invalid_headers", str(exc))
        recorded = inbox.record_delivery(
            session,
            rt.jobs,
            platform=PLATFORM,
            topic=headers.topic,
            # X-WC-Webhook-Delivery-ID repeats across deliveries; topic + body identify one.
            dedupe_key=dedupe_key(headers.topic, raw),
            body=raw,
            headers={name: sent[name] for name in _KEPT_HEADERS if name in sent},
            store_id=store.id,
            process=store.status == StoreStatus.ACTIVE,
        )
    return json_answer(200, {"received": True, "duplicate": not recorded.created, "processed": recorded.processed})


def _secret(rt: Runtime, store: Store) -> str | None:
    if store.webhook_secret_encrypted is None:
        return None
    try:
        return cipher_for(rt.settings).decrypt(store.webhook_secret_encrypted).decode()
    except Exception:
        # A secret we cannot read verifies nothing; the delivery is refused like a bad signature.
        return None


_OPENAPI = {
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
}

INTAKE = WebhookIntake(rule="/woocommerce/<int:store_id>", receive=receive, openapi=_OPENAPI)
