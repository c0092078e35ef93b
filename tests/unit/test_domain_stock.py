"""Stock rules: days on hand, stockout, reorder, status, badge, ad signal, ETA, priority, campaigns."""

# The expected reasons use the real multiplication and minus signs the merchant sees.

from __future__ import annotations

import math
import random
from datetime import date, timedelta
from fractions import Fraction
from typing import Any

import pytest

from app.domain.settings import StockSettings
from app.domain.stock import (
    Badge,
    BadgeKind,
    CampaignRisk,
    CampaignWindow,
    IncomingStock,
    LeadTimeEta,
    ListingVariant,
    Signal,
    Status,
    VariantFacts,
    assess,
    campaign_risk,
    days_on_hand,
    is_oversellable,
    lead_time_eta,
    marketing_signal,
    on_its_way,
    priority_score,
    product_listing,
    reorder_by_date,
    reorder_due,
    restock_eta,
    scarcity_badge,
    stock_status,
    stockout_date,
    suggested_reorder_qty,
)

TODAY = date(2025, 3, 1)
S = StockSettings()


def day(offset: int) -> date:
    return TODAY + timedelta(days=offset)


def po(quantity: int, offset: int) -> IncomingStock:
    return IncomingStock(quantity, day(offset))


def campaign(campaign_id: int, start: int, end: int, uplift: float = 100.0) -> CampaignWindow:
    return CampaignWindow(campaign_id, day(start), day(end), uplift)


def facts(**overrides: Any) -> VariantFacts:
    values: dict[str, Any] = {
        "variant_id": 1,
        "sellable_quantity": 12,
        "tracked": True,
        "policy": "deny",
        "backorder": False,
        "price": 49.0,
        "velocity": 2.5,
        "lead_time_days": 14,
    }
    values.update(overrides)
    return VariantFacts(**values)


# --- days on hand ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("qty", "velocity", "expected"),
    [
        (12, 2.5, 4.8),
        (10, 2.0, 5.0),
        (10, 3.0, 3.3),
        (1, 0.0001, 10000.0),
        (0, 2.0, 0.0),
        (-3, 2.0, 0.0),
        (5, 0.0, None),
        (0, 0.0, 0.0),
    ],
)
def test_days_on_hand(qty: int, velocity: float, expected: float | None) -> None:
    assert days_on_hand(qty, velocity) == expected


# --- stockout date --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("qty", "velocity", "expected"),
    [
        (10, 2.0, day(5)),  # days 0-4 use all 10; day 5 is the first unmet
        (12, 2.5, day(4)),  # day 4 wants 2.5, only 2 left
        (1, 2.0, day(0)),
        (0, 2.0, day(0)),
        (-3, 2.0, day(0)),
        (-3, 0.0, day(0)),
        (5, 0.0, None),
        (3, 0.3, day(10)),  # 3 / 0.3 is 9.999… in binary floats; exact arithmetic says 10
        (3649, 1.0, day(3649)),
        (3650, 1.0, None),  # beyond the ten-year horizon
    ],
)
def test_stockout_date(qty: int, velocity: float, expected: date | None) -> None:
    assert stockout_date(qty, velocity, TODAY) == expected


@pytest.mark.parametrize("velocity", [0.1, 0.3, 0.7, 1.0, 1.4286, 2.5, 3.3333, 7.0])
@pytest.mark.parametrize("qty", [1, 2, 7, 10, 33, 100])
def test_stockout_date_without_campaigns_is_today_plus_floor_of_days(qty: int, velocity: float) -> None:
    expected = math.floor(Fraction(qty) / Fraction(repr(velocity)))
    assert stockout_date(qty, velocity, TODAY) == day(expected)


def test_campaign_uplift_applies_inside_its_window_only() -> None:
    # 20 units at 2/day: days 0-1 use 4, campaign days 2-4 at 4/day use 12, days 5-6 use the last 4.
    assert stockout_date(20, 2.0, TODAY, (campaign(9, 2, 4),)) == day(7)
    assert stockout_date(20, 2.0, TODAY) == day(10)


def test_finished_campaign_changes_nothing() -> None:
    assert stockout_date(20, 2.0, TODAY, (campaign(9, -10, -1),)) == day(10)


def test_campaign_running_since_before_today_counts_from_today() -> None:
    # 4/day from today through day 2 (12 units), then 2/day: 8 left last 4 more days.
    assert stockout_date(20, 2.0, TODAY, (campaign(9, -5, 2),)) == day(7)


def test_overlapping_campaigns_add_their_uplifts() -> None:
    both = (campaign(1, 0, 9, 50.0), campaign(2, 0, 9, 50.0))
    assert stockout_date(20, 2.0, TODAY, both) == day(5)  # 4/day


def test_negative_uplift_lowers_demand_but_never_below_zero() -> None:
    assert stockout_date(10, 2.0, TODAY, (campaign(1, 0, 4, -50.0),)) == day(7)
    assert stockout_date(10, 2.0, TODAY, (campaign(1, 0, 4, -100.0),)) == day(10)


def test_incoming_before_the_stockout_extends_it() -> None:
    # 10 units last days 0-4; 10 more arrive on day 5 and last days 5-9.
    assert stockout_date(10, 2.0, TODAY, incoming=(po(10, 5),)) == day(10)
    assert stockout_date(10, 2.0, TODAY, incoming=(po(10, 3),)) == day(10)


def test_incoming_after_the_stockout_does_not_move_it() -> None:
    assert stockout_date(10, 2.0, TODAY, incoming=(po(100, 6),)) == day(5)


def test_overdue_and_empty_incoming_are_ignored() -> None:
    assert stockout_date(10, 2.0, TODAY, incoming=(po(100, -1), po(0, 2), po(-5, 2))) == day(5)


def test_negative_stock_is_owed_before_incoming_helps() -> None:
    assert stockout_date(-3, 1.0, TODAY, incoming=(po(5, 0),)) == day(2)


def test_campaign_and_incoming_together() -> None:
    # Campaign days 0-2 at 4/day empty 12 units by day 3; 20 arrive on day 3, at 2/day last to day 12.
    assert stockout_date(12, 2.0, TODAY, (campaign(1, 0, 2),), (po(20, 3),)) == day(13)


# --- reorder --------------------------------------------------------------------------------------


def test_reorder_by_date() -> None:
    assert reorder_by_date(day(30), 14, 7) == day(9)
    assert reorder_by_date(day(5), 14, 7) == day(-16)
    assert reorder_by_date(None, 14, 7) is None


