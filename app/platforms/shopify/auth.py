"""Shopify install and access tokens: store the token a grant returns, and hand out a valid one to callers.

Expiring offline tokens last an hour and every refresh rotates the refresh token, so two workers refreshing the same
store at once would each spend the same refresh token. ``access_token_for`` therefore refreshes ahead of expiry under
a per-store Redis lock (SET NX PX with an owner token; released only by its owner), and callers that find the lock
taken wait for the winner's result in the database instead of calling Shopify themselves. A refused refresh marks the
store ``disconnected`` once, and every later call fails fast without touching Shopify until the merchant reopens the
app (which runs token exchange again).
"""

from __future__ import annotations

import logging
import secrets
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from redis import Redis
from redis.exceptions import RedisError
from sqlalchemy import Connection, Engine, select, text, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app.config import ConfigError, Settings
from app.db import utcnow
from app.infra.crypto import DecryptionError, cipher_for
from app.models import Store, StoreStatus, SyncRun
from app.platforms.shopify import identity as shopify_identity
from app.platforms.shopify import sync as shopify_sync
from app.queue import JobQueue
from integrations.base import AuthRevoked, NotFound, TransientError
from integrations.shopify.app_config import REQUIRED_SCOPES  # the one list, also rendered into shopify.app.toml
from integrations.shopify.auth import AccessToken, ShopifyOAuth, TokenRejected, missing_scopes
from integrations.shopify.verify import SessionToken, is_valid_shop_domain

__all__ = [
    "LOCK_TTL",
    "REFRESH_AHEAD",
    "REQUIRED_SCOPES",
    "MissingScopes",
    "access_token_for",
    "api_secrets",
    "find_shopify_store",
    "install_from_code",
    "install_from_session_token",
    "oauth_client",
    "save_access_token",
]

log = logging.getLogger(__name__)

# Shopify asks apps to refresh "a few minutes before" the hour is up; five leaves room for a slow job to start.
REFRESH_AHEAD = timedelta(minutes=5)
# Longer than one token call can take (5 s connect + 15 s read) plus the database write, so a live holder never
# loses the lock; short enough that a killed holder blocks others for at most a minute.
LOCK_TTL = timedelta(seconds=60)
WAIT_TIMEOUT = 30.0
POLL_INTERVAL = 0.05
_LOCK_KEY = "backsoon:shopify:token-refresh:{store_id}"
# Delete the key only if it still holds our token: a holder whose lock expired must not free someone else's.
_RELEASE_LUA = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end"


class MissingScopes(Exception):
    """The merchant granted fewer scopes than BackSoon needs."""

    def __init__(self, missing: tuple[str, ...]) -> None:
        super().__init__("missing required scopes: " + ", ".join(missing))
        self.missing = missing


# --- configuration ---------------------------------------------------------------------------------------------


def api_secrets(settings: Settings) -> list[str]:
    """The app's client secrets, current first (the old one still verifies during a secret rotation)."""
    return [s for s in (settings.shopify_api_secret, settings.shopify_api_secret_old) if s]


def oauth_client(settings: Settings, *, now: datetime | None = None) -> ShopifyOAuth:
    """A token-endpoint client for this app; with ``now`` its clock is frozen there (tests, replays)."""
    if not settings.shopify_api_key or not settings.shopify_api_secret:
        raise ConfigError("SHOPIFY_API_KEY and SHOPIFY_API_SECRET must be set to talk to Shopify")
    clock: Callable[[], datetime] = utcnow if now is None else (lambda: now)
    return ShopifyOAuth(settings.shopify_api_key, settings.shopify_api_secret, clock=clock)


# --- install -----------------------------------------------------------------------------------------------------


def active_shop(session: Session, shop: str) -> Store | None:
    """The active Shopify store for a verified shop domain."""
    return session.execute(
        select(Store).where(Store.platform == "shopify", Store.domain == shop, Store.status == StoreStatus.ACTIVE)
    ).scalar_one_or_none()


