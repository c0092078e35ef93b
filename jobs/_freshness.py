"""What every platform's freshness pass job shares: the claim, the cost, the failure streak and the outcome, so each
platform's job only says how to read its store."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from app.db import utcnow
from app.platforms.base import active_store
from app.runtime import Runtime
from app.services.ingest import freshness
from app.services.ingest.freshness import PassResult

log = logging.getLogger(__name__)


class _Counting(Protocol):
    requests_sent: int


@dataclass(slots=True)
class Meter:
    """The client a pass reads with, once it has one: what it sent is the pass's cost, failed or not."""

    client: _Counting | None = None

    @property
    def requests(self) -> int:
        """Requests sent so far."""
        return self.client.requests_sent if self.client is not None else 0


class StoreGone(Exception):
    """The store stopped being active between the claim and the read: nothing to record."""


def run_pass(
    rt: Runtime,
    store_id: int,
    platform: str,
    read: Callable[[datetime, Meter], PassResult],
    *,
    revoked: tuple[type[Exception], ...],
    disconnect: Callable[[Meter, Exception], None],
    expected: tuple[type[Exception], ...],
) -> str:
    """Claim the store's pass, ``read`` what changed since the last one, and record the outcome; the outcome.

    A failed pass is recorded, not raised: the next one, minutes later, is its retry and reads from the same point.
    An error that is not the store's (none of ``expected``) is raised as well, to be seen among the failed jobs.
    """
    with rt.db.session() as session:
        if active_store(session, store_id, platform) is None:
            return "inactive"
    started, clock = utcnow(), time.monotonic()
    since = freshness.claim(rt.db, store_id, started)
    if since is None:
        return "running"
    meter = Meter()
    try:
        result = read(since, meter)
    except StoreGone:
        freshness.release(rt.db, store_id)
        return "inactive"
    except revoked as exc:
        disconnect(meter, exc)
        freshness.release(rt.db, store_id)
        return "disconnected"
    except Exception as exc:
        cost = (meter.requests, _ms_since(clock))
        freshness.failed(rt.db, store_id, utcnow(), cost, f"{exc.__class__.__name__}: {exc}")
        if not isinstance(exc, expected):
            raise
        log.warning("freshness pass of store %s failed: %s", store_id, exc)
        return "failed"
    freshness.succeeded(rt.db, store_id, started, utcnow(), (meter.requests, _ms_since(clock)), result)
    return "ok"


def _ms_since(clock: float) -> int:
    return int((time.monotonic() - clock) * 1000)
