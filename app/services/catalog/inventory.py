"""Locations and inventory levels: upserts, tracking, and the sellable sums they move."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any, Literal, cast

from sqlalchemy import (
    Table,
    or_,
    select,
    update,
)
from sqlalchemy.orm import Session

from app.db import utcnow
from app.infra import bulk
from app.models import InventoryLevel, Location, Variant
from app.queue import JobQueue
from app.services.catalog.common import (
    Acc,
    ApplyResult,
    count_row,
    mark,
    refresh_sellable,
)
from integrations.base import InventoryRecord, LocationRecord

LEVEL_BATCH = 5000

_VARIANTS = cast(Table, Variant.__table__)
_LOCATIONS = cast(Table, Location.__table__)
_LEVELS = cast(Table, InventoryLevel.__table__)


def apply_locations(
    session: Session, jobs: JobQueue, store_id: int, locations: Iterable[LocationRecord]
) -> ApplyResult:
    """Upsert stock locations; a location turning (in)active re-sums its variants' sellable quantity."""
    acc = Acc()
    now = utcnow()
    for batch in bulk.batches(locations, bulk.WRITE_CHUNK):
        records = {loc.external_id: loc for loc in batch}
        old = {
            r.external_id: r
            for r in bulk.select_in(
                session,
                select(Location.id, Location.external_id, Location.name, Location.active).where(
                    Location.store_id == store_id
                ),
                Location.external_id,
                records,
            )
        }
        rows = [
            bulk.fit(
                _LOCATIONS,
                {
                    "store_id": store_id,
                    "external_id": ext,
                    "name": loc.name,
                    "active": loc.active,
                    "fulfills_online": True,
                    "created_at": now,
                    "updated_at": now,
                },
            )
            for ext, loc in records.items()
        ]
        # fulfills_online is the merchant's setting, never the platform's: not compared or overwritten.
        written = {
            r.external_id
            for r in bulk.upsert(
                session,
                _LOCATIONS,
                rows,
                keys=("store_id", "external_id"),
                compare=("name", "active"),
                returning=("external_id",),
            )
        }
        toggled: list[int] = []
        for row in rows:
            prev = old.get(row["external_id"])
            outcome = count_row(acc.top, prev, row, row["external_id"] in written, ("name", "active"))
            if outcome == "updated" and prev is not None and bool(prev.active) != row["active"]:
                toggled.append(int(prev.id))
        if toggled:
            variant_ids = {
                int(r[0])
                for r in bulk.select_in(
                    session,
                    select(InventoryLevel.variant_id).where(InventoryLevel.store_id == store_id).distinct(),
                    InventoryLevel.location_id,
                    toggled,
                )
            }
            mark(session, jobs, store_id, acc, refresh_sellable(session, store_id, variant_ids), "location")
    return acc.result()


def _location_ids(session: Session, store_id: int, externals: set[str], now: datetime) -> dict[str, int]:
    """Location ids by external id; locations first seen in inventory data are created, unnamed."""
    stmt = select(Location.external_id, Location.id).where(Location.store_id == store_id)
    found = {str(r[0]): int(r[1]) for r in bulk.select_in(session, stmt, Location.external_id, externals)}
    missing = sorted(externals - found.keys())
    if missing:
        rows = [
            {
                "store_id": store_id,
                "external_id": ext,
                "name": "",
                "active": True,
                "fulfills_online": True,
                "created_at": now,
                "updated_at": now,
            }
            for ext in missing
        ]
        session.execute(
            bulk.insert_for(session, _LOCATIONS).on_conflict_do_nothing(index_elements=["store_id", "external_id"]),
            rows,
        )
        found.update({str(r[0]): int(r[1]) for r in bulk.select_in(session, stmt, Location.external_id, missing)})
    return found


def apply_inventory(
    session: Session,
    jobs: JobQueue,
    store_id: int,
    levels: Iterable[InventoryRecord],
    *,
    key: Literal["variant", "inventory_item"] = "variant",
) -> ApplyResult:
    """Upsert inventory levels per (variant, location), keyed by variant or inventory item id; re-sum sellable."""
    acc = Acc()
    for batch in bulk.batches(levels, LEVEL_BATCH):
        _apply_level_batch(session, jobs, store_id, batch, key, acc)
    return acc.result()


