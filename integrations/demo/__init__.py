"""The demo store: Northwind Goods, a deterministic catalog and order history behind the StoreAdapter protocol."""

from integrations.demo.adapter import DemoStoreAdapter
from integrations.demo.records import DemoSignup, DemoSummary
from integrations.demo.store import STORE_DOMAIN, STORE_NAME, DemoCatalog, generate

__all__ = [
    "STORE_DOMAIN",
    "STORE_NAME",
    "DemoCatalog",
    "DemoSignup",
    "DemoStoreAdapter",
    "DemoSummary",
    "generate",
]
