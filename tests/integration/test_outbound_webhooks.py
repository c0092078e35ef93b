"""The outbound signal webhook: recorded once per change, signed, retried with backoff, given up, URL checks."""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select

from app.config import Settings
from app.db import Database
from app.models import OutboundWebhookDelivery, StockState, Store
from app.platforms import registry
from app.services.notify import outbound_webhooks as hooks
from app.services.stock.recompute import recompute
from tests.factories import make_store, make_variant
from tests.integration.test_exports import CSRF, signed_in

pytestmark = pytest.mark.integration

SETTINGS = Settings(env="test", app_url="http://backsoon.test")


class Receiver:
    """A local HTTP server that records POSTs and answers with the next queued status (default 200)."""

    def __init__(self) -> None:
        self.requests: list[tuple[dict[str, str], bytes]] = []
        self.statuses: list[int] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.requests.append((dict(self.headers.items()), body))
                self.send_response(receiver.statuses.pop(0) if receiver.statuses else 200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *_args: Any) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    """Admin links on the test app URL."""
    return {"app_url": "http://backsoon.test"}


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.close()


def _setup(db: Database, url: str) -> tuple[int, int, str]:
    with db.session() as s:
        store = make_store(s, platform="woocommerce", name="Hooked", domain="hooked.example")
        variant = make_variant(s, store, qty=0, sku="TEE-S", external_id="77")
        recompute(s, store.id)
        secret = hooks.configure(s, SETTINGS, store, url, new_secret=True)
        assert secret is not None and secret.startswith("whsec_")
        return store.id, variant.id, secret


def _rows(db: Database) -> list[OutboundWebhookDelivery]:
    with db.session() as s:
        return list(s.scalars(select(OutboundWebhookDelivery).order_by(OutboundWebhookDelivery.id)))


def test_a_signal_change_is_recorded_once_and_delivered_signed(db: Database, receiver: Receiver) -> None:
    store_id, variant_id, secret = _setup(db, receiver.url)
    with db.session() as s:
        assert hooks.record_signal_changes(s, store_id, registry.feed_id_scheme) == 1
        assert hooks.record_signal_changes(s, store_id, registry.feed_id_scheme) == 0  # nothing new: no second row
    run = hooks.deliver_due(db, SETTINGS, store_id, allow_private=True)
    assert (run.sent, run.retrying, run.failed) == (1, 0, 0)
    headers, body = receiver.requests[0]
    expected = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    assert headers["X-BackSoon-Signature"] == expected
    assert headers["X-BackSoon-Event"] == "signal.changed"
    doc = json.loads(body)
    assert (doc["signal"], doc["previous_signal"], doc["reason"]) == ("pause", "ok", "out_of_stock")
    assert doc["variant"]["id"] == variant_id and doc["variant"]["feed_id"] == "TEE-S"
    (row,) = _rows(db)
    assert (row.status, row.attempts, row.last_status_code) == ("sent", 1, 200)
    assert row.dedupe_key.startswith(f"signal:{variant_id}:pause:")
    # Delivering again sends nothing: the row is done.
    assert hooks.deliver_due(db, SETTINGS, store_id, allow_private=True).sent == 0
    assert len(receiver.requests) == 1

    # The signal goes back to ok: one new delivery, previous_signal pause.
    with db.session() as s:
        state = s.get(StockState, variant_id)
        assert state is not None
        state.signal, state.changed_at = "ok", datetime.now(UTC)
        assert hooks.record_signal_changes(s, store_id, registry.feed_id_scheme) == 1
    hooks.deliver_due(db, SETTINGS, store_id, allow_private=True)
    second = json.loads(receiver.requests[1][1])
    assert (second["signal"], second["previous_signal"]) == ("ok", "pause")


