"""The webhook inbox records once and processes idempotently; the sweeper re-drives stalled work."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any

import pytest
from rq import SimpleWorker
from sqlalchemy import func, select, update

from app import job_specs
from app.config import Settings
from app.db import Database
from app.models import DirtyVariant, WebhookEvent
from app.platforms import registry
from app.queue import InProcessJobQueue, JobSpec, RedisJobQueue
from app.runtime import Runtime, set_runtime
from app.services.ingest import inbox, sweeper
from app.services.ingest.inbox import INBOX_RETENTION
from app.services.stock import dirty
from tests.conftest import TEST_REDIS_URL
from tests.factories import RecordingQueue, make_store, make_variant

pytestmark = pytest.mark.integration

APPLIED: list[int] = []


def _apply_thing(session: Any, jobs: Any, event: WebhookEvent) -> str:
    APPLIED.append(event.id)
    return "applied"


def _explode(session: Any, jobs: Any, event: WebhookEvent) -> str:
    raise RuntimeError("handler crashed")


@pytest.fixture(autouse=True)
def _clear(monkeypatch: pytest.MonkeyPatch) -> None:
    APPLIED.clear()
    # A platform of the test's own, registered as a real one is: its topics are what the drain job applies.
    topics = {"thing/update": _apply_thing, "thing/explode": _explode}
    monkeypatch.setitem(registry.PLATFORMS, "test", SimpleNamespace(name="test", topics=topics))


def a_store(db: Database) -> int:
    with db.session() as session:
        return make_store(session).id


def record(
    db: Database, jobs: Any, key: str, topic: str = "thing/update", store_id: int | None = None
) -> inbox.Recorded:
    store_id = store_id if store_id is not None else a_store(db)
    with db.session() as session:
        return inbox.record_delivery(
            session,
            jobs,
            platform="test",
            topic=topic,
            dedupe_key=key,
            body=b'{"id": 1}',
            headers={"X": "1"},
            store_id=store_id,
        )


def test_duplicate_delivery_is_stored_and_enqueued_once(db: Database, redis_conn: Any) -> None:
    jobs = RedisJobQueue(TEST_REDIS_URL)
    set_runtime(Runtime(Settings(env="test"), db, jobs))
    sid = a_store(db)
    first = record(db, jobs, "delivery-1", store_id=sid)
    second = record(db, jobs, "delivery-1", store_id=sid)
    assert first.created is True and second.created is False
    assert first.event_id == second.event_id
    with db.session() as s:
        assert s.scalar(select(func.count()).select_from(WebhookEvent)) == 1
    assert jobs.queues["high"].count == 1

    SimpleWorker([jobs.queues["high"]], connection=jobs.connection).work(burst=True)
    assert APPLIED == [first.event_id]
    with db.session() as s:
        ev = s.get(WebhookEvent, first.event_id)
        assert ev is not None and ev.status == "processed" and ev.attempts == 1

    # Running the job again (a retry, or the sweeper) does nothing.
    with db.session() as s:
        assert inbox.process_event(s, jobs, first.event_id, registry.handler_for) == "already_processed"
    assert APPLIED == [first.event_id]


def test_redis_down_at_ingest_loses_nothing_and_sweeper_recovers(db: Database, redis_conn: Any) -> None:
    down = RedisJobQueue("redis://127.0.0.1:1/0")
    sid = a_store(db)
    rec = record(db, down, "delivery-2", store_id=sid)
    assert rec.created is True
    with db.session() as s:
        ev = s.get(WebhookEvent, rec.event_id)
        assert ev is not None and ev.status == "received"

    up = RedisJobQueue(TEST_REDIS_URL)
    set_runtime(Runtime(Settings(env="test"), db, up))
    now = datetime.now(UTC)
    # Not stale yet: the sweeper leaves it alone.
    with db.session() as s:
        assert sweeper.sweep(s, up, now, timedelta(seconds=60), sync_job=registry.sync_job_for) == []
    assert up.queues["high"].count == 0
    with db.session() as s:
        specs = sweeper.sweep(s, up, now + timedelta(seconds=61), timedelta(seconds=60), sync_job=registry.sync_job_for)
    minute = int((now + timedelta(seconds=61)).timestamp() // 60)
    assert [(sp.func, sp.args, sp.job_id, sp.gate) for sp in specs] == [
        (job_specs.DRAIN_INBOX, (sid,), f"inbox-{sid}-s{minute}", None)
    ]
    assert up.queues["high"].count == 1
    SimpleWorker([up.queues["high"]], connection=up.connection).work(burst=True)
    assert APPLIED == [rec.event_id]
    # Swept rows are stamped, so the next sweep does not enqueue them again.
    with db.session() as s:
        assert (
            sweeper.sweep(s, up, now + timedelta(seconds=62), timedelta(seconds=60), sync_job=registry.sync_job_for)
            == []
        )


def test_failing_handler_keeps_the_row_for_retry(db: Database, redis_conn: Any) -> None:
    jobs = RedisJobQueue(TEST_REDIS_URL)
    set_runtime(Runtime(Settings(env="test"), db, jobs))
    rec = record(db, jobs, "delivery-3", topic="thing/explode")
    SimpleWorker([jobs.queues["high"]], connection=jobs.connection).work(burst=True)
    with db.session() as s:
        ev = s.get(WebhookEvent, rec.event_id)
        assert ev is not None
        assert (ev.status, ev.attempts, ev.error) == ("received", 1, "RuntimeError: handler crashed")


def test_unknown_topic_is_ignored_with_reason(db: Database) -> None:
    jobs = InProcessJobQueue(eager=True)
    set_runtime(Runtime(Settings(env="test"), db, jobs))
    rec = record(db, jobs, "delivery-4", topic="nobody/handles")
    with db.session() as s:
        ev = s.get(WebhookEvent, rec.event_id)
        assert ev is not None
        assert (ev.status, ev.error) == ("ignored", "no handler for test topic nobody/handles")
    assert APPLIED == []


def test_stale_dirty_variants_are_swept_into_a_recompute(db: Database) -> None:
    jobs = RecordingQueue()
    with db.session() as s:
        store = make_store(s)
        v = make_variant(s, store, qty=3)
        dirty.mark_dirty(s, jobs, store.id, [v.id], "test")
        sid, vid = store.id, v.id
    now = datetime.now(UTC)
    with db.session() as s:
        s.execute(update(DirtyVariant).values(marked_at=now - timedelta(seconds=90)))
    gate = job_specs.recompute_gate(sid)
    assert jobs.specs == [
        JobSpec(job_specs.RECOMPUTE_DIRTY, (sid,), job_id=f"recompute-dirty-{sid}", queue="high", gate=gate)
    ]
    with db.session() as s:
        specs = sweeper.sweep(s, jobs, now, timedelta(seconds=60), sync_job=registry.sync_job_for)
    minute = int(now.timestamp() // 60)
    assert specs == [
        JobSpec(job_specs.RECOMPUTE_DIRTY, (sid,), job_id=f"recompute-dirty-{sid}-s{minute}", queue="high")
    ]
    with db.session() as s:
        assert s.scalars(select(DirtyVariant.variant_id)).all() == [vid]


def test_purge_deletes_every_delivery_past_retention_processed_or_not(db: Database) -> None:
    # A delivery that never processed (still retried, or given up on) keeps the shopper's data in its raw body as
    # long as a processed one would: it goes on the same retention.
    jobs = RecordingQueue()
    sid = a_store(db)
    body = b'{"id": 1, "email": "maya.chen@example.com", "shipping_address": {"address1": "12 Harbour Lane"}}'
    keys = ("old-processed", "old-retrying", "old-failed", "old-ignored", "fresh-retrying", "fresh-processed")
    ids = {}
    for key in keys:
        with db.session() as s:
            ids[key] = inbox.record_delivery(
                s, jobs, platform="test", topic="orders/create", dedupe_key=key, body=body, headers={}, store_id=sid
            ).event_id
    now = datetime.now(UTC)
    with db.session() as s:
        for key, status in (("old-processed", "processed"), ("old-failed", "failed"), ("old-ignored", "ignored")):
            s.execute(update(WebhookEvent).where(WebhookEvent.id == ids[key]).values(status=status))
        s.execute(update(WebhookEvent).where(WebhookEvent.id == ids["fresh-processed"]).values(status="processed"))
        inbox.mark_failed(s, int(ids["old-retrying"] or 0), "boom")
        inbox.mark_failed(s, int(ids["fresh-retrying"] or 0), "boom")
        s.execute(
            update(WebhookEvent)
            .where(WebhookEvent.dedupe_key.like("old-%"))
            .values(received_at=now - INBOX_RETENTION - timedelta(minutes=1))
        )
        s.execute(
            update(WebhookEvent)
            .where(WebhookEvent.dedupe_key.like("fresh-%"))
            .values(received_at=now - INBOX_RETENTION + timedelta(minutes=1))
        )
    with db.session() as s:
        assert inbox.purge(s, now) == 4
    with db.session() as s:
        rows = s.execute(select(WebhookEvent.dedupe_key, WebhookEvent.status, WebhookEvent.body)).all()
    assert sorted((k, st) for k, st, _ in rows) == [("fresh-processed", "processed"), ("fresh-retrying", "received")]
    # What is left of the shopper is only in deliveries younger than the retention.
    with db.session() as s:
        old_bodies = s.scalars(select(WebhookEvent.body).where(WebhookEvent.received_at < now - INBOX_RETENTION))
        assert [b for b in old_bodies if b"maya.chen@example.com" in b] == []
    with db.session() as s:
        assert inbox.purge(s, now) == 0  # running twice removes nothing more


def test_after_an_outage_fresh_deliveries_and_dirty_variants_are_redriven_at_once_running_syncs_are_not(
    db: Database,
) -> None:
    from app.models import Store, SyncRun

    down = RedisJobQueue("redis://127.0.0.1:1/0")
    sid = a_store(db)
    rec = record(db, down, "delivery-outage", store_id=sid)  # stored while Redis was down: its drain never enqueued
    with db.session() as s:
        store = s.get(Store, sid)
        assert store is not None
        v = make_variant(s, store)
        dirty.mark_dirty(s, RecordingQueue(), sid, [v.id], "webhook")
        run = SyncRun(store_id=sid, kind="initial", status="running", heartbeat_at=datetime.now(UTC))
        s.add(run)
        s.flush()
        run_id = run.id
    now = datetime.now(UTC) + timedelta(seconds=1)
    jobs = RecordingQueue()
    with db.session() as s:
        # A regular sweep leaves all of it alone: nothing is older than the threshold yet.
        assert sweeper.sweep(s, jobs, now, timedelta(seconds=60), sync_job=registry.sync_job_for) == []
    with db.session() as s:
        specs = sweeper.sweep(s, jobs, now, timedelta(seconds=60), sync_job=registry.sync_job_for, after_outage=True)
    minute = int(now.timestamp() // 60)
    assert [(sp.func, sp.args, sp.job_id) for sp in specs] == [
        (job_specs.DRAIN_INBOX, (sid,), f"inbox-{sid}-s{minute}"),
        (job_specs.RECOMPUTE_DIRTY, (sid,), f"recompute-dirty-{sid}-s{minute}"),
    ]
    assert jobs.specs == specs  # enqueued once the sweep committed
    with db.session() as s:
        ev = s.get(WebhookEvent, rec.event_id)
        assert ev is not None and (ev.status, ev.enqueued_at) == ("received", now)
        found = s.get(SyncRun, run_id)
        assert found is not None and found.attempts == 0  # a running sync's attempts are not spent by the outage
