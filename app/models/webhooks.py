"""The webhook inbox: every verified delivery stored before it is processed."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import ForeignKey, Index, LargeBinary, String, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column

from app.db import Base, BigId, JsonDoc, utcnow
from app.models.base import IdMixin


class WebhookEventStatus(StrEnum):
    """An inbox row's progress (webhook_events.status)."""

    RECEIVED = "received"  # stored, to be processed (also after a failed attempt: retried from retry_at on)
    PROCESSED = "processed"
    IGNORED = "ignored"  # from an unknown or uninstalled shop, or a topic without a handler
    ECHO = "echo"  # changed nothing BackSoon syncs (mostly our own write-back coming back): read, not applied
    FAILED = (
        "failed"  # dead letter: unreadable, or every attempt failed; error says why (app.services.ingest.dead_letters)
    )


class WebhookEvent(IdMixin, Base):
    """One platform delivery; store_id is null only for deliveries from unknown shops."""

    __tablename__ = "webhook_events"
    __table_args__ = (
        UniqueConstraint("platform", "dedupe_key"),
        Index("ix_webhook_events_status_received", "status", "received_at"),
        # The dead letters of a store: counted on every admin page, so read from a small index of their own.
        Index(
            "ix_webhook_events_dead",
            "store_id",
            postgresql_where=text("status = 'failed'"),
            sqlite_where=text("status = 'failed'"),
        ),
    )

    # SET NULL, not CASCADE: the shop/redact delivery that erases a store must outlive it to be marked done.
    store_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("stores.id", ondelete="SET NULL"), index=True)
    platform: Mapped[str] = mapped_column(String(20))
    topic: Mapped[str] = mapped_column(String(64))
    # Shopify: X-Shopify-Webhook-Id. WooCommerce reuses its delivery id, so the key is derived there.
    dedupe_key: Mapped[str] = mapped_column(String(128))
    resource_id: Mapped[str | None] = mapped_column(String(64))
    triggered_at: Mapped[datetime | None]
    headers: Mapped[dict[str, Any]] = mapped_column(JsonDoc, default=dict)
    body: Mapped[bytes] = mapped_column(LargeBinary)
    status: Mapped[str] = mapped_column(String(12), default=WebhookEventStatus.RECEIVED)  # WebhookEventStatus
    attempts: Mapped[int] = mapped_column(default=0)
    error: Mapped[str | None] = mapped_column(String(2000))
    received_at: Mapped[datetime] = mapped_column(default=utcnow)
    enqueued_at: Mapped[datetime | None]
    lease_until: Mapped[datetime | None]
    # After a failed attempt: not retried before this time (the backoff); null means due now.
    retry_at: Mapped[datetime | None]
    processed_at: Mapped[datetime | None]
