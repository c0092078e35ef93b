"""A campaign's forecast beside its no-campaign baseline: units sold on the campaign's days and the sell-out day,
with and without the campaign's uplift.

The same simulation as the stock engine (app.domain.stock): demand is the velocity times 1 + the summed uplifts of
the campaigns running that day, incoming stock is on the shelf at the start of its day, demand that cannot be
served is lost, and stock owed at the start stays owed until incoming stock pays it off. The sell-out day is the
engine's own first short day from the campaign's first day (today for a running campaign), so the figure with the
uplift is the one the recompute stores as the campaign's risk.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from fractions import Fraction
from itertools import pairwise

from app.domain.stock import SIMULATION_HORIZON_DAYS, CampaignWindow, IncomingStock, short_day_from
from app.domain.velocity import exact


@dataclass(frozen=True, slots=True)
class Outlook:
    """One scenario over the campaign's days: units asked for, units sold, and the first day demand is not met."""

    demand: Fraction
    sold: Fraction
    sells_out_on: date | None


@dataclass(frozen=True, slots=True)
class Comparison:
    """The campaign's forecast and its baseline (the same days without this campaign's uplift)."""

    first_day: date
    last_day: date
    with_campaign: Outlook
    baseline: Outlook


def _units_sold(
    qty: int,
    rate: Fraction,
    today: date,
    campaigns: Sequence[CampaignWindow],
    incoming: Sequence[IncomingStock],
    first: int,
    stop: int,
) -> tuple[Fraction, Fraction]:
    """(demand, sold) on the day offsets first..stop-1, simulated from today."""
    arrivals: dict[int, int] = {}
    for item in incoming:
        offset = (item.expected_on - today).days
        if item.quantity > 0 and 0 <= offset < stop:
            arrivals[offset] = arrivals.get(offset, 0) + item.quantity
    spans = [
        ((c.starts_on - today).days, (c.ends_on - today).days + 1, exact(c.uplift_pct) / 100)
        for c in campaigns
        if c.ends_on >= today
    ]
    edges = {0, first, stop, *arrivals}
    edges.update(edge for start, end, _ in spans for edge in (start, end) if 0 < edge < stop)
    stock = Fraction(qty)
    demand_total = sold = Fraction(0)
    for begin, end in pairwise(sorted(edges)):
        stock += arrivals.get(begin, 0)
        factor = 1 + sum((pct for start, until, pct in spans if start <= begin < until), Fraction(0))
        if factor <= 0:
            continue
        demand = rate * factor * (end - begin)
        if begin >= first:
            demand_total += demand
            sold += min(max(stock, Fraction(0)), demand)
        if stock >= demand:
            stock -= demand
        elif stock > 0:
            stock = Fraction(0)
    return demand_total, sold


def _outlook(
    qty: int,
    velocity: float,
    today: date,
    campaigns: Sequence[CampaignWindow],
    incoming: Sequence[IncomingStock],
    first: int,
    stop: int,
) -> Outlook:
    rate = max(exact(velocity), Fraction(0))
    demand, sold = _units_sold(qty, rate, today, campaigns, incoming, first, stop)
    return Outlook(demand, sold, short_day_from(qty, velocity, today, first, campaigns, incoming))


def compare(
    qty: int,
    velocity: float,
    incoming: Sequence[IncomingStock],
    campaigns: Sequence[CampaignWindow],
    campaign_id: int,
    today: date,
) -> Comparison | None:
    """The campaign's days forecast with all planned campaigns and without this one (None once it has ended)."""
    mine = [c for c in campaigns if c.campaign_id == campaign_id]
    if not mine or mine[0].ends_on < today:
        return None
    campaign = mine[0]
    first = max((campaign.starts_on - today).days, 0)
    stop = min((campaign.ends_on - today).days + 1, SIMULATION_HORIZON_DAYS)
    if first >= stop:
        return None
    others = [c for c in campaigns if c.campaign_id != campaign_id]
    return Comparison(
        first_day=today + timedelta(days=first),
        last_day=campaign.ends_on,
        with_campaign=_outlook(qty, velocity, today, campaigns, incoming, first, stop),
        baseline=_outlook(qty, velocity, today, others, incoming, first, stop),
    )
