"""The webhook inbox: record verified deliveries once, process them by topic, idempotently.

A delivery whose processing fails is retried with a growing delay (retry_delay: 1, 2, 4, … minutes, at most an hour)
by the next drain or the sweeper, MAX_ATTEMPTS times in all, then set aside as 'failed' with its last error: a dead
letter (app.services.ingest.dead_letters), replayable by the operator or the merchant. A body that can never be read
(not JSON, nested too deeply, a shape the platform's mapping refuses) is dead at its first attempt: retrying the same
poison would only spend workers.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, cast

from sqlalchemy import DateTime, LargeBinary, TextClause, bindparam, delete, func, or_, select, text
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import Dialect, Engine
from sqlalchemy.orm import Session
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.elements import ClauseElement

from app import job_specs
from app.db import Database, JsonDoc
from app.infra.group_commit import GroupCommit, Pending, group_for
from app.infra.sql import dialect
from app.models import StoreStatus, WebhookEvent, WebhookEventStatus
from app.queue import JobQueue, enqueue_after_commit
from integrations.base import UnreadablePayload

log = logging.getLogger(__name__)

# A handler applies one delivery and says what it did ("applied", "stale", …) for the log.
Handler = Callable[[Session, JobQueue, WebhookEvent], str]
ECHO = "echo"
"""What a handler returns for a delivery that changes nothing it syncs: the row is kept with status 'echo'."""
# How the inbox finds a delivery's handler: (platform, topic) → handler, or None for a topic nobody handles.
# The platform registry provides it (app.platforms.registry.handler_for); the inbox never lists platforms.
HandlerLookup = Callable[[str, str], Handler | None]


@dataclass(frozen=True, slots=True)
class Recorded:
    """Outcome of storing a delivery: its row id and whether it was new."""

    event_id: int | None
    created: bool
    processed: bool = True


# The ingest statements are the webhook hot path: their statuses stay literals in the SQL (taken from the enums), so
# each statement is the same fixed text whatever the delivery.
_RECEIVED, _IGNORED = WebhookEventStatus.RECEIVED.value, WebhookEventStatus.IGNORED.value
_UNINSTALLED = StoreStatus.UNINSTALLED.value
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
    """Store a delivery addressed by shop domain, committed (lookup, dedupe, insert), then enqueue its drain job.

    Deliveries for an unknown shop, or an uninstalled one (unless `even_if_uninstalled`), are kept as 'ignored' so a
    duplicate is still recognised, and nothing is enqueued for them. This is the webhook hot path: deliveries that
    arrive together in one process are written by one INSERT on a raw pooled connection of the autocommit engine
    (app.infra.group_commit), and each store's drain job is enqueued once per group, after the commit. Returns only once
    this delivery is committed and its enqueue attempted.
    """
    delivery = _Delivery(
        jobs=jobs,
        values={
            "domain": domain.lower(),
            "anyway": even_if_uninstalled,
            **_row_values(platform, topic, dedupe_key, None, triggered_at, headers, body),
        },
        size=len(body),
    )
    group = cast(GroupCommit[_Delivery], group_for(db))
    group.submit(delivery, lambda batch: _write_group(db.autocommit_engine, batch))
    if delivery.error is not None:
        if isinstance(delivery.error, DatabaseUnavailable):
            raise DatabaseUnavailable(str(delivery.error)) from delivery.error.__cause__
        raise IngestFailed(f"storing the delivery failed: {delivery.error!r}") from delivery.error
    assert delivery.result is not None
    return delivery.result


class IngestFailed(Exception):
    """Storing a delivery failed for a reason other than an unreachable database (the caller says 500)."""


@dataclass(slots=True)
class _Delivery(Pending):
    """One delivery waiting for its group's write, and then what became of it."""

    jobs: JobQueue
    values: dict[str, Any]
    result: Recorded | None = None


