"""Apply platform data (catalog, locations, inventory, orders, refunds): the one write path for every sync.

Webhooks, bulk and paged syncs and periodic reconciliation of both platforms hand plain records to
these functions. Writes are set-based upserts in batches (INSERT … ON CONFLICT on PostgreSQL and
SQLite). Payloads are current state: a record older than the stored platform `updated_at` is
skipped inside the upsert's WHERE, so concurrent workers cannot overwrite newer state, and a row
is only rewritten when one of its values differs, so a replay writes nothing and marks nothing
dirty. Variants whose stock inputs changed are marked for the collapsed recompute job.
"""

from app.services.catalog.changes import catalog_unchanged, same_product_state, unchanged_products
from app.services.catalog.common import ApplyResult, Counts
from app.services.catalog.inventory import apply_inventory, apply_locations, set_tracking
from app.services.catalog.orders import apply_orders, apply_refund, delete_order, refund_ids, remove_refunds
from app.services.catalog.products import apply_products, apply_variants, delete_product

__all__ = [
    "ApplyResult",
    "Counts",
    "apply_inventory",
    "apply_locations",
    "apply_orders",
    "apply_products",
    "apply_refund",
    "apply_variants",
    "catalog_unchanged",
    "delete_order",
    "delete_product",
    "refund_ids",
    "remove_refunds",
    "same_product_state",
    "set_tracking",
    "unchanged_products",
]
