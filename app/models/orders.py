"""Orders, their lines, cancellations and refunds."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from enum import StrEnum

from sqlalchemy import Boolean, ForeignKey, Index, Numeric, String, UniqueConstraint, func
from sqlalchemy.orm import Mapped, mapped_column

from app.db import Base, BigId
from app.models.base import IdMixin, StoreScoped, Timestamps


class OrderStatus(StrEnum):
    """An order as far as stock counts it (orders.status); the platform's own status is not kept."""

    OPEN = "open"
    CANCELLED = "cancelled"
    DELETED = "deleted"  # deleted on the platform: kept, and counted as cancelled


class Order(IdMixin, StoreScoped, Timestamps, Base):
    """An order; personal data here is erased on a customer redact request."""

    __tablename__ = "orders"
    __table_args__ = (
        UniqueConstraint("store_id", "external_id"),
        Index("ix_orders_store_ordered_at", "store_id", "ordered_at"),
        Index("ix_orders_store_email", "store_id", "email"),
    )

    external_id: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(64), default="")
    email: Mapped[str | None] = mapped_column(String(320))
    customer_external_id: Mapped[str | None] = mapped_column(String(64))
    currency: Mapped[str] = mapped_column(String(3), default="USD")
    total: Mapped[Decimal] = mapped_column(Numeric(12, 2), default=Decimal("0"))
    financial_status: Mapped[str] = mapped_column(String(32), default="")
    status: Mapped[str] = mapped_column(String(32), default=OrderStatus.OPEN)  # OrderStatus
    ordered_at: Mapped[datetime]
    cancelled_at: Mapped[datetime | None]
    external_updated_at: Mapped[datetime | None]
    # Set when the order came from a restock email's link (attribution).
    attributed_subscription_id: Mapped[int | None] = mapped_column(BigId)


# Attribution matches a store's orders to subscribers by lower(email): without it a large store's every order was read
# every 15 minutes.
Index("ix_orders_store_lower_email", Order.store_id, func.lower(Order.email))


class OrderLine(IdMixin, StoreScoped, Base):
    """One line of an order; ordered_at and cancelled are copied here so velocity is one scan."""

    __tablename__ = "order_lines"
    __table_args__ = (
        UniqueConstraint("order_id", "external_id"),
        # Leading variant_id also serves the ON DELETE SET NULL lookup when a variant is deleted.
        Index("ix_order_lines_variant_ordered", "variant_id", "ordered_at"),
    )

    order_id: Mapped[int] = mapped_column(BigId, ForeignKey("orders.id", ondelete="CASCADE"), index=True)
    variant_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("variants.id", ondelete="SET NULL"))
    external_id: Mapped[str] = mapped_column(String(64))
    sku: Mapped[str] = mapped_column(String(255), default="")
    quantity: Mapped[int] = mapped_column(default=0)
    # Sum of this line's refund quantities; kept so the velocity aggregate needs no join.
    refunded_quantity: Mapped[int] = mapped_column(default=0)
    price: Mapped[Decimal] = mapped_column(Numeric(12, 2), default=Decimal("0"))
    ordered_at: Mapped[datetime]
    cancelled: Mapped[bool] = mapped_column(Boolean, default=False)


class Refund(IdMixin, StoreScoped, Timestamps, Base):
    """A refund on an order."""

    __tablename__ = "refunds"
    __table_args__ = (UniqueConstraint("store_id", "external_id"),)

    order_id: Mapped[int] = mapped_column(BigId, ForeignKey("orders.id", ondelete="CASCADE"), index=True)
    external_id: Mapped[str] = mapped_column(String(64))
    refunded_at: Mapped[datetime]
    note: Mapped[str] = mapped_column(String(1000), default="")


class RefundLine(IdMixin, StoreScoped, Base):
    """Units of one order line given back in a refund."""

    __tablename__ = "refund_lines"
    __table_args__ = (UniqueConstraint("refund_id", "order_line_id"),)

    refund_id: Mapped[int] = mapped_column(BigId, ForeignKey("refunds.id", ondelete="CASCADE"), index=True)
    order_line_id: Mapped[int] = mapped_column(BigId, ForeignKey("order_lines.id", ondelete="CASCADE"), index=True)
    quantity: Mapped[int] = mapped_column(default=0)
    restock: Mapped[bool] = mapped_column(Boolean, default=False)
