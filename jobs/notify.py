"""Notification jobs: restock fan-out waves and the double-opt-in confirmation email."""

from __future__ import annotations

from typing import Any

from app import job_specs
from app.db import utcnow
from app.services.notify import confirmation, fanout
from jobs._base import job_context


def fanout_event(stock_event_id: int) -> dict[str, Any]:
    """Run (or resume) one restock event's fan-out: one wave, then schedule the next."""
    with job_context(stock_event_id=stock_event_id) as rt:
        result = fanout.run_fanout(rt.db, rt.settings, stock_event_id)
    return {
        "status": result.status,
        "wave": result.wave,
        "sent": result.sent,
        "failed": result.failed,
        "skipped": result.skipped,
        "next_wave_at": result.next_wave_at.isoformat() if result.next_wave_at else None,
    }


def run_due_waves() -> int:
    """Enqueue the fan-out of every restock event whose next wave is due (every 30 s from the cron)."""
    with job_context() as rt:
        with rt.db.session() as session:
            event_ids = fanout.due_events(session, utcnow())
        for eid in event_ids:
            rt.jobs.enqueue(job_specs.fanout_event(eid))
    return len(event_ids)


def send_confirmation(subscription_id: int) -> bool:
    """Send the double-opt-in confirmation email, once."""
    with job_context(subscription_id=subscription_id) as rt:
        return confirmation.send_confirmation(rt.db, rt.settings, subscription_id)
