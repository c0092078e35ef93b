"""`backsoon sync --store N [--reconcile]` and the admin's "Sync now" button, for every platform via the registry."""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
import responses
from click.testing import CliRunner
from flask.testing import FlaskClient
from sqlalchemy import func, select

from app.cli import cli
from app.config import Settings, get_settings
from app.db import Database
from app.infra.crypto import cipher_for
from app.models import Store, SyncRun
from app.platforms.woocommerce import sync as woo_sync
from app.runtime import set_runtime
from app.web.admin.auth import session_fields
from integrations.woocommerce.client import WooClient
from tests.conftest import AppFactory
from tests.factories import RecordingQueue, make_store
from tests.integration.test_woo_sync import CONSUMER_SECRET, KEY, SECRET, STORE_URL, FakeWoo
from tests.integration.test_woo_sync import client as woo_client

pytestmark = pytest.mark.integration

_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
LAST_SYNCED = datetime(2026, 11, 22, 1, 55, 23, tzinfo=UTC)


def sync_runs(db: Database) -> list[tuple[int, str, str]]:
    """Every sync run as (store id, kind, status)."""
    with db.session() as s:
        return [(r.store_id, r.kind, r.status) for r in s.scalars(select(SyncRun).order_by(SyncRun.id))]


@pytest.fixture
def operator_env(db: Database, monkeypatch: pytest.MonkeyPatch) -> Iterator[Settings]:
    """The command's runtime built from the environment, like an operator's shell, on the test database."""
    monkeypatch.setenv("DATABASE_URL", db.url)
    monkeypatch.setenv("APP_URL", "https://backsoon.example")
    monkeypatch.delenv("REDIS_URL", raising=False)
    get_settings.cache_clear()
    set_runtime(None)
    yield get_settings()
    get_settings.cache_clear()
    set_runtime(None)


