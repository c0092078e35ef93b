"""Redis SIGKILLed under a stream of webhooks: the web front keeps answering 200, and the real `backsoon cron` and
`backsoon worker` processes outlive the outage and process every delivery exactly once within a minute of its end."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from sqlalchemy import func, select

from app.db import Database
from app.models import Order, Store, WebhookEvent
from app.queue import RedisJobQueue
from tests.conftest import FIXTURES, ROOT, AppFactory

pytestmark = [
    pytest.mark.integration,
    pytest.mark.truncating("the webhook front, the cron and the worker write on connections of their own"),
]

# Ports 6391-6394 are this test suite's own redis-server instances (never the shared server).
PORT = 6393
REDIS_URL = f"redis://127.0.0.1:{PORT}/0"
SECRET = "shpss_outage_secret"
SHOPS = ("outage-a.myshopify.com", "outage-b.myshopify.com", "outage-c.myshopify.com")
# The bound: every delivery processed within 60 s of Redis answering again, with no restart by hand.
RESUME_BOUND = 60.0
# Generous bounds for what only sets the scene (process start-up on a loaded machine, deliveries to send).
SETUP_BOUND = 180.0


class RedisServer:
    """A redis-server of this test's own, without persistence: SIGKILL loses every queued job and gate."""

    def __init__(self, port: int, log: Path) -> None:
        self.port, self.log = port, log
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        """Start it and wait until it answers."""
        out = self.log.open("ab")
        self.proc = subprocess.Popen(
            ["/usr/bin/redis-server", "--port", str(self.port), "--save", "", "--appendonly", "no"],
            stdout=out,
            stderr=subprocess.STDOUT,
        )
        out.close()
        conn = redis.Redis(port=self.port)
        deadline = time.monotonic() + 30
        while True:
            try:
                conn.ping()
                break
            except redis.ConnectionError:
                assert self.proc.poll() is None, f"redis-server exited: {self.log.read_text()[-2000:]}"
                assert time.monotonic() < deadline, "redis-server did not answer within 30 s"
                time.sleep(0.05)
        conn.close()

    def kill(self) -> None:
        """SIGKILL it and reap it."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    """The test's redis-server on PORT, not started yet; killed at the end whatever happened."""
    server = RedisServer(PORT, tmp_path / "redis.log")
    try:
        yield server
    finally:
        server.kill()


@pytest.fixture
def redis_up(redis_server: RedisServer) -> RedisServer:
    """The test's redis-server, answering."""
    redis_server.start()
    return redis_server


@pytest.fixture
def backsoon(pg_url: str, tmp_path: Path) -> Iterator[dict[str, subprocess.Popen[bytes]]]:
    """The real `backsoon cron` and `backsoon worker`, on the test's Redis and database, stopped at the end."""
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "PYTHONUNBUFFERED": "1",
        "BACKSOON_ENV": "test",
        "DATABASE_URL": pg_url,
        "REDIS_URL": REDIS_URL,
        "SHOPIFY_API_SECRET": SECRET,
        "APP_URL": "https://app.test",
        "SECRET_KEY": "k",
    }
    exe = Path(sys.executable).parent / "backsoon"
    procs: dict[str, subprocess.Popen[bytes]] = {}
    try:
        for name in ("cron", "worker"):
            with (tmp_path / f"{name}.log").open("wb") as out:
                procs[name] = subprocess.Popen(
                    [str(exe), name], cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT
                )
        yield procs
    finally:
        for proc in procs.values():
            _stop(proc)


def _delivery(n: int, shop: str) -> tuple[bytes, dict[str, str]]:
    """A signed orders/create delivery of its own order (its own webhook id, order id and name)."""
    data: dict[str, Any] = json.loads((FIXTURES / "shopify" / "webhooks" / "orders-create.json").read_text())
    order = json.loads(data["body_text"])
    order_id = 7_100_000_000_000 + n
    order.update(id=order_id, admin_graphql_api_id=f"gid://shopify/Order/{order_id}", name=f"#O{n}", number=n)
    raw = json.dumps(order).encode()
    headers = dict(data["headers"])
    headers.update(
        {
            "X-Shopify-Shop-Domain": shop,
            "X-Shopify-Webhook-Id": f"outage-{n}",
            "X-Shopify-Event-Id": f"outage-event-{n}",
            "X-Shopify-Hmac-Sha256": base64.b64encode(hmac.new(SECRET.encode(), raw, hashlib.sha256).digest()).decode(),
        }
    )
    return raw, headers