def find_shopify_store(session: Session, shop: str) -> Store | None:
    """The Shopify store row for a myshopify domain, if any."""
    return session.execute(
        select(Store).where(Store.platform == "shopify", Store.domain == shop.lower())
    ).scalar_one_or_none()


def save_access_token(
    session: Session,
    settings: Settings,
    shop: str,
    token: AccessToken,
    *,
    jobs: JobQueue,
    now: datetime | None = None,
) -> Store:
    """Create or update the shop's Store with an active status and the token encrypted (flushes, never commits).

    Once the caller commits, the shop's own settings (name, owner email, timezone, currency, …) are read with the
    new token: an install or reconnect is when they are first known, or may have changed unseen.
    """
    if not is_valid_shop_domain(shop):
        raise ValueError("not a *.myshopify.com shop domain")
    shop = shop.lower()
    now = now or utcnow()
    encrypted = cipher_for(settings).encrypt_json(token.to_credentials())
    store = find_shopify_store(session, shop)
    if store is None:
        store = Store(platform="shopify", domain=shop, name=shop.removesuffix(".myshopify.com"), installed_at=now)
        try:
            # A savepoint, so a concurrent install of the same shop (unique platform+domain) loses only this insert.
            with session.begin_nested():
                session.add(store)
                _apply_token(store, encrypted, token, now)
                session.flush()
            _after_install(session, jobs, store)
            return store
        except IntegrityError:
            store = find_shopify_store(session, shop)
            if store is None:
                raise
    _apply_token(store, encrypted, token, now)
    session.flush()
    _after_install(session, jobs, store)
    return store


def _after_install(session: Session, jobs: JobQueue, store: Store) -> None:
    """Once committed: read the shop's settings, and load its catalog if it never was."""
    shopify_identity.read_after_commit(session, jobs, store.id)
    _first_sync(session, jobs, store)


def _first_sync(session: Session, jobs: JobQueue, store: Store) -> None:
    """Start the store's first sync (after commit) unless it has one behind it.

    A store with a sync run behind it, finished or failed, is left to the periodic reconciliation and "Sync now":
    an install whose first sync failed is not retried on every page load.
    """
    if store.last_synced_at is None and session.scalar(select(SyncRun.id).where(SyncRun.store_id == store.id)) is None:
        shopify_sync.start_sync(session, jobs, store.id, "initial")


def _apply_token(store: Store, encrypted: bytes, token: AccessToken, now: datetime) -> None:
    if store.status != StoreStatus.ACTIVE:
        store.installed_at = now  # a reinstall or reconnect starts a new installation
    store.status = StoreStatus.ACTIVE
    store.status_reason = None
    store.uninstalled_at = None
    store.credentials_encrypted = encrypted
    store.access_token_expires_at = token.expires_at
    store.scopes = token.scope


def install_from_session_token(
    session: Session,
    settings: Settings,
    session_token: SessionToken,
    *,
    jobs: JobQueue,
    now: datetime | None = None,
    client: ShopifyOAuth | None = None,
    force: bool = False,
) -> Store:
    """Install (or reconnect) the session token's shop through token exchange and store its encrypted token.

    An active store whose stored refresh token is still good is returned as is: exchanging on every page load
    would mint a new token pair each time and race the workers refreshing the current one. Such a store whose
    settings were never read (installed before BackSoon read them, or every read failed) has them read now.
    """
    now = now or utcnow()
    store = find_shopify_store(session, session_token.shop)
    if store is not None and not force and _has_usable_credentials(store, settings, now):
        if store.identity_read_at is None:
            shopify_identity.read_after_commit(session, jobs, store.id)
        _first_sync(session, jobs, store)
        return store
    client = client or oauth_client(settings, now=now)
    token = client.exchange_session_token(session_token.shop, session_token.token)
    missing = missing_scopes(REQUIRED_SCOPES, token.scope)
    if missing:
        # Managed install grants what shopify.app.toml asks for; a gap means the toml and REQUIRED_SCOPES differ.
        log.warning("token exchange for %s granted no %s", session_token.shop, ",".join(missing))
    return save_access_token(session, settings, session_token.shop, token, jobs=jobs, now=now)


