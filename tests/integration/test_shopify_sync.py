"""Shopify initial sync and reconciliation against a simulated Admin API (responses), on real PostgreSQL."""

from __future__ import annotations

import ast
import json
from typing import Any

import pytest
import requests
import responses
from flask.testing import FlaskClient
from sqlalchemy import func, select

from app import job_specs
from app.db import Database
from app.models import InventoryLevel, Location, StockState, Store, SyncRun, Variant
from app.platforms import registry
from app.platforms.shopify import sync as shopify_sync
from integrations.shopify.graphql import GraphQLClient
from jobs import shopify as shopify_jobs
from tests.conftest import FIXTURES
from tests.factories import RecordingQueue

pytestmark = pytest.mark.integration

SHOP = "backsoon-demo.myshopify.com"
GRAPHQL = f"https://{SHOP}/admin/api/2026-10/graphql.json"
GQL = FIXTURES / "shopify" / "graphql"
FILE_URL = "https://storage.example.test/bulk-5278203822381.jsonl"
COST = {
    "cost": {
        "requestedQueryCost": 1,
        "actualQueryCost": 1,
        "throttleStatus": {"maximumAvailable": 2000.0, "currentlyAvailable": 1999, "restoreRate": 100.0},
    }
}


def load(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((GQL / name).read_text())
    return data


class FakeAdmin:
    """Answers each GraphQL operation of a sync the way the fixtures say Shopify does."""

    def __init__(self, *, polls_before_done: int = 1) -> None:
        self.polls_left = polls_before_done
        self.calls: list[str] = []
        self.bulk_starts = 0

    def __call__(self, request: Any) -> tuple[int, dict[str, str], str]:
        query = json.loads(request.body)["query"]
        name = query.split("(")[0].split("{")[0].split()[-1]
        self.calls.append(name)
        if name == "LocationsPage":
            body = {
                "data": {
                    "locations": {
                        "nodes": [
                            {"id": "gid://shopify/Location/79432187993", "name": "HQ", "isActive": True},
                            {"id": "gid://shopify/Location/79432220761", "name": "Overflow", "isActive": True},
                        ],
                        "pageInfo": {"hasNextPage": False, "endCursor": None},
                    }
                },
                "extensions": COST,
            }
        elif name == "BulkOperationRunQuery":
            self.bulk_starts += 1
            body = load("bulk_operation_run_query.success.json")
            if "orders" in json.loads(request.body)["variables"]["query"]:
                body["data"]["bulkOperationRunQuery"]["bulkOperation"]["id"] = (
                    "gid://shopify/BulkOperation/5278203822999"
                )
        elif name == "BulkOperationById":
            op_id = json.loads(request.body)["variables"]["id"]
            body = load("bulk_operation.completed.json")
            op = body["data"]["bulkOperation"]
            if op_id.endswith("5278203822381") and self.polls_left > 0:
                self.polls_left -= 1
                op.update(status="RUNNING", completedAt=None, url=None, objectCount="7", fileSize=None)
            elif op_id.endswith("5278203822999"):
                op.update(id=op_id, objectCount="0", rootObjectCount="0", fileSize=None, url=None)
            else:
                op["url"] = FILE_URL
        else:
            raise AssertionError(f"unexpected operation {name}")
        return 200, {"Content-Type": "application/json"}, json.dumps(body)


def clients() -> shopify_sync.Clients:
    return shopify_sync.Clients(
        graphql=GraphQLClient(SHOP, lambda: "shpat_test", sleep=lambda _s: None), http=requests.Session()
    )


@pytest.fixture
def store_id(db: Database) -> int:
    with db.session() as s:
        store = Store(platform="shopify", domain=SHOP, name="Demo", timezone="America/New_York")
        s.add(store)
        s.flush()
        return store.id


@responses.activate
def test_initial_bulk_sync_waits_for_the_operation_then_loads_everything(db: Database, store_id: int) -> None:
    admin = FakeAdmin(polls_before_done=1)
    responses.add_callback(responses.POST, GRAPHQL, callback=admin)
    responses.add(responses.GET, FILE_URL, body=(GQL / "bulk_products.jsonl").read_bytes())
    jobs = RecordingQueue()
    with db.session() as s:
        run = shopify_sync.start_sync(s, jobs, store_id)
        run_id = run.id
        # A second start while one runs returns the same run.
        assert shopify_sync.start_sync(s, jobs, store_id).id == run_id
    # The store's own settings were never read (a store installed before BackSoon read them): the sync reads them too.
    assert [sp.job_id for sp in jobs.specs] == [f"sync-{run_id}", f"shopify-identity-{store_id}"]

    assert shopify_sync.step(db, jobs, run_id, clients()) == "waiting"
    with db.session() as s:
        run = s.get(SyncRun, run_id)
        assert run is not None
        assert (run.phase, run.status, run.cursor["products_op"]) == (
            "products",
            "running",
            "gid://shopify/BulkOperation/5278203822381",
        )
        assert shopify_sync.runs_waiting_for(s, store_id, "gid://shopify/BulkOperation/5278203822381") == [run_id]

    assert shopify_sync.step(db, jobs, run_id, clients()) == "done"
    assert admin.calls == [
        "LocationsPage",
        "BulkOperationRunQuery",
        "BulkOperationById",
        "BulkOperationById",
        "BulkOperationRunQuery",
        "BulkOperationById",
    ]
    with db.session() as s:
        run = s.get(SyncRun, run_id)
        assert run is not None
        assert shopify_sync.progress(run)["percent"] == 100.0
        assert (run.status, run.phase) == ("done", "finalize")
        assert run.counts == {"locations": 2, "products": 4, "variants": 7, "inventory_levels": 9}
        assert s.scalar(select(func.count()).select_from(Variant)) == 7
        assert s.scalar(select(func.count()).select_from(InventoryLevel)) == 9
        assert s.scalar(select(func.count()).select_from(Location)) == 2
        assert s.scalar(select(func.count()).select_from(StockState)) == 7
        store = s.get(Store, store_id)
        assert store is not None and store.last_synced_at == run.started_at
    # Running the job again (a duplicate, or the sweeper) does nothing more.
    assert shopify_sync.step(db, jobs, run_id, clients()) == "done"


@responses.activate
def test_resume_skips_what_a_killed_worker_already_applied(db: Database, store_id: int) -> None:
    admin = FakeAdmin(polls_before_done=0)
    responses.add_callback(responses.POST, GRAPHQL, callback=admin)
    responses.add(responses.GET, FILE_URL, body=(GQL / "bulk_products.jsonl").read_bytes())
    jobs = RecordingQueue()
    with db.session() as s:
        run_id = shopify_sync.start_sync(s, jobs, store_id).id
    with db.session() as s:
        run = s.get(SyncRun, run_id)
        assert run is not None
        # As if a worker had started the operation and applied the first product and its levels, then died.
        run.phase = "products"
        run.cursor = {"products_op": "gid://shopify/BulkOperation/5278203822381", "products_applied": 5}
    outcome = shopify_sync.step(db, jobs, run_id, clients())
    with db.session() as s:
        failed = s.get(SyncRun, run_id)
        assert failed is not None
        assert (outcome, failed.error) == ("done", None)
    with db.session() as s:
        run = s.get(SyncRun, run_id)
        assert run is not None
        # The first product (1 product, 3 variants... counted before the crash) is not applied again.
        assert run.counts["products"] == 3
    assert "BulkOperationRunQuery" in admin.calls  # only for the orders phase
    assert admin.bulk_starts == 1


@responses.activate
def test_revoked_token_fails_the_run_and_disconnects_the_store(db: Database, store_id: int) -> None:
    responses.add(responses.POST, GRAPHQL, status=401, json={"errors": "[API] Invalid API key or access token"})
    jobs = RecordingQueue()
    with db.session() as s:
        run_id = shopify_sync.start_sync(s, jobs, store_id).id
    assert shopify_sync.step(db, jobs, run_id, clients()) == "failed"
    with db.session() as s:
        run = s.get(SyncRun, run_id)
        store = s.get(Store, store_id)
        assert run is not None and store is not None
        assert run.status == "failed"
        assert run.error is not None and run.error.startswith("access revoked")
        assert (store.status, store.status_reason) == ("disconnected", "Shopify rejected the access token")
        assert s.scalar(select(func.count()).select_from(Variant)) == 0


def test_bulk_finish_webhook_and_sweeper_wake_the_waiting_run(db: Database, store_id: int) -> None:
    from datetime import UTC, datetime, timedelta

    from app.services.ingest import inbox, sweeper

    hook = json.loads((FIXTURES / "shopify" / "webhooks" / "bulk_operations-finish.json").read_text())
    jobs = RecordingQueue()
    with db.session() as s:
        run_id = shopify_sync.start_sync(s, jobs, store_id).id
    with db.session() as s:
        run = s.get(SyncRun, run_id)
        assert run is not None
        run.phase, run.cursor = "products", {"products_op": "gid://shopify/BulkOperation/5278203822381"}
    with db.session() as s:
        rec = inbox.record_delivery(
            s,
            jobs,
            platform="shopify",
            topic="bulk_operations/finish",
            dedupe_key="finish-1",
            body=hook["body_text"].encode(),
            headers={},
            store_id=store_id,
        )
    jobs.specs.clear()
    assert rec.event_id is not None
    with db.session() as s:
        assert inbox.process_event(s, jobs, rec.event_id, registry.handler_for) == "woke:1"
    assert [sp.job_id for sp in jobs.specs] == [f"sync-{run_id}-w{rec.event_id}"]

    now = datetime.now(UTC) + timedelta(seconds=61)
    with db.session() as s:
        specs = sweeper.sweep(s, jobs, now, timedelta(seconds=60), sync_job=registry.sync_job_for)
    minute = int(now.timestamp() // 60)
    assert [sp.job_id for sp in specs if sp.func == job_specs.SHOPIFY_SYNC] == [f"sync-{run_id}-s{minute}"]


def test_sync_progress_is_visible_to_the_admin_api(db: Database, store_id: int, client: FlaskClient) -> None:
    from app.services.merchant.api_keys import hash_api_key

    with db.session() as s:
        store = s.get(Store, store_id)
        assert store is not None
        store.api_key_hash = hash_api_key("key-sync")
    auth = {"Authorization": "Bearer key-sync"}
    assert client.get(f"/api/v1/stores/{store_id}/sync", headers=auth).get_json() == {"run": None}
    with db.session() as s:
        run_id = shopify_sync.start_sync(s, RecordingQueue(), store_id).id
    with db.session() as s:
        run = s.get(SyncRun, run_id)
        assert run is not None
        run.phase, run.done, run.total = "products", 5, 20
    body = client.get(f"/api/v1/stores/{store_id}/sync", headers=auth).get_json()["run"]
    # products is phase 2 of 4 and a quarter done: (1 + 0.25) / 4.
    assert (body["kind"], body["status"], body["phase"], body["done"], body["total"], body["percent"]) == (
        "initial",
        "running",
        "products",
        5,
        20,
        31.2,
    )
    assert client.get(f"/api/v1/stores/{store_id}/sync").status_code == 401


@responses.activate
@pytest.mark.truncating("the CLI builds its own Database from DATABASE_URL")
def test_cli_sync_runs_in_the_foreground_with_progress(
    db: Database, store_id: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    from click.testing import CliRunner

    from app.cli import cli
    from app.runtime import set_runtime

    admin = FakeAdmin(polls_before_done=1)
    responses.add_callback(responses.POST, GRAPHQL, callback=admin)
    responses.add(responses.GET, FILE_URL, body=(GQL / "bulk_products.jsonl").read_bytes())
    from app.config import get_settings

    # The command's app is built from the environment, like an operator's shell.
    monkeypatch.setenv("DATABASE_URL", db.url)
    monkeypatch.delenv("REDIS_URL", raising=False)
    get_settings.cache_clear()
    set_runtime(None)
    monkeypatch.setattr(shopify_jobs, "clients_for", lambda rt, sid: clients())
    follow_ups = RecordingQueue()  # the app's queue: what the sync hands to workers (not the sync itself)
    monkeypatch.setattr("app.runtime.make_queue", lambda *_a, **_kw: follow_ups)
    result = CliRunner().invoke(cli, ["sync", "--store", str(store_id), "--poll", "0"])
    assert result.exit_code == 0, result.output
    head, _, counts = result.stdout.strip().partition(" done ")
    assert head.startswith("sync ") and head.endswith(":")
    assert ast.literal_eval(counts) == {"locations": 2, "products": 4, "variants": 7, "inventory_levels": 9}
    assert "products" in result.stderr
    result = CliRunner().invoke(cli, ["sync", "--store", "424242"])
    assert result.exit_code == 1
    assert result.output == "Error: store 424242 not found\n"
    recompute = ("jobs.stock.recompute_dirty", (store_id,), f"recompute-dirty-{store_id}")
    assert [(j.func, j.args, j.job_id) for j in follow_ups.specs] == [recompute]
    get_settings.cache_clear()
    set_runtime(None)


def test_sync_progress_of_a_woocommerce_run_uses_its_own_phases(db: Database, client: FlaskClient) -> None:
    from app.platforms.woocommerce import sync as woo_sync
    from app.services.merchant.api_keys import hash_api_key

    with db.session() as s:
        store = Store(
            platform="woocommerce", domain="https://shop.example", name="Woo", api_key_hash=hash_api_key("k-w")
        )
        s.add(store)
        s.flush()
        sid = store.id
        run_id = woo_sync.start_sync(s, RecordingQueue(), sid).id
    with db.session() as s:
        run = s.get(SyncRun, run_id)
        assert run is not None
        run.phase, run.done, run.total = "orders", 50, 100
    body = client.get(f"/api/v1/stores/{sid}/sync", headers={"Authorization": "Bearer k-w"}).get_json()
    # orders is phase 2 of products/orders/webhooks/finalize, half done: (1 + 0.5) / 4.
    assert (body["run"]["phase"], body["run"]["percent"]) == ("orders", 37.5)


@responses.activate
def test_a_step_that_keeps_failing_is_recorded_then_stopped(
    db: Database, store_id: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    from app.config import Settings
    from app.runtime import Runtime, set_runtime
    from app.services.ingest import sync_runs
    from integrations.base import TransientError
    from jobs import shopify as shopify_jobs

    # Shopify answers every call with a 503 (an outage): each attempt of the job fails at the first phase.
    responses.add(responses.POST, GRAPHQL, status=503, body="Service Unavailable")
    monkeypatch.setattr(shopify_jobs, "clients_for", lambda rt, sid: clients())
    monkeypatch.setattr(sync_runs, "MAX_FAILED_STEPS", 2)
    jobs = RecordingQueue()
    set_runtime(Runtime(Settings(env="test"), db, jobs))  # type: ignore[arg-type]
    try:
        with db.session() as s:
            run_id = shopify_sync.start_sync(s, jobs, store_id).id
        with pytest.raises(TransientError) as raised:
            shopify_jobs.run_sync(run_id)
        with db.session() as s:
            run = s.get(SyncRun, run_id)
            assert run is not None
            shown = shopify_sync.progress(run)
        reason = f"{raised.value.__class__.__name__}: {raised.value}"
        assert (shown["status"], shown["phase"], shown["retrying"]) == (
            "running",
            "locations",
            f"attempt 1 failed: {reason}",
        )
        # The second failure at the same point stops the run; the job returns instead of raising.
        assert shopify_jobs.run_sync(run_id) == "failed"
        with db.session() as s:
            run = s.get(SyncRun, run_id)
            assert run is not None
            assert (run.status, run.error) == (
                "failed",
                f"stopped after 2 failed attempts in a row; the last: {reason}",
            )
            store = s.get(Store, store_id)
            assert store is not None and store.status == "active"  # an outage is not a revoked token
    finally:
        set_runtime(None)
