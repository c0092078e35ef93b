"""Dead letters: work BackSoon gave up on, listed, counted, replayable and purged like the rest.

One notion across kinds — a unit of work that will not be retried any more on its own, kept with its last error so
a person can look at it and, once the cause is fixed, replay it:

- ``webhook``: a platform delivery in the inbox with status 'failed': its body can never be read (dead at the first
  attempt), or all inbox.MAX_ATTEMPTS attempts failed (retried with inbox.retry_delay in between). Replay sets it
  back to 'received' with its attempts at zero and drains the store's inbox after the commit; the handlers' own
  staleness checks keep "newest wins" for a delivery replayed after newer ones.
- ``restock_event``: a restock whose fan-out failed MAX_RUN_FAILURES runs in a row (app.services.notify.fanout).
  Replay makes it due again with its failures at zero; the next run re-reads the stock, so a variant sold out again
  stops there instead of mailing.
- ``job``: an RQ job that raised and sits in RQ's failed job registry (kept a day, RedisJobQueue.failure_ttl). Listed
  and counted for operators only; the work behind it is re-driven from the database by the sweeper, so there is
  nothing to replay here.

Not dead letters: a notification delivery 'failed' for one recipient (a refused address, a bounce) is that
shopper's result, shown in the notification log; sync runs that stopped after MAX_FAILED_STEPS are the store's
sync state, shown on the dashboard and re-run by the freshness passes; a confirmation email given up on is the
subscription's state.

Retention: a webhook dead letter is deleted with every delivery INBOX_RETENTION (7 days) after it was received
(inbox.purge, the raw body carries shoppers' personal data). A restock event is stock history the charts and
attribution read and carries no personal data, so the row stays; as a dead letter it expires after the same
retention: no longer listed, counted or replayable, since alerts about a restock that old would mislead.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import ColumnElement, func, select, update
from sqlalchemy.orm import Session

from app import job_specs
from app.models import FanoutStatus, Product, StockEvent, Variant, WebhookEvent, WebhookEventStatus
from app.queue import JobQueue, RedisJobQueue, enqueue_after_commit
from app.services.ingest.inbox import INBOX_RETENTION

WEBHOOK = "webhook"
RESTOCK_EVENT = "restock_event"
JOB = "job"
KINDS = (WEBHOOK, RESTOCK_EVENT)
"""The kinds kept in the database: listed per store, replayable."""
LIST_LIMIT = 200


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """One dead letter as the CLI and the admin show it (never the raw body)."""

    kind: str
    id: int
    store_id: int | None
    what: str  # a delivery's "platform topic", a restock's variant
    at: datetime  # received (webhook), occurred (restock event)
    attempts: int
    error: str


def _webhooks(store_id: int | None) -> ColumnElement[bool]:
    cond = WebhookEvent.status == WebhookEventStatus.FAILED
    return cond & (WebhookEvent.store_id == store_id) if store_id is not None else cond


def _restocks(store_id: int | None, now: datetime) -> ColumnElement[bool]:
    cond = (
        (StockEvent.fanout_status == FanoutStatus.FAILED)
        & (StockEvent.kind == "restock")
        & (StockEvent.occurred_at >= now - INBOX_RETENTION)
    )
    return cond & (StockEvent.store_id == store_id) if store_id is not None else cond


def counts(session: Session, now: datetime | None = None, store_id: int | None = None) -> dict[str, int]:
    """Dead letters per kind ({"webhooks": n, "restock_events": m}), of every store or one; two indexed counts."""
    at = now or datetime.now(UTC)
    webhooks = session.scalar(select(func.count()).select_from(WebhookEvent).where(_webhooks(store_id)))
    restocks = session.scalar(select(func.count()).select_from(StockEvent).where(_restocks(store_id, at)))
    return {"webhooks": int(webhooks or 0), "restock_events": int(restocks or 0)}


def list_dead(
    session: Session,
    *,
    store_id: int | None = None,
    kinds: tuple[str, ...] = KINDS,
    now: datetime | None = None,
    limit: int = LIST_LIMIT,
    ids: list[int] | None = None,
) -> list[DeadLetter]:
    """Dead letters of the given kinds (only those ids, when given), webhooks first, each kind newest first."""
    at = now or datetime.now(UTC)
    found: list[DeadLetter] = []
    if WEBHOOK in kinds:
        rows = session.execute(
            select(
                WebhookEvent.id,
                WebhookEvent.store_id,
                WebhookEvent.platform,
                WebhookEvent.topic,
                WebhookEvent.received_at,
                WebhookEvent.attempts,
                WebhookEvent.error,
            )
            .where(_webhooks(store_id), *([WebhookEvent.id.in_(ids)] if ids is not None else []))
            .order_by(WebhookEvent.id.desc())
            .limit(limit)
        ).all()
        found += [DeadLetter(WEBHOOK, i, s, f"{p} {t}", r, a, e or "") for i, s, p, t, r, a, e in rows]
    if RESTOCK_EVENT in kinds:
        events = session.execute(
            select(
                StockEvent.id,
                StockEvent.store_id,
                Variant.id,
                Variant.sku,
                Product.title,
                StockEvent.occurred_at,
                StockEvent.run_failures,
                StockEvent.last_error,
            )
            .join(Variant, Variant.id == StockEvent.variant_id)
            .join(Product, Product.id == Variant.product_id)
            .where(_restocks(store_id, at), *([StockEvent.id.in_(ids)] if ids is not None else []))
            .order_by(StockEvent.id.desc())
            .limit(limit)
        ).all()
        found += [
            DeadLetter(RESTOCK_EVENT, i, s, _variant(vid, sku, title), o, f, e or "")
            for i, s, vid, sku, title, o, f, e in events
        ]
    return found


def _variant(variant_id: int, sku: str | None, title: str) -> str:
    return f"restock of {title} ({sku or f'variant {variant_id}'})"


def get(session: Session, kind: str, dead_id: int, *, store_id: int | None = None) -> DeadLetter | None:
    """One dead letter by kind and id (of that store only, when given); None when it is not (or no longer) dead."""
    if kind not in KINDS:
        return None
    found = list_dead(session, store_id=store_id, kinds=(kind,), ids=[dead_id])
    return found[0] if found else None


def replay(
    session: Session,
    jobs: JobQueue,
    kind: str,
    ids: list[int] | None,
    *,
    store_id: int | None = None,
    now: datetime | None = None,
) -> list[int]:
    """Give dead letters (those ids, or all of them with None) a fresh start; their jobs go out after the commit.

    Only rows that are dead letters (of that store, when given) change; returns the ids replayed, in id order.
    """
    at = now or datetime.now(UTC)
    if kind == WEBHOOK:
        cond = _webhooks(store_id)
        if ids is not None:
            cond = cond & WebhookEvent.id.in_(ids)
        rows = session.execute(
            update(WebhookEvent)
            .where(cond)
            .values(
                status=WebhookEventStatus.RECEIVED,
                attempts=0,
                error=None,
                retry_at=None,
                enqueued_at=at,
                processed_at=None,
            )
            .returning(WebhookEvent.id, WebhookEvent.store_id)
            .execution_options(synchronize_session=False)
        ).all()
        for sid in sorted({int(s) for _, s in rows if s is not None}):
            enqueue_after_commit(session, jobs, job_specs.drain_inbox(sid))
        return sorted(int(i) for i, _ in rows)
    if kind == RESTOCK_EVENT:
        cond = _restocks(store_id, at)
        if ids is not None:
            cond = cond & StockEvent.id.in_(ids)
        replayed = sorted(
            int(i)
            for i in session.scalars(
                update(StockEvent)
                .where(cond)
                .values(
                    fanout_status=FanoutStatus.PENDING,
                    run_failures=0,
                    last_error=None,
                    lease_until=None,
                    next_wave_at=at,
                )
                .returning(StockEvent.id)
                .execution_options(synchronize_session=False)
            )
        )
        minute = int(at.timestamp() // 60)
        for event_id in replayed:
            # A fresh job id: the job of the run that failed may still be registered under the plain one.
            enqueue_after_commit(session, jobs, job_specs.fanout_event(event_id, suffix=f"r{minute}"))
        return replayed
    raise ValueError(f"unknown dead-letter kind {kind!r}")


@dataclass(frozen=True, slots=True)
class FailedJob:
    """An RQ job in a queue's failed job registry."""

    id: str
    queue: str
    func: str
    args: str
    ended_at: datetime | None
    error: str  # the exception's last line


