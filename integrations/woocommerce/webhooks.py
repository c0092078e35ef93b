"""WooCommerce webhook deliveries: signature check, ping detection, headers and a dedupe key.

WooCommerce signs the raw body with the webhook's secret: X-WC-Webhook-Signature = base64(HMAC-SHA256(body)).
Headers are not signed, so a topic or source is trusted only because the body verified with this store's secret.
X-WC-Webhook-Delivery-ID is not unique per delivery (two product.updated deliveries from one request shared one in
the captured fixtures), so deduplication keys on topic + body bytes instead; see ``dedupe_key``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Protocol
from urllib.parse import parse_qsl

from integrations.woocommerce.payloads import PayloadError

__all__ = [
    "HeaderSource",
    "WooHeaders",
    "dedupe_key",
    "is_ping",
    "verify_signature",
]

_MAX_PING_BYTES = 64  # "webhook_id=N"; anything longer is not a ping
_DIGITS = re.compile(r"[0-9]{1,20}", re.ASCII)
_TOPIC = re.compile(r"[a-z_]+\.[a-z_]+", re.ASCII)


def verify_signature(raw_body: bytes, signature_header: str | None, secret: str) -> bool:
    """True when the header is base64(HMAC-SHA256(raw body, secret)); compared in constant time."""
    if not secret:
        raise ValueError("no webhook secret configured")  # an empty key would make any forger's HMAC valid
    if not signature_header or not signature_header.isascii():
        return False
    expected = base64.b64encode(hmac.new(secret.encode("utf-8"), raw_body, hashlib.sha256).digest())
    return hmac.compare_digest(expected, signature_header.strip().encode("ascii"))


def is_ping(content_type: str | None, raw_body: bytes) -> int | None:
    """The webhook id of a creation ping (form-encoded ``webhook_id=N``, unsigned), or None for anything else."""
    # The ping is sent once when a webhook is created and carries no signature and no X-WC-Webhook-* headers; it
    # must be answered 2xx or WooCommerce will not activate the webhook, but it proves nothing and changes nothing.
    media_type = (content_type or "").split(";", 1)[0].strip().lower()
    if media_type != "application/x-www-form-urlencoded" or len(raw_body) > _MAX_PING_BYTES:
        return None
    try:
        pairs = parse_qsl(raw_body.decode("ascii"), keep_blank_values=True, strict_parsing=True)
    except (UnicodeDecodeError, ValueError):
        return None
    if len(pairs) != 1 or pairs[0][0] != "webhook_id" or not _DIGITS.fullmatch(pairs[0][1]):
        return None
    return int(pairs[0][1])


class HeaderSource(Protocol):
    """Anything with header (name, value) items: a dict, or werkzeug's Headers (which is no Mapping)."""

    def items(self) -> Iterable[tuple[str, str]]:
        """Header names and values."""
        ...


@dataclass(frozen=True, slots=True)
class WooHeaders:
    """What the X-WC-Webhook-* headers of a delivery say (unsigned: trust them only after the body verified)."""

    topic: str  # e.g. product.updated
    resource: str
    event: str
    source: str | None  # the store URL WooCommerce believes it has, e.g. http://127.0.0.1:8091/
    webhook_id: str | None
    delivery_id: str | None  # NOT unique per delivery; never a dedupe key
    signature: str | None

    @classmethod
    def from_headers(cls, headers: HeaderSource) -> WooHeaders:
        """Read the delivery headers case-insensitively; raise PayloadError without a well-formed topic."""
        found: dict[str, str] = {}
        for name, value in headers.items():
            found.setdefault(name.strip().lower(), value.strip())
        topic = found.get("x-wc-webhook-topic", "").lower()
        if not _TOPIC.fullmatch(topic):
            raise PayloadError(f"missing or malformed X-WC-Webhook-Topic: {topic!r}", field="X-WC-Webhook-Topic")
        resource, event = topic.split(".", 1)
        # Resource and event are sent apart as well; a disagreement means a forged or mangled delivery.
        for header, expected in (("x-wc-webhook-resource", resource), ("x-wc-webhook-event", event)):
            given = found.get(header)
            if given is not None and given.lower() != expected:
                raise PayloadError(f"{header} {given!r} does not match topic {topic!r}", field=header)
        webhook_id = found.get("x-wc-webhook-id") or None
        if webhook_id is not None and not _DIGITS.fullmatch(webhook_id):
            raise PayloadError(f"malformed X-WC-Webhook-ID: {webhook_id!r}", field="X-WC-Webhook-ID")
        return cls(
            topic=topic,
            resource=resource,
            event=event,
            source=found.get("x-wc-webhook-source") or None,
            webhook_id=webhook_id,
            delivery_id=found.get("x-wc-webhook-delivery-id") or None,
            signature=found.get("x-wc-webhook-signature") or None,
        )


def dedupe_key(topic: str, raw_body: bytes) -> str:
    """sha256 hex of topic and raw body: one key per (topic, state), identical for a retry of the same delivery."""
    # Topic is part of the key: order.created and order.updated fire with byte-identical bodies and both matter.
    # The body carries date_modified_gmt, so a later change of the same resource gets a new key. NUL separates the
    # two because a topic never contains one.
    digest = hashlib.sha256()
    digest.update(topic.strip().lower().encode("utf-8"))
    digest.update(b"\x00")
    digest.update(raw_body)
    return digest.hexdigest()
