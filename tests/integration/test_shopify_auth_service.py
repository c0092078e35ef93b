"""Install through token exchange and the refresh-ahead, lock-guarded access token, on real PostgreSQL and Redis."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import responses
from redis import Redis
from responses import matchers
from sqlalchemy import func, select, text

from app import job_specs
from app.config import Settings
from app.db import Database
from app.infra.crypto import TokenCipher
from app.models import Store, SyncRun
from app.platforms.shopify import auth as shopify_auth
from app.platforms.shopify.auth import access_token_for, install_from_session_token, save_access_token
from integrations.base import AuthRevoked, TransientError
from integrations.shopify.auth import OFFLINE_ACCESS_TOKEN_TYPE, AccessToken, InvalidClient, InvalidGrant
from integrations.shopify.verify import SessionToken, decode_session_token
from tests.factories import RecordingQueue
from tests.unit.test_shopify_auth import (
    API_KEY,
    API_SECRET,
    EXCHANGE,
    REFRESH,
    SHOP,
    TOKEN_URL,
    make_session_token,
)

pytestmark = pytest.mark.integration
OWN_TRANSACTIONS = pytest.mark.truncating("the tokens are committed in short transactions on connections of their own")
PARALLEL = pytest.mark.truncating("workers on threads, each with a connection of its own as in production")

KEY = "kDm6Qy7CxHqEo3p2S8R0a5sFz1uW9vNcLbTjYgXhKeI="
NOW = datetime(2026, 10, 14, 14, 0, tzinfo=UTC)
SETTINGS = Settings(
    env="test",
    shopify_api_key=API_KEY,
    shopify_api_secret=API_SECRET,
    shopify_api_secret_old="shpss_previous",
    token_encryption_keys=(KEY,),
)
OLD_ACCESS = "shpat_old_access_token_0001"
OLD_REFRESH = "shprt_old_refresh_token_0001"
NEW_ACCESS = REFRESH["access_token"]  # 9b1c47e2d08a4f3c95e61a7b2d4c8f05
NEW_REFRESH = REFRESH["refresh_token"]  # shprt_7d3f9a1c5e2b8d4f6a0c3e9b1d7f5a2c
REFRESH_BODY = {
    "client_id": API_KEY,
    "client_secret": API_SECRET,
    "grant_type": "refresh_token",
    "refresh_token": OLD_REFRESH,
}


@pytest.fixture
def mocked() -> Iterator[responses.RequestsMock]:
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        yield rsps


def session_token(shop: str = SHOP) -> SessionToken:
    now = NOW.timestamp()
    return decode_session_token(make_session_token(shop, now=now), API_KEY, API_SECRET, now=now)


def decrypt(store: Store) -> dict[str, Any]:
    assert store.credentials_encrypted is not None
    return TokenCipher([KEY]).decrypt_json(store.credentials_encrypted)


def raw_credentials(db: Database, shop: str = SHOP) -> bytes:
    with db.engine.connect() as conn:
        value = conn.execute(text("SELECT credentials_encrypted FROM stores WHERE domain = :d"), {"d": shop}).scalar()
    assert value is not None
    return bytes(value)


def seed_store(db: Database, *, expires_at: datetime, refresh_expires_at: datetime | None = None) -> int:
    """An installed store whose access token expires at `expires_at`."""
    token = AccessToken(
        OLD_ACCESS, "read_products,read_inventory,read_orders,write_app_proxy", expires_at, OLD_REFRESH,
        refresh_expires_at or NOW + timedelta(days=60),
    )  # fmt: skip
    with db.session() as s:
        return save_access_token(s, SETTINGS, SHOP, token, jobs=RecordingQueue(), now=NOW - timedelta(hours=1)).id


def load(db: Database, store_id: int) -> Store:
    with db.session() as s:
        store = s.get(Store, store_id)
        assert store is not None
        s.expunge(store)
        return store


def first_run(db: Database, store_id: int) -> int:
    """The store's one sync run: the initial one, running."""
    with db.session() as s:
        (run,) = s.scalars(select(SyncRun).where(SyncRun.store_id == store_id)).all()
        assert (run.kind, run.status, run.phase) == ("initial", "running", "locations")
        return run.id


# --- install -----------------------------------------------------------------------------------------------------


