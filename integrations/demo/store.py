"""The demo shop as a whole: one seed in, a catalog, a history and an end state out, all streamed."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, time, timedelta

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
from integrations.demo.catalog import SUPPLIERS, iter_catalog
from integrations.demo.records import DemoSignup, DemoStockDay, DemoSummary
from integrations.demo.simulation import CatalogArrays, Outcome, Simulation

STORE_NAME = "Northwind Goods (demo)"
STORE_DOMAIN = "demo.backsoon.localhost"
WAREHOUSE = LocationRecord("demo-loc-warehouse", "Warehouse", True)
SHOP_FLOOR = LocationRecord("demo-loc-shop-floor", "Shop floor", True)


class DemoCatalog:
    """A generated demo shop; every iterator regenerates or replays the same deterministic data."""

    def __init__(self, *, seed: int, variants: int, days: int, today: date) -> None:
        if variants < 1 or days < 1:
            raise ValueError("the demo store needs at least one variant and one day of history")
        self.seed = seed
        self.variants = variants
        self.days = days
        self.today = today
        # History covers the `days` whole UTC days before today.
        self.epoch = datetime.combine(today - timedelta(days=days), time(), tzinfo=UTC)
        self._arrays: CatalogArrays | None = None
        self._outcome: Outcome | None = None

    def store_info(self) -> StoreInfo:
        """Describe the demo store."""
        return StoreInfo(
            name=STORE_NAME,
            domain=STORE_DOMAIN,
            timezone="Europe/Amsterdam",
            currency="EUR",
            locale="en",
            country="NL",
            extra={"seed": self.seed, "variants": self.variants, "days": self.days},
        )

    def iter_locations(self) -> Iterator[LocationRecord]:
        """The warehouse and the shop floor."""
        yield WAREHOUSE
        yield SHOP_FLOOR

    def iter_suppliers(self) -> Iterator[SupplierRecord]:
        """The suppliers products are bought from."""
        yield from SUPPLIERS

    def iter_products(self) -> Iterator[ProductRecord]:
        """Every product with its variants, in catalog order."""
        for plan in iter_catalog(self.seed, self.variants, self.epoch):
            yield plan.record

    def iter_orders(self) -> Iterator[OrderRecord]:
        """Every order of the history in time order, replayed from the seed on each call."""
        sim = Simulation(self.arrays(), seed=self.seed, days=self.days, epoch=self.epoch)
        yield from sim.orders()
        if self._outcome is None:
            self._outcome = sim.outcome

    def iter_inventory(self) -> Iterator[InventoryRecord]:
        """End-of-history available quantity per variant and location (None when untracked)."""
        arrays, outcome = self.arrays(), self.outcome()
        for i, ext_id in enumerate(arrays.ext_ids):
            updated = outcome.last_change[i] or self.epoch
            if not arrays.tracked[i]:
                yield InventoryRecord(ext_id, WAREHOUSE.external_id, None, None, updated)
                yield InventoryRecord(ext_id, SHOP_FLOOR.external_id, None, None, updated)
                continue
            total = outcome.stock[i]
            # A fixed share of positive stock sits on the shop floor; a backlog is the warehouse's.
            shop = total * ((i * 37) % 4) * 10 // 100 if total > 0 else 0
            yield InventoryRecord(ext_id, WAREHOUSE.external_id, total - shop, total - shop, updated)
            yield InventoryRecord(ext_id, SHOP_FLOOR.external_id, shop, shop, updated)

    def iter_purchase_orders(self) -> Iterator[PurchaseOrderRecord]:
        """Purchase orders still open at the end of the history (all due after today)."""
        yield from self.outcome().open_purchase_orders

    def iter_stock_changes(self) -> Iterator[StockChangeRecord]:
        """Every sell-out and restock of the history, in time order."""
        ext_ids = self.arrays().ext_ids
        for i, sellout, before, after, at in self.outcome().changes:
            yield StockChangeRecord(ext_ids[i], "sellout" if sellout else "restock", before, after, at)

    def iter_signups(self) -> Iterator[DemoSignup]:
        """Waitlist signups for variants sold out at the end of the history."""
        yield from self.outcome().signups

    def iter_stock_history(self) -> Iterator[DemoStockDay]:
        """End-of-day stock of every tracked variant over the last days of the history, oldest day first."""
        a = self.arrays()
        outcome = self.outcome()
        for day, stock in sorted(outcome.daily_stock.items()):
            for i, quantity in enumerate(stock):
                if a.tracked[i]:
                    yield DemoStockDay(a.ext_ids[i], day, quantity, outcome.rate[i])

    def summary(self) -> DemoSummary:
        """Counts of everything generated and of the end state."""
        return self.outcome().summary

    def arrays(self) -> CatalogArrays:
        """Per-variant facts for the simulation, built once from the catalog."""
        if self._arrays is None:
            self._arrays = _arrays(self.seed, self.variants, self.epoch)
        return self._arrays

    def outcome(self) -> Outcome:
        """The simulation's end state, run once without building order records if not yet known."""
        if self._outcome is None:
            sim = Simulation(self.arrays(), seed=self.seed, days=self.days, epoch=self.epoch)
            for _ in sim.orders(build=False):
                pass
            self._outcome = sim.outcome
        assert self._outcome is not None
        return self._outcome


def _arrays(seed: int, variants: int, epoch: datetime) -> CatalogArrays:
    arrays = CatalogArrays([], [], [], [], [], [], [], [], [], [], [], 0, 0)
    for plan in iter_catalog(seed, variants, epoch):
        product = plan.record
        arrays.products += 1
        arrays.unpublished_products += not product.published
        for variant, weight in zip(product.variants, plan.weights, strict=True):
            arrays.ext_ids.append(variant.external_id)
            arrays.skus.append(variant.sku)
            arrays.prices.append(variant.price)
            arrays.tracked.append(variant.tracked)
            arrays.deny.append(variant.inventory_policy == "deny")
            arrays.published.append(variant.published and product.published)
            arrays.weights.append(weight)
            arrays.trend.append(plan.trend)
            arrays.policy.append(plan.policy)
            arrays.lead.append(plan.lead_time)
            arrays.supplier.append(product.supplier)
    return arrays


def generate(seed: int = 7, variants: int = 500, days: int = 180, *, today: date) -> DemoCatalog:
    """The Northwind Goods demo shop for a seed, size and history length, ending the day before `today`."""
    return DemoCatalog(seed=seed, variants=variants, days=days, today=today)
