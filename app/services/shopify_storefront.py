"""Shopify storefront write-back: publish changed stock states as app-owned variant metafields.

Only states whose ``fingerprint`` differs from ``published_fingerprint`` are sent, 25 per metafieldsSet call (its
documented maximum). metafieldsSet is atomic per call, so a chunk is either all written or not at all: on
userErrors nothing of that chunk is marked published and the next run retries it. Marking is a compare-and-set on
the fingerprint that was sent, so a state recomputed while the call was in flight stays unpublished and goes out
on the next run. The session is committed after the read and after each chunk: no transaction (and no row lock
that would stall a recompute) stays open across an HTTP call, and a failure later in the run does not resend the
chunks already written.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import bindparam, select, update
from sqlalchemy.orm import Session

from app.models import Product, StockState, Variant
from integrations.shopify import queries
from integrations.shopify.graphql import GraphQLClient
from integrations.shopify.storefront import MAX_METAFIELDS_PER_CALL, chunks, metafield_inputs

log = logging.getLogger(__name__)

__all__ = ["PublishResult", "publish_changed"]


@dataclass(frozen=True, slots=True)
class PublishResult:
    """What one publish run did: metafields written, metafields refused, and metafieldsSet calls made."""

    sent: int
    failed: int
    batches: int
    errors: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class _Pending:
    variant_id: int
    fingerprint: str
    inputs: list[dict[str, Any]]


def _pending(session: Session, store_id: int, limit: int) -> tuple[list[_Pending], list[str]]:
    """States of the store's live variants whose fingerprint was not published yet, with their inputs."""
    rows = session.execute(
        select(
            StockState.variant_id,
            Variant.external_id,
            StockState.fingerprint,
            StockState.status,
            StockState.badge_kind,
            StockState.badge_quantity,
            StockState.restock_eta,
            StockState.eta_source,
        )
        .join(Variant, Variant.id == StockState.variant_id)
        .join(Product, Product.id == Variant.product_id)
        .where(
            StockState.store_id == store_id,
            Variant.store_id == store_id,
            Variant.deleted_at.is_(None),
            Product.deleted_at.is_(None),
            StockState.published_fingerprint.is_distinct_from(StockState.fingerprint),
        )
        .order_by(StockState.variant_id)
        .limit(limit)
    ).all()
    pending: list[_Pending] = []
    errors: list[str] = []
    for vid, external_id, fp, status, kind, qty, eta, eta_source in rows:
        state = {
            "status": status,
            "badge_kind": kind,
            "badge_quantity": qty,
            "restock_eta": eta,
            "eta_source": eta_source,
        }
        try:
            pending.append(_Pending(int(vid), fp, metafield_inputs(external_id, state)))
        except ValueError as exc:
            # A non-numeric external id cannot be a Shopify variant; sending it would fail the whole chunk.
            errors.append(f"variant {vid}: {exc}")
    return pending, errors


def _user_errors(data: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    payload = data.get("metafieldsSet")
    errors = payload.get("userErrors") if isinstance(payload, Mapping) else None
    return [e for e in errors if isinstance(e, Mapping)] if isinstance(errors, list) else []


def _mark_published(session: Session, batch: Sequence[_Pending]) -> int:
    """Set published_fingerprint to the sent fingerprint where the state still has it; returns rows marked."""
    stmt = (
        update(StockState)
        .where(StockState.variant_id == bindparam("b_vid"), StockState.fingerprint == bindparam("b_fp"))
        .values(published_fingerprint=bindparam("b_fp"))
    )
    # Core executemany on the connection: one statement with the fingerprint condition kept in its WHERE, and no
    # ORM identity-map bookkeeping for rows this session never loaded.
    result = session.connection().execute(stmt, [{"b_vid": p.variant_id, "b_fp": p.fingerprint} for p in batch])
    return int(result.rowcount or 0)


def publish_changed(session: Session, client: GraphQLClient, store_id: int, limit: int = 1000) -> PublishResult:
    """Write the changed stock states of a store (up to ``limit``) to its variants' app-owned metafields."""
    pending, errors = _pending(session, store_id, limit)
    # End the read transaction before talking to Shopify: nothing is held while calls are in flight.
    session.commit()
    sent = failed = batches = 0
    failed += len(errors)
    for batch in chunks(pending, MAX_METAFIELDS_PER_CALL):
        inputs = [item for p in batch for item in p.inputs]
        batches += 1
        # Setting the same values twice is harmless, so a timed-out call may be retried like a read.
        data = client.execute(queries.METAFIELDS_SET, {"metafields": inputs}, idempotent=True)
        user_errors = _user_errors(data)
        if user_errors:
            failed += len(batch)
            for err in user_errors:
                index = err.get("elementIndex")
                owner = inputs[index]["ownerId"] if isinstance(index, int) and 0 <= index < len(inputs) else None
                message = f"{err.get('code')}: {err.get('message')} (field {err.get('field')}, owner {owner})"
                errors.append(message)
                log.warning("storefront metafieldsSet refused a chunk for store %s: %s", store_id, message)
            continue
        marked = _mark_published(session, batch)
        session.commit()
        sent += len(batch)
        if marked < len(batch):
            # Recomputed while in flight: the newer state was not sent and stays pending for the next run.
            log.info("storefront: %d state(s) of store %s changed during publish", len(batch) - marked, store_id)
    if failed:
        log.warning(
            "storefront publish for store %s: %d sent, %d failed in %d call(s)", store_id, sent, failed, batches
        )
    return PublishResult(sent=sent, failed=failed, batches=batches, errors=tuple(errors))