@pytest.mark.parametrize(
    ("velocity", "qty", "incoming", "waitlist", "cover", "lead", "safety", "expected"),
    [
        (2.5, 12, 0, 3, 60, 14, 7, 194),  # ceil(2.5 * 81) = 203, + 3 - 12
        (0.1, 0, 0, 0, 30, 0, 0, 3),  # 0.1 * 30 is exactly 3, not 3.0000000000000004 → 4
        (1.0, -3, 0, 0, 10, 0, 0, 13),  # 3 units oversold are owed on top of demand
        (1.0, 5, 100, 0, 60, 14, 7, 0),  # incoming covers it
        (0.0, 0, 0, 5, 60, 14, 7, 5),  # no measurable sales, but five people waiting
        (0.0, 0, 0, 0, 60, 14, 7, 0),
        (0.3333, 10, 4, 0, 60, 14, 7, 13),  # ceil(26.9973) = 27, - 10 - 4
    ],
)
def test_suggested_reorder_qty(
    velocity: float,
    qty: int,
    incoming: int,
    waitlist: int,
    cover: int,
    lead: int,
    safety: int,
    expected: int,
) -> None:
    assert suggested_reorder_qty(velocity, qty, incoming, waitlist, cover, lead, safety) == expected


@pytest.mark.parametrize(
    ("suggested", "qty", "reorder_by", "expected"),
    [
        (10, 0, None, True),
        (10, -2, day(5), True),
        (10, 5, day(0), True),
        (10, 5, day(-1), True),
        (10, 5, day(1), False),
        (10, 5, None, False),
        (0, 0, day(-5), False),
    ],
)
def test_reorder_due(suggested: int, qty: int, reorder_by: date | None, expected: bool) -> None:
    assert reorder_due(suggested, qty, reorder_by, TODAY) is expected


# --- status ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("tracked", "policy", "backorder", "qty", "doh", "expected"),
    [
        (False, "deny", False, 0, None, Status.UNTRACKED),
        (False, "continue", False, 50, None, Status.UNTRACKED),
        (True, "deny", False, 0, 0.0, Status.OUT_OF_STOCK),
        (True, "deny", False, -3, 0.0, Status.OUT_OF_STOCK),
        (True, "continue", False, 0, 0.0, Status.BACKORDER),
        (True, "continue", False, -4, 0.0, Status.BACKORDER),
        (True, "deny", True, 0, 0.0, Status.BACKORDER),
        (True, "continue", False, 100, 50.0, Status.IN_STOCK),
        (True, "continue", False, 3, 50.0, Status.LOW_STOCK),
        (True, "deny", True, 100, 50.0, Status.IN_STOCK),
        (True, "deny", False, 5, None, Status.LOW_STOCK),
        (True, "deny", False, 6, None, Status.IN_STOCK),
        (True, "deny", False, 6, 14.0, Status.LOW_STOCK),
        (True, "deny", False, 6, 14.1, Status.IN_STOCK),
    ],
)
def test_stock_status(
    tracked: bool, policy: str, backorder: bool, qty: int, doh: float | None, expected: Status
) -> None:
    assert stock_status(tracked, policy, backorder, qty, doh, S) is expected


def test_is_oversellable() -> None:
    assert is_oversellable("continue", False)
    assert is_oversellable("deny", True)
    assert not is_oversellable("deny", False)


# --- badge ----------------------------------------------------------------------------------------

ONLY_3 = Badge(BadgeKind.ONLY_N_LEFT, 3)
FAST = Badge(BadgeKind.SELLING_FAST, None)
NONE = Badge(BadgeKind.NONE, None)


@pytest.mark.parametrize(
    ("status", "qty", "doh", "velocity", "expected"),
    [
        (Status.LOW_STOCK, 3, 30.0, 0.1, ONLY_3),
        (Status.LOW_STOCK, 3, 1.0, 3.0, ONLY_3),  # only-N-left wins over selling fast
        (Status.LOW_STOCK, 5, None, 0.0, Badge(BadgeKind.ONLY_N_LEFT, 5)),
        (Status.LOW_STOCK, 20, 5.0, 4.0, FAST),
        (Status.LOW_STOCK, 20, 7.0, 1.0, FAST),  # both boundaries inclusive
        (Status.LOW_STOCK, 20, 7.1, 4.0, NONE),
        (Status.LOW_STOCK, 20, 5.0, 0.9, NONE),  # fast relative to stock, but barely selling
        (Status.IN_STOCK, 100, 50.0, 2.0, NONE),
        (Status.OUT_OF_STOCK, 0, 0.0, 3.0, NONE),
        (Status.BACKORDER, 0, 0.0, 3.0, NONE),
        (Status.UNTRACKED, 3, None, 3.0, NONE),
    ],
)
def test_scarcity_badge(status: Status, qty: int, doh: float | None, velocity: float, expected: Badge) -> None:
    assert scarcity_badge(status, qty, doh, velocity, S) == expected


def test_no_only_n_left_when_more_can_be_ordered_than_is_left() -> None:
    assert scarcity_badge(Status.LOW_STOCK, 3, 30.0, 0.1, S, oversellable=True) == NONE
    assert scarcity_badge(Status.LOW_STOCK, 3, 1.0, 3.0, S, oversellable=True) == FAST


def test_zero_threshold_never_shows_only_n_left() -> None:
    settings = StockSettings(low_stock_threshold=0)
    assert scarcity_badge(Status.IN_STOCK, 1, 50.0, 0.02, settings) == NONE


# --- marketing signal -----------------------------------------------------------------------------


def signal(
    status: Status,
    qty: int,
    velocity: float,
    incoming: tuple[IncomingStock, ...] = (),
    **kwargs: Any,
) -> tuple[Signal, str]:
    return marketing_signal(status, qty, days_on_hand(qty, velocity), velocity, incoming, 14, S, TODAY, **kwargs)


