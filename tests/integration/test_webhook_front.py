"""The WSGI front of POST /webhooks/shopify: dead pooled connections, PostgreSQL and Redis down, SQLite, errors."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select, text

from app.db import Database
from app.models import Store, WebhookEvent
from app.queue import InProcessJobQueue, RedisJobQueue
from app.web.webhooks import MAX_WEBHOOK_BYTES
from tests.conftest import FIXTURES, TEST_REDIS_URL, AppFactory

pytestmark = pytest.mark.integration
FRONT = pytest.mark.truncating("the webhook front stores deliveries on its autocommit engine's own connections")

SECRET = "shpss_fixture_secret"
SHOP = "backsoon-demo.myshopify.com"


def hook(name: str) -> tuple[bytes, dict[str, str]]:
    data: dict[str, Any] = json.loads((FIXTURES / "shopify" / "webhooks" / f"{name}.json").read_text())
    return data["body_text"].encode(), dict(data["headers"])


def rows(db: Database) -> list[tuple[Any, ...]]:
    with db.session() as s:
        found = s.execute(
            select(WebhookEvent.topic, WebhookEvent.dedupe_key, WebhookEvent.status).order_by(WebhookEvent.id)
        ).all()
    return [tuple(r) for r in found]


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    """The secret the fixture deliveries are signed with."""
    return {"shopify_api_secret": SECRET}


def add_store(db: Database) -> int:
    with db.session() as s:
        store = Store(platform="shopify", domain=SHOP, name="BackSoon Demo")
        s.add(store)
        s.flush()
        return int(store.id)


def backend_pids(db: Database) -> set[int]:
    with db.engine.connect() as conn:
        found = conn.execute(
            text(
                "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid() "
                "AND backend_type = 'client backend'"
            )
        ).scalars()
        return {int(p) for p in found}


@FRONT
def test_answers_like_the_flask_app_did(db: Database, redis_conn: Any, make_app: AppFactory) -> None:
    add_store(db)
    jobs = RedisJobQueue(TEST_REDIS_URL)
    client = make_app(jobs=jobs).test_client()
    body, headers = hook("orders-create")
    resp = client.post("/webhooks/shopify", data=body, headers={**headers, "X-Request-Id": "req-1"})
    assert resp.status_code == 200
    assert resp.headers["Content-Type"] == "application/json"
    assert resp.data == b'{"received":true,"duplicate":false,"processed":true}\n'
    resp = client.post("/webhooks/shopify", data=body, headers=headers)
    assert resp.get_json() == {"received": True, "duplicate": True, "processed": True}
    assert rows(db) == [("orders/create", headers["X-Shopify-Webhook-Id"], "received")]
    with db.session() as s:
        stored = s.execute(select(WebhookEvent.headers, WebhookEvent.body, WebhookEvent.triggered_at)).one()
    assert stored[0] == {
        name: headers[name]
        for name in (
            "X-Shopify-Topic",
            "X-Shopify-Shop-Domain",
            "X-Shopify-Webhook-Id",
            "X-Shopify-Event-Id",
            "X-Shopify-Triggered-At",
            "X-Shopify-API-Version",
        )
        if name in headers
    }
    assert stored[1] == body
    assert stored[2] is not None
    assert jobs.queues["high"].count == 1
    # Other methods still reach Flask's routing.
    assert client.get("/webhooks/shopify").status_code == 405


@FRONT
def test_dead_pooled_connection_is_replaced_before_anything_is_sent(
    db: Database, redis_conn: Any, make_app: AppFactory
) -> None:
    add_store(db)
    jobs = RedisJobQueue(TEST_REDIS_URL)
    client = make_app(jobs=jobs).test_client()
    body, headers = hook("orders-create")
    assert client.post("/webhooks/shopify", data=body, headers=headers).status_code == 200
    with db.autocommit_engine.connect() as conn:
        pooled = int(conn.exec_driver_sql("SELECT pg_backend_pid()").scalar_one())
    assert db.autocommit_engine.pool.checkedin() == 1
    with db.engine.connect() as conn:
        assert conn.execute(text("SELECT pg_terminate_backend(:p)"), {"p": pooled}).scalar_one() is True
    deadline = time.monotonic() + 10
    while pooled in backend_pids(db) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert pooled not in backend_pids(db)

    paid_body, paid_headers = hook("orders-paid")
    resp = client.post("/webhooks/shopify", data=paid_body, headers=paid_headers)
    assert resp.status_code == 200
    assert resp.get_json() == {"received": True, "duplicate": False, "processed": True}
    # Retried by Shopify after all: still one row.
    resp = client.post("/webhooks/shopify", data=paid_body, headers=paid_headers)
    assert resp.get_json() == {"received": True, "duplicate": True, "processed": True}
    assert rows(db) == [
        ("orders/create", headers["X-Shopify-Webhook-Id"], "received"),
        ("orders/paid", paid_headers["X-Shopify-Webhook-Id"], "received"),
    ]
    with db.autocommit_engine.connect() as conn:
        assert int(conn.exec_driver_sql("SELECT pg_backend_pid()").scalar_one()) != pooled
    # The gate collapses the burst into the one job the first delivery enqueued.
    assert jobs.queues["high"].count == 1


def test_database_down_is_503_json_and_enqueues_nothing(redis_conn: Any, make_app: AppFactory) -> None:
    jobs = RedisJobQueue(TEST_REDIS_URL)
    dead = Database("postgresql+psycopg://postgres@127.0.0.1:1/nothing")
    try:
        client = make_app(database=dead, jobs=jobs).test_client()
        body, headers = hook("products-create")
        resp = client.post("/webhooks/shopify", data=body, headers=headers)
    finally:
        dead.dispose()
    assert resp.status_code == 503
    assert resp.headers["Retry-After"] == "30"
    assert resp.get_json() == {"error": {"code": "unavailable", "message": "The database is unavailable; retry later."}}
    assert jobs.queues["high"].count == 0
    assert redis_conn.keys("backsoon:inbox-gate:*") == []  # type: ignore[attr-defined]


@FRONT
def test_redis_down_still_stores_the_row_and_answers_200(db: Database, make_app: AppFactory) -> None:
    add_store(db)
    client = make_app(jobs=RedisJobQueue("redis://127.0.0.1:1/0")).test_client()
    body, headers = hook("products-create")
    resp = client.post("/webhooks/shopify", data=body, headers=headers)
    assert resp.status_code == 200
    assert resp.get_json() == {"received": True, "duplicate": False, "processed": True}
    assert rows(db) == [("products/create", headers["X-Shopify-Webhook-Id"], "received")]


def test_no_secret_configured_is_401_and_stores_nothing(db: Database, redis_conn: Any, make_app: AppFactory) -> None:
    add_store(db)
    jobs = RedisJobQueue(TEST_REDIS_URL)
    client = make_app(jobs=jobs, shopify_api_secret="", shopify_api_secret_old="").test_client()
    body, headers = hook("products-create")
    resp = client.post("/webhooks/shopify", data=body, headers=headers)
    assert resp.status_code == 401
    assert resp.get_json() == {
        "error": {
            "code": "invalid_hmac",
            "message": "The X-Shopify-Hmac-Sha256 header does not match the body.",
        }
    }
    assert rows(db) == []
    assert jobs.queues["high"].count == 0


def test_oversized_body_is_413_before_anything_else(db: Database, redis_conn: Any, make_app: AppFactory) -> None:
    add_store(db)
    jobs = RedisJobQueue(TEST_REDIS_URL)
    client = make_app(jobs=jobs).test_client()
    _body, headers = hook("products-create")
    resp = client.post("/webhooks/shopify", data=b"x" * (MAX_WEBHOOK_BYTES + 1), headers=headers)
    assert resp.status_code == 413
    assert resp.get_json()["error"]["code"] == "request_entity_too_large"
    assert rows(db) == []
    assert jobs.queues["high"].count == 0


def test_sqlite_demo_mode_stores_dedupes_and_runs_the_job_in_process(
    sqlite_db: Database, tmp_path: Path, make_app: AppFactory
) -> None:
    add_store(sqlite_db)
    jobs = InProcessJobQueue(eager=True)
    client = make_app(database=sqlite_db, jobs=jobs).test_client()
    body, headers = hook("products-create")
    resp = client.post("/webhooks/shopify", data=body, headers=headers)
    assert resp.get_json() == {"received": True, "duplicate": False, "processed": True}
    resp = client.post("/webhooks/shopify", data=body, headers=headers)
    assert resp.get_json() == {"received": True, "duplicate": True, "processed": True}
    other = client.post(
        "/webhooks/shopify", data=body, headers={**headers, "X-Shopify-Shop-Domain": "someone-else.myshopify.com"}
    )
    assert other.get_json() == {"received": True, "duplicate": True, "processed": True}
    resp = client.post(
        "/webhooks/shopify",
        data=body,
        headers={
            **headers,
            "X-Shopify-Shop-Domain": "someone-else.myshopify.com",
            "X-Shopify-Webhook-Id": "other-shop-1",
        },
    )
    assert resp.get_json() == {"received": True, "duplicate": False, "processed": False}
    # The eager in-process drain ran after the commit and processed the delivery.
    assert rows(sqlite_db) == [
        ("products/create", headers["X-Shopify-Webhook-Id"], "processed"),
        ("products/create", "other-shop-1", "ignored"),
    ]
    with sqlite_db.session() as s:
        received_at = s.execute(select(func.min(WebhookEvent.received_at))).scalar_one()
    assert received_at is not None


@FRONT
def test_deliveries_arriving_together_are_stored_by_one_statement(
    db: Database, redis_conn: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    import threading

    from app.infra import group_commit
    from app.services.ingest import inbox

    store_id = add_store(db)
    jobs = RedisJobQueue(TEST_REDIS_URL)
    groups: list[list[str]] = []
    real_write = inbox._write_group
    writing, release = threading.Event(), threading.Event()

    def recording_write(engine: Any, batch: list[Any]) -> None:
        groups.append([d.values["key"] for d in batch])
        if len(groups) == 1:
            # The first write is held in flight: everything that arrives meanwhile waits for the next group.
            writing.set()
            assert release.wait(10)
        real_write(engine, batch)

    monkeypatch.setattr(inbox, "_write_group", recording_write)
    group = group_commit.group_for(db)
    body, _ = hook("orders-create")
    # The same webhook id twice in one group, and a shop we do not serve.
    sends = [("w0", SHOP), ("w1", SHOP), ("w2", SHOP), ("w1", SHOP), ("w3", "elsewhere.myshopify.com"), ("w4", SHOP)]
    results: dict[int, inbox.Recorded] = {}

    def send(n: int, key: str, shop: str) -> None:
        results[n] = inbox.ingest(
            db, jobs, platform="shopify", domain=shop, topic="orders/create", dedupe_key=key, body=body, headers={}
        )

    threads = []
    for n, (key, shop) in enumerate(sends):
        threads.append(threading.Thread(target=send, args=(n, key, shop)))
        threads[-1].start()
        if n == 0:
            assert writing.wait(10)
            continue
        deadline = time.monotonic() + 10
        while len(group._waiting) < n and time.monotonic() < deadline:
            time.sleep(0.001)
    release.set()
    for t in threads:
        t.join(10)

    assert groups[0] == ["w0"]
    groups.pop(0)
    assert groups == [["w1", "w2", "w1", "w3", "w4"]]
    with db.session() as s:
        stored = s.execute(
            select(WebhookEvent.id, WebhookEvent.dedupe_key, WebhookEvent.store_id, WebhookEvent.status).order_by(
                WebhookEvent.id
            )
        ).all()
    # Stored in arrival order, the repeated id once, the unknown shop kept as ignored.
    assert [(key, sid, status) for _, key, sid, status in stored] == [
        ("w0", store_id, "received"),
        ("w1", store_id, "received"),
        ("w2", store_id, "received"),
        ("w3", None, "ignored"),
        ("w4", store_id, "received"),
    ]
    ids = {key: event_id for event_id, key, _, _ in stored}
    assert results == {
        0: inbox.Recorded(ids["w0"], created=True, processed=True),
        1: inbox.Recorded(ids["w1"], created=True, processed=True),
        2: inbox.Recorded(ids["w2"], created=True, processed=True),
        3: inbox.Recorded(ids["w1"], created=False, processed=True),
        4: inbox.Recorded(ids["w3"], created=True, processed=False),
        5: inbox.Recorded(ids["w4"], created=True, processed=True),
    }
    # One drain job for the store (the gate held it closed after w0's); none for the shop we do not serve.
    assert jobs.queues["high"].count == 1
    assert [job.args for job in jobs.queues["high"].jobs] == [(store_id,)]

    # A later delivery repeating stored ids, alone in its group: answered from the stored rows.
    again = inbox.ingest(
        db, jobs, platform="shopify", domain=SHOP, topic="orders/create", dedupe_key="w2", body=body, headers={}
    )
    assert again == inbox.Recorded(ids["w2"], created=False, processed=True)
    assert groups[1:] == [["w2"]]
    assert len(rows(db)) == 5


@FRONT
def test_a_failed_group_write_is_an_error_for_each_delivery_and_stores_none(
    db: Database, redis_conn: Any, monkeypatch: pytest.MonkeyPatch, make_app: AppFactory
) -> None:
    from app.services.ingest import inbox

    add_store(db)
    jobs = RedisJobQueue(TEST_REDIS_URL)
    client = make_app(jobs=jobs).test_client()
    body, headers = hook("orders-create")
    # A statement the server refuses (made invalid here) after the connection was taken from the pool.
    real_sql = inbox._group_insert_pg
    monkeypatch.setattr(inbox, "_group_insert_pg", lambda n: real_sql(n).replace("ORDER BY d.n", "ORDER BY nope"))
    resp = client.post("/webhooks/shopify", data=body, headers=headers)
    assert resp.status_code == 500
    assert resp.get_json() == {"error": {"code": "internal_error", "message": "Something went wrong on our side."}}
    assert rows(db) == []
    assert jobs.queues["high"].count == 0
    monkeypatch.undo()
    # The pooled connection is still usable: the retry is stored.
    resp = client.post("/webhooks/shopify", data=body, headers=headers)
    assert resp.get_json() == {"received": True, "duplicate": False, "processed": True}
    assert rows(db) == [("orders/create", headers["X-Shopify-Webhook-Id"], "received")]
