"""The float/integer fast paths against a plain Fraction reference, over seeded random inputs.

The reference below is the engine as first written, in exact fractions throughout: every figure,
date and reason the fast code produces must equal it exactly, ties and odd inputs included.
"""

# The reasons use the real multiplication and minus signs the merchant sees.

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from datetime import date, timedelta
from fractions import Fraction
from itertools import pairwise

import pytest

from app.domain.settings import StockSettings
from app.domain.stock import (
    CampaignRisk,
    CampaignWindow,
    EtaSource,
    IncomingStock,
    Signal,
    SignalReason,
    Status,
    StockAssessment,
    VariantFacts,
    assess,
    campaign_risk,
    days_on_hand,
    marketing_signal,
    priority_score,
    stock_status,
    stockout_date,
    suggested_reorder_qty,
)
from app.domain.velocity import Velocity, WindowSales, blended_velocity, window_rate

TODAY = date(2025, 3, 1)
HORIZON = 3650
SEEDS = range(8)


# --- reference ------------------------------------------------------------------------------------


def ref_exact(value: float) -> Fraction:
    return Fraction(value) if isinstance(value, int) else Fraction(repr(value))


def ref_window_rate(window: WindowSales, min_sellable_days: float) -> Fraction | None:
    sellable = min(ref_exact(window.sellable_days), Fraction(window.days))
    if sellable <= 0 or sellable < ref_exact(min_sellable_days):
        return None
    return Fraction(max(window.units_net, 0)) / sellable


def ref_blend(windows: Sequence[WindowSales], weights: Sequence[float], min_sellable_days: float) -> Velocity:
    rates = [ref_window_rate(window, min_sellable_days) for window in windows]
    scored = [(rate, ref_exact(weight)) for rate, weight in zip(rates, weights, strict=True) if rate is not None]
    total = sum((weight for _, weight in scored), Fraction(0))
    if not scored:
        per_day = Fraction(0)
    elif total > 0:
        per_day = sum((rate * weight for rate, weight in scored), Fraction(0)) / total
    else:
        per_day = sum((rate for rate, _ in scored), Fraction(0)) / len(scored)
    by_window = tuple(None if rate is None else float(round(rate, 4)) for rate in rates)
    return Velocity(float(round(per_day, 4)), by_window)


def ref_num(value: float | Fraction) -> str:
    text = f"{float(value):.4f}".rstrip("0").rstrip(".")
    return "0" if text == "-0" else text


def ref_rate(velocity: float) -> Fraction:
    return max(ref_exact(velocity), Fraction(0))


def ref_days_on_hand(qty: int, velocity: float) -> float | None:
    if qty <= 0:
        return 0.0
    rate = ref_rate(velocity)
    return None if rate == 0 else float(round(Fraction(qty) / rate, 1))