class Sender:
    """Posts signed deliveries through the app at a steady rate (one worker keeps up with it), noting each answer."""

    def __init__(self, client: Any) -> None:
        self.client = client
        self.answers: dict[str, int] = {}
        self.sent = 0
        self._stop, self._go = threading.Event(), threading.Event()
        self._go.set()
        self._thread = threading.Thread(target=self._run, name="webhook-sender", daemon=True)
        self.errors: list[BaseException] = []

    def start(self) -> None:
        """Start sending."""
        self._thread.start()

    def pause(self, paused: bool) -> None:
        """Hold the stream after the delivery in flight, or let it go on."""
        if paused:
            self._go.clear()
        else:
            self._go.set()

    def stop(self) -> None:
        """Stop after the delivery in flight."""
        self._stop.set()
        self._go.set()
        self._thread.join(30)
        assert not self._thread.is_alive()

    def wait_for(self, count: int) -> None:
        """Block until ``count`` deliveries in all were answered."""
        deadline = time.monotonic() + SETUP_BOUND
        while self.sent < count:
            assert not self.errors, self.errors
            assert time.monotonic() < deadline, f"only {self.sent} of {count} deliveries sent"
            time.sleep(0.02)

    def _run(self) -> None:
        try:
            n = 0
            while not self._stop.is_set():
                self._go.wait()
                body, headers = _delivery(n, SHOPS[n % len(SHOPS)])
                resp = self.client.post("/webhooks/shopify", data=body, headers=headers)
                self.answers[headers["X-Shopify-Webhook-Id"]] = resp.status_code
                n += 1
                self.sent = n
                time.sleep(0.04)
        except BaseException as exc:  # reported by the test thread
            self.errors.append(exc)


def _processed(db: Database) -> int:
    with db.session() as s:
        return int(
            s.scalar(select(func.count()).select_from(WebhookEvent).where(WebhookEvent.status == "processed")) or 0
        )


def _unprocessed(db: Database) -> int:
    with db.session() as s:
        return int(
            s.scalar(select(func.count()).select_from(WebhookEvent).where(WebhookEvent.status != "processed")) or 0
        )


def _wait_processed(db: Database, procs: dict[str, subprocess.Popen[bytes]], bound: float, logs: Path) -> float:
    """Seconds until no stored delivery is left unprocessed, failing at ``bound``."""
    start = time.monotonic()
    while _unprocessed(db):
        elapsed = time.monotonic() - start
        if elapsed > bound or any(p.poll() is not None for p in procs.values()):
            tails = {n: (logs / f"{n}.log").read_text()[-3000:] for n in procs}
            pytest.fail(f"{_unprocessed(db)} deliveries unprocessed after {elapsed:.1f} s; exits "
                        f"{ {n: p.poll() for n, p in procs.items()} }; logs {tails}")  # fmt: skip
        time.sleep(0.25)
    return time.monotonic() - start


