"""A delivery whose processing kills the worker outright is dead-lettered after MAX_CRASHES, not retried for ever.

The crash is real: a forked worker process runs the drain job and its handler ends the process with os._exit (what
an out-of-memory kill or a crash in a C extension does: nothing after it runs, the transaction is rolled back).
"""

from __future__ import annotations

import os
from types import SimpleNamespace
from typing import Any

import pytest
from sqlalchemy import select

from app.config import Settings
from app.db import Database
from app.models import WebhookEvent
from app.platforms import registry
from app.queue import InProcessJobQueue, RedisJobQueue
from app.runtime import Runtime, set_runtime
from app.services.ingest import inbox
from app.services.ingest.crash_guard import MAX_CRASHES, CrashGuard, crash_error
from jobs.webhooks import drain_inbox, process_webhook
from tests.conftest import TEST_REDIS_URL
from tests.factories import RecordingQueue, make_store

pytestmark = [pytest.mark.integration, pytest.mark.truncating("forked worker processes use connections of their own")]

APPLIED: list[int] = []


def _handler(session: Any, jobs: Any, event: WebhookEvent) -> str:
    if b"crash" in event.body:
        os._exit(137)  # the worker dies here: no except, no finally, no commit
    APPLIED.append(event.id)
    return "applied"


@pytest.fixture(autouse=True)
def _platform(monkeypatch: pytest.MonkeyPatch) -> None:
    APPLIED.clear()
    monkeypatch.setitem(
        registry.PLATFORMS, "test", SimpleNamespace(name="test", topics={"thing/update": _handler}, webhook_intake=None)
    )


def _record(db: Database, store_id: int, key: str, body: bytes) -> int:
    with db.session() as s:
        rec = inbox.record_delivery(
            s, RecordingQueue(), platform="test", topic="thing/update", dedupe_key=key, body=body, headers={},
            store_id=store_id,
        )  # fmt: skip
    assert rec.event_id is not None
    return rec.event_id


def _rows(db: Database) -> list[tuple[str, str, int, str | None]]:
    with db.session() as s:
        return [
            (k, st, a, e)
            for k, st, a, e in s.execute(
                select(
                    WebhookEvent.dedupe_key, WebhookEvent.status, WebhookEvent.attempts, WebhookEvent.error
                ).order_by(WebhookEvent.id)
            )
        ]


def _drain_in_a_worker(db: Database, store_id: int) -> int:
    """Run the drain job in a forked process, as an RQ work-horse does; returns its exit status."""
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        try:
            child_db = Database(db.url)
            set_runtime(Runtime(Settings(env="test"), child_db, RedisJobQueue(TEST_REDIS_URL)))
            drain_inbox(store_id)
        finally:
            os._exit(0)
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status)


def test_a_delivery_that_kills_its_worker_is_dead_after_max_crashes_and_the_rest_go_on(
    db: Database, redis_conn: Any
) -> None:
    with db.session() as s:
        sid = make_store(s).id
    poison = _record(db, sid, "crash-1", b'{"crash": true}')
    fine = _record(db, sid, "fine-1", b'{"id": 1}')

    for n in range(1, MAX_CRASHES + 1):
        assert _drain_in_a_worker(db, sid) == 137
        # Rolled back with the worker: the row says nothing; only the in-flight count in Redis remembers.
        assert _rows(db) == [("crash-1", "received", 0, None), ("fine-1", "received", 0, None)]
        assert int(redis_conn.get(f"backsoon:webhook-inflight:{poison}")) == n

    assert _drain_in_a_worker(db, sid) == 0
    assert _rows(db) == [
        ("crash-1", "failed", 1, crash_error(MAX_CRASHES)),
        ("fine-1", "processed", 1, None),
    ]
    assert crash_error(3) == ("the worker stopped 3 times while processing it (crashed or killed) and never finished")
    assert redis_conn.get(f"backsoon:webhook-inflight:{poison}") is None
    assert redis_conn.get(f"backsoon:webhook-inflight:{fine}") is None


def test_a_finished_delivery_leaves_no_count_behind(db: Database, redis_conn: Any) -> None:
    set_runtime(Runtime(Settings(env="test"), db, RedisJobQueue(TEST_REDIS_URL)))
    with db.session() as s:
        sid = make_store(s).id
    event_id = _record(db, sid, "fine-2", b'{"id": 2}')
    # One earlier start that never finished (a worker killed by a deploy, say) is below the limit: processed.
    redis_conn.set(f"backsoon:webhook-inflight:{event_id}", 1)
    assert process_webhook(event_id) == "applied"
    assert APPLIED == [event_id]
    assert redis_conn.get(f"backsoon:webhook-inflight:{event_id}") is None
    assert _rows(db) == [("fine-2", "processed", 1, None)]


def test_the_single_delivery_job_dead_letters_at_the_limit_without_running_the_handler(
    db: Database, redis_conn: Any
) -> None:
    set_runtime(Runtime(Settings(env="test"), db, RedisJobQueue(TEST_REDIS_URL)))
    with db.session() as s:
        sid = make_store(s).id
    event_id = _record(db, sid, "crash-2", b'{"id": 3}')
    redis_conn.set(f"backsoon:webhook-inflight:{event_id}", MAX_CRASHES)
    assert process_webhook(event_id) == "failed:failed"
    assert APPLIED == []
    assert _rows(db) == [("crash-2", "failed", 1, crash_error(MAX_CRASHES))]


def test_without_redis_nothing_is_counted() -> None:
    guard = CrashGuard(InProcessJobQueue(eager=True))
    assert [guard.begin(5) for _ in range(5)] == [0, 0, 0, 0, 0]
    guard.end(5)
