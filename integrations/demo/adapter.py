"""The demo store's generated catalog and history as StoreAdapter record streams."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime

from integrations.base import (
    InventoryRecord,
    LocationRecord,
    OrderRecord,
    ProductRecord,
    PurchaseOrderRecord,
    StockChangeRecord,
    StoreInfo,
    SupplierRecord,
)
from integrations.demo.records import DemoSignup, DemoStockDay, DemoSummary
from integrations.demo.store import DemoCatalog, generate


class DemoStoreAdapter:
    """Northwind Goods as a platform: deterministic for a seed, size, history length and day."""

    platform: str = "demo"

    def __init__(self, seed: int = 7, variants: int = 500, days: int = 180, today: date | None = None) -> None:
        self.catalog: DemoCatalog = generate(seed, variants, days, today=today or datetime.now(UTC).date())

    def store_info(self) -> StoreInfo:
        """Describe the demo store."""
        return self.catalog.store_info()

    def iter_locations(self) -> Iterator[LocationRecord]:
        """The warehouse and the shop floor."""
        return self.catalog.iter_locations()

    def iter_products(self, updated_since: datetime | None = None) -> Iterator[ProductRecord]:
        """Products with their variants, optionally only those updated at or after a time."""
        for product in self.catalog.iter_products():
            if updated_since is None or (product.updated_at is not None and product.updated_at >= updated_since):
                yield product

    def iter_inventory(self) -> Iterator[InventoryRecord]:
        """End-state inventory per variant and location."""
        return self.catalog.iter_inventory()

    def iter_orders(self, updated_since: datetime | None = None) -> Iterator[OrderRecord]:
        """Orders in time order, optionally only those updated at or after a time."""
        for order in self.catalog.iter_orders():
            if updated_since is None or (order.updated_at or order.ordered_at) >= updated_since:
                yield order

    def iter_suppliers(self) -> Iterator[SupplierRecord]:
        """The suppliers and their lead times."""
        return self.catalog.iter_suppliers()

    def iter_purchase_orders(self) -> Iterator[PurchaseOrderRecord]:
        """Open purchase orders, all expected after today."""
        return self.catalog.iter_purchase_orders()

    def iter_stock_changes(self) -> Iterator[StockChangeRecord]:
        """Past sell-outs and restocks in time order."""
        return self.catalog.iter_stock_changes()

    def iter_signups(self) -> Iterator[DemoSignup]:
        """Waitlist signups for variants that are sold out now."""
        return self.catalog.iter_signups()

    def iter_stock_history(self) -> Iterator[DemoStockDay]:
        """End-of-day stock of the tracked variants over the last 90 days."""
        return self.catalog.iter_stock_history()

    def summary(self) -> DemoSummary:
        """Counts of everything generated."""
        return self.catalog.summary()
