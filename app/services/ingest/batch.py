"""Batched inbox processing: a store's due deliveries applied together, one transaction and set-based writes.

Why: one delivery per transaction costs a row lock, a handful of lookups, a dirty mark and a commit for every
delivery, and a flash sale sends them faster than a worker commits (the front accepted ~800 deliveries/s, the
per-delivery drain applied ~80/s, benchmarks/spike.py). Here a drain takes up to Settings.inbox_batch of a store's
due deliveries in arrival order, reads them, and applies each kind with one call of the catalog service
(apply_products, apply_inventory, apply_orders take lists and keep the newest record per order, variant and
inventory item, skipping one older than the stored `updated_at`, exactly as they do for one record), then marks the
rows in one UPDATE. Everything commits together, so a worker killed halfway leaves every row 'received' for the next
drain, and the dirty marks enqueue one recompute (and so one storefront publish) per batch instead of per delivery.

What keeps the inbox's guarantees:
- Only topics whose handler is a plain current-state upsert are batched (the platform names them, see BatchTopic);
  any other delivery, or one whose body cannot be read, ends the batch there and is processed alone by the
  per-delivery path, so nothing is reordered around a delete, an uninstall or a refund.
- Product deliveries are compared with what is stored (echo detection) as the per-delivery handler does: a product
  named several times in one batch has its later deliveries compared with the state before each (older: skipped;
  the same again: an echo), and only the state they end at is written, once.
- If the batch fails, nothing of it is written and its deliveries are processed one at a time, so a poison delivery
  fails (and is retried or dead-lettered) alone. Deliveries a crashed worker left unfinished (CrashGuard) are also
  processed one at a time, so a delivery that kills its worker is isolated and dead-lettered after MAX_CRASHES.
- Only one drain runs per store (store_lock, a PostgreSQL advisory lock): a second one returns at once and the
  running one looks again after releasing it, so no delivery waits for the sweeper.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Literal

from sqlalchemy import case, or_, select, text, update
from sqlalchemy.orm import Session

from app.db import Database
from app.infra import bulk
from app.infra.sql import dialect
from app.models import Store, WebhookEvent, WebhookEventStatus
from app.queue import JobQueue
from app.services import catalog
from app.services.ingest.inbox import Handler
from integrations.base import InventoryRecord, OrderRecord, ProductRecord

log = logging.getLogger(__name__)

LevelKey = Literal["variant", "inventory_item"]
# Session-level advisory lock keys, one per store (the recompute's transaction locks use 7_300_000_000 + id).
_LOCK_BASE = 7_400_000_000


@dataclass(frozen=True, slots=True)
class Part:
    """One delivery read for a batch: the current-state record it upserts, and how its handler applies it."""

    record: ProductRecord | InventoryRecord | OrderRecord
    # Product: variant fields the payload does not carry (kept as stored). Inventory: what the record's id names.
    preserve: frozenset[str] = frozenset()
    level_key: LevelKey = "variant"


@dataclass(frozen=True, slots=True)
class BatchTopic:
    """A topic that may be batched: its per-delivery handler, and how to read a delivery for the batch.

    ``read`` returns None for a delivery its handler does more with than an upsert (it is then processed alone).
    """

    handler: Handler
    read: Callable[[WebhookEvent], Part | None]


# (platform, topic) → its BatchTopic, or None when deliveries of that topic are processed one at a time.
BatchLookup = Callable[[str, str], BatchTopic | None]


@dataclass(slots=True)
class Plan:
    """The due deliveries a batch applies (arrival order), then the run of those after it to be processed alone."""

    parts: list[tuple[WebhookEvent, Part]] = field(default_factory=list)
    alone: list[int] = field(default_factory=list)

    @property
    def ids(self) -> list[int]:
        """Ids of the batch's deliveries."""
        return [event.id for event, _ in self.parts]


def plan(session: Session, store_id: int, topics: BatchLookup, limit: int, exclude: Sequence[int] = ()) -> Plan:
    """Lock and read the store's next due deliveries, oldest first: the batch up to the first one that is not
    batched, and the deliveries from there up to the next batched one (a store of unbatched topics costs one read
    per run of deliveries, not per delivery)."""
    q = (
        select(WebhookEvent)
        .where(
            WebhookEvent.store_id == store_id,
            WebhookEvent.status == WebhookEventStatus.RECEIVED,
            or_(WebhookEvent.retry_at.is_(None), WebhookEvent.retry_at <= datetime.now(UTC)),
        )
        .order_by(WebhookEvent.id)
        .limit(limit)
    )
    if exclude:
        q = q.where(WebhookEvent.id.not_in(list(exclude)))
    if dialect(session) == "postgresql":
        q = q.with_for_update(skip_locked=True)
    out = Plan()
    for event in session.scalars(q):
        topic = topics(event.platform, event.topic)
        part: Part | None = None
        if topic is not None:
            try:
                part = topic.read(event)
            except Exception:
                # Recorded by the per-delivery path, exactly as it always was (retry, or dead when unreadable).
                part = None
        if part is None:
            out.alone.append(event.id)
        elif out.alone:
            break
        else:
            out.parts.append((event, part))
    return out


