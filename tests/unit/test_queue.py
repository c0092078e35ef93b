"""Jobs are enqueued only after commit, collapse by id, and run in-process without Redis."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from app.db import Database
from app.queue import InProcessJobQueue, JobSpec, enqueue_after_commit

CALLS: list[tuple[str, int]] = []


def record_call(label: str, n: int) -> None:
    """A job used by these tests."""
    CALLS.append((label, n))


def failing_job() -> None:
    """A job that always fails."""
    raise RuntimeError("boom")


@pytest.fixture(autouse=True)
def _reset() -> None:
    CALLS.clear()


def spec(n: int, job_id: str | None = None) -> JobSpec:
    return JobSpec("tests.unit.test_queue.record_call", ("x", n), job_id=job_id)


def test_enqueue_waits_for_commit() -> None:
    db = Database("sqlite://")
    jobs = InProcessJobQueue(eager=True)
    with db.session() as session:
        session.execute(text("SELECT 1"))
        enqueue_after_commit(session, jobs, spec(1))
        assert CALLS == []
    assert CALLS == [("x", 1)]


def test_rollback_drops_the_job() -> None:
    db = Database("sqlite://")
    jobs = InProcessJobQueue(eager=True)
    with pytest.raises(ValueError), db.session() as session:
        enqueue_after_commit(session, jobs, spec(2))
        raise ValueError("handler failed")
    with db.session() as session:
        session.execute(text("SELECT 1"))
    assert CALLS == []


def test_same_spec_twice_in_one_transaction_enqueues_once() -> None:
    db = Database("sqlite://")
    jobs = InProcessJobQueue(eager=True)
    with db.session() as session:
        enqueue_after_commit(session, jobs, spec(3, "same-id"))
        enqueue_after_commit(session, jobs, spec(3, "same-id"))
    assert CALLS == [("x", 3)]


def test_background_queue_collapses_pending_ids_and_drains() -> None:
    jobs = InProcessJobQueue()
    blocker = JobSpec("time.sleep", (0.2,))
    assert jobs.enqueue(blocker) is True
    assert jobs.enqueue(spec(4, "collapse-me")) is True
    assert jobs.enqueue(spec(5, "collapse-me")) is False
    jobs.drain()
    assert CALLS == [("x", 4)]
    # Once run, the id is free again.
    assert jobs.enqueue(spec(6, "collapse-me")) is True
    jobs.drain()
    assert CALLS == [("x", 4), ("x", 6)]


def test_failing_job_is_recorded_not_raised() -> None:
    jobs = InProcessJobQueue(eager=True)
    jobs.enqueue(JobSpec("tests.unit.test_queue.failing_job"))
    assert [(s.func, str(e)) for s, e in jobs.errors] == [("tests.unit.test_queue.failing_job", "boom")]


@pytest.mark.parametrize("bad", ["has space", "slash/no", "dot.no", ""])
def test_job_ids_must_be_rq_safe(bad: str) -> None:
    with pytest.raises(ValueError, match="must be letters, digits"):
        InProcessJobQueue(eager=True).enqueue(spec(7, bad))
    assert CALLS == []
