"""Computed stock state per variant, its daily history, transitions and pending recomputes."""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import Boolean, Float, ForeignKey, Index, String, false, text
from sqlalchemy.orm import Mapped, mapped_column

from app.db import Base, BigId, JsonDoc, utcnow
from app.domain.stock import BadgeKind, Signal, Status
from app.models.base import IdMixin, StoreScoped


class FanoutStatus(StrEnum):
    """A restock event's fan-out progress (stock_events.fanout_status; null on sell-outs)."""

    PENDING = "pending"  # a wave is due (at next_wave_at)
    RUNNING = "running"  # leased by a worker until lease_until
    DONE = "done"
    STOPPED = "stopped"  # sold out again, or nothing left to send
    FAILED = "failed"  # dead letter: MAX_RUN_FAILURES runs in a row failed or died; last_error says why


class StockState(StoreScoped, Base):
    """The latest computed figures for one variant, with the reasons behind them."""

    __tablename__ = "stock_states"
    __table_args__ = (
        Index("ix_stock_states_store_status", "store_id", "status"),
        Index("ix_stock_states_store_signal", "store_id", "signal"),
    )

    # The store's rows go with its variants (their foreign key cascades): no check against stores of its own on
    # 100,000-row writes, and the (store_id, …) indexes below lead with it.
    store_id: Mapped[int] = mapped_column(BigId, nullable=False)
    variant_id: Mapped[int] = mapped_column(BigId, ForeignKey("variants.id", ondelete="CASCADE"), primary_key=True)
    sellable_quantity: Mapped[int] = mapped_column(default=0)
    velocity: Mapped[float] = mapped_column(Float, default=0.0)
    velocity_windows: Mapped[list[float | None]] = mapped_column(JsonDoc, default=list)
    # The days of sales the velocity is based on (app.domain.history.sales_days); None: no window had a rate.
    sales_days: Mapped[int | None]
    days_on_hand: Mapped[float | None] = mapped_column(Float)
    stockout_on: Mapped[date | None]
    reorder_by: Mapped[date | None]
    suggested_reorder_qty: Mapped[int] = mapped_column(default=0)
    status: Mapped[str] = mapped_column(String(20), default=Status.IN_STOCK)  # app.domain.stock.Status
    badge_kind: Mapped[str] = mapped_column(String(20), default=BadgeKind.NONE)
    badge_quantity: Mapped[int | None]
    signal: Mapped[str] = mapped_column(String(10), default=Signal.OK)
    signal_reason: Mapped[str] = mapped_column(String(64), default="")
    restock_eta: Mapped[date | None]
    eta_source: Mapped[str | None] = mapped_column(String(32))
    priority: Mapped[float] = mapped_column(Float, default=0.0)
    waitlist_open: Mapped[int] = mapped_column(default=0)
    incoming_quantity: Mapped[int] = mapped_column(default=0)
    # Sold out with no restock date, while the platform reports stock on its way (Shopify's undated "incoming").
    on_its_way: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    lead_time_days: Mapped[int] = mapped_column(default=0)
    campaign_id: Mapped[int | None] = mapped_column(BigId)
    campaign_stockout_on: Mapped[date | None]
    reasons: Mapped[list[str]] = mapped_column(JsonDoc, default=list)
    # Hash of the figures the storefront shows (storefront_state.PUBLISHED_FIELDS): write-back only
    # sends variants whose published fingerprint differs.
    fingerprint: Mapped[str] = mapped_column(String(32), default="")
    # Hash of every input the figures were computed from: a periodic run skips unchanged variants.
    input_fingerprint: Mapped[str] = mapped_column(String(32), default="")
    published_fingerprint: Mapped[str | None] = mapped_column(String(32))
    computed_at: Mapped[datetime] = mapped_column(default=utcnow)
    changed_at: Mapped[datetime] = mapped_column(default=utcnow)