@OWN_TRANSACTIONS
def test_install_creates_the_store_with_encrypted_credentials(db: Database, mocked: responses.RequestsMock) -> None:
    token = session_token()
    mocked.post(
        TOKEN_URL,
        json=EXCHANGE,
        match=[
            matchers.json_params_matcher(
                {"subject_token": token.token, "expiring": 1, "requested_token_type": OFFLINE_ACCESS_TOKEN_TYPE},
                strict_match=False,
            )
        ],
    )
    jobs = RecordingQueue()
    with db.session() as s:
        store_id = install_from_session_token(s, SETTINGS, token, jobs=jobs, now=NOW).id
    # Once committed, the shop's own settings are read with the new token (nothing read yet: the defaults stand),
    # and its catalog is loaded: the first sync starts by itself.
    run_id = first_run(db, store_id)
    assert jobs.specs == [job_specs.shopify_read_identity(store_id), job_specs.shopify_sync(run_id)]
    assert jobs.specs[0].func == "jobs.shopify.read_identity" and jobs.specs[0].job_id == f"shopify-identity-{store_id}"
    assert jobs.specs[1].func == "jobs.shopify.run_sync" and jobs.specs[1].job_id == f"sync-{run_id}"

    store = load(db, store_id)
    assert (store.platform, store.domain, store.name, store.status) == ("shopify", SHOP, "backsoon-demo", "active")
    assert store.scopes == "write_orders,read_customers"
    assert store.access_token_expires_at == datetime(2026, 10, 14, 15, 0, tzinfo=UTC)
    assert store.installed_at == NOW
    assert decrypt(store) == {
        "access_token": "f85632530bf277ec9ac6f649fc327f17",
        "scope": "write_orders,read_customers",
        "expires_at": "2026-10-14T15:00:00+00:00",
        "refresh_token": "shprt_xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
        "refresh_token_expires_at": "2027-01-12T14:00:00+00:00",
    }
    raw = raw_credentials(db)
    for secret in (b"f85632530bf277ec9ac6f649fc327f17", b"shprt_xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx", b"access_token"):
        assert secret not in raw
    assert len(mocked.calls) == 1


def test_install_again_reuses_healthy_credentials_and_force_exchanges(
    db: Database, mocked: responses.RequestsMock
) -> None:
    mocked.post(TOKEN_URL, json=EXCHANGE)
    jobs = RecordingQueue()
    with db.session() as s:
        first = install_from_session_token(s, SETTINGS, session_token(), jobs=jobs, now=NOW).id
    with db.session() as s:
        again = install_from_session_token(s, SETTINGS, session_token(), jobs=jobs, now=NOW + timedelta(hours=3)).id
    assert again == first and len(mocked.calls) == 1  # no new token pair minted per page load
    # The settings were never read, so reopening the app asks again (the job id collapses a pending one); the
    # first sync is behind the store already, so no second one starts.
    run_id = first_run(db, first)
    identity = job_specs.shopify_read_identity(first)
    assert jobs.specs == [identity, job_specs.shopify_sync(run_id), identity]
    with db.session() as s:
        store = s.get(Store, first)
        assert store is not None
        store.identity_read_at = NOW
    with db.session() as s:
        install_from_session_token(s, SETTINGS, session_token(), jobs=jobs, now=NOW + timedelta(hours=4))
    assert len(jobs.specs) == 3  # read once: a page load with healthy credentials queues nothing
    with db.session() as s:
        install_from_session_token(s, SETTINGS, session_token(), jobs=jobs, now=NOW, force=True)
    assert len(mocked.calls) == 2
    assert jobs.specs[3:] == [identity]  # a new token: read again
    with db.session() as s:
        assert s.scalar(select(func.count()).select_from(SyncRun).where(SyncRun.store_id == first)) == 1
    with db.session() as s:
        assert s.scalar(select(Store.id).where(Store.domain == SHOP)) == first  # still one row


def test_install_reconnects_a_disconnected_or_uninstalled_store(db: Database, mocked: responses.RequestsMock) -> None:
    store_id = seed_store(db, expires_at=NOW + timedelta(hours=1))
    with db.session() as s:
        store = s.get(Store, store_id)
        assert store is not None
        store.status, store.status_reason, store.credentials_encrypted = "uninstalled", "app/uninstalled webhook", None
        store.uninstalled_at = NOW - timedelta(minutes=5)
        store.last_synced_at = NOW - timedelta(days=3)
    mocked.post(TOKEN_URL, json=EXCHANGE)
    jobs = RecordingQueue()
    with db.session() as s:
        assert install_from_session_token(s, SETTINGS, session_token(), jobs=jobs, now=NOW).id == store_id
    # Reconnected: the settings may have changed; the catalog was loaded before (reconciliation catches up).
    assert jobs.specs == [job_specs.shopify_read_identity(store_id)]
    store = load(db, store_id)
    assert (store.status, store.status_reason, store.uninstalled_at, store.installed_at) == ("active", None, None, NOW)
    assert decrypt(store)["access_token"] == "f85632530bf277ec9ac6f649fc327f17"


