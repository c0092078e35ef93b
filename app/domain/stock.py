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
"""

# The reasons are read by merchants, so they use the real multiplication and minus signs.

from __future__ import annotations

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

    def __post_init__(self) -> None:
        if self.policy not in {policy.value for policy in InventoryPolicy}:
            raise ValueError(f"unknown inventory policy {self.policy!r}: expected 'deny' or 'continue'")
        if not math.isfinite(self.velocity) or self.velocity < 0:
            raise ValueError("velocity must be a finite number, 0 or more")
        if not math.isfinite(self.price):
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


def _num(value: float | Fraction) -> str:
    text = f"{float(value):.4f}".rstrip("0").rstrip(".")
    return "0" if text == "-0" else text


def _rate(velocity: float) -> Fraction:
    return max(exact(velocity), Fraction(0))


def is_oversellable(policy: str, backorder: bool) -> bool:
    """True when the store keeps taking orders at zero stock (continue policy or Woo backorders)."""
    return policy == InventoryPolicy.CONTINUE or backorder


def days_on_hand(qty: int, velocity: float) -> float | None:
    """Days the sellable stock lasts at ``velocity``: qty ÷ velocity to 1 dp; 0.0 if none; None if no sales."""
    if qty <= 0:
        return 0.0
    rate = _rate(velocity)
    if rate == 0:
        return None
    return float(round(Fraction(qty) / rate, 1))


def _first_short_day(
    qty: int,
    rate: Fraction,
    today: date,
    campaigns: Iterable[CampaignWindow],
    incoming: Iterable[IncomingStock],
    *,
    start_offset: int = 0,
    horizon: int = SIMULATION_HORIZON_DAYS,
) -> int | None:
    """Offset from today of the first day at or after ``start_offset`` whose demand is not met in full.

    Piecewise-exact rather than day by day: between two events (an arrival, a campaign edge) the
    daily demand is constant, so the shortfall day inside a segment is a single floor division.
    Demand that cannot be served is lost (stock floors at 0) except that an initial negative
    quantity stays owed until incoming stock pays it off.
    """
    if rate <= 0 or start_offset >= horizon:
        return None
    arrivals: dict[int, int] = {}
    for item in incoming:
        offset = (item.expected_on - today).days
        if item.quantity > 0 and 0 <= offset < horizon:
            arrivals[offset] = arrivals.get(offset, 0) + item.quantity
    spans = [
        ((c.starts_on - today).days, (c.ends_on - today).days + 1, exact(c.uplift_pct))
        for c in campaigns
        if c.ends_on >= today
    ]
    edges = {0, horizon, start_offset, *arrivals}
    edges.update(edge for start, end, _ in spans for edge in (start, end) if 0 < edge < horizon)
    stock = Fraction(qty)
    for begin, end in pairwise(sorted(edges)):
        stock += arrivals.get(begin, 0)
        uplift = sum((pct for start, stop, pct in spans if start <= begin < stop), Fraction(0))
        daily = rate * max(Fraction(0), 1 + uplift / 100)
        if daily == 0:
            continue
        if begin >= start_offset:
            short = begin if stock < 0 else begin + math.floor(stock / daily)
            if short < end:
                return short
        demand = daily * (end - begin)
        if stock >= demand:
            stock -= demand
        elif stock > 0:
            stock = Fraction(0)
    return None


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
    rate = _rate(velocity)
    if rate == 0:
        return today if qty <= 0 else None
    short = _first_short_day(qty, rate, today, campaigns, incoming)
    return None if short is None else today + timedelta(days=short)


def reorder_by_date(stockout_on: date | None, lead_time_days: int, safety_days: int) -> date | None:
    """Last day to place a reorder so it lands ``safety_days`` before the stockout: stockout - lead - safety."""
    if stockout_on is None:
        return None
    return stockout_on - timedelta(days=lead_time_days + safety_days)


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
    days = max(lead_time_days, 0) + max(safety_days, 0) + max(cover_days, 0)
    demand = math.ceil(_rate(velocity) * days)
    return max(0, demand + max(waitlist_open, 0) - qty - max(incoming_total, 0))


def reorder_due(suggested_qty: int, qty: int, reorder_by: date | None, today: date) -> bool:
    """A reorder is due when something should be ordered and the variant is out or its reorder-by day has come."""
    if suggested_qty <= 0:
        return False
    return qty <= 0 or (reorder_by is not None and reorder_by <= today)


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
    if qty <= 0:
        return Status.BACKORDER if is_oversellable(policy, backorder) else Status.OUT_OF_STOCK
    if qty <= settings.low_stock_threshold:
        return Status.LOW_STOCK
    if days_on_hand is not None and days_on_hand <= settings.days_on_hand_warning:
        return Status.LOW_STOCK
    return Status.IN_STOCK


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
    if status not in (Status.IN_STOCK, Status.LOW_STOCK):
        return NO_BADGE
    if not oversellable and 0 < qty <= settings.low_stock_threshold:
        return Badge(BadgeKind.ONLY_N_LEFT, qty)
    if (
        days_on_hand is not None
        and days_on_hand <= settings.selling_fast_days
        and velocity > 0
        and velocity >= settings.selling_fast_min_velocity
    ):
        return Badge(BadgeKind.SELLING_FAST, None)
    return NO_BADGE


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
    if not published:
        return Signal.PAUSE, SignalReason.UNPUBLISHED
    if status is Status.UNTRACKED:
        return Signal.OK, SignalReason.UNTRACKED
    if status is Status.OUT_OF_STOCK:
        return Signal.PAUSE, SignalReason.OUT_OF_STOCK
    if status is Status.BACKORDER:
        return Signal.THROTTLE, SignalReason.BACKORDER
    if days_on_hand is None:
        return Signal.OK, SignalReason.NO_RECENT_SALES
    if days_on_hand <= settings.pause_days_floor:
        return (Signal.THROTTLE if oversellable else Signal.PAUSE), SignalReason.BELOW_FLOOR
    horizon = lead_time_days + settings.safety_days
    if days_on_hand < horizon:
        short = _first_short_day(qty, _rate(velocity), today, (), incoming, horizon=horizon)
        if short is None:
            return Signal.OK, SignalReason.COVERED_BY_INCOMING
        return Signal.THROTTLE, SignalReason.DAYS_ON_HAND_BELOW_LEAD_TIME
    return Signal.OK, SignalReason.HEALTHY


def restock_eta(
    status: Status,
    incoming: Sequence[IncomingStock],
    lead_time_days: int,
    reorder_due: bool,
    today: date,
) -> tuple[date | None, str | None]:
    """When an out-of-stock or backordered variant is expected back, and on what evidence.

    The earliest open incoming dated today or later ("incoming_stock"); if the only open incoming is
    overdue, no date ("incoming_stock_overdue": it is late and we do not guess by how much, nor
    pretend a fresh order is needed); else today + lead time when a reorder is due ("lead_time");
    else nothing. In-stock, low-stock and untracked variants get no ETA.
    """
    if status not in (Status.OUT_OF_STOCK, Status.BACKORDER):
        return None, None
    open_items = [item for item in incoming if item.quantity > 0]
    upcoming = [item.expected_on for item in open_items if item.expected_on >= today]
    if upcoming:
        return min(upcoming), EtaSource.INCOMING_STOCK
    if open_items:
        return None, EtaSource.INCOMING_STOCK_OVERDUE
    if reorder_due:
        return today + timedelta(days=lead_time_days), EtaSource.LEAD_TIME
    return None, None


def _urgency(days_on_hand: float | None, lead_time_days: int) -> float:
    if days_on_hand is None:
        return 0.0
    span = max(lead_time_days, 0) + 1
    return span / (span + max(days_on_hand, 0.0))


def _price_factor(price: float) -> float:
    return 1 + math.log10(1 + max(price, 0.0))


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
    span = max(lead_time_days, 0) + 1
    urgency = _urgency(days_on_hand, lead_time_days)
    demand = max(waitlist_open, 0) + max(velocity, 0.0) * span * urgency
    return round(demand * _price_factor(price), 2)


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
    campaign day that is refilled before it starts is not a campaign risk.
    """
    rate = _rate(velocity)
    if rate == 0:
        return None
    found: list[tuple[int, date, int, CampaignRisk]] = []
    for campaign in sorted(campaigns, key=lambda c: (c.starts_on, c.campaign_id)):
        if campaign.ends_on < today:
            continue
        start = max((campaign.starts_on - today).days, 0)
        short = _first_short_day(qty, rate, today, campaigns, incoming, start_offset=start)
        if short is None:
            continue
        stockout_on = today + timedelta(days=short)
        before_incoming = any(i.quantity > 0 and i.expected_on > stockout_on for i in incoming)
        if stockout_on > campaign.ends_on:
            if not before_incoming:
                continue
            others = [c for c in campaigns if c is not campaign]
            without = _first_short_day(qty, rate, today, others, incoming, start_offset=start)
            if without is not None and without <= short:
                continue
        risk = CampaignRisk(campaign.campaign_id, stockout_on, before_incoming)
        found.append((short, campaign.starts_on, campaign.campaign_id, risk))
    return min(found, key=lambda row: row[:3])[3] if found else None


