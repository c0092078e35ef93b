"""A tiny in-process stand-in for `rq cron`, used when jobs run in-process (the demo)."""

from __future__ import annotations

import logging
import threading
import time

from app.queue import JobQueue, JobSpec

log = logging.getLogger(__name__)


class InProcessScheduler:
    """Enqueues the same periodic jobs as jobs/cron.py on the in-process queue."""

    def __init__(self, jobs: JobQueue, schedule: tuple[tuple[str, int], ...]) -> None:
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
        next_run = {func: time.monotonic() + interval for func, interval in self.schedule}
        while not self._stop.wait(1.0):
            now = time.monotonic()
            for func, interval in self.schedule:
                if now >= next_run[func]:
                    next_run[func] = now + interval
                    self.jobs.enqueue(JobSpec(func, (), job_id=func.replace(".", "_"), queue="low"))


DEFAULT_SCHEDULE = (
    ("jobs.maintenance.sweep", 30),
    ("jobs.notify.run_due_waves", 30),
    ("jobs.stock.recompute_all", 15 * 60),
    ("jobs.maintenance.purge_inbox", 60 * 60),
    ("jobs.shopify.reconcile_all", 30 * 60),
    ("jobs.woocommerce.reconcile_all", 30 * 60),
    ("jobs.woocommerce.check_all_webhooks", 6 * 60 * 60),
    ("jobs.attribution.attribute_all", 15 * 60),
    ("jobs.admin.deliver_all_webhooks", 60),
    ("jobs.admin.digest_all", 15 * 60),
    ("jobs.admin.instant_alerts_all", 60),
)