@pytest.mark.parametrize(
    ("status", "qty", "velocity", "incoming", "expected"),
    [
        (Status.UNTRACKED, 0, 2.0, (), (Signal.OK, "untracked")),
        (Status.OUT_OF_STOCK, 0, 2.0, (), (Signal.PAUSE, "out_of_stock")),
        (Status.OUT_OF_STOCK, -3, 0.0, (po(50, 1),), (Signal.PAUSE, "out_of_stock")),
        (Status.BACKORDER, 0, 2.0, (), (Signal.THROTTLE, "backorder")),
        (Status.IN_STOCK, 40, 0.0, (), (Signal.OK, "no_recent_sales")),
        (Status.LOW_STOCK, 6, 2.0, (), (Signal.PAUSE, "below_floor")),  # 3.0 days ≤ 3.0 floor
        (Status.LOW_STOCK, 6, 2.0, (po(500, 1),), (Signal.PAUSE, "below_floor")),
        (Status.LOW_STOCK, 7, 2.0, (), (Signal.THROTTLE, "days_on_hand_below_lead_time")),
        (Status.LOW_STOCK, 20, 2.0, (), (Signal.THROTTLE, "days_on_hand_below_lead_time")),
        # 20 units last to day 10; 40 more on day 5 carry demand (42 over 21 days) through the horizon.
        (Status.LOW_STOCK, 20, 2.0, (po(40, 5),), (Signal.OK, "covered_by_incoming")),
        (Status.LOW_STOCK, 20, 2.0, (po(40, 10),), (Signal.OK, "covered_by_incoming")),
        # Enough units, but they land after the shelf is empty on day 10.
        (Status.LOW_STOCK, 20, 2.0, (po(400, 11),), (Signal.THROTTLE, "days_on_hand_below_lead_time")),
        # On time, but 20 + 10 < 42.
        (Status.LOW_STOCK, 20, 2.0, (po(10, 5),), (Signal.THROTTLE, "days_on_hand_below_lead_time")),
        (Status.LOW_STOCK, 20, 2.0, (po(10, 5), po(12, 9)), (Signal.OK, "covered_by_incoming")),
        # Arrives beyond the 21-day horizon; overdue incoming is not counted.
        (Status.LOW_STOCK, 20, 2.0, (po(400, 21),), (Signal.THROTTLE, "days_on_hand_below_lead_time")),
        (Status.LOW_STOCK, 20, 2.0, (po(400, -1),), (Signal.THROTTLE, "days_on_hand_below_lead_time")),
        (Status.IN_STOCK, 42, 2.0, (), (Signal.OK, "healthy")),  # 21.0 days = lead 14 + safety 7
        (Status.IN_STOCK, 41, 2.0, (), (Signal.THROTTLE, "days_on_hand_below_lead_time")),
    ],
)
def test_marketing_signal(
    status: Status,
    qty: int,
    velocity: float,
    incoming: tuple[IncomingStock, ...],
    expected: tuple[Signal, str],
) -> None:
    assert signal(status, qty, velocity, incoming) == expected


def test_oversellable_variant_is_throttled_not_paused_at_the_floor() -> None:
    assert signal(Status.LOW_STOCK, 6, 2.0, oversellable=True) == (Signal.THROTTLE, "below_floor")


def test_unpublished_variant_is_paused_whatever_its_stock() -> None:
    assert signal(Status.IN_STOCK, 500, 1.0, published=False) == (Signal.PAUSE, "unpublished")
    assert signal(Status.UNTRACKED, 0, 1.0, published=False) == (Signal.PAUSE, "unpublished")


# --- restock ETA ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "incoming", "due", "expected"),
    [
        (Status.IN_STOCK, (po(10, 3),), True, (None, None)),
        (Status.LOW_STOCK, (po(10, 3),), True, (None, None)),
        (Status.UNTRACKED, (po(10, 3),), True, (None, None)),
        (Status.OUT_OF_STOCK, (po(10, 9), po(5, 4)), True, (day(4), "incoming_stock")),
        (Status.BACKORDER, (po(10, 9),), False, (day(9), "incoming_stock")),
        (Status.OUT_OF_STOCK, (po(10, 0),), False, (day(0), "incoming_stock")),
        (Status.OUT_OF_STOCK, (po(10, -2), po(5, 6)), True, (day(6), "incoming_stock")),
        (Status.OUT_OF_STOCK, (po(10, -2),), True, (None, "incoming_stock_overdue")),
        # No open incoming: the store's default lead time never dates a restock (the default argument).
        (Status.OUT_OF_STOCK, (po(0, 3),), True, (None, None)),
        (Status.OUT_OF_STOCK, (), True, (None, None)),
        (Status.BACKORDER, (), True, (None, None)),
        (Status.OUT_OF_STOCK, (), False, (None, None)),
    ],
)
def test_restock_eta(
    status: Status,
    incoming: tuple[IncomingStock, ...],
    due: bool,
    expected: tuple[date | None, str | None],
) -> None:
    assert restock_eta(status, incoming, 14, due, TODAY) == expected


@pytest.mark.parametrize(
    ("status", "incoming", "due", "lead_time", "expected"),
    [
        # Only an entered lead time the merchant shows dates a restock, and only when a reorder is due.
        (Status.OUT_OF_STOCK, (), True, LeadTimeEta.SHOWN, (day(14), "lead_time")),
        (Status.BACKORDER, (), True, LeadTimeEta.SHOWN, (day(14), "lead_time")),
        (Status.OUT_OF_STOCK, (po(0, 3),), True, LeadTimeEta.SHOWN, (day(14), "lead_time")),
        (Status.OUT_OF_STOCK, (), False, LeadTimeEta.SHOWN, (None, None)),
        (Status.OUT_OF_STOCK, (), True, LeadTimeEta.HIDDEN, (None, None)),
        (Status.OUT_OF_STOCK, (), True, LeadTimeEta.DEFAULT, (None, None)),
        (Status.OUT_OF_STOCK, (), True, LeadTimeEta.AFTER_CLOSED_PO, (None, None)),
        (Status.OUT_OF_STOCK, (po(10, 30),), True, LeadTimeEta.AFTER_CLOSED_PO, (day(30), "incoming_stock")),
        (Status.LOW_STOCK, (), True, LeadTimeEta.SHOWN, (None, None)),
        # A dated purchase order beats the lead time; an overdue one still gives no date, shown or not.
        (Status.OUT_OF_STOCK, (po(10, 30),), True, LeadTimeEta.SHOWN, (day(30), "incoming_stock")),
        (Status.OUT_OF_STOCK, (po(10, -2),), True, LeadTimeEta.SHOWN, (None, "incoming_stock_overdue")),
    ],
)
def test_restock_eta_from_lead_time(
    status: Status,
    incoming: tuple[IncomingStock, ...],
    due: bool,
    lead_time: LeadTimeEta,
    expected: tuple[date | None, str | None],
) -> None:
    assert restock_eta(status, incoming, 14, due, TODAY, lead_time) == expected


