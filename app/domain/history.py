"""Known sales history: what the figures may treat as known, and what they must leave out.

A day BackSoon has no orders for is not a day without sales when the platform never showed us that day's orders
(Shopify without read_all_orders shows the last 60 days only), and a variant already sold out when the store
connected was sold out for some time before. Both are unknowns; these rules keep them from reading as zeros.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from app.domain.velocity import WindowSales

_DAY = timedelta(days=1)


class SoldOutSince(StrEnum):
    """Which fact a sold-out-at-connect span starts from (stock_events.details["since"])."""

    LAST_SALE = "last_sale"
    INVENTORY_UPDATE = "inventory_update"
    CONNECT = "connect"


@dataclass(frozen=True, slots=True)
class SoldOutStart:
    """When a variant found sold out is taken to have sold out, and from which fact."""

    at: datetime
    since: SoldOutSince


def sold_out_start(found_at: datetime, last_sale: datetime | None, inventory_updated: datetime | None) -> SoldOutStart:
    """The start of the sold-out span of a variant first seen sold out at ``found_at``.

    Its last sale, when there is one: the sale that took its last unit is the likeliest sell-out, and
    anything later would count the days it could not sell as days it sold nothing. Else the last update of
    its stock level: a quantity at zero or below was last set then, so it was sold out from then at the
    latest. Else ``found_at`` (the connect time, or when a variant added later was first seen): nothing
    says it ever sold, so no sold-out time is assumed. A candidate after ``found_at`` is not evidence of
    the past and is ignored.
    """
    if last_sale is not None and last_sale <= found_at:
        return SoldOutStart(last_sale, SoldOutSince.LAST_SALE)
    if inventory_updated is not None and inventory_updated <= found_at:
        return SoldOutStart(inventory_updated, SoldOutSince.INVENTORY_UPDATE)
    return SoldOutStart(found_at, SoldOutSince.CONNECT)


def order_horizon(read_at: datetime, visible_days: int | None) -> datetime | None:
    """The earliest moment whose orders a read at ``read_at`` saw; None when the platform shows every order."""
    return None if visible_days is None else read_at - timedelta(days=visible_days)


def earliest_horizon(current: datetime | None, new: datetime) -> datetime:
    """The horizon after orders back to ``new`` were loaded: what was loaded once stays loaded."""
    return new if current is None or new < current else current


def known_horizon(stored: datetime | None, now: datetime, orders_readable: bool) -> datetime | None:
    """The order horizon the figures use: the stored one, or ``now`` while the platform refuses every order read
    (Shopify without protected customer data approval), when no day's sales are known however long it lasts."""
    return stored if orders_readable else now


def known_days(window_days: int, now: datetime, horizon: datetime | None) -> int:
    """The days of a ``window_days`` window whose orders are known: whole days since the horizon, at most the window.

    Whole days, so the window's start slides with ``now`` like any window's, and the part-day next to the horizon
    is left out rather than counted as a day without sales.
    """
    if horizon is None:
        return window_days
    elapsed = math.floor((now - horizon) / _DAY)
    return max(0, min(window_days, elapsed))


def sales_days(windows: Sequence[WindowSales], rates: Sequence[float | None]) -> int | None:
    """The days of sales a velocity is based on: the sellable days, in whole days, of the longest window it used.

    The longest window with a rate is the widest history the figure drew on; None when no window had a rate
    (the velocity is then 0 for want of history, not from it).
    """
    # One pass without intermediate lists: this runs for every variant the recompute assesses.
    longest = None
    for window, rate in zip(windows, rates, strict=True):
        if rate is not None and (longest is None or window.days > longest.days):
            longest = window
    if longest is None:
        return None
    sellable, days = longest.sellable_days, longest.days
    # Never negative (WindowSales checks), so truncation is the floor.
    return int(sellable if sellable < days else days)
