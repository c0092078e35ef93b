"""Shopify's order horizon: the first sync sets it 60 days before its orders read, and read_all_orders granted
through app/scopes_update starts one history run that loads the older orders and lifts it."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
import responses
from sqlalchemy import func, select

from app.db import Database
from app.models import Store, SyncRun, WebhookEvent
from app.platforms.shopify import sync as shopify_sync
from app.platforms.shopify import webhooks as shopify_webhooks
from tests.conftest import FIXTURES
from tests.factories import NOW, RecordingQueue
from tests.integration.test_shopify_sync import FILE_URL, GQL, GRAPHQL, SHOP, FakeAdmin, clients

pytestmark = pytest.mark.integration

SCOPES = "write_products,read_inventory,read_locations,read_orders,write_app_proxy,read_locales"
HORIZON = NOW - timedelta(days=60)


def make_shop(db: Database, scopes: str = SCOPES, **kw: object) -> int:
    with db.session() as s:
        store = Store(platform="shopify", domain=SHOP, name="Demo", scopes=scopes, identity_read_at=NOW, **kw)
        s.add(store)
        s.flush()
        return store.id


def scopes_update(store_id: int, current: list[str]) -> WebhookEvent:
    """The fixture's app/scopes_update delivery, granting ``current`` after the store's scopes."""
    hook = json.loads((FIXTURES / "shopify" / "webhooks" / "app-scopes_update.json").read_text())
    body = json.loads(hook["body_text"])
    body["previous"], body["current"] = SCOPES.split(","), current
    return WebhookEvent(
        store_id=store_id,
        platform="shopify",
        topic="app/scopes_update",
        dedupe_key=hook["headers"]["X-Shopify-Event-Id"],
        body=json.dumps(body).encode(),
    )


def runs(db: Database, store_id: int) -> list[tuple[str, str]]:
    with db.session() as s:
        rows = s.execute(select(SyncRun.kind, SyncRun.status).where(SyncRun.store_id == store_id).order_by(SyncRun.id))
        return [tuple(r) for r in rows]  # type: ignore[misc]


def horizon(db: Database, store_id: int) -> datetime | None:
    with db.session() as s:
        return s.execute(select(Store.orders_history_from).where(Store.id == store_id)).scalar_one()


@responses.activate
@pytest.mark.parametrize(("scopes", "sees_all"), [(SCOPES, False), (SCOPES + ",read_all_orders", True)])
def test_the_first_sync_sets_the_horizon_60_days_before_its_orders_read(
    db: Database, scopes: str, sees_all: bool
) -> None:
    responses.add_callback(responses.POST, GRAPHQL, callback=FakeAdmin(polls_before_done=0))
    responses.add(responses.GET, FILE_URL, body=(GQL / "bulk_products.jsonl").read_bytes())
    store_id = make_shop(db, scopes)
    jobs = RecordingQueue()
    with db.session() as s:
        run_id = shopify_sync.start_sync(s, jobs, store_id).id
    before = datetime.now(UTC)
    assert shopify_sync.step(db, jobs, run_id, clients()) == "done"
    after = datetime.now(UTC)
    seen = horizon(db, store_id)
    if sees_all:
        assert seen is None
    else:
        assert seen is not None
        assert before - timedelta(days=60) <= seen <= after - timedelta(days=60)


@responses.activate
def test_read_all_orders_granted_starts_one_history_run_that_lifts_the_horizon(db: Database) -> None:
    admin = FakeAdmin(polls_before_done=0)
    responses.add_callback(responses.POST, GRAPHQL, callback=admin)
    synced = NOW - timedelta(days=1)
    store_id = make_shop(db, orders_history_from=HORIZON, last_synced_at=synced)
    jobs = RecordingQueue()
    granted = [*SCOPES.split(","), "read_all_orders"]
    with db.session() as s:
        assert shopify_webhooks.on_scopes_update(s, jobs, scopes_update(store_id, granted)) == "applied:read_history"
    (run_id,) = (r.args[0] for r in jobs.specs)
    assert [sp.job_id for sp in jobs.specs] == [f"sync-{run_id}"]
    assert runs(db, store_id) == [("history", "running")]
    # Delivered again (Shopify retries): the run is going, nothing more starts.
    with db.session() as s:
        shopify_webhooks.on_scopes_update(s, jobs, scopes_update(store_id, granted))
    assert (len(jobs.specs), runs(db, store_id)) == (1, [("history", "running")])
    # Until the older orders are in, the horizon stays where it was.
    assert horizon(db, store_id) == HORIZON

    assert shopify_sync.step(db, jobs, run_id, clients()) == "done"
    assert admin.calls == ["BulkOperationRunQuery", "BulkOperationById"]  # the orders read, nothing else
    assert horizon(db, store_id) is None
    with db.session() as s:
        store = s.get(Store, store_id)
        assert store is not None
        # The changes since the last sync are still the next reconciliation's to read.
        assert (store.scopes, store.last_synced_at) == (",".join(granted), synced)
        # No horizon left: a reconciliation is a reconciliation again.
        assert shopify_sync.start_sync(s, jobs, store_id, "reconcile").kind == "reconcile"


def test_scopes_without_read_all_orders_start_nothing_and_keep_the_horizon(db: Database) -> None:
    store_id = make_shop(db, orders_history_from=HORIZON, last_synced_at=NOW)
    jobs = RecordingQueue()
    with db.session() as s:
        assert shopify_webhooks.on_scopes_update(s, jobs, scopes_update(store_id, [*SCOPES.split(","), "read_files"]))
    assert (jobs.specs, runs(db, store_id), horizon(db, store_id)) == ([], [], HORIZON)


def test_a_store_that_reads_all_orders_without_a_horizon_starts_nothing(db: Database) -> None:
    # WooCommerce-like: no horizon to lift (its full history was read at its first sync).
    store_id = make_shop(db, last_synced_at=NOW)
    jobs = RecordingQueue()
    with db.session() as s:
        result = shopify_webhooks.on_scopes_update(
            s, jobs, scopes_update(store_id, [*SCOPES.split(","), "read_all_orders"])
        )
    assert (result, jobs.specs, runs(db, store_id)) == ("applied", [], [])


def test_a_reconciliation_due_a_history_run_is_one_unless_the_last_failed(db: Database) -> None:
    # read_all_orders granted while another run was going: the next reconciliation reads the history instead.
    store_id = make_shop(db, SCOPES + ",read_all_orders", orders_history_from=HORIZON, last_synced_at=NOW)
    jobs = RecordingQueue()
    with db.session() as s:
        run = shopify_sync.start_sync(s, jobs, store_id, "reconcile")
        assert (run.kind, run.phase) == ("history", "orders")
        run.status = "failed"
    with db.session() as s:
        # A failed history run is not retried at every reconciliation: reconciling goes on.
        run = shopify_sync.start_sync(s, jobs, store_id, "reconcile")
        assert run.kind == "reconcile"
        run.status = "done"
    with db.session() as s:
        assert s.scalar(select(func.count()).select_from(SyncRun).where(SyncRun.store_id == store_id)) == 2
    # The merchant grants the scope again: that is worth another try.
    granted = [*SCOPES.split(","), "read_all_orders"]
    with db.session() as s:
        assert shopify_webhooks.on_scopes_update(s, jobs, scopes_update(store_id, granted)) == "applied:read_history"
    assert runs(db, store_id) == [("history", "failed"), ("reconcile", "done"), ("history", "running")]


def fail_history(db: Database, store_id: int, hours_ago: float) -> None:
    with db.session() as s:
        s.add(
            SyncRun(
                store_id=store_id,
                kind="history",
                status="failed",
                phase="orders",
                finished_at=datetime.now(UTC) - timedelta(hours=hours_ago),
            )
        )


@pytest.mark.parametrize(
    ("failed_hours_ago", "due"),
    [
        # One failure: tried again after 6 hours, not before.
        ([5.9], False),
        ([6.1], True),
        # Two in a row: after 12 hours from the last.
        ([30, 11.9], False),
        ([30, 12.1], True),
        # Three in a row: after 24 hours.
        ([60, 40, 23.9], False),
        ([60, 40, 24.1], True),
        # Four in a row: no more tries, however long ago, until the merchant grants the scope again.
        ([300, 200, 150, 100], False),
    ],
)
def test_a_failed_history_run_is_retried_with_a_growing_back_off_then_left(
    db: Database, failed_hours_ago: list[float], due: bool
) -> None:
    store_id = make_shop(db, SCOPES + ",read_all_orders", orders_history_from=HORIZON, last_synced_at=NOW)
    for hours in failed_hours_ago:
        fail_history(db, store_id, hours)
    jobs = RecordingQueue()
    with db.session() as s:
        assert shopify_sync.history_due(s, store_id) is due
        assert shopify_sync.history_due(s, store_id, after_failure=True) is True
        run = shopify_sync.start_sync(s, jobs, store_id, "reconcile")
        assert run.kind == ("history" if due else "reconcile")


def test_a_history_run_that_succeeded_after_failures_resets_the_count(db: Database) -> None:
    store_id = make_shop(db, SCOPES + ",read_all_orders", orders_history_from=HORIZON, last_synced_at=NOW)
    for hours in (300, 200, 150, 100):
        fail_history(db, store_id, hours)
    with db.session() as s:
        s.add(SyncRun(store_id=store_id, kind="history", status="done", phase="finalize"))
    fail_history(db, store_id, 1)
    with db.session() as s:
        # One failure since the last success: its 6-hour back-off applies, not the end of the tries.
        assert shopify_sync.history_due(s, store_id) is False
    with db.session() as s:
        last = s.execute(select(SyncRun).order_by(SyncRun.id.desc()).limit(1)).scalar_one()
        last.finished_at = datetime.now(UTC) - timedelta(hours=7)
    with db.session() as s:
        assert shopify_sync.history_due(s, store_id) is True
