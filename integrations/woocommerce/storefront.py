"""Storefront write-back for WooCommerce: one product/variation meta entry per variant, read by the theme.

The value is the same JSON document the Shopify metafield carries (``integrations.shopify.storefront.state_value``),
so one storefront renderer understands both. The key starts with an underscore so WordPress treats it as protected
meta: it is hidden from the admin "Custom fields" box, so a merchant does not edit it by hand.

Simple products are written through ``POST products/batch`` and variations through
``POST products/<parent>/variations/batch``; each update names the item by id and replaces the meta by key (no meta
id), so writing the same state twice leaves one entry.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from integrations.shopify.storefront import chunks, state_value

__all__ = [
    "LISTING_META_KEY",
    "MAX_UPDATES_PER_CALL",
    "META_KEY",
    "chunks",
    "listing_update",
    "meta_update",
    "meta_value",
    "woo_id",
]

META_KEY = "_backsoon_state"
# On the product (simple or variable): {"status", "badge": {"kind", "quantity"}, "v"} over its published variants, for
# the shop's listing and category cards.
LISTING_META_KEY = "_backsoon_listing"
# A WooCommerce /batch request takes at most 100 objects (create + update + delete together).
MAX_UPDATES_PER_CALL = 100


def woo_id(value: str | int) -> int:
    """A WooCommerce product or variation id as a positive int; ValueError for anything else."""
    text = str(value).strip()
    if not text.isdigit() or int(text) < 1:
        raise ValueError(f"not a WooCommerce id: {value!r}")
    return int(text)


def meta_value(state: Mapping[str, Any]) -> str:
    """The JSON string stored under ``_backsoon_state`` for one stock state (compact, keys sorted)."""
    return json.dumps(state_value(state), separators=(",", ":"), sort_keys=True)


def meta_update(item_id: str | int, state: Mapping[str, Any]) -> dict[str, Any]:
    """One ``update`` entry of a products/variations batch call writing the state of one item."""
    return {"id": woo_id(item_id), "meta_data": [{"key": META_KEY, "value": meta_value(state)}]}


def listing_update(product_id: str | int, value: Mapping[str, Any]) -> dict[str, Any]:
    """One ``update`` entry of a products batch call writing a product's listing (status and badge)."""
    document = {"status": str(value["status"]), "badge": dict(value["badge"]), "v": 1}
    text = json.dumps(document, separators=(",", ":"), sort_keys=True)
    return {"id": woo_id(product_id), "meta_data": [{"key": LISTING_META_KEY, "value": text}]}
