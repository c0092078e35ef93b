"""Cron configuration: the periodic jobs of app.job_specs.SCHEDULE, loaded by `backsoon cron` (run exactly one)."""

from __future__ import annotations

from rq import cron

from app.job_specs import SCHEDULE
from app.queue import resolve

for periodic in SCHEDULE:
    cron.register(
        resolve(periodic.func), queue_name=periodic.queue, interval=periodic.every, job_timeout=periodic.timeout
    )
