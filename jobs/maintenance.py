"""Maintenance jobs: the sweeper."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from app.platforms import registry
from app.services.ingest import inbox, sweeper
from jobs._base import job_context


def sweep() -> int:
    """Re-enqueue stalled work (every 30 s from rq cron)."""
    with job_context() as rt, rt.db.session() as session:
        stale_after = timedelta(seconds=rt.settings.sweep_after_seconds)
        specs = sweeper.sweep(session, rt.jobs, datetime.now(UTC), stale_after, sync_job=registry.sync_job_for)
    return len(specs)


def purge_inbox() -> int:
    """Delete finished webhook deliveries past their retention (hourly from rq cron)."""
    with job_context() as rt, rt.db.session() as session:
        return inbox.purge(session, datetime.now(UTC))