def _reorder_reason(facts: VariantFacts, settings: StockSettings, incoming_total: int, suggested: int) -> str:
    days = facts.lead_time_days + settings.safety_days + settings.cover_days
    demand = math.ceil(_rate(facts.velocity) * days)
    terms = [
        f"ceil({_num(facts.velocity)}/day × ({facts.lead_time_days} lead + {settings.safety_days} safety"
        f" + {settings.cover_days} cover days)) = {demand}"
    ]
    if facts.waitlist_open > 0:
        terms.append(f"+ {facts.waitlist_open} waiting")
    if facts.sellable_quantity > 0:
        terms.append(f"− {facts.sellable_quantity} on hand")
    elif facts.sellable_quantity < 0:
        terms.append(f"+ {-facts.sellable_quantity} oversold")
    if incoming_total > 0:
        terms.append(f"− {incoming_total} incoming")
    return f"Suggested reorder {suggested} units: {' '.join(terms)}"


_SIGNAL_TEXT: dict[str, str] = {
    SignalReason.UNPUBLISHED: "the product is not published",
    SignalReason.UNTRACKED: "inventory is not tracked",
    SignalReason.OUT_OF_STOCK: "out of stock",
    SignalReason.BACKORDER: "orders are backordered and ship late",
    SignalReason.BELOW_FLOOR: "days on hand at or below the {floor} day floor",
    SignalReason.DAYS_ON_HAND_BELOW_LEAD_TIME: "stock runs out before a reorder could land ({horizon} days)",
    SignalReason.COVERED_BY_INCOMING: "incoming stock arrives in time to cover the next {horizon} days",
    SignalReason.NO_RECENT_SALES: "no recent sales",
    SignalReason.HEALTHY: "enough stock for the next {horizon} days",
}


