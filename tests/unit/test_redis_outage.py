"""The reconnect loop of the cron and its backoff and logging (app.infra.redis_outage), with Redis's errors simulated.

The real processes against a real redis-server killed and restarted: tests/integration/test_redis_outage.py.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

import pytest
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from app.infra.redis_outage import REMIND_EVERY, Backoff, OutageLog, QuietRepeats, run_cron


class Clock:
    """A clock the test moves."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_backoff_doubles_up_to_its_cap_and_starts_again_after_a_reset() -> None:
    backoff = Backoff(first=0.5, cap=5.0)
    assert [backoff.next() for _ in range(7)] == [0.5, 1.0, 2.0, 4.0, 5.0, 5.0, 5.0]
    backoff.reset()
    assert [backoff.next() for _ in range(2)] == [0.5, 1.0]


def test_an_outage_is_logged_when_it_starts_now_and_then_while_it_lasts_and_when_it_ends(
    caplog: pytest.LogCaptureFixture,
) -> None:
    clock = Clock()
    outage = OutageLog("cron", clock)
    caplog.set_level(logging.INFO, logger="app.infra.redis_outage")
    assert outage.up() is None  # no outage: nothing to say
    for _ in range(50):  # fifty failed attempts within the first reminder period
        outage.down(RedisConnectionError("refused"))
        clock.now += 1
    clock.now = 1000.0 + REMIND_EVERY
    outage.down(RedisConnectionError("still refused"))
    clock.now += 12.5
    assert outage.up() == REMIND_EVERY + 12.5
    assert outage.up() is None
    assert [r.getMessage() for r in caplog.records] == [
        "cron: Redis is unreachable (refused); retrying with backoff",
        "cron: Redis still unreachable after 300 s (still refused)",
        "cron: Redis is reachable again after 312.5 s",
    ]


def test_rq_connection_errors_pass_once_per_period_and_other_lines_always() -> None:
    clock = Clock()
    quiet = QuietRepeats(clock)

    def record(msg: str) -> logging.LogRecord:
        return logging.LogRecord("rq.worker", logging.ERROR, __file__, 1, msg, ("w1", "refused", 2), None)

    retry = "Worker %s: could not connect to Redis instance: %s retrying in %d seconds..."
    assert quiet.filter(record(retry)) is True
    clock.now += 2
    assert quiet.filter(record(retry)) is False
    assert quiet.filter(record("Worker %s: job %s failed (%d)")) is True
    clock.now += REMIND_EVERY
    assert quiet.filter(record(retry)) is True


class FakeCron:
    """Stands in for rq.cron.CronScheduler: each call either succeeds or raises what the script says next."""

    def __init__(self, script: list[BaseException | None], stop: threading.Event, stop_after: int) -> None:
        self.script, self.stop, self.stop_after = script, stop, stop_after
        self.calls: list[str] = []

    def _call(self, name: str) -> None:
        self.calls.append(name)
        if len([c for c in self.calls if c == "heartbeat"]) >= self.stop_after:
            self.stop.set()
        outcome = self.script.pop(0) if self.script else None
        if outcome is not None:
            raise outcome

    def register_birth(self) -> None:
        self._call("birth")

    def register_death(self) -> None:
        self._call("death")

    def enqueue_jobs(self) -> list[Any]:
        self._call("enqueue")
        return []

    def save(self) -> None:
        self._call("save")

    def heartbeat(self) -> None:
        self._call("heartbeat")

    def calculate_sleep_interval(self) -> float:
        return 30.0


def test_run_cron_keeps_going_through_an_outage_and_runs_the_catch_up_once_redis_answers(
    caplog: pytest.LogCaptureFixture,
) -> None:
    stop = threading.Event()
    down = RedisConnectionError("refused")
    # Born, one good tick, then Redis goes: the enqueue fails, two pings fail, the third answers.
    cron = FakeCron([None, None, None, down], stop, stop_after=3)
    pings: list[bool] = []
    ping_script = [down, RedisTimeoutError("timed out"), None]

    def ping() -> None:
        pings.append(True)
        outcome = ping_script.pop(0)
        if outcome is not None:
            raise outcome

    catch_ups: list[int] = []
    delays: list[float] = []
    real_wait = stop.wait

    def wait(timeout: float | None = None) -> bool:
        delays.append(float(timeout or 0))
        return real_wait(0)

    stop.wait = wait  # type: ignore[method-assign]
    caplog.set_level(logging.WARNING, logger="app.infra.redis_outage")
    outage = OutageLog("cron", Clock())
    run_cron(cron, ping, stop, after_outage=lambda: catch_ups.append(len(pings)), tick=1.0, outage=outage)

    assert cron.calls == [
        "birth", "enqueue", "heartbeat",  # a good tick
        "enqueue",  # Redis gone
        # two failed pings, then Redis answers: the catch-up first, then the due jobs and the heartbeat
        "enqueue", "heartbeat", "enqueue", "heartbeat",
        "death",
    ]  # fmt: skip
    assert len(pings) == 3
    assert catch_ups == [3]  # once, after the ping that answered
    # A tick, then the backoff while down (0.5, 1, 2), then ticks again.
    assert delays == [1.0, 0.5, 1.0, 2.0, 1.0, 1.0]
    # Logged once as it began and once as it ended, whatever the number of attempts.
    assert [r.getMessage() for r in caplog.records] == [
        "cron: Redis is unreachable (refused); retrying with backoff",
        "cron: Redis is reachable again after 0.0 s",
    ]


def test_run_cron_retries_the_catch_up_while_it_cannot_be_enqueued() -> None:
    stop = threading.Event()
    down = RedisConnectionError("refused")
    cron = FakeCron([down], stop, stop_after=1)  # registering its birth fails: Redis is down at start-up
    attempts: list[str] = []

    def after_outage() -> None:
        attempts.append("catch-up")
        if len(attempts) == 1:
            raise down  # Redis went again between the ping and the enqueue

    stop.wait = lambda timeout=None: False  # type: ignore[method-assign]
    run_cron(cron, lambda: None, stop, after_outage=after_outage)
    assert attempts == ["catch-up", "catch-up"]
    assert cron.calls == ["birth", "birth", "enqueue", "heartbeat", "death"]
