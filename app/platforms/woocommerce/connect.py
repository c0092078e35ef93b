"""Connecting a WooCommerce store: the wc-auth key handshake, pasted keys, and plain-language connection checks.

Two ways in:

- **wc-auth** (``/wc-auth/v1/authorize``): the merchant approves BackSoon in WordPress; WooCommerce creates a key and
  POSTs ``{key_id, user_id, consumer_key, consumer_secret, key_permissions}`` as JSON to our https ``callback_url``
  (it refuses any other scheme: "The callback_url needs to be over SSL"), then redirects the browser to
  ``return_url`` with ``success=1&user_id=…`` (``success=0`` when the merchant declines). ``user_id`` is ours, not a
  WordPress user: we send a random **attempt id** (:class:`WooConnectAttempt`), stored only as its sha256 and kept
  raw in the signed session cookie of the browser that started the attempt. The callback binds the key to that
  attempt; the return page signs in only the browser holding it, once, and only while it is the store's latest
  attempt (starting a new one invalidates the older ones, whose callbacks are then refused). Any callback answer
  other than HTTP 200 makes WooCommerce delete the key it just created. The keys are not test-called inside the
  callback: WooCommerce is blocked waiting for our answer, and a single-worker PHP server would deadlock; the first
  sync proves them.
- **Pasted keys** (form and CLI): checked with a real ``GET products?per_page=1`` before anything is stored; the
  store's own settings (name, timezone, currency, country, language, admin email) are then read with the same
  client, so the merchant sees the real store name at once. A read that fails does not fail the connect: the
  reconciliation reads them later (identity.py). A wc-auth store's settings are read by a job queued after the
  callback's commit.

Plain http stores are allowed: WooCommerce then signs requests with OAuth 1.0a, so the consumer secret never crosses
the wire, but everything else (products, orders, customer emails) travels unencrypted and can be read or altered on
the way; :func:`http_warning` says so wherever a store is connected.
"""

from __future__ import annotations

import logging
import re
import secrets
import socket
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode, urlsplit

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from app import job_specs
from app.config import Settings
from app.db import utcnow
from app.infra.crypto import DecryptionError, cipher_for
from app.infra.links import hash_token
from app.models import Store, StoreStatus, WooConnectAttempt
from app.queue import JobQueue, enqueue_after_commit
from app.services.merchant.identity import record_reported
from integrations.base import AuthRevoked, InvalidRequest, NotFound, PlatformError, StoreInfo, TransientError
from integrations.woocommerce.client import Resolver, WooClient, check_public_url
from integrations.woocommerce.identity import read_store_info

__all__ = [
    "ATTEMPT_RE",
    "PENDING_MAX_AGE",
    "PLATFORM",
    "ConnectError",
    "Started",
    "accept_keys",
    "authorize_url",
    "check_keys",
    "connect_with_keys",
    "find_store",
    "http_warning",
    "normalise_store_url",
    "sign_in_attempt",
    "start_connection",
]

log = logging.getLogger(__name__)

PLATFORM = "woocommerce"
SCOPE = "read_write"
PENDING_MAX_AGE = timedelta(hours=1)
"""How long a pending store waits for its wc-auth callback before the merchant must start again."""
CHECK_TIMEOUT = (5.0, 15.0)
"""Connect and read timeouts for the key check: a merchant is waiting on the form."""

RESOLVER: Resolver = socket.getaddrinfo
"""The DNS resolver used for the SSRF check and the client (tests replace it)."""

_KEY_RE = re.compile(r"ck_[0-9a-f]{40}")
_SECRET_RE = re.compile(r"cs_[0-9a-f]{40}")
_SEGMENT_RE = re.compile(r"[A-Za-z0-9._~-]+")
# Path segments that mean the merchant pasted a page of the store, not its home address.
_NOT_A_BASE = {"wp-admin", "wp-json", "wp-content", "wp-includes", "wc-auth", "product", "product-category"}
_MAX_URL = 255  # stores.domain


class ConnectError(Exception):
    """A connection attempt that failed for a reason the merchant can act on; ``message`` is plain language."""

    def __init__(self, code: str, message: str, *, field: str | None = None, status: int = 400) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.field = field
        self.status = status


