"""The optional outbound webhook: a signed POST to the merchant's URL when a variant's marketing signal changes.

**Detecting a change.** After each recompute (and on a periodic sweep), :func:`record_signal_changes` compares every
live variant's current signal with the last signal *recorded* for it in ``outbound_webhook_deliveries`` (``ok`` when
none was ever recorded), set-based in one query, and inserts one delivery row per difference. The delivery rows are the
memory of what the merchant was told, so a missed recompute or a crashed worker heals on the next run, and the
``dedupe_key`` (``signal:<variant id>:<signal>:<changed_at>``, unique per store) makes a re-run or a concurrent run
record the same change once. The comparison itself (:func:`signal_changes`) takes the memory of what was told as a
parameter, so the merchant's instant alert email reuses it with its own memory. Comparing with what was told, not with
yesterday's history, means a signal that flips ok → pause → ok between two runs sends nothing, which is what an ads rule
wants.

**Delivering.** :func:`deliver_due` claims one due row at a time (``FOR UPDATE SKIP LOCKED`` on PostgreSQL), POSTs
the JSON body with ``X-BackSoon-Signature: sha256=<hex HMAC-SHA256 of the raw body>``, follows no redirects, and
records the status code. A non-2xx answer or a network error is retried with exponential backoff
(``next_attempt_at``: 1, 2, 4, … minutes, at most 6 hours) until ``MAX_ATTEMPTS``, then the row is ``failed``.

**The URL.** https only in production; the host must resolve to public addresses only (the same check as the
WooCommerce store URL, re-run before every POST to narrow DNS rebinding). The signing secret is shown once and
stored encrypted (``cipher_for``).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import requests
from sqlalchemy import func, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session
from sqlalchemy.sql import Subquery

from app.config import Settings
from app.db import Database
from app.domain.stock import Signal
from app.infra.crypto import cipher_for
from app.infra.sql import dialect
from app.models import OutboundWebhookDelivery, OutboundWebhookStatus, Product, StockState, Store, StoreStatus, Variant
from app.services.merchant.feeds import feed_config, feed_item_id
from integrations.base import InvalidRequest
from integrations.http import make_session
from integrations.woocommerce.client import check_public_url

log = logging.getLogger(__name__)

__all__ = [
    "EVENT",
    "MAX_ATTEMPTS",
    "DeliveryRun",
    "SignalChange",
    "backoff",
    "configure",
    "deliver_due",
    "last_recorded",
    "record_signal_changes",
    "remove",
    "sign",
    "signal_changes",
    "validate_url",
]

EVENT = "signal.changed"
MAX_ATTEMPTS = 8
BACKOFF_BASE = timedelta(minutes=1)
BACKOFF_MAX = timedelta(hours=6)
TIMEOUT = (3.05, 10.0)
MAX_URL = 2000
SIGNATURE_HEADER = "X-BackSoon-Signature"


def validate_url(url: str, settings: Settings, *, allow_private: bool = False) -> str:
    """The URL, stripped, or ValueError with a message for the merchant."""
    url = url.strip()
    if not url:
        raise ValueError("Enter the URL that should receive the webhook.")
    if len(url) > MAX_URL:
        raise ValueError(f"The URL is too long (at most {MAX_URL} characters).")
    if settings.production and not url.lower().startswith("https://"):
        raise ValueError("The URL must start with https://.")
    try:
        check_public_url(url, allow_private=allow_private)
    except InvalidRequest as exc:
        message = str(exc).replace("store URL", "URL").replace("store host", "host")
        raise ValueError(f"This URL cannot be used: {message}.") from None
    return url


def configure(session: Session, settings: Settings, store: Store, url: str, *, new_secret: bool) -> str | None:
    """Save a validated URL; return a fresh signing secret (shown once) when one was made, else None."""
    store.outbound_webhook_url = url
    if new_secret or store.outbound_webhook_secret_encrypted is None:
        secret = "whsec_" + secrets.token_urlsafe(32)
        store.outbound_webhook_secret_encrypted = cipher_for(settings).encrypt(secret.encode())
        session.flush()
        return secret
    session.flush()
    return None


def remove(session: Session, store: Store) -> int:
    """Turn the webhook off: forget URL and secret, and give up on deliveries not yet sent."""
    store.outbound_webhook_url = None
    store.outbound_webhook_secret_encrypted = None
    pending = session.scalars(
        select(OutboundWebhookDelivery).where(
            OutboundWebhookDelivery.store_id == store.id,
            OutboundWebhookDelivery.status == OutboundWebhookStatus.PENDING,
        )
    ).all()
    for row in pending:
        row.status = OutboundWebhookStatus.FAILED
        row.last_error = "the webhook was turned off"
    session.flush()
    return len(pending)


def sign(secret: str, body: bytes) -> str:
    """The X-BackSoon-Signature value of a body: ``sha256=`` and the hex HMAC-SHA256."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def backoff(attempts: int) -> timedelta:
    """The wait after the given number of failed attempts: 1, 2, 4, … minutes, capped."""
    wait: timedelta = BACKOFF_BASE * (2 ** max(attempts - 1, 0))
    return min(wait, BACKOFF_MAX)