@pytest.mark.parametrize(
    ("entered", "shown", "expected"),
    [
        (False, False, LeadTimeEta.DEFAULT),
        (False, True, LeadTimeEta.DEFAULT),
        (True, False, LeadTimeEta.HIDDEN),
        (True, True, LeadTimeEta.SHOWN),
    ],
)
def test_lead_time_eta(entered: bool, shown: bool, expected: LeadTimeEta) -> None:
    assert lead_time_eta(entered, shown) is expected


@pytest.mark.parametrize(
    ("entered", "shown", "expected"),
    [
        (False, True, LeadTimeEta.DEFAULT),
        (True, False, LeadTimeEta.HIDDEN),
        (True, True, LeadTimeEta.AFTER_CLOSED_PO),
    ],
)
def test_lead_time_eta_after_a_purchase_order_closed_while_sold_out(
    entered: bool, shown: bool, expected: LeadTimeEta
) -> None:
    assert lead_time_eta(entered, shown, True) is expected


# --- priority -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("waitlist", "velocity", "doh", "lead", "price", "expected"),
    [
        (10, 2.0, 7.0, 14, 99.0, 91.36),  # (10 + 2 * 15 * 15/22) * (1 + log10 100)
        (3, 2.5, 4.8, 14, 49.0, 84.77),
        (0, 2.0, 0.0, 14, 0.0, 30.0),  # out of stock: urgency 1, price factor 1
        (5, 0.0, None, 14, 9.0, 10.0),  # waitlist only, price factor 2
        (5, 3.0, None, 14, 9.0, 10.0),  # unknown days on hand carries no urgency
        (0, 0.0, None, 14, 1000.0, 0.0),
        (0, 1.0, 0.0, 0, 0.0, 1.0),
        (-4, -1.0, -2.0, -3, -10.0, 0.0),  # negative inputs count as 0
    ],
)
def test_priority_score(
    waitlist: int, velocity: float, doh: float | None, lead: int, price: float, expected: float
) -> None:
    assert priority_score(waitlist, velocity, doh, lead, price) == expected


def test_priority_is_monotonic_in_each_input() -> None:
    base: dict[str, Any] = {
        "waitlist_open": 5,
        "velocity": 1.5,
        "days_on_hand": 10.0,
        "lead_time_days": 14,
        "price": 30.0,
    }
    rising: dict[str, list[float]] = {
        "waitlist_open": [0, 1, 2, 10, 100],
        "velocity": [0.0, 0.1, 1.0, 5.0, 50.0],
        "lead_time_days": [0, 1, 7, 30, 365],
        "price": [0.0, 1.0, 10.0, 100.0, 5000.0],
    }
    for name, values in rising.items():
        scores = [priority_score(**{**base, name: value}) for value in values]
        assert scores == sorted(scores), name
        assert scores[0] < scores[-1], name
    falling = [priority_score(**{**base, "days_on_hand": doh}) for doh in (0.0, 1.0, 7.0, 30.0, 365.0)]
    assert falling == sorted(falling, reverse=True)
    assert falling[0] > falling[-1]


# --- campaign risk --------------------------------------------------------------------------------


def test_campaign_that_sells_out_within_its_window() -> None:
    # 20 units: days 0-1 use 4, then 4/day from day 2 → the 16 left last days 2-5, day 6 is short.
    assert campaign_risk(20, 2.0, (), (campaign(7, 2, 8),), TODAY) == CampaignRisk(7, day(6), False)


def test_campaign_sell_out_before_incoming_arrives() -> None:
    risk = campaign_risk(20, 2.0, (po(50, 10),), (campaign(7, 2, 8),), TODAY)
    assert risk == CampaignRisk(7, day(6), True)


def test_incoming_in_time_removes_the_risk() -> None:
    assert campaign_risk(20, 2.0, (po(50, 5),), (campaign(7, 2, 8),), TODAY) is None


def test_campaign_with_enough_stock_is_not_at_risk() -> None:
    assert campaign_risk(100, 2.0, (), (campaign(7, 0, 9),), TODAY) is None


def test_campaign_that_pulls_the_stockout_before_the_next_delivery() -> None:
    # 40 units; campaign days 0-4 at 4/day uses 20, the rest lasts days 5-14: short on day 15.
    # Without the campaign: day 20. The purchase order lands on day 18, too late because of it.
    risk = campaign_risk(40, 2.0, (po(100, 18),), (campaign(3, 0, 4),), TODAY)
    assert risk == CampaignRisk(3, day(15), True)


def test_later_stockout_without_incoming_is_not_blamed_on_a_finished_campaign() -> None:
    assert campaign_risk(40, 2.0, (), (campaign(3, 0, 4),), TODAY) is None


def test_stockout_before_the_next_delivery_that_would_happen_anyway_is_not_a_campaign_risk() -> None:
    # Negligible uplift: short on day 20 with or without it.
    assert campaign_risk(40, 2.0, (po(100, 25),), (campaign(3, 0, 4, 0.0),), TODAY) is None


def test_a_variant_sold_out_before_the_campaign_starts_is_not_its_risk() -> None:
    # Sold out now, or out on day 2 and not refilled by day 6: short on the first day with or without the uplift.
    assert campaign_risk(0, 2.0, (), (campaign(5, 0, 3),), TODAY) is None
    assert campaign_risk(-3, 2.0, (), (campaign(5, 0, 3),), TODAY) is None
    assert campaign_risk(4, 2.0, (), (campaign(5, 6, 9),), TODAY) is None
    # 3 units at 2/day: day 0 is met in full without the uplift (2 ≤ 3) but not with it (4 > 3).
    assert campaign_risk(3, 2.0, (), (campaign(5, 0, 3),), TODAY) == CampaignRisk(5, day(0), False)


def test_a_sold_out_variant_refilled_before_the_campaign_can_be_its_risk() -> None:
    # Nothing now, 10 units on day 2; campaign days 4-9 at 4/day: days 2-3 use 4, the 6 left last day 4, short day 5.
    assert campaign_risk(0, 2.0, (po(10, 2),), (campaign(5, 4, 9),), TODAY) == CampaignRisk(5, day(5), False)


def test_stockout_refilled_before_the_campaign_starts_is_not_a_campaign_risk() -> None:
    # Out on day 2, 100 units on day 3, campaign days 5-7 uses 12 of the 96 left.
    assert campaign_risk(4, 2.0, (po(100, 3),), (campaign(5, 5, 7),), TODAY) is None