# --- access_token_for ------------------------------------------------------------------------------------------


def test_a_token_outside_the_refresh_window_is_returned_without_http(
    db: Database, redis_conn: Redis, mocked: responses.RequestsMock
) -> None:
    store_id = seed_store(db, expires_at=NOW + timedelta(minutes=5, seconds=1))
    with db.session() as s:
        assert access_token_for(s, store_id, redis=redis_conn, settings=SETTINGS, now=NOW) == OLD_ACCESS
    assert len(mocked.calls) == 0


@OWN_TRANSACTIONS
def test_a_token_inside_the_window_is_refreshed_ahead_and_the_pair_stored(
    db: Database, redis_conn: Redis, mocked: responses.RequestsMock
) -> None:
    store_id = seed_store(db, expires_at=NOW + timedelta(minutes=5))  # not expired, but within 5 minutes
    mocked.post(TOKEN_URL, json=REFRESH, match=[matchers.json_params_matcher(REFRESH_BODY, strict_match=True)])
    with db.session() as s:
        cached = s.get(Store, store_id)  # the caller's own copy must not stay stale
        assert access_token_for(s, store_id, redis=redis_conn, settings=SETTINGS, now=NOW) == NEW_ACCESS
        assert cached is not None and cached.access_token_expires_at == datetime(2026, 10, 14, 15, 0, tzinfo=UTC)
    store = load(db, store_id)
    assert store.access_token_expires_at == datetime(2026, 10, 14, 15, 0, tzinfo=UTC)
    assert decrypt(store) == {
        "access_token": NEW_ACCESS,
        "scope": "write_orders,read_customers",
        "expires_at": "2026-10-14T15:00:00+00:00",
        "refresh_token": NEW_REFRESH,
        "refresh_token_expires_at": "2027-01-12T14:00:00+00:00",
    }
    assert NEW_REFRESH.encode() not in raw_credentials(db)
    assert len(mocked.calls) == 1
    assert redis_conn.keys("backsoon:shopify:token-refresh:*") == []  # the lock was released
    with db.session() as s:  # and the next call uses the stored token
        assert access_token_for(s, store_id, redis=redis_conn, settings=SETTINGS, now=NOW) == NEW_ACCESS
    assert len(mocked.calls) == 1


