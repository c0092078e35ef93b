"""Stores, their settings with per-product/variant overrides, and sync runs."""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import ForeignKey, Index, LargeBinary, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from app.db import Base, BigId, JsonDoc, utcnow
from app.models.base import IdMixin, StoreScoped, Timestamps


class StoreStatus(StrEnum):
    """Where a store's connection stands (stores.status)."""

    PENDING = "pending"  # WooCommerce connect started, the API key not received yet
    ACTIVE = "active"
    DISCONNECTED = "disconnected"  # the platform rejected our credentials
    UNINSTALLED = "uninstalled"


class SyncRunStatus(StrEnum):
    """A sync run's progress (sync_runs.status)."""

    PENDING = "pending"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"


class OutboundWebhookStatus(StrEnum):
    """An outbound webhook delivery's progress (outbound_webhook_deliveries.status)."""

    PENDING = "pending"
    SENT = "sent"
    FAILED = "failed"


class OrderEmailAccess(StrEnum):
    """What Shopify answered when BackSoon read its orders' email (protected data; stores.order_email_access)."""

    GRANTED = "granted"  # an order came with its email: the app is approved for it on this store
    DENIED = "denied"  # Shopify answered ACCESS_DENIED on Order.email: not approved (yet)
    # Shopify refused the Order object itself (no protected customer data approval at all): no order is read, no
    # day of sales is known, and the read is tried again daily (app.platforms.shopify.order_access).
    NO_ORDERS = "no_orders"


class Store(IdMixin, Timestamps, Base):
    """A merchant's store on one platform; the tenant every other row belongs to."""

    __tablename__ = "stores"
    __table_args__ = (UniqueConstraint("platform", "domain"),)

    platform: Mapped[str] = mapped_column(String(20))  # shopify | woocommerce | demo
    domain: Mapped[str] = mapped_column(String(255))
    name: Mapped[str] = mapped_column(String(255), default="")
    external_id: Mapped[str | None] = mapped_column(String(64))
    # Fernet tokens (MultiFernet); plaintext secrets never touch the database or logs.
    credentials_encrypted: Mapped[bytes | None] = mapped_column(LargeBinary)
    webhook_secret_encrypted: Mapped[bytes | None] = mapped_column(LargeBinary)
    access_token_expires_at: Mapped[datetime | None]
    scopes: Mapped[str] = mapped_column(String(1000), default="")
    # sha256 of the admin API key: enough to check a presented key, useless if leaked.
    api_key_hash: Mapped[str | None] = mapped_column(String(64), unique=True)
    timezone: Mapped[str] = mapped_column(String(64), default="UTC")
    currency: Mapped[str] = mapped_column(String(3), default="USD")
    locale: Mapped[str] = mapped_column(String(16), default="en")
    country: Mapped[str | None] = mapped_column(String(2))
    # The columns above (name, timezone, currency, locale, country) and admin_email are the effective identity:
    # what the merchant set here (identity_overrides) wins over what the platform reports (reported_identity, read
    # at install or connect and kept fresh), which wins over the defaults. app.domain.store_identity decides.
    reported_identity: Mapped[dict[str, Any] | None] = mapped_column(JsonDoc)
    identity_overrides: Mapped[dict[str, Any] | None] = mapped_column(JsonDoc)
    identity_read_at: Mapped[datetime | None]
    status: Mapped[str] = mapped_column(String(20), default=StoreStatus.ACTIVE)  # StoreStatus
    status_reason: Mapped[str | None] = mapped_column(String(255))
    installed_at: Mapped[datetime] = mapped_column(default=utcnow)
    uninstalled_at: Mapped[datetime | None]
    last_synced_at: Mapped[datetime | None]
    last_reconciled_at: Mapped[datetime | None]
    last_recomputed_at: Mapped[datetime | None]
    # Orders before this moment were never visible to BackSoon (Shopify without read_all_orders shows 60 days):
    # the figures leave those days out instead of reading them as days without sales. None: no such horizon.
    orders_history_from: Mapped[datetime | None]
    # Shopify only: an OrderEmailAccess, None until an order read tells. Attribution matches orders to restock emails
    # by the order's email, so with "denied" (or "no_orders": no order at all) it has nothing to match and the admin
    # says why. order_email_checked_at: when Shopify last answered so.
    order_email_access: Mapped[str | None] = mapped_column(String(10))
    order_email_checked_at: Mapped[datetime | None]
    # When the merchant last declined the optional read_all_orders scope in the admin's prompt (None: never, or
    # granted since): the prompt then says what declining means instead of asking again at once.
    all_orders_declined_at: Mapped[datetime | None]
    # Merchant admin (#6): where sign-in links and alerts go, the secret of the marketing-signal feed URL,
    # and the optional outbound webhook for signal changes (its signing secret encrypted like the others).
    admin_email: Mapped[str | None] = mapped_column(String(320))
    feed_token: Mapped[str | None] = mapped_column(String(64), unique=True)
    outbound_webhook_url: Mapped[str | None] = mapped_column(String(2000))
    outbound_webhook_secret_encrypted: Mapped[bytes | None] = mapped_column(LargeBinary)
    last_digest_on: Mapped[date | None]
    # The optional instant alert: when the last one was sent (claimed), and what it had told by then
    # ({"event_id": highest stock event seen, "signals": {variant id: non-ok signal}}).
    instant_alert_at: Mapped[datetime | None]
    instant_alert_cursor: Mapped[dict[str, Any] | None] = mapped_column(JsonDoc)
    # WooCommerce: the last 7 characters of a consumer key that new keys replaced. REST cannot revoke a key, so the
    # admin asks the merchant to revoke it by hand (WooCommerce lists keys by these characters) until dismissed.
    replaced_key_suffix: Mapped[str | None] = mapped_column(String(7))
    # The first storefront call for this store (the plugin's or the app embed's state read): the setup's next step
    # is done once the storefront asks BackSoon for stock.
    storefront_seen_at: Mapped[datetime | None]
    # Every standalone admin session carries the generation it started under; signing out moves it on, which ends
    # every session of this store's admin at once, wherever its cookie is (a stolen one included).
    admin_session_generation: Mapped[int] = mapped_column(default=0, server_default="0")
    # The merchant's look for the shopper pages: {"primary_colour": "#rrggbb", "logo_url": "https://…"}, each
    # optional (app.domain.brand checks them). A logo the platform reports lives in reported_identity["logo_url"].
    brand: Mapped[dict[str, Any] | None] = mapped_column(JsonDoc)


