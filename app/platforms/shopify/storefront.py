"""Shopify storefront write-back: publish changed stock states as app-owned variant metafields, and changed product
listings (status and badge over the product's variants) as app-owned product metafields.

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

from sqlalchemy.orm import Session

from app.services.stock.storefront_state import (
    mark_listings_published,
    mark_published,
    unpublished_listings,
    unpublished_states,
)
from integrations.shopify import queries
from integrations.shopify.graphql import GraphQLClient
from integrations.shopify.storefront import MAX_METAFIELDS_PER_CALL, chunks, listing_inputs, metafield_inputs

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
    row_id: int  # the variant's id, or the product's for a listing
    fingerprint: str
    inputs: list[dict[str, Any]]

    product: bool = False  # a product's listing metafield, not a variant's state


def _pending(session: Session, store_id: int, limit: int) -> tuple[list[_Pending], list[str]]:
    """States, then product listings, not published yet, with their metafield inputs."""
    pending: list[_Pending] = []
    errors: list[str] = []
    for u in unpublished_states(session, store_id, limit):
        try:
            pending.append(_Pending(u.variant_id, u.fingerprint, metafield_inputs(u.external_id, u.state)))
        except ValueError as exc:
            # A non-numeric external id cannot be a Shopify variant; sending it would fail the whole chunk.
            errors.append(f"variant {u.variant_id}: {exc}")
    for p in unpublished_listings(session, store_id, limit):
        try:
            pending.append(_Pending(p.product_id, p.fingerprint, listing_inputs(p.external_id, p.value), product=True))
        except ValueError as exc:
            errors.append(f"product {p.product_id}: {exc}")
    return pending, errors


def _user_errors(data: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    payload = data.get("metafieldsSet")
    errors = payload.get("userErrors") if isinstance(payload, Mapping) else None
    return [e for e in errors if isinstance(e, Mapping)] if isinstance(errors, list) else []


def _mark_published(session: Session, batch: Sequence[_Pending]) -> int:
    """Compare-and-set published_fingerprint for a chunk that was written; returns rows marked."""
    states = mark_published(session, [(p.row_id, p.fingerprint) for p in batch if not p.product])
    return states + mark_listings_published(session, [(p.row_id, p.fingerprint) for p in batch if p.product])


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
