"""Waitlist subscriptions and the consent records behind them."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from app.db import Base, BigId
from app.models.base import IdMixin, StoreScoped, Timestamps


class SubscriptionState(StrEnum):
    """Where a waitlist subscription stands (subscriptions.state)."""

    PENDING_CONFIRMATION = "pending_confirmation"  # double opt-in: waiting for the shopper's click
    ACTIVE = "active"
    NOTIFIED = "notified"
    CONVERTED = "converted"
    UNSUBSCRIBED = "unsubscribed"
    REDACTED = "redacted"  # personal data erased


class Subscription(IdMixin, StoreScoped, Timestamps, Base):
    """A shopper waiting for one variant; state and skip reason are always visible."""

    __tablename__ = "subscriptions"
    __table_args__ = (
        UniqueConstraint("store_id", "variant_id", "email"),
        Index("ix_subscriptions_variant_state_created", "variant_id", "state", "created_at"),
        Index("ix_subscriptions_store_email", "store_id", "email"),
    )

    variant_id: Mapped[int] = mapped_column(BigId, ForeignKey("variants.id", ondelete="CASCADE"))
    email: Mapped[str] = mapped_column(String(320))
    locale: Mapped[str] = mapped_column(String(16), default="en")
    state: Mapped[str] = mapped_column(String(24), default=SubscriptionState.ACTIVE)  # SubscriptionState
    skip_reason: Mapped[str | None] = mapped_column(String(64))
    source: Mapped[str] = mapped_column(String(20), default="widget")  # widget | app_proxy | landing | admin
    customer_external_id: Mapped[str | None] = mapped_column(String(64))
    # Shopify's routes.root_url of the page the shopper signed up on ("/nl", "/en-ca"); None for the primary root.
    storefront_root: Mapped[str | None] = mapped_column(String(32))
    confirm_token_hash: Mapped[str | None] = mapped_column(String(64), unique=True)
    confirm_expires_at: Mapped[datetime | None]
    # Set once the server accepted the confirmation email (not before: a refused one is retried).
    confirm_sent_at: Mapped[datetime | None]
    # Attempts at the confirmation email, the next retry (4xx, SMTP unreachable) and the last failure; attempts at
    # MAX_CONFIRM_ATTEMPTS or a permanent failure (5xx, unsendable address) leave no retry: confirm_error says why.
    confirm_attempts: Mapped[int] = mapped_column(default=0, server_default="0")
    confirm_retry_at: Mapped[datetime | None]
    confirm_error: Mapped[str | None] = mapped_column(String(1000))
    confirmed_at: Mapped[datetime | None]
    notified_at: Mapped[datetime | None]
    unsubscribed_at: Mapped[datetime | None]
    converted_at: Mapped[datetime | None]
    converted_order_id: Mapped[int | None] = mapped_column(BigId)


class ConsentRecord(IdMixin, StoreScoped, Base):
    """What the shopper agreed to, when, and from where (IP hashed)."""

    __tablename__ = "consent_records"

    subscription_id: Mapped[int] = mapped_column(BigId, ForeignKey("subscriptions.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(20), default="signup")  # signup | confirmation
    text_version: Mapped[str] = mapped_column(String(64), default="")
    text: Mapped[str] = mapped_column(Text, default="")
    ip_hash: Mapped[str | None] = mapped_column(String(64))
    user_agent: Mapped[str | None] = mapped_column(String(500))
    given_at: Mapped[datetime]