class ProductListing(StoreScoped, Base):
    """A product's status and badge over its published variants, as listing and collection cards show it."""

    __tablename__ = "product_listings"

    product_id: Mapped[int] = mapped_column(BigId, ForeignKey("products.id", ondelete="CASCADE"), primary_key=True)
    status: Mapped[str] = mapped_column(String(20), default=Status.IN_STOCK)
    badge_kind: Mapped[str] = mapped_column(String(20), default=BadgeKind.NONE)
    badge_quantity: Mapped[int | None]
    # Hash of (status, badge): the write-back sends products whose published fingerprint differs.
    fingerprint: Mapped[str] = mapped_column(String(32), default="")
    published_fingerprint: Mapped[str | None] = mapped_column(String(32))
    computed_at: Mapped[datetime] = mapped_column(default=utcnow)


class StockStateHistory(StoreScoped, Base):
    """One row per variant per day: the figures charts and trends are drawn from."""

    __tablename__ = "stock_state_history"

    # Like stock_states: the variant's foreign key is the store's too.
    store_id: Mapped[int] = mapped_column(BigId, index=True, nullable=False)
    # The natural key is the primary key: one index fewer to maintain on 100k-row daily writes.
    variant_id: Mapped[int] = mapped_column(BigId, ForeignKey("variants.id", ondelete="CASCADE"), primary_key=True)
    day: Mapped[date] = mapped_column(primary_key=True)
    sellable_quantity: Mapped[int]
    velocity: Mapped[float] = mapped_column(Float)
    days_on_hand: Mapped[float | None] = mapped_column(Float)
    status: Mapped[str] = mapped_column(String(20))  # app.domain.stock.Status
    signal: Mapped[str] = mapped_column(String(10))  # app.domain.stock.Signal


class StockEvent(IdMixin, StoreScoped, Base):
    """An edge in sellable quantity: a restock (≤0 → >0) or a sell-out (>0 → ≤0)."""

    __tablename__ = "stock_events"
    __table_args__ = (
        Index("ix_stock_events_variant_at", "variant_id", "occurred_at"),
        Index("ix_stock_events_fanout", "fanout_status", "next_wave_at"),
        # The recompute reads sold-out spans from this index alone.
        Index(
            "ix_stock_events_sellout_spans",
            "store_id",
            "variant_id",
            postgresql_include=["occurred_at", "ended_at"],
            postgresql_where=text("kind = 'sellout'"),
            sqlite_where=text("kind = 'sellout'"),
        ),
    )

    variant_id: Mapped[int] = mapped_column(BigId, ForeignKey("variants.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(10))  # restock | sellout
    quantity_before: Mapped[int]
    quantity_after: Mapped[int]
    occurred_at: Mapped[datetime] = mapped_column(default=utcnow)
    # A sell-out's span ends at the variant's next event (its restock); open while the variant stays sold out.
    ended_at: Mapped[datetime | None]
    source: Mapped[str] = mapped_column(String(32), default="recompute")
    # Restock fan-out progress lives on the event row so the sweeper can resume it.
    fanout_status: Mapped[str | None] = mapped_column(String(12))  # FanoutStatus
    waves_sent: Mapped[int] = mapped_column(default=0)
    next_wave_at: Mapped[datetime | None]
    lease_until: Mapped[datetime | None]
    # Runs in a row that failed (SMTP unreachable, ...) or died (lease expired); reset by a run that completes.
    run_failures: Mapped[int] = mapped_column(default=0, server_default="0")
    last_error: Mapped[str | None] = mapped_column(String(1000))
    details: Mapped[dict[str, Any]] = mapped_column(JsonDoc, default=dict)


class DirtyVariant(StoreScoped, Base):
    """A variant whose inputs changed and awaits recompute; the database is the queue of record."""

    __tablename__ = "dirty_variants"
    __table_args__ = (Index("ix_dirty_variants_store_marked", "store_id", "marked_at"),)

    variant_id: Mapped[int] = mapped_column(BigId, ForeignKey("variants.id", ondelete="CASCADE"), primary_key=True)
    marked_at: Mapped[datetime] = mapped_column(default=utcnow)
    reason: Mapped[str] = mapped_column(String(32), default="")
