"""Stock assessment: days on hand, stockout and reorder dates, status, badge, ad signal, ETA, priority.

Conventions used throughout:

* ``qty`` is the sellable quantity and may be negative (units sold but not in stock: owed).
* A *stockout day* is the first day whose demand cannot be met in full. With 10 units selling
  2/day that is today + 5 (days 0-4 use all 10); with 12 units at 2.5/day it is today + 4.
  Without campaigns or incoming stock this is exactly ``today + floor(qty / velocity)``.
* Incoming stock is on the shelf at the start of its ``expected_on`` day. Incoming with a
  quantity ≤ 0 is ignored; incoming whose date has passed (overdue) is never assumed to arrive on
  any particular day.
* Campaign uplift applies on every day from ``starts_on`` to ``ends_on`` inclusive; overlapping
  campaigns add their uplifts.
* Forecasts look at most ``SIMULATION_HORIZON_DAYS`` ahead: a stockout further out is ``None``.
* Rounding: days on hand to 1 dp, priority to 2 dp (velocity arrives already rounded to 4 dp).

Quantities are exact: a velocity is read as the decimal it was written as, num/den units a day
(den = 10,000 for the usual 4-dp figure), and stock is counted in integer 1/den-ths of a unit, so
floors, ceilings and comparisons never meet binary rounding.
"""

# The reasons are read by merchants, so they use the real multiplication and minus signs.

from __future__ import annotations

import functools
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from enum import StrEnum
from fractions import Fraction
from itertools import pairwise

from app.domain.settings import StockSettings
from app.domain.velocity import exact

SIMULATION_HORIZON_DAYS = 3650

_INF = math.inf
_VELOCITY_DEN = 10_000
# Below this a float that survives the round trip through n/10,000 is exactly that decimal (its binary
# neighbours are far closer together than 1/10,000), so the common 4-dp velocity needs no Fraction.
_FAST_VELOCITY = 1e9


class InventoryPolicy(StrEnum):
    """What the store does when a tracked variant has no stock: refuse orders or keep selling."""

    DENY = "deny"
    CONTINUE = "continue"


class Status(StrEnum):
    """Stock status shown to the merchant and written to the storefront."""

    IN_STOCK = "in_stock"
    LOW_STOCK = "low_stock"
    OUT_OF_STOCK = "out_of_stock"
    BACKORDER = "backorder"
    UNTRACKED = "untracked"


class Signal(StrEnum):
    """Advice for the ad-throttle feed."""

    OK = "ok"
    THROTTLE = "throttle"
    PAUSE = "pause"


class SignalReason(StrEnum):
    """Machine code explaining a signal; the strings are stable and safe to store."""

    UNPUBLISHED = "unpublished"
    UNTRACKED = "untracked"
    OUT_OF_STOCK = "out_of_stock"
    BACKORDER = "backorder"
    BELOW_FLOOR = "below_floor"
    DAYS_ON_HAND_BELOW_LEAD_TIME = "days_on_hand_below_lead_time"
    COVERED_BY_INCOMING = "covered_by_incoming"
    NO_RECENT_SALES = "no_recent_sales"
    HEALTHY = "healthy"


class BadgeKind(StrEnum):
    """Which scarcity badge the storefront may show."""

    NONE = "none"
    ONLY_N_LEFT = "only_n_left"
    SELLING_FAST = "selling_fast"


class LeadTimeEta(StrEnum):
    """Whether a variant's lead time may date its restock when no purchase order does."""

    DEFAULT = "default"  # only the store default: never a date
    HIDDEN = "hidden"  # entered, but the merchant did not choose to show it
    SHOWN = "shown"  # entered and shown: today + lead time when a reorder is due
    AFTER_CLOSED_PO = "after_closed_po"  # entered and shown, but a purchase order closed without restocking: no date


class EtaSource(StrEnum):
    """Where a restock ETA came from (or why there is none although stock is on order)."""

    INCOMING_STOCK = "incoming_stock"
    INCOMING_STOCK_OVERDUE = "incoming_stock_overdue"
    LEAD_TIME = "lead_time"


@dataclass(frozen=True, slots=True)
class IncomingStock:
    """An open purchase order or transfer: ``quantity`` units expected on ``expected_on``."""

    quantity: int
    expected_on: date


@dataclass(frozen=True, slots=True)
class CampaignWindow:
    """A marketing campaign raising demand by ``uplift_pct`` percent from starts_on to ends_on inclusive."""

    campaign_id: int
    starts_on: date
    ends_on: date
    uplift_pct: float

    def __post_init__(self) -> None:
        if self.ends_on < self.starts_on:
            raise ValueError("a campaign cannot end before it starts")
        if not math.isfinite(self.uplift_pct) or self.uplift_pct < -100:
            raise ValueError("uplift_pct must be a finite number, -100 or more")


@dataclass(frozen=True, slots=True)
class CampaignRisk:
    """A campaign during or because of which the variant sells out, and the stockout day."""

    campaign_id: int
    stockout_on: date
    before_incoming: bool


@dataclass(frozen=True, slots=True)
class Badge:
    """A scarcity badge; ``quantity`` is the real sellable quantity for only_n_left, else None."""

    kind: BadgeKind
    quantity: int | None = None


NO_BADGE = Badge(BadgeKind.NONE, None)


_POLICIES = frozenset(policy.value for policy in InventoryPolicy)