@pytest.mark.parametrize("workers", [2, 8])
@PARALLEL
def test_parallel_refreshes_make_exactly_one_http_call(
    db: Database, redis_conn: Redis, mocked: responses.RequestsMock, workers: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    store_id = seed_store(db, expires_at=NOW + timedelta(seconds=30))
    in_flight = threading.Event()
    attempts: list[bool] = []
    real_acquire = shopify_auth._RedisLock.acquire

    def spy_acquire(self: shopify_auth._RedisLock) -> bool:
        got = real_acquire(self)
        attempts.append(got)
        return got

    monkeypatch.setattr(shopify_auth._RedisLock, "acquire", spy_acquire)

    def slow_refresh(request: Any) -> tuple[int, dict[str, str], str]:
        in_flight.set()
        time.sleep(1.0)  # long enough that the other workers find the lock taken
        return 200, {"Content-Type": "application/json"}, json.dumps(REFRESH)

    mocked.add_callback(
        responses.POST, TOKEN_URL, callback=slow_refresh, match=[matchers.json_params_matcher(REFRESH_BODY)]
    )
    barrier = threading.Barrier(workers)
    results: list[str] = []
    errors: list[BaseException] = []

    def worker() -> None:
        try:
            with db.session() as s:
                barrier.wait(timeout=5)
                results.append(access_token_for(s, store_id, redis=redis_conn, settings=SETTINGS, now=NOW))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(workers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert errors == []
    assert in_flight.is_set()
    assert results == [NEW_ACCESS] * workers
    assert len(mocked.calls) == 1  # the rotating refresh token was spent exactly once
    # The lock really was contended: at least one worker found it taken and waited. A late thread may also take
    # the lock after the winner released it, re-read the store under it and find the fresh token (double-checked
    # locking), so the refresh call count above, not the number of acquisitions, is the invariant.
    assert attempts.count(True) >= 1 and attempts.count(False) >= 1
    assert decrypt(load(db, store_id))["refresh_token"] == NEW_REFRESH


@PARALLEL
def test_parallel_workers_all_see_a_revocation_with_one_http_call(
    db: Database, redis_conn: Redis, mocked: responses.RequestsMock
) -> None:
    store_id = seed_store(db, expires_at=NOW - timedelta(minutes=1))

    def refused(request: Any) -> tuple[int, dict[str, str], str]:
        time.sleep(0.3)
        return 400, {"Content-Type": "application/json"}, '{"error": "invalid_grant"}'

    mocked.add_callback(responses.POST, TOKEN_URL, callback=refused)
    barrier = threading.Barrier(4)
    outcomes: list[BaseException | str] = []

    def worker() -> None:
        with db.session() as s:
            barrier.wait(timeout=5)
            try:
                outcomes.append(access_token_for(s, store_id, redis=redis_conn, settings=SETTINGS, now=NOW))
            except BaseException as exc:
                outcomes.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert len(outcomes) == 4 and all(isinstance(o, AuthRevoked) for o in outcomes)
    assert len(mocked.calls) == 1


def test_revoked_refresh_disconnects_and_later_calls_fail_fast(
    db: Database, redis_conn: Redis, mocked: responses.RequestsMock
) -> None:
    store_id = seed_store(db, expires_at=NOW - timedelta(minutes=1))
    mocked.post(TOKEN_URL, json={"error": "invalid_grant", "error_description": "revoked"}, status=400)
    with db.session() as s, pytest.raises(InvalidGrant):
        access_token_for(s, store_id, redis=redis_conn, settings=SETTINGS, now=NOW)
    store = load(db, store_id)
    assert store.status == "disconnected"
    assert store.status_reason == "Shopify refused the refresh token (invalid_grant); open the app to reconnect"
    assert store.credentials_encrypted is None and store.access_token_expires_at is None
    assert len(mocked.calls) == 1

    with db.session() as s, pytest.raises(AuthRevoked) as info:
        access_token_for(s, store_id, redis=redis_conn, settings=SETTINGS, now=NOW + timedelta(seconds=1))
    assert str(info.value) == (
        "store backsoon-demo.myshopify.com is disconnected: "
        "Shopify refused the refresh token (invalid_grant); open the app to reconnect"
    )
    assert info.value.code == "disconnected"
    assert len(mocked.calls) == 1  # no retry storm
    assert redis_conn.keys("*") == []


def test_an_uninstalled_store_raises_without_http(
    db: Database, redis_conn: Redis, mocked: responses.RequestsMock
) -> None:
    store_id = seed_store(db, expires_at=NOW - timedelta(minutes=1))
    with db.session() as s:
        s.execute(text("UPDATE stores SET status = 'uninstalled' WHERE id = :i"), {"i": store_id})
    with db.session() as s, pytest.raises(AuthRevoked, match="is uninstalled"):
        access_token_for(s, store_id, redis=redis_conn, settings=SETTINGS, now=NOW)
    assert len(mocked.calls) == 0


def test_an_expired_refresh_token_disconnects_without_http(
    db: Database, redis_conn: Redis, mocked: responses.RequestsMock
) -> None:
    store_id = seed_store(db, expires_at=NOW - timedelta(minutes=1), refresh_expires_at=NOW - timedelta(seconds=1))
    with db.session() as s, pytest.raises(AuthRevoked) as info:
        access_token_for(s, store_id, redis=redis_conn, settings=SETTINGS, now=NOW)
    assert info.value.code == "refresh_token_expired"
    store = load(db, store_id)
    assert (store.status, store.status_reason) == (
        "disconnected",
        "refresh token expired; open the app in Shopify admin to reconnect",
    )
    assert len(mocked.calls) == 0


def test_a_transient_failure_keeps_the_store_and_releases_the_lock(
    db: Database, redis_conn: Redis, mocked: responses.RequestsMock
) -> None:
    store_id = seed_store(db, expires_at=NOW + timedelta(minutes=2))
    mocked.post(TOKEN_URL, json={"errors": "oops"}, status=503)
    with db.session() as s, pytest.raises(TransientError):
        access_token_for(s, store_id, redis=redis_conn, settings=SETTINGS, now=NOW)
    store = load(db, store_id)
    assert store.status == "active" and decrypt(store)["refresh_token"] == OLD_REFRESH
    assert redis_conn.keys("*") == []
    mocked.replace(responses.POST, TOKEN_URL, json=REFRESH)
    with db.session() as s:  # a later attempt succeeds with the same (unspent) refresh token
        assert access_token_for(s, store_id, redis=redis_conn, settings=SETTINGS, now=NOW) == NEW_ACCESS


def test_an_uninstall_during_the_refresh_wins(db: Database, redis_conn: Redis, mocked: responses.RequestsMock) -> None:
    store_id = seed_store(db, expires_at=NOW - timedelta(minutes=1))

    def uninstall_meanwhile(request: Any) -> tuple[int, dict[str, str], str]:
        with db.session() as s:  # the app/uninstalled webhook lands while the refresh is in flight
            s.execute(
                text("UPDATE stores SET status='uninstalled', credentials_encrypted=NULL WHERE id=:i"), {"i": store_id}
            )
        return 200, {"Content-Type": "application/json"}, json.dumps(REFRESH)

    mocked.add_callback(responses.POST, TOKEN_URL, callback=uninstall_meanwhile)
    with db.session() as s, pytest.raises(AuthRevoked, match="uninstalled or disconnected during the refresh"):
        access_token_for(s, store_id, redis=redis_conn, settings=SETTINGS, now=NOW)
    store = load(db, store_id)
    assert store.status == "uninstalled" and store.credentials_encrypted is None


def test_a_waiter_takes_over_a_lock_left_by_a_dead_worker(
    db: Database, redis_conn: Redis, mocked: responses.RequestsMock
) -> None:
    store_id = seed_store(db, expires_at=NOW - timedelta(minutes=1))
    # A worker killed mid-refresh left its lock behind; it expires on its own (here after 300 ms).
    redis_conn.set(f"backsoon:shopify:token-refresh:{store_id}", "dead-worker", px=300)
    mocked.post(TOKEN_URL, json=REFRESH)
    started = time.monotonic()
    with db.session() as s:
        assert access_token_for(s, store_id, redis=redis_conn, settings=SETTINGS, now=NOW) == NEW_ACCESS
    assert time.monotonic() - started >= 0.25
    assert len(mocked.calls) == 1


def test_waiting_gives_up_with_a_transient_error(
    db: Database, redis_conn: Redis, mocked: responses.RequestsMock
) -> None:
    store_id = seed_store(db, expires_at=NOW - timedelta(minutes=1))
    redis_conn.set(f"backsoon:shopify:token-refresh:{store_id}", "busy-worker", px=10_000)
    with db.session() as s, pytest.raises(TransientError, match="timed out waiting"):
        access_token_for(s, store_id, redis=redis_conn, settings=SETTINGS, now=NOW, wait_timeout=0.3)
    assert len(mocked.calls) == 0
    assert redis_conn.get(f"backsoon:shopify:token-refresh:{store_id}") == b"busy-worker"  # not ours to free


def test_the_lock_is_released_only_by_its_owner(redis_conn: Redis) -> None:
    key = "backsoon:shopify:token-refresh:7"
    mine = shopify_auth._RedisLock(redis_conn, key, timedelta(seconds=60))
    theirs = shopify_auth._RedisLock(redis_conn, key, timedelta(seconds=60))
    assert mine.acquire() is True
    assert theirs.acquire() is False
    assert 59_000 < int(redis_conn.pttl(key)) <= 60_000
    theirs.release()
    assert mine.held() and redis_conn.exists(key) == 1
    mine.release()
    assert redis_conn.exists(key) == 0 and not theirs.held()


@PARALLEL
def test_without_redis_a_process_lock_still_allows_one_refresh(db: Database, mocked: responses.RequestsMock) -> None:
    store_id = seed_store(db, expires_at=NOW - timedelta(minutes=1))

    def slow(request: Any) -> tuple[int, dict[str, str], str]:
        time.sleep(0.3)
        return 200, {"Content-Type": "application/json"}, json.dumps(REFRESH)

    mocked.add_callback(responses.POST, TOKEN_URL, callback=slow)
    results: list[str] = []
    barrier = threading.Barrier(3)

    def worker() -> None:
        with db.session() as s:
            barrier.wait(timeout=5)
            results.append(access_token_for(s, store_id, redis=None, settings=SETTINGS, now=NOW))

    threads = [threading.Thread(target=worker) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert results == [NEW_ACCESS] * 3
    assert len(mocked.calls) == 1


def test_a_refused_client_secret_does_not_disconnect_the_store(
    db: Database, redis_conn: Redis, mocked: responses.RequestsMock
) -> None:
    store_id = seed_store(db, expires_at=NOW - timedelta(minutes=1))
    mocked.post(TOKEN_URL, json={"error": "invalid_client"}, status=401)
    with db.session() as s, pytest.raises(InvalidClient):
        access_token_for(s, store_id, redis=redis_conn, settings=SETTINGS, now=NOW)
    store = load(db, store_id)
    assert store.status == "active" and decrypt(store)["refresh_token"] == OLD_REFRESH
    assert redis_conn.keys("*") == []
