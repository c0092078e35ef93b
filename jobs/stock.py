"""Stock jobs: recompute one store, its dirty variants, or every store."""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy import select

from app import job_specs
from app.models import Store
from app.platforms import registry
from app.runtime import Runtime
from app.services.notify import alerts, outbound_webhooks
from app.services.stock import dirty
from app.services.stock import recompute as stock
from jobs._base import job_context

log = logging.getLogger(__name__)


def _publish(rt: Runtime, store_id: int) -> None:
    """Queue the storefront write-back: Shopify metafields (theme extension), WooCommerce product/variation meta."""
    with rt.db.session() as session:
        platform = session.execute(select(Store.platform).where(Store.id == store_id)).scalar_one_or_none()
    spec = registry.get(platform).publish_job(store_id) if platform is not None else None
    if spec is not None:
        rt.jobs.enqueue(spec)


def _follow_ups(rt: Runtime, store_id: int, restock_event_ids: tuple[int, ...]) -> None:
    """After a recompute committed: fan out its restocks, attribute new orders, send signal-change webhooks."""
    for event_id in restock_event_ids:
        rt.jobs.enqueue(job_specs.fanout_event(event_id))
    rt.jobs.enqueue(job_specs.attribute_store(store_id))
    # Signals may have changed: tell the merchant's outbound webhook, if one is set.
    rt.jobs.enqueue(job_specs.deliver_webhooks(store_id))
    # A store that asked for instant alerts hears of sell-outs and signal changes now, not in tomorrow's digest.
    rt.jobs.enqueue(job_specs.send_instant_alerts(store_id))


def recompute_store(store_id: int) -> dict[str, Any]:
    """Recompute every variant of one store, then publish what changed (and retry what failed before)."""
    with job_context(store_id=store_id) as rt:
        with rt.db.session() as session:
            result = stock.recompute(session, store_id)
        _publish(rt, store_id)
        _follow_ups(rt, store_id, result.restock_event_ids)
    return {"variants": result.variants, "changed": result.changed, "restocks": result.restocks}


def recompute_dirty(store_id: int) -> dict[str, Any]:
    """Recompute the variants marked dirty for a store, batch by batch, until none are left."""
    with job_context(store_id=store_id) as rt:
        # Reopen the gate before reading, so a variant marked from now on enqueues a new run.
        rt.jobs.clear_gate(job_specs.recompute_gate(store_id))
        return {"variants": recompute_dirty_now(rt, store_id)}


def recompute_dirty_now(rt: Runtime, store_id: int) -> int:
    """Recompute a store's dirty variants in this job, then queue its publish and follow-ups; returns how many."""
    total = 0
    while True:
        with rt.db.session() as session:
            batch = dirty.take_dirty_batch(session, store_id)
            if not batch:
                break
            result = stock.recompute(session, store_id, [vid for vid, _ in batch])
            dirty.clear_dirty(session, batch)
        # Enqueued per committed batch, so the first restock email need not wait for the last batch.
        for event_id in result.restock_event_ids:
            rt.jobs.enqueue(job_specs.fanout_event(event_id))
        total += len(batch)
    if total:
        _publish(rt, store_id)
        _follow_ups(rt, store_id, ())
    return total


def recompute_stores(store_ids: tuple[int, ...]) -> dict[str, Any]:
    """The periodic recompute of a batch of stores: each in its own transaction, then their follow-ups.

    A store that fails is logged and skipped (the next cycle tries it again); the job then fails naming it, after
    the others' follow-ups are queued. Attribution is not among them: the cron's attribute_all runs on the same
    schedule. Webhook and instant alert runs are queued only for stores that have one to run.
    """
    done: list[stock.RecomputeResult] = []
    failed: list[int] = []
    with job_context() as rt:
        for store_id in store_ids:
            try:
                with rt.db.session() as session:
                    done.append(stock.recompute(session, store_id))
            except Exception:
                log.exception("periodic recompute failed", extra={"data": {"store_id": store_id}})
                failed.append(store_id)
        ids = [r.store_id for r in done]
        with rt.db.session() as session:
            rows = session.execute(select(Store.id, Store.platform).where(Store.id.in_(ids)))
            platforms = {int(sid): str(platform) for sid, platform in rows}
            hooked = outbound_webhooks.webhook_store_ids(session, ids)
            alerted = alerts.instant_alert_store_ids(session, ids)
        for result in done:
            sid = result.store_id
            found = registry.PLATFORMS.get(platforms.get(sid, ""))
            publish = found.publish_job(sid) if found is not None else None
            for spec in (
                publish,
                *(job_specs.fanout_event(eid) for eid in result.restock_event_ids),
                job_specs.deliver_webhooks(sid) if sid in hooked else None,
                job_specs.send_instant_alerts(sid) if sid in alerted else None,
            ):
                if spec is not None:
                    rt.jobs.enqueue(spec)
    if failed:
        raise RuntimeError(f"periodic recompute failed for stores {failed}")
    return {
        "stores": len(done),
        "variants": sum(r.variants for r in done),
        "changed": sum(r.changed for r in done),
        "restocks": sum(r.restocks for r in done),
    }


def recompute_all() -> int:
    """Enqueue the periodic recompute of every active store, in batches of stores (periodic, from the cron)."""
    with job_context() as rt, rt.db.session() as session:
        batches = stock.store_batches(session, stock.active_store_ids(session))
    for batch in batches:
        rt.jobs.enqueue(job_specs.recompute_stores(batch))
    return sum(len(b) for b in batches)
