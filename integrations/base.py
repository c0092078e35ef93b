"""The plain records every platform client produces, platform error types, and the demo generator's StoreAdapter."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any, Protocol, runtime_checkable


@dataclass(frozen=True, slots=True)
class VariantRecord:
    """A variant as a platform describes it."""

    external_id: str
    sku: str = ""
    title: str = ""
    options: dict[str, str] = field(default_factory=dict)
    # Query parameters that make the product page preselect this variant (WooCommerce: attribute_<slug>=<option>).
    link_params: dict[str, str] = field(default_factory=dict)
    price: Decimal = Decimal("0")
    tracked: bool = True
    inventory_policy: str = "deny"  # deny | continue
    backorder: bool = False
    stock_from_parent: bool = False
    published: bool = True
    position: int = 0
    image_url: str | None = None
    inventory_item_id: str | None = None
    updated_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class ProductRecord:
    """A product and its variants."""

    external_id: str
    title: str
    handle: str = ""
    description: str = ""
    vendor: str = ""
    product_type: str = ""
    kind: str = "simple"
    image_url: str | None = None
    url: str | None = None
    status: str = "active"
    published: bool = True
    collections: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    supplier: str | None = None
    updated_at: datetime | None = None
    variants: tuple[VariantRecord, ...] = ()


@dataclass(frozen=True, slots=True)
class LocationRecord:
    """A stock location."""

    external_id: str
    name: str = ""
    active: bool = True


@dataclass(frozen=True, slots=True)
class InventoryRecord:
    """Available quantity of one variant at one location; None means not tracked there."""

    variant_external_id: str
    location_external_id: str
    available: int | None
    on_hand: int | None = None
    updated_at: datetime | None = None
    # Shopify's "incoming" state (transfers and purchase orders on their way to the location): a quantity with no
    # date. None when the source does not report it (level webhooks, WooCommerce).
    incoming: int | None = None


@dataclass(frozen=True, slots=True)
class OrderLineRecord:
    """One line of an order."""

    external_id: str
    variant_external_id: str | None
    quantity: int
    price: Decimal = Decimal("0")
    sku: str = ""


@dataclass(frozen=True, slots=True)
class RefundLineRecord:
    """Units of one order line given back."""

    line_external_id: str
    quantity: int
    restock: bool = False


@dataclass(frozen=True, slots=True)
class RefundRecord:
    """A refund on an order."""

    external_id: str
    refunded_at: datetime
    lines: tuple[RefundLineRecord, ...] = ()
    note: str = ""


@dataclass(frozen=True, slots=True)
class OrderRecord:
    """An order with its lines, cancellation and refunds."""

    external_id: str
    ordered_at: datetime
    name: str = ""
    email: str | None = None
    customer_external_id: str | None = None
    currency: str = "USD"
    total: Decimal = Decimal("0")
    financial_status: str = ""
    cancelled_at: datetime | None = None
    updated_at: datetime | None = None
    lines: tuple[OrderLineRecord, ...] = ()
    refunds: tuple[RefundRecord, ...] = ()


@dataclass(frozen=True, slots=True)
class SupplierRecord:
    """A supplier and its lead time."""

    name: str
    lead_time_days: int
    email: str | None = None


@dataclass(frozen=True, slots=True)
class PurchaseOrderRecord:
    """Incoming stock for one variant."""

    variant_external_id: str
    quantity: int
    expected_on: date
    reference: str = ""
    supplier: str | None = None


@dataclass(frozen=True, slots=True)
class StockChangeRecord:
    """A past sell-out or restock, for platforms (or the demo) that know their stock history."""

    variant_external_id: str
    kind: str  # sellout | restock
    quantity_before: int
    quantity_after: int
    occurred_at: datetime


@dataclass(frozen=True, slots=True)
class StoreInfo:
    """What a platform says about the store itself."""

    name: str | None
    domain: str
    # None where the platform did not say: unknown is not UTC, USD or English (nor, for the name, an empty string).
    timezone: str | None = None
    currency: str | None = None
    locale: str | None = None
    country: str | None = None
    email: str | None = None  # where the store's admin is reached (sign-in links, digests)
    # How the store writes amounts, as {pattern ("€ {amount}"), thousands, decimal, decimals}: app.domain.money.
    money_format: dict[str, Any] | None = None
    # The store's logo (WooCommerce's site logo): an address, "" when the store said it has none, None when unknown.
    logo_url: str | None = None
    # Every language the storefront is published in (the primary one first); None when the platform did not say.
    languages: tuple[str, ...] | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def identity(self) -> dict[str, Any]:
        """The reported identity under BackSoon's field names; logo_url only when the platform said anything of one."""
        reported: dict[str, Any] = {
            "name": self.name,
            "admin_email": self.email,
            "timezone": self.timezone,
            "currency": self.currency,
            "country": self.country,
            "locale": self.locale,
            "money_format": self.money_format,
        }
        if self.logo_url is not None:
            reported["logo_url"] = self.logo_url
        if self.languages is not None:
            reported["languages"] = list(self.languages)
        if isinstance(self.extra.get("primary_domain"), str):
            # The host shoppers see (Shopify's primary domain): the merchant's pages are addressed on it.
            reported["primary_domain"] = self.extra["primary_domain"]
        return reported


@runtime_checkable
class StoreAdapter(Protocol):
    """Record streams for a full or incremental load: the demo generator offers them (the platforms' syncs page
    through their own APIs; what BackSoon needs of a platform is app.platforms.base.Platform)."""

    platform: str

    def store_info(self) -> StoreInfo:
        """Describe the store."""
        ...

    def iter_locations(self) -> Iterator[LocationRecord]:
        """Every stock location."""
        ...

    def iter_products(self, updated_since: datetime | None = None) -> Iterator[ProductRecord]:
        """Products with their variants, optionally only those changed since a time."""
        ...

    def iter_inventory(self) -> Iterator[InventoryRecord]:
        """Inventory levels per variant and location."""
        ...

    def iter_orders(self, updated_since: datetime | None = None) -> Iterator[OrderRecord]:
        """Orders with lines and refunds, optionally only those changed since a time."""
        ...


class UnreadablePayload(ValueError):
    """A body that can never be read (not JSON, nested too deeply, a shape the mapping refuses): retrying is futile."""


class PlatformError(Exception):
    """Base class for errors talking to a store platform."""

    def __init__(self, message: str, *, status: int | None = None, code: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code


class TransientError(PlatformError):
    """A failure worth retrying later (timeouts, 5xx)."""


class RateLimited(TransientError):
    """The platform asked us to slow down."""

    def __init__(self, message: str, *, retry_after: float = 1.0, status: int | None = None) -> None:
        super().__init__(message, status=status, code="rate_limited")
        self.retry_after = retry_after


class AuthRevoked(PlatformError):
    """Credentials no longer work: the store must be marked disconnected and its jobs stopped."""


class NotFound(PlatformError):
    """The resource does not exist on the platform."""


class InvalidRequest(PlatformError):
    """The platform rejected our request as malformed; retrying will not help."""
