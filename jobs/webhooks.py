"""Webhook job: process one inbox row."""

from __future__ import annotations

import app.services.handlers  # noqa: F401 - registers the webhook topic handlers in workers
from app.services import inbox
from jobs._base import job_context


def process_webhook(event_id: int) -> str:
    """Process one stored delivery; a failure is recorded and left for the sweeper to retry."""
    with job_context(webhook_id=event_id) as rt:
        try:
            with rt.db.session() as session:
                return inbox.process_event(session, rt.jobs, event_id)
        except Exception as exc:
            with rt.db.session() as session:
                inbox.mark_failed(session, event_id, f"{exc.__class__.__name__}: {exc}")
            raise
