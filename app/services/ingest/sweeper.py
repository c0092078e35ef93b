"""The sweeper: re-drives work the database says is unfinished, within a minute.

RQ notices a killed worker's job only after several minutes; the database rows (inbox events,
dirty variants, …) are the record of work in flight, so this finds what stalled and enqueues
it again under a fresh job id. Every job it re-drives is idempotent.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

from sqlalchemy import and_, func, or_, select, update
from sqlalchemy.orm import Session

from app import job_specs
from app.models import (
    DirtyVariant,
    FanoutStatus,
    StockEvent,
    Store,
    Subscription,
    SubscriptionState,
    SyncRun,
    SyncRunStatus,
    WebhookEvent,
    WebhookEventStatus,
)
from app.queue import JobQueue, JobSpec, enqueue_after_commit

# (platform, run id, job id suffix) → the job that advances that platform's sync run; the platform registry provides it.
SyncJobFor = Callable[[str, int, str], JobSpec | None]


def stalled_webhooks(session: Session, now: datetime, stale_before: datetime) -> list[JobSpec]:
    """Stores with deliveries received but not processed, last enqueued longer ago than the threshold.

    A delivery waiting out its retry delay is left until it is due; a dead letter ('failed') is never re-driven.
    """
    stale = (
        (WebhookEvent.status == WebhookEventStatus.RECEIVED)
        & WebhookEvent.store_id.is_not(None)
        & or_(WebhookEvent.enqueued_at.is_(None), WebhookEvent.enqueued_at < stale_before)
        & or_(WebhookEvent.retry_at.is_(None), WebhookEvent.retry_at <= now)
    )
    store_ids = (
        session.execute(select(WebhookEvent.store_id).where(stale).group_by(WebhookEvent.store_id)).scalars().all()
    )
    if not store_ids:
        return []
    session.execute(update(WebhookEvent).where(stale).values(enqueued_at=now))
    minute = int(now.timestamp() // 60)
    # Ungated: the gate may be stuck open by a dead worker; a spare drain finds nothing and ends.
    live = sorted(s for s in store_ids if s is not None)
    return [job_specs.drain_inbox(sid, gated=False, suffix=f"s{minute}") for sid in live]


def stalled_recomputes(session: Session, now: datetime, stale_before: datetime) -> list[JobSpec]:
    """Stores with variants marked dirty longer ago than the threshold."""
    store_ids = (
        session.execute(
            select(DirtyVariant.store_id)
            .group_by(DirtyVariant.store_id)
            .having(func.min(DirtyVariant.marked_at) < stale_before)
        )
        .scalars()
        .all()
    )
    minute = int(now.timestamp() // 60)
    # Ungated, as for deliveries: a gate left set by a dead worker must not hold the re-drive back.
    return [job_specs.recompute_dirty(sid, suffix=f"s{minute}", gated=False) for sid in store_ids]


def stalled_syncs(session: Session, now: datetime, stale_before: datetime, sync_job: SyncJobFor) -> list[JobSpec]:
    """Sync runs whose heartbeat stopped (a killed worker, or a bulk operation to poll again)."""
    runs = session.execute(
        select(SyncRun.id, Store.platform)
        .join(Store, Store.id == SyncRun.store_id)
        .where(
            SyncRun.status == SyncRunStatus.RUNNING,
            or_(SyncRun.heartbeat_at.is_(None), SyncRun.heartbeat_at < stale_before),
        )
    ).all()
    if not runs:
        return []
    run_ids = [rid for rid, _ in runs]
    session.execute(
        update(SyncRun).where(SyncRun.id.in_(run_ids)).values(heartbeat_at=now, attempts=SyncRun.attempts + 1)
    )
    minute = int(now.timestamp() // 60)
    specs = (sync_job(platform, rid, f"s{minute}") for rid, platform in runs)
    return [spec for spec in specs if spec is not None]


def stalled_fanouts(session: Session, now: datetime, stale_before: datetime) -> list[JobSpec]:
    """Restock fan-outs whose worker died (lease expired) or whose due wave never got a job."""
    # A lease is 15 s and renewed every 5 s while sending, so an expired one means a dead worker: it is
    # re-driven at once (not after the 60 s threshold), which keeps a resume within a minute of the kill.
    event_ids = session.scalars(
        select(StockEvent.id)
        .where(
            StockEvent.kind == "restock",
            or_(
                (StockEvent.fanout_status == FanoutStatus.RUNNING)
                & or_(StockEvent.lease_until.is_(None), StockEvent.lease_until < now),
                (StockEvent.fanout_status == FanoutStatus.PENDING)
                & or_(
                    StockEvent.next_wave_at < stale_before,
                    StockEvent.next_wave_at.is_(None) & (StockEvent.occurred_at < stale_before),
                ),
            ),
        )
        .order_by(StockEvent.id)
        .limit(1000)
    ).all()
    minute = int(now.timestamp() // 60)
    # A fresh id: the dead worker's job id may still be registered in Redis and would refuse a duplicate.
    return [job_specs.fanout_event(eid, suffix=f"s{minute}") for eid in event_ids]


def stalled_confirmations(session: Session, now: datetime, stale_before: datetime) -> list[JobSpec]:
    """Double-opt-in emails not yet accepted by the server: a retry that is due, or a job lost or killed.

    Given-up ones (confirm_error set and no retry) and those at their last attempt are left alone.
    """
    from app.services.notify.confirmation import MAX_CONFIRM_ATTEMPTS

    sub_ids = session.scalars(
        select(Subscription.id)
        .where(
            Subscription.state == SubscriptionState.PENDING_CONFIRMATION,
            Subscription.confirm_sent_at.is_(None),
            Subscription.confirm_attempts < MAX_CONFIRM_ATTEMPTS,
            or_(
                Subscription.confirm_retry_at <= now,
                and_(
                    Subscription.confirm_retry_at.is_(None),
                    Subscription.confirm_error.is_(None),
                    Subscription.updated_at < stale_before,
                ),
            ),
        )
        .order_by(Subscription.id)
        .limit(1000)
    ).all()
    minute = int(now.timestamp() // 60)
    return [job_specs.send_confirmation(sid, suffix=f"s{minute}") for sid in sub_ids]


def sweep(
    session: Session,
    jobs: JobQueue,
    now: datetime,
    stale_after: timedelta,
    *,
    sync_job: SyncJobFor,
    after_outage: bool = False,
) -> list[JobSpec]:
    """Find stalled work of every registered kind and enqueue it again after commit.

    ``after_outage``: Redis was unreachable until just now, so the jobs of deliveries and dirty variants recorded
    meanwhile were never enqueued (or were lost with Redis): those are re-driven now, not once the threshold has
    passed. A spare drain or recompute finds nothing to do; the other kinds keep the threshold, which guards work
    that is running (syncs count their attempts, fan-outs and confirmations send mail).
    """
    stale_before = now - stale_after
    recent = now if after_outage else stale_before
    specs = [
        *stalled_webhooks(session, now, recent),
        *stalled_recomputes(session, now, recent),
        *stalled_syncs(session, now, stale_before, sync_job),
        *stalled_fanouts(session, now, stale_before),
        *stalled_confirmations(session, now, stale_before),
    ]
    for spec in specs:
        enqueue_after_commit(session, jobs, spec)
    return specs
