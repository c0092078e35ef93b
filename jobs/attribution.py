"""Attribution jobs: match a store's orders to the restock emails sent before them (periodic, from the cron)."""

from __future__ import annotations

from datetime import UTC, datetime

from app import job_specs
from app.services.notify import attribution
from app.services.stock.recompute import active_store_ids, store_batches
from jobs._base import job_context


def attribute_store(store_id: int) -> int:
    """Record the conversions of one store's sent restock emails; returns how many converted now."""
    with job_context(store_id=store_id) as rt, rt.db.session() as session:
        return attribution.attribute_orders(session, store_id, datetime.now(UTC))


def attribute_stores(store_ids: tuple[int, ...]) -> int:
    """Record the conversions of a batch of stores, each in its own transaction; returns how many converted now."""
    converted = 0
    with job_context() as rt:
        for store_id in store_ids:
            with rt.db.session() as session:
                converted += attribution.attribute_orders(session, store_id, datetime.now(UTC))
    return converted


def attribute_all() -> int:
    """Enqueue the attribution of every active store, in batches of stores (one job per store cost a forked work
    horse and a connection each)."""
    with job_context() as rt, rt.db.session() as session:
        batches = store_batches(session, active_store_ids(session))
    for batch in batches:
        rt.jobs.enqueue(job_specs.attribute_stores(batch))
    return sum(len(b) for b in batches)