def test_earliest_stockout_among_campaigns_is_reported() -> None:
    campaigns = (campaign(2, 20, 30), campaign(1, 2, 8))
    assert campaign_risk(20, 2.0, (), campaigns, TODAY) == CampaignRisk(1, day(6), False)


def test_ended_campaigns_and_zero_velocity_carry_no_risk() -> None:
    assert campaign_risk(0, 2.0, (), (campaign(5, -9, -1),), TODAY) is None
    assert campaign_risk(0, 0.0, (), (campaign(5, 0, 3),), TODAY) is None
    assert campaign_risk(20, 2.0, (), (), TODAY) is None


@pytest.mark.parametrize(("start", "end", "uplift"), [(3, 2, 10.0), (0, 1, -101.0), (0, 1, float("nan"))])
def test_invalid_campaign_is_rejected(start: int, end: int, uplift: float) -> None:
    with pytest.raises(ValueError):
        campaign(1, start, end, uplift)


# --- assess ---------------------------------------------------------------------------------------


def test_assess_low_stock_selling_fast() -> None:
    result = assess(facts(waitlist_open=3), S, TODAY)
    assert result.status is Status.LOW_STOCK
    assert result.days_on_hand == 4.8
    assert result.stockout_on == day(4)
    assert result.reorder_by == day(-17)
    assert result.suggested_reorder_qty == 194
    assert result.badge == FAST
    assert (result.signal, result.signal_reason) == (Signal.THROTTLE, "days_on_hand_below_lead_time")
    assert (result.restock_eta, result.eta_source) == (None, None)
    assert result.priority == 84.77
    assert result.campaign_stockout is None
    assert result.reasons == (
        "Velocity 2.5/day",
        "12 units ÷ 2.5/day = 4.8 days on hand",
        "Low stock: 4.8 days on hand ≤ 14 day warning",
        "Stockout on 2025-03-05",
        "Suggested reorder 194 units: ceil(2.5/day × (14 lead + 7 safety + 60 cover days)) = 203"
        " + 3 waiting − 12 on hand",
        "Reorder by 2025-02-12 = stockout 2025-03-05 − 14 lead days − 7 safety days",
        "Badge 'selling fast': 4.8 days on hand ≤ 7 and 2.5/day ≥ 1/day",
        "Ads throttle: stock runs out before a reorder could land (21 days)",
        "Priority 84.77 = (waitlist 3 + 2.5/day × 15 days × urgency 0.76) × price factor 2.70",
    )


def test_assess_healthy_variant() -> None:
    result = assess(facts(sellable_quantity=300, velocity=2.0, incoming=(po(100, 30),)), S, TODAY)
    assert result.status is Status.IN_STOCK
    assert result.days_on_hand == 150.0
    assert result.stockout_on == day(200)  # 300 on hand + 100 incoming at 2/day
    assert result.suggested_reorder_qty == 0  # ceil(2 * 81) = 162 < 400
    assert result.reorder_by is None
    assert result.badge == NONE
    assert (result.signal, result.signal_reason) == (Signal.OK, "healthy")
    assert "Stockout on 2025-09-17 (counting incoming stock)" in result.reasons
    assert "No reorder needed: stock on hand and incoming cover lead, safety and cover days" in result.reasons


def test_assess_only_n_left() -> None:
    result = assess(facts(sellable_quantity=3, velocity=0.1), S, TODAY)
    assert result.badge == ONLY_3
    assert result.days_on_hand == 30.0
    assert "Badge 'only 3 left': 3 units ≤ threshold 5" in result.reasons
    assert "Low stock: 3 units ≤ threshold 5" in result.reasons


def test_assess_negative_inventory() -> None:
    result = assess(facts(sellable_quantity=-3, velocity=1.0, waitlist_open=2), S, TODAY)
    assert result.status is Status.OUT_OF_STOCK
    assert result.days_on_hand == 0.0
    assert result.stockout_on == TODAY
    assert result.suggested_reorder_qty == 86  # 81 + 2 waiting + 3 owed
    assert result.reorder_by == day(-21)
    assert result.badge == NONE
    assert (result.signal, result.signal_reason) == (Signal.PAUSE, "out_of_stock")
    # Only the store's default lead time is known: no date is promised.
    assert (result.restock_eta, result.eta_source) == (None, None)
    assert result.priority == 45.88  # (2 waiting + 1/day * 15 days * urgency 1) * (1 + log10 50)
    assert "-3 sellable units = 0 days on hand" in result.reasons
    assert (
        "Suggested reorder 86 units: ceil(1/day × (14 lead + 7 safety + 60 cover days)) = 81"
        " + 2 waiting + 3 oversold" in result.reasons
    )
    assert NO_DATE_DEFAULT in result.reasons
    assert not any(r.startswith("Back in stock") for r in result.reasons)


NO_DATE_DEFAULT = (
    "No restock date: no open purchase order, and no supplier, product or variant lead time entered"
    " (the store default lead time never dates a restock)"
)
SHOW = StockSettings(show_lead_time_eta=True)


def _eta_reasons(reasons: tuple[str, ...]) -> list[str]:
    prefixes = ("Back in stock", "No restock date", "Incoming stock", "Ships", "No ship date")
    return [r for r in reasons if r.startswith(prefixes)]


def test_assess_sold_out_on_the_default_lead_time_shows_no_date_even_when_showing_is_on() -> None:
    result = assess(facts(sellable_quantity=0, velocity=1.0, lead_time_days=14), SHOW, TODAY)
    assert result.status is Status.OUT_OF_STOCK
    assert result.suggested_reorder_qty == 81
    assert (result.restock_eta, result.eta_source) == (None, None)
    assert _eta_reasons(result.reasons) == [NO_DATE_DEFAULT]


def test_assess_sold_out_with_an_entered_lead_time_not_chosen_shows_no_date() -> None:
    result = assess(facts(sellable_quantity=0, velocity=1.0, lead_time_days=21, lead_time_entered=True), S, TODAY)
    assert (result.restock_eta, result.eta_source) == (None, None)
    assert _eta_reasons(result.reasons) == [
        "No restock date: no open purchase order, and the 21-day lead time is not shown"
    ]


def test_assess_sold_out_with_an_entered_lead_time_chosen_is_today_plus_lead() -> None:
    result = assess(facts(sellable_quantity=0, velocity=1.0, lead_time_days=21, lead_time_entered=True), SHOW, TODAY)
    assert (result.restock_eta, result.eta_source) == (date(2025, 3, 22), "lead_time")
    assert _eta_reasons(result.reasons) == [
        "Back in stock about 2025-03-22 = today + 21 days lead time, if ordered today"
    ]


