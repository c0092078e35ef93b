"""Batched drains (app.services.ingest.batch): newest state wins, every row is marked, a poison delivery fails alone.

Deliveries are stored with inbox.record_delivery and drained by jobs.webhooks.drain_inbox, as the worker runs it.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import func, select, text, update

from app import job_specs
from app.config import Settings
from app.db import Database
from app.models import DirtyVariant, InventoryLevel, Order, OrderLine, Product, StockState, Variant, WebhookEvent
from app.platforms import registry
from app.queue import JobSpec, RedisJobQueue
from app.runtime import Runtime, set_runtime
from app.services.ingest import inbox, sweeper
from app.services.ingest.crash_guard import MAX_CRASHES, crash_error
from jobs import stock as stock_jobs
from jobs.webhooks import drain_inbox
from tests.conftest import FIXTURES, TEST_REDIS_URL
from tests.factories import RecordingQueue, make_store

pytestmark = pytest.mark.integration

HOOKS = FIXTURES / "shopify" / "webhooks"
SHOP = "backsoon-demo.myshopify.com"
ORDER = "6104827363421"
ITEM = "51823456822069"


def body_of(name: str, **changes: Any) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(json.loads((HOOKS / f"{name}.json").read_text())["body_text"])
    data.update(changes)
    return data


@pytest.fixture
def jobs(db: Database) -> Iterator[RecordingQueue]:
    queue = RecordingQueue()
    set_runtime(Runtime(Settings(env="test"), db, queue))
    yield queue


@pytest.fixture
def sid(db: Database) -> int:
    with db.session() as s:
        return make_store(s, platform="shopify", domain=SHOP).id


def record(db: Database, sid: int, key: str, topic: str, body: dict[str, Any] | bytes) -> int:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    with db.session() as s:
        rec = inbox.record_delivery(
            s, RecordingQueue(), platform="shopify", topic=topic, dedupe_key=key, body=raw, headers={}, store_id=sid
        )
    assert rec.event_id is not None
    return rec.event_id


def catalog(db: Database, sid: int) -> None:
    """The two fixture products: every variant the order and inventory fixtures name."""
    record(db, sid, "p", "products/create", body_of("products-create"))
    record(db, sid, "p2", "products/update", body_of("products-update"))


def rows(db: Database) -> list[tuple[str, str, int, str | None]]:
    cols = (WebhookEvent.dedupe_key, WebhookEvent.status, WebhookEvent.attempts, WebhookEvent.error)
    with db.session() as s:
        return [(k, st, a, e) for k, st, a, e in s.execute(select(*cols).order_by(WebhookEvent.id))]


def order_state(db: Database) -> tuple[str, Decimal, list[tuple[str, int]]]:
    with db.session() as s:
        order = s.execute(select(Order).where(Order.external_id == ORDER)).scalar_one()
        lines = s.execute(select(OrderLine.external_id, OrderLine.quantity).order_by(OrderLine.external_id)).all()
        return order.financial_status or "", order.total, [(str(e), int(q)) for e, q in lines]


def recomputes(queue: RecordingQueue, sid: int) -> int:
    return sum(1 for spec in queue.specs if spec == job_specs.recompute_dirty(sid))


def publishes(queue: RecordingQueue) -> int:
    """Storefront publishes queued: one per recompute the drain ran that had variants to recompute."""
    return sum(1 for spec in queue.specs if spec.func == job_specs.SHOPIFY_PUBLISH)


def test_two_updates_of_one_order_in_a_batch_the_newest_wins_and_both_rows_are_processed(
    db: Database, jobs: RecordingQueue, sid: int
) -> None:
    catalog(db, sid)
    record(db, sid, "o1", "orders/create", body_of("orders-create"))
    record(db, sid, "o2", "orders/paid", body_of("orders-paid"))
    assert drain_inbox(sid) == 4
    assert order_state(db) == (
        "paid",
        Decimal("145.00"),
        [("15234567890125", 1), ("15234567922893", 2)],
    )
    assert rows(db) == [
        ("p", "processed", 1, None),
        ("p2", "processed", 1, None),
        ("o1", "processed", 1, None),
        ("o2", "processed", 1, None),
    ]
    # One transaction for the four deliveries, recomputed once by the drain itself: no recompute job, one publish.
    assert recomputes(jobs, sid) == 0
    assert publishes(jobs) == 1


def test_an_older_update_after_a_newer_one_is_stale_in_the_same_batch_and_in_a_later_one(
    db: Database, jobs: RecordingQueue, sid: int
) -> None:
    catalog(db, sid)
    record(db, sid, "paid", "orders/paid", body_of("orders-paid"))
    record(db, sid, "older", "orders/create", body_of("orders-create"))
    assert drain_inbox(sid) == 4
    assert order_state(db)[0] == "paid"
    record(db, sid, "older-again", "orders/updated", body_of("orders-create", financial_status="voided"))
    assert drain_inbox(sid) == 1
    assert order_state(db)[0] == "paid"
    assert [r[1] for r in rows(db)] == ["processed"] * 5
    # The late stale delivery changed nothing: no recompute (and no publish) for it.
    assert recomputes(jobs, sid) == 0
    assert publishes(jobs) == 1


def test_inventory_levels_of_one_item_collapse_to_the_newest_whatever_the_arrival_order(
    db: Database, jobs: RecordingQueue, sid: int
) -> None:
    catalog(db, sid)
    record(db, sid, "l-new", "inventory_levels/update", body_of("inventory_levels-update-available_7"))
    older = body_of("inventory_levels-update-available_7", available=2, updated_at="2026-10-14T09:00:00-04:00")
    record(db, sid, "l-old", "inventory_levels/update", older)
    assert drain_inbox(sid) == 4
    with db.session() as s:
        levels = s.execute(
            select(InventoryLevel.available).join(Variant).where(Variant.inventory_item_external_id == ITEM)
        ).all()
    assert [lv[0] for lv in levels] == [7]
    assert [r[1] for r in rows(db)] == ["processed"] * 4


def test_the_drain_recomputes_the_batch_s_variants_itself_so_the_storefront_is_right_when_it_ends(
    db: Database, jobs: RecordingQueue, sid: int
) -> None:
    catalog(db, sid)
    record(db, sid, "level", "inventory_levels/update", body_of("inventory_levels-update-available_7"))
    assert drain_inbox(sid) == 3
    # No job has run (the queue only records): the state the storefront reads is already the new quantity.
    with db.session() as s:
        state = s.execute(
            select(StockState.sellable_quantity).join(Variant).where(Variant.inventory_item_external_id == ITEM)
        ).scalar_one()
        assert state == 7
        assert s.scalar(select(func.count()).select_from(DirtyVariant).where(DirtyVariant.store_id == sid)) == 0
    # No recompute job is queued for what the drain recomputed; the publish is queued by the drain itself.
    assert recomputes(jobs, sid) == 0
    assert publishes(jobs) == 1


def test_a_drain_killed_between_its_batch_and_its_recompute_leaves_the_variants_to_the_sweeper(
    db: Database, jobs: RecordingQueue, sid: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    catalog(db, sid)
    record(db, sid, "level", "inventory_levels/update", body_of("inventory_levels-update-available_7"))

    def killed(rt: Any, store_id: int) -> int:
        raise KeyboardInterrupt("worker killed")

    monkeypatch.setattr(stock_jobs, "recompute_dirty_now", killed)
    with pytest.raises(KeyboardInterrupt):
        drain_inbox(sid)
    # The batch committed; its variants wait, dirty, with no recompute job queued for them.
    assert [r[1] for r in rows(db)] == ["processed"] * 3
    assert recomputes(jobs, sid) == 0
    now = datetime.now(UTC)
    with db.session() as s:
        dirty_ids = set(s.scalars(select(DirtyVariant.variant_id).where(DirtyVariant.store_id == sid)))
        # Every variant of the two products the batch created, the inventory item's among them.
        assert dirty_ids == set(s.scalars(select(Variant.id).where(Variant.store_id == sid)))
        assert len(dirty_ids) == 4
        s.execute(update(DirtyVariant).values(marked_at=now - timedelta(seconds=90)))
    with db.session() as s:
        specs = sweeper.sweep(s, jobs, now, timedelta(seconds=60), sync_job=registry.sync_job_for)
    minute = int(now.timestamp() // 60)
    swept = JobSpec(job_specs.RECOMPUTE_DIRTY, (sid,), job_id=f"recompute-dirty-{sid}-s{minute}", queue="high")
    assert specs == [swept]


def test_a_delivery_sent_twice_under_new_webhook_ids_applies_once(db: Database, jobs: RecordingQueue, sid: int) -> None:
    catalog(db, sid)
    for key in ("a", "b", "c"):
        record(db, sid, key, "orders/create", body_of("orders-create"))
    assert drain_inbox(sid) == 5
    assert order_state(db) == ("pending", Decimal("145.00"), [("15234567890125", 1), ("15234567922893", 2)])
    with db.session() as s:
        assert s.scalar(select(Order.id).where(Order.external_id == ORDER)) is not None
        assert len(s.execute(select(Order.id)).all()) == 1
    assert [r[1:] for r in rows(db)] == [("processed", 1, None)] * 5


def test_a_repeated_product_update_in_one_batch_is_an_echo_as_it_would_be_one_at_a_time(
    db: Database, jobs: RecordingQueue, sid: int
) -> None:
    record(db, sid, "create", "products/create", body_of("products-create"))
    record(db, sid, "update", "products/update", body_of("products-update"))
    later = body_of("products-update", updated_at="2026-10-14T12:00:00-04:00")
    record(db, sid, "again", "products/update", later)
    assert drain_inbox(sid) == 3
    assert [r[:2] for r in rows(db)] == [("create", "processed"), ("update", "processed"), ("again", "echo")]
    with db.session() as s:
        title = s.scalar(select(Product.title).where(Product.external_id == "9587413528877"))
    assert title == "Merino Crew Sweater"


@pytest.mark.parametrize("batch", [500, 0])
def test_a_product_changed_twice_in_a_batch_ends_as_its_newest_state_whatever_the_arrival_order(
    db: Database, sid: int, batch: int
) -> None:
    set_runtime(Runtime(Settings(env="test", inbox_batch=batch), db, RecordingQueue()))
    record(db, sid, "create", "products/create", body_of("products-create"))
    newest = body_of("products-update", title="Merino Crew Sweater II", updated_at="2026-10-14T13:00:00-04:00")
    middle = body_of("products-update", title="Merino Crew", updated_at="2026-10-14T12:00:00-04:00")
    record(db, sid, "newest", "products/update", newest)
    record(db, sid, "middle", "products/update", middle)
    record(db, sid, "newest-again", "products/update", dict(newest, updated_at="2026-10-14T13:30:00-04:00"))
    assert drain_inbox(sid) == 4
    # Batched or one at a time: the late older state is skipped, the repeat of the newest is an echo.
    assert [r[:2] for r in rows(db)] == [
        ("create", "processed"),
        ("newest", "processed"),
        ("middle", "processed"),
        ("newest-again", "echo"),
    ]
    with db.session() as s:
        title = s.scalar(select(Product.title).where(Product.external_id == "9587413528877"))
    assert title == "Merino Crew Sweater II"


@pytest.mark.parametrize("batch", [500, 0])
def test_a_poison_delivery_mid_batch_fails_alone_and_the_others_apply(
    db: Database, sid: int, batch: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The same outcome with batches as one delivery at a time (INBOX_BATCH=0)."""
    set_runtime(Runtime(Settings(env="test", inbox_batch=batch), db, RecordingQueue()))
    catalog(db, sid)
    record(db, sid, "level", "inventory_levels/update", body_of("inventory_levels-update-available_7"))
    # Readable, but its total does not fit the column: the batch's transaction fails, so it is retried alone.
    record(db, sid, "overflow", "orders/create", body_of("orders-create", id=1, total_price="123456789012345.00"))
    record(db, sid, "unreadable", "orders/create", b"{not json")
    record(db, sid, "order", "orders/create", body_of("orders-create"))
    assert drain_inbox(sid) == 4
    got = rows(db)
    assert [r[:3] for r in got] == [
        ("p", "processed", 1),
        ("p2", "processed", 1),
        ("level", "processed", 1),
        ("overflow", "received", 1),
        ("unreadable", "failed", 1),
        ("order", "processed", 1),
    ]
    assert got[3][3] is not None and got[3][3].startswith("DataError: ")
    assert got[4][3] is not None and got[4][3].startswith("PayloadError: orders/create: body is not valid JSON")
    assert order_state(db) == ("pending", Decimal("145.00"), [("15234567890125", 1), ("15234567922893", 2)])
    with db.session() as s:
        assert s.scalars(select(InventoryLevel.available)).all() == [7]
        assert s.scalar(select(WebhookEvent.retry_at).where(WebhookEvent.dedupe_key == "overflow")) is not None


