"""Outliving a Redis outage: the cron and the workers keep running, reconnect with backoff and log once per outage.

RQ's own processes give up when Redis goes away. `rq cron` (rq 3.0) lets the first ConnectionError of its loop end
the process. An RQ worker retries only while it waits for a job: an error anywhere else (the heartbeat of a running
job, setting its state between jobs, registering its birth or death) ends `Worker.work()` with an exception. The
webhooks arriving meanwhile are stored in PostgreSQL, so nothing is lost, but nothing runs them either until someone
restarts those processes. Here `run_cron` drives RQ's CronScheduler (`backsoon cron`) and `run_worker` runs RQ
workers one after another in the same process (`backsoon worker`), each waiting for Redis to answer again.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
import time
from collections.abc import Callable
from contextlib import suppress
from types import FrameType
from typing import Any, Protocol

from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from rq import Worker
from rq.exceptions import StopRequested

log = logging.getLogger(__name__)

REDIS_DOWN: tuple[type[Exception], ...] = (RedisConnectionError, RedisTimeoutError)
# While Redis stays down the outage is mentioned again this often, so a long one is not mistaken for a recovered one.
REMIND_EVERY = 300.0


class Backoff:
    """Delays between reconnection attempts: doubling from ``first`` up to ``cap`` seconds."""

    def __init__(self, first: float = 0.5, cap: float = 5.0) -> None:
        # The cap bounds how long after Redis returns a process notices: well inside the minute the sweeper promises.
        self.first, self.cap = first, cap
        self._next = first

    def next(self) -> float:
        """The delay before the next attempt (each call doubles the following one, up to the cap)."""
        delay = self._next
        self._next = min(self._next * 2, self.cap)
        return delay

    def reset(self) -> None:
        """Start again from the first delay (after a success)."""
        self._next = self.first


class OutageLog:
    """Logs an outage once when it starts, every REMIND_EVERY seconds while it lasts, and once when it ends."""

    def __init__(
        self, who: str, clock: Callable[[], float] = time.monotonic, meanwhile: str = "retrying with backoff"
    ) -> None:
        self.who = who
        self.clock = clock
        self.meanwhile = meanwhile
        self.down_since: float | None = None
        self._reminded = 0.0

    def down(self, exc: BaseException) -> None:
        """Record a failed attempt; only the first of an outage (and a reminder now and then) is logged."""
        now = self.clock()
        if self.down_since is None:
            self.down_since = self._reminded = now
            log.warning("%s: Redis is unreachable (%s); %s", self.who, exc, self.meanwhile)
        elif now - self._reminded >= REMIND_EVERY:
            self._reminded = now
            log.warning("%s: Redis still unreachable after %.0f s (%s)", self.who, now - self.down_since, exc)

    def up(self) -> float | None:
        """Record a success: the outage's length in seconds when one just ended (logged), else None."""
        if self.down_since is None:
            return None
        lasted = self.clock() - self.down_since
        self.down_since = None
        log.warning("%s: Redis is reachable again after %.1f s", self.who, lasted)
        return lasted


class QuietRepeats(logging.Filter):
    """Lets through one of RQ's own "could not connect to Redis" lines per REMIND_EVERY seconds (it logs one per
    retry, from the worker's wait for a job and from its pub/sub thread)."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__()
        self.clock = clock
        self._last: float | None = None

    def filter(self, record: logging.LogRecord) -> bool:
        """False for a repeat of the connection error within the quiet period."""
        if "could not connect to Redis" not in str(record.msg):
            return True
        now = self.clock()
        if self._last is not None and now - self._last < REMIND_EVERY:
            return False
        self._last = now
        return True


class CronLike(Protocol):
    """The parts of rq.cron.CronScheduler the loop drives."""

    def register_birth(self) -> None:
        """Record this scheduler in Redis."""
        ...

    def register_death(self) -> None:
        """Remove this scheduler from Redis."""
        ...

    def enqueue_jobs(self) -> list[Any]:
        """Enqueue the jobs that are due; those enqueued."""
        ...

    def save(self) -> None:
        """Store the jobs' timings in Redis."""
        ...

    def heartbeat(self) -> None:
        """Tell Redis this scheduler is alive."""
        ...

    def calculate_sleep_interval(self) -> float:
        """Seconds until the next job is due."""
        ...


