"""Catalog: products, variants, locations, inventory levels, suppliers."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

from sqlalchemy import Boolean, ForeignKey, Index, Numeric, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from app.db import Base, BigId, JsonDoc
from app.models.base import IdMixin, StoreScoped, Timestamps


class ProductStatus(StrEnum):
    """A product's status on its platform (products.status)."""

    ACTIVE = "active"
    DRAFT = "draft"
    ARCHIVED = "archived"


class Supplier(IdMixin, StoreScoped, Timestamps, Base):
    """Who the merchant buys from, and how long they take to deliver."""

    __tablename__ = "suppliers"
    __table_args__ = (UniqueConstraint("store_id", "name"),)

    name: Mapped[str] = mapped_column(String(255))
    lead_time_days: Mapped[int] = mapped_column(default=14)
    email: Mapped[str | None] = mapped_column(String(320))


class Product(IdMixin, StoreScoped, Timestamps, Base):
    """A product as the platform describes it."""

    __tablename__ = "products"
    __table_args__ = (UniqueConstraint("store_id", "external_id"),)

    external_id: Mapped[str] = mapped_column(String(64))
    title: Mapped[str] = mapped_column(String(500), default="")
    handle: Mapped[str] = mapped_column(String(255), default="")
    description: Mapped[str] = mapped_column(Text, default="")
    vendor: Mapped[str] = mapped_column(String(255), default="")
    product_type: Mapped[str] = mapped_column(String(255), default="")
    kind: Mapped[str] = mapped_column(String(20), default="simple")  # simple | variable
    image_url: Mapped[str | None] = mapped_column(String(2000))
    url: Mapped[str | None] = mapped_column(String(2000))
    status: Mapped[str] = mapped_column(String(20), default=ProductStatus.ACTIVE)  # ProductStatus
    published: Mapped[bool] = mapped_column(Boolean, default=True)
    collections: Mapped[list[str]] = mapped_column(JsonDoc, default=list)
    tags: Mapped[list[str]] = mapped_column(JsonDoc, default=list)
    supplier_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("suppliers.id", ondelete="SET NULL"))
    # The platform's own updated_at: an older payload never overwrites newer state.
    external_updated_at: Mapped[datetime | None]
    deleted_at: Mapped[datetime | None]


class Variant(IdMixin, StoreScoped, Timestamps, Base):
    """A purchasable SKU; stock is tracked and computed per variant."""

    __tablename__ = "variants"
    __table_args__ = (
        UniqueConstraint("store_id", "external_id"),
        Index("ix_variants_store_inventory_item", "store_id", "inventory_item_external_id"),
        Index("ix_variants_store_sku", "store_id", "sku"),
    )

    product_id: Mapped[int] = mapped_column(BigId, ForeignKey("products.id", ondelete="CASCADE"), index=True)
    external_id: Mapped[str] = mapped_column(String(64))
    inventory_item_external_id: Mapped[str | None] = mapped_column(String(64))
    sku: Mapped[str] = mapped_column(String(255), default="")
    title: Mapped[str] = mapped_column(String(500), default="")
    options: Mapped[dict[str, Any]] = mapped_column(JsonDoc, default=dict)
    # WooCommerce: the product page's query parameters that preselect this variation ({"attribute_pa_size": "L"}).
    link_params: Mapped[dict[str, Any]] = mapped_column(JsonDoc, default=dict)
    price: Mapped[Decimal] = mapped_column(Numeric(12, 2), default=Decimal("0"))
    tracked: Mapped[bool] = mapped_column(Boolean, default=True)
    inventory_policy: Mapped[str] = mapped_column(String(10), default="deny")  # deny | continue
    # WooCommerce: backorders no|notify|yes and stock_status onbackorder; manage_stock "parent".
    backorder: Mapped[bool] = mapped_column(Boolean, default=False)
    stock_from_parent: Mapped[bool] = mapped_column(Boolean, default=False)
    published: Mapped[bool] = mapped_column(Boolean, default=True)
    position: Mapped[int] = mapped_column(default=0)
    image_url: Mapped[str | None] = mapped_column(String(2000))
    # Sum of `available` over active locations, maintained when levels change.
    sellable_quantity: Mapped[int] = mapped_column(default=0)
    supplier_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("suppliers.id", ondelete="SET NULL"))
    external_updated_at: Mapped[datetime | None]
    deleted_at: Mapped[datetime | None]


class Location(IdMixin, StoreScoped, Timestamps, Base):
    """A stock location (Shopify location; WooCommerce has one implicit location)."""

    __tablename__ = "locations"
    __table_args__ = (UniqueConstraint("store_id", "external_id"),)

    external_id: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(255), default="")
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    # Whether stock here can be sold online; a warehouse for wholesale only does not count.
    fulfills_online: Mapped[bool] = mapped_column(Boolean, default=True)


class InventoryLevel(IdMixin, StoreScoped, Base):
    """Quantity of one variant at one location."""

    __tablename__ = "inventory_levels"
    __table_args__ = (UniqueConstraint("variant_id", "location_id"),)

    variant_id: Mapped[int] = mapped_column(BigId, ForeignKey("variants.id", ondelete="CASCADE"))
    location_id: Mapped[int] = mapped_column(BigId, ForeignKey("locations.id", ondelete="CASCADE"), index=True)
    # Shopify sends `available: null` when tracking is turned off.
    available: Mapped[int | None]
    on_hand: Mapped[int | None]
    incoming: Mapped[int | None]
    external_updated_at: Mapped[datetime | None]
    updated_at: Mapped[datetime | None]