# --- URLs --------------------------------------------------------------------------------------------------------


def normalise_store_url(url: str) -> str:
    """The store's base URL: http(s) scheme required, lowercase host, no query, only a WordPress subdirectory path."""
    text = (url or "").strip()
    example = "for example https://myshop.com"
    if not text:
        raise ConnectError("invalid_url", f"Enter your store's address, {example}.", field="url")
    if "://" not in text:
        raise ConnectError(
            "invalid_url",
            f"Start the address with https:// (or http:// if your store has no SSL certificate), {example}.",
            field="url",
        )
    try:
        parts = urlsplit(text)
        port = parts.port
    except ValueError:
        raise ConnectError("invalid_url", f"That is not a valid web address; {example}.", field="url") from None
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https"):
        raise ConnectError("invalid_url", f"The address must start with https:// or http://, {example}.", field="url")
    if parts.username is not None or parts.password is not None:
        raise ConnectError("invalid_url", "Leave the user name and password out of the address.", field="url")
    host = (parts.hostname or "").rstrip(".")
    if not host:
        raise ConnectError("invalid_url", f"The address has no host name; {example}.", field="url")
    try:
        host = host.encode("idna").decode("ascii").lower()
    except UnicodeError:
        raise ConnectError("invalid_url", "The host name is not valid.", field="url") from None
    if parts.query or parts.fragment:
        raise ConnectError("invalid_url", "Use your store's home address without anything after ? or #.", field="url")
    segments = [s for s in parts.path.split("/") if s]
    for segment in segments:
        if not _SEGMENT_RE.fullmatch(segment) or segment in (".", "..") or segment.lower().endswith(".php"):
            raise ConnectError("invalid_url", "The address path is not a WordPress folder.", field="url")
        if segment.lower() in _NOT_A_BASE:
            raise ConnectError(
                "invalid_url",
                "That looks like a page of your store, not its home address. Use the address of your store's "
                "front page, for example https://myshop.com (or https://myshop.com/shop if WordPress is installed "
                "in a folder).",
                field="url",
            )
    netloc = f"[{host}]" if ":" in host else host
    if port is not None and port != (443 if scheme == "https" else 80):
        netloc = f"{netloc}:{port}"
    result = f"{scheme}://{netloc}" + "".join(f"/{s}" for s in segments)
    if len(result) > _MAX_URL:
        raise ConnectError("invalid_url", "That address is too long.", field="url")
    return result


def http_warning(store_url: str) -> str | None:
    """A plain warning for a store without https, or None."""
    if not store_url.lower().startswith("http://"):
        return None
    return (
        "Your store does not use https. BackSoon can still connect (WooCommerce signs each request, so your "
        "secret key is never sent in the clear), but product, order and customer data travel unencrypted and "
        "could be read or changed on the way. Turn on SSL for your store as soon as you can."
    )


def authorize_url(store_url: str, store_id: int, attempt: str, app_url: str, app_name: str = "BackSoon") -> str:
    """The store's wc-auth page asking the merchant to give BackSoon a read/write key for this connect attempt."""
    app = app_url.strip().rstrip("/")
    if not app.lower().startswith("https://"):
        raise ConnectError(
            "callback_not_https",
            "WooCommerce only sends API keys to an https address, and BackSoon's public address (APP_URL) is "
            f"{app or '(unset)'}. Set APP_URL to BackSoon's public https address, or paste API keys instead.",
        )
    base = normalise_store_url(store_url)
    query = urlencode(
        {
            "app_name": app_name,
            "scope": SCOPE,
            "user_id": attempt,
            "return_url": f"{app}/woocommerce/connected?store={store_id}",
            "callback_url": f"{app}/woocommerce/callback",
        }
    )
    return f"{base}/wc-auth/v1/authorize?{query}"


# --- store rows --------------------------------------------------------------------------------------------------


def find_store(session: Session, store_url: str) -> Store | None:
    """The WooCommerce store with this (normalised) base URL, if any."""
    return session.execute(
        select(Store).where(Store.platform == PLATFORM, Store.domain == normalise_store_url(store_url))
    ).scalar_one_or_none()


