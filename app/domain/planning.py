"""Buyer's planning verdicts: overdue reorders, overstock, dead stock and when a variant sold out.

Pure functions over figures the stock recompute already stored; the planning screens show them. Dead stock is only
claimed from known history: a day before the store's order-history start is not a day without sales.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date
from enum import StrEnum

DEAD_STOCK_DAYS = 90


def is_overdue(reorder_by: date | None, today: date) -> bool:
    """True when the last day to reorder is already past at the store (``today`` is the store's own date)."""
    return reorder_by is not None and reorder_by < today


def overstock_units(on_hand: int, velocity: float, cover_days: int, safety_days: int) -> int:
    """Units on hand beyond ``cover_days + safety_days`` of demand at ``velocity`` units a day; 0 when none.

    A variant that does not sell (velocity 0) is never called overstocked here: without a rate there is no
    period of demand to compare with, and the dead-stock verdict speaks for it instead.
    """
    if on_hand <= 0 or velocity <= 0:
        return 0
    # A whole unit of demand counts as covered as soon as part of it is due, so the need rounds up.
    needed = math.ceil(velocity * (max(cover_days, 0) + max(safety_days, 0)) - 1e-9)
    return max(on_hand - needed, 0)


class DeadStockVerdict(StrEnum):
    """What the known history says about a variant with stock on hand."""

    DEAD = "dead"  # no sale in DEAD_STOCK_DAYS known sellable days
    SELLING = "selling"  # a sale within the last DEAD_STOCK_DAYS known sellable days
    UNKNOWN = "unknown"  # fewer known sellable days than that since its last sale or the history start
    NO_STOCK = "no_stock"  # nothing on hand: nothing to be dead


@dataclass(frozen=True, slots=True)
class DeadStock:
    """A dead-stock verdict with the known sellable days it rests on (days since the last sale or history start)."""

    verdict: DeadStockVerdict
    quiet_days: int


def dead_stock(
    on_hand: int,
    last_sale: date | None,
    history_start: date,
    today: date,
    sold_out_days: int = 0,
    window: int = DEAD_STOCK_DAYS,
) -> DeadStock:
    """Whether stock on hand is dead: no sale in ``window`` known sellable days.

    The quiet span runs from the last sale (or, without one, from ``history_start``: sales before it are not
    known) to ``today``; ``sold_out_days`` of it the variant could not sell, so they do not count. A last sale
    before the history start cannot be seen, so it is treated as the history start.
    """
    if on_hand <= 0:
        return DeadStock(DeadStockVerdict.NO_STOCK, 0)
    since = history_start if last_sale is None or last_sale < history_start else last_sale
    quiet = max((today - since).days - max(sold_out_days, 0), 0)
    if quiet >= window:
        return DeadStock(DeadStockVerdict.DEAD, quiet)
    if last_sale is not None and last_sale >= history_start:
        return DeadStock(DeadStockVerdict.SELLING, quiet)
    return DeadStock(DeadStockVerdict.UNKNOWN, quiet)


def sold_out_label(since: date | None, known: bool, found_on: date | None) -> str:
    """How the planning table names a sold-out variant's date.

    ``since`` is when the open sell-out span started; ``known`` is False for a span recorded when the variant was
    found sold out with nothing saying since when (then the date is only an upper bound, ``found_on``).
    """
    if since is not None and known:
        return f"Sold out since {since.isoformat()}"
    bound = found_on or since
    return f"Sold out (since before {bound.isoformat()})" if bound is not None else "Sold out (since unknown)"
