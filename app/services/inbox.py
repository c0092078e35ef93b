"""The webhook inbox: record verified deliveries once, process them by topic, idempotently."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from app.models import WebhookEvent
from app.queue import JobQueue, JobSpec, enqueue_after_commit
from app.services.sqlfn import dialect

log = logging.getLogger(__name__)

# A handler applies one delivery and says what it did ("applied", "stale", …) for the log.
Handler = Callable[[Session, JobQueue, WebhookEvent], str]
_HANDLERS: dict[tuple[str, str], Handler] = {}


def register_handler(platform: str, topic: str) -> Callable[[Handler], Handler]:
    """Register the function that processes one platform topic."""

    def decorate(fn: Handler) -> Handler:
        _HANDLERS[(platform, topic)] = fn
        return fn

    return decorate


def topics_for(platform: str) -> frozenset[str]:
    """Every topic a platform has a handler for."""
    return frozenset(topic for plat, topic in _HANDLERS if plat == platform)


def handler_for(platform: str, topic: str) -> Handler | None:
    """The registered handler for a topic, if any."""
    return _HANDLERS.get((platform, topic))


@dataclass(frozen=True, slots=True)
class Recorded:
    """Outcome of storing a delivery: its row id and whether it was new."""

    event_id: int | None
    created: bool


def process_job(event_id: int, suffix: str = "") -> JobSpec:
    """The job that processes one inbox row."""
    job_id = f"webhook-{event_id}" + (f"-{suffix}" if suffix else "")
    return JobSpec("jobs.webhooks.process_webhook", (event_id,), job_id=job_id, queue="high")


def record_delivery(
    session: Session,
    jobs: JobQueue,
    *,
    platform: str,
    topic: str,
    dedupe_key: str,
    body: bytes,
    headers: dict[str, Any],
    store_id: int | None,
    resource_id: str | None = None,
    triggered_at: datetime | None = None,
    process: bool = True,
) -> Recorded:
    """Store a verified delivery once per (platform, dedupe key) and enqueue it after commit."""
    now = datetime.now(UTC)
    values = {
        "platform": platform,
        "topic": topic[:64],
        "dedupe_key": dedupe_key[:128],
        "body": body,
        "headers": headers,
        "store_id": store_id,
        "resource_id": resource_id,
        "triggered_at": triggered_at,
        "status": "received" if process else "ignored",
        "received_at": now,
        "enqueued_at": now if process else None,
        "attempts": 0,
    }
    ins = pg_insert(WebhookEvent) if dialect(session) == "postgresql" else sqlite_insert(WebhookEvent)
    stmt = (
        ins.values(**values)
        .on_conflict_do_nothing(index_elements=["platform", "dedupe_key"])
        .returning(WebhookEvent.id)
    )
    event_id = session.execute(stmt).scalar_one_or_none()
    if event_id is None:
        existing = session.execute(
            select(WebhookEvent.id).where(
                WebhookEvent.platform == platform, WebhookEvent.dedupe_key == dedupe_key[:128]
            )
        ).scalar_one_or_none()
        return Recorded(existing, created=False)
    if process:
        enqueue_after_commit(session, jobs, process_job(event_id))
    return Recorded(event_id, created=True)


def process_event(session: Session, jobs: JobQueue, event_id: int) -> str:
    """Apply one inbox row through its topic handler; safe to run twice or after a killed worker."""
    q = select(WebhookEvent).where(WebhookEvent.id == event_id)
    if dialect(session) == "postgresql":
        # The row lock is released if this worker dies, so the sweeper's re-run can take over.
        q = q.with_for_update(skip_locked=True)
    event = session.execute(q).scalar_one_or_none()
    if event is None:
        return "busy_or_missing"
    if event.status in ("processed", "ignored"):
        return "already_" + event.status
    event.attempts += 1
    handler = handler_for(event.platform, event.topic)
    if handler is None:
        event.status = "ignored"
        event.error = f"no handler for {event.platform} topic {event.topic}"
        event.processed_at = datetime.now(UTC)
        return "ignored"
    outcome = handler(session, jobs, event)
    event.status = "processed"
    event.error = None
    event.processed_at = datetime.now(UTC)
    log.info("webhook %s %s: %s", event.platform, event.topic, outcome, extra={"data": {"webhook_id": event.id}})
    return outcome


def mark_failed(session: Session, event_id: int, error: str) -> None:
    """Record why processing failed; the row stays 'received' so the sweeper retries it."""
    event = session.get(WebhookEvent, event_id)
    if event is not None:
        event.error = error[:2000]
        event.attempts += 1


INBOX_RETENTION = timedelta(days=7)


def purge(session: Session, now: datetime, retention: timedelta = INBOX_RETENTION) -> int:
    """Delete finished deliveries older than the retention: their raw bodies carry shoppers' personal data."""
    result = session.execute(
        delete(WebhookEvent).where(
            WebhookEvent.status.in_(("processed", "ignored")), WebhookEvent.received_at < now - retention
        )
    )
    return int(getattr(result, "rowcount", 0) or 0)
