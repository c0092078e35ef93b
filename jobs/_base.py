"""What every job shares: the runtime and a log context carrying the RQ job id."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from app.logs import log_context
from app.runtime import Runtime, get_runtime


def current_job_id() -> str | None:
    """The RQ job id when running under RQ, else None."""
    try:
        from rq import get_current_job

        job = get_current_job()
    except Exception:
        return None
    return job.id if job is not None else None


@contextmanager
def job_context(**values: Any) -> Iterator[Runtime]:
    """The runtime, with store/job ids attached to every log line inside."""
    with log_context(job_id=current_job_id(), **values):
        yield get_runtime()
