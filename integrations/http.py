"""The one hardened HTTP session every adapter uses: default timeouts, retries for idempotent calls, our user agent.

Retries here are transport-level only (urllib3): a lost connection, or a 502/503/504 from a proxy, on a method that
is idempotent by HTTP semantics. POST is never retried here once it may have reached the server, because a
platform's POST may create something; adapters that know a POST is a read (GraphQL queries) retry it themselves,
with their own rate-limit logic.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import requests
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

__all__ = [
    "DEFAULT_TIMEOUT",
    "IDEMPOTENT_METHODS",
    "RETRY_STATUSES",
    "USER_AGENT",
    "TimeoutHTTPAdapter",
    "make_session",
]

__version__ = "0.1.0"

USER_AGENT = f"BackSoon/{__version__} (restock engine) python-requests/{requests.__version__}"
"""Sent on every request so platforms (and their support) can tell our traffic apart."""

DEFAULT_TIMEOUT: tuple[float, float] = (5.0, 30.0)
"""(connect, read) seconds. Without a timeout a stalled platform would hang a worker forever."""

# Idempotent by HTTP semantics (RFC 9110 §9.2.2); POST and PATCH are not.
IDEMPOTENT_METHODS: frozenset[str] = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE", "TRACE"})
# Gateway errors: the request most likely never reached the application. 500 is left to the caller: it may mean
# the request did run and failed, and retrying it blindly hides real bugs.
RETRY_STATUSES: frozenset[int] = frozenset({502, 503, 504})


class TimeoutHTTPAdapter(HTTPAdapter):
    """An HTTPAdapter that applies a default (connect, read) timeout to every request that sets none."""

    def __init__(self, *, timeout: float | tuple[float, float] = DEFAULT_TIMEOUT, **kwargs: Any) -> None:
        self.timeout = timeout
        super().__init__(**kwargs)

    def send(
        self,
        request: requests.PreparedRequest,
        stream: bool = False,
        timeout: float | tuple[float, float] | tuple[float, None] | None = None,
        verify: bool | str = True,
        cert: bytes | str | tuple[bytes | str, bytes | str] | None = None,
        proxies: Mapping[str, str] | None = None,
    ) -> requests.Response:
        """Send with the adapter's timeout unless the call gave its own."""
        # Enforced at the adapter, not the Session, so session.send() and every verb helper are covered alike.
        return super().send(
            request,
            stream=stream,
            timeout=self.timeout if timeout is None else timeout,
            verify=verify,
            cert=cert,
            proxies=proxies,
        )


def make_session(
    user_agent: str = USER_AGENT,
    retries: int = 3,
    *,
    timeout: float | tuple[float, float] = DEFAULT_TIMEOUT,
    backoff_factor: float = 0.5,
    backoff_max: float = 10.0,
) -> requests.Session:
    """A requests Session with default timeouts, idempotent-only retries and the BackSoon user agent."""
    retry = Retry(
        total=retries,
        # Connect errors are safe to retry for any method: nothing was sent.
        connect=retries,
        # A read error may come after the server acted: only methods in allowed_methods are retried. With no
        # retries, False re-raises the read timeout as itself (requests.ReadTimeout), not as "max retries exceeded".
        read=retries if retries > 0 else False,
        status=retries,
        other=0,
        allowed_methods=IDEMPOTENT_METHODS,
        status_forcelist=RETRY_STATUSES,
        backoff_factor=backoff_factor,
        backoff_max=backoff_max,
        respect_retry_after_header=True,
        # Hand the last 5xx response back to the caller rather than raising MaxRetryError: adapters map statuses
        # to their own error types.
        raise_on_status=False,
    )
    session = requests.Session()
    adapter = TimeoutHTTPAdapter(timeout=timeout, max_retries=retry)
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    session.headers["User-Agent"] = user_agent
    return session
