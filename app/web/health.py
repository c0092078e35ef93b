"""Health check: database and queue, and how many dead letters wait for someone (app.services.ingest.dead_letters)."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, jsonify
from sqlalchemy import text

from app.queue import InProcessJobQueue, RedisJobQueue
from app.services.ingest import dead_letters
from app.web.deps import db_session, runtime

bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz() -> tuple[Response, int]:
    """Report whether the database and the job queue answer (503 when either does not), and the dead letters.

    Dead letters do not make the status degraded: the service works, and they wait for a person, not a restart.
    """
    checks: dict[str, Any] = {}
    counts: dict[str, int] | None = None
    try:
        session = db_session()
        session.execute(text("SELECT 1"))
        checks["database"] = {"ok": True, "dialect": runtime().db.dialect}
        counts = dead_letters.counts(session)
    except Exception as exc:
        checks["database"] = {"ok": False, "error": exc.__class__.__name__}
    jobs = runtime().jobs
    if isinstance(jobs, RedisJobQueue):
        try:
            jobs.connection.ping()
            depth = {name: q.count for name, q in jobs.queues.items()}
            failed = dead_letters.failed_job_count(jobs)
            checks["queue"] = {"ok": True, "mode": "redis", "depth": depth, "failed_jobs": failed}
        except Exception as exc:
            checks["queue"] = {"ok": False, "mode": "redis", "error": exc.__class__.__name__}
    else:
        pending = jobs._items.qsize() if isinstance(jobs, InProcessJobQueue) else 0
        checks["queue"] = {"ok": True, "mode": "in-process", "depth": {"in-process": pending}}
    ok = all(c["ok"] for c in checks.values())
    body = {"status": "ok" if ok else "degraded", **checks}
    if counts is not None:
        body["dead_letters"] = counts
    return jsonify(body), 200 if ok else 503
