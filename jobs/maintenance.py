"""Maintenance jobs: the sweeper and the purges of what is kept only for a while."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from app.platforms import registry
from app.services.ingest import inbox, sweeper
from app.services.merchant import alert_settings
from jobs._base import job_context


def sweep() -> int:
    """Re-enqueue stalled work (every 30 s from the cron)."""
    return _sweep(after_outage=False)


def sweep_after_outage() -> int:
    """Re-enqueue stalled work and every delivery or dirty variant left unenqueued by a Redis outage just ended."""
    return _sweep(after_outage=True)


def _sweep(*, after_outage: bool) -> int:
    with job_context() as rt, rt.db.session() as session:
        stale_after = timedelta(seconds=rt.settings.sweep_after_seconds)
        specs = sweeper.sweep(
            session,
            rt.jobs,
            datetime.now(UTC),
            stale_after,
            sync_job=registry.sync_job_for,
            after_outage=after_outage,
        )
    return len(specs)


def purge_inbox() -> int:
    """Delete finished webhook deliveries past their retention (hourly from the cron)."""
    with job_context() as rt, rt.db.session() as session:
        return inbox.purge(session, datetime.now(UTC))


def purge_alert_log() -> int:
    """Delete merchant alert log rows past their retention (daily from the cron)."""
    with job_context() as rt, rt.db.session() as session:
        return alert_settings.purge_log(session, datetime.now(UTC))
