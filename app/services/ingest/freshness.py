"""The freshness pass's bookkeeping, shared by every platform: which stores are due, one pass per store at a time,
what each pass did and cost, and the admin banners that follow from it.

A pass asks the store what changed since the last successful one (a lost webhook's change included) and checks our
webhooks. Each store has one row in store_freshness; a pass claims it with a conditional UPDATE, so two workers (or
a pass still running when the next one is due) never run a store's pass at once.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import or_, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from app.config import Settings
from app.db import Database, as_utc
from app.domain import freshness as rules
from app.infra.sql import dialect
from app.models import Store, StoreFreshness, StoreStatus

# A pass that has held its claim this long died with its worker (the job timeout is far shorter): take it over.
STALE_AFTER = timedelta(minutes=15)
# Re-read a little before the last successful pass started: the store's clock and ours differ, and a product saved
# just as that pass read may not have been visible to it yet.
OVERLAP = timedelta(minutes=2)
# Without any earlier pass or sync, look this far back.
FIRST_LOOKBACK = timedelta(days=1)


@dataclass(slots=True)
class PassResult:
    """What one pass found and did: the counts are recorded, ``webhook_actions`` shown, ``webhooks_broken`` bannered."""

    products: int = 0
    variants: int = 0
    inventory_levels: int = 0
    orders: int = 0
    products_deleted: int = 0
    webhook_actions: list[str] = field(default_factory=list)
    webhooks_broken: list[str] = field(default_factory=list)


def due_stores(session: Session, now: datetime, every_seconds: int) -> list[tuple[int, str]]:
    """(id, platform) of the active stores that finished an initial sync and whose pass is due now."""
    rows = session.execute(
        select(Store.id, Store.platform, StoreFreshness.last_started_at)
        .outerjoin(StoreFreshness, StoreFreshness.store_id == Store.id)
        .where(Store.status == StoreStatus.ACTIVE, Store.last_synced_at.is_not(None))
        .order_by(Store.id)
    ).all()
    return [(sid, platform) for sid, platform, last in rows if rules.is_due(sid, now, last, every_seconds)]


def claim(db: Database, store_id: int, now: datetime) -> datetime | None:
    """Mark the store's pass as running; the time to read changes after, or None when a pass already runs (or the
    store is gone: a store erased by shop/redact may still have a pass queued)."""
    with db.session() as s:
        if s.get(Store, store_id) is None:
            return None
        insert = pg_insert if dialect(s) == "postgresql" else sqlite_insert
        s.execute(
            insert(StoreFreshness)
            .values(store_id=store_id, failures_in_a_row=0, webhook_actions=[], webhooks_broken=[])
            .on_conflict_do_nothing(index_elements=["store_id"])
        )
        claimed = s.execute(
            update(StoreFreshness)
            .where(
                StoreFreshness.store_id == store_id,
                or_(StoreFreshness.running_since.is_(None), StoreFreshness.running_since < now - STALE_AFTER),
            )
            .values(running_since=now, last_started_at=now)
            .returning(StoreFreshness.checked_through)
        ).first()
        if claimed is None:
            return None
        since = claimed[0]
        if since is None:
            since = s.execute(select(Store.last_synced_at).where(Store.id == store_id)).scalar_one_or_none()
        if since is None:
            return now - FIRST_LOOKBACK
        return as_utc(since) - OVERLAP


def succeeded(
    db: Database, store_id: int, started: datetime, finished: datetime, cost: tuple[int, int], result: PassResult
) -> None:
    """Record a pass that got through (cost: requests sent, milliseconds): changes are now read up to its start."""
    with db.session() as s:
        s.execute(
            update(StoreFreshness)
            .where(StoreFreshness.store_id == store_id)
            .values(
                running_since=None,
                last_finished_at=finished,
                checked_through=started,
                failures_in_a_row=0,
                last_error=None,
                last_requests=cost[0],
                last_duration_ms=cost[1],
                webhook_actions=list(result.webhook_actions),
                webhooks_broken=list(result.webhooks_broken),
            )
        )


def failed(db: Database, store_id: int, finished: datetime, cost: tuple[int, int], error: str) -> None:
    """Record a failed pass (cost: requests, milliseconds): the next reads from the same point, the streak grows."""
    with db.session() as s:
        s.execute(
            update(StoreFreshness)
            .where(StoreFreshness.store_id == store_id)
            .values(
                running_since=None,
                last_finished_at=finished,
                failures_in_a_row=StoreFreshness.failures_in_a_row + 1,
                last_error=error[:1000],
                last_requests=cost[0],
                last_duration_ms=cost[1],
            )
        )


def release(db: Database, store_id: int) -> None:
    """Give up a claim without a result (the store was disconnected meanwhile): the next pass may start at once."""
    with db.session() as s:
        s.execute(update(StoreFreshness).where(StoreFreshness.store_id == store_id).values(running_since=None))


def banners_for(session: Session, store: Store, settings: Settings, platform_label: str) -> list[rules.Banner]:
    """The freshness banners the store's admin shows now (none for a store that is not active)."""
    if store.status != StoreStatus.ACTIVE:
        return []
    row = session.get(StoreFreshness, store.id)
    if row is None:
        return []
    return rules.banners(
        failures_in_a_row=row.failures_in_a_row,
        failing_after=settings.sync_failing_after,
        last_error=row.last_error,
        webhooks_broken=row.webhooks_broken or [],
        platform_label=platform_label,
    )