def install_from_code(
    session: Session,
    settings: Settings,
    shop: str,
    code: str,
    *,
    jobs: JobQueue,
    now: datetime | None = None,
    client: ShopifyOAuth | None = None,
) -> Store:
    """Finish the authorization code grant: exchange the code, insist on REQUIRED_SCOPES, store the token."""
    now = now or utcnow()
    client = client or oauth_client(settings, now=now)
    token = client.exchange_code(shop, code)
    missing = missing_scopes(REQUIRED_SCOPES, token.scope)
    if missing:
        raise MissingScopes(missing)
    return save_access_token(session, settings, shop, token, jobs=jobs, now=now)


def _has_usable_credentials(store: Store, settings: Settings, now: datetime) -> bool:
    if store.status != StoreStatus.ACTIVE or store.credentials_encrypted is None:
        return False
    try:
        token = AccessToken.from_credentials(cipher_for(settings).decrypt_json(store.credentials_encrypted))
    except (DecryptionError, ValueError):
        return False
    if token.refresh_token is None:
        return token.expires_at is None or token.expires_at > now + REFRESH_AHEAD
    return token.refresh_token_expires_at is None or token.refresh_token_expires_at > now + REFRESH_AHEAD


# --- handing out a valid access token ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Snapshot:
    """What the database says about a store's token right now (read outside the caller's transaction)."""

    domain: str
    status: str
    status_reason: str | None
    token: AccessToken | None
    expires_at: datetime | None


def access_token_for(
    session: Session,
    store_id: int,
    *,
    redis: Redis | None,
    settings: Settings,
    now: datetime | None = None,
    client: ShopifyOAuth | None = None,
    refresh_ahead: timedelta = REFRESH_AHEAD,
    wait_timeout: float = WAIT_TIMEOUT,
) -> str:
    """A valid Admin API access token for the store, refreshed under a per-store lock when it is about to expire.

    Raises AuthRevoked (without any HTTP call) for a store that is not active, TransientError when Shopify or the
    lock is unavailable. The refreshed pair is committed in its own short transaction before the lock is released,
    so it is never lost with the caller's transaction and waiters can read it; ``session`` only provides the
    database connection. On SQLite call this before writing in the same transaction.
    """
    now = now or utcnow()
    bind = session.get_bind()
    first = _read(bind, store_id, settings)
    _ensure_active(first)
    if _valid(first, now, refresh_ahead):
        return _token_of(first).access_token

    lock = _lock_for(redis, store_id)
    deadline = time.monotonic() + wait_timeout
    while True:
        if lock.acquire():
            try:
                # Re-read under the lock: another worker may have refreshed between our first read and now.
                current = _read(bind, store_id, settings)
                _ensure_active(current)
                if _valid(current, now, refresh_ahead) or _replaced(current, first, now):
                    return _token_of(current).access_token
                return _refresh(bind, store_id, current, settings, now, client)
            finally:
                lock.release()
                # Refreshed or disconnected behind the caller's back: its cached copy must reload.
                _expire_cached(session, store_id)
        # Someone else holds the lock: wait for their result in the database rather than spend the refresh token.
        while True:
            time.sleep(POLL_INTERVAL)
            current = _read(bind, store_id, settings)
            _ensure_active(current)
            if _valid(current, now, refresh_ahead) or _replaced(current, first, now):
                _expire_cached(session, store_id)
                return _token_of(current).access_token
            if time.monotonic() >= deadline:
                raise TransientError(f"timed out waiting for another worker to refresh store {store_id}'s token")
            if not lock.held():
                break  # the holder finished without a usable token or died: try to take the lock ourselves