@dataclass(frozen=True, slots=True)
class VariantFacts:
    """Everything the engine needs to know about one variant, gathered by the service."""

    variant_id: int
    sellable_quantity: int
    tracked: bool
    policy: str  # InventoryPolicy value: "deny" | "continue"
    backorder: bool  # WooCommerce stock_status "onbackorder"
    price: float
    velocity: float  # units/day, from blended_velocity
    lead_time_days: int  # the resolved lead time; settings.lead_time_days is only its default
    incoming: tuple[IncomingStock, ...] = ()
    waitlist_open: int = 0
    published: bool = True
    campaigns: tuple[CampaignWindow, ...] = ()
    # True when lead_time_days was entered for this variant (its supplier's, or a product or variant override),
    # False when it is only the store default: a default is no promise to a shopper.
    lead_time_entered: bool = False
    # True when a purchase order was received or closed while the variant was sold out and it is still sold out:
    # that order's promise failed, and a lead-time guess must not quietly take its place.
    po_closed_while_sold_out: bool = False

    def __post_init__(self) -> None:
        if self.policy not in _POLICIES:
            raise ValueError(f"unknown inventory policy {self.policy!r}: expected 'deny' or 'continue'")
        # Chained comparisons reject NaN and infinity along with the out-of-range values.
        if not 0 <= self.velocity < _INF:
            raise ValueError("velocity must be a finite number, 0 or more")
        if not -_INF < self.price < _INF:
            raise ValueError("price must be a finite number")
        if self.lead_time_days < 0:
            raise ValueError("lead_time_days must be 0 or more")


@dataclass(frozen=True, slots=True)
class StockAssessment:
    """The engine's verdict on one variant, with a human-readable reason for each figure."""

    status: Status
    days_on_hand: float | None
    stockout_on: date | None
    reorder_by: date | None
    suggested_reorder_qty: int
    badge: Badge
    signal: Signal
    signal_reason: str
    restock_eta: date | None
    eta_source: str | None
    priority: float
    campaign_stockout: CampaignRisk | None
    reasons: tuple[str, ...]


# Filling a frozen instance through its slot descriptors skips a generic object.__setattr__ per field,
# which is most of the cost of building the assessment 100,000 times per recompute.
_new = object.__new__
_SLOT_SETTERS = tuple(StockAssessment.__dict__[name].__set__ for name in StockAssessment.__slots__)
(
    _set_status,
    _set_days_on_hand,
    _set_stockout_on,
    _set_reorder_by,
    _set_suggested,
    _set_badge,
    _set_signal,
    _set_signal_reason,
    _set_restock_eta,
    _set_eta_source,
    _set_priority,
    _set_campaign_stockout,
    _set_reasons,
) = _SLOT_SETTERS
_set_badge_kind = Badge.__dict__["kind"].__set__
_set_badge_quantity = Badge.__dict__["quantity"].__set__

# Enum members bound once: reading them off the class costs a lookup per use.
_CONTINUE = InventoryPolicy.CONTINUE
_IN_STOCK = Status.IN_STOCK
_LOW_STOCK = Status.LOW_STOCK
_OUT_OF_STOCK = Status.OUT_OF_STOCK
_BACKORDER = Status.BACKORDER
_UNTRACKED = Status.UNTRACKED
_OK = Signal.OK
_THROTTLE = Signal.THROTTLE
_PAUSE = Signal.PAUSE
_ONLY_N_LEFT = BadgeKind.ONLY_N_LEFT
_SELLING_FAST = Badge(BadgeKind.SELLING_FAST, None)
_ETA_INCOMING = EtaSource.INCOMING_STOCK
_ETA_OVERDUE = EtaSource.INCOMING_STOCK_OVERDUE
_ETA_LEAD_TIME = EtaSource.LEAD_TIME
_R_UNPUBLISHED = SignalReason.UNPUBLISHED
_R_UNTRACKED = SignalReason.UNTRACKED
_R_OUT_OF_STOCK = SignalReason.OUT_OF_STOCK
_R_BACKORDER = SignalReason.BACKORDER
_R_BELOW_FLOOR = SignalReason.BELOW_FLOOR
_R_BELOW_LEAD_TIME = SignalReason.DAYS_ON_HAND_BELOW_LEAD_TIME
_R_COVERED = SignalReason.COVERED_BY_INCOMING
_R_NO_RECENT_SALES = SignalReason.NO_RECENT_SALES
_R_HEALTHY = SignalReason.HEALTHY

# Day offsets the engine adds to dates, built once instead of a timedelta per date.
_DAYS = tuple(timedelta(days=offset) for offset in range(SIMULATION_HORIZON_DAYS + 1))
_MAX_CACHED_DAYS = SIMULATION_HORIZON_DAYS


def _assessment(
    status: Status,
    doh: float | None,
    stockout_on: date | None,
    reorder_by: date | None,
    suggested: int,
    badge: Badge,
    signal: Signal,
    code: str,
    eta: date | None,
    eta_source: str | None,
    priority: float,
    risk: CampaignRisk | None,
    reasons: tuple[str, ...],
) -> StockAssessment:
    result: StockAssessment = _new(StockAssessment)
    _set_status(result, status)
    _set_days_on_hand(result, doh)
    _set_stockout_on(result, stockout_on)
    _set_reorder_by(result, reorder_by)
    _set_suggested(result, suggested)
    _set_badge(result, badge)
    _set_signal(result, signal)
    _set_signal_reason(result, code)
    _set_restock_eta(result, eta)
    _set_eta_source(result, eta_source)
    _set_priority(result, priority)
    _set_campaign_stockout(result, risk)
    _set_reasons(result, reasons)
    return result


def _only_n_left(qty: int) -> Badge:
    badge: Badge = _new(Badge)
    _set_badge_kind(badge, _ONLY_N_LEFT)
    _set_badge_quantity(badge, qty)
    return badge


def _num(value: float) -> str:
    text = f"{value:.4f}".rstrip("0").rstrip(".")
    return "0" if text == "-0" else text


def _rate(velocity: float) -> tuple[int, int]:
    """The velocity as exact units per day num/den, floored at 0 (non-finite input raises)."""
    if 0 < velocity < _FAST_VELOCITY:
        num = int(velocity * 10_000.0 + 0.5)
        if num / _VELOCITY_DEN == velocity:
            return num, _VELOCITY_DEN
    elif -_INF < velocity <= 0:
        return 0, 1
    rate = max(exact(velocity), Fraction(0))
    return rate.numerator, rate.denominator