def test_cron_and_worker_outlive_a_redis_outage_and_every_delivery_is_processed_once(
    db: Database,
    make_app: AppFactory,
    redis_up: RedisServer,
    backsoon: dict[str, subprocess.Popen[bytes]],
    tmp_path: Path,
) -> None:
    redis_server = redis_up
    with db.session() as s:
        s.add_all(Store(platform="shopify", domain=shop, name=shop, timezone="UTC") for shop in SHOPS)
    client = make_app(jobs=RedisJobQueue(REDIS_URL), shopify_api_secret=SECRET).test_client()
    pids = {name: proc.pid for name, proc in backsoon.items()}
    sender = Sender(client)
    sender.start()
    try:
        # Before the outage: the pipeline runs (deliveries stored, drained by the worker), under a steady stream.
        deadline = time.monotonic() + SETUP_BOUND
        while _processed(db) < 30:
            assert time.monotonic() < deadline, f"the worker processed {_processed(db)} deliveries in {SETUP_BOUND} s"
            assert all(p.poll() is None for p in backsoon.values())
            time.sleep(0.2)
        # The backlog is caught up first, so what is left at Redis's return is the outage's own deliveries.
        sender.pause(True)
        _wait_processed(db, backsoon, SETUP_BOUND, tmp_path)
        sender.pause(False)
        before = sender.sent

        redis_server.kill()
        killed_at = time.monotonic()
        # 200 deliveries stored while Redis is down, and long enough for the cron to have noticed.
        sender.wait_for(before + 200)
        while time.monotonic() - killed_at < 10:
            time.sleep(0.1)
        during = sender.sent - before
        with db.session() as s:
            assert (s.scalar(select(func.count()).select_from(WebhookEvent)) or 0) >= before + 200
        assert all(p.poll() is None for p in backsoon.values()), "a process exited during the outage"
    finally:
        sender.stop()
    assert sender.errors == []
    # Nothing arrives after Redis returns (whose enqueues would start drains by themselves): the deliveries stored
    # during the outage are re-driven by the cron's catch-up sweep, run by the worker that outlived the outage.
    redis_server.start()
    returned_at = time.monotonic()
    _wait_processed(db, backsoon, RESUME_BOUND - (time.monotonic() - returned_at), tmp_path)
    total = sender.sent
    # The figure the issue asks about (a bound above, not a timing assertion): shown with `pytest -s`.
    print(
        f"\nRedis down {returned_at - killed_at:.1f} s; {during} deliveries during the outage, {total} in all; "
        f"all processed {time.monotonic() - returned_at:.1f} s after Redis returned"
    )

    # Every delivery answered 200, even with Redis down, and stored once.
    assert set(sender.answers.values()) == {200}
    assert len(sender.answers) == total
    _assert_processed_once(db, total)
    _assert_same_processes(backsoon, pids)
    # The cron logged the outage once when it began and once when it ended, not once per retry.
    cron_log = (tmp_path / "cron.log").read_text()
    assert cron_log.count("cron: Redis is unreachable") == 1
    assert cron_log.count("cron: Redis is reachable again") == 1
    # RQ's worker logs each of its retries; here only the first of the outage gets through.
    assert (tmp_path / "worker.log").read_text().count("could not connect to Redis") <= 1


def test_cron_and_worker_started_before_redis_wait_for_it(
    db: Database,
    make_app: AppFactory,
    redis_server: RedisServer,
    backsoon: dict[str, subprocess.Popen[bytes]],
    tmp_path: Path,
) -> None:
    with db.session() as s:
        s.add_all(Store(platform="shopify", domain=shop, name=shop, timezone="UTC") for shop in SHOPS)
    pids = {name: proc.pid for name, proc in backsoon.items()}
    client = make_app(jobs=RedisJobQueue(REDIS_URL), shopify_api_secret=SECRET).test_client()
    for n in range(30):
        body, headers = _delivery(n, SHOPS[n % len(SHOPS)])
        assert client.post("/webhooks/shopify", data=body, headers=headers).status_code == 200
    # Both found Redis down at start-up (RQ's worker cannot even register itself) and kept waiting.
    deadline = time.monotonic() + SETUP_BOUND
    for name in ("cron", "worker"):
        while f"{name}: Redis is unreachable" not in (tmp_path / f"{name}.log").read_text():
            assert backsoon[name].poll() is None, (tmp_path / f"{name}.log").read_text()[-3000:]
            assert time.monotonic() < deadline, f"{name} did not try Redis within {SETUP_BOUND} s"
            time.sleep(0.2)
    assert _processed(db) == 0

    redis_server.start()
    returned_at = time.monotonic()
    _wait_processed(db, backsoon, RESUME_BOUND, tmp_path)
    print(f"\nstarted before Redis: 30 deliveries processed {time.monotonic() - returned_at:.1f} s after it started")
    _assert_processed_once(db, 30)
    _assert_same_processes(backsoon, pids)
    for name in ("cron", "worker"):
        assert (tmp_path / f"{name}.log").read_text().count(f"{name}: Redis is reachable again") == 1


def _assert_processed_once(db: Database, total: int) -> None:
    with db.session() as s:
        rows = s.execute(
            select(WebhookEvent.dedupe_key, WebhookEvent.status, WebhookEvent.attempts, WebhookEvent.error)
        ).all()
        orders = s.scalar(select(func.count()).select_from(Order))
    assert sorted(r[0] for r in rows) == sorted(f"outage-{n}" for n in range(total))
    # Processed exactly once: one attempt each (a second run, or a failed one, would count).
    assert {(r[1], r[2], r[3]) for r in rows} == {("processed", 1, None)}
    assert orders == total


def _assert_same_processes(procs: dict[str, subprocess.Popen[bytes]], pids: dict[str, int]) -> None:
    # The same cron and worker processes throughout: neither exited nor was restarted.
    assert {name: (proc.pid, proc.poll()) for name, proc in procs.items()} == {
        name: (pid, None) for name, pid in pids.items()
    }
