"""Dirty marks: variants whose inputs changed wait here for the collapsed per-store recompute job."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, datetime

from sqlalchemy import delete, select, text
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from app import job_specs
from app.infra.sql import PgArray, dialect
from app.models import (
    DirtyVariant,
)
from app.queue import JobQueue, enqueue_after_commit

DIRTY_BATCH = 500


def mark_dirty(session: Session, jobs: JobQueue, store_id: int, variant_ids: Iterable[int], reason: str) -> int:
    """Record variants whose inputs changed and enqueue one collapsed recompute for the store after commit."""
    ids = sorted(set(variant_ids))
    if not ids:
        return 0
    now = datetime.now(UTC)
    if dialect(session) == "postgresql":
        # One statement however many variants (a sync marks thousands per batch): an executemany would be one
        # INSERT per variant on the server.
        session.execute(
            text(
                "INSERT INTO dirty_variants (store_id, variant_id, marked_at, reason)"
                " SELECT :sid, unnest(CAST(:ids AS bigint[])), :now, :reason"
                " ON CONFLICT (variant_id) DO UPDATE SET marked_at = excluded.marked_at, reason = excluded.reason"
            ),
            {"sid": store_id, "ids": PgArray(ids), "now": now, "reason": reason[:32]},
        )
    else:
        rows = [{"store_id": store_id, "variant_id": vid, "marked_at": now, "reason": reason[:32]} for vid in ids]
        ins = sqlite_insert(DirtyVariant)
        stmt = ins.on_conflict_do_update(
            index_elements=[DirtyVariant.variant_id],
            set_={"marked_at": ins.excluded.marked_at, "reason": ins.excluded.reason},
        )
        session.execute(stmt, rows)
    enqueue_after_commit(session, jobs, job_specs.recompute_dirty(store_id))
    return len(ids)


def take_dirty_batch(session: Session, store_id: int, limit: int = DIRTY_BATCH) -> list[tuple[int, datetime]]:
    """The oldest dirty variants of a store, locked so a parallel run skips them."""
    q = (
        select(DirtyVariant.variant_id, DirtyVariant.marked_at)
        .where(DirtyVariant.store_id == store_id)
        .order_by(DirtyVariant.marked_at)
        .limit(limit)
    )
    if dialect(session) == "postgresql":
        q = q.with_for_update(skip_locked=True)
    return [(int(v), m) for v, m in session.execute(q)]


def clear_dirty(session: Session, batch: Sequence[tuple[int, datetime]]) -> None:
    """Forget dirty marks that were handled, keeping any re-marked since the batch was read."""
    for vid, marked in batch:
        session.execute(delete(DirtyVariant).where(DirtyVariant.variant_id == vid, DirtyVariant.marked_at <= marked))
