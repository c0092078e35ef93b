"""Storefront write-back: one app-owned JSON metafield per variant, read by the theme app extension's block.

The block renders from this metafield alone (no call to us), so the value carries everything it shows: status,
the honest badge, the predicted restock date and whether to offer the "Back soon" signup. ``v`` versions the shape
so a newer block can tell an old value apart. The namespace ``$app:backsoon`` is resolved by Shopify to
``app--<app id>--backsoon``: only this app can write it, so a merchant or another app cannot inject markup.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from datetime import date, datetime
from typing import Any, TypeVar

__all__ = [
    "LISTING_KEY",
    "MAX_METAFIELDS_PER_CALL",
    "METAFIELD_KEY",
    "METAFIELD_NAMESPACE",
    "SCHEMA_VERSION",
    "chunks",
    "listing_inputs",
    "metafield_inputs",
    "state_value",
    "variant_gid",
]

METAFIELD_NAMESPACE = "$app:backsoon"
METAFIELD_KEY = "state"
# On the product: {"status", "badge": {"kind", "quantity"}} over its published variants, for listing and collection
# cards (product.metafields['$app:backsoon'].listing in the app's own blocks, app--<id>--backsoon in theme code).
LISTING_KEY = "listing"
SCHEMA_VERSION = 1
# metafieldsSet "allows a maximum of 25 metafields to be set at a time" (GraphQL Admin reference, 2025-07..2027-01).
MAX_METAFIELDS_PER_CALL = 25

_GID_PREFIX = "gid://shopify/ProductVariant/"
_PRODUCT_PREFIX = "gid://shopify/Product/"
_T = TypeVar("_T")


def variant_gid(variant_gid_or_id: str | int) -> str:
    """The ProductVariant GID for a numeric id (or an already-formed GID)."""
    text = str(variant_gid_or_id).strip()
    if text.startswith(_GID_PREFIX):
        text = text[len(_GID_PREFIX) :]
    if not text.isdigit():
        raise ValueError(f"not a Shopify variant id: {variant_gid_or_id!r}")
    return _GID_PREFIX + text


def _iso_date(value: object) -> str | None:
    if value is None:
        return None
    if isinstance(value, datetime):  # a datetime is a date too: keep only the day the block shows
        return value.date().isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, str) and value:
        return date.fromisoformat(value[:10]).isoformat()
    raise ValueError(f"not a date: {value!r}")


def state_value(state: Mapping[str, Any]) -> dict[str, Any]:
    """The JSON document stored in the metafield for one stock state."""
    status = str(state["status"])
    kind = str(state.get("badge_kind") or "none")
    quantity = state.get("badge_quantity")
    return {
        "status": status,
        # A quantity only means something for "only N left"; anything else would render a misleading number.
        "badge": {"kind": kind, "quantity": int(quantity) if kind == "only_n_left" and quantity is not None else None},
        "restock_eta": _iso_date(state.get("restock_eta")),
        "eta_source": state.get("eta_source"),
        "back_soon": status == "out_of_stock",
        "v": SCHEMA_VERSION,
        # Only when true (older readers never see the key): sold out, no date, but the platform reports stock on
        # its way. Such stock has no date, so the page may say "on its way" and never when.
        **({"on_its_way": True} if state.get("on_its_way") else {}),
    }


def metafield_inputs(variant_gid_or_id: str | int, state: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The MetafieldsSetInput list (one app-owned JSON metafield) for one variant's stock state."""
    value = json.dumps(state_value(state), separators=(",", ":"), sort_keys=True)
    return [
        {
            "ownerId": variant_gid(variant_gid_or_id),
            "namespace": METAFIELD_NAMESPACE,
            "key": METAFIELD_KEY,
            "type": "json",
            "value": value,
        }
    ]


def listing_inputs(product_gid_or_id: str | int, value: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The MetafieldsSetInput list (one app-owned JSON metafield on the product) for a product's listing."""
    text = str(product_gid_or_id).strip().removeprefix(_PRODUCT_PREFIX)
    if not text.isdigit():
        raise ValueError(f"not a Shopify product id: {product_gid_or_id!r}")
    document = {"status": str(value["status"]), "badge": dict(value["badge"]), "v": SCHEMA_VERSION}
    return [
        {
            "ownerId": _PRODUCT_PREFIX + text,
            "namespace": METAFIELD_NAMESPACE,
            "key": LISTING_KEY,
            "type": "json",
            "value": json.dumps(document, separators=(",", ":"), sort_keys=True),
        }
    ]


def chunks(items: Sequence[_T], size: int = MAX_METAFIELDS_PER_CALL) -> Iterator[list[_T]]:
    """Consecutive slices of at most ``size`` items (metafieldsSet takes at most 25 per call)."""
    if size < 1:
        raise ValueError("chunk size must be positive")
    for start in range(0, len(items), size):
        yield list(items[start : start + size])