def _read(bind: Engine | Connection, store_id: int, settings: Settings) -> _Snapshot:
    # A short session of its own: under the caller's transaction a snapshot-isolated read could miss the winner's
    # commit, and the caller's identity map would hand back the stale row.
    with Session(bind) as s:
        row = s.execute(
            select(
                Store.platform,
                Store.domain,
                Store.status,
                Store.status_reason,
                Store.credentials_encrypted,
                Store.access_token_expires_at,
            ).where(Store.id == store_id)
        ).one_or_none()
    if row is None:
        raise NotFound(f"no store {store_id}")
    if row.platform != "shopify":
        raise ValueError(f"store {store_id} is not a Shopify store")
    token = None
    if row.credentials_encrypted is not None:
        try:
            token = AccessToken.from_credentials(cipher_for(settings).decrypt_json(row.credentials_encrypted))
        except ValueError as exc:
            raise DecryptionError(f"stored credentials of store {store_id} are unreadable") from exc
    return _Snapshot(row.domain, row.status, row.status_reason, token, _aware(row.access_token_expires_at))


def _aware(value: datetime | None) -> datetime | None:
    # SQLite hands back naive datetimes; every time here is UTC.
    return value.replace(tzinfo=UTC) if value is not None and value.tzinfo is None else value


def _ensure_active(snap: _Snapshot) -> None:
    if snap.status != StoreStatus.ACTIVE:
        reason = f": {snap.status_reason}" if snap.status_reason else ""
        raise AuthRevoked(f"store {snap.domain} is {snap.status}{reason}", code=snap.status)


def _token_of(snap: _Snapshot) -> AccessToken:
    assert snap.token is not None  # _valid/_replaced only return True with a token
    return snap.token


def _expiry(snap: _Snapshot) -> datetime | None:
    assert snap.token is not None
    return snap.token.expires_at or snap.expires_at


def _valid(snap: _Snapshot, now: datetime, ahead: timedelta) -> bool:
    if snap.token is None:
        return False
    expires = _expiry(snap)
    return expires is None or expires > now + ahead


def _replaced(snap: _Snapshot, seen: _Snapshot, now: datetime) -> bool:
    # A token someone refreshed since we looked counts even inside the refresh window (a short-lived token must not
    # make every worker refresh again), as long as it has not actually expired.
    if snap.token is None:
        return False
    expires = _expiry(snap)
    changed = seen.token is None or snap.token.access_token != seen.token.access_token
    return changed and (expires is None or expires > now)


def _refresh(
    bind: Engine | Connection,
    store_id: int,
    snap: _Snapshot,
    settings: Settings,
    now: datetime,
    client: ShopifyOAuth | None,
) -> str:
    token = snap.token
    if token is None:
        _disconnect(bind, store_id, "no stored Shopify credentials; open the app in Shopify admin to reconnect")
        raise AuthRevoked(f"store {snap.domain} has no stored credentials", code="no_credentials")
    if token.refresh_token is None:
        _disconnect(bind, store_id, "access token expired and cannot be refreshed; open the app to reconnect")
        raise AuthRevoked(f"store {snap.domain}'s access token expired and has no refresh token", code="expired")
    if token.refresh_token_expires_at is not None and token.refresh_token_expires_at <= now:
        # Shopify would answer invalid_grant; skip the call.
        _disconnect(bind, store_id, "refresh token expired; open the app in Shopify admin to reconnect")
        raise AuthRevoked(f"store {snap.domain}'s refresh token expired", code="refresh_token_expired")
    client = client or oauth_client(settings, now=now)
    try:
        fresh = client.refresh(snap.domain, token.refresh_token)
    except TokenRejected as exc:
        _disconnect(bind, store_id, f"Shopify refused the refresh token ({exc.error}); open the app to reconnect")
        log.warning("store %s disconnected: token refresh refused (%s)", snap.domain, exc.error)
        raise
    if not fresh.scope:
        fresh = AccessToken(
            fresh.access_token, token.scope, fresh.expires_at, fresh.refresh_token, fresh.refresh_token_expires_at
        )
    encrypted = cipher_for(settings).encrypt_json(fresh.to_credentials())
    with _write(bind) as s:
        # Only an active store takes the new pair: an app/uninstalled webhook processed meanwhile wins.
        result = s.execute(
            update(Store)
            .where(Store.id == store_id, Store.status == StoreStatus.ACTIVE)
            .values(credentials_encrypted=encrypted, access_token_expires_at=fresh.expires_at, scopes=fresh.scope)
            .execution_options(synchronize_session=False)
        )
        stored = _rowcount(result) == 1
    if not stored:
        raise AuthRevoked(f"store {snap.domain} was uninstalled or disconnected during the refresh", code="inactive")
    log.info("refreshed Shopify access token for %s (expires %s)", snap.domain, _iso(fresh.expires_at))
    return fresh.access_token


