"""Restock email deliveries (one row per subscription and restock event, claimed before sending) and the
addresses a store no longer mails after a hard bounce."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from enum import StrEnum

from sqlalchemy import ForeignKey, Index, Numeric, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from app.db import Base, BigId
from app.models.base import IdMixin, StoreScoped


class DeliveryStatus(StrEnum):
    """A restock email's progress (deliveries.status)."""

    CLAIMED = "claimed"  # inserted before the wave is sent; sent (again) by whoever resumes the event
    SENT = "sent"
    SKIPPED = "skipped"  # not to be sent; skip_reason says why
    DEFERRED = "deferred"
    FAILED = "failed"  # refused for good, or gave up after MAX_ATTEMPTS: error says why (the dead letter)


class Delivery(IdMixin, StoreScoped, Base):
    """A restock email to one subscriber; the unique row is what prevents a second send."""

    __tablename__ = "deliveries"
    __table_args__ = (
        UniqueConstraint("subscription_id", "stock_event_id"),
        Index("ix_deliveries_event_status", "stock_event_id", "status"),
    )

    subscription_id: Mapped[int] = mapped_column(BigId, ForeignKey("subscriptions.id", ondelete="CASCADE"))
    stock_event_id: Mapped[int] = mapped_column(BigId, ForeignKey("stock_events.id", ondelete="CASCADE"))
    wave: Mapped[int] = mapped_column(default=1)
    status: Mapped[str] = mapped_column(String(12), default=DeliveryStatus.CLAIMED)  # DeliveryStatus
    skip_reason: Mapped[str | None] = mapped_column(String(64))
    attempts: Mapped[int] = mapped_column(default=0)
    message_id: Mapped[str | None] = mapped_column(String(255))
    error: Mapped[str | None] = mapped_column(String(1000))
    claimed_at: Mapped[datetime]
    sent_at: Mapped[datetime | None]
    clicked_at: Mapped[datetime | None]
    clicks: Mapped[int] = mapped_column(default=0)
    # Attribution: an order of this variant by the same shopper inside the window after the email.
    # direct = the shopper clicked the email's buy link before ordering; assisted = they did not.
    converted_at: Mapped[datetime | None]
    converted_order_id: Mapped[int | None] = mapped_column(BigId)
    conversion_kind: Mapped[str | None] = mapped_column(String(10))
    revenue: Mapped[Decimal | None] = mapped_column(Numeric(12, 2))


class Suppression(IdMixin, StoreScoped, Base):
    """An address that hard-bounced (a 5xx "no such mailbox"): the store sends it nothing more."""

    __tablename__ = "suppressions"
    __table_args__ = (UniqueConstraint("store_id", "email"),)

    email: Mapped[str] = mapped_column(String(320))
    reason: Mapped[str] = mapped_column(String(1000))
    created_at: Mapped[datetime]


class AlertKind(StrEnum):
    """Which merchant alert an alert_log row is about."""

    DIGEST = "digest"
    INSTANT = "instant"


class AlertLog(IdMixin, StoreScoped, Base):
    """One merchant alert email tried: sent (the server accepted it) or failed (and given back for a retry)."""

    __tablename__ = "alert_log"

    kind: Mapped[str] = mapped_column(String(10))  # AlertKind
    status: Mapped[str] = mapped_column(String(10))  # "sent" | "failed"
    recipient: Mapped[str] = mapped_column(String(320))
    subject: Mapped[str] = mapped_column(String(500))
    lines: Mapped[int] = mapped_column(default=0)
    error: Mapped[str | None] = mapped_column(String(1000))
    created_at: Mapped[datetime]
