"""Shopify's webhook intake: every topic of every shop on one URL, verified on the raw body, recorded, acknowledged."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from app.infra.http import Answer, error_answer, json_answer
from app.infra.openapi import error_response, json_response
from app.platforms.base import WebhookIntake
from app.runtime import Runtime
from app.services.ingest import inbox
from integrations.shopify.payloads import PayloadError, WebhookHeaders
from integrations.shopify.verify import verify_webhook

PLATFORM = "shopify"
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

# The four acknowledgements, built once: this path answers every delivery of every shop.
_ACKS = {
    (duplicate, processed): json_answer(200, {"received": True, "duplicate": duplicate, "processed": processed})
    for duplicate in (False, True)
    for processed in (False, True)
}


def receive(rt: Runtime, environ: dict[str, Any], raw: bytes, values: Mapping[str, Any]) -> Answer:
    """Verify one delivery's HMAC, store it once per webhook id (ignored for shops we do not serve), acknowledge."""
    settings = rt.settings
    secrets = [s for s in (settings.shopify_api_secret, settings.shopify_api_secret_old) if s]
    if not secrets or not verify_webhook(raw, environ.get("HTTP_X_SHOPIFY_HMAC_SHA256"), secrets):
        # Nothing is stored for a delivery we cannot prove came from Shopify.
        return error_answer(401, "invalid_hmac", "The X-Shopify-Hmac-Sha256 header does not match the body.")
    # Only Shopify's own headers, lower-cased: names are case-insensitive, and the kept ones are stored under
    # _KEPT_HEADERS' spelling.
    sent = {
        key[5:].replace("_", "-").lower(): value for key, value in environ.items() if key.startswith(_SHOPIFY_PREFIXES)
    }
    try:
        headers = WebhookHeaders.from_headers(sent)
    except PayloadError as exc:
        return error_answer(400, "invalid_headers", str(exc))
    recorded = inbox.ingest(
        rt.db,
        rt.jobs,
        platform=PLATFORM,
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


_OPENAPI = {
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
}

INTAKE = WebhookIntake(rule="/shopify", receive=receive, openapi=_OPENAPI)