def failed_job_count(jobs: JobQueue) -> int | None:
    """Jobs in RQ's failed registries (one ZCARD per queue, expired ones included); None without Redis."""
    if not isinstance(jobs, RedisJobQueue):
        return None
    from rq.registry import FailedJobRegistry

    keys = [FailedJobRegistry(queue=q).key for q in jobs.queues.values()]
    sizes: list[int] = [jobs.connection.zcard(key) for key in keys]  # type: ignore[misc]
    return sum(sizes)


def failed_jobs(jobs: JobQueue, limit: int = LIST_LIMIT) -> list[FailedJob]:
    """Failed RQ jobs of every queue, newest first per queue (none without Redis)."""
    if not isinstance(jobs, RedisJobQueue):
        return []
    from rq.job import Job
    from rq.registry import FailedJobRegistry

    found: list[FailedJob] = []
    for name, queue in jobs.queues.items():
        ids = FailedJobRegistry(queue=queue).get_job_ids(0, limit - 1, desc=True)
        for job in Job.fetch_many(ids, connection=jobs.connection):
            if job is None:
                continue
            result = job.latest_result()
            lines = ((result.exc_string if result is not None else None) or "").strip().splitlines()
            ended = job.ended_at
            if ended is not None and ended.tzinfo is None:
                ended = ended.replace(tzinfo=UTC)  # RQ keeps UTC without saying so
            args = repr(tuple(job.args or ()))
            found.append(FailedJob(job.id, name, job.func_name or "", args, ended, lines[-1] if lines else ""))
    return found