def test_assess_backorder_with_an_entered_lead_time_chosen_is_today_plus_lead() -> None:
    f = facts(policy="continue", sellable_quantity=0, velocity=1.0, lead_time_days=10, lead_time_entered=True)
    result = assess(f, SHOW, TODAY)
    assert result.status is Status.BACKORDER
    assert (result.restock_eta, result.eta_source) == (date(2025, 3, 11), "lead_time")


def test_assess_dated_purchase_order_beats_a_shown_lead_time() -> None:
    f = facts(sellable_quantity=0, velocity=1.0, lead_time_days=21, lead_time_entered=True, incoming=(po(5, 40),))
    result = assess(f, SHOW, TODAY)
    assert (result.restock_eta, result.eta_source) == (date(2025, 4, 10), "incoming_stock")
    assert _eta_reasons(result.reasons) == ["Back in stock 2025-04-10: incoming stock expected"]


def test_assess_overdue_purchase_order_gives_no_date_even_with_a_shown_lead_time() -> None:
    f = facts(sellable_quantity=0, velocity=1.0, lead_time_days=21, lead_time_entered=True, incoming=(po(5, -1),))
    result = assess(f, SHOW, TODAY)
    assert (result.restock_eta, result.eta_source) == (None, "incoming_stock_overdue")
    assert _eta_reasons(result.reasons) == ["Incoming stock is overdue: no restock date"]


def test_assess_purchase_order_closed_while_sold_out_is_not_followed_by_a_lead_time_date() -> None:
    f = facts(
        sellable_quantity=0, velocity=1.0, lead_time_days=21, lead_time_entered=True, po_closed_while_sold_out=True
    )
    result = assess(f, SHOW, TODAY)
    assert (result.restock_eta, result.eta_source) == (None, None)
    assert _eta_reasons(result.reasons) == [
        "No restock date: a purchase order was received or closed since the variant sold out without restocking it,"
        " and the lead time is no promise in its place"
    ]
    # A new dated order still gives its date.
    dated = assess(facts(**{**_fields(f), "incoming": (po(4, 9),)}), SHOW, TODAY)
    assert (dated.restock_eta, dated.eta_source) == (day(9), "incoming_stock")


def _fields(f: VariantFacts) -> dict[str, Any]:
    return {name: getattr(f, name) for name in VariantFacts.__slots__}


def test_assess_no_reorder_due_gives_no_date_and_no_lead_time_reason() -> None:
    result = assess(facts(sellable_quantity=0, velocity=0.0, lead_time_entered=True), SHOW, TODAY)
    assert result.suggested_reorder_qty == 0
    assert (result.restock_eta, result.eta_source) == (None, None)
    assert _eta_reasons(result.reasons) == []


def test_assess_sold_out_with_overdue_purchase_order() -> None:
    result = assess(facts(sellable_quantity=0, velocity=1.0, incoming=(po(200, -3),)), S, TODAY)
    assert result.status is Status.OUT_OF_STOCK
    assert result.suggested_reorder_qty == 0  # the overdue 200 still count as on order
    assert (result.restock_eta, result.eta_source) == (None, "incoming_stock_overdue")
    assert "Incoming stock is overdue: no restock date" in result.reasons


def test_assess_sold_out_with_no_sales_history_and_nobody_waiting_invents_no_eta() -> None:
    result = assess(facts(sellable_quantity=0, velocity=0.0), S, TODAY)
    assert result.status is Status.OUT_OF_STOCK
    assert result.suggested_reorder_qty == 0
    assert (result.restock_eta, result.eta_source) == (None, None)


def test_assess_continue_policy_sold_out_is_backorder() -> None:
    result = assess(facts(policy="continue", sellable_quantity=0, velocity=1.0, incoming=(po(30, 6),)), S, TODAY)
    assert result.status is Status.BACKORDER
    assert result.badge == NONE
    assert (result.signal, result.signal_reason) == (Signal.THROTTLE, "backorder")
    assert (result.restock_eta, result.eta_source) == (day(6), "incoming_stock")
    assert "On backorder: 0 sellable units, orders still accepted" in result.reasons
    assert "Back in stock 2025-03-07: incoming stock expected" in result.reasons


def test_assess_woocommerce_onbackorder() -> None:
    result = assess(facts(backorder=True, sellable_quantity=0), S, TODAY)
    assert result.status is Status.BACKORDER


def test_assess_continue_policy_with_stock_is_judged_on_stock_without_only_n_left() -> None:
    result = assess(facts(policy="continue", sellable_quantity=3, velocity=0.1), S, TODAY)
    assert result.status is Status.LOW_STOCK
    assert result.badge == NONE


def test_assess_untracked() -> None:
    result = assess(facts(tracked=False, sellable_quantity=0, waitlist_open=4, price=9.0), S, TODAY)
    assert result.status is Status.UNTRACKED
    assert result.days_on_hand is None
    assert (result.stockout_on, result.reorder_by, result.suggested_reorder_qty) == (None, None, 0)
    assert result.badge == NONE
    assert (result.signal, result.signal_reason) == (Signal.OK, "untracked")
    assert (result.restock_eta, result.eta_source) == (None, None)
    assert result.priority == 8.0
    assert result.reasons == (
        "Inventory is not tracked: no stock forecast, badge, reorder or ETA",
        "Ads ok: inventory is not tracked",
        "Priority 8: waitlist 4, price 9",
    )


@pytest.mark.parametrize(
    ("incoming", "expected"),
    [
        ((po(40, 5),), (Signal.OK, "covered_by_incoming")),
        ((po(40, 11),), (Signal.THROTTLE, "days_on_hand_below_lead_time")),
    ],
)
def test_assess_incoming_before_or_after_the_stockout(
    incoming: tuple[IncomingStock, ...], expected: tuple[Signal, str]
) -> None:
    result = assess(facts(sellable_quantity=20, velocity=2.0, incoming=incoming), S, TODAY)
    assert (result.signal, result.signal_reason) == expected


def test_assess_unpublished_shows_no_badge_and_pauses_ads() -> None:
    result = assess(facts(sellable_quantity=3, velocity=0.1, published=False), S, TODAY)
    assert result.badge == NONE
    assert (result.signal, result.signal_reason) == (Signal.PAUSE, "unpublished")


