"""Sent means accepted, under kill -9: the SMTP server killed mid-send, and the `rq worker` process killed with its
work horse and forked senders under it. Messages are counted per address at the server, which writes each
accepted message down before it replies (tests/smtpd_proc.py)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, insert, select

from app import job_specs
from app.config import Settings
from app.db import Database
from app.models import Delivery, StockEvent, Subscription
from app.queue import RedisJobQueue
from app.services.notify import fanout
from tests.conftest import ROOT, TEST_REDIS_URL
from tests.factories import make_store, make_variant
from tests.smtpd import free_port
from tests.smtpd_proc import received

pytestmark = [pytest.mark.integration, pytest.mark.truncating("worker and SMTP server subprocesses")]

ENV = {**os.environ, "PYTHONPATH": str(ROOT)}
WORKER = """
import sys
from app.config import Settings
from app.db import Database
from app.services.notify import fanout
db = Database(sys.argv[1])
settings = Settings(env="test", smtp_url=sys.argv[2], app_url="https://app.test", secret_key="k",
                    mail_from="BS <bs@mail.test>")
r = fanout.run_fanout(db, settings, int(sys.argv[3]))
print(r.status, r.sent, flush=True)
"""


@contextmanager
def smtp_process(port: int, log: Path, delay_ms: int = 0) -> Iterator[subprocess.Popen[str]]:
    """tests/smtpd_proc.py on ``port``, ready when this yields; SIGKILLed on the way out if still running."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.smtpd_proc", str(port), str(log), "--delay-ms", str(delay_ms)],
        cwd=ROOT, env=ENV, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(10)


def _seed(db: Database, n: int) -> tuple[int, list[str]]:
    with db.session() as s:
        store = make_store(s)
        variant = make_variant(s, store, qty=n)
        created = datetime.now(UTC) - timedelta(days=1)
        emails = [f"s{i}@x.test" for i in range(n)]
        s.execute(
            insert(Subscription),
            [
                {"store_id": store.id, "variant_id": variant.id, "email": e, "state": "active", "locale": "en",
                 "created_at": created + timedelta(seconds=i), "updated_at": created}
                for i, e in enumerate(emails)
            ],
        )  # fmt: skip
        ev = StockEvent(
            store_id=store.id, variant_id=variant.id, kind="restock", quantity_before=0, quantity_after=n,
            fanout_status="pending",
        )  # fmt: skip
        s.add(ev)
        s.flush()
        return ev.id, emails


def _sent(db: Database, event_id: int) -> set[str]:
    with db.session() as s:
        return set(
            s.scalars(
                select(Subscription.email)
                .join(Delivery, Delivery.subscription_id == Subscription.id)
                .where(Delivery.stock_event_id == event_id, Delivery.status == "sent")
            )
        )