# PostgreSQL: every delivery of a group in one statement, its rows in arrival order (ids follow it), each field a
# plain parameter (psycopg adapts a list parameter element by element, which costs more than the insert itself).
_GROUP_ROW = (
    "(%s::varchar, %s::varchar, %s::varchar, %s::varchar, %s::timestamptz, %s::jsonb, %b::bytea, %s::timestamptz, "
    "%s::varchar, %s::boolean, {n})"
)
_GROUP_INSERT_PG = (
    f"INSERT INTO webhook_events ({_INSERT_COLUMNS}) "  # noqa: S608 - fixed column list; values are bound
    "SELECT s.id, d.platform, d.topic, d.key, d.resource_id, d.triggered_at, d.headers, d.body, "
    f"CASE WHEN s.id IS NOT NULL AND (d.anyway OR s.status <> '{_UNINSTALLED}') "
    f"THEN '{_RECEIVED}' ELSE '{_IGNORED}' END, "
    "0, d.received_at, d.received_at "
    "FROM (VALUES {rows}) AS d(platform, topic, key, resource_id, triggered_at, headers, body, received_at, domain, "
    "anyway, n) "
    "LEFT JOIN stores s ON s.platform = d.platform AND s.domain = d.domain "
    "ORDER BY d.n "
    "ON CONFLICT (platform, dedupe_key) DO NOTHING RETURNING id, store_id, status, platform, dedupe_key"
)
_GROUP_EXISTING_PG = (
    "SELECT platform, dedupe_key, id, status FROM webhook_events WHERE (platform, dedupe_key) IN ({pairs})"
)
_GROUP_FIELDS = (
    "platform", "topic", "key", "resource_id", "triggered_at", "headers", "body", "now", "domain", "anyway",
)  # fmt: skip
_GROUP_SQL: dict[int, str] = {}


def _group_insert_pg(n: int) -> str:
    sql = _GROUP_SQL.get(n)
    if sql is None:
        rows = ", ".join(_GROUP_ROW.replace("{n}", str(i)) for i in range(n))
        sql = _GROUP_SQL[n] = _GROUP_INSERT_PG.replace("{rows}", rows)
    return sql


def _write_group(engine: Engine, batch: list[_Delivery]) -> None:
    """Insert a group of deliveries, tell each whether it was new, then enqueue each store's drain once."""
    dbapi = engine.dialect.loaded_dbapi
    unreachable = (dbapi.OperationalError, dbapi.InterfaceError, sa_exc.OperationalError)
    try:
        conn = engine.raw_connection()
    except unreachable as exc:
        raise DatabaseUnavailable(str(exc)) from exc
    try:
        cursor = conn.cursor()
        try:
            if engine.dialect.name == "postgresql":
                inserted, existing = _insert_group_pg(cursor, batch)
            else:
                inserted, existing = _insert_each(cursor, engine.dialect, batch)
                conn.commit()
        finally:
            cursor.close()
    except unreachable as exc:
        if isinstance(exc, dbapi.Error) and engine.dialect.is_disconnect(exc, conn.dbapi_connection, None):
            # Never pooled again. The statement may or may not have committed, so it is not retried here: the
            # sender's retry is then stored or recognised as a duplicate, and the sweeper enqueues a stored row.
            conn.invalidate(exc)
        raise DatabaseUnavailable(str(exc)) from exc
    finally:
        conn.close()
    drains: dict[int, JobQueue] = {}
    for item in batch:
        key = (item.values["platform"], item.values["key"])
        row = inserted.pop(key, None)
        if row is None:
            found = existing.get(key)
            item.result = Recorded(
                found[0] if found else None,
                created=False,
                processed=bool(found and found[1] != WebhookEventStatus.IGNORED),
            )
        else:
            event_id, store_id, status = row
            # The same delivery twice in one group: the second one is a duplicate of this row.
            existing[key] = (event_id, status)
            if status == WebhookEventStatus.RECEIVED and store_id is not None:
                drains.setdefault(int(store_id), item.jobs)
            item.result = Recorded(int(event_id), created=True, processed=status == WebhookEventStatus.RECEIVED)
    for store_id, jobs in drains.items():
        try:
            jobs.enqueue(job_specs.drain_inbox(store_id))
        except Exception:
            # A lost enqueue is recovered by the sweeper from the stored rows; the deliveries are still acknowledged.
            log.exception("enqueue of the drain job for store %s failed", store_id)
    for item in batch:
        item.done = True