def test_assess_flags_campaign_risk() -> None:
    result = assess(
        facts(sellable_quantity=20, velocity=2.0, campaigns=(campaign(7, 2, 8),), incoming=(po(50, 10),)),
        S,
        TODAY,
    )
    assert result.campaign_stockout == CampaignRisk(7, day(6), True)
    assert result.stockout_on == day(6)
    assert "Stockout on 2025-03-07 (counting incoming stock and campaign uplift)" in result.reasons
    assert "Campaign 7 sells it out on 2025-03-07 before incoming stock arrives" in result.reasons


def test_assess_notes_high_demand() -> None:
    result = assess(facts(waitlist_open=25), S, TODAY)
    assert "High demand: 25 waiting ≥ 25" in result.reasons


def test_assess_uses_the_variant_lead_time() -> None:
    result = assess(facts(sellable_quantity=100, velocity=2.0, lead_time_days=60), S, TODAY)
    assert result.reorder_by == day(50 - 67)
    assert result.suggested_reorder_qty == 154  # ceil(2 * 127) - 100
    assert (result.signal, result.signal_reason) == (Signal.THROTTLE, "days_on_hand_below_lead_time")


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("policy", "DENY"),
        ("velocity", -1.0),
        ("velocity", float("nan")),
        ("price", float("inf")),
        ("lead_time_days", -1),
    ],
)
def test_invalid_facts_are_rejected(field: str, value: object) -> None:
    with pytest.raises(ValueError):
        facts(**{field: value})


# --- assess composes the public rules -------------------------------------------------------------


def _random_facts(rng: random.Random) -> VariantFacts:
    return facts(
        sellable_quantity=rng.choice([-3, 0, 2, 5, 12, 40, 400]),
        tracked=rng.random() < 0.9,
        policy=rng.choice(["deny", "continue"]),
        backorder=rng.random() < 0.1,
        price=rng.choice([0.0, 9.0, 49.99, -1.0]),
        velocity=rng.choice([0.0, 0.1, 1.0, 2.5, rng.randint(1, 99_999) / 10_000, rng.uniform(0, 9)]),
        lead_time_days=rng.choice([0, 7, 14, 3700]),
        lead_time_entered=rng.random() < 0.5,
        po_closed_while_sold_out=rng.random() < 0.3,
        incoming=tuple(po(rng.choice([40, 0, -5]), rng.randint(-5, 40)) for _ in range(rng.choice([0, 0, 1, 2]))),
        waitlist_open=rng.choice([0, 0, 3, 25]),
        published=rng.random() < 0.9,
        campaigns=tuple(
            campaign(i, start, start + rng.randint(0, 9), rng.choice([100.0, -50.0, 12.5]))
            for i, start in enumerate(rng.randint(-5, 20) for _ in range(rng.choice([0, 0, 0, 1, 2])))
        ),
    )


@pytest.mark.parametrize("seed", range(4))
def test_assess_agrees_with_the_public_rule_functions(seed: int) -> None:
    # assess and the public functions share one implementation of each rule: their figures agree.
    rng = random.Random(seed)
    settings = StockSettings(
        low_stock_threshold=rng.choice([0, 5]),
        safety_days=rng.choice([0, 7]),
        show_lead_time_eta=rng.random() < 0.5,
    )
    for _ in range(400):
        f = _random_facts(rng)
        a = assess(f, settings, TODAY)
        qty, velocity, lead = f.sellable_quantity, f.velocity, f.lead_time_days
        oversellable = is_oversellable(f.policy, f.backorder)
        status = stock_status(f.tracked, f.policy, f.backorder, qty, a.days_on_hand, settings)
        assert a.status is status
        assert a.priority == priority_score(f.waitlist_open, velocity, a.days_on_hand, lead, f.price)
        signal_args = (status, qty, a.days_on_hand, velocity, f.incoming, lead, settings, TODAY)
        assert (a.signal, a.signal_reason) == marketing_signal(
            *signal_args, oversellable=oversellable, published=f.published
        )
        if not f.tracked:
            continue
        assert a.days_on_hand == days_on_hand(qty, velocity)
        assert a.stockout_on == stockout_date(qty, velocity, TODAY, f.campaigns, f.incoming)
        incoming_total = sum(i.quantity for i in f.incoming if i.quantity > 0)
        suggested = suggested_reorder_qty(
            velocity, qty, incoming_total, f.waitlist_open, settings.cover_days, lead, settings.safety_days
        )
        assert a.suggested_reorder_qty == suggested
        reorder_by = reorder_by_date(a.stockout_on, lead, settings.safety_days) if suggested else None
        assert a.reorder_by == reorder_by
        badge = scarcity_badge(status, qty, a.days_on_hand, velocity, settings, oversellable=oversellable)
        assert a.badge == (badge if f.published else NONE)
        due = reorder_due(suggested, qty, reorder_by, TODAY)
        lead_eta = lead_time_eta(f.lead_time_entered, settings.show_lead_time_eta, f.po_closed_while_sold_out)
        assert (a.restock_eta, a.eta_source) == restock_eta(status, f.incoming, lead, due, TODAY, lead_eta)
        assert a.campaign_stockout == campaign_risk(qty, velocity, f.incoming, f.campaigns, TODAY)


# --- backorder ship dates count the units already owed ----------------------------------------------------------


def test_assess_backorder_owing_30_does_not_promise_the_20_arriving_first() -> None:
    # The case: 30 owed, 20 arriving on 20 March, 40 more on 5 April: a new order ships with the second.
    f = facts(policy="continue", sellable_quantity=-30, velocity=1.0, incoming=(po(20, 19), po(40, 35)))
    result = assess(f, S, TODAY)
    assert result.status is Status.BACKORDER
    assert (result.restock_eta, result.eta_source) == (date(2025, 4, 5), "incoming_stock")
    assert _eta_reasons(result.reasons) == [
        "Ships 2025-04-05: incoming stock then totals 60 units, covering the 30 owed + 1"
    ]


