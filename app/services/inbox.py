"""The webhook inbox: record verified deliveries once, process them by topic, idempotently."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import DateTime, LargeBinary, TextClause, bindparam, delete, select, text
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import Session
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.elements import ClauseElement

from app.db import Database, JsonDoc
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
    processed: bool = True


def drain_job(store_id: int, *, gated: bool = True, suffix: str = "") -> JobSpec:
    """The job that processes a store's received deliveries in arrival order, one job per burst."""
    job_id = f"inbox-{store_id}" + (f"-{suffix}" if suffix else "")
    return JobSpec(
        "jobs.webhooks.drain_inbox",
        (store_id,),
        job_id=job_id,
        queue="high",
        gate=gate_key(store_id) if gated else None,
    )


def gate_key(store_id: int) -> str:
    """The Redis key that keeps one drain job pending per store."""
    return f"backsoon:inbox-gate:{store_id}"


_INSERT_COLUMNS = (
    "store_id, platform, topic, dedupe_key, resource_id, triggered_at, headers, body, status, attempts, "
    "received_at, enqueued_at"
)


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
    """Store a verified delivery for a known store id once per (platform, dedupe key); drain after commit."""
    return _insert(
        session,
        jobs,
        store_sql=":store_id",
        process_sql=":process",
        params={"store_id": store_id, "process": process and store_id is not None},
        platform=platform,
        topic=topic,
        dedupe_key=dedupe_key,
        body=body,
        headers=headers,
        resource_id=resource_id,
        triggered_at=triggered_at,
    )


class DatabaseUnavailable(Exception):
    """The database could not be reached, or lost the connection before answering: the caller says 503."""


def ingest(
    db: Database,
    jobs: JobQueue,
    *,
    platform: str,
    domain: str,
    topic: str,
    dedupe_key: str,
    body: bytes,
    headers: dict[str, Any],
    triggered_at: datetime | None = None,
    even_if_uninstalled: bool = False,
) -> Recorded:
    """Store a delivery addressed by shop domain in ONE committed statement (lookup, dedupe, insert), then enqueue.

    Deliveries for an unknown shop, or an uninstalled one (unless `even_if_uninstalled`), are kept as 'ignored' so a
    duplicate is still recognised, and nothing is enqueued for them. This is the webhook hot path: it runs on a raw
    pooled DBAPI connection of the autocommit engine (no Session, no per-call statement building, no pre-ping), and
    the drain job is enqueued only once the row is committed and the connection is back in the pool.
    """
    engine = db.autocommit_engine
    prepared = _prepared_ingest(engine.dialect)
    values = {
        "domain": domain.lower(),
        "anyway": even_if_uninstalled,
        **_row_values(platform, topic, dedupe_key, None, triggered_at, headers, body),
    }
    dbapi = engine.dialect.loaded_dbapi
    unreachable = (dbapi.OperationalError, dbapi.InterfaceError, sa_exc.OperationalError)
    try:
        conn = engine.raw_connection()
    except unreachable as exc:
        raise DatabaseUnavailable(str(exc)) from exc
    try:
        cursor = conn.cursor()
        try:
            cursor.execute(prepared.insert.sql, prepared.insert.args(values))
            row = cursor.fetchone()
            existing = None
            if row is None:
                cursor.execute(prepared.existing.sql, prepared.existing.args(values))
                existing = cursor.fetchone()
        finally:
            cursor.close()
        if engine.dialect.name == "sqlite":
            conn.commit()
    except unreachable as exc:
        if isinstance(exc, dbapi.Error) and engine.dialect.is_disconnect(exc, conn.dbapi_connection, None):
            # Never pooled again. The statement may or may not have committed, so it is not retried here: the
            # sender's retry is then stored or recognised as a duplicate, and the sweeper enqueues a stored row.
            conn.invalidate(exc)
        raise DatabaseUnavailable(str(exc)) from exc
    finally:
        conn.close()
    if row is None:
        return Recorded(
            existing[0] if existing else None, created=False, processed=bool(existing and existing[1] != "ignored")
        )
    event_id, store_id, status = row
    if status == "received" and store_id is not None:
        try:
            jobs.enqueue(drain_job(int(store_id)))
        except Exception:
            # A lost enqueue is recovered by the sweeper from the stored row; the delivery is still acknowledged.
            log.exception("enqueue of the drain job for store %s failed", store_id)
    return Recorded(int(event_id), created=True, processed=status == "received")