def _new_webhook_secret(settings: Settings) -> bytes:
    return cipher_for(settings).encrypt(secrets.token_urlsafe(32).encode("ascii"))


def _host(store_url: str) -> str:
    return urlsplit(store_url).hostname or store_url


@dataclass(frozen=True, slots=True)
class Started:
    """A wc-auth attempt just opened: the pending store, the store's approval URL, and the raw attempt id."""

    store: Store
    url: str
    attempt: str


ATTEMPT_RE = re.compile(r"[A-Za-z0-9_-]{32,64}")
"""What an attempt id looks like (``secrets.token_urlsafe(32)``); anything else is refused before a lookup."""


SITE_INDEX_TIMEOUT = (3.0, 5.0)
"""The pre-redirect read of the store's public site index waits no longer than this: it must not hold up connecting."""


def needs_timezone(
    settings: Settings, store_url: str, client_factory: Callable[..., WooClient] = WooClient
) -> tuple[bool, float | None]:
    """Whether the store's public site index says it has no timezone (a manual "UTC+1" offset), and that offset.

    Only an answer that names no zone asks the merchant; a store that cannot be read (not public, down, a security
    plugin) is asked nothing here: the identity read after connecting tries again, and Settings can set it.
    """
    try:
        base = normalise_store_url(store_url)
        check_public_url(base, RESOLVER, allow_private=settings.allow_private_stores)
        # The site index is public: no key is sent (the client refuses to sign a public request).
        client = client_factory(
            base,
            "",
            "",
            resolver=RESOLVER,
            timeout=SITE_INDEX_TIMEOUT,
            get_retries=0,
            allow_private=settings.allow_private_stores,
        )
        index = client.get_site_index(("timezone_string", "gmt_offset"))
    except (ConnectError, PlatformError, ValueError) as exc:
        log.info("WooCommerce store %s: site index not read before connecting: %s", store_url, exc)
        return False, None
    zone = index.get("timezone_string")
    if isinstance(zone, str) and zone.strip():
        return False, None
    # A number in the captured index, but the option as stored ("1") when it was saved without the settings page.
    offset = index.get("gmt_offset")
    if isinstance(offset, bool) or not isinstance(offset, int | float | str):
        return True, None
    try:
        return True, float(offset)
    except ValueError:
        return True, None


def offset_zone(offset: float | None) -> str | None:
    """The IANA zone that keeps a whole-hour offset all year ("Etc/GMT-1" for UTC+1: the sign is inverted)."""
    # "nan" and "inf" parse as floats too: only a finite whole hour in the real range names a zone.
    if offset is None or not -12 <= offset <= 14 or offset != int(offset):
        return None
    hours = int(offset)
    return "Etc/UTC" if hours == 0 else f"Etc/GMT{-hours:+d}"


def start_connection(session: Session, settings: Settings, store_url: str) -> Started:
    """Create (or reuse) a pending store row and open a new wc-auth attempt for it, invalidating older attempts."""
    base = normalise_store_url(store_url)
    # Refuse a plain-http APP_URL before anything is written.
    authorize_url(base, 0, "", settings.app_url)
    store = find_store(session, base)
    if store is not None and store.status == StoreStatus.ACTIVE:
        raise ConnectError(
            "already_connected",
            "This store is already connected to BackSoon. To replace its API key, paste the new key below.",
            field="url",
        )
    if store is None:
        store = Store(platform=PLATFORM, domain=base, name=_host(base), status=StoreStatus.PENDING)
        session.add(store)
    store.status = StoreStatus.PENDING
    store.status_reason = "waiting for WooCommerce to send the API key"
    store.updated_at = utcnow()  # starts the PENDING_MAX_AGE window even when nothing else changed
    if store.webhook_secret_encrypted is None:
        # Existing webhooks on a reconnecting store are signed with the old secret: keep it.
        store.webhook_secret_encrypted = _new_webhook_secret(settings)
    session.flush()
    now = utcnow()
    # Another browser starting a connect for the same store makes every earlier attempt worthless, so a merchant
    # approving later can never sign in a browser that started before theirs.
    session.execute(
        update(WooConnectAttempt)
        .where(WooConnectAttempt.store_id == store.id, WooConnectAttempt.invalidated_at.is_(None))
        .values(invalidated_at=now)
    )
    raw = secrets.token_urlsafe(32)
    session.add(WooConnectAttempt(store_id=store.id, token_hash=hash_token(raw), created_at=now))
    session.flush()
    return Started(store, authorize_url(base, store.id, raw, settings.app_url), raw)


