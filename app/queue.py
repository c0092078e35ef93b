"""Background work: RQ on Redis, or an in-process worker when REDIS_URL is unset.

Jobs are enqueued only after the database commit (enqueue_after_commit), are named by dotted
path, take ids, and use deterministic job ids where duplicates must collapse. A failed enqueue
is logged and left to the sweeper: the database, not Redis, is the record of work in flight.
"""

from __future__ import annotations

import importlib
import logging
import os
import queue as stdlib_queue
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from sqlalchemy import event
from sqlalchemy.orm import Session, sessionmaker

log = logging.getLogger(__name__)

QUEUES = ("high", "default", "low")
# A gate left by a worker that died before clearing it reopens by itself; the sweeper covers the gap.
GATE_TTL_SECONDS = 300
_JOB_ID = re.compile(r"^[A-Za-z0-9_-]{1,128}$")


@dataclass(frozen=True, slots=True)
class JobSpec:
    """A job to run: a dotted function path, its arguments, and optional collapse id."""

    func: str
    args: tuple[Any, ...] = ()
    job_id: str | None = None
    queue: str = "default"
    timeout: int = 600
    # A Redis key set (NX) before enqueueing: while it is set, further enqueues are skipped. The job
    # clears it when it starts, so a burst of deliveries costs one cheap SET each and one job per burst.
    gate: str | None = None


class JobQueue(Protocol):
    """Where jobs go."""

    def enqueue(self, spec: JobSpec) -> bool:
        """Enqueue a job; False when it collapsed into an existing one or could not be enqueued."""
        ...

    def clear_gate(self, gate: str) -> None:
        """Reopen a gate: the next gated enqueue runs again."""
        ...


def resolve(func: str) -> Callable[..., Any]:
    """Import a job function from its dotted path."""
    module, _, name = func.rpartition(".")
    fn = getattr(importlib.import_module(module), name)
    if not callable(fn):
        raise TypeError(f"{func} is not callable")
    return fn  # type: ignore[no-any-return]


def _check(spec: JobSpec) -> None:
    if spec.job_id is not None and not _JOB_ID.match(spec.job_id):
        raise ValueError(f"job id {spec.job_id!r} must be letters, digits, '_' or '-'")
    if spec.queue not in QUEUES:
        raise ValueError(f"unknown queue {spec.queue!r}")


class RedisJobQueue:
    """RQ queues on Redis; a job id makes the enqueue unique (RQ 3 `unique=True`)."""

    def __init__(self, redis_url: str) -> None:
        from redis import Redis
        from rq import Queue

        from app.infra.redis_outage import OutageLog

        # Short timeouts: an unreachable Redis must not hold up a webhook answer.
        self.connection = Redis.from_url(redis_url, socket_connect_timeout=0.5, socket_timeout=2)
        # Every delivery enqueues: an outage is logged when it starts and ends, not once per delivery.
        self.outage = OutageLog("enqueue", meanwhile="the sweeper enqueues the stored work once it is back")
        self.queues = {name: Queue(name, connection=self.connection) for name in QUEUES}
        self._gate_lock = threading.Lock()
        self._gate_conn: Any = None
        self._gate_commands: dict[str, Any] = {}
        self._gate_pid = 0

    def enqueue(self, spec: JobSpec) -> bool:
        """Enqueue on RQ; duplicates of a pending job id collapse, Redis errors are left to the sweeper."""
        from redis.exceptions import RedisError

        from app.infra.redis_outage import REDIS_DOWN

        try:
            enqueued = self.enqueue_or_raise(spec)
        except REDIS_DOWN as exc:
            self.outage.down(exc)
            return False
        except RedisError as exc:
            log.warning("enqueue of %s failed, the sweeper will retry: %s", spec.func, exc)
            return False
        if self.outage.down_since is not None:
            self.outage.up()
        return enqueued

    def enqueue_or_raise(self, spec: JobSpec) -> bool:
        """Enqueue on RQ like enqueue, but a Redis error is raised (for a caller that retries by itself)."""
        from rq.exceptions import DuplicateJobError

        _check(spec)
        try:
            if spec.gate is not None and not self._open_gate(spec.gate):
                return False
            # A gated job gets a fresh id: a running job of the same name must not refuse the next burst.
            job_id = None if spec.gate is not None else spec.job_id
            self.queues[spec.queue].enqueue(
                spec.func,
                *spec.args,
                job_id=job_id,
                unique=job_id is not None,
                job_timeout=spec.timeout,
                # Finished jobs are dropped at once so a later enqueue with the same id is not refused.
                result_ttl=0,
                failure_ttl=86400,
            )
        except DuplicateJobError:
            return False
        return True

    def _open_gate(self, gate: str) -> bool:
        """SET gate NX EX on a connection of its own: True when this call opened it (the job is to be enqueued).

        The gate is checked for every group of webhook deliveries, the app's busiest write, and redis-py's command
        path (pool checkout, retry wrapper, observability hooks, packing) costs twice the round trip itself. One
        plain connection per process, used under a lock, re-made after a fork and retried once on a broken socket.
        It earns its place in the webhook ingest benchmark (benchmarks/webhook_ingest.py).
        """
        from redis.exceptions import ConnectionError as RedisConnectionError
        from redis.exceptions import TimeoutError as RedisTimeoutError

        with self._gate_lock:
            for attempt in (1, 2):
                if self._gate_conn is None or self._gate_pid != os.getpid():
                    self._gate_conn = self.connection.connection_pool.make_connection()
                    self._gate_pid = os.getpid()
                # The command is the same every time for a store: packed once (one gate per store, so few).
                packed = self._gate_commands.get(gate)
                if packed is None:
                    packed = self._gate_conn.pack_command("SET", gate, "1", "NX", "EX", GATE_TTL_SECONDS)
                    if len(self._gate_commands) < 10_000:
                        self._gate_commands[gate] = packed
                try:
                    self._gate_conn.send_packed_command(packed)
                    return self._gate_conn.read_response() is not None
                except (RedisConnectionError, RedisTimeoutError):
                    self._gate_conn.disconnect()
                    if attempt == 2:
                        raise
        raise AssertionError("unreachable")

    def clear_gate(self, gate: str) -> None:
        """Delete the gate key (errors are left to the gate's expiry and the sweeper)."""
        from redis.exceptions import RedisError

        try:
            self.connection.delete(gate)
        except RedisError as exc:
            log.warning("could not clear gate %s: %s", gate, exc)