def apply(session: Session, jobs: JobQueue, store_id: int, batch: Plan) -> dict[str, int]:
    """Apply a planned batch in the session's transaction and mark its rows processed (or echo); counts by kind."""
    if session.get(Store, store_id) is None:
        raise LookupError(f"store {store_id} is gone")
    products = [(event, part) for event, part in batch.parts if isinstance(part.record, ProductRecord)]
    echoes = _apply_products(session, jobs, store_id, products)
    levels: dict[LevelKey, list[InventoryRecord]] = {}
    orders: list[OrderRecord] = []
    for _, part in batch.parts:
        if isinstance(part.record, InventoryRecord):
            levels.setdefault(part.level_key, []).append(part.record)
        elif isinstance(part.record, OrderRecord):
            orders.append(part.record)
    # Products first: an inventory level or an order line names a variant a product delivery may create.
    stale = 0
    for key, records in levels.items():
        stale += catalog.apply_inventory(session, jobs, store_id, records, key=key).skipped_stale
    if orders:
        stale += catalog.apply_orders(session, jobs, store_id, orders).skipped_stale
    ids = batch.ids
    session.execute(
        update(WebhookEvent)
        .where(WebhookEvent.id.in_(ids), WebhookEvent.status == WebhookEventStatus.RECEIVED)
        .values(
            status=case(
                (WebhookEvent.id.in_(sorted(echoes)), WebhookEventStatus.ECHO.value),
                else_=WebhookEventStatus.PROCESSED.value,
            ),
            attempts=WebhookEvent.attempts + 1,
            error=None,
            processed_at=datetime.now(UTC),
        )
        .execution_options(synchronize_session=False)
    )
    counts = {
        "deliveries": len(ids),
        "products": len(products),
        "levels": sum(len(r) for r in levels.values()),
        "orders": len(orders),
        "echo": len(echoes),
        "stale": stale,
    }
    log.info("webhook batch for store %s: %s", store_id, counts, extra={"data": {"store_id": store_id, **counts}})
    return counts


def _apply_products(
    session: Session, jobs: JobQueue, store_id: int, products: list[tuple[WebhookEvent, Part]]
) -> set[int]:
    """Apply the state each product's deliveries of the batch end at, once; the ids of those that were echoes.

    One at a time, a product's first delivery is an echo when it changes nothing stored, and each later one is an
    echo when it repeats the state before it, or else skipped when older than that state: the first is asked of the
    database, the later ones by comparing the records (timestamps aside). Each delivery is the product's whole
    current state, so applying only the state they end at leaves the rows as applying them in turn would.
    """
    by_product: dict[str, list[tuple[WebhookEvent, Part]]] = {}
    for event, part in products:
        assert isinstance(part.record, ProductRecord)
        by_product.setdefault(part.record.external_id, []).append((event, part))
    echoes: set[int] = set()
    firsts: dict[frozenset[str], list[tuple[WebhookEvent, ProductRecord]]] = {}
    for items in by_product.values():
        event, part = items[0]
        assert isinstance(part.record, ProductRecord)
        firsts.setdefault(part.preserve, []).append((event, part.record))
    for preserve, heads in firsts.items():
        # What the per-delivery handler asks first: a delivery that changes nothing synced is an echo.
        same = catalog.unchanged_products(session, store_id, [r for _, r in heads], preserve)
        echoes |= {event.id for event, r in heads if r.external_id in same}
    newest: dict[frozenset[str], list[ProductRecord]] = {}
    for items in by_product.values():
        # The state one delivery after another would leave: the first delivery's (unless it was an echo of what is
        # stored), then each later one that is neither the same again (an echo) nor older (skipped as stale). After
        # a first delivery that was an echo, a later one is measured against the echo's time, which can only be
        # newer than the stored one: an older state never replaces a newer one.
        head_event, current = items[0]
        changed = head_event.id not in echoes
        for event, part in items[1:]:
            assert isinstance(part.record, ProductRecord) and isinstance(current.record, ProductRecord)
            # The handler's order: an echo is recognised before its time is looked at.
            if catalog.same_product_state(current.record, part.record, part.preserve):
                echoes.add(event.id)
                continue
            if bulk.stale(part.record.updated_at, current.record.updated_at):
                continue
            current, changed = part, True
        if changed:
            assert isinstance(current.record, ProductRecord)
            newest.setdefault(current.preserve, []).append(current.record)
    for preserve, records in newest.items():
        catalog.apply_products(session, jobs, store_id, records, preserve=preserve)
    return echoes


@contextmanager
def store_lock(db: Database, store_id: int) -> Iterator[bool]:
    """Hold the store's drain lock while inside, if free: yields False when another drain holds it.

    A session-level advisory lock, taken on a connection the drain keeps for as long as it runs (its batches commit
    on others): PostgreSQL releases it when that connection ends, so a killed worker never leaves it held. The
    connection's transaction only ever ran the lock's SELECT, so it holds no snapshot or row lock meanwhile. SQLite
    (the demo) runs one in-process worker, which needs no lock.
    """
    if db.dialect != "postgresql":
        yield True
        return
    key = _LOCK_BASE + store_id
    session = db.sessions()
    held = False
    try:
        held = bool(session.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": key}).scalar())
        yield held
    finally:
        try:
            if held:
                session.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": key})
            # Nothing to keep, nothing to undo: a commit (not a rollback) whatever the drain's own sessions did.
            session.commit()
        except Exception:
            # Never pooled again while it may still hold the lock: closing the connection releases it.
            session.connection().invalidate()
            raise
        finally:
            session.close()