@responses.activate
@pytest.mark.truncating("the CLI builds its own Database from DATABASE_URL")
def test_cli_reconciles_a_woocommerce_store_in_the_foreground(
    db: Database, operator_env: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    woo = FakeWoo()
    woo.install()
    cipher = cipher_for(operator_env)
    with db.session() as s:
        store = make_store(
            s,
            platform="woocommerce",
            domain=STORE_URL,
            credentials_encrypted=cipher.encrypt_json({"consumer_key": KEY, "consumer_secret": CONSUMER_SECRET}),
            webhook_secret_encrypted=cipher.encrypt(SECRET.encode()),
            last_synced_at=LAST_SYNCED,
        )
        store_id = store.id

    def offline_client_for(settings: Settings, found: Store, **_kw: Any) -> WooClient:
        assert found.id == store_id
        return woo_client()

    monkeypatch.setattr(woo_sync, "client_for", offline_client_for)
    follow_ups = RecordingQueue()  # the app's queue: what the sync hands to workers (write-back, recomputes)
    monkeypatch.setattr("app.runtime.make_queue", lambda *_a, **_kw: follow_ups)
    result = CliRunner().invoke(cli, ["sync", "--store", str(store_id), "--reconcile", "--poll", "0"])
    assert result.exit_code == 0, result.output
    assert sync_runs(db) == [(store_id, "reconcile", "done")]
    head, _, counts = result.stdout.strip().partition(" done ")
    assert head.startswith("sync ") and head.endswith(":")
    assert ast.literal_eval(counts) == {
        "products": 4,
        "variants": 6,
        "inventory_levels": 6,
        "orders": 4,
        "refunds": 1,
        "webhooks_repaired": 7,
    }
    # The run is not handed to a worker; what it changed is, to be recomputed (once per phase that changed stock).
    recompute = ("jobs.stock.recompute_dirty", (store_id,), f"recompute-dirty-{store_id}")
    assert [(j.func, j.args, j.job_id) for j in follow_ups.specs] == [recompute, recompute]
    assert "finalize" in result.stderr
    # A reconciliation reads only what changed since the last sync (less the overlap), in GMT.
    reads = woo.calls("GET", "products") + woo.calls("GET", "orders")
    assert [q.get("status") for q, _ in reads] == [None, ["trash"], None]  # changed products, trashed ones, orders
    assert all(q["modified_after"] == ["2026-11-22T01:50:23"] for q, _ in reads)


@pytest.mark.truncating("the CLI builds its own Database from DATABASE_URL")
def test_cli_on_the_demo_store_says_there_is_nothing_to_sync_and_creates_no_run(
    db: Database, operator_env: Settings
) -> None:
    with db.session() as s:
        store_id = make_store(s, platform="demo").id
    for args in (["--reconcile"], []):
        result = CliRunner().invoke(cli, ["sync", "--store", str(store_id), *args])
        assert result.exit_code == 1
        assert result.output == f"Error: store {store_id}: nothing to sync for the demo store\n"
    assert sync_runs(db) == []
    result = CliRunner().invoke(cli, ["sync", "--store", "424242"])
    assert (result.exit_code, result.output) == (1, "Error: store 424242 not found\n")
    assert sync_runs(db) == []


@pytest.fixture
def recording() -> RecordingQueue:
    return RecordingQueue()


def signed_in(client: FlaskClient, store_id: int) -> str:
    """Sign the client in to the store's admin; the CSRF token of its dashboard's forms."""
    with client.session_transaction() as sess:
        sess.update(session_fields(store_id, 0))
    html = client.get("/admin/").get_data(as_text=True)
    assert 'action="/admin/sync"' in html and ">Sync now</button>" in html
    match = _CSRF.search(html)
    assert match is not None
    return match.group(1)


def flashes(client: FlaskClient) -> list[str]:
    """The flash messages the dashboard shows next."""
    html = client.get("/admin/").get_data(as_text=True)
    return re.findall(r'<p class="flash flash--\w+" data-toast="\w+">([^<]*)</p>', html)


@pytest.mark.parametrize(
    ("platform", "job", "job_prefix", "label", "identity"),
    [
        (
            "woocommerce",
            "jobs.woocommerce.run_sync",
            "woo-sync",
            "WooCommerce",
            ("jobs.woocommerce.refresh_identity", "woo-identity"),
        ),
        ("shopify", "jobs.shopify.run_sync", "sync", "Shopify", ("jobs.shopify.read_identity", "shopify-identity")),
    ],
)
def test_sync_now_starts_one_reconciliation_and_a_second_click_adds_nothing(
    db: Database,
    make_app: AppFactory,
    recording: RecordingQueue,
    platform: str,
    job: str,
    job_prefix: str,
    label: str,
    identity: tuple[str, str],
) -> None:
    client = make_app(jobs=recording).test_client()
    with db.session() as s:
        store_id = make_store(s, platform=platform, identity_read_at=LAST_SYNCED, last_synced_at=LAST_SYNCED).id
    token = signed_in(client, store_id)

    resp = client.post("/admin/sync", data={"csrf_token": token})
    assert resp.status_code == 302 and resp.headers["Location"] == "/admin/#sync"
    with db.session() as s:
        run_id = s.execute(select(SyncRun.id)).scalar_one()
    # The store's own settings are read again too (WooCommerce has no webhook for them).
    assert [(j.func, j.args, j.job_id) for j in recording.specs] == [
        (job, (run_id,), f"{job_prefix}-{run_id}"),
        (identity[0], (store_id,), f"{identity[1]}-{store_id}"),
    ]
    assert sync_runs(db) == [(store_id, "reconcile", "running")]
    assert flashes(client) == [f"Sync from {label} started: changes since the last sync are being read."]

    resp = client.post("/admin/sync", data={"csrf_token": token})
    assert resp.status_code == 302
    assert len(recording.specs) == 2
    assert sync_runs(db) == [(store_id, "reconcile", "running")]
    assert flashes(client) == [f"A sync from {label} is already running; its progress is shown below."]


def test_sync_now_without_the_csrf_token_is_refused_and_starts_nothing(
    db: Database, make_app: AppFactory, recording: RecordingQueue
) -> None:
    client = make_app(jobs=recording).test_client()
    with db.session() as s:
        store_id = make_store(s, platform="woocommerce").id
    signed_in(client, store_id)
    for data in ({}, {"csrf_token": "forged"}):
        resp = client.post("/admin/sync", data=data)
        assert resp.status_code == 403
        assert "This form expired" in resp.get_data(as_text=True)
    assert recording.specs == []
    with db.session() as s:
        assert s.execute(select(func.count()).select_from(SyncRun)).scalar_one() == 0


def test_sync_now_on_the_demo_store_says_there_is_nothing_to_sync(
    db: Database, make_app: AppFactory, recording: RecordingQueue
) -> None:
    client = make_app(jobs=recording).test_client()
    with db.session() as s:
        store_id = make_store(s, platform="demo").id
    token = signed_in(client, store_id)
    assert client.post("/admin/sync", data={"csrf_token": token}).status_code == 302
    assert recording.specs == []
    assert sync_runs(db) == []
    assert flashes(client) == ["Nothing to sync for the demo store: its catalog is not read from a store."]
