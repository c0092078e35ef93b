"""Webhook job: process one inbox row."""

from __future__ import annotations

import logging

from app import job_specs
from app.logs import log_context
from app.platforms import registry
from app.services.ingest import inbox
from jobs._base import job_context

log = logging.getLogger(__name__)


def process_webhook(event_id: int) -> str:
    """Process one stored delivery; a failure is recorded and left for the sweeper to retry."""
    with job_context(webhook_id=event_id) as rt:
        try:
            with rt.db.session() as session:
                return inbox.process_event(session, rt.jobs, event_id, registry.handler_for)
        except Exception as exc:
            with rt.db.session() as session:
                inbox.mark_failed(session, event_id, f"{exc.__class__.__name__}: {exc}")
            raise


def drain_inbox(store_id: int) -> int:
    """Process a store's received deliveries oldest first, until none are left; failures stay for the sweeper."""
    done = 0
    failed: set[int] = set()
    with job_context(store_id=store_id) as rt:
        # Reopen the gate before reading, so a delivery stored from now on enqueues a new drain.
        rt.jobs.clear_gate(job_specs.drain_gate(store_id))
        while True:
            with rt.db.session() as session:
                ids = [i for i in inbox.pending_events(session, store_id) if i not in failed]
            if not ids:
                return done
            for event_id in ids:
                try:
                    with log_context(webhook_id=event_id), rt.db.session() as session:
                        inbox.process_event(session, rt.jobs, event_id, registry.handler_for)
                    done += 1
                except Exception as exc:
                    failed.add(event_id)
                    log.exception("webhook %s failed; left for the sweeper", event_id)
                    with rt.db.session() as session:
                        inbox.mark_failed(session, event_id, f"{exc.__class__.__name__}: {exc}")
