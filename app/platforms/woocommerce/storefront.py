"""WooCommerce storefront write-back: publish changed stock states as ``_backsoon_state`` product/variation meta.

Follows shopify_storefront: only states whose ``fingerprint`` differs from ``published_fingerprint`` are sent.
Simple products go to ``POST products/batch`` and variations to ``POST products/<parent>/variations/batch`` (grouped
by parent), at most 100 items per call. Unlike metafieldsSet, a WooCommerce batch is not atomic: an item it refuses
comes back as ``{"id", "error"}`` inside a 200 while the others are written, so only the refused items stay
unpublished. A call that fails outright (timeout, 5xx, 4xx) marks nothing of that call, is recorded, and the run goes
on with the next call; a rejected API key stops the run (every further call would be refused too). Marking is a
compare-and-set on the fingerprint that was sent, and the session is committed after the read and after each call,
so no transaction stays open across an HTTP call.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy.orm import Session

from app.services.stock.storefront_state import (
    mark_listings_published,
    mark_published,
    unpublished_listings,
    unpublished_states,
)
from integrations.base import AuthRevoked, PlatformError
from integrations.woocommerce.client import WooClient
from integrations.woocommerce.storefront import MAX_UPDATES_PER_CALL, chunks, listing_update, meta_update, woo_id

# The group of the products' listing updates: products/batch, in calls of their own (a simple product's state goes
# to the same product, and one call naming an id twice could not tell which update was refused).
_LISTINGS = 0

log = logging.getLogger(__name__)

__all__ = ["PublishResult", "publish_changed"]


@dataclass(frozen=True, slots=True)
class PublishResult:
    """What one publish run did: items written, items refused or not sent, and batch calls made."""

    sent: int
    failed: int
    batches: int
    errors: tuple[str, ...] = ()
    auth_revoked: bool = False


@dataclass(frozen=True, slots=True)
class _Pending:
    row_id: int  # the variant's id, or the product's for a listing
    fingerprint: str
    # The variable product's WooCommerce id for a variation; None for a simple product; _LISTINGS for a listing.
    parent_id: int | None
    item_id: int
    update: dict[str, object]


def _pending(session: Session, store_id: int, limit: int) -> tuple[list[_Pending], list[str]]:
    """States not published yet, with their batch updates."""
    pending: list[_Pending] = []
    errors: list[str] = []
    for u in unpublished_states(session, store_id, limit):
        try:
            parent = woo_id(u.product_external_id) if u.product_kind == "variable" else None
            item = meta_update(u.external_id, u.state)
        except ValueError as exc:
            # A non-numeric id is not a WooCommerce object (and would rewrite the endpoint path): never send it.
            errors.append(f"variant {u.variant_id}: {exc}")
            continue
        pending.append(_Pending(u.variant_id, u.fingerprint, parent, int(item["id"]), item))
    for p in unpublished_listings(session, store_id, limit):
        try:
            item = listing_update(p.external_id, p.value)
        except ValueError as exc:
            errors.append(f"product {p.product_id}: {exc}")
            continue
        pending.append(_Pending(p.product_id, p.fingerprint, _LISTINGS, int(item["id"]), item))
    return pending, errors


def _calls(pending: Sequence[_Pending]) -> list[tuple[int | None, list[_Pending]]]:
    """The batch calls to make: simple products first, then each parent's variations; ≤100 items per call."""
    groups: dict[int | None, list[_Pending]] = {None: []}
    for p in pending:
        groups.setdefault(p.parent_id, []).append(p)
    return [(parent, batch) for parent, items in groups.items() for batch in chunks(items, MAX_UPDATES_PER_CALL)]


def _mark_published(session: Session, batch: Sequence[_Pending]) -> int:
    """Compare-and-set published_fingerprint for the items that were written; returns rows marked."""
    states = mark_published(session, [(p.row_id, p.fingerprint) for p in batch if p.parent_id != _LISTINGS])
    listings = [(p.row_id, p.fingerprint) for p in batch if p.parent_id == _LISTINGS]
    return states + mark_listings_published(session, listings)


def publish_changed(session: Session, client: WooClient, store_id: int, limit: int = 1000) -> PublishResult:
    """Write the changed stock states of a store (up to ``limit``) to its products' and variations' meta."""
    pending, errors = _pending(session, store_id, limit)
    # End the read transaction before talking to WooCommerce: nothing is held while calls are in flight.
    session.commit()
    sent = batches = 0
    failed = len(errors)
    revoked = False
    calls = _calls(pending)
    for index, (parent, batch) in enumerate(calls):
        endpoint = "products/batch" if parent in (None, _LISTINGS) else f"products/{parent}/variations/batch"
        updates = [p.update for p in batch]
        batches += 1
        try:
            if parent is None or parent == _LISTINGS:
                item_errors = client.batch_update_products(updates)
            else:
                item_errors = client.batch_update_variations(parent, updates)
        except PlatformError as exc:
            failed += len(batch)
            errors.append(f"POST {endpoint}: {exc.__class__.__name__}: {exc}")
            log.warning("woo storefront: %s failed for store %s: %s", endpoint, store_id, exc)
            if isinstance(exc, AuthRevoked):
                # Every further call would be refused too; what was not sent stays pending for the next run.
                revoked = True
                failed += sum(len(b) for _, b in calls[index + 1 :])
                break
            continue
        refused = {e.id for e in item_errors if e.action == "update"}
        for e in item_errors:
            errors.append(f"POST {endpoint}: item {e.id}: {e.code}: {e.message}")
        if any(e.id is None for e in item_errors if e.action == "update"):
            # A refusal we cannot attribute to an item: mark nothing of this call, the next run resends it.
            ok: list[_Pending] = []
        else:
            ok = [p for p in batch if str(p.item_id) not in refused]
        marked = _mark_published(session, ok)
        session.commit()
        sent += len(ok)
        failed += len(batch) - len(ok)
        if marked < len(ok):
            # Recomputed while in flight: the newer state was not sent and stays pending for the next run.
            log.info("woo storefront: %d state(s) of store %s changed during publish", len(ok) - marked, store_id)
    if failed:
        log.warning(
            "woo storefront publish for store %s: %d sent, %d failed in %d call(s)", store_id, sent, failed, batches
        )
    return PublishResult(sent=sent, failed=failed, batches=batches, errors=tuple(errors), auth_revoked=revoked)