_Found = dict[tuple[str, str], tuple[Any, ...]]


def _insert_group_pg(cursor: Any, batch: list[_Delivery]) -> tuple[_Found, _Found]:
    params: list[Any] = []
    for d in batch:
        params += [json.dumps(d.values[name]) if name == "headers" else d.values[name] for name in _GROUP_FIELDS]
    cursor.execute(_group_insert_pg(len(batch)), params)
    inserted = {(r[3], r[4]): (r[0], r[1], r[2]) for r in cursor.fetchall()}
    existing: _Found = {}
    missing = [k for k in ((d.values["platform"], d.values["key"]) for d in batch) if k not in inserted]
    if missing:
        # Duplicates of rows stored before (a duplicate within the group is answered from the row just inserted).
        pairs = ", ".join(["(%s, %s)"] * len(missing))
        cursor.execute(_GROUP_EXISTING_PG.replace("{pairs}", pairs), [x for pair in missing for x in pair])
        existing = {(r[0], r[1]): (r[2], r[3]) for r in cursor.fetchall()}
    return inserted, existing


def _insert_each(cursor: Any, dialect: Dialect, batch: list[_Delivery]) -> tuple[_Found, _Found]:
    # SQLite (the demo) writes one connection at a time anyway: one statement per delivery, one commit per group.
    prepared = _prepared_ingest(dialect)
    inserted: _Found = {}
    existing: _Found = {}
    for item in batch:
        key = (item.values["platform"], item.values["key"])
        cursor.execute(prepared.insert.sql, prepared.insert.args(item.values))
        row = cursor.fetchone()
        if row is not None:
            inserted[key] = tuple(row)
            continue
        cursor.execute(prepared.existing.sql, prepared.existing.args(item.values))
        found = cursor.fetchone()
        if found is not None:
            existing[key] = tuple(found)
    return inserted, existing


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
        insert = _insert_statement(store, f"({store} IS NOT NULL AND (:anyway OR {status} <> '{_UNINSTALLED}'))")
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
        f"CASE WHEN {process_sql} THEN '{_RECEIVED}' ELSE '{_IGNORED}' END, 0, :now, :now WHERE 1 = 1 "
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
            existing[0] if existing else None,
            created=False,
            processed=bool(existing and existing[1] != WebhookEventStatus.IGNORED),
        )
    event_id, store_id, status = row
    if status == WebhookEventStatus.RECEIVED and store_id is not None:
        enqueue_after_commit(session, jobs, job_specs.drain_inbox(int(store_id)))
    return Recorded(int(event_id), created=True, processed=status == WebhookEventStatus.RECEIVED)


def pending_events(session: Session, store_id: int, limit: int = 200, now: datetime | None = None) -> list[int]:
    """Ids of a store's deliveries to process now (a failed one once its retry is due), oldest first."""
    due = now or datetime.now(UTC)
    return list(
        session.scalars(
            select(WebhookEvent.id)
            .where(
                WebhookEvent.store_id == store_id,
                WebhookEvent.status == WebhookEventStatus.RECEIVED,
                or_(WebhookEvent.retry_at.is_(None), WebhookEvent.retry_at <= due),
            )
            .order_by(WebhookEvent.id)
            .limit(limit)
        )
    )


_FINISHED = (WebhookEventStatus.PROCESSED, WebhookEventStatus.IGNORED, WebhookEventStatus.ECHO)