class StoreFreshness(Base):
    """A store's freshness pass (app.services.ingest.freshness): whether one runs, how the last ones went, and what
    it found of our webhooks. One row per store, written by the pass only."""

    __tablename__ = "store_freshness"

    store_id: Mapped[int] = mapped_column(BigId, ForeignKey("stores.id", ondelete="CASCADE"), primary_key=True)
    # Set while a pass runs (a pass whose worker died is taken over once this is old, see STALE_AFTER).
    running_since: Mapped[datetime | None]
    last_started_at: Mapped[datetime | None]
    last_finished_at: Mapped[datetime | None]
    # Our clock when the last successful pass started: the next one asks for what changed since (minus an overlap).
    checked_through: Mapped[datetime | None]
    failures_in_a_row: Mapped[int] = mapped_column(default=0)
    last_error: Mapped[str | None] = mapped_column(String(1000))
    # What the last finished pass cost: requests to the store and wall-clock milliseconds.
    last_requests: Mapped[int | None]
    last_duration_ms: Mapped[int | None]
    # Our webhooks as the last pass left them: what it did ("re-enabled product.updated (#2)") and the topics whose
    # webhook is still not active afterwards (the admin shows a banner while this is not empty).
    webhook_actions: Mapped[list[str]] = mapped_column(JsonDoc, default=list)
    webhooks_broken: Mapped[list[str]] = mapped_column(JsonDoc, default=list)


class StoreSetting(IdMixin, StoreScoped, Timestamps, Base):
    """Setting overrides: one row for the store, optionally one per product or variant."""

    __tablename__ = "store_settings"
    __table_args__ = (
        UniqueConstraint("store_id", "scope", "product_id", "variant_id"),
        Index("ix_store_settings_store_scope", "store_id", "scope"),
    )

    scope: Mapped[str] = mapped_column(String(10))  # store | product | variant
    product_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("products.id", ondelete="CASCADE"))
    variant_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("variants.id", ondelete="CASCADE"))
    values: Mapped[dict[str, Any]] = mapped_column(JsonDoc, default=dict)