def _iso(value: datetime) -> str:
    aware = value if value.tzinfo is not None else value.replace(tzinfo=UTC)
    return aware.astimezone(UTC).isoformat()


@dataclass(frozen=True, slots=True)
class SignalChange:
    """A live variant whose current marketing signal differs from the last one its audience was told."""

    variant_id: int
    variant_external_id: str
    sku: str
    variant_title: str
    product_external_id: str
    product_title: str
    signal: str
    reason: str
    changed_at: datetime
    previous: str


def last_recorded(store_id: int) -> Subquery:
    """(variant_id, signal) of the latest signal recorded for the webhook, per variant."""
    ranked = (
        select(
            OutboundWebhookDelivery.variant_id.label("variant_id"),
            OutboundWebhookDelivery.payload["signal"].as_string().label("signal"),
            func.row_number()
            .over(partition_by=OutboundWebhookDelivery.variant_id, order_by=OutboundWebhookDelivery.id.desc())
            .label("rn"),
        )
        .where(OutboundWebhookDelivery.store_id == store_id, OutboundWebhookDelivery.event == EVENT)
        .subquery()
    )
    return select(ranked.c.variant_id, ranked.c.signal).where(ranked.c.rn == 1).subquery()


def signal_changes(session: Session, store_id: int, told: Subquery) -> list[SignalChange]:
    """Live variants whose signal differs from ``told`` (variant_id, signal; ``ok`` when absent), by variant id."""
    # Set-based in one query: the webhook and the instant alert each pass their own memory of what was told.
    previous = func.coalesce(told.c.signal, Signal.OK.value)  # the value: a bare enum member would bind untyped
    rows = session.execute(
        select(
            Variant.id,
            Variant.external_id,
            Variant.sku,
            Variant.title,
            Product.external_id,
            Product.title,
            StockState.signal,
            StockState.signal_reason,
            StockState.changed_at,
            previous,
        )
        .join(Product, Product.id == Variant.product_id)
        .join(StockState, StockState.variant_id == Variant.id)
        .outerjoin(told, told.c.variant_id == Variant.id)
        .where(
            Variant.store_id == store_id,
            Product.store_id == store_id,
            StockState.store_id == store_id,
            Variant.deleted_at.is_(None),
            Product.deleted_at.is_(None),
            StockState.signal != previous,
        )
        .order_by(Variant.id)
    ).all()
    return [SignalChange(*row) for row in rows]


def record_signal_changes(session: Session, store_id: int, feed_scheme: Callable[[Store], str]) -> int:
    """Insert one pending delivery per variant whose signal differs from the last one recorded; return how many.

    ``feed_scheme`` gives a store's default feed id format (its platform's: the registry provides it)."""
    store = session.get(Store, store_id)
    if store is None or not store.outbound_webhook_url or store.status == StoreStatus.UNINSTALLED:
        return 0
    rows = signal_changes(session, store_id, last_recorded(store_id))
    if not rows:
        return 0
    config = feed_config(session, store, feed_scheme(store))
    values: list[dict[str, Any]] = []
    for row in rows:
        vid, signal, changed = row.variant_id, row.signal, _iso(row.changed_at)
        payload = {
            "event": EVENT,
            "store": {"id": store.id, "domain": store.domain, "platform": store.platform},
            "variant": {
                "id": vid,
                "external_id": row.variant_external_id,
                "product_external_id": row.product_external_id,
                "sku": row.sku,
                "title": row.variant_title,
                "product_title": row.product_title,
                "feed_id": feed_item_id(config, row.product_external_id, row.variant_external_id, row.sku or ""),
            },
            "signal": signal,
            "previous_signal": row.previous,
            "reason": row.reason,
            "changed_at": changed,
        }
        values.append(
            {
                "store_id": store_id,
                "variant_id": vid,
                "event": EVENT,
                "dedupe_key": f"signal:{vid}:{signal}:{changed}"[:128],
                "payload": payload,
                "status": OutboundWebhookStatus.PENDING,
                "attempts": 0,
                "next_attempt_at": datetime.now(UTC),
                "created_at": datetime.now(UTC),
            }
        )
    ins = (
        pg_insert(OutboundWebhookDelivery)
        if dialect(session) == "postgresql"
        else sqlite_insert(OutboundWebhookDelivery)
    )
    stmt = ins.on_conflict_do_nothing(index_elements=["store_id", "dedupe_key"])
    result = session.execute(stmt.returning(OutboundWebhookDelivery.id), values)
    return len(result.all())