def process_event(session: Session, jobs: JobQueue, event_id: int, handlers: HandlerLookup) -> str:
    """Apply one inbox row through its topic handler; safe to run twice or after a killed worker."""
    q = select(WebhookEvent).where(WebhookEvent.id == event_id)
    if dialect(session) == "postgresql":
        # The row lock is released if this worker dies, so the sweeper's re-run can take over.
        q = q.with_for_update(skip_locked=True)
    event = session.execute(q).scalar_one_or_none()
    if event is None:
        return "busy_or_missing"
    if event.status != WebhookEventStatus.RECEIVED:
        return f"already_{event.status}"
    event.attempts += 1
    handler = handlers(event.platform, event.topic)
    if handler is None:
        event.status = WebhookEventStatus.IGNORED
        event.error = f"no handler for {event.platform} topic {event.topic}"
        event.processed_at = datetime.now(UTC)
        return "ignored"
    outcome = handler(session, jobs, event)
    # An echo is counted apart, so how many deliveries our own write-back causes can be seen.
    event.status = WebhookEventStatus.ECHO if outcome == ECHO else WebhookEventStatus.PROCESSED
    event.error = None
    event.processed_at = datetime.now(UTC)
    log.info("webhook %s %s: %s", event.platform, event.topic, outcome, extra={"data": {"webhook_id": event.id}})
    return outcome


MAX_ATTEMPTS = 8
"""Attempts a delivery gets before it is a dead letter (about two hours of retries with retry_delay)."""
_FIRST_RETRY = timedelta(minutes=1)
_LONGEST_RETRY = timedelta(hours=1)


def retry_delay(failures: int) -> timedelta:
    """How long after its n-th failed attempt a delivery is tried again: 1, 2, 4, … minutes, at most an hour."""
    delay: timedelta = _FIRST_RETRY * 2 ** max(failures - 1, 0)
    return min(delay, _LONGEST_RETRY)


def is_permanent(exc: BaseException) -> bool:
    """Whether a processing error will recur however often it is retried: the body itself cannot be read."""
    return isinstance(exc, UnreadablePayload | RecursionError)


def mark_failed(
    session: Session, event_id: int, error: str, *, permanent: bool = False, now: datetime | None = None
) -> str | None:
    """Record a failed attempt: retried after retry_delay, or dead ('failed') when permanent or out of attempts.

    Returns the row's status then (None for a row that is gone). Only a 'received' row counts an attempt: one that
    finished meanwhile (a concurrent run) is left as it is.
    """
    event = session.get(WebhookEvent, event_id, with_for_update=dialect(session) == "postgresql")
    if event is None:
        return None
    if event.status != WebhookEventStatus.RECEIVED:
        return event.status
    at = now or datetime.now(UTC)
    event.error = error[:2000]
    event.attempts += 1
    if permanent or event.attempts >= MAX_ATTEMPTS:
        event.status = WebhookEventStatus.FAILED
        event.retry_at = None
        log.error(
            "webhook %s %s dead-lettered after %s attempt(s): %s",
            event.platform,
            event.topic,
            event.attempts,
            event.error,
            extra={"data": {"webhook_id": event.id, "store_id": event.store_id}},
        )
    else:
        event.retry_at = at + retry_delay(event.attempts)
    return event.status


INBOX_RETENTION = timedelta(days=7)


def purge(session: Session, now: datetime, retention: timedelta = INBOX_RETENTION) -> int:
    """Delete every delivery older than the retention, processed or not: raw bodies carry shoppers' personal data.

    One that never processed in all that time (still retried, or a dead letter nobody replayed) goes too: by then the
    freshness passes and reconciliation have re-read what it said, and keeping its body would keep the personal data
    in it.
    """
    cutoff = now - retention
    stuck = session.execute(
        select(WebhookEvent.platform, WebhookEvent.topic, func.count())
        .where(WebhookEvent.status.not_in(_FINISHED), WebhookEvent.received_at < cutoff)
        .group_by(WebhookEvent.platform, WebhookEvent.topic)
    ).all()
    for platform, topic, count in stuck:
        log.warning(
            "purging %d %s %s deliveries that never processed",
            count,
            platform,
            topic,
            extra={"data": {"platform": platform, "topic": topic, "count": count}},
        )
    result = session.execute(delete(WebhookEvent).where(WebhookEvent.received_at < cutoff))
    return int(getattr(result, "rowcount", 0) or 0)
