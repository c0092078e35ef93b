"""Rate limits for public inputs (Flask-Limiter on Redis; in memory when the app runs without Redis).

Each app gets its own ``Limiter`` (app.extensions["backsoon_limiter"]) whose storage is ``REDIS_URL`` or
``memory://``. Handlers call :func:`check` at the point where the key is known: the client IP at the top of a
request, the normalised email only once it has been validated (so "A@x.com" and "a@x.com" share a bucket, and a
flood of garbage does not fill Redis with junk keys). Limits are strings in the ``limits`` syntax
("10/minute;100/hour") under these app.config keys, overridable through Settings.extra or in tests:

- ``BACKSOON_SIGNUP_IP_LIMIT``: signups per client IP.
- ``BACKSOON_SIGNUP_EMAIL_LIMIT``: signups per email address, whatever the IP.
- ``BACKSOON_STATE_IP_LIMIT``: storefront state reads per client IP (generous: a product page makes one).

While the storage fails (Redis configured but unreachable) the limits count in this process instead: never off,
never an error for the shopper. The outage is logged once; Redis is tried again every
:data:`STORAGE_RETRY_SECONDS`, and its counters take over again once it answers.
"""

from __future__ import annotations

import hashlib
import logging
import math
import threading
import time
from typing import Any

from flask import Flask, current_app
from flask_limiter import Limiter
from limits import RateLimitItem, parse_many
from limits.storage import MemoryStorage
from limits.strategies import FixedWindowRateLimiter, RateLimiter

from app.config import Settings

log = logging.getLogger(__name__)

DEFAULT_LIMITS = {
    "SIGNUP_IP_LIMIT": "10/minute;60/hour",
    "SIGNUP_EMAIL_LIMIT": "5/hour;20/day",
    "STATE_IP_LIMIT": "300/minute",
}
_EXTENSION = "backsoon_limiter"
_FALLBACK = "backsoon_limiter_fallback"
# How long the per-process counters stand in after the storage failed before it is tried again: a Redis that
# does not answer costs one request per interval its connect timeout, not every request.
STORAGE_RETRY_SECONDS = 30.0


class RateLimited(Exception):
    """A request over one of its limits; ``retry_after`` is in whole seconds."""

    def __init__(self, retry_after: int) -> None:
        super().__init__(f"rate limited, retry after {retry_after} s")
        self.retry_after = retry_after


def _no_key() -> str:
    # Routes are not decorated; every check names its own key.
    return ""


def init_app(app: Flask, settings: Settings) -> None:
    """Attach the limiter to the app."""
    for name, default in DEFAULT_LIMITS.items():
        app.config.setdefault(f"BACKSOON_{name}", settings.extra.get(name, default))
    app.config.setdefault("RATELIMIT_STORAGE_URI", settings.redis_url or "memory://")
    app.config.setdefault("RATELIMIT_STORAGE_OPTIONS", {"socket_connect_timeout": 0.5, "socket_timeout": 1})
    if not settings.redis_url:
        app.config["RATELIMIT_STORAGE_OPTIONS"] = {}
    limiter = Limiter(_no_key, key_prefix="backsoon-rl", swallow_errors=True)
    limiter.init_app(app)
    _detach_request_hooks(app, limiter)
    app.extensions[_EXTENSION] = limiter
    app.extensions[_FALLBACK] = Fallback()


class Fallback:
    """Per-process counters that stand in while the limiter's storage fails, and the state of that outage."""

    def __init__(self) -> None:
        self.strategy: RateLimiter = FixedWindowRateLimiter(MemoryStorage())
        self.retry_at: float | None = None  # set while the storage is considered down
        self._lock = threading.Lock()

    def use_storage(self) -> bool:
        """True when the real storage is to be asked (it is up, or its retry time has come)."""
        retry_at = self.retry_at
        return retry_at is None or time.monotonic() >= retry_at

    def failed(self, limit_name: str, exc: Exception) -> None:
        """The storage failed: count in this process for a while; only the first failure of an outage is logged."""
        with self._lock:
            first = self.retry_at is None
            self.retry_at = time.monotonic() + STORAGE_RETRY_SECONDS
        if first:
            log.warning(
                "rate limit storage unavailable (%s on %s): counting in this process until it answers again",
                exc.__class__.__name__,
                limit_name,
            )

    def recovered(self) -> None:
        """The storage answered (again)."""
        if self.retry_at is None:
            return  # the usual case: no lock taken
        with self._lock:
            was_down = self.retry_at is not None
            self.retry_at = None
        if was_down:
            log.info("rate limit storage answers again: counting there")


def _detach_request_hooks(app: Flask, limiter: Limiter) -> None:
    """Drop the hooks Flask-Limiter adds to every request: no route is decorated, handlers call check().

    They found no limit to apply yet cost about 0.35 ms per request on every route (webhooks included), a third of
    a cached storefront read; the limiter's storage and strategy are all this module uses.
    """

    def ours(f: object) -> bool:
        return getattr(f, "__self__", None) is limiter or limiter in getattr(f, "args", ())

    registries: tuple[dict[Any, list[Any]], ...] = (
        app.before_request_funcs,
        app.after_request_funcs,
        app.teardown_request_funcs,
    )
    for registry in registries:
        for funcs in registry.values():
            funcs[:] = [f for f in funcs if not ours(f)]


def key_of(value: str) -> str:
    """A short digest for a limit key, so no address or IP sits in Redis in clear."""
    return hashlib.sha256(value.encode("utf-8")).hexdigest()[:32]


def check(limit_name: str, key: str) -> None:
    """Count one hit against ``BACKSOON_<limit_name>`` for ``key``; RateLimited when over any of its windows."""
    limiter: Limiter | None = current_app.extensions.get(_EXTENSION)
    if limiter is None or not limiter.enabled:
        return
    spec = str(current_app.config.get(f"BACKSOON_{limit_name}") or "")
    if not spec:
        return
    fallback: Fallback = current_app.extensions[_FALLBACK]
    digest = key_of(key)
    for item in parse_many(spec):
        reset_at = _hit(limiter.limiter, fallback, item, limit_name, digest)
        if reset_at is not None:
            raise RateLimited(max(1, math.ceil(reset_at - time.time())))


def _hit(strategy: RateLimiter, fallback: Fallback, item: RateLimitItem, name: str, digest: str) -> float | None:
    """Count one hit on the storage, or on the per-process counters while it fails: when over, its reset time."""
    if fallback.use_storage():
        try:
            over = _count(strategy, item, name, digest)
        except Exception as exc:
            fallback.failed(name, exc)
        else:
            fallback.recovered()
            return over
    return _count(fallback.strategy, item, name, digest)


def _count(strategy: RateLimiter, item: RateLimitItem, name: str, digest: str) -> float | None:
    if strategy.hit(item, "backsoon", name, digest):
        return None
    reset_at, _remaining = strategy.get_window_stats(item, "backsoon", name, digest)
    return float(reset_at)