def _apply_level_batch(
    session: Session,
    jobs: JobQueue,
    store_id: int,
    batch: list[InventoryRecord],
    key: Literal["variant", "inventory_item"],
    acc: Acc,
) -> None:
    now = utcnow()
    column = Variant.external_id if key == "variant" else Variant.inventory_item_external_id
    variants: dict[str, list[int]] = {}
    for ext, vid in bulk.select_in(
        session,
        select(column, Variant.id).where(Variant.store_id == store_id),
        column,
        {r.variant_external_id for r in batch},
    ):
        variants.setdefault(str(ext), []).append(int(vid))
    known = [r for r in batch if r.variant_external_id in variants]
    acc.top.skipped_unknown += len(batch) - len(known)
    if not known:
        return
    locations = _location_ids(session, store_id, {r.location_external_id for r in known}, now)
    records = bulk.latest(
        ((vid, locations[r.location_external_id], r) for r in known for vid in variants[r.variant_external_id]),
        lambda t: (t[0], t[1]),
        lambda t: t[2].updated_at,
    )
    old = {
        (int(r.variant_id), int(r.location_id)): r
        for r in bulk.select_in(
            session,
            select(
                InventoryLevel.variant_id,
                InventoryLevel.location_id,
                InventoryLevel.available,
                InventoryLevel.on_hand,
                InventoryLevel.incoming,
                InventoryLevel.external_updated_at,
            ).where(InventoryLevel.store_id == store_id),
            InventoryLevel.variant_id,
            {k[0] for k in records},
        )
    }
    rows: list[dict[str, Any]] = []
    for (vid, lid), (_, _, rec) in records.items():
        prev = old.get((vid, lid))
        ts = bulk.utc(rec.updated_at)
        if prev is not None and bulk.stale(ts, prev.external_updated_at):
            acc.top.skipped_stale += 1
            continue
        rows.append(
            {
                "store_id": store_id,
                "variant_id": vid,
                "location_id": lid,
                "available": rec.available,
                # Shopify's level webhooks carry `available` only: an absent on_hand keeps the stored one.
                "on_hand": rec.on_hand if rec.on_hand is not None or prev is None else prev.on_hand,
                # Likewise `incoming` (a full or paged sync reads it): absent keeps the stored one.
                "incoming": rec.incoming if rec.incoming is not None or prev is None else prev.incoming,
                "external_updated_at": ts if ts is not None else (prev.external_updated_at if prev else None),
                "updated_at": now,
            }
        )
    written = {
        (int(r.variant_id), int(r.location_id))
        for r in bulk.upsert(
            session,
            _LEVELS,
            rows,
            keys=("variant_id", "location_id"),
            compare=("available", "on_hand", "incoming"),
            returning=("variant_id", "location_id"),
            watermark=True,
        )
    }
    for row in rows:
        k = (row["variant_id"], row["location_id"])
        count_row(acc.top, old.get(k), row, k in written, ("available", "on_hand", "incoming"))
    changed = refresh_sellable(session, store_id, {k[0] for k in written})
    # Stock on its way changes what a sold-out variant's page says, though not its sellable quantity.
    for row in rows:
        at = (row["variant_id"], row["location_id"])
        before = old[at].incoming if at in old else None
        if at in written and (before or 0) != (row["incoming"] or 0):
            changed.add(row["variant_id"])
    mark(session, jobs, store_id, acc, changed, "inventory")


def set_tracking(
    session: Session, jobs: JobQueue, store_id: int, inventory_item_id: str, tracked: bool, at: datetime | None
) -> int:
    """Set `tracked` on the variants of one inventory item; the number of variants changed."""
    when = bulk.utc(at)
    t = _VARIANTS
    stmt = update(t).where(
        t.c.store_id == store_id, t.c.inventory_item_external_id == inventory_item_id, t.c.tracked.is_not(tracked)
    )
    if when is not None:
        # The variant's watermark is not advanced: it dates the variant payload, not the inventory item.
        stmt = stmt.where(or_(t.c.external_updated_at.is_(None), t.c.external_updated_at <= when))
    ids = {
        int(v) for v in session.execute(stmt.values(tracked=tracked, updated_at=utcnow()).returning(t.c.id)).scalars()
    }
    mark(session, jobs, store_id, Acc(), ids, "tracking")
    return len(ids)