@dataclass(slots=True)
class DeliveryRun:
    """What one delivery pass did."""

    sent: int = 0
    retrying: int = 0
    failed: int = 0


def _claim(session: Session, store_id: int, now: datetime) -> OutboundWebhookDelivery | None:
    query = (
        select(OutboundWebhookDelivery)
        .where(
            OutboundWebhookDelivery.store_id == store_id,
            OutboundWebhookDelivery.status == OutboundWebhookStatus.PENDING,
            OutboundWebhookDelivery.next_attempt_at <= now,
        )
        .order_by(OutboundWebhookDelivery.next_attempt_at, OutboundWebhookDelivery.id)
        .limit(1)
    )
    if dialect(session) == "postgresql":
        query = query.with_for_update(skip_locked=True)
    return session.scalars(query).first()


def _post(http: requests.Session, url: str, secret: str, row: OutboundWebhookDelivery) -> tuple[int | None, str | None]:
    body = json.dumps({"id": row.id, **row.payload}, separators=(",", ":"), sort_keys=True).encode()
    headers = {
        "Content-Type": "application/json",
        SIGNATURE_HEADER: sign(secret, body),
        "X-BackSoon-Event": row.event,
        "X-BackSoon-Delivery": str(row.id),
    }
    try:
        resp = http.post(url, data=body, headers=headers, timeout=TIMEOUT, allow_redirects=False)
    except requests.RequestException as exc:
        return None, f"{exc.__class__.__name__}: {exc}"[:1000]
    resp.close()
    return resp.status_code, None if 200 <= resp.status_code < 300 else f"HTTP {resp.status_code}"


def deliver_due(
    db: Database,
    settings: Settings,
    store_id: int,
    *,
    now: datetime | None = None,
    max_attempts: int = MAX_ATTEMPTS,
    limit: int = 100,
    allow_private: bool = False,
    http: requests.Session | None = None,
) -> DeliveryRun:
    """POST the store's due deliveries, one committed row at a time; failures are rescheduled with backoff."""
    run = DeliveryRun()
    client = http or make_session(retries=0)
    when = now or datetime.now(UTC)
    try:
        for _ in range(limit):
            with db.session() as session:
                store = session.get(Store, store_id)
                row = _claim(session, store_id, when)
                if row is None or store is None:
                    break
                url = store.outbound_webhook_url
                if not url or store.outbound_webhook_secret_encrypted is None:
                    row.status, row.last_error = OutboundWebhookStatus.FAILED, "the webhook was turned off"
                    run.failed += 1
                    continue
                secret = cipher_for(settings).decrypt(store.outbound_webhook_secret_encrypted).decode()
                code: int | None
                error: str | None
                try:
                    validate_url(url, settings, allow_private=allow_private)
                except ValueError as exc:
                    code, error = None, str(exc)[:1000]
                else:
                    code, error = _post(client, url, secret, row)
                row.attempts += 1
                row.last_status_code = code
                row.last_error = error
                if error is None:
                    row.status, row.sent_at = OutboundWebhookStatus.SENT, when
                    run.sent += 1
                elif row.attempts >= max_attempts:
                    row.status = OutboundWebhookStatus.FAILED
                    run.failed += 1
                else:
                    row.next_attempt_at = when + backoff(row.attempts)
                    run.retrying += 1
                log.info(
                    "outbound webhook delivery",
                    extra={"delivery_id": row.id, "status_code": code, "attempt": row.attempts, "result": row.status},
                )
    finally:
        if http is None:
            client.close()
    return run


def due_store_ids(session: Session, now: datetime | None = None) -> list[int]:
    """Stores with deliveries due now."""
    when = now or datetime.now(UTC)
    rows = session.execute(
        select(OutboundWebhookDelivery.store_id)
        .where(
            OutboundWebhookDelivery.status == OutboundWebhookStatus.PENDING,
            OutboundWebhookDelivery.next_attempt_at <= when,
        )
        .distinct()
    )
    return sorted(int(r[0]) for r in rows)


def webhook_store_ids(session: Session, store_ids: Sequence[int]) -> set[int]:
    """Those of these stores whose signal changes a delivery run records: an outbound webhook set, not uninstalled."""
    if not store_ids:
        return set()
    rows = session.execute(
        select(Store.id).where(
            Store.id.in_(store_ids),
            Store.outbound_webhook_url.is_not(None),
            Store.outbound_webhook_url != "",
            Store.status != StoreStatus.UNINSTALLED,
        )
    )
    return {int(r[0]) for r in rows}


def recent(session: Session, store_id: int, limit: int = 20) -> list[OutboundWebhookDelivery]:
    """The store's latest deliveries, newest first, for the admin's log."""
    return list(
        session.scalars(
            select(OutboundWebhookDelivery)
            .where(OutboundWebhookDelivery.store_id == store_id)
            .order_by(OutboundWebhookDelivery.id.desc())
            .limit(limit)
        )
    )
