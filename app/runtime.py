"""The process-wide runtime: settings, database and job queue, shared by web handlers and jobs."""

from __future__ import annotations

import threading
from dataclasses import dataclass

from app.config import Settings, get_settings
from app.db import Database
from app.queue import JobQueue, make_queue


@dataclass
class Runtime:
    """Everything a handler or job needs to reach the outside world."""

    settings: Settings
    db: Database
    jobs: JobQueue


_runtime: Runtime | None = None
_lock = threading.Lock()


def build_runtime(settings: Settings, *, eager_jobs: bool = False) -> Runtime:
    """Create a runtime for the given settings."""
    return Runtime(
        settings=settings, db=Database(settings.database_url), jobs=make_queue(settings.redis_url, eager=eager_jobs)
    )


def set_runtime(runtime: Runtime | None) -> None:
    """Install the runtime this process uses (the app factory and tests call this)."""
    global _runtime
    with _lock:
        _runtime = runtime


def get_runtime() -> Runtime:
    """The runtime of this process, built from the environment on first use (RQ workers)."""
    global _runtime
    with _lock:
        if _runtime is None:
            _runtime = build_runtime(get_settings())
        return _runtime
