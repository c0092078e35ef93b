"""Rate limits for public inputs (Flask-Limiter on Redis; in memory when the app runs without Redis).

Each app gets its own ``Limiter`` (app.extensions["backsoon_limiter"]) whose storage is ``REDIS_URL`` or
``memory://``. Handlers call :func:`check` at the point where the key is known: the client IP at the top of a
request, the normalised email only once it has been validated (so "A@x.com" and "a@x.com" share a bucket, and a
flood of garbage does not fill Redis with junk keys). Limits are strings in the ``limits`` syntax
("10/minute;100/hour") under these app.config keys, overridable through Settings.extra or in tests:

- ``BACKSOON_SIGNUP_IP_LIMIT``: signups per client IP.
- ``BACKSOON_SIGNUP_EMAIL_LIMIT``: signups per email address, whatever the IP.
- ``BACKSOON_STATE_IP_LIMIT``: storefront state reads per client IP (generous: a product page makes one).

A storage failure lets the request through (logged): a Redis outage must not take the storefront down.
"""

from __future__ import annotations

import hashlib
import logging
import math
import time
from typing import Any

from flask import Flask, current_app
from flask_limiter import Limiter
from limits import parse_many

from app.config import Settings

log = logging.getLogger(__name__)

DEFAULT_LIMITS = {
    "SIGNUP_IP_LIMIT": "10/minute;60/hour",
    "SIGNUP_EMAIL_LIMIT": "5/hour;20/day",
    "STATE_IP_LIMIT": "300/minute",
}
_EXTENSION = "backsoon_limiter"


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
    strategy = limiter.limiter
    digest = key_of(key)
    for item in parse_many(spec):
        try:
            allowed = strategy.hit(item, "backsoon", limit_name, digest)
            if allowed:
                continue
            reset_at, _remaining = strategy.get_window_stats(item, "backsoon", limit_name, digest)
        except Exception as exc:
            log.warning("rate limit storage unavailable for %s: %s", limit_name, exc.__class__.__name__)
            return
        raise RateLimited(max(1, math.ceil(reset_at - time.time())))