def ref_short_day(
    qty: int,
    rate: Fraction,
    campaigns: Sequence[CampaignWindow],
    incoming: Sequence[IncomingStock],
    start_offset: int = 0,
    horizon: int = HORIZON,
) -> int | None:
    if rate <= 0 or start_offset >= horizon:
        return None
    arrivals: dict[int, int] = {}
    for item in incoming:
        offset = (item.expected_on - TODAY).days
        if item.quantity > 0 and 0 <= offset < horizon:
            arrivals[offset] = arrivals.get(offset, 0) + item.quantity
    spans = [
        ((c.starts_on - TODAY).days, (c.ends_on - TODAY).days + 1, ref_exact(c.uplift_pct))
        for c in campaigns
        if c.ends_on >= TODAY
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


def ref_stockout(
    qty: int, velocity: float, campaigns: Sequence[CampaignWindow], incoming: Sequence[IncomingStock]
) -> date | None:
    rate = ref_rate(velocity)
    if rate == 0:
        return TODAY if qty <= 0 else None
    short = ref_short_day(qty, rate, campaigns, incoming)
    return None if short is None else TODAY + timedelta(days=short)


def ref_suggested(
    velocity: float, qty: int, incoming_total: int, waitlist: int, cover: int, lead: int, safety: int
) -> int:
    days = max(lead, 0) + max(safety, 0) + max(cover, 0)
    return max(0, math.ceil(ref_rate(velocity) * days) + max(waitlist, 0) - qty - max(incoming_total, 0))


def ref_signal(
    status: str,
    qty: int,
    doh: float | None,
    velocity: float,
    incoming: Sequence[IncomingStock],
    lead: int,
    settings: StockSettings,
    oversellable: bool,
    published: bool,
) -> tuple[str, str]:
    if not published:
        return "pause", "unpublished"
    if status == "untracked":
        return "ok", "untracked"
    if status == "out_of_stock":
        return "pause", "out_of_stock"
    if status == "backorder":
        return "throttle", "backorder"
    if doh is None:
        return "ok", "no_recent_sales"
    if doh <= settings.pause_days_floor:
        return ("throttle" if oversellable else "pause"), "below_floor"
    horizon = lead + settings.safety_days
    if doh < horizon:
        if ref_short_day(qty, ref_rate(velocity), (), incoming, horizon=horizon) is None:
            return "ok", "covered_by_incoming"
        return "throttle", "days_on_hand_below_lead_time"
    return "ok", "healthy"


def ref_priority(waitlist: int, velocity: float, doh: float | None, lead: int, price: float) -> tuple[float, ...]:
    span = max(lead, 0) + 1
    urgency = 0.0 if doh is None else span / (span + max(doh, 0.0))
    factor = 1 + math.log10(1 + max(price, 0.0))
    return round((max(waitlist, 0) + max(velocity, 0.0) * span * urgency) * factor, 2), urgency, factor


def ref_campaign_risk(
    qty: int, velocity: float, incoming: Sequence[IncomingStock], campaigns: Sequence[CampaignWindow]
) -> CampaignRisk | None:
    rate = ref_rate(velocity)
    if rate == 0:
        return None
    found: list[tuple[int, date, int, CampaignRisk]] = []
    for campaign in sorted(campaigns, key=lambda c: (c.starts_on, c.campaign_id)):
        if campaign.ends_on < TODAY:
            continue
        start = max((campaign.starts_on - TODAY).days, 0)
        short = ref_short_day(qty, rate, campaigns, incoming, start_offset=start)
        if short is None:
            continue
        others = [c for c in campaigns if c is not campaign]
        if short == start and ref_short_day(qty, rate, others, incoming, start_offset=start) == start:
            continue  # already short on its first day without its uplift: not sold out by it
        stockout_on = TODAY + timedelta(days=short)
        before = any(i.quantity > 0 and i.expected_on > stockout_on for i in incoming)
        if stockout_on > campaign.ends_on:
            if not before:
                continue
            without = ref_short_day(qty, rate, others, incoming, start_offset=start)
            if without is not None and without <= short:
                continue
        found.append(
            (short, campaign.starts_on, campaign.campaign_id, CampaignRisk(campaign.campaign_id, stockout_on, before))
        )
    return min(found, key=lambda row: row[:3])[3] if found else None


SIGNAL_TEXT = {
    "unpublished": "the product is not published",
    "untracked": "inventory is not tracked",
    "out_of_stock": "out of stock",
    "backorder": "orders are backordered and ship late",
    "below_floor": "days on hand at or below the {floor} day floor",
    "days_on_hand_below_lead_time": "stock runs out before a reorder could land ({horizon} days)",
    "covered_by_incoming": "incoming stock arrives in time to cover the next {horizon} days",
    "no_recent_sales": "no recent sales",
    "healthy": "enough stock for the next {horizon} days",
}


def ref_assess(f: VariantFacts, s: StockSettings) -> tuple[object, ...]:
    """Every field of the assessment, as plain values, computed the slow exact way."""
    qty, lead, velocity = f.sellable_quantity, f.lead_time_days, f.velocity
    oversellable = f.policy == "continue" or f.backorder
    if not f.tracked:
        signal, code = ref_signal("untracked", qty, None, velocity, f.incoming, lead, s, oversellable, f.published)
        priority = ref_priority(f.waitlist_open, velocity, None, lead, f.price)[0]
        untracked = (
            "Inventory is not tracked: no stock forecast, badge, reorder or ETA",
            f"Ads {signal}: {SIGNAL_TEXT[code]}",
            f"Priority {ref_num(priority)}: waitlist {f.waitlist_open}, price {ref_num(f.price)}",
        )
        return ("untracked", None, None, None, 0, ("none", None), signal, code, None, None, priority, None, untracked)

    reasons = [f"Velocity {ref_num(velocity)}/day"]
    doh = ref_days_on_hand(qty, velocity)
    if qty <= 0:
        reasons.append(f"{qty} sellable units = 0 days on hand")
    elif doh is None:
        reasons.append(f"{qty} units and no recent sales: days on hand unknown")
    else:
        reasons.append(f"{qty} units ÷ {ref_num(velocity)}/day = {ref_num(doh)} days on hand")

    if qty <= 0:
        status = "backorder" if oversellable else "out_of_stock"
    elif qty <= s.low_stock_threshold or (doh is not None and doh <= s.days_on_hand_warning):
        status = "low_stock"
    else:
        status = "in_stock"
    if status == "out_of_stock":
        reasons.append(f"Out of stock: {qty} sellable units and overselling is off")
    elif status == "backorder":
        reasons.append(f"On backorder: {qty} sellable units, orders still accepted")
    elif status == "low_stock" and qty <= s.low_stock_threshold:
        reasons.append(f"Low stock: {qty} units ≤ threshold {s.low_stock_threshold}")
    elif status == "low_stock":
        reasons.append(f"Low stock: {ref_num(doh or 0)} days on hand ≤ {ref_num(s.days_on_hand_warning)} day warning")
    else:
        reasons.append(f"In stock: {qty} units")

    stockout_on = ref_stockout(qty, velocity, f.campaigns, f.incoming)
    if stockout_on is not None:
        basis = [
            label for label, present in (("incoming stock", f.incoming), ("campaign uplift", f.campaigns)) if present
        ]
        suffix = f" (counting {' and '.join(basis)})" if basis else ""
        reasons.append(f"Stockout on {stockout_on.isoformat()}{suffix}")
    elif velocity > 0:
        reasons.append(f"No stockout within {HORIZON} days")

    incoming_total = sum(item.quantity for item in f.incoming if item.quantity > 0)
    suggested = ref_suggested(velocity, qty, incoming_total, f.waitlist_open, s.cover_days, lead, s.safety_days)
    reorder_by = None
    if suggested > 0 and stockout_on is not None:
        reorder_by = stockout_on - timedelta(days=lead + s.safety_days)
    if suggested > 0:
        demand = math.ceil(ref_rate(velocity) * (lead + s.safety_days + s.cover_days))
        terms = [
            f"ceil({ref_num(velocity)}/day × ({lead} lead + {s.safety_days} safety + {s.cover_days} cover days))"
            f" = {demand}"
        ]
        if f.waitlist_open > 0:
            terms.append(f"+ {f.waitlist_open} waiting")
        if qty > 0:
            terms.append(f"− {qty} on hand")
        elif qty < 0:
            terms.append(f"+ {-qty} oversold")
        if incoming_total > 0:
            terms.append(f"− {incoming_total} incoming")
        reasons.append(f"Suggested reorder {suggested} units: {' '.join(terms)}")
    else:
        reasons.append("No reorder needed: stock on hand and incoming cover lead, safety and cover days")
    if reorder_by is not None and stockout_on is not None:
        reasons.append(
            f"Reorder by {reorder_by.isoformat()} = stockout {stockout_on.isoformat()} − {lead} lead days"
            f" − {s.safety_days} safety days"
        )

    badge: tuple[str, int | None] = ("none", None)
    if f.published and status in ("in_stock", "low_stock"):
        if not oversellable and 0 < qty <= s.low_stock_threshold:
            badge = ("only_n_left", qty)
            reasons.append(f"Badge 'only {qty} left': {qty} units ≤ threshold {s.low_stock_threshold}")
        elif (
            doh is not None and doh <= s.selling_fast_days and velocity > 0 and velocity >= s.selling_fast_min_velocity
        ):
            badge = ("selling_fast", None)
            reasons.append(
                f"Badge 'selling fast': {ref_num(doh or 0)} days on hand ≤ {ref_num(s.selling_fast_days)}"
                f" and {ref_num(velocity)}/day ≥ {ref_num(s.selling_fast_min_velocity)}/day"
            )

    signal, code = ref_signal(status, qty, doh, velocity, f.incoming, lead, s, oversellable, f.published)
    horizon = lead + s.safety_days
    reasons.append(f"Ads {signal}: {SIGNAL_TEXT[code].format(floor=ref_num(s.pause_days_floor), horizon=horizon)}")

    eta, eta_source = None, None
    if status in ("out_of_stock", "backorder"):
        open_items = [item for item in f.incoming if item.quantity > 0]
        upcoming = [item.expected_on for item in open_items if item.expected_on >= TODAY]
        owed = max(-qty, 0)
        # Owed units with stock on order: the first arrival whose running total reaches owed + 1, counted unit by unit.
        arrivals = sorted(day for item in open_items for day in [item.expected_on] * item.quantity)
        what = ("Ships", "No ship date") if status == "backorder" else ("Back in stock", "No restock date")
        if owed and open_items and len(arrivals) <= owed:
            reasons.append(f"{what[1]}: open incoming stock ({len(arrivals)} units) does not cover the {owed} owed + 1")
        elif owed and open_items and arrivals[owed] < TODAY:
            eta_source = "incoming_stock_overdue"
            reasons.append("Incoming stock is overdue: no restock date")
        elif owed and open_items:
            eta, eta_source = arrivals[owed], "incoming_stock"
            total = sum(item.quantity for item in open_items if item.expected_on <= eta)
            reasons.append(
                f"{what[0]} {eta.isoformat()}: incoming stock then totals {total} units, covering the {owed} owed + 1"
            )
        elif upcoming:
            eta, eta_source = min(upcoming), "incoming_stock"
            reasons.append(f"Back in stock {eta.isoformat()}: incoming stock expected")
        elif open_items:
            eta_source = "incoming_stock_overdue"
            reasons.append("Incoming stock is overdue: no restock date")
        elif suggested > 0 and not f.lead_time_entered:
            reasons.append(
                "No restock date: no open purchase order, and no supplier, product or variant lead time entered"
                " (the store default lead time never dates a restock)"
            )
        elif suggested > 0 and not s.show_lead_time_eta:
            reasons.append(f"No restock date: no open purchase order, and the {lead}-day lead time is not shown")
        elif suggested > 0 and f.po_closed_while_sold_out:
            reasons.append(
                "No restock date: a purchase order was received or closed since the variant sold out without"
                " restocking it, and the lead time is no promise in its place"
            )
        elif suggested > 0:
            eta, eta_source = TODAY + timedelta(days=lead), "lead_time"
            reasons.append(f"Back in stock about {eta.isoformat()} = today + {lead} days lead time, if ordered today")

    priority, urgency, factor = ref_priority(f.waitlist_open, velocity, doh, lead, f.price)
    reasons.append(
        f"Priority {ref_num(priority)} = (waitlist {f.waitlist_open} + {ref_num(velocity)}/day"
        f" × {max(lead, 0) + 1} days × urgency {urgency:.2f}) × price factor {factor:.2f}"
    )
    if f.waitlist_open >= s.high_demand_waitlist:
        reasons.append(f"High demand: {f.waitlist_open} waiting ≥ {s.high_demand_waitlist}")
    risk = ref_campaign_risk(qty, velocity, f.incoming, f.campaigns)
    if risk is not None:
        later = " before incoming stock arrives" if risk.before_incoming else ""
        reasons.append(f"Campaign {risk.campaign_id} sells it out on {risk.stockout_on.isoformat()}{later}")
    return (
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


def plain(a: StockAssessment) -> tuple[object, ...]:
    """An assessment as plain values, after checking it carries the same enum types as before."""
    # The service fingerprints repr() of these fields, so a str where an enum member was would show.
    assert type(a.status) is Status
    assert type(a.signal) is Signal
    assert type(a.signal_reason) is SignalReason
    assert a.eta_source is None or type(a.eta_source) is EtaSource
    assert a.days_on_hand is None or type(a.days_on_hand) is float
    assert type(a.priority) is float
    return (
        str(a.status),
        a.days_on_hand,
        a.stockout_on,
        a.reorder_by,
        a.suggested_reorder_qty,
        (str(a.badge.kind), a.badge.quantity),
        str(a.signal),
        str(a.signal_reason),
        a.restock_eta,
        None if a.eta_source is None else str(a.eta_source),
        a.priority,
        a.campaign_stockout,
        a.reasons,
    )


# --- random inputs --------------------------------------------------------------------------------


def random_velocity(rng: random.Random) -> float:
    kind = rng.random()
    if kind < 0.15:
        return 0.0
    if kind < 0.75:
        return rng.randint(1, 200_000) / 10_000  # the 4-dp figure blended_velocity returns
    if kind < 0.85:
        return rng.choice([0.1, 0.3, 0.7, 1.0, 2.5, 3.3333, 0.0001, 0.0005, 12.0])
    if kind < 0.95:
        return rng.uniform(0, 20)  # full-precision floats take the exact slow path
    scale: int = 10 ** rng.randint(4, 9)
    return rng.randint(1, 10**9) / scale


def random_incoming(rng: random.Random) -> tuple[IncomingStock, ...]:
    count = rng.choices([0, 1, 2, 3, 5], [45, 25, 15, 10, 5])[0]
    return tuple(
        IncomingStock(rng.choice([rng.randint(1, 400), 0, -5]), TODAY + timedelta(days=rng.randint(-10, 120)))
        for _ in range(count)
    )


def random_campaigns(rng: random.Random) -> tuple[CampaignWindow, ...]:
    if rng.random() < 0.75:
        return ()
    campaigns = []
    for campaign_id in range(rng.randint(1, 3)):
        start = rng.randint(-20, 60)
        uplift = rng.choice([100.0, 50.0, 0.0, -50.0, -100.0, 12.5, 33.3, rng.uniform(-100, 300)])
        campaigns.append(
            CampaignWindow(
                campaign_id, TODAY + timedelta(days=start), TODAY + timedelta(days=start + rng.randint(0, 20)), uplift
            )
        )
    return tuple(campaigns)


def random_settings(rng: random.Random) -> StockSettings:
    if rng.random() < 0.5:
        return StockSettings()
    return StockSettings(
        low_stock_threshold=rng.choice([0, 1, 5, 20]),
        days_on_hand_warning=rng.choice([0.0, 7.5, 14.0, 30.0]),
        safety_days=rng.choice([0, 3, 7, 30, -2]),  # negative only by direct construction, not parsed
        cover_days=rng.choice([0, 30, 60, 365, -40]),
        selling_fast_days=rng.choice([0.0, 7.0, 10.5]),
        selling_fast_min_velocity=rng.choice([0.0, 0.5, 1.0]),
        pause_days_floor=rng.choice([0.0, 3.0, 4.5]),
        high_demand_waitlist=rng.choice([1, 25]),
        show_lead_time_eta=rng.random() < 0.5,
    )


def random_facts(rng: random.Random) -> VariantFacts:
    return VariantFacts(
        variant_id=rng.randint(1, 10**6),
        sellable_quantity=rng.choice([rng.randint(-5, 0), rng.randint(1, 10), rng.randint(10, 500), 10**6]),
        tracked=rng.random() < 0.9,
        policy=rng.choice(["deny", "deny", "deny", "continue"]),
        backorder=rng.random() < 0.1,
        price=rng.choice([0.0, 9.0, 49.99, round(rng.uniform(0, 500), 2), -1.0]),
        velocity=random_velocity(rng),
        lead_time_days=rng.choice([0, 7, 14, 21, 60, 3700]),
        lead_time_entered=rng.random() < 0.5,
        po_closed_while_sold_out=rng.random() < 0.3,
        incoming=random_incoming(rng),
        waitlist_open=rng.choice([0, 0, 0, 1, 3, 25, 100]),
        published=rng.random() < 0.9,
        campaigns=random_campaigns(rng),
    )


def random_window(rng: random.Random, days: int) -> WindowSales:
    sellable = rng.choice(
        [
            float(days),
            days / 2,
            rng.randint(0, 32 * days) / 32,  # dyadic: the rates land on exact rounding ties
            rng.randint(0, 8 * days) / 8,
            rng.uniform(0, days),
            days + rng.uniform(0, 5),
            0.0,
        ]
    )
    return WindowSales(days, rng.choice([0, -3, rng.randint(0, 50), rng.randint(0, 3000)]), sellable)


# --- comparisons ----------------------------------------------------------------------------------


@pytest.mark.parametrize("seed", SEEDS)
def test_blended_velocity_matches_the_exact_reference(seed: int) -> None:
    rng = random.Random(seed)
    for _ in range(400):
        days = rng.choice([(7, 28, 90), (32,), (16, 32), (7, 28), (1, 2, 3, 5, 8)])
        windows = [random_window(rng, d) for d in days]
        weights = [rng.choice([0.5, 0.3, 0.2, 0.25, 0.0, 1.0, 0.125, rng.random()]) for _ in days]
        minimum = rng.choice([1.0, 0.0, 2.0, 0.5])
        assert blended_velocity(windows, weights, minimum) == ref_blend(windows, weights, minimum)
        for window in windows:
            rate = ref_window_rate(window, minimum)
            assert window_rate(window, minimum) == (None if rate is None else float(round(rate, 4)))


def test_blended_velocity_takes_the_exact_path_at_ties_and_extremes() -> None:
    # Each per-window rate or blend below is an exact 5th-decimal tie, or too large for the float path.
    cases = [
        ([WindowSales(32, 1, 32.0)], [1.0]),
        ([WindowSales(32, 3, 32.0), WindowSales(16, 1, 16.0)], [0.5, 0.5]),
        ([WindowSales(7, 10**9, 7.0)], [1.0]),
        ([WindowSales(7, 7, 1e-300)], [1.0]),
        ([WindowSales(7, 7, 7.0), WindowSales(28, 1, 28.0)], [1e-320, 1e-320]),
    ]
    for windows, weights in cases:
        assert blended_velocity(windows, weights, 0.0) == ref_blend(windows, weights, 0.0)


def test_blended_velocity_with_a_non_finite_minimum_fails_as_before() -> None:
    with pytest.raises(ValueError, match="not a finite number"):
        blended_velocity([WindowSales(7, 1, 7.0)], [1.0], math.nan)
    assert blended_velocity([WindowSales(7, 1, 0.0)], [1.0], math.inf) == Velocity(0.0, (None,))
    with pytest.raises(ValueError, match="weights"):
        blended_velocity([WindowSales(7, 1, 7.0), WindowSales(7, 1, 7.0)], [1.0, math.nan], math.nan)


@pytest.mark.parametrize("seed", SEEDS)
def test_assess_matches_the_exact_reference(seed: int) -> None:
    rng = random.Random(seed)
    for _ in range(300):
        facts, settings = random_facts(rng), random_settings(rng)
        assert plain(assess(facts, settings, TODAY)) == ref_assess(facts, settings), facts


@pytest.mark.parametrize(
    ("qty", "velocity", "lead", "incoming"),
    [
        (3700, 1.0, 3700, ()),  # runs out on day 3700: past the stockout horizon, inside the ad horizon
        (3640, 1.0, 3700, (IncomingStock(30, TODAY + timedelta(days=3645)),)),
        (3640, 1.0, 3700, (IncomingStock(300, TODAY + timedelta(days=3645)),)),
        (20, 2.0, 3700, (IncomingStock(40, TODAY + timedelta(days=5)),)),
    ],
)
def test_assess_beyond_the_simulation_horizon(
    qty: int, velocity: float, lead: int, incoming: tuple[IncomingStock, ...]
) -> None:
    facts = VariantFacts(1, qty, True, "deny", False, 10.0, velocity, lead, incoming)
    assert plain(assess(facts, StockSettings(), TODAY)) == ref_assess(facts, StockSettings())


@pytest.mark.parametrize("seed", SEEDS)
def test_stock_rules_match_the_exact_reference(seed: int) -> None:
    rng = random.Random(seed)
    settings = StockSettings()
    for _ in range(300):
        f = random_facts(rng)
        qty, velocity = f.sellable_quantity, f.velocity
        doh = days_on_hand(qty, velocity)
        assert doh == ref_days_on_hand(qty, velocity)
        assert stockout_date(qty, velocity, TODAY, f.campaigns, f.incoming) == ref_stockout(
            qty, velocity, f.campaigns, f.incoming
        )
        assert campaign_risk(qty, velocity, f.incoming, f.campaigns, TODAY) == ref_campaign_risk(
            qty, velocity, f.incoming, f.campaigns
        )
        total = rng.randint(-3, 300)
        args = (velocity, qty, total, f.waitlist_open, rng.randint(-2, 90), f.lead_time_days, rng.randint(-2, 30))
        assert suggested_reorder_qty(*args) == ref_suggested(*args)
        status = stock_status(True, f.policy, f.backorder, qty, doh, settings)
        oversellable = f.policy == "continue" or f.backorder
        fast = marketing_signal(
            status, qty, doh, velocity, f.incoming, f.lead_time_days, settings, TODAY, oversellable=oversellable
        )
        assert fast == ref_signal(
            status, qty, doh, velocity, f.incoming, f.lead_time_days, settings, oversellable, True
        )


def test_every_four_decimal_velocity_reads_as_its_decimal() -> None:
    # The integer path trusts n/10,000 only where it is exactly the written decimal; check a sweep of them.
    for units in [*range(0, 20_001), *range(10**8, 10**8 + 2_000), 10**12 + 1, 10**14 + 3]:
        velocity = units / 10_000
        assert days_on_hand(10**6, velocity) == ref_days_on_hand(10**6, velocity)
        assert suggested_reorder_qty(velocity, 0, 0, 0, 7, 0, 0) == ref_suggested(velocity, 0, 0, 0, 7, 0, 0)


def test_priority_rounds_exactly_like_round() -> None:
    # No waitlist, no lead time, out of stock and free: the score is the velocity itself, rounded to 2 dp.
    rng = random.Random(7)
    values = [k / 1000 for k in range(0, 20_001)] + [rng.uniform(0, 10 ** rng.randint(0, 8)) for _ in range(5_000)]
    for value in [*values, 2.675, 1.005, 0.125, 0.375, 1e7 + 0.005, 5e-324]:
        assert repr(priority_score(0, value, 0.0, 0, 0.0)) == repr(round(value, 2)), value