def _tenths(qty: int, num: int, den: int) -> float:
    """qty ÷ (num/den) rounded half to even to 1 dp, for qty > 0 and num > 0."""
    tenths, rest = divmod(qty * den * 10, num)
    rest += rest
    if rest > num or (rest == num and tenths & 1):
        tenths += 1
    return tenths / 10


def _round2(value: float) -> float:
    """round(value, 2), without its decimal string conversion unless the value is near a tie."""
    scaled = value * 100.0
    # Below 1e9 the product is within 1e-7 of the exact one, so away from .5 it rounds the same way.
    if 0 < scaled < 1e9:
        whole = scaled // 1.0  # the integer part, as a float: exact below 1e9, and cheaper than int()
        fraction = scaled - whole
        if not -1e-6 < fraction - 0.5 < 1e-6:
            return (whole + (fraction > 0.5)) / 100
    elif scaled == 0:
        return value  # keeps the sign of a zero, as round() does
    return round(value, 2)


@functools.lru_cache(maxsize=8192)
def _iso(day: date) -> str:
    # date.isoformat costs more than the rest of a reason line, and a recompute names the same few
    # thousand days (stockouts, reorder-by dates, ETAs) over and over.
    return day.isoformat()


def _after(day: date, offset: int) -> date:
    return day + (_DAYS[offset] if 0 <= offset <= _MAX_CACHED_DAYS else timedelta(days=offset))


def _before(day: date, offset: int) -> date:
    return day - (_DAYS[offset] if 0 <= offset <= _MAX_CACHED_DAYS else timedelta(days=offset))


# --- the rules ------------------------------------------------------------------------------------
#
# Each rule is written once, as a private function that decides a figure and appends the merchant's
# reason for it to ``reasons``. ``assess`` composes them in the order the reasons are read, handing
# each the exact rate it reads once per variant; the public functions wrap the same rules and give a
# throwaway list. The rules run 100,000 times a recompute, so they take plain positional arguments.


_NOT_TRACKED = "Inventory is not tracked: no stock forecast, badge, reorder or ETA"
_NO_REORDER = "No reorder needed: stock on hand and incoming cover lead, safety and cover days"
_NO_STOCKOUT = f"No stockout within {SIMULATION_HORIZON_DAYS} days"
_OVERDUE = "Incoming stock is overdue: no restock date"
_NO_ETA_DEFAULT_LEAD = (
    "No restock date: no open purchase order, and no supplier, product or variant lead time entered"
    " (the store default lead time never dates a restock)"
)
_NO_ETA_CLOSED_PO = (
    "No restock date: a purchase order was received or closed since the variant sold out without restocking it,"
    " and the lead time is no promise in its place"
)


def is_oversellable(policy: str, backorder: bool) -> bool:
    """True when the store keeps taking orders at zero stock (continue policy or Woo backorders)."""
    return policy == _CONTINUE or backorder


def _days_on_hand(qty: int, num: int, den: int, velocity_text: str, reasons: list[str]) -> float | None:
    if qty <= 0:
        reasons.append(f"{qty} sellable units = 0 days on hand")
        return 0.0
    if not num:
        reasons.append(f"{qty} units and no recent sales: days on hand unknown")
        return None
    doh = _tenths(qty, num, den)
    reasons.append(f"{qty} units ÷ {velocity_text}/day = {_num(doh)} days on hand")
    return doh


def days_on_hand(qty: int, velocity: float) -> float | None:
    """Days the sellable stock lasts at ``velocity``: qty ÷ velocity to 1 dp; 0.0 if none; None if no sales."""
    # Without stock the velocity is never read, so a non-finite one is not an error here.
    num, den = _rate(velocity) if qty > 0 else (0, 1)
    return _days_on_hand(qty, num, den, _num(velocity), [])


def _status(qty: int, oversellable: bool, doh: float | None, settings: StockSettings, reasons: list[str]) -> Status:
    if qty <= 0:
        if oversellable:
            reasons.append(f"On backorder: {qty} sellable units, orders still accepted")
            return _BACKORDER
        reasons.append(f"Out of stock: {qty} sellable units and overselling is off")
        return _OUT_OF_STOCK
    threshold = settings.low_stock_threshold
    if qty <= threshold:
        reasons.append(f"Low stock: {qty} units ≤ threshold {threshold}")
        return _LOW_STOCK
    warning = settings.days_on_hand_warning
    if doh is not None and doh <= warning:
        reasons.append(f"Low stock: {_num(doh)} days on hand ≤ {_num(warning)} day warning")
        return _LOW_STOCK
    reasons.append(f"In stock: {qty} units")
    return _IN_STOCK


def stock_status(
    tracked: bool,
    policy: str,
    backorder: bool,
    qty: int,
    days_on_hand: float | None,
    settings: StockSettings,
) -> Status:
    """Classify a variant: untracked, then out of stock / backorder at qty ≤ 0, then low or in stock.

    out_of_stock only for a tracked variant that cannot be oversold; backorder when it can (continue
    policy or WooCommerce onbackorder) and nothing is left. With stock on hand an oversellable
    variant is judged like any other.
    """
    if not tracked:
        return Status.UNTRACKED
    return _status(qty, is_oversellable(policy, backorder), days_on_hand, settings, [])


def _arrivals(today: date, incoming: Iterable[IncomingStock], horizon: int, unit: int) -> list[tuple[int, int]]:
    """Open incoming as (day offset, quantity in 1/unit-ths) within [0, horizon), in day order."""
    arrivals = []
    for item in incoming:
        quantity = item.quantity
        if quantity > 0:
            offset = (item.expected_on - today).days
            if 0 <= offset < horizon:
                arrivals.append((offset, quantity * unit))
    if len(arrivals) > 1:
        arrivals.sort()
    return arrivals