@pytest.mark.truncating("the other drain holds the store's lock on a connection of its own")
def test_a_second_drain_of_the_same_store_returns_without_touching_its_rows(
    db: Database, jobs: RecordingQueue, sid: int
) -> None:
    catalog(db, sid)
    record(db, sid, "o", "orders/create", body_of("orders-create"))
    with db.engine.connect() as other:
        assert other.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": 7_400_000_000 + sid}).scalar() is True
        assert drain_inbox(sid) == 0
        assert rows(db) == [("p", "received", 0, None), ("p2", "received", 0, None), ("o", "received", 0, None)]
        with db.session() as s:
            assert s.execute(select(Order.id)).all() == []
        other.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": 7_400_000_000 + sid})
        other.commit()
    assert drain_inbox(sid) == 3
    assert [r[1] for r in rows(db)] == ["processed"] * 3


def test_a_batch_a_crashed_worker_left_unfinished_goes_one_at_a_time_and_its_killer_is_dead_lettered(
    db: Database, sid: int, redis_conn: Any
) -> None:
    queue = RedisJobQueue(TEST_REDIS_URL)
    set_runtime(Runtime(Settings(env="test"), db, queue))
    catalog(db, sid)
    order = record(db, sid, "o", "orders/create", body_of("orders-create"))
    # As a worker killed twice in this batch and once more alone leaves them: every delivery started, none finished.
    with db.session() as s:
        ids = list(s.scalars(select(WebhookEvent.id).order_by(WebhookEvent.id)))
    for event_id in ids:
        redis_conn.set(f"backsoon:webhook-inflight:{event_id}", MAX_CRASHES if event_id == order else 1)
    assert drain_inbox(sid) == 2
    assert rows(db) == [
        ("p", "processed", 1, None),
        ("p2", "processed", 1, None),
        ("o", "failed", 1, crash_error(MAX_CRASHES)),
    ]
    with db.session() as s:
        assert s.execute(select(Order.id)).all() == []
    assert redis_conn.keys("backsoon:webhook-inflight:*") == []
