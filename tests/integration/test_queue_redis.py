"""RQ on a real Redis: unique job ids collapse, finished ids free up, jobs run in a SimpleWorker."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from rq import Queue, SimpleWorker

from app import job_specs
from app.queue import JobSpec, RedisJobQueue
from tests.conftest import TEST_REDIS_URL

pytestmark = pytest.mark.integration

RESULTS: list[int] = []


def add_result(n: int) -> int:
    """A job for these tests."""
    RESULTS.append(n)
    return n


def test_unique_ids_collapse_until_the_job_has_run(redis_conn: Any) -> None:
    RESULTS.clear()
    jobs = RedisJobQueue(TEST_REDIS_URL)
    first = JobSpec("tests.integration.test_queue_redis.add_result", (1,), job_id="collapse-1", queue="high")
    assert jobs.enqueue(first) is True
    assert jobs.enqueue(JobSpec(first.func, (2,), job_id="collapse-1", queue="high")) is False
    assert Queue("high", connection=jobs.connection).count == 1

    SimpleWorker([jobs.queues["high"]], connection=jobs.connection).work(burst=True)
    assert RESULTS == [1]
    # result_ttl=0 drops the finished job, so the same id is accepted again.
    assert jobs.enqueue(JobSpec(first.func, (3,), job_id="collapse-1", queue="high")) is True
    SimpleWorker([jobs.queues["high"]], connection=jobs.connection).work(burst=True)
    assert RESULTS == [1, 3]


def test_jobs_without_id_never_collapse(redis_conn: Any) -> None:
    jobs = RedisJobQueue(TEST_REDIS_URL)
    spec = JobSpec("tests.integration.test_queue_redis.add_result", (9,))
    assert jobs.enqueue(spec) is True
    assert jobs.enqueue(spec) is True
    assert jobs.queues["default"].count == 2


def test_redis_down_returns_false_instead_of_raising() -> None:
    jobs = RedisJobQueue("redis://127.0.0.1:1/0")
    assert jobs.enqueue(JobSpec("tests.integration.test_queue_redis.add_result", (5,), job_id="x-1")) is False


def test_redis_down_is_logged_once_not_once_per_enqueue(caplog: pytest.LogCaptureFixture) -> None:
    jobs = RedisJobQueue("redis://127.0.0.1:1/0")
    caplog.set_level(logging.INFO)
    for n in range(5):
        spec = JobSpec("tests.integration.test_queue_redis.add_result", (n,), job_id=f"x-{n}", gate=f"g-{n % 2}")
        assert jobs.enqueue(spec) is False
    assert [(r.name, r.levelname, r.getMessage()) for r in caplog.records] == [
        (
            "app.infra.redis_outage",
            "WARNING",
            "enqueue: Redis is unreachable (Error 111 connecting to 127.0.0.1:1. Connection refused.); "
            "the sweeper enqueues the stored work once it is back",
        )
    ]


def test_cron_config_registers_every_periodic_job_of_the_schedule_table(redis_conn: Any) -> None:
    from rq.cron import CronScheduler

    scheduler = CronScheduler(connection=redis_conn)
    scheduler.load_config_from_file("jobs.cron")
    registered = sorted(
        (j.func_name, j.queue_name, j.interval, j.job_options["job_timeout"]) for j in scheduler.get_jobs()
    )
    assert registered == sorted((p.func, p.queue, p.every, p.timeout) for p in job_specs.SCHEDULE)
    assert len(registered) == 13
