"""rq cron configuration: the periodic jobs of app.job_specs.SCHEDULE. Run exactly one `rq cron jobs.cron` process."""

from __future__ import annotations

from rq import cron

from app.job_specs import SCHEDULE
from app.queue import resolve

for periodic in SCHEDULE:
    cron.register(
        resolve(periodic.func), queue_name=periodic.queue, interval=periodic.every, job_timeout=periodic.timeout
    )