def run_cron(
    scheduler: CronLike,
    ping: Callable[[], object],
    stop: threading.Event,
    *,
    after_outage: Callable[[], None],
    tick: float = 1.0,
    backoff: Backoff | None = None,
    outage: OutageLog | None = None,
) -> None:
    """Enqueue the scheduler's due jobs until ``stop`` is set, through any number of Redis outages.

    Redis is touched every ``tick`` (the heartbeat), so an outage is noticed within a second; during one, ``ping``
    asks every backoff delay whether Redis answers again. Then ``after_outage`` runs first (it enqueues the catch-up
    sweep); a Redis error there keeps the outage open, so it is retried.
    """
    backoff = backoff or Backoff()
    outage = outage or OutageLog("cron")
    born = False
    try:
        while not stop.is_set():
            try:
                if outage.down_since is not None:
                    ping()
                    after_outage()
                    outage.up()
                    backoff.reset()
                if not born:
                    scheduler.register_birth()
                    born = True
                if scheduler.enqueue_jobs():
                    scheduler.save()
                scheduler.heartbeat()
                delay = min(tick, scheduler.calculate_sleep_interval())
            except REDIS_DOWN as exc:
                outage.down(exc)
                delay = backoff.next()
            stop.wait(delay)
    finally:
        if born:
            with suppress(*REDIS_DOWN):
                scheduler.register_death()


class OutageTolerantWorker(Worker):
    """An RQ worker that notices a stop request even when Redis is down, and reconnects within Backoff's cap."""

    # RQ's own wait for a job doubles its retry delay up to a minute; the sweeper's promise needs a shorter one.
    max_connection_wait_time = Backoff().cap
    stop_asked = False

    def request_stop(self, signum: int, frame: FrameType | None) -> None:
        """Warm shutdown; RQ asks Redis whether a job is running, and without Redis this stops at once instead."""
        self.stop_asked = True
        try:
            super().request_stop(signum, frame)  # type: ignore[no-untyped-call]
        except REDIS_DOWN as exc:
            raise StopRequested() from exc


def run_worker(
    make_worker: Callable[[], OutageTolerantWorker],
    ping: Callable[[], object],
    *,
    burst: bool = False,
    backoff: Backoff | None = None,
    outage: OutageLog | None = None,
) -> None:
    """Run RQ workers one after another until one stops on request (or a burst is done), outliving Redis outages.

    ``make_worker`` builds a worker (RQ's constructor already talks to Redis); ``ping`` asks Redis whether it
    answers. A worker whose loop ended on a Redis error is retired (its pub/sub thread stopped, a job still running
    in its work horse awaited: the horse enforces its own timeout) and a fresh one starts once Redis answers. A stop
    signal received meanwhile ends the wait; a second one kills a horse still running.
    """
    backoff = backoff or Backoff()
    outage = outage or OutageLog("worker")
    signals = _BetweenWorkers()
    logging.getLogger("rq.worker").addFilter(QuietRepeats())
    while not signals.stop.is_set():
        started = time.monotonic()
        failure: BaseException | None = None
        # Until the worker installs RQ's handlers, a stop signal interrupts its start.
        signals.install(interrupt=True)
        worker: OutageTolerantWorker | None = None
        try:
            worker = make_worker()
            worker.work(with_scheduler=True, burst=burst)
        except REDIS_DOWN as exc:
            failure = exc
        except StopRequested:
            signals.stop.set()
        signals.install(interrupt=False)
        if worker is not None:
            if worker.stop_asked:
                signals.stop.set()
            _retire(worker, signals.hard)
        if signals.stop.is_set() or (burst and failure is None):
            return
        if failure is not None:
            outage.down(failure)
        else:
            log.warning("worker: RQ's work loop ended on its own (see above); starting a new worker")
        if time.monotonic() - started > 60:
            backoff.reset()
        # Never a tight loop of failing workers, whatever ended the last one.
        signals.stop.wait(backoff.next())
        if not _wait_for_redis(ping, signals.stop, backoff, outage):
            return


class _BetweenWorkers:
    """Signal handling while no RQ worker has its own: a first SIGTERM/SIGINT stops, a second kills the horse."""

    def __init__(self) -> None:
        self.stop, self.hard = threading.Event(), threading.Event()
        self._interrupt = False

    def install(self, *, interrupt: bool) -> None:
        self._interrupt = interrupt
        signal.signal(signal.SIGTERM, self._handle)
        signal.signal(signal.SIGINT, self._handle)

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if self.stop.is_set():
            self.hard.set()
        self.stop.set()
        if self._interrupt:
            self._interrupt = False
            raise StopRequested()


def _retire(worker: OutageTolerantWorker, hard: threading.Event) -> None:
    thread = getattr(worker, "pubsub_thread", None)
    if thread is not None:
        # RQ's teardown stops it only after registering the death, which needs Redis; left alone it would retry.
        thread.stop()
    horse = worker.horse_pid
    if not horse:
        return
    log.warning("worker: waiting for the job running in work horse %s to end", horse)
    while True:
        try:
            done, _ = os.waitpid(horse, os.WNOHANG)
        except ChildProcessError:
            return
        if done:
            return
        if hard.is_set():
            with suppress(ProcessLookupError):
                os.killpg(horse, signal.SIGKILL)
        time.sleep(0.2)


def _wait_for_redis(ping: Callable[[], object], stop: threading.Event, backoff: Backoff, outage: OutageLog) -> bool:
    while not stop.is_set():
        try:
            ping()
        except REDIS_DOWN as exc:
            outage.down(exc)
            stop.wait(backoff.next())
            continue
        outage.up()
        return True
    return False
