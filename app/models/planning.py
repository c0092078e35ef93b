"""Incoming stock (purchase orders) and planned campaigns."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from enum import StrEnum

from sqlalchemy import ForeignKey, Index, Numeric, String
from sqlalchemy.orm import Mapped, mapped_column

from app.db import Base, BigId, JsonDoc
from app.models.base import IdMixin, StoreScoped, Timestamps


class PurchaseOrderStatus(StrEnum):
    """A purchase order's progress (purchase_orders.status): only an open one counts as incoming stock."""

    OPEN = "open"
    RECEIVED = "received"
    CANCELLED = "cancelled"


class CampaignStatus(StrEnum):
    """A campaign's status (campaigns.status): only a planned one feeds the forecast."""

    PLANNED = "planned"
    CANCELLED = "cancelled"


class PurchaseOrder(IdMixin, StoreScoped, Timestamps, Base):
    """Stock on its way: feeds the restock ETA and the marketing signal."""

    __tablename__ = "purchase_orders"
    __table_args__ = (Index("ix_purchase_orders_variant_status", "variant_id", "status"),)

    variant_id: Mapped[int] = mapped_column(BigId, ForeignKey("variants.id", ondelete="CASCADE"))
    supplier_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("suppliers.id", ondelete="SET NULL"))
    reference: Mapped[str] = mapped_column(String(255), default="")
    quantity: Mapped[int]
    received_quantity: Mapped[int] = mapped_column(default=0)
    expected_on: Mapped[date]
    status: Mapped[str] = mapped_column(String(20), default=PurchaseOrderStatus.OPEN)  # PurchaseOrderStatus


class Campaign(IdMixin, StoreScoped, Timestamps, Base):
    """A planned promotion whose expected uplift feeds the forecast."""

    __tablename__ = "campaigns"

    name: Mapped[str] = mapped_column(String(255))
    starts_on: Mapped[date]
    ends_on: Mapped[date]
    uplift_pct: Mapped[Decimal] = mapped_column(Numeric(7, 2), default=Decimal("0"))
    product_ids: Mapped[list[int]] = mapped_column(JsonDoc, default=list)
    collections: Mapped[list[str]] = mapped_column(JsonDoc, default=list)
    status: Mapped[str] = mapped_column(String(20), default=CampaignStatus.PLANNED)  # CampaignStatus