@pytest.mark.parametrize(
    ("owed", "incoming", "expected"),
    [
        (30, (po(20, 19),), (None, None)),  # 20 < 31: nothing covers the next order
        (30, (po(30, 19),), (None, None)),  # exactly the owed units: the new order is the 31st
        (30, (po(31, 19),), (day(19), "incoming_stock")),
        (30, (po(40, 35), po(20, 19)), (day(35), "incoming_stock")),  # counted in date order, not listed order
        (30, (po(10, 5), po(10, 6), po(11, 7)), (day(7), "incoming_stock")),
        (5, (po(10, -2),), (None, "incoming_stock_overdue")),  # the covering order is late: no date
        (5, (po(3, -2), po(10, 4)), (day(4), "incoming_stock")),  # overdue units count toward the owed ones
        (5, (po(0, 3), po(-4, 4), po(6, 9)), (day(9), "incoming_stock")),  # empty lines are ignored
        (5, (), (day(14), "lead_time")),  # nothing on order: a fresh order (which includes the owed) dates it
    ],
)
def test_restock_eta_backorder_counts_owed_units(
    owed: int, incoming: tuple[IncomingStock, ...], expected: tuple[date | None, str | None]
) -> None:
    assert restock_eta(Status.BACKORDER, incoming, 14, True, TODAY, LeadTimeEta.SHOWN, owed=owed) == expected


def test_assess_backorder_owing_units_with_short_orders_takes_no_lead_time_date() -> None:
    # Earlier orders take the next arrivals: a shown lead time is no ship date for a new one either.
    f = facts(
        policy="continue",
        sellable_quantity=-3,
        velocity=1.0,
        lead_time_days=10,
        lead_time_entered=True,
        incoming=(po(2, 5),),
    )
    result = assess(f, SHOW, TODAY)
    assert (result.restock_eta, result.eta_source) == (None, None)
    assert _eta_reasons(result.reasons) == ["No ship date: open incoming stock (2 units) does not cover the 3 owed + 1"]


def test_assess_backorder_short_purchase_orders_give_no_date() -> None:
    f = facts(policy="continue", sellable_quantity=-30, velocity=1.0, incoming=(po(20, 19),))
    result = assess(f, S, TODAY)
    assert (result.restock_eta, result.eta_source) == (None, None)
    assert _eta_reasons(result.reasons) == [
        "No ship date: open incoming stock (20 units) does not cover the 30 owed + 1"
    ]


def test_assess_oversold_deny_variant_is_back_only_after_the_owed_units() -> None:
    # Two units oversold: the first arrival pays one of them off and the variant is still sold out.
    f = facts(policy="deny", sellable_quantity=-2, velocity=1.0, incoming=(po(1, 4), po(9, 8)))
    result = assess(f, S, TODAY)
    assert result.status is Status.OUT_OF_STOCK
    assert (result.restock_eta, result.eta_source) == (day(8), "incoming_stock")
    assert _eta_reasons(result.reasons) == [
        "Back in stock 2025-03-09: incoming stock then totals 10 units, covering the 2 owed + 1"
    ]


# --- the product on a listing ------------------------------------------------------------------------------------


def lv(status: Status, qty: int, velocity: float = 0.0, oversellable: bool = False) -> ListingVariant:
    return ListingVariant(status, qty, velocity, oversellable)


IN, LOW, OUT, BACK, UNT = Status.IN_STOCK, Status.LOW_STOCK, Status.OUT_OF_STOCK, Status.BACKORDER, Status.UNTRACKED


@pytest.mark.parametrize(
    ("variants", "expected"),
    [
        # The product: one variant's "Only 5 left" must not stand for 409 units.
        ((lv(LOW, 5), lv(IN, 404)), (IN, NONE)),
        ((lv(LOW, 2), lv(LOW, 1)), (LOW, Badge(BadgeKind.ONLY_N_LEFT, 3))),
        ((lv(LOW, 3), lv(OUT, 0)), (LOW, Badge(BadgeKind.ONLY_N_LEFT, 3))),
        ((lv(LOW, 3), lv(OUT, -2)), (LOW, Badge(BadgeKind.ONLY_N_LEFT, 3))),  # owed units are no stock
        ((lv(LOW, 4), lv(LOW, 1)), (LOW, Badge(BadgeKind.ONLY_N_LEFT, 5))),  # exactly the threshold
        ((lv(LOW, 4), lv(LOW, 2)), (IN, NONE)),
        # More can be ordered than is left: no "only N left" for the product.
        ((lv(LOW, 2), lv(BACK, 0, oversellable=True)), (LOW, NONE)),
        ((lv(LOW, 2, oversellable=True),), (LOW, NONE)),
        ((lv(LOW, 2), lv(UNT, 0)), (UNT, NONE)),
        # Sold out only when every variant is.
        ((lv(OUT, 0), lv(OUT, -1)), (OUT, NONE)),
        ((lv(OUT, 0), lv(BACK, -3, oversellable=True)), (BACK, NONE)),
        ((), (OUT, NONE)),
        # Selling fast on the product's totals: 30 units at 5/day last 6 days.
        ((lv(IN, 20, 3.0), lv(IN, 10, 2.0)), (IN, Badge(BadgeKind.SELLING_FAST))),
        ((lv(IN, 20, 3.0), lv(IN, 30, 2.0)), (IN, NONE)),  # 50 units at 5/day: 10 days
        ((lv(IN, 20, 0.5), lv(IN, 2, 0.4)), (IN, NONE)),  # 0.9/day is under the 1/day minimum
        ((lv(IN, 30, 3.0), lv(OUT, 0, 9.0)), (IN, NONE)),  # a sold-out variant's sales move nothing
    ],
)
def test_product_listing(variants: tuple[ListingVariant, ...], expected: tuple[Status, Badge]) -> None:
    assert product_listing(variants, S) == expected


def test_product_listing_threshold_is_the_settings() -> None:
    three = StockSettings(low_stock_threshold=3)
    assert product_listing((lv(LOW, 2), lv(LOW, 1)), three) == (LOW, Badge(BadgeKind.ONLY_N_LEFT, 3))
    assert product_listing((lv(LOW, 2), lv(LOW, 2)), three) == (IN, NONE)


@pytest.mark.parametrize(
    ("status", "eta", "incoming", "expected"),
    [
        (Status.OUT_OF_STOCK, None, 12, True),
        (Status.BACKORDER, None, 1, True),
        (Status.OUT_OF_STOCK, None, 0, False),
        (Status.OUT_OF_STOCK, day(9), 12, False),  # a dated promise says more
        (Status.IN_STOCK, None, 12, False),
        (Status.LOW_STOCK, None, 12, False),
        (Status.UNTRACKED, None, 12, False),
    ],
)
def test_on_its_way(status: Status, eta: date | None, incoming: int, expected: bool) -> None:
    assert on_its_way(status, eta, incoming) is expected