def _first_short_day(
    qty: int,
    num: int,
    den: int,
    today: date,
    campaigns: Sequence[CampaignWindow],
    incoming: Iterable[IncomingStock],
    start_offset: int = 0,
    horizon: int = SIMULATION_HORIZON_DAYS,
) -> int | None:
    """Offset from today of the first day at or after ``start_offset`` whose demand is not met in full.

    The rate is num/den units a day. Piecewise-exact rather than day by day: between two events (an
    arrival, a campaign edge) the daily demand is constant, so the shortfall day inside a segment is
    a single floor division. Demand that cannot be served is lost (stock floors at 0) except that
    an initial negative quantity stays owed until incoming stock pays it off.
    """
    if num <= 0 or start_offset >= horizon:
        return None
    if campaigns or start_offset:
        return _uplifted_short_day(qty, num, den, today, campaigns, incoming, start_offset, horizon)
    # Steady demand, num a day in units of 1/den: a segment ends only at an arrival, and stock that lasts
    # through a segment covers all of its demand, so no flooring at 0 is ever needed.
    stock = qty * den
    begin = 0
    if incoming:
        for offset, amount in _arrivals(today, incoming, horizon, den):
            if offset > begin:
                short = begin if stock < 0 else begin + stock // num
                if short < offset:
                    return short
                stock -= num * (offset - begin)
                begin = offset
            stock += amount
    short = begin if stock < 0 else begin + stock // num
    return short if short < horizon else None


def _uplifted_short_day(
    qty: int,
    num: int,
    den: int,
    today: date,
    campaigns: Iterable[CampaignWindow],
    incoming: Iterable[IncomingStock],
    start_offset: int,
    horizon: int,
) -> int | None:
    # _first_short_day with campaigns or from a later day. Apart from the steady case above, so that the
    # closures here do not turn that one's variables into cells on every call.
    spans = []
    common = 1  # least common denominator of the uplifts, so that every daily demand is an integer
    for c in campaigns:
        if c.ends_on >= today:
            pct = exact(c.uplift_pct)
            common = math.lcm(common, pct.denominator)
            spans.append(((c.starts_on - today).days, (c.ends_on - today).days + 1, pct))
    # Stock counts units of 1/(den * 100 * common): demand is then num * (100 * common + Σ uplift * common).
    base = 100 * common
    unit = den * base
    uplifts = [(start, stop, int(pct * common)) for start, stop, pct in spans]
    arrivals: dict[int, int] = {}
    for offset, amount in _arrivals(today, incoming, horizon, unit):
        arrivals[offset] = arrivals.get(offset, 0) + amount
    edges = {0, horizon, start_offset, *arrivals}
    edges.update(edge for start, stop, _ in uplifts for edge in (start, stop) if 0 < edge < horizon)
    stock = qty * unit
    for begin, end in pairwise(sorted(edges)):
        stock += arrivals.get(begin, 0)
        factor = base + sum(uplift for start, stop, uplift in uplifts if start <= begin < stop)
        if factor <= 0:
            continue
        daily = num * factor
        if begin >= start_offset:
            short = begin if stock < 0 else begin + stock // daily
            if short < end:
                return short
        demand = daily * (end - begin)
        if stock >= demand:
            stock -= demand
        elif stock > 0:
            stock = 0
    return None


def _stockout(
    qty: int,
    num: int,
    den: int,
    today: date,
    campaigns: Sequence[CampaignWindow],
    incoming: Sequence[IncomingStock],
    reasons: list[str],
) -> tuple[int | None, date | None]:
    """The stockout as (day offset, date): the first short day, or (None, None) beyond the horizon."""
    # With no sales a variant with stock never runs out, and one without is out today.
    short = _first_short_day(qty, num, den, today, campaigns, incoming) if num else (0 if qty <= 0 else None)
    if short is None:
        if num:
            reasons.append(_NO_STOCKOUT)
        return None, None
    stockout_on = today + _DAYS[short]
    if incoming and campaigns:
        reasons.append(f"Stockout on {_iso(stockout_on)} (counting incoming stock and campaign uplift)")
    elif incoming:
        reasons.append(f"Stockout on {_iso(stockout_on)} (counting incoming stock)")
    elif campaigns:
        reasons.append(f"Stockout on {_iso(stockout_on)} (counting campaign uplift)")
    else:
        reasons.append(f"Stockout on {_iso(stockout_on)}")
    return short, stockout_on


def stockout_date(
    qty: int,
    velocity: float,
    today: date,
    campaigns: Sequence[CampaignWindow] = (),
    incoming: Sequence[IncomingStock] = (),
) -> date | None:
    """First day demand cannot be met in full, or None if it does not come within the horizon.

    Without campaigns or incoming stock this is today + floor(qty ÷ velocity). Campaign days
    consume velocity * (1 + uplift/100); incoming stock is added on its expected day. With no
    sales a variant with stock never runs out (None) and one without stock is out today.
    """
    num, den = _rate(velocity)
    return _stockout(qty, num, den, today, campaigns, incoming, [])[1]


def short_day_from(
    qty: int,
    velocity: float,
    today: date,
    first: int,
    campaigns: Sequence[CampaignWindow] = (),
    incoming: Sequence[IncomingStock] = (),
) -> date | None:
    """The first day from today + ``first`` on whose demand is not met in full, as the stockout simulates it.

    With no sales a variant with stock never runs out (None) and one without is short on that first day.
    """
    num, den = _rate(velocity)
    if not num:
        return _after(today, first) if qty <= 0 else None
    short = _first_short_day(qty, num, den, today, campaigns, incoming, start_offset=first)
    return None if short is None else _after(today, short)


def _reorder_by(stockout_on: date | None, lead_time_days: int, safety_days: int, reasons: list[str]) -> date | None:
    if stockout_on is None:
        return None
    reorder_by = _before(stockout_on, lead_time_days + safety_days)
    reasons.append(
        f"Reorder by {_iso(reorder_by)} = stockout {_iso(stockout_on)} − {lead_time_days} lead days"
        f" − {safety_days} safety days"
    )
    return reorder_by


def reorder_by_date(stockout_on: date | None, lead_time_days: int, safety_days: int) -> date | None:
    """Last day to place a reorder so it lands ``safety_days`` before the stockout: stockout - lead - safety."""
    return _reorder_by(stockout_on, lead_time_days, safety_days, [])


