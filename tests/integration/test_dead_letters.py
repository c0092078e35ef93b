"""Dead letters: a poison delivery stops after its attempts (or at once when unreadable), is listed for the operator
(CLI) and the merchant (admin, own store only), counted in /healthz, replayed once, and purged on the retention."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any

import pytest
from click.testing import CliRunner
from flask.testing import FlaskClient
from rq import SimpleWorker
from sqlalchemy import func, select, update

from app.cli import cli
from app.cli_inbox import inbox_cmd
from app.config import Settings
from app.db import Database
from app.models import Product, StockEvent, Store, Variant, WebhookEvent
from app.platforms import registry
from app.queue import InProcessJobQueue, JobSpec, RedisJobQueue
from app.runtime import Runtime, set_runtime
from app.services.ingest import dead_letters, inbox, sweeper
from app.services.ingest.inbox import INBOX_RETENTION, MAX_ATTEMPTS
from app.web.admin.auth import session_fields
from jobs.webhooks import drain_inbox, process_webhook
from tests.conftest import TEST_REDIS_URL, AppFactory
from tests.factories import RecordingQueue, make_store, make_variant

pytestmark = pytest.mark.integration

APPLIED: list[int] = []
BROKEN = {"on": True}
CSRF = "c" * 40
BODY = b'{"id": 7, "email": "maya.chen@example.com"}'


def _flaky(session: Any, jobs: Any, event: WebhookEvent) -> str:
    # Fails while BROKEN is on (a bug, since fixed), then applies like any handler.
    if BROKEN["on"]:
        raise RuntimeError("handler crashed")
    APPLIED.append(event.id)
    return "applied"


def boom(n: int) -> None:
    """A job that always raises, so RQ files it in its failed registry."""
    raise ValueError(f"job {n} cannot go on")


@pytest.fixture(autouse=True)
def _platform(monkeypatch: pytest.MonkeyPatch) -> None:
    APPLIED.clear()
    BROKEN["on"] = True
    monkeypatch.setitem(
        registry.PLATFORMS, "test", SimpleNamespace(name="test", topics={"thing/update": _flaky}, webhook_intake=None)
    )


def _record(
    db: Database,
    jobs: Any,
    store_id: int,
    key: str,
    *,
    platform: str = "test",
    topic: str = "thing/update",
    body: bytes = BODY,
) -> int:
    with db.session() as s:
        rec = inbox.record_delivery(
            s, jobs, platform=platform, topic=topic, dedupe_key=key, body=body, headers={}, store_id=store_id
        )
    assert rec.event_id is not None
    return rec.event_id


def _row(db: Database, event_id: int) -> tuple[str, int, str | None, datetime | None]:
    with db.session() as s:
        ev = s.get(WebhookEvent, event_id)
        assert ev is not None
        return ev.status, ev.attempts, ev.error, ev.retry_at


def _store(db: Database, **kw: Any) -> int:
    with db.session() as s:
        return make_store(s, **kw).id


def _dead_webhook(db: Database, store_id: int, key: str, received_at: datetime | None = None) -> int:
    """A delivery that used up its attempts (marked as the drain marks it)."""
    event_id = _record(db, RecordingQueue(), store_id, key)
    with db.session() as s:
        for _ in range(MAX_ATTEMPTS):
            inbox.mark_failed(s, event_id, "RuntimeError: handler crashed")
        if received_at is not None:
            s.execute(update(WebhookEvent).where(WebhookEvent.id == event_id).values(received_at=received_at))
    return event_id


def _dead_restock(db: Database, store_id: int, occurred_at: datetime) -> int:
    with db.session() as s:
        store = s.get(Store, store_id)
        assert store is not None
        variant = make_variant(s, store, qty=3, sku="RED-M")
        ev = StockEvent(
            store_id=store_id,
            variant_id=variant.id,
            kind="restock",
            quantity_before=0,
            quantity_after=3,
            occurred_at=occurred_at,
            fanout_status="failed",
            run_failures=8,
            last_error="SMTPServerDisconnected: Connection unexpectedly closed",
        )
        s.add(ev)
        s.flush()
        return ev.id


def test_backoff_doubles_to_an_hour_and_the_eighth_failure_is_dead(db: Database) -> None:
    sid = _store(db)
    event_id = _record(db, RecordingQueue(), sid, "d-1")
    t0 = datetime(2026, 12, 7, 10, 0, tzinfo=UTC)
    seen = []
    with db.session() as s:
        for n in range(1, MAX_ATTEMPTS + 1):
            status = inbox.mark_failed(s, event_id, f"RuntimeError: try {n}", now=t0)
            ev = s.get(WebhookEvent, event_id)
            assert ev is not None
            seen.append((status, ev.attempts, ev.retry_at - t0 if ev.retry_at else None))
    minutes = [timedelta(minutes=m) for m in (1, 2, 4, 8, 16, 32, 60)]
    assert seen == [("received", n, minutes[n - 1]) for n in range(1, 8)] + [("failed", 8, None)]
    assert _row(db, event_id) == ("failed", 8, "RuntimeError: try 8", None)


def test_poison_delivery_is_retried_when_due_then_dead_and_never_enqueued_again(db: Database, redis_conn: Any) -> None:
    jobs = RedisJobQueue(TEST_REDIS_URL)
    set_runtime(Runtime(Settings(env="test"), db, jobs))
    sid = _store(db)
    event_id = _record(db, jobs, sid, "poison-1")
    assert jobs.queues["high"].count == 1
    SimpleWorker([jobs.queues["high"]], connection=jobs.connection).work(burst=True)
    status, attempts, error, retry_at = _row(db, event_id)
    assert (status, attempts, error) == ("received", 1, "RuntimeError: handler crashed")
    assert retry_at is not None
    # Not due yet: another drain (a new delivery's) leaves it, and the sweeper does not re-drive it.
    assert drain_inbox(sid) == 0
    assert _row(db, event_id)[1] == 1
    with db.session() as s:
        now = datetime.now(UTC)
        s.execute(update(WebhookEvent).values(enqueued_at=now - timedelta(minutes=5)))
        assert sweeper.stalled_webhooks(s, now, now - timedelta(seconds=60)) == []
    for n in range(2, MAX_ATTEMPTS + 1):
        with db.session() as s:
            s.execute(update(WebhookEvent).values(retry_at=datetime.now(UTC) - timedelta(seconds=1)))
        assert drain_inbox(sid) == 0
        assert _row(db, event_id)[:2] == (("received", n) if n < MAX_ATTEMPTS else ("failed", n))
    assert _row(db, event_id) == ("failed", 8, "RuntimeError: handler crashed", None)
    # Dead: neither a drain nor the sweeper touches it again, however long one waits.
    assert drain_inbox(sid) == 0
    later = datetime.now(UTC) + timedelta(days=1)
    with db.session() as s:
        specs = sweeper.sweep(s, jobs, later, timedelta(seconds=60), sync_job=registry.sync_job_for)
    assert [spec for spec in specs if spec.func == "jobs.webhooks.drain_inbox"] == []
    assert {name: q.count for name, q in jobs.queues.items()} == {"high": 0, "default": 0, "low": 0}
    assert _row(db, event_id)[:2] == ("failed", 8)
    assert APPLIED == []


@pytest.mark.parametrize(
    ("platform", "topic", "body", "error"),
    [
        (
            "shopify",
            "products/update",
            b'{"id": ' + b"[" * 200_000 + b"]" * 200_000 + b"}",
            "PayloadError: products/update: body is not valid JSON (RecursionError)",
        ),
        (
            "woocommerce",
            "product.updated",
            b"<html>502 Bad Gateway</html>",
            "PayloadError: product.updated: body is not valid JSON (JSONDecodeError)",
        ),
        # A shape the mapping refuses: a required field missing.
        ("shopify", "inventory_levels/update", b'{"inventory_item_id": 1}', "PayloadError: available: missing"),
    ],
)
def test_an_unreadable_body_is_dead_at_its_first_attempt(
    db: Database, platform: str, topic: str, body: bytes, error: str
) -> None:
    jobs = InProcessJobQueue(eager=True)
    set_runtime(Runtime(Settings(env="test"), db, jobs))
    sid = _store(db, platform=platform)
    event_id = _record(db, jobs, sid, "bad-1", platform=platform, topic=topic, body=body)
    status, attempts, stored_error, retry_at = _row(db, event_id)
    assert (status, attempts, retry_at) == ("failed", 1, None)
    assert stored_error == error
    assert jobs.errors == []


def test_the_single_delivery_job_records_poison_without_raising_and_leaves_it_dead(db: Database) -> None:
    set_runtime(Runtime(Settings(env="test"), db, RecordingQueue()))
    sid = _store(db, platform="shopify")
    event_id = _record(db, RecordingQueue(), sid, "one-1", platform="shopify", topic="orders/create", body=b"[1, 2")
    assert process_webhook(event_id) == "failed:failed"
    error = "PayloadError: orders/create: body is not valid JSON (JSONDecodeError)"
    assert _row(db, event_id) == ("failed", 1, error, None)
    # Run again (a duplicate job, a replay of the job id): a dead letter is not processed, nor counted again.
    assert process_webhook(event_id) == "already_failed"
    assert _row(db, event_id) == ("failed", 1, error, None)


def _cli(*args: str) -> Any:
    return CliRunner().invoke(inbox_cmd, list(args), catch_exceptions=False)


def test_cli_lists_shows_and_replays_once(db: Database) -> None:
    jobs = InProcessJobQueue(eager=True)
    set_runtime(Runtime(Settings(env="test"), db, jobs))
    a, b = _store(db), _store(db)
    received = datetime(2026, 12, 7, 9, 30, tzinfo=UTC)
    wa = _dead_webhook(db, a, "a-1", received)
    wb = _dead_webhook(db, b, "b-1", received + timedelta(minutes=5))
    occurred = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)
    ra = _dead_restock(db, a, occurred)
    with db.session() as s:
        title = s.scalar(
            select(Product.title)
            .join(Variant, Variant.product_id == Product.id)
            .join(StockEvent, StockEvent.variant_id == Variant.id)
            .where(StockEvent.id == ra)
        )
    what = f"restock of {title}"
    result = _cli("list")
    assert result.exit_code == 0
    err = "error=RuntimeError: handler crashed"
    stamp = occurred.strftime("%Y-%m-%dT%H:%M:%SZ")
    assert result.output.splitlines() == [
        f"webhook {wb} store={b} test thing/update at=2026-12-07T09:35:00Z attempts=8 {err}",
        f"webhook {wa} store={a} test thing/update at=2026-12-07T09:30:00Z attempts=8 {err}",
        f"restock_event {ra} store={a} {what} (RED-M) at={stamp} attempts=8 "
        "error=SMTPServerDisconnected: Connection unexpectedly closed",
        "3 dead letter(s)",
    ]
    result = _cli("list", "--store", str(b), "--kind", "webhook")
    assert result.output.splitlines() == [
        f"webhook {wb} store={b} test thing/update at=2026-12-07T09:35:00Z attempts=8 {err}",
        "1 dead letter(s)",
    ]
    result = _cli("show", str(wa))
    assert result.output.splitlines() == [
        f"webhook {wa}",
        f"  store:    {a}",
        "  what:     test thing/update",
        "  at:       2026-12-07T09:30:00Z",
        "  attempts: 8",
        "  error:    RuntimeError: handler crashed",
        "  key:      a-1",
        "  resource: -",
        f"  body:     {len(BODY)} bytes",
        f"replay with: backsoon inbox replay --kind webhook {wa}",
    ]
    assert "maya.chen" not in result.output  # the body only with --body
    assert BODY.decode() in _cli("show", str(wa), "--body").output

    # A typo in a batch replays nothing; b's dead letter is not a's.
    result = _cli("replay", str(wa), "999999")
    assert (result.exit_code, result.output) == (1, "Error: not a dead letter (webhook): 999999; nothing replayed\n")
    result = _cli("replay", "--store", str(a), str(wb))
    assert result.exit_code == 1
    assert _row(db, wa)[:2] == ("failed", 8) and _row(db, wb)[:2] == ("failed", 8)
    assert _cli("replay").exit_code == 2

    BROKEN["on"] = False  # the bug is fixed
    result = _cli("replay", str(wa))
    assert result.output.splitlines() == [f"replayed webhook {wa}", "1 replayed"]
    assert APPLIED == [wa]
    assert _row(db, wa) == ("processed", 1, None, None)
    result = _cli("replay", str(wa))
    assert result.exit_code == 1 and APPLIED == [wa]  # processed once: it is no dead letter any more
    result = _cli("replay", "--all", "--store", str(b))
    assert result.output.splitlines() == [f"replayed webhook {wb}", "1 replayed"]
    assert APPLIED == [wa, wb]
    assert _cli("list", "--kind", "webhook").output == "0 dead letter(s)\n"


def test_replayed_restock_event_is_due_again_with_its_failures_reset(db: Database) -> None:
    jobs = RecordingQueue()
    set_runtime(Runtime(Settings(env="test"), db, jobs))
    a = _store(db)
    ra = _dead_restock(db, a, datetime.now(UTC) - timedelta(hours=1))
    now = datetime.now(UTC)
    with db.session() as s:
        assert dead_letters.replay(s, jobs, "restock_event", [ra], store_id=a, now=now) == [ra]
    minute = int(now.timestamp() // 60)
    assert jobs.specs == [JobSpec("jobs.notify.fanout_event", (ra,), job_id=f"fanout-{ra}-r{minute}")]
    with db.session() as s:
        ev = s.get(StockEvent, ra)
        assert ev is not None
        assert (ev.fanout_status, ev.run_failures, ev.last_error, ev.next_wave_at) == ("pending", 0, None, now)


def test_the_inbox_command_is_registered() -> None:
    assert CliRunner().invoke(cli, ["inbox", "--help"]).exit_code == 0


def test_cli_lists_failed_rq_jobs(db: Database, redis_conn: Any) -> None:
    jobs = RedisJobQueue(TEST_REDIS_URL)
    set_runtime(Runtime(Settings(env="test"), db, jobs))
    assert jobs.enqueue(JobSpec(f"{__name__}.boom", (3,), job_id="boom-3", queue="low"))
    SimpleWorker([jobs.queues["low"]], connection=jobs.connection).work(burst=True)
    assert dead_letters.failed_job_count(jobs) == 1
    lines = _cli("list", "--kind", "job").output.splitlines()
    assert len(lines) == 2 and lines[1] == "1 dead letter(s)"
    assert re.fullmatch(
        rf"job boom-3 queue=low {__name__}\.boom\(3,\) at=\d{{4}}-\d\d-\d\dT\d\d:\d\d:\d\dZ "
        r"error=ValueError: job 3 cannot go on",
        lines[0],
    )


def test_healthz_counts_dead_letters(make_app: AppFactory, db: Database, redis_conn: Any) -> None:
    a = _store(db)
    _dead_webhook(db, a, "a-1")
    _dead_webhook(db, a, "a-2")
    _dead_restock(db, a, datetime.now(UTC) - timedelta(hours=2))
    _dead_restock(db, a, datetime.now(UTC) - INBOX_RETENTION - timedelta(hours=1))  # expired as a dead letter
    jobs = RedisJobQueue(TEST_REDIS_URL)
    resp = make_app(jobs=jobs).test_client().get("/healthz")
    assert resp.status_code == 200
    assert resp.get_json() == {
        "status": "ok",
        "database": {"ok": True, "dialect": "postgresql"},
        "queue": {"ok": True, "mode": "redis", "depth": {"high": 0, "default": 0, "low": 0}, "failed_jobs": 0},
        "dead_letters": {"webhooks": 2, "restock_events": 1},
    }


def test_purge_removes_dead_letters_past_retention(db: Database) -> None:
    a = _store(db)
    now = datetime.now(UTC)
    old = _dead_webhook(db, a, "old", now - INBOX_RETENTION - timedelta(minutes=1))
    fresh = _dead_webhook(db, a, "fresh", now - INBOX_RETENTION + timedelta(minutes=1))
    old_restock = _dead_restock(db, a, now - INBOX_RETENTION - timedelta(minutes=1))
    fresh_restock = _dead_restock(db, a, now - INBOX_RETENTION + timedelta(minutes=1))
    with db.session() as s:
        assert inbox.purge(s, now) == 1
    with db.session() as s:
        assert list(s.scalars(select(WebhookEvent.id))) == [fresh]
        assert [(d.kind, d.id) for d in dead_letters.list_dead(s, now=now)] == [
            ("webhook", fresh),
            ("restock_event", fresh_restock),
        ]
        assert dead_letters.counts(s, now) == {"webhooks": 1, "restock_events": 1}
        # The expired restock can no longer be replayed; its row stays as stock history.
        assert dead_letters.replay(s, RecordingQueue(), "restock_event", [old_restock], now=now) == []
        assert s.scalar(select(func.count()).select_from(StockEvent)) == 2
    assert old != fresh


# --- the merchant admin ---------------------------------------------------------------------------------------


def _client(make_app: AppFactory, store_id: int, jobs: Any) -> FlaskClient:
    client = make_app(jobs=jobs, secret_key="k").test_client()
    with client.session_transaction() as sess:
        sess.update(session_fields(store_id, 0))
        sess["admin_csrf"] = CSRF
    return client


def _table_rows(html: str, table: str) -> list[list[str]]:
    body = re.search(rf'<table id="{table}">.*?<tbody>(.*?)</tbody>', html, re.S)
    assert body is not None
    rows = []
    for row in re.findall(r"<tr[^>]*>(.*?)</tr>", body.group(1), re.S):
        cells = re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)
        rows.append([re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", c)).strip() for c in cells[:4]])
    return rows


def test_admin_lists_and_replays_only_its_own_dead_letters(make_app: AppFactory, db: Database) -> None:
    jobs = InProcessJobQueue(eager=True)
    a, b = _store(db, timezone="UTC"), _store(db)
    received = datetime(2026, 12, 7, 9, 30, tzinfo=UTC)
    wa = _dead_webhook(db, a, "a-1", received)
    wb = _dead_webhook(db, b, "b-1", received)
    client = _client(make_app, a, jobs)

    page = client.get("/admin/failed")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    rows = _table_rows(html, "dead-webhooks")
    assert [(r[0], r[2], r[3]) for r in rows] == [("thing/update", "8", "RuntimeError: handler crashed")]
    assert f'data-dead="{wb}"' not in html and "maya.chen" not in html
    assert 'id="nav-dead-letters"' in html and "Failed updates (1)" in html
    dashboard = client.get("/admin/")
    assert dashboard.status_code == 200 and "Failed updates (1)" in dashboard.get_data(as_text=True)

    # Another store's id: 404, and it stays dead.
    resp = client.post(f"/admin/failed/webhook/{wb}/replay", data={"csrf_token": CSRF})
    assert resp.status_code == 404
    assert _row(db, wb)[:2] == ("failed", 8)
    assert client.post("/admin/failed/job/1/replay", data={"csrf_token": CSRF}).status_code == 404
    # Without the form's token: refused, nothing replayed.
    resp = client.post(f"/admin/failed/webhook/{wa}/replay")
    assert resp.status_code == 403
    assert _row(db, wa)[:2] == ("failed", 8) and APPLIED == []

    BROKEN["on"] = False
    resp = client.post(f"/admin/failed/webhook/{wa}/replay", data={"csrf_token": CSRF})
    assert resp.status_code == 303 and resp.headers["Location"].endswith("/admin/failed")
    assert APPLIED == [wa] and _row(db, wa) == ("processed", 1, None, None)
    assert _row(db, wb)[:2] == ("failed", 8)
    html = client.get("/admin/failed").get_data(as_text=True)
    assert 'id="no-dead-letters"' in html and 'id="nav-dead-letters"' not in html
    dashboard = client.get("/admin/")
    assert dashboard.status_code == 200 and 'id="nav-dead-letters"' not in dashboard.get_data(as_text=True)


def test_admin_replay_all_replays_the_stores_own(make_app: AppFactory, db: Database) -> None:
    jobs = InProcessJobQueue(eager=True)
    a, b = _store(db), _store(db)
    a1, a2 = _dead_webhook(db, a, "a-1"), _dead_webhook(db, a, "a-2")
    wb = _dead_webhook(db, b, "b-1")
    client = _client(make_app, a, jobs)
    BROKEN["on"] = False
    resp = client.post("/admin/failed/webhook/replay-all", data={"csrf_token": CSRF})
    assert resp.status_code == 303
    assert sorted(APPLIED) == [a1, a2]
    assert _row(db, wb)[:2] == ("failed", 8)
    assert "2 sent for another try." in client.get("/admin/failed").get_data(as_text=True)
