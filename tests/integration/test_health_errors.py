"""Health reports database and queue; unknown routes and oversized bodies get JSON 4xx, never 500."""

from __future__ import annotations

from typing import Any

import pytest
from flask.testing import FlaskClient

from app.db import Database
from app.queue import InProcessJobQueue, RedisJobQueue
from tests.conftest import TEST_REDIS_URL, AppFactory

pytestmark = pytest.mark.integration


def test_healthz_reports_database_and_redis(make_app: AppFactory, redis_conn: Any) -> None:
    app = make_app(jobs=RedisJobQueue(TEST_REDIS_URL))
    resp = app.test_client().get("/healthz")
    assert resp.status_code == 200
    assert resp.get_json() == {
        "status": "ok",
        "database": {"ok": True, "dialect": "postgresql"},
        "queue": {"ok": True, "mode": "redis", "depth": {"high": 0, "default": 0, "low": 0}, "failed_jobs": 0},
        "dead_letters": {"webhooks": 0, "restock_events": 0},
    }


def test_healthz_is_503_when_redis_is_down(make_app: AppFactory) -> None:
    app = make_app(jobs=RedisJobQueue("redis://127.0.0.1:1/0"))
    resp = app.test_client().get("/healthz")
    assert resp.status_code == 503
    body = resp.get_json()
    assert body["status"] == "degraded"
    assert body["database"] == {"ok": True, "dialect": "postgresql"}
    assert body["queue"] == {"ok": False, "mode": "redis", "error": "ConnectionError"}


def test_healthz_in_process_mode_on_sqlite(make_app: AppFactory, sqlite_db: Database) -> None:
    app = make_app(database=sqlite_db, jobs=InProcessJobQueue())
    resp = app.test_client().get("/healthz")
    assert resp.status_code == 200
    assert resp.get_json() == {
        "status": "ok",
        "database": {"ok": True, "dialect": "sqlite"},
        "queue": {"ok": True, "mode": "in-process", "depth": {"in-process": 0}},
        "dead_letters": {"webhooks": 0, "restock_events": 0},
    }


def test_json_errors_for_unknown_routes_methods_and_huge_bodies(client: FlaskClient) -> None:
    resp = client.get("/api/v1/nothing-here")
    assert (resp.status_code, resp.get_json()["error"]["code"]) == (404, "not_found")
    resp = client.delete("/healthz")
    assert (resp.status_code, resp.get_json()["error"]["code"]) == (405, "method_not_allowed")
    resp = client.post("/api/v1/stores/1/recompute", data=b"x" * (1024 * 1024 + 1), content_type="application/json")
    assert (resp.status_code, resp.get_json()["error"]["code"]) == (413, "request_entity_too_large")
    resp = client.get("/api/v1/stores/99999999999999999999999")
    assert (resp.status_code, resp.get_json()["error"]["code"]) == (404, "not_found")
