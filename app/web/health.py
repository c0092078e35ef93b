"""Health check: database and queue."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, jsonify
from sqlalchemy import text

from app.queue import InProcessJobQueue, RedisJobQueue
from app.web.deps import db_session, runtime

bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz() -> tuple[Response, int]:
    """Report whether the database and the job queue answer; 503 when either does not."""
    checks: dict[str, Any] = {}
    try:
        db_session().execute(text("SELECT 1"))
        checks["database"] = {"ok": True, "dialect": runtime().db.dialect}
    except Exception as exc:
        checks["database"] = {"ok": False, "error": exc.__class__.__name__}
    jobs = runtime().jobs
    if isinstance(jobs, RedisJobQueue):
        try:
            jobs.connection.ping()
            depth = {name: q.count for name, q in jobs.queues.items()}
            checks["queue"] = {"ok": True, "mode": "redis", "depth": depth}
        except Exception as exc:
            checks["queue"] = {"ok": False, "mode": "redis", "error": exc.__class__.__name__}
    else:
        pending = jobs._items.qsize() if isinstance(jobs, InProcessJobQueue) else 0
        checks["queue"] = {"ok": True, "mode": "in-process", "depth": {"in-process": pending}}
    ok = all(c["ok"] for c in checks.values())
    return jsonify({"status": "ok" if ok else "degraded", **checks}), 200 if ok else 503
