"""Deliveries that take their worker down with them: counted in Redis, dead-lettered after MAX_CRASHES.

A handler's exception or timeout is recorded on the row (inbox.mark_failed), but a worker that dies outright (out
of memory, a crash in a C extension, SIGKILL) rolls back everything it wrote about the delivery, its attempt
included, and the sweeper would hand the same delivery to the next worker for ever. So each delivery's processing
is bracketed by a Redis counter, incremented before and deleted after: one found at MAX_CRASHES when a worker
starts on it was started that many times and never finished, and is dead-lettered instead of being run again.
A batch (app.services.ingest.batch) counts a start for each of its deliveries; a batch with any delivery found
unfinished is processed one delivery at a time, so the one that kills its worker is counted alone.
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

    def unfinished(self, event_ids: list[int]) -> bool:
        """Whether any of these deliveries was started and never finished (a worker died while processing it)."""
        if self._redis is None or not event_ids:
            return False
        from redis.exceptions import RedisError

        try:
            found: list[object] = list(self._redis.mget([_PREFIX + str(i) for i in event_ids]))  # type: ignore[arg-type]
        except RedisError:
            return False
        return any(v is not None for v in found)

    def begin_all(self, event_ids: list[int]) -> None:
        """Mark deliveries processed together (one batch) as being processed: a worker dying counts for each."""
        if self._redis is None or not event_ids:
            return
        from redis.exceptions import RedisError

        try:
            pipe = self._redis.pipeline(transaction=False)
            for event_id in event_ids:
                pipe.incr(_PREFIX + str(event_id))
                pipe.expire(_PREFIX + str(event_id), _TTL_SECONDS)
            pipe.execute()
        except RedisError:
            log.debug("could not mark %d webhooks in flight", len(event_ids))

    def end_all(self, event_ids: list[int]) -> None:
        """The batch finished (applied, or rolled back to be processed one at a time)."""
        if self._redis is None or not event_ids:
            return
        from redis.exceptions import RedisError

        try:
            self._redis.delete(*(_PREFIX + str(i) for i in event_ids))
        except RedisError:
            log.debug("could not clear the in-flight marks of %d webhooks", len(event_ids))

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
