"""What every catalog write shares: result counts, batch sizes, money rounding, sellable sums and dirty marks."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Literal

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.infra import bulk
from app.models import Variant
from app.queue import JobQueue
from app.services.stock.dirty import mark_dirty
from app.services.stock.recompute import set_sellable_from_levels

SELLABLE_CHUNK = 5000
CENT = Decimal("0.01")


@dataclass(frozen=True, slots=True)
class Counts:
    """What happened to the rows of one kind."""

    created: int = 0
    updated: int = 0
    unchanged: int = 0
    skipped_stale: int = 0
    skipped_unknown: int = 0
    deleted: int = 0


@dataclass(frozen=True, slots=True)
class ApplyResult:
    """What one apply did: counts for the records passed in (products, locations, levels, orders),
    `children` for their nested rows (variants of products, lines of orders), refunds written, and
    how many variants were marked dirty."""

    created: int = 0
    updated: int = 0
    unchanged: int = 0
    skipped_stale: int = 0
    skipped_unknown: int = 0
    deleted: int = 0
    dirty: int = 0
    children: Counts = Counts()
    refunds: int = 0

    def as_dict(self) -> dict[str, Any]:
        """The counts as plain JSON-able values (for sync run progress)."""
        out: dict[str, Any] = {
            "created": self.created,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "skipped_stale": self.skipped_stale,
            "skipped_unknown": self.skipped_unknown,
            "deleted": self.deleted,
            "dirty": self.dirty,
            "refunds": self.refunds,
        }
        c = self.children
        out["children"] = {
            "created": c.created,
            "updated": c.updated,
            "unchanged": c.unchanged,
            "skipped_stale": c.skipped_stale,
            "skipped_unknown": c.skipped_unknown,
            "deleted": c.deleted,
        }
        return out


@dataclass(slots=True)
class Tally:
    """Running counts of one kind of row, frozen into Counts at the end."""

    created: int = 0
    updated: int = 0
    unchanged: int = 0
    skipped_stale: int = 0
    skipped_unknown: int = 0
    deleted: int = 0

    def freeze(self) -> Counts:
        """The counts so far."""
        return Counts(
            self.created, self.updated, self.unchanged, self.skipped_stale, self.skipped_unknown, self.deleted
        )


@dataclass(slots=True)
class Acc:
    """What one apply call accumulates across its batches."""

    top: Tally = field(default_factory=Tally)
    children: Tally = field(default_factory=Tally)
    dirty: set[int] = field(default_factory=set)
    refunds: int = 0

    def result(self) -> ApplyResult:
        """The apply's result."""
        t = self.top
        return ApplyResult(
            created=t.created,
            updated=t.updated,
            unchanged=t.unchanged,
            skipped_stale=t.skipped_stale,
            skipped_unknown=t.skipped_unknown,
            deleted=t.deleted,
            dirty=len(self.dirty),
            children=self.children.freeze(),
            refunds=self.refunds,
        )


def money(value: Decimal | float | int | None) -> Decimal:
    """An amount as the Numeric(12, 2) column stores it."""
    # Rounded as the Numeric(12, 2) column will store it, so comparisons with stored values hold.
    return Decimal(str(value if value is not None else 0)).quantize(CENT)


Outcome = Literal["created", "updated", "unchanged", "skipped_stale"]


def count_row(tally: Tally, old: bulk.Row | None, row: dict[str, Any], written: bool, fields: Sequence[str]) -> Outcome:
    """Count one upserted row by its content: a rewrite that only advanced the watermark is `unchanged`,
    and a change the upsert refused (a concurrent worker stored newer state after our read) is stale."""
    outcome: Outcome
    if old is None:
        outcome = "created" if written else "skipped_stale"
    elif not bulk.differs(old, row, fields):
        outcome = "unchanged"
    else:
        outcome = "updated" if written else "skipped_stale"
    setattr(tally, outcome, getattr(tally, outcome) + 1)
    return outcome


def sellable(session: Session, store_id: int, variant_ids: Iterable[int]) -> dict[int, int]:
    """Variant id → stored sellable quantity, for the given variants of the store."""
    stmt = select(Variant.id, Variant.sellable_quantity).where(Variant.store_id == store_id)
    return {int(r[0]): int(r[1]) for r in bulk.select_in(session, stmt, Variant.id, variant_ids)}


def refresh_sellable(session: Session, store_id: int, variant_ids: Iterable[int]) -> set[int]:
    """Re-sum sellable quantity from levels; the variants whose quantity changed."""
    ids = sorted(set(variant_ids))
    if not ids:
        return set()
    before = sellable(session, store_id, ids)
    for chunk in bulk.chunks(ids, SELLABLE_CHUNK):
        set_sellable_from_levels(session, store_id, list(chunk))
    after = sellable(session, store_id, ids)
    return {vid for vid, qty in after.items() if before.get(vid) != qty}


def mark(session: Session, jobs: JobQueue, store_id: int, acc: Acc, ids: set[int], reason: str) -> None:
    """Mark the variants dirty for the recompute and count them in the apply's result."""
    if ids:
        mark_dirty(session, jobs, store_id, ids, reason)
        acc.dirty |= ids
