"""The db fixture: one rolled-back transaction per test, the app's commits as savepoints, jobs queued after commit
going out on them, a second connection refused; the truncating marker for tests that need connections of their own."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import func, select

from app.config import Settings
from app.db import Database
from app.models import Store
from app.queue import InProcessJobQueue, JobSpec, enqueue_after_commit
from app.runtime import Runtime, get_runtime, set_runtime
from tests.databases import RollbackDatabase, SecondConnection, tables_with_rows
from tests.factories import RecordingQueue, make_store

pytestmark = pytest.mark.integration

SEEN: list[int] = []


def count_stores() -> None:
    """A job: record how many stores it sees."""
    with get_runtime().db.session() as s:
        SEEN.append(int(s.scalar(select(func.count()).select_from(Store)) or 0))


def _stores(db: Database) -> int:
    with db.session() as s:
        return int(s.scalar(select(func.count()).select_from(Store)) or 0)


@pytest.fixture
def rollback_db(pg_url: str, db: Database) -> Iterator[RollbackDatabase]:
    """A RollbackDatabase of the test's own, next to the (empty, rolled-back) db fixture."""
    own = RollbackDatabase(pg_url)
    try:
        yield own
    finally:
        own.close()
        own.dispose()


@pytest.mark.parametrize("run", [1, 2])
def test_each_test_starts_empty_with_ids_from_1(db: Database, run: int) -> None:
    assert isinstance(db, RollbackDatabase)
    with db.session() as s:
        assert make_store(s).id == 1
    assert _stores(db) == 1


def test_commits_release_savepoints_and_a_rollback_undoes_only_its_own(pg_url: str, db: Database) -> None:
    own = RollbackDatabase(pg_url)
    try:
        with own.session() as s:
            make_store(s)
        with pytest.raises(RuntimeError), own.session() as s:
            make_store(s)
            assert s.scalar(select(func.count()).select_from(Store)) == 2
            raise RuntimeError("rolled back to its savepoint")
        assert _stores(own) == 1
    finally:
        own.close()
    assert tables_with_rows(own) == []
    own.dispose()


def test_jobs_queued_after_commit_go_out_on_the_savepoint_commit_and_never_on_a_rollback(db: Database) -> None:
    jobs = RecordingQueue()
    kept, dropped = JobSpec("jobs.recompute.kept"), JobSpec("jobs.recompute.dropped")
    with db.session() as s:
        make_store(s)
        enqueue_after_commit(s, jobs, kept)
        assert jobs.specs == []
    assert jobs.specs == [kept]
    with pytest.raises(RuntimeError), db.session() as s:
        enqueue_after_commit(s, jobs, dropped)
        raise RuntimeError("rolled back")
    assert jobs.specs == [kept]


def test_an_eager_job_after_commit_sees_the_committed_rows_on_the_same_connection(db: Database) -> None:
    jobs = InProcessJobQueue(eager=True)
    set_runtime(Runtime(Settings(env="test"), db, jobs))
    SEEN.clear()
    try:
        with db.session() as s:
            make_store(s)
            make_store(s)
            enqueue_after_commit(s, jobs, JobSpec(f"{__name__}.count_stores"))
    finally:
        set_runtime(None)
    assert (SEEN, jobs.errors) == ([2], [])


def test_a_second_connection_is_refused(rollback_db: RollbackDatabase) -> None:
    with pytest.raises(SecondConnection, match="truncating"):
        rollback_db.engine.connect()
    with pytest.raises(SecondConnection):
        rollback_db.autocommit_engine.connect()
    assert rollback_db.refused == 2


@pytest.mark.truncating("checks that the marker gives a plain Database whose commits other connections see")
def test_a_truncating_test_gets_a_plain_database(db: Database) -> None:
    assert type(db) is Database
    with db.session() as s:
        assert make_store(s).id == 1
    with db.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(Store)).scalar_one() == 1