def _wait_for(log: Path, count: int, proc: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + 120
    while sum(received(str(log)).values()) < count:
        assert proc.poll() is None, "the sender finished before the kill"
        assert time.monotonic() < deadline
        time.sleep(0.01)


def test_smtp_server_killed_mid_send_nobody_missed_no_row_sent_that_was_not_accepted(
    db: Database, pg_url: str, tmp_path: Path
) -> None:
    n = 2000
    event_id, emails = _seed(db, n)
    port, log = free_port(), tmp_path / "received.log"
    url = f"smtp://127.0.0.1:{port}?timeout=5"
    with smtp_process(port, log) as server:
        worker = subprocess.Popen(
            [sys.executable, "-c", WORKER, pg_url, url, str(event_id)], cwd=ROOT, env=ENV, stdout=subprocess.PIPE,
            text=True,
        )  # fmt: skip
        try:
            _wait_for(log, 500, worker)
            server.send_signal(signal.SIGKILL)
            server.wait(10)
            out, _ = worker.communicate(timeout=60)
        finally:
            if worker.poll() is None:
                worker.kill()
    # The run saw the connection go and handed the event back for a retry, with what it had sent recorded.
    status, sent_count = out.split()
    assert status == "pending"
    at_kill = received(str(log))
    sent = _sent(db, event_id)
    assert len(sent) == int(sent_count)
    assert 500 <= len(sent) < n
    # Every row 'sent' was accepted; at most the one in flight was accepted with its reply lost.
    assert sent <= set(at_kill)
    assert len(set(at_kill) - sent) <= 1
    assert set(at_kill.values()) == {1}
    with db.session() as s:
        ev = s.get(StockEvent, event_id)
        assert ev is not None
        assert (ev.fanout_status, ev.run_failures, ev.lease_until) == ("pending", 1, None)
        assert ev.next_wave_at is not None
        retry_at = ev.next_wave_at

    # The server comes back (same port, same log); the retry, once due, finishes the wave.
    settings = Settings(
        env="test", smtp_url=url, app_url="https://app.test", secret_key="k", mail_from="BS <bs@mail.test>"
    )
    with smtp_process(port, log):
        assert fanout.run_fanout(db, settings, event_id, clock=lambda: retry_at - timedelta(seconds=1)).status == (
            "leased-out"
        )
        result = fanout.run_fanout(db, settings, event_id, clock=lambda: retry_at)
    assert result.status == "done"
    counts = received(str(log))
    assert set(counts) == set(emails), "someone was missed"
    # Budget: at most one duplicate per connection (one connection here), from the message in flight at the kill.
    assert sum(counts.values()) - n <= 1
    assert set(counts.values()) <= {1, 2}
    with db.session() as s:
        assert s.execute(
            select(Delivery.status, func.count()).where(Delivery.stock_event_id == event_id).group_by(Delivery.status)
        ).all() == [("sent", n)]
        ev = s.get(StockEvent, event_id)
        assert ev is not None and (ev.fanout_status, ev.run_failures) == ("done", 0)


def _children(pid: int) -> list[int]:
    out: list[int] = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
            out.append(int(entry.name))
    return out


def _descendants(pid: int) -> list[int]:
    found, todo = [], [pid]
    while todo:
        kids = _children(todo.pop())
        found += kids
        todo += kids
    return found


def _alive(pid: int) -> bool:
    try:
        state = (Path("/proc") / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"  # a zombie has stopped; only its exit status is left to reap


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG is Linux's")
def test_killing_the_rq_worker_stops_its_work_horse_its_scheduler_and_every_sender(
    db: Database, pg_url: str, tmp_path: Path, redis_conn: object
) -> None:
    n = 4000
    event_id, _ = _seed(db, n)
    port, log = free_port(), tmp_path / "received.log"
    url = f"smtp://127.0.0.1:{port}"
    env = {
        **ENV, "BACKSOON_ENV": "test", "DATABASE_URL": pg_url, "REDIS_URL": TEST_REDIS_URL, "SMTP_URL": url,
        "FANOUT_CONNECTIONS": "4", "APP_URL": "https://app.test", "SECRET_KEY": "k", "MAIL_FROM": "BS <bs@mail.test>",
    }  # fmt: skip
    assert RedisJobQueue(TEST_REDIS_URL).enqueue(job_specs.fanout_event(event_id))
    backsoon = Path(sys.executable).parent / "backsoon"
    with smtp_process(port, log, delay_ms=2):
        worker = subprocess.Popen(
            [str(backsoon), "worker", "--queues", "default"], cwd=ROOT, env=env,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        try:
            _wait_for(log, 300, worker)
            tree = _descendants(worker.pid)
            # The work horse and its four forked senders, and RQ's scheduler process when it holds the lock.
            assert len(tree) >= 5
            worker.send_signal(signal.SIGKILL)
            worker.wait(10)
            deadline = time.monotonic() + 30
            while any(_alive(p) for p in tree):
                survivors = {p: (Path("/proc") / str(p) / "cmdline").read_bytes()[:80] for p in tree if _alive(p)}
                assert time.monotonic() < deadline, f"outlived the killed worker: {survivors}"
                time.sleep(0.05)
            after_kill = sum(received(str(log)).values())
            time.sleep(1)  # had anything survived, more messages would land now
            assert sum(received(str(log)).values()) == after_kill
        finally:
            if worker.poll() is None:
                worker.kill()
                worker.wait(10)
    assert 300 <= after_kill < n
    # No row says sent for a message the server did not accept.
    assert _sent(db, event_id) <= set(received(str(log)))
