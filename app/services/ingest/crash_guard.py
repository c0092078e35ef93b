"""Deliveries that take their worker down with them: counted in Redis, dead-lettered after MAX_CRASHES.

A handler's exception or timeout is recorded on the row (inbox.mark_failed), but a worker that dies outright (out
of memory, a crash in a C extension, SIGKILL) rolls back everything it wrote about the delivery, its attempt
included, and the sweeper would hand the same delivery to the next worker for ever. So each delivery's processing
is bracketed by a Redis counter, incremented before and deleted after: one found at MAX_CRASHES when a worker
starts on it was started that many times and never finished, and is dead-lettered instead of being run again.
Best effort by design: without Redis (the demo's in-process jobs, or an outage) nothing is counted and processing
goes on as before; a count lost with Redis only delays the dead letter.
"""

from __future__ import annotations

import logging

from app.queue import JobQueue, RedisJobQueue

log = logging.getLogger(__name__)

MAX_CRASHES = 3
"""Starts without a finish after which a delivery is a dead letter rather than the next worker's crash."""
_TTL_SECONDS = 2 * 24 * 3600
_PREFIX = "backsoon:webhook-inflight:"


class CrashGuard:
    """Counts unfinished starts of webhook deliveries in the queue's Redis (no-op without one)."""

    def __init__(self, jobs: JobQueue) -> None:
        self._redis = jobs.connection if isinstance(jobs, RedisJobQueue) else None

    def begin(self, event_id: int) -> int:
        """Mark the delivery as being processed; returns how often it was started before and never finished."""
        if self._redis is None:
            return 0
        from redis.exceptions import RedisError

        try:
            pipe = self._redis.pipeline(transaction=False)
            pipe.incr(_PREFIX + str(event_id))
            pipe.expire(_PREFIX + str(event_id), _TTL_SECONDS)
            started, _ = pipe.execute()
        except RedisError:
            return 0
        return int(started) - 1

    def end(self, event_id: int) -> None:
        """The delivery's processing finished (applied, or its failure recorded on the row)."""
        if self._redis is None:
            return
        from redis.exceptions import RedisError

        try:
            self._redis.delete(_PREFIX + str(event_id))
        except RedisError:
            log.debug("could not clear the in-flight mark of webhook %s", event_id)


def crash_error(crashes: int) -> str:
    """The dead letter's reason for a delivery whose processing never finished."""
    return f"the worker stopped {crashes} times while processing it (crashed or killed) and never finished"