def _field(payload: Mapping[str, Any], name: str) -> Any:
    if name not in payload or payload[name] in (None, ""):
        raise ConnectError("missing_field", f"The callback has no {name}.", field=name)
    return payload[name]


def _as_id(value: Any, name: str) -> str:
    if isinstance(value, float) and value.is_integer():
        value = int(value)  # JSON has one number type: 7.0 is the integer 7 (JSON Schema says so too)
    if isinstance(value, bool) or not isinstance(value, int | str) or not str(value).strip().isdigit():
        raise ConnectError("invalid_field", f"The callback's {name} is not a number.", field=name)
    return str(int(str(value).strip()))


def _attempt(session: Session, raw: str, *, lock: bool = False) -> WooConnectAttempt | None:
    if not ATTEMPT_RE.fullmatch(raw):
        return None
    stmt = select(WooConnectAttempt).where(WooConnectAttempt.token_hash == hash_token(raw))
    return session.execute(stmt.with_for_update() if lock else stmt).scalar_one_or_none()


def accept_keys(session: Session, settings: Settings, payload: Any, jobs: JobQueue | None = None) -> tuple[Store, bool]:
    """Bind the key WooCommerce POSTed to the wc-auth callback to its attempt and store it encrypted on the store.

    Returns the store and whether the key is new (False for the same delivery again, which changes nothing).
    """
    if not isinstance(payload, Mapping):
        raise ConnectError("invalid_payload", "The callback body must be a JSON object.")
    key_id = _as_id(_field(payload, "key_id"), "key_id")
    user_id = _field(payload, "user_id")
    key = _field(payload, "consumer_key")
    secret = _field(payload, "consumer_secret")
    permissions = _field(payload, "key_permissions")
    if not isinstance(key, str) or not _KEY_RE.fullmatch(key):
        raise ConnectError("invalid_field", "consumer_key is not a WooCommerce consumer key.", field="consumer_key")
    if not isinstance(secret, str) or not _SECRET_RE.fullmatch(secret):
        raise ConnectError(
            "invalid_field", "consumer_secret is not a WooCommerce consumer secret.", field="consumer_secret"
        )
    if permissions != SCOPE:
        raise ConnectError(
            "wrong_permissions",
            f"BackSoon needs a read_write key, WooCommerce granted {str(permissions)[:20]!r}.",
            field="key_permissions",
        )
    attempt = _attempt(session, str(user_id), lock=True) if isinstance(user_id, str) else None
    store = session.get(Store, attempt.store_id) if attempt is not None else None
    if attempt is None or store is None or store.platform != PLATFORM:
        raise ConnectError(
            "unknown_attempt", "No connect attempt is waiting for this key.", field="user_id", status=404
        )
    if attempt.keys_bound_at is not None:
        if attempt.key_id == key_id and attempt.consumer_key_hash == hash_token(key):
            return store, False  # the same delivery again (a proxy retry): already stored
        raise ConnectError(
            "attempt_used", "This connect attempt already received its key; start connecting again.", status=409
        )
    if attempt.invalidated_at is not None:
        raise ConnectError(
            "attempt_superseded", "A newer connect attempt was started for this store; approve that one.", status=409
        )
    if utcnow() - _aware(attempt.created_at) > PENDING_MAX_AGE:
        raise ConnectError("expired", "This connection request expired; start connecting again.")
    if store.status != StoreStatus.PENDING:
        raise ConnectError("not_pending", "This store is not waiting for a key; start connecting again.", status=409)
    now = utcnow()
    _replace_key(session, settings, jobs, store, key)
    credentials = {"consumer_key": key, "consumer_secret": secret, "key_id": key_id}
    _activate(store, cipher_for(settings).encrypt_json(credentials))
    attempt.key_id = key_id
    attempt.consumer_key_hash = hash_token(key)
    attempt.keys_bound_at = now
    session.flush()
    return store, True


