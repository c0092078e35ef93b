"""The storefront's read cache: rendered state documents kept 15 s and answered in front of Flask.

It earns its place in the storefront_read benchmark (benchmarks/storefront_read.py): a cache hit costs a dict lookup
and a few headers instead of Flask's routing, request context and hooks, which lets cached reads outrun a bare
Flask endpoint."""

from __future__ import annotations

import re
import threading
import time
from dataclasses import dataclass
from typing import Any

from flask import Flask, current_app

CACHE_CONTROL = "public, max-age=15, stale-while-revalidate=60"


# As long as a browser may keep the document anyway (max-age), so a shopper never sees older state than HTTP allows.
READ_CACHE_SECONDS = 15.0


@dataclass(frozen=True, slots=True)
class CachedRead:
    """A rendered state document: its JSON, its ETag and the origins allowed to read it."""

    payload: bytes
    etag: str
    origins: frozenset[str]

    def respond(self, if_none_match: str | None, origin: str | None) -> tuple[int, list[tuple[str, str]], bytes]:
        """Status, headers and body for one request: 304 when its If-None-Match names this ETag, CORS for our origins.

        If-None-Match is matched by hand: werkzeug's make_conditional also parses dates and ranges a state read
        never uses.
        """
        quoted = f'"{self.etag}"'
        headers = [("ETag", quoted), ("Cache-Control", CACHE_CONTROL), ("Vary", "Origin")]
        if origin and origin.rstrip("/").lower() in self.origins:
            headers.append(("Access-Control-Allow-Origin", origin))
        if if_none_match and (if_none_match.strip() == "*" or quoted in if_none_match):
            return 304, headers, b""
        headers += [("Content-Type", "application/json"), ("Content-Length", str(len(self.payload)))]
        return 200, headers, self.payload


class ReadCache:
    """Rendered state documents per (kind, store, ref, locale), kept READ_CACHE_SECONDS in this process.

    A product page's widget reads the same document as every other shopper's: rendering it once per TTL instead of
    per request is what lets reads keep up with a bare endpoint. Browsers and CDNs may keep it as long (max-age=15)
    and serve it stale for another minute, so this adds no staleness HTTP did not already allow. Misses (unknown
    stores or products) are never cached, so a 404 costs what it always did.
    """

    def __init__(self, ttl: float, max_entries: int) -> None:
        self.ttl = ttl
        self.max_entries = max_entries
        self._items: dict[tuple[str, int, str, str], tuple[float, CachedRead]] = {}
        self._lock = threading.Lock()

    def get(self, key: tuple[str, int, str, str]) -> CachedRead | None:
        """The cached document, or None when absent or expired."""
        item = self._items.get(key)
        if item is None or item[0] < time.monotonic():
            return None
        return item[1]

    def put(self, key: tuple[str, int, str, str], read: CachedRead) -> CachedRead:
        """Keep a document for ttl seconds; a full cache is emptied rather than tracked per entry."""
        with self._lock:
            if len(self._items) >= self.max_entries:
                self._items.clear()
            self._items[key] = (time.monotonic() + self.ttl, read)
        return read

    def clear(self) -> None:
        """Forget everything (tests)."""
        with self._lock:
            self._items.clear()


_CACHE_EXTENSION = "backsoon_read_cache"


# What the front of the app may answer from the cache: plain refs and at most a simple ?locale=.
_CACHED_PATH = re.compile(r"^/storefront/v1/stores/([1-9][0-9]{0,17})/(products|variants)/([A-Za-z0-9._-]{1,64})$")


_CACHED_QUERY = re.compile(r"^(?:locale=([A-Za-z0-9_-]{1,35}))?$")


_STATUS_LINES = {200: "200 OK", 304: "304 Not Modified"}


def install_read_cache(app: Flask) -> None:
    """Give the app its read cache and answer cache hits in front of Flask (one per app: tests never share one).

    A hit costs a dict lookup and a few headers instead of Flask's routing, request context and hooks, which is
    what lets cached reads outrun a bare Flask endpoint. Anything else — a miss, a 404, OPTIONS, the App Proxy
    (which must verify its signature), an unusual ref or query — goes to Flask, which renders and fills the cache.
    """
    cache = ReadCache(ttl=READ_CACHE_SECONDS, max_entries=20_000)
    app.extensions[_CACHE_EXTENSION] = cache
    inner = app.wsgi_app

    def front(environ: dict[str, Any], start_response: Any) -> Any:
        if environ.get("REQUEST_METHOD") == "GET":
            path = _CACHED_PATH.match(environ.get("PATH_INFO", ""))
            query = _CACHED_QUERY.match(environ.get("QUERY_STRING", "")) if path else None
            if path and query:
                kind = "product" if path.group(2) == "products" else "variant"
                hit = cache.get((kind, int(path.group(1)), path.group(3), query.group(1) or ""))
                if hit is not None:
                    status, headers, body = hit.respond(environ.get("HTTP_IF_NONE_MATCH"), environ.get("HTTP_ORIGIN"))
                    start_response(_STATUS_LINES[status], headers)
                    return [body]
        return inner(environ, start_response)

    app.wsgi_app = front  # type: ignore[method-assign]


def read_cache() -> ReadCache:
    """This app's read cache."""
    cache: ReadCache = current_app.extensions[_CACHE_EXTENSION]
    return cache
