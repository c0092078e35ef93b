"""A merchant's host that is slow or down: every call times out, the worker is freed, nothing is lost.

Real sockets on loopback: one server accepts connections and never answers (a hung PHP worker), the other
port has nothing listening (a host that is down). The client's (connect, read) timeouts turn both into
TransientError, so the sync job ends instead of holding an RQ worker; the run stays `running` at its cursor for
the sweeper to re-drive, and the store is not disconnected (its keys were never refused).
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator

import pytest
from sqlalchemy import func, select

from app.config import Settings
from app.db import Database
from app.infra.crypto import cipher_for
from app.models import Product, Store, SyncRun
from app.platforms.woocommerce import sync as woo_sync
from integrations.base import TransientError
from integrations.woocommerce.client import WooClient
from tests.factories import RecordingQueue

pytestmark = pytest.mark.integration

SETTINGS = Settings(env="test", app_url="https://backsoon.example")


@pytest.fixture
def hung_port() -> Iterator[int]:
    """A server that accepts every connection and never sends a byte."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(16)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        server.settimeout(0.1)
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except TimeoutError:
                continue
            held.append(conn)

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield server.getsockname()[1]
    stop.set()
    thread.join(2)
    for conn in held:
        conn.close()
    server.close()


@pytest.fixture
def closed_port() -> int:
    """A port with nothing listening: connections are refused at once."""
    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    port = int(probe.getsockname()[1])
    probe.close()
    return port


def _store(db: Database, url: str) -> int:
    cipher = cipher_for(SETTINGS)
    with db.session() as s:
        store = Store(
            platform="woocommerce",
            domain=url,
            name="Slow shop",
            credentials_encrypted=cipher.encrypt_json({"consumer_key": "ck_x", "consumer_secret": "cs_x"}),
            webhook_secret_encrypted=cipher.encrypt(b"secret"),
        )
        s.add(store)
        s.flush()
        return store.id


def _client(url: str) -> WooClient:
    # Loopback is private; allow_private is only for this test's own servers.
    return WooClient(url, "ck_x", "cs_x", timeout=(0.5, 0.5), get_retries=1, sleep=lambda _s: None, allow_private=True)


def _run_in_thread(db: Database, run_id: int, client: WooClient) -> BaseException | str | None:
    """Run the sync step in a thread and report what ended it; None would mean the worker is still stuck."""
    outcome: list[BaseException | str] = []

    def target() -> None:
        try:
            outcome.append(woo_sync.step(db, RecordingQueue(), run_id, client, settings=SETTINGS))
        except BaseException as exc:
            outcome.append(exc)

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    # A liveness bound, not a timing assertion: 2 attempts x 0.5 s would end in ~1 s; 60 s means "stuck".
    thread.join(60)
    return outcome[0] if outcome else None


@pytest.mark.parametrize("kind", ["hung", "down"])
def test_a_slow_or_down_host_frees_the_worker_and_keeps_the_run_resumable(
    db: Database, hung_port: int, closed_port: int, kind: str
) -> None:
    url = f"http://127.0.0.1:{hung_port if kind == 'hung' else closed_port}"
    store_id = _store(db, url)
    with db.session() as s:
        run_id = woo_sync.start_sync(s, RecordingQueue(), store_id).id

    ended = _run_in_thread(db, run_id, _client(url))

    assert isinstance(ended, TransientError)
    assert ("timed out" if kind == "hung" else "connection failed") in str(ended)
    with db.session() as s:
        run = s.get(SyncRun, run_id)
        store = s.get(Store, store_id)
        assert run is not None and store is not None
        # Still running at its first phase: the sweeper re-drives it once the heartbeat is stale.
        assert (run.status, run.phase, run.done) == ("running", woo_sync.PHASES[0], 0)
        assert (store.status, store.status_reason) == ("active", None)
        assert s.scalar(select(func.count()).select_from(Product)) == 0