def sign_in_attempt(session: Session, store_id: int, raw: str) -> bool:
    """Spend the browser's attempt once: True when its key arrived and it is still the store's latest attempt."""
    attempt = _attempt(session, raw)
    if attempt is None or attempt.store_id != store_id:
        return False
    if attempt.keys_bound_at is None or attempt.invalidated_at is not None or attempt.signed_in_at is not None:
        return False
    if utcnow() - _aware(attempt.created_at) > PENDING_MAX_AGE:
        return False
    # One conditional UPDATE: two tabs returning at once cannot both spend it, and an attempt invalidated by a
    # newer one in the meantime is not spent either.
    spent = session.execute(
        update(WooConnectAttempt)
        .where(
            WooConnectAttempt.id == attempt.id,
            WooConnectAttempt.signed_in_at.is_(None),
            WooConnectAttempt.invalidated_at.is_(None),
        )
        .values(signed_in_at=utcnow())
        .returning(WooConnectAttempt.id)
    ).scalar_one_or_none()
    return spent is not None


def _aware(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value


def _key_suffix(settings: Settings, store: Store, new_key: str) -> str | None:
    """The last 7 characters of the key being replaced (what WooCommerce lists as the key's "ending in"), or None."""
    if store.credentials_encrypted is None:
        return None
    try:
        old = cipher_for(settings).decrypt_json(store.credentials_encrypted).get("consumer_key")
    except DecryptionError:
        return None
    return old[-7:] if isinstance(old, str) and old and old != new_key else None


def _replace_key(session: Session, settings: Settings, jobs: JobQueue | None, store: Store, new_key: str) -> None:
    """Remember the replaced key for the admin's revoke notice, and queue removing the webhooks made with it."""
    suffix = _key_suffix(settings, store, new_key)
    if suffix is None:
        return
    store.replaced_key_suffix = suffix
    if jobs is not None:
        # After the commit, with the new key: its list holds the webhooks the old key created before now.
        spec = job_specs.woo_replace_webhooks(store.id, utcnow().isoformat())
        enqueue_after_commit(session, jobs, spec)


def _activate(store: Store, credentials: bytes) -> None:
    store.credentials_encrypted = credentials
    store.scopes = SCOPE
    store.status = StoreStatus.ACTIVE
    store.status_reason = None
    store.installed_at = utcnow()
    store.uninstalled_at = None


# --- checking keys -----------------------------------------------------------------------------------------------


_PERMALINKS = (
    "BackSoon could not reach your store's REST API at {url}/wp-json/. This almost always means WordPress "
    'uses "Plain" permalinks: in WordPress go to Settings → Permalinks, choose any other option (for example '
    '"Post name"), save, and try again. A security or caching plugin that blocks /wp-json/ has the same effect.'
)


def _check_format(key: str, secret: str) -> None:
    if not key.startswith("ck_"):
        raise ConnectError(
            "invalid_key",
            "The consumer key starts with ck_ — copy it from WooCommerce → Settings → Advanced → REST API.",
            field="key",
        )
    if not secret.startswith("cs_"):
        raise ConnectError("invalid_secret", "The consumer secret starts with cs_ — copy it again.", field="secret")


def check_keys(
    store_url: str,
    key: str,
    secret: str,
    client_factory: Callable[..., WooClient] = WooClient,
    *,
    allow_private: bool = False,
) -> WooClient:
    """Call the store's REST API with these keys once and return the client; ConnectError, plainly, if it fails."""
    base = normalise_store_url(store_url)
    key, secret = key.strip(), secret.strip()
    _check_format(key, secret)
    host = _host(base)
    try:
        check_public_url(base, RESOLVER, allow_private=allow_private)
    except InvalidRequest as exc:
        if "does not resolve" in str(exc):
            raise ConnectError(
                "host_not_found",
                f"The address {host} does not exist (no DNS record). Check the spelling of your store's address.",
                field="url",
            ) from None
        raise ConnectError(
            "private_address",
            f"{host} points to a private or local network address, which BackSoon cannot reach from the "
            "internet. Use your store's public address.",
            field="url",
        ) from None
    try:
        client = client_factory(
            base, key, secret, resolver=RESOLVER, timeout=CHECK_TIMEOUT, get_retries=0, allow_private=allow_private
        )
        items = client.get("products", {"per_page": 1})
    except AuthRevoked as exc:
        if exc.code == "woocommerce_rest_cannot_view":
            raise ConnectError(
                "insufficient_role",
                "The key works, but it belongs to a WordPress user who may not manage the shop. Create the key "
                "for an Administrator or Shop manager.",
                field="key",
            ) from None
        if exc.status == 403:
            raise ConnectError(
                "forbidden",
                "Your store refused access with these keys (403). Make sure the key has Read/Write permission and "
                "that no security plugin blocks the REST API.",
                field="key",
            ) from None
        raise ConnectError(
            "wrong_keys",
            "Your store rejected these keys. Check that you copied the whole consumer key and secret, and that "
            "the key was not revoked in WooCommerce → Settings → Advanced → REST API.",
            field="key",
        ) from None
    except NotFound as exc:
        if exc.code == "rest_no_route":
            raise ConnectError(
                "no_rest_route",
                f"{host} answered, but has no WooCommerce REST API (/wp-json/wc/v3/). Make sure the WooCommerce "
                "plugin is installed and active, and that the address is your WordPress site.",
                field="url",
            ) from None
        raise ConnectError("plain_permalinks", _PERMALINKS.format(url=base), field="url") from None
    except TransientError as exc:
        if exc.status is not None:
            raise ConnectError(
                "store_error",
                f"Your store had an internal error (HTTP {exc.status}). Try again in a few minutes.",
                field="url",
            ) from None
        raise ConnectError(
            "unreachable",
            f"BackSoon could not connect to {host} (no answer or connection refused). Check the address and "
            "that your store is online and reachable from the internet.",
            field="url",
        ) from None
    except InvalidRequest as exc:
        if exc.status is not None and 300 <= exc.status < 400:
            raise ConnectError(
                "redirected",
                "Your store redirects to another address. Enter the address your store really uses (check "
                "https:// and www. in your browser's address bar).",
                field="url",
            ) from None
        raise ConnectError("store_refused", f"Your store refused the request: {exc}", field="url") from None
    except PlatformError as exc:
        if "not JSON" in str(exc):
            raise ConnectError("plain_permalinks", _PERMALINKS.format(url=base), field="url") from None
        raise ConnectError("store_error", f"Your store gave an unexpected answer: {exc}", field="url") from None
    if not isinstance(items, list):
        raise ConnectError("plain_permalinks", _PERMALINKS.format(url=base), field="url")
    return client


def _read_identity(client: WooClient) -> StoreInfo | None:
    """The store's settings, or None when it could not tell (the keys already worked: the connect goes on)."""
    try:
        return read_store_info(client)
    except PlatformError as exc:
        log.warning("WooCommerce store %s: settings not read at connect: %s", client.store_url, exc)
        return None


def connect_with_keys(
    session: Session,
    settings: Settings,
    store_url: str,
    key: str,
    secret: str,
    *,
    client_factory: Callable[..., WooClient] = WooClient,
    jobs: JobQueue | None = None,
) -> Store:
    """Check pasted keys against the store and read its settings, then store the keys encrypted on an active row."""
    base = normalise_store_url(store_url)
    key, secret = key.strip(), secret.strip()
    client = check_keys(base, key, secret, client_factory, allow_private=settings.allow_private_stores)
    # Read before any row is written or locked: the merchant's host may be slow.
    info = _read_identity(client)
    store = find_store(session, base)
    if store is None:
        store = Store(platform=PLATFORM, domain=base, name=_host(base))
        session.add(store)
    if store.webhook_secret_encrypted is None:
        store.webhook_secret_encrypted = _new_webhook_secret(settings)
    _replace_key(session, settings, jobs, store, key)
    _activate(store, cipher_for(settings).encrypt_json({"consumer_key": key, "consumer_secret": secret}))
    if info is not None:
        record_reported(store, info.identity(), utcnow())
    session.flush()
    return store