def _rowcount(result: Any) -> int:
    return int(getattr(result, "rowcount", 0) or 0)


def _iso(value: datetime | None) -> str:
    return value.isoformat() if value else "never"


def _disconnect(bind: Engine | Connection, store_id: int, reason: str) -> None:
    # The refused token is worthless and a stored secret kept for nothing is only a liability: drop it.
    with _write(bind) as s:
        s.execute(
            update(Store)
            .where(Store.id == store_id, Store.status == StoreStatus.ACTIVE)
            .values(
                status=StoreStatus.DISCONNECTED,
                status_reason=reason[:255],
                credentials_encrypted=None,
                access_token_expires_at=None,
            )
            .execution_options(synchronize_session=False)
        )


@contextmanager
def _write(bind: Engine | Connection) -> Iterator[Session]:
    """A short transaction of its own, committed on exit; on PostgreSQL it gives up on a locked row after 5 s."""
    with Session(bind) as s, s.begin():
        if s.get_bind().dialect.name == "postgresql":
            # The caller may hold this store's row locked in its own transaction; fail instead of waiting forever.
            s.execute(text("SET LOCAL lock_timeout = '5s'"))
        yield s


def _expire_cached(session: Session, store_id: int) -> None:
    # If the caller's session already holds this store, make it reload the columns we changed behind its back.
    for obj in list(session.identity_map.values()):
        if isinstance(obj, Store) and obj.id == store_id:
            session.expire(obj, ["credentials_encrypted", "access_token_expires_at", "scopes", "status"])


# --- the per-store lock ------------------------------------------------------------------------------------------


class _RedisLock:
    """SET NX PX with a random owner token; released only by its owner (compare-and-delete in Lua)."""

    def __init__(self, redis: Redis, key: str, ttl: timedelta) -> None:
        self._redis = redis
        self._key = key
        self._ttl_ms = int(ttl.total_seconds() * 1000)
        self._token = secrets.token_hex(16)

    def acquire(self) -> bool:
        try:
            return bool(self._redis.set(self._key, self._token, nx=True, px=self._ttl_ms))
        except RedisError as exc:
            # Refreshing without the lock could burn the refresh token in a race; let the caller retry later.
            raise TransientError("token refresh lock unavailable (Redis)") from exc

    def held(self) -> bool:
        try:
            return bool(self._redis.exists(self._key))
        except RedisError as exc:
            raise TransientError("token refresh lock unavailable (Redis)") from exc

    def release(self) -> None:
        try:
            self._redis.eval(_RELEASE_LUA, 1, self._key, self._token)
        except RedisError:
            log.warning("could not release %s; it expires on its own", self._key)


class _LocalLock:
    """Without Redis (in-process jobs) one process does all the work, so a per-store thread lock suffices."""

    _locks: dict[int, threading.Lock] = {}
    _guard = threading.Lock()

    def __init__(self, store_id: int) -> None:
        with self._guard:
            self._lock = self._locks.setdefault(store_id, threading.Lock())

    def acquire(self) -> bool:
        return self._lock.acquire(blocking=False)

    def held(self) -> bool:
        return self._lock.locked()

    def release(self) -> None:
        self._lock.release()


def _lock_for(redis: Redis | None, store_id: int) -> _RedisLock | _LocalLock:
    if redis is None:
        return _LocalLock(store_id)
    return _RedisLock(redis, _LOCK_KEY.format(store_id=store_id), LOCK_TTL)
