"""Webhook jobs: drain a store's inbox, or process one stored delivery."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from app import job_specs
from app.logs import log_context
from app.platforms import registry
from app.queue import JobQueue, JobSpec
from app.runtime import Runtime
from app.services.ingest import batch, inbox
from app.services.ingest.crash_guard import MAX_CRASHES, CrashGuard, crash_error
from jobs import stock as stock_jobs
from jobs._base import job_context

log = logging.getLogger(__name__)


def process_webhook(event_id: int) -> str:
    """Process one stored delivery; a failure is recorded on the row (retried later, or dead-lettered)."""
    with job_context(webhook_id=event_id) as rt:
        guard = CrashGuard(rt.jobs)
        try:
            if (crashes := guard.begin(event_id)) >= MAX_CRASHES:
                with rt.db.session() as session:
                    status = inbox.mark_failed(session, event_id, crash_error(crashes), permanent=True)
                return f"failed:{status}"
            with rt.db.session() as session:
                return inbox.process_event(session, rt.jobs, event_id, registry.handler_for)
        except Exception as exc:
            # Not re-raised: the row is the record (and the retry), RQ's failed registry would only hold a copy.
            log.exception("webhook %s failed", event_id)
            with rt.db.session() as session:
                status = inbox.mark_failed(session, event_id, _describe(exc), permanent=inbox.is_permanent(exc))
            return f"failed:{status}"
        finally:
            guard.end(event_id)


def drain_inbox(store_id: int) -> int:
    """Process a store's due deliveries oldest first, in batches, until none are left; one drain per store at a time.

    A drain that finds another one running for the store returns at once (0): the running one looks again once it
    is done, and the sweeper re-drives anything stored after that.
    """
    done = 0
    failed: set[int] = set()
    with job_context(store_id=store_id) as rt:
        guard = CrashGuard(rt.jobs)
        # Reopen the gate before reading, so a delivery stored from now on enqueues a new drain.
        rt.jobs.clear_gate(job_specs.drain_gate(store_id))
        while True:
            with batch.store_lock(rt.db, store_id) as held:
                if not held:
                    log.info("store %s is being drained by another worker", store_id)
                    return done
                done += _drain(rt, guard, store_id, failed)
            # A drain refused while the lock was held left its deliveries to this one: look again once released.
            with rt.db.session() as session:
                if not [i for i in inbox.pending_events(session, store_id) if i not in failed]:
                    return done


def _drain(rt: Runtime, guard: CrashGuard, store_id: int, failed: set[int]) -> int:
    done = 0
    size = rt.settings.inbox_batch
    while True:
        applied, alone = _apply_batch(rt, guard, store_id, failed, size) if size > 0 else (0, None)
        if alone is None and applied == 0:
            with rt.db.session() as session:
                alone = [i for i in inbox.pending_events(session, store_id) if i not in failed]
            if not alone:
                return done
        if applied:
            # The storefront is right only once the batch's variants are recomputed: done here rather than by the
            # recompute job it queued, which waits behind every other store's drain during a burst.
            stock_jobs.recompute_dirty_now(rt, store_id)
        done += applied
        for event_id in alone or ():
            done += _process_alone(rt, guard, event_id, failed)


def _apply_batch(
    rt: Runtime, guard: CrashGuard, store_id: int, failed: set[int], size: int
) -> tuple[int, list[int] | None]:
    """Apply the next batch; (deliveries applied, deliveries to process one at a time next, None for none)."""
    begun: list[int] = []
    try:
        with rt.db.session() as session:
            planned = batch.plan(session, store_id, registry.batch_topic_for, size, sorted(failed))
            ids = planned.ids
            if not ids:
                return 0, planned.alone or None
            if guard.unfinished(ids):
                # A worker died while these were applied together: one at a time finds (and counts) the culprit.
                return 0, ids
            guard.begin_all(ids)
            begun = ids
            batch.apply(session, _RecomputedHere(rt.jobs, store_id), store_id, planned)
        return len(ids), planned.alone or None
    except Exception:
        if not begun:
            raise
        log.exception("batch of %d deliveries for store %s failed: processing them one at a time", len(begun), store_id)
        return 0, begun
    finally:
        guard.end_all(begun)


@dataclass(frozen=True, slots=True)
class _RecomputedHere:
    """The job queue a batch is applied with: the store's dirty recompute is left out, since the drain runs it itself
    right after the batch commits (a queued one would only find nothing left). A drain killed in between leaves the
    variants dirty, and the sweeper re-drives them as it does a lost enqueue."""

    jobs: JobQueue
    store_id: int

    def enqueue(self, spec: JobSpec) -> bool:
        """Enqueue anything but this store's dirty recompute."""
        if spec.func == job_specs.RECOMPUTE_DIRTY and spec.args == (self.store_id,):
            return False
        return self.jobs.enqueue(spec)

    def clear_gate(self, gate: str) -> None:
        """Reopen a gate of the real queue."""
        self.jobs.clear_gate(gate)


def _process_alone(rt: Runtime, guard: CrashGuard, event_id: int, failed: set[int]) -> int:
    """Process one delivery in its own transaction, as process_webhook does; 1 when it was processed."""
    try:
        if (crashes := guard.begin(event_id)) >= MAX_CRASHES:
            failed.add(event_id)
            with rt.db.session() as session:
                inbox.mark_failed(session, event_id, crash_error(crashes), permanent=True)
            return 0
        with log_context(webhook_id=event_id), rt.db.session() as session:
            inbox.process_event(session, rt.jobs, event_id, registry.handler_for)
        return 1
    except Exception as exc:
        failed.add(event_id)
        log.exception("webhook %s failed", event_id)
        with rt.db.session() as session:
            inbox.mark_failed(session, event_id, _describe(exc), permanent=inbox.is_permanent(exc))
        return 0
    finally:
        guard.end(event_id)


def _describe(exc: BaseException) -> str:
    return f"{exc.__class__.__name__}: {exc}"