@dataclass
class InProcessJobQueue:
    """Runs jobs on one background thread of this process (the embedded default for `make demo`).

    With `eager=True` jobs run synchronously in the caller, which tests use for determinism.
    """

    eager: bool = False
    _pending: set[str] = field(default_factory=set)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _items: stdlib_queue.Queue[JobSpec] = field(default_factory=stdlib_queue.Queue)
    _thread: threading.Thread | None = None
    errors: list[tuple[JobSpec, BaseException]] = field(default_factory=list)

    def enqueue(self, spec: JobSpec) -> bool:
        """Queue the job unless one with the same id is already waiting."""
        _check(spec)
        if self.eager:
            self._run(spec)
            return True
        with self._lock:
            if spec.job_id is not None:
                if spec.job_id in self._pending:
                    return False
                self._pending.add(spec.job_id)
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._loop, name="backsoon-jobs", daemon=True)
                self._thread.start()
        self._items.put(spec)
        return True

    def clear_gate(self, gate: str) -> None:
        """Gates are a Redis matter; in-process jobs collapse by id instead."""

    def _loop(self) -> None:
        while True:
            spec = self._items.get()
            with self._lock:
                if spec.job_id is not None:
                    self._pending.discard(spec.job_id)
            try:
                self._run(spec)
            finally:
                self._items.task_done()

    def _run(self, spec: JobSpec) -> None:
        try:
            resolve(spec.func)(*spec.args)
        except Exception as exc:
            self.errors.append((spec, exc))
            log.exception("in-process job %s failed", spec.func)

    def drain(self) -> None:
        """Wait until every queued job has run."""
        self._items.join()


_PENDING_KEY = "backsoon_after_commit"
_WIRED_KEY = "backsoon_enqueues_on_commit"


def enqueue_on_commit(sessions: sessionmaker[Session]) -> None:
    """Make the sessions of this factory send their enqueue_after_commit jobs on commit (dropped on rollback)."""
    event.listen(sessions, "after_commit", _flush_after_commit)
    event.listen(sessions, "after_rollback", _drop_after_rollback)
    sessions.configure(info={**sessions.kw.get("info", {}), _WIRED_KEY: True})


def enqueue_after_commit(session: Session, jobs: JobQueue, spec: JobSpec) -> None:
    """Enqueue once the session's transaction commits; dropped if it rolls back."""
    if not session.info.get(_WIRED_KEY):
        # A session from elsewhere would keep the job for ever: refuse instead of losing it silently.
        raise RuntimeError("this session's factory does not enqueue after commit (see enqueue_on_commit)")
    pending: list[tuple[JobQueue, JobSpec]] = session.info.setdefault(_PENDING_KEY, [])
    if any(existing == spec and q is jobs for q, existing in pending):
        return
    pending.append((jobs, spec))


def _flush_after_commit(session: Session) -> None:
    pending: list[tuple[JobQueue, JobSpec]] = session.info.pop(_PENDING_KEY, [])
    for jobs, spec in pending:
        try:
            jobs.enqueue(spec)
        except Exception:
            # A lost enqueue is recovered by the sweeper from the database; never fail the commit.
            log.exception("enqueue after commit failed for %s", spec.func)


def _drop_after_rollback(session: Session) -> None:
    session.info.pop(_PENDING_KEY, None)


def make_queue(redis_url: str | None, *, eager: bool = False) -> JobQueue:
    """RQ when a Redis URL is configured, else the in-process queue."""
    if redis_url:
        return RedisJobQueue(redis_url)
    return InProcessJobQueue(eager=eager)
