"""Honest urgency in a restock email: a count of units shown only when it is known and small.

"Only 3 back in stock" is said when the platform tracks the variant's stock, a sale stops at zero (no overselling,
no backorders, so the count is a real limit), at least one unit is sellable and no more than the store's low-stock
threshold are. Anything else says nothing: an urgency line is never invented.
"""

from __future__ import annotations


def restock_urgency(
    *, tracked: bool, inventory_policy: str, backorder: bool, sellable: int | None, threshold: int
) -> int | None:
    """The unit count to show as urgency, or None when it is unknown, not a real limit, or not small."""
    if not tracked or inventory_policy != "deny" or backorder or sellable is None:
        return None
    if sellable < 1 or sellable > threshold:
        return None
    return sellable