def _status_reason(status: Status, qty: int, doh: float | None, settings: StockSettings) -> str:
    if status is Status.OUT_OF_STOCK:
        return f"Out of stock: {qty} sellable units and overselling is off"
    if status is Status.BACKORDER:
        return f"On backorder: {qty} sellable units, orders still accepted"
    if status is Status.LOW_STOCK:
        if qty <= settings.low_stock_threshold:
            return f"Low stock: {qty} units ≤ threshold {settings.low_stock_threshold}"
        return f"Low stock: {_num(doh or 0)} days on hand ≤ {_num(settings.days_on_hand_warning)} day warning"
    return f"In stock: {qty} units"


def assess(facts: VariantFacts, settings: StockSettings, today: date) -> StockAssessment:
    """Compose every rule into one assessment of a variant, with a reason for each figure."""
    qty = facts.sellable_quantity
    lead = facts.lead_time_days
    oversellable = is_oversellable(facts.policy, facts.backorder)
    horizon = lead + settings.safety_days
    reasons: list[str] = []

    if not facts.tracked:
        signal, code = marketing_signal(
            Status.UNTRACKED,
            qty,
            None,
            facts.velocity,
            facts.incoming,
            lead,
            settings,
            today,
            published=facts.published,
        )
        priority = priority_score(facts.waitlist_open, facts.velocity, None, lead, facts.price)
        reasons.append("Inventory is not tracked: no stock forecast, badge, reorder or ETA")
        reasons.append(f"Ads {signal}: {_SIGNAL_TEXT[code]}")
        reasons.append(f"Priority {_num(priority)}: waitlist {facts.waitlist_open}, price {_num(facts.price)}")
        return StockAssessment(
            status=Status.UNTRACKED,
            days_on_hand=None,
            stockout_on=None,
            reorder_by=None,
            suggested_reorder_qty=0,
            badge=NO_BADGE,
            signal=signal,
            signal_reason=code,
            restock_eta=None,
            eta_source=None,
            priority=priority,
            campaign_stockout=None,
            reasons=tuple(reasons),
        )

    doh = days_on_hand(qty, facts.velocity)
    reasons.append(f"Velocity {_num(facts.velocity)}/day")
    if qty <= 0:
        reasons.append(f"{qty} sellable units = 0 days on hand")
    elif doh is None:
        reasons.append(f"{qty} units and no recent sales: days on hand unknown")
    else:
        reasons.append(f"{qty} units ÷ {_num(facts.velocity)}/day = {_num(doh)} days on hand")

    status = stock_status(True, facts.policy, facts.backorder, qty, doh, settings)
    reasons.append(_status_reason(status, qty, doh, settings))

    stockout_on = stockout_date(qty, facts.velocity, today, facts.campaigns, facts.incoming)
    if stockout_on is not None:
        basis = [
            label
            for label, present in (("incoming stock", facts.incoming), ("campaign uplift", facts.campaigns))
            if present
        ]
        suffix = f" (counting {' and '.join(basis)})" if basis else ""
        reasons.append(f"Stockout on {stockout_on.isoformat()}{suffix}")
    elif facts.velocity > 0:
        reasons.append(f"No stockout within {SIMULATION_HORIZON_DAYS} days")

    incoming_total = sum(item.quantity for item in facts.incoming if item.quantity > 0)
    suggested = suggested_reorder_qty(
        facts.velocity,
        qty,
        incoming_total,
        facts.waitlist_open,
        settings.cover_days,
        lead,
        settings.safety_days,
    )
    # Nothing to order means no reorder-by day: a date with nothing behind it would only mislead.
    reorder_by = reorder_by_date(stockout_on, lead, settings.safety_days) if suggested > 0 else None
    if suggested > 0:
        reasons.append(_reorder_reason(facts, settings, incoming_total, suggested))
    else:
        reasons.append("No reorder needed: stock on hand and incoming cover lead, safety and cover days")
    if reorder_by is not None and stockout_on is not None:
        reasons.append(
            f"Reorder by {reorder_by.isoformat()} = stockout {stockout_on.isoformat()} − {lead} lead days"
            f" − {settings.safety_days} safety days"
        )

    badge = (
        scarcity_badge(status, qty, doh, facts.velocity, settings, oversellable=oversellable)
        if facts.published
        else NO_BADGE
    )
    if badge.kind is BadgeKind.ONLY_N_LEFT:
        reasons.append(f"Badge 'only {qty} left': {qty} units ≤ threshold {settings.low_stock_threshold}")
    elif badge.kind is BadgeKind.SELLING_FAST:
        reasons.append(
            f"Badge 'selling fast': {_num(doh or 0)} days on hand ≤ {_num(settings.selling_fast_days)}"
            f" and {_num(facts.velocity)}/day ≥ {_num(settings.selling_fast_min_velocity)}/day"
        )

    signal, code = marketing_signal(
        status,
        qty,
        doh,
        facts.velocity,
        facts.incoming,
        lead,
        settings,
        today,
        oversellable=oversellable,
        published=facts.published,
    )
    text = _SIGNAL_TEXT[code].format(floor=_num(settings.pause_days_floor), horizon=horizon)
    reasons.append(f"Ads {signal}: {text}")

    due = reorder_due(suggested, qty, reorder_by, today)
    eta, eta_source = restock_eta(status, facts.incoming, lead, due, today)
    if eta_source == EtaSource.INCOMING_STOCK and eta is not None:
        reasons.append(f"Back in stock {eta.isoformat()}: incoming stock expected")
    elif eta_source == EtaSource.LEAD_TIME and eta is not None:
        reasons.append(f"Back in stock about {eta.isoformat()} = today + {lead} days lead time, if ordered today")
    elif eta_source == EtaSource.INCOMING_STOCK_OVERDUE:
        reasons.append("Incoming stock is overdue: no restock date")

    priority = priority_score(facts.waitlist_open, facts.velocity, doh, lead, facts.price)
    reasons.append(
        f"Priority {_num(priority)} = (waitlist {facts.waitlist_open} + {_num(facts.velocity)}/day"
        f" × {max(lead, 0) + 1} days × urgency {_urgency(doh, lead):.2f}) × price factor"
        f" {_price_factor(facts.price):.2f}"
    )
    if facts.waitlist_open >= settings.high_demand_waitlist:
        reasons.append(f"High demand: {facts.waitlist_open} waiting ≥ {settings.high_demand_waitlist}")

    risk = campaign_risk(qty, facts.velocity, facts.incoming, facts.campaigns, today)
    if risk is not None:
        later = " before incoming stock arrives" if risk.before_incoming else ""
        reasons.append(f"Campaign {risk.campaign_id} sells it out on {risk.stockout_on.isoformat()}{later}")

    return StockAssessment(
        status=status,
        days_on_hand=doh,
        stockout_on=stockout_on,
        reorder_by=reorder_by,
        suggested_reorder_qty=suggested,
        badge=badge,
        signal=signal,
        signal_reason=code,
        restock_eta=eta,
        eta_source=eta_source,
        priority=priority,
        campaign_stockout=risk,
        reasons=tuple(reasons),
    )