def test_a_500_is_retried_with_backoff_then_given_up(db: Database, receiver: Receiver) -> None:
    store_id, _, _ = _setup(db, receiver.url)
    with db.session() as s:
        hooks.record_signal_changes(s, store_id, registry.feed_id_scheme)
    receiver.statuses = [500, 500, 500]
    t0 = datetime.now(UTC) + timedelta(seconds=1)
    run = hooks.deliver_due(db, SETTINGS, store_id, now=t0, max_attempts=3, allow_private=True)
    assert (run.sent, run.retrying) == (0, 1)
    (row,) = _rows(db)
    assert (row.status, row.attempts, row.last_status_code, row.last_error) == ("pending", 1, 500, "HTTP 500")
    assert row.next_attempt_at == t0 + timedelta(minutes=1)
    # Not due yet: no request.
    hooks.deliver_due(db, SETTINGS, store_id, now=t0 + timedelta(seconds=59), max_attempts=3, allow_private=True)
    assert len(receiver.requests) == 1
    t1 = t0 + timedelta(minutes=1)
    hooks.deliver_due(db, SETTINGS, store_id, now=t1, max_attempts=3, allow_private=True)
    (row,) = _rows(db)
    assert (row.attempts, row.next_attempt_at) == (2, t1 + timedelta(minutes=2))
    run = hooks.deliver_due(db, SETTINGS, store_id, now=t1 + timedelta(minutes=2), max_attempts=3, allow_private=True)
    assert run.failed == 1
    (row,) = _rows(db)
    assert (row.status, row.attempts, row.sent_at) == ("failed", 3, None)
    assert len(receiver.requests) == 3
    hooks.deliver_due(db, SETTINGS, store_id, now=t1 + timedelta(days=1), allow_private=True)
    assert len(receiver.requests) == 3


def test_backoff_doubles_and_is_capped() -> None:
    assert [hooks.backoff(n) for n in (1, 2, 3)] == [timedelta(minutes=m) for m in (1, 2, 4)]
    assert hooks.backoff(30) == timedelta(hours=6)


def test_a_private_url_is_refused_in_the_admin_and_at_delivery(db: Database, receiver: Receiver, app: Flask) -> None:
    store_id, _, _ = _setup(db, receiver.url)
    with db.session() as s:
        hooks.record_signal_changes(s, store_id, registry.feed_id_scheme)
    # Without allow_private the loopback receiver is refused before any request is made.
    run = hooks.deliver_due(db, SETTINGS, store_id)
    assert (run.sent, run.retrying) == (0, 1)
    assert receiver.requests == []
    (row,) = _rows(db)
    assert row.last_status_code is None and "non-public address 127.0.0.1" in (row.last_error or "")

    client = signed_in(app, store_id)
    resp = client.post("/admin/exports/webhook", data={"webhook_url": "http://10.0.0.5/hook", "action": "save", **CSRF})
    html = resp.get_data(as_text=True)
    assert resp.status_code == 400
    assert 'id="webhook_url-error">This URL cannot be used: host &#39;10.0.0.5&#39; resolves to non-public' in html
    assert 'aria-invalid="true"' in html


def test_https_is_required_in_production() -> None:
    prod = dataclasses.replace(SETTINGS, env="production")
    with pytest.raises(ValueError, match="must start with https://"):
        hooks.validate_url("http://hooks.example.com/x", prod)


def test_saving_a_url_shows_the_secret_once_and_removing_it_stops_deliveries(db: Database, app: Flask) -> None:
    with db.session() as s:
        store = make_store(s, platform="woocommerce")
        make_variant(s, store, qty=0)
        recompute(s, store.id)
        store_id = store.id
    client = signed_in(app, store_id)
    # Public names only resolve where there is DNS; an IP literal of a public host needs none.
    resp = client.post("/admin/exports/webhook", data={"webhook_url": "https://93.184.215.14/hook", **CSRF})
    assert resp.status_code == 200
    html = resp.get_data(as_text=True)
    assert 'id="webhook-secret"' in html and "whsec_" in html
    assert "whsec_" not in client.get("/admin/exports").get_data(as_text=True)
    with db.session() as s:
        assert hooks.record_signal_changes(s, store_id, registry.feed_id_scheme) == 1
    # Turning it off needs the confirm step: without it nothing changes.
    for action in ("remove", "rotate_secret"):
        refused = client.post("/admin/exports/webhook", data={"action": action, **CSRF})
        assert refused.status_code == 400
        assert 'name="confirm" value="yes"' in refused.get_data(as_text=True)
    with db.session() as s:
        kept = s.get(Store, store_id)
        assert kept is not None and kept.outbound_webhook_url == "https://93.184.215.14/hook"
    assert [r.status for r in _rows(db)] == ["pending"]
    step = client.get("/admin/exports/webhook?action=remove").get_data(as_text=True)
    assert "BackSoon stops posting signal changes to https://93.184.215.14/hook" in step
    client.post("/admin/exports/webhook", data={"action": "remove", "confirm": "yes", **CSRF})
    (row,) = _rows(db)
    assert (row.status, row.last_error) == ("failed", "the webhook was turned off")
    with db.session() as s:
        assert hooks.record_signal_changes(s, store_id, registry.feed_id_scheme) == 0