@dataclass(frozen=True, slots=True)
class _Compiled:
    """A statement compiled once for one dialect: its SQL, parameter order (positional styles) and bind processors."""

    sql: str
    positions: tuple[str, ...] | None
    processors: dict[str, Callable[[Any], Any]]

    @classmethod
    def of(cls, stmt: ClauseElement, dialect: Dialect) -> _Compiled:
        """Compile with the dialect's own paramstyle and casts, exactly what a Session would send."""
        compiled = stmt.compile(dialect=dialect)
        assert isinstance(compiled, SQLCompiler)
        processors: dict[str, Callable[[Any], Any]] = {}
        for name, param in compiled.binds.items():
            proc = param.type.dialect_impl(dialect).bind_processor(dialect)
            if proc is not None:
                processors[name] = proc
        positions = compiled.positiontup
        return cls(compiled.string, tuple(positions) if positions is not None else None, processors)

    def args(self, values: dict[str, Any]) -> tuple[Any, ...] | dict[str, Any]:
        """DBAPI parameters for these values, typed as SQLAlchemy would type them."""
        if self.processors:
            values = {**values, **{name: proc(values[name]) for name, proc in self.processors.items()}}
        if self.positions is not None:
            return tuple(values[name] for name in self.positions)
        return values


@dataclass(frozen=True, slots=True)
class _PreparedIngest:
    insert: _Compiled
    existing: _Compiled


_PREPARED: dict[tuple[str, str], _PreparedIngest] = {}


def _prepared_ingest(dialect: Dialect) -> _PreparedIngest:
    key = (dialect.name, dialect.driver)
    prepared = _PREPARED.get(key)
    if prepared is None:
        store = "(SELECT id FROM stores WHERE platform = :platform AND domain = :domain)"
        status = "(SELECT status FROM stores WHERE platform = :platform AND domain = :domain)"
        insert = _insert_statement(store, f"({store} IS NOT NULL AND (:anyway OR {status} <> 'uninstalled'))")
        existing = select(WebhookEvent.id, WebhookEvent.status).where(
            WebhookEvent.platform == bindparam("platform"), WebhookEvent.dedupe_key == bindparam("key")
        )
        prepared = _PREPARED[key] = _PreparedIngest(_Compiled.of(insert, dialect), _Compiled.of(existing, dialect))
    return prepared


def _row_values(
    platform: str,
    topic: str,
    dedupe_key: str,
    resource_id: str | None,
    triggered_at: datetime | None,
    headers: dict[str, Any],
    body: bytes,
) -> dict[str, Any]:
    # The delivery's own parameters of _insert_statement, cut to their columns' lengths.
    return {
        "platform": platform,
        "topic": topic[:64],
        "key": dedupe_key[:128],
        "resource_id": resource_id,
        "triggered_at": triggered_at,
        "headers": headers,
        "body": body,
        "now": datetime.now(UTC),
    }


def _insert_statement(store_sql: str, process_sql: str) -> TextClause:
    # One round trip: the per-delivery cost of the webhook endpoint is mostly statements and commits.
    return text(
        f"INSERT INTO webhook_events ({_INSERT_COLUMNS}) "
        f"SELECT {store_sql}, :platform, :topic, :key, :resource_id, :triggered_at, :headers, :body, "
        f"CASE WHEN {process_sql} THEN 'received' ELSE 'ignored' END, 0, :now, :now WHERE 1 = 1 "
        "ON CONFLICT (platform, dedupe_key) DO NOTHING RETURNING id, store_id, status"
    ).bindparams(
        bindparam("headers", type_=JsonDoc),
        bindparam("body", type_=LargeBinary),
        bindparam("now", type_=DateTime(timezone=True)),
        bindparam("triggered_at", type_=DateTime(timezone=True)),
    )


def _insert(
    session: Session,
    jobs: JobQueue,
    *,
    store_sql: str,
    process_sql: str,
    params: dict[str, Any],
    platform: str,
    topic: str,
    dedupe_key: str,
    body: bytes,
    headers: dict[str, Any],
    resource_id: str | None,
    triggered_at: datetime | None,
) -> Recorded:
    row = session.execute(
        _insert_statement(store_sql, process_sql),
        {**params, **_row_values(platform, topic, dedupe_key, resource_id, triggered_at, headers, body)},
    ).one_or_none()
    if row is None:
        existing = session.execute(
            select(WebhookEvent.id, WebhookEvent.status).where(
                WebhookEvent.platform == platform, WebhookEvent.dedupe_key == dedupe_key[:128]
            )
        ).one_or_none()
        return Recorded(
            existing[0] if existing else None, created=False, processed=bool(existing and existing[1] != "ignored")
        )
    event_id, store_id, status = row
    if status == "received" and store_id is not None:
        enqueue_after_commit(session, jobs, drain_job(int(store_id)))
    return Recorded(int(event_id), created=True, processed=status == "received")


def pending_events(session: Session, store_id: int, limit: int = 200) -> list[int]:
    """Ids of a store's deliveries still to process, oldest first."""
    return list(
        session.scalars(
            select(WebhookEvent.id)
            .where(WebhookEvent.store_id == store_id, WebhookEvent.status == "received")
            .order_by(WebhookEvent.id)
            .limit(limit)
        )
    )


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
