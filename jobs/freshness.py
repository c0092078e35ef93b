"""The freshness pass's scheduler: every minute, queue the pass of each store whose turn it is."""

from __future__ import annotations

from app.db import utcnow
from app.platforms import registry
from app.queue import enqueue_after_commit
from app.services.ingest import freshness
from jobs._base import job_context


def pass_due() -> int:
    """Queue the freshness pass of every active, synced store whose slot has come; return how many were queued.

    Each store's job has one id (fresh-<store id>), so a pass still waiting absorbs the next, and one still running
    does not start twice (freshness.claim). Stores are spread over the interval by their fixed offset.
    """
    queued = 0
    with job_context() as rt, rt.db.session() as session:
        for store_id, platform in freshness.due_stores(session, utcnow(), rt.settings.fresh_pass_seconds):
            found = registry.PLATFORMS.get(platform)
            spec = found.fresh_pass_job(store_id) if found is not None else None
            if spec is not None:
                enqueue_after_commit(session, rt.jobs, spec)
                queued += 1
    return queued