def _reorder_qty(
    num: int,
    den: int,
    qty: int,
    incoming_total: int,
    waitlist_open: int,
    cover_days: int,
    lead_time_days: int,
    safety_days: int,
    velocity_text: str,
    reasons: list[str],
) -> int:
    # The reason shows the days as configured; a negative number of days (possible only by direct
    # construction of the settings) orders nothing for that stretch.
    demand = -(-num * (lead_time_days + safety_days + cover_days) // den)
    ordered = demand
    if lead_time_days < 0 or safety_days < 0 or cover_days < 0:
        days = max(lead_time_days, 0) + max(safety_days, 0) + max(cover_days, 0)
        ordered = -(-num * days // den)
    # Each ``0 if x < 0 else x`` is max(x, 0) without the cost of a builtin call (see _priority).
    waiting = 0 if waitlist_open < 0 else waitlist_open
    suggested = ordered + waiting - qty - (0 if incoming_total < 0 else incoming_total)
    if suggested <= 0:
        reasons.append(_NO_REORDER)
        return 0
    terms = (
        f"ceil({velocity_text}/day × ({lead_time_days} lead + {safety_days} safety + {cover_days} cover days))"
        f" = {demand}"
    )
    if waitlist_open > 0:
        terms += f" + {waitlist_open} waiting"
    if qty > 0:
        terms += f" − {qty} on hand"
    elif qty < 0:
        terms += f" + {-qty} oversold"
    if incoming_total > 0:
        terms += f" − {incoming_total} incoming"
    reasons.append(f"Suggested reorder {suggested} units: {terms}")
    return suggested


def suggested_reorder_qty(
    velocity: float,
    qty: int,
    incoming_total: int,
    waitlist_open: int,
    cover_days: int,
    lead_time_days: int,
    safety_days: int,
) -> int:
    """Units to order now so stock lasts through lead time, safety and cover days.

    ceil(velocity * (lead_time_days + safety_days + cover_days)) + waitlist_open - qty - incoming_total,
    floored at 0. ``qty`` is used as is: a negative quantity is units already sold and owed, so it
    adds to the order. The waitlist is demand the velocity never saw (nobody could buy while sold
    out), so each open subscription counts as one unit.
    """
    num, den = _rate(velocity)
    return _reorder_qty(
        num, den, qty, incoming_total, waitlist_open, cover_days, lead_time_days, safety_days, _num(velocity), []
    )


def reorder_due(suggested_qty: int, qty: int, reorder_by: date | None, today: date) -> bool:
    """A reorder is due when something should be ordered and the variant is out or its reorder-by day has come."""
    if suggested_qty <= 0:
        return False
    return qty <= 0 or (reorder_by is not None and reorder_by <= today)


_BADGE_STATUSES = (Status.IN_STOCK, Status.LOW_STOCK)


def _badge(
    status: Status,
    published: bool,
    qty: int,
    doh: float | None,
    velocity: float,
    oversellable: bool,
    settings: StockSettings,
    velocity_text: str,
    reasons: list[str],
) -> Badge:
    if not published or status not in _BADGE_STATUSES:
        return NO_BADGE
    threshold = settings.low_stock_threshold
    if not oversellable and 0 < qty <= threshold:
        reasons.append(f"Badge 'only {qty} left': {qty} units ≤ threshold {threshold}")
        return _only_n_left(qty)
    fast_days = settings.selling_fast_days
    min_velocity = settings.selling_fast_min_velocity
    if doh is not None and doh <= fast_days and velocity > 0 and velocity >= min_velocity:
        reasons.append(
            f"Badge 'selling fast': {_num(doh)} days on hand ≤ {_num(fast_days)}"
            f" and {velocity_text}/day ≥ {_num(min_velocity)}/day"
        )
        return _SELLING_FAST
    return NO_BADGE


def scarcity_badge(
    status: Status,
    qty: int,
    days_on_hand: float | None,
    velocity: float,
    settings: StockSettings,
    *,
    oversellable: bool = False,
) -> Badge:
    """The badge the storefront may show; every badge is true at the moment it is computed.

    only_n_left (quantity = the real sellable qty) when 0 < qty ≤ low_stock_threshold; not for an
    oversellable variant, where more can be ordered than is left. selling_fast when days on hand ≤
    selling_fast_days and velocity ≥ selling_fast_min_velocity. only_n_left wins; nothing for
    untracked, backorder or out-of-stock variants.
    """
    return _badge(status, True, qty, days_on_hand, velocity, oversellable, settings, _num(velocity), [])


# ``_signal`` is given the first short day without campaigns when the caller already simulated it,
# over the full stockout horizon; this marks that it was not.
_NOT_SIMULATED = -1


def _signal(
    status: Status,
    qty: int,
    doh: float | None,
    velocity: float,
    incoming: Sequence[IncomingStock],
    lead_time_days: int,
    settings: StockSettings,
    today: date,
    oversellable: bool,
    published: bool,
    steady_short: int | None,
    reasons: list[str],
) -> tuple[Signal, SignalReason]:
    if not published:
        reasons.append("Ads pause: the product is not published")
        return _PAUSE, _R_UNPUBLISHED
    if status is _UNTRACKED:
        reasons.append("Ads ok: inventory is not tracked")
        return _OK, _R_UNTRACKED
    if status is _OUT_OF_STOCK:
        reasons.append("Ads pause: out of stock")
        return _PAUSE, _R_OUT_OF_STOCK
    if status is _BACKORDER:
        reasons.append("Ads throttle: orders are backordered and ship late")
        return _THROTTLE, _R_BACKORDER
    if doh is None:
        reasons.append("Ads ok: no recent sales")
        return _OK, _R_NO_RECENT_SALES
    floor = settings.pause_days_floor
    if doh <= floor:
        signal = _THROTTLE if oversellable else _PAUSE
        reasons.append(f"Ads {signal.value}: days on hand at or below the {_num(floor)} day floor")
        return signal, _R_BELOW_FLOOR
    horizon = lead_time_days + settings.safety_days
    if doh < horizon:
        # Coverage counts incoming stock but not campaigns. A short day simulated without them up to the
        # longer stockout horizon answers it as well: days past this horizon do not change earlier ones.
        if steady_short == _NOT_SIMULATED or horizon > SIMULATION_HORIZON_DAYS:
            num, den = _rate(velocity)
            gap = _first_short_day(qty, num, den, today, (), incoming, horizon=horizon)
        else:
            gap = steady_short if steady_short is not None and steady_short < horizon else None
        if gap is None:
            reasons.append(f"Ads ok: incoming stock arrives in time to cover the next {horizon} days")
            return _OK, _R_COVERED
        reasons.append(f"Ads throttle: stock runs out before a reorder could land ({horizon} days)")
        return _THROTTLE, _R_BELOW_LEAD_TIME
    reasons.append(f"Ads ok: enough stock for the next {horizon} days")
    return _OK, _R_HEALTHY


def marketing_signal(
    status: Status,
    qty: int,
    days_on_hand: float | None,
    velocity: float,
    incoming: Sequence[IncomingStock],
    lead_time_days: int,
    settings: StockSettings,
    today: date,
    *,
    oversellable: bool = False,
    published: bool = True,
) -> tuple[Signal, str]:
    """Ad advice and its reason code, checked in this order.

    1. unpublished → pause (nobody can buy it); untracked → ok.
    2. out_of_stock → pause. backorder → throttle: orders still convert but ship late, so do not
       pay to amplify them.
    3. days on hand ≤ pause_days_floor → pause ("below_floor"); throttle instead for an
       oversellable variant, which keeps selling past zero.
    4. days on hand < lead_time_days + safety_days → throttle, unless open incoming stock, added on
       its expected day, meets every day's demand until that horizon ("covered_by_incoming"). A
       purchase order landing after the shelf is empty does not cover the gap however large it is.
    5. otherwise ok ("healthy", or "no_recent_sales" when there is no velocity).
    """
    return _signal(
        status,
        qty,
        days_on_hand,
        velocity,
        incoming,
        lead_time_days,
        settings,
        today,
        oversellable,
        published,
        _NOT_SIMULATED,
        [],
    )


_ETA_STATUSES = (Status.OUT_OF_STOCK, Status.BACKORDER)


def _owed_restock(
    status: Status, incoming: Sequence[IncomingStock], owed: int, today: date, reasons: list[str]
) -> tuple[date | None, str | None]:
    # Orders already taken are filled first, so the next shopper's unit is the one after those owed.
    ships = status is _BACKORDER
    needed = owed + 1
    by_day: dict[date, int] = {}
    for item in incoming:
        if item.quantity > 0:
            by_day[item.expected_on] = by_day.get(item.expected_on, 0) + item.quantity
    covered = 0
    for expected, quantity in sorted(by_day.items()):
        covered += quantity
        if covered >= needed:
            if expected < today:
                reasons.append(_OVERDUE)
                return None, _ETA_OVERDUE
            reasons.append(
                f"{'Ships' if ships else 'Back in stock'} {_iso(expected)}: incoming stock then totals"
                f" {covered} units, covering the {owed} owed + 1"
            )
            return expected, _ETA_INCOMING
    what = "No ship date" if ships else "No restock date"
    reasons.append(f"{what}: open incoming stock ({covered} units) does not cover the {owed} owed + 1")
    return None, None


def _restock_eta(
    status: Status,
    incoming: Sequence[IncomingStock],
    lead_time_days: int,
    reorder_due: bool,
    today: date,
    lead_time: LeadTimeEta,
    reasons: list[str],
    owed: int = 0,
) -> tuple[date | None, str | None]:
    if status not in _ETA_STATUSES:
        return None, None
    if owed > 0 and any(item.quantity > 0 for item in incoming):
        return _owed_restock(status, incoming, owed, today, reasons)
    eta = None
    open_items = False
    for item in incoming:
        if item.quantity > 0:
            open_items = True
            expected = item.expected_on
            if expected >= today and (eta is None or expected < eta):
                eta = expected
    if eta is not None:
        reasons.append(f"Back in stock {_iso(eta)}: incoming stock expected")
        return eta, _ETA_INCOMING
    if open_items:
        reasons.append(_OVERDUE)
        return None, _ETA_OVERDUE
    if not reorder_due:
        return None, None
    # A shopper reads the date as a promise: only a lead time someone entered, and chose to show, makes one.
    if lead_time is LeadTimeEta.DEFAULT:
        reasons.append(_NO_ETA_DEFAULT_LEAD)
        return None, None
    if lead_time is LeadTimeEta.HIDDEN:
        reasons.append(f"No restock date: no open purchase order, and the {lead_time_days}-day lead time is not shown")
        return None, None
    if lead_time is LeadTimeEta.AFTER_CLOSED_PO:
        reasons.append(_NO_ETA_CLOSED_PO)
        return None, None
    eta = _after(today, lead_time_days)
    reasons.append(f"Back in stock about {_iso(eta)} = today + {lead_time_days} days lead time, if ordered today")
    return eta, _ETA_LEAD_TIME


def on_its_way(status: Status, restock_eta: date | None, platform_incoming: int) -> bool:
    """Whether a sold-out variant may say "on its way": the platform reports incoming stock, and no date is known.

    The platform's incoming quantity (Shopify's "incoming" inventory state) carries no date, so it never dates a
    restock; it only lets the page say that stock is coming. Never for a variant that can be bought now, and not
    when a dated promise (the restock date) already says more.
    """
    return status in _ETA_STATUSES and restock_eta is None and platform_incoming > 0


def lead_time_eta(
    lead_time_entered: bool, show_lead_time_eta: bool, po_closed_while_sold_out: bool = False
) -> LeadTimeEta:
    """Whether a lead time may date a restock: only one entered and shown, and not after a failed purchase order."""
    if not lead_time_entered:
        return LeadTimeEta.DEFAULT
    if not show_lead_time_eta:
        return LeadTimeEta.HIDDEN
    return LeadTimeEta.AFTER_CLOSED_PO if po_closed_while_sold_out else LeadTimeEta.SHOWN


def restock_eta(
    status: Status,
    incoming: Sequence[IncomingStock],
    lead_time_days: int,
    reorder_due: bool,
    today: date,
    lead_time: LeadTimeEta = LeadTimeEta.DEFAULT,
    owed: int = 0,
) -> tuple[date | None, str | None]:
    """When an out-of-stock or backordered variant is expected back (or a new backorder ships), and on what evidence.

    A variant that owes units (``owed`` > 0: sold below zero) and has open incoming ships a new backorder, or is
    back for a new shopper, with the unit after the owed ones: the expected date of the first open incoming, in
    date order, whose running total covers owed + 1 ("incoming_stock"); no date when that one is overdue
    ("incoming_stock_overdue") or when none covers it (nor a lead-time guess: earlier orders take those arrivals).
    Without open incoming, owed units change nothing below (a reorder's quantity already includes them).

    The earliest open incoming dated today or later ("incoming_stock"); if the only open incoming is
    overdue, no date ("incoming_stock_overdue": it is late and we do not guess by how much, nor
    pretend a fresh order is needed); else, when a reorder is due and ``lead_time`` is SHOWN (a lead
    time was entered, the merchant chose to show it and no purchase order closed while the variant was
    sold out), today + lead time ("lead_time"); else nothing: the store's default lead time never dates
    a restock. In-stock, low-stock and untracked variants get no ETA.
    """
    return _restock_eta(status, incoming, lead_time_days, reorder_due, today, lead_time, [], owed)


def _priority(
    waitlist_open: int,
    velocity: float,
    doh: float | None,
    lead_time_days: int,
    price: float,
    velocity_text: str | None,
    reasons: list[str],
) -> float:
    # velocity_text is None for an untracked variant, whose reason names only the waitlist and price.
    # ``0 if x < 0 else x`` is exactly max(x, 0) (NaN and -0.0 included: max keeps its first argument
    # unless the second is greater), without the builtin call that costs more than the rest of a line.
    span = (0 if lead_time_days < 0 else lead_time_days) + 1
    urgency = 0.0 if doh is None else span / (span + (0.0 if doh < 0.0 else doh))
    price_factor = 1 + math.log10(1 + (0.0 if price < 0.0 else price))
    waiting = 0 if waitlist_open < 0 else waitlist_open
    score = _round2((waiting + (0.0 if velocity < 0.0 else velocity) * span * urgency) * price_factor)
    if velocity_text is None:
        reasons.append(f"Priority {_num(score)}: waitlist {waitlist_open}, price {_num(price)}")
    else:
        reasons.append(
            f"Priority {_num(score)} = (waitlist {waitlist_open} + {velocity_text}/day × {span} days"
            f" × urgency {urgency:.2f}) × price factor {price_factor:.2f}"
        )
    return score


def priority_score(
    waitlist_open: int, velocity: float, days_on_hand: float | None, lead_time_days: int, price: float
) -> float:
    """Restock priority, rounded to 2 dp; higher means act sooner.

    score   = (waitlist + velocity * (lead + 1) * urgency) * (1 + log10(1 + price))
    urgency = (lead + 1) / (lead + 1 + days_on_hand), 1 when out of stock, 0 when days on hand is
              unknown (no sales)

    The bracket is units of demand at stake: people waiting now plus sales over a lead time,
    discounted the more stock is left. The price factor grows slowly (1 at free, 3 at 99) so that
    expensive items rank higher without drowning out demand. Non-decreasing in waitlist, velocity,
    lead time and price; non-increasing in days on hand. Negative inputs count as 0.
    """
    return _priority(waitlist_open, velocity, days_on_hand, lead_time_days, price, None, [])


def _campaign_risk(
    qty: int,
    velocity: float,
    incoming: Sequence[IncomingStock],
    campaigns: Sequence[CampaignWindow],
    today: date,
    reasons: list[str],
) -> CampaignRisk | None:
    if not campaigns:
        return None
    num, den = _rate(velocity)
    if num == 0:
        return None
    found: list[tuple[int, date, int, CampaignRisk]] = []
    for campaign in sorted(campaigns, key=lambda c: (c.starts_on, c.campaign_id)):
        if campaign.ends_on < today:
            continue
        start = max((campaign.starts_on - today).days, 0)
        short = _first_short_day(qty, num, den, today, campaigns, incoming, start_offset=start)
        if short is None:
            continue
        others = [c for c in campaigns if c is not campaign]
        if short == start and _first_short_day(qty, num, den, today, others, incoming, start_offset=start) == start:
            # Short on its first day without its uplift too: sold out before the campaign, not by it.
            continue
        stockout_on = _after(today, short)
        before_incoming = any(i.quantity > 0 and i.expected_on > stockout_on for i in incoming)
        if stockout_on > campaign.ends_on:
            if not before_incoming:
                continue
            without = _first_short_day(qty, num, den, today, others, incoming, start_offset=start)
            if without is not None and without <= short:
                continue
        risk = CampaignRisk(campaign.campaign_id, stockout_on, before_incoming)
        found.append((short, campaign.starts_on, campaign.campaign_id, risk))
    if not found:
        return None
    risk = min(found, key=lambda row: row[:3])[3]
    later = " before incoming stock arrives" if risk.before_incoming else ""
    reasons.append(f"Campaign {risk.campaign_id} sells it out on {_iso(risk.stockout_on)}{later}")
    return risk


def campaign_risk(
    qty: int,
    velocity: float,
    incoming: Sequence[IncomingStock],
    campaigns: Sequence[CampaignWindow],
    today: date,
) -> CampaignRisk | None:
    """The earliest campaign that sells the variant out, simulated with uplift and incoming stock.

    A campaign (not yet ended) is at risk when, from its first day on, the first day demand is not
    met (a) falls inside the campaign, or (b) falls after it but before open incoming stock arrives,
    and would have come later (or not at all) without this campaign's uplift. ``before_incoming``
    says whether open incoming stock is still due after the stockout day. A stockout before any
    campaign day that is refilled before it starts is not a campaign risk, and neither is a variant already short on
    the campaign's first day without its uplift (sold out before the campaign, not by it).
    """
    return _campaign_risk(qty, velocity, incoming, campaigns, today, [])


# --- the assessment -------------------------------------------------------------------------------


def _assess_untracked(facts: VariantFacts, settings: StockSettings, today: date) -> StockAssessment:
    reasons = [_NOT_TRACKED]
    # Unpublished and untracked are the signal's first checks: the stock arguments are never read.
    signal, code = _signal(_UNTRACKED, 0, None, 0.0, (), 0, settings, today, False, facts.published, None, reasons)
    priority = _priority(facts.waitlist_open, facts.velocity, None, facts.lead_time_days, facts.price, None, reasons)
    return _assessment(
        _UNTRACKED, None, None, None, 0, NO_BADGE, signal, code, None, None, priority, None, tuple(reasons)
    )


def assess(facts: VariantFacts, settings: StockSettings, today: date) -> StockAssessment:
    """Compose every rule into one assessment of a variant, with a reason for each figure."""
    if not facts.tracked:
        return _assess_untracked(facts, settings, today)
    qty = facts.sellable_quantity
    velocity = facts.velocity
    lead = facts.lead_time_days
    safety = settings.safety_days
    incoming = facts.incoming
    campaigns = facts.campaigns
    waitlist = facts.waitlist_open
    published = facts.published
    oversellable = is_oversellable(facts.policy, facts.backorder)
    num, den = _rate(velocity)  # once: every rule below works on the exact rate
    velocity_text = _num(velocity)
    reasons = [f"Velocity {velocity_text}/day"]

    doh = _days_on_hand(qty, num, den, velocity_text, reasons)
    status = _status(qty, oversellable, doh, settings, reasons)
    short, stockout_on = _stockout(qty, num, den, today, campaigns, incoming, reasons)
    incoming_total = sum(item.quantity for item in incoming if item.quantity > 0) if incoming else 0
    suggested = _reorder_qty(
        num, den, qty, incoming_total, waitlist, settings.cover_days, lead, safety, velocity_text, reasons
    )
    # A reorder-by date only when there is something to order.
    reorder_by = _reorder_by(stockout_on, lead, safety, reasons) if suggested else None
    badge = _badge(status, published, qty, doh, velocity, oversellable, settings, velocity_text, reasons)
    # Without campaigns the stockout above is the short day the ad signal's coverage asks about.
    steady_short = _NOT_SIMULATED if campaigns else short
    signal, code = _signal(
        status, qty, doh, velocity, incoming, lead, settings, today, oversellable, published, steady_short, reasons
    )
    due = reorder_due(suggested, qty, reorder_by, today)
    lead_eta = lead_time_eta(facts.lead_time_entered, settings.show_lead_time_eta, facts.po_closed_while_sold_out)
    owed = -qty if qty < 0 else 0
    eta, eta_source = _restock_eta(status, incoming, lead, due, today, lead_eta, reasons, owed)
    priority = _priority(waitlist, velocity, doh, lead, facts.price, velocity_text, reasons)
    if waitlist >= settings.high_demand_waitlist:
        reasons.append(f"High demand: {waitlist} waiting ≥ {settings.high_demand_waitlist}")
    # Most variants are in no campaign: they skip the call (which would answer None).
    risk = _campaign_risk(qty, velocity, incoming, campaigns, today, reasons) if campaigns else None
    return _assessment(
        status,
        doh,
        stockout_on,
        reorder_by,
        suggested,
        badge,
        signal,
        code,
        eta,
        eta_source,
        priority,
        risk,
        tuple(reasons),
    )


# --- the product on a listing -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ListingVariant:
    """One published variant of a product as a listing or collection card sums it: its state and what it sells."""

    status: Status
    sellable_quantity: int
    velocity: float
    oversellable: bool


_PURCHASABLE = frozenset({Status.IN_STOCK, Status.LOW_STOCK, Status.UNTRACKED})


def product_listing(variants: Sequence[ListingVariant], settings: StockSettings) -> tuple[Status, Badge]:
    """The status and badge of a whole product (its published variants), true for the card they sit on.

    Status: sold out only when no variant can be bought (backorder when one can still be ordered, else
    out_of_stock; out_of_stock too when there is no variant); untracked when a purchasable variant is untracked;
    else low_stock when the total sellable of the purchasable variants is ≤ low_stock_threshold, in_stock
    otherwise. Badge: only_n_left with that total, when 0 < total ≤ threshold and no variant can be sold beyond
    its stock (none untracked, none oversellable); else selling_fast when every purchasable variant is tracked,
    the summed velocity is > 0 and ≥ selling_fast_min_velocity, and the total lasts ≤ selling_fast_days at it;
    else none. One variant's "Only 5 left" never speaks for a product with 409 units.
    """
    buyable = [v for v in variants if v.status in _PURCHASABLE]
    if not buyable:
        sold_out = _BACKORDER if any(v.status is _BACKORDER for v in variants) else _OUT_OF_STOCK
        return sold_out, NO_BADGE
    if any(v.status is _UNTRACKED for v in buyable):
        return _UNTRACKED, NO_BADGE
    total = sum(v.sellable_quantity for v in buyable if v.sellable_quantity > 0)
    threshold = settings.low_stock_threshold
    status = _LOW_STOCK if total <= threshold else _IN_STOCK
    if 0 < total <= threshold and not any(v.oversellable for v in variants):
        return status, _only_n_left(total)
    velocity = sum(v.velocity for v in buyable if v.velocity > 0)
    if velocity > 0 and velocity >= settings.selling_fast_min_velocity:
        num, den = _rate(velocity)
        doh = _tenths(total, num, den) if total > 0 and num else 0.0
        if doh <= settings.selling_fast_days:
            return status, _SELLING_FAST
    return status, NO_BADGE
