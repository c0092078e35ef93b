"""A tiny in-process stand-in for `backsoon cron`, used when jobs run in-process (the demo)."""

from __future__ import annotations

import logging
import threading
import time

from app.job_specs import SCHEDULE, Periodic
from app.queue import JobQueue

log = logging.getLogger(__name__)


class InProcessScheduler:
    """Enqueues the periodic jobs of the one schedule table (as `backsoon cron` does) on the in-process queue."""

    def __init__(self, jobs: JobQueue, schedule: tuple[Periodic, ...] = SCHEDULE) -> None:
        self.jobs = jobs
        self.schedule = schedule
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Start the scheduler thread (daemon; it dies with the process)."""
        self._thread = threading.Thread(target=self._loop, name="backsoon-cron", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Ask the thread to stop."""
        self._stop.set()

    def _loop(self) -> None:
        start = time.monotonic()
        next_run = {p.func: start + p.every for p in self.schedule}
        while not self._stop.wait(1.0):
            now = time.monotonic()
            for periodic in self.schedule:
                if now >= next_run[periodic.func]:
                    next_run[periodic.func] = now + periodic.every
                    self.jobs.enqueue(periodic.spec())
