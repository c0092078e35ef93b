"""10,000 subscribers, worker SIGKILLed mid-fan-out: the sweeper resumes it, none missed, duplicates within budget
(at most one per connection: the message between its final dot and the recorded reply)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, insert, select

from app import job_specs
from app.config import Settings
from app.db import Database
from app.models import Delivery, StockEvent, Subscription
from app.services.ingest import sweeper
from app.services.notify import fanout
from tests.conftest import ROOT
from tests.factories import make_store, make_variant
from tests.smtpd import smtp_server

pytestmark = [pytest.mark.integration, pytest.mark.truncating("a worker subprocess sends on connections of its own")]

SUBSCRIBERS = 10_000
WORKER = """
import sys
from app.config import Settings
from app.db import Database
from app.services.notify import fanout
db = Database(sys.argv[1])
settings = Settings(env="test", smtp_url=sys.argv[2], app_url="https://app.test", secret_key="k",
                    mail_from="BS <bs@mail.test>")
print(fanout.run_fanout(db, settings, int(sys.argv[3])), flush=True)
"""


def test_killed_worker_resumed_by_sweeper(db: Database, pg_url: str) -> None:
    with db.session() as s:
        store = make_store(s)
        variant = make_variant(s, store, qty=SUBSCRIBERS)
        created = datetime.now(UTC) - timedelta(days=1)
        s.execute(
            insert(Subscription),
            [
                {
                    "store_id": store.id,
                    "variant_id": variant.id,
                    "email": f"s{i}@x.test",
                    "state": "active",
                    "locale": ("en", "nl", "fr", "de")[i % 4],
                    "created_at": created + timedelta(seconds=i),
                    "updated_at": created,
                }
                for i in range(SUBSCRIBERS)
            ],
        )
        ev = StockEvent(
            store_id=store.id, variant_id=variant.id, kind="restock", quantity_before=0,
            quantity_after=SUBSCRIBERS, fanout_status="pending",
        )  # fmt: skip
        s.add(ev)
        s.flush()
        event_id = ev.id

    with smtp_server() as (handler, url):
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        proc = subprocess.Popen([sys.executable, "-c", WORKER, pg_url, url, str(event_id)], cwd=ROOT, env=env)
        try:
            deadline = time.monotonic() + 120
            while len(handler.received) < 3000:
                assert proc.poll() is None, "the worker finished before it could be killed"
                assert time.monotonic() < deadline
                time.sleep(0.01)
            proc.send_signal(signal.SIGKILL)
            proc.wait(10)
        finally:
            if proc.poll() is None:
                proc.kill()
        killed_at = datetime.now(UTC)
        received_at_kill = len(handler.received)
        assert 3000 <= received_at_kill < SUBSCRIBERS

        with db.session() as s:
            ev_row = s.get(StockEvent, event_id)
            assert ev_row is not None and ev_row.fanout_status == "running" and ev_row.lease_until is not None
            lease_until = ev_row.lease_until
            sent_rows = s.execute(
                select(func.count()).where(Delivery.stock_event_id == event_id, Delivery.status == "sent")
            ).scalar_one()
        # No row says 'sent' for a message the server did not accept; at most the one in flight was accepted with
        # its reply not yet recorded.
        assert len(handler.received) - sent_rows in (0, 1)
        with db.session() as s:
            sent_to = set(
                s.scalars(
                    select(Subscription.email)
                    .join(Delivery, Delivery.subscription_id == Subscription.id)
                    .where(Delivery.stock_event_id == event_id, Delivery.status == "sent")
                )
            )
        assert sent_to <= set(handler.by_rcpt())

        # The sweeper (every 30 s from the cron) picks it up once the 15 s lease has expired.
        settings = Settings(
            env="test", smtp_url=url, app_url="https://app.test", secret_key="k", mail_from="BS <bs@mail.test>"
        )
        while True:
            now = datetime.now(UTC)
            with db.session() as s:
                specs = sweeper.stalled_fanouts(s, now, now - timedelta(seconds=60))
            if specs:
                break
            assert now < killed_at + timedelta(seconds=60)
            time.sleep(0.5)
        resumed_at = datetime.now(UTC)
        assert resumed_at >= lease_until
        assert resumed_at - lease_until < timedelta(seconds=2)  # polled each 0.5 s here; cron adds at most 30 s
        assert [(j.func, j.args) for j in specs] == [(job_specs.FANOUT_EVENT, (event_id,))]
        result = fanout.run_fanout(db, settings, event_id)
        assert result.status == "done"
        with db.session() as s:
            ev_row = s.get(StockEvent, event_id)
            # The dead run was counted when the resume took the lease over, and cleared when the wave completed.
            assert ev_row is not None and (ev_row.run_failures, ev_row.last_error) == (
                0, "the run stopped without finishing (lease expired)",
            )  # fmt: skip

        counts = handler.by_rcpt()
        assert len(counts) == SUBSCRIBERS, "someone was missed"
        # Budget: one connection, so at most one address mailed twice.
        assert len(handler.received) - SUBSCRIBERS in (0, 1)
        assert set(counts.values()) <= {1, 2}
    with db.session() as s:
        assert s.execute(
            select(Delivery.status, func.count()).where(Delivery.stock_event_id == event_id).group_by(Delivery.status)
        ).all() == [("sent", SUBSCRIBERS)]
        assert s.execute(select(func.count()).where(Subscription.state == "notified")).scalar_one() == SUBSCRIBERS
