"""Records only the demo store produces: waitlist signups and a summary of what was generated."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime


@dataclass(frozen=True, slots=True)
class DemoSignup:
    """A shopper who asked to be told when a sold-out variant is back."""

    variant_external_id: str
    email: str
    locale: str
    created_at: datetime


@dataclass(frozen=True, slots=True)
class DemoStockDay:
    """One tracked variant's stock at the end of one day, and the demand it was selling at."""

    variant_external_id: str
    day: date
    quantity: int
    rate: float


@dataclass(frozen=True, slots=True)
class DemoSummary:
    """Counts of everything one demo history contains, and the end state of its stock."""

    products: int
    variants: int
    locations: int
    suppliers: int
    inventory_levels: int
    orders: int
    order_lines: int
    cancelled_orders: int
    refunds: int
    refund_lines: int
    stock_changes: int
    sellouts: int
    restocks: int
    open_purchase_orders: int
    signups: int
    sold_out: int
    low_stock: int
    overstocked: int
    untracked: int
    continue_policy: int
    unpublished_products: int
    units_sold: int
    lost_lines: int
