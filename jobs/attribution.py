"""Attribution jobs: match a store's orders to the restock emails sent before them (periodic, from the cron)."""

from __future__ import annotations

from datetime import UTC, datetime

from app import job_specs
from app.services.notify import attribution
from app.services.stock.recompute import active_store_ids
from jobs._base import job_context


def attribute_store(store_id: int) -> int:
    """Record the conversions of one store's sent restock emails; returns how many converted now."""
    with job_context(store_id=store_id) as rt, rt.db.session() as session:
        return attribution.attribute_orders(session, store_id, datetime.now(UTC))


def attribute_all() -> int:
    """Enqueue one collapsed attribution job per active store."""
    with job_context() as rt, rt.db.session() as session:
        store_ids = active_store_ids(session)
    for sid in store_ids:
        rt.jobs.enqueue(job_specs.attribute_store(sid))
    return len(store_ids)