class SyncRun(IdMixin, StoreScoped, Timestamps, Base):
    """One catalog/order sync: its phase and counts for progress, its cursor for resuming."""

    __tablename__ = "sync_runs"
    __table_args__ = (Index("ix_sync_runs_store_status", "store_id", "status"),)

    kind: Mapped[str] = mapped_column(String(20))  # initial | incremental | reconcile | seed
    status: Mapped[str] = mapped_column(String(20), default=SyncRunStatus.PENDING)  # SyncRunStatus
    phase: Mapped[str] = mapped_column(String(40), default="")
    done: Mapped[int] = mapped_column(default=0)
    total: Mapped[int | None]
    counts: Mapped[dict[str, Any]] = mapped_column(JsonDoc, default=dict)
    cursor: Mapped[dict[str, Any]] = mapped_column(JsonDoc, default=dict)
    error: Mapped[str | None] = mapped_column(String(2000))
    started_at: Mapped[datetime | None]
    heartbeat_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]
    attempts: Mapped[int] = mapped_column(default=0)


class AdminLoginToken(IdMixin, StoreScoped, Base):
    """A single-use, expiring sign-in link for a standalone (WooCommerce or demo) store admin."""

    __tablename__ = "admin_login_tokens"

    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    email: Mapped[str] = mapped_column(String(320))
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class AdminLoginRequest(IdMixin, Base):
    """An address typed into the admin sign-in form, waiting for the job that mails its links (if it has any).

    The form stores one of these whatever the address, so it does the same work for a merchant and a stranger;
    the job deletes it once done.
    """

    __tablename__ = "admin_login_requests"

    email: Mapped[str] = mapped_column(String(320))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class OutboundWebhookDelivery(IdMixin, StoreScoped, Base):
    """One signed POST to the merchant's webhook URL about a variant; retried with backoff and logged."""

    __tablename__ = "outbound_webhook_deliveries"
    __table_args__ = (
        UniqueConstraint("store_id", "dedupe_key"),
        Index("ix_outbound_webhook_deliveries_due", "status", "next_attempt_at"),
    )

    variant_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("variants.id", ondelete="SET NULL"))
    event: Mapped[str] = mapped_column(String(40))  # signal.changed
    # Unique per store so recording the same change twice (a re-run recompute) sends one POST.
    dedupe_key: Mapped[str] = mapped_column(String(128))
    payload: Mapped[dict[str, Any]] = mapped_column(JsonDoc, default=dict)
    status: Mapped[str] = mapped_column(String(12), default=OutboundWebhookStatus.PENDING)  # OutboundWebhookStatus
    attempts: Mapped[int] = mapped_column(default=0)
    last_status_code: Mapped[int | None]
    last_error: Mapped[str | None] = mapped_column(String(1000))
    next_attempt_at: Mapped[datetime] = mapped_column(default=utcnow)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    sent_at: Mapped[datetime | None]


class WooConnectAttempt(IdMixin, StoreScoped, Base):
    """One wc-auth connect started by one browser: its key is bound here, and only that browser is signed in."""

    __tablename__ = "woo_connect_attempts"

    # sha256 of the attempt id; the raw id is wc-auth's user_id and sits in the starting browser's signed cookie.
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # Set when a newer attempt for the same store starts: its callback and sign-in are refused from then on.
    invalidated_at: Mapped[datetime | None]
    key_id: Mapped[str | None] = mapped_column(String(32))  # the wc-auth key bound to this attempt
    consumer_key_hash: Mapped[str | None] = mapped_column(String(64))
    keys_bound_at: Mapped[datetime | None]
    signed_in_at: Mapped[datetime | None]


class AdminEmailConfirmation(IdMixin, StoreScoped, Base):
    """A typed admin email waiting for its owner to click the link sent to it; only then does it take effect."""

    __tablename__ = "admin_email_confirmations"

    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    email: Mapped[str] = mapped_column(String(320))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]
    confirmed_at: Mapped[datetime | None]
    # A newer address typed for the store supersedes this one: its link stops working.
    superseded_at: Mapped[datetime | None]
