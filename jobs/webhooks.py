"""Webhook jobs: drain a store's inbox, or process one stored delivery."""

from __future__ import annotations

import logging

from app import job_specs
from app.logs import log_context
from app.platforms import registry
from app.services.ingest import inbox
from app.services.ingest.crash_guard import MAX_CRASHES, CrashGuard, crash_error
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
    """Process a store's due deliveries oldest first, until none are left; a failure is retried later or dead."""
    done = 0
    failed: set[int] = set()
    with job_context(store_id=store_id) as rt:
        guard = CrashGuard(rt.jobs)
        # Reopen the gate before reading, so a delivery stored from now on enqueues a new drain.
        rt.jobs.clear_gate(job_specs.drain_gate(store_id))
        while True:
            with rt.db.session() as session:
                ids = [i for i in inbox.pending_events(session, store_id) if i not in failed]
            if not ids:
                return done
            for event_id in ids:
                try:
                    if (crashes := guard.begin(event_id)) >= MAX_CRASHES:
                        failed.add(event_id)
                        with rt.db.session() as session:
                            inbox.mark_failed(session, event_id, crash_error(crashes), permanent=True)
                        continue
                    with log_context(webhook_id=event_id), rt.db.session() as session:
                        inbox.process_event(session, rt.jobs, event_id, registry.handler_for)
                    done += 1
                except Exception as exc:
                    failed.add(event_id)
                    log.exception("webhook %s failed", event_id)
                    with rt.db.session() as session:
                        inbox.mark_failed(session, event_id, _describe(exc), permanent=inbox.is_permanent(exc))
                finally:
                    guard.end(event_id)


def _describe(exc: BaseException) -> str:
    return f"{exc.__class__.__name__}: {exc}"
