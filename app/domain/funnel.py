"""The restock funnel: signups → confirmed → emailed → clicked → bought, with conversion rate and recovered revenue.

Pure functions of plain rows (no Flask, no database). A subscription is *confirmed* once it no longer waits for the
shopper's double opt-in click (single opt-in subscriptions are confirmed at signup). *Emailed*, *clicked* and
*bought* count sent restock emails (deliveries): clicked when its buy link was followed, bought when an order of the
variant by the shopper came within the attribution window (direct or assisted). The conversion rate is bought per
emailed; restock emails are commonly reported to convert at 10-15 %, the benchmark the admin sets it against.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal

from markupsafe import Markup, escape

__all__ = [
    "BENCHMARK_HIGH",
    "BENCHMARK_LOW",
    "STAGES",
    "DeliveryRow",
    "EventRow",
    "Funnel",
    "SubscriptionRow",
    "benchmark_note",
    "by_product",
    "by_restock",
    "funnel_chart",
    "history_start",
    "percent",
    "total",
]

BENCHMARK_LOW = Decimal("0.10")
BENCHMARK_HIGH = Decimal("0.15")
# (attribute, label) in funnel order.
STAGES: tuple[tuple[str, str], ...] = (
    ("signups", "Signups"),
    ("confirmed", "Confirmed"),
    ("emailed", "Emailed"),
    ("clicked", "Clicked"),
    ("bought", "Bought"),
)
_ZERO = Decimal("0.00")


@dataclass(frozen=True, slots=True)
class SubscriptionRow:
    """What the funnel needs of one waitlist subscription."""

    id: int
    variant_id: int
    product_id: int
    created_at: datetime
    confirmed: bool


@dataclass(frozen=True, slots=True)
class DeliveryRow:
    """What the funnel needs of one *sent* restock email."""

    subscription_id: int
    stock_event_id: int
    sent_at: datetime
    clicked: bool
    bought: bool
    revenue: Decimal


@dataclass(frozen=True, slots=True)
class EventRow:
    """A restock event: which variant came back, and when."""

    id: int
    variant_id: int
    product_id: int
    occurred_at: datetime


@dataclass(frozen=True, slots=True)
class Funnel:
    """The funnel's counts and recovered revenue (in the store's currency)."""

    signups: int = 0
    confirmed: int = 0
    emailed: int = 0
    clicked: int = 0
    bought: int = 0
    revenue: Decimal = field(default=_ZERO)

    @property
    def conversion_rate(self) -> Decimal | None:
        """Bought per emailed, to four places; None when nothing was emailed (no rate, not a zero one)."""
        if not self.emailed:
            return None
        return (Decimal(self.bought) / Decimal(self.emailed)).quantize(Decimal("0.0001"))

    @property
    def click_rate(self) -> Decimal | None:
        """Clicked per emailed; None when nothing was emailed."""
        if not self.emailed:
            return None
        return (Decimal(self.clicked) / Decimal(self.emailed)).quantize(Decimal("0.0001"))

    def stages(self) -> list[tuple[str, int]]:
        """(label, count) per stage, in funnel order."""
        return [(label, int(getattr(self, name))) for name, label in STAGES]

    def __add__(self, other: Funnel) -> Funnel:
        return Funnel(
            signups=self.signups + other.signups,
            confirmed=self.confirmed + other.confirmed,
            emailed=self.emailed + other.emailed,
            clicked=self.clicked + other.clicked,
            bought=self.bought + other.bought,
            revenue=self.revenue + other.revenue,
        )


def _sent_figures(deliveries: Iterable[DeliveryRow]) -> Funnel:
    emailed = clicked = bought = 0
    revenue = _ZERO
    for d in deliveries:
        emailed += 1
        clicked += d.clicked
        bought += d.bought
        if d.bought:
            revenue += d.revenue
    return Funnel(emailed=emailed, clicked=clicked, bought=bought, revenue=revenue.quantize(_ZERO))


def by_product(subscriptions: Iterable[SubscriptionRow], deliveries: Iterable[DeliveryRow]) -> dict[int, Funnel]:
    """One funnel per product that has a signup: its variants' signups and every email sent to them."""
    subs = list(subscriptions)
    product_of = {s.id: s.product_id for s in subs}
    out: dict[int, Funnel] = {}
    for s in subs:
        f = out.get(s.product_id, Funnel())
        out[s.product_id] = f + Funnel(signups=1, confirmed=int(s.confirmed))
    sent: dict[int, list[DeliveryRow]] = {}
    for d in deliveries:
        pid = product_of.get(d.subscription_id)
        if pid is not None:
            sent.setdefault(pid, []).append(d)
    for pid, rows in sent.items():
        out[pid] = out[pid] + _sent_figures(rows)
    return out


def by_restock(
    events: Iterable[EventRow], subscriptions: Iterable[SubscriptionRow], deliveries: Iterable[DeliveryRow]
) -> dict[int, Funnel]:
    """One funnel per restock event: the variant's signups up to the restock, and the emails the restock sent."""
    by_variant: dict[int, list[SubscriptionRow]] = {}
    for s in subscriptions:
        by_variant.setdefault(s.variant_id, []).append(s)
    sent: dict[int, list[DeliveryRow]] = {}
    for d in deliveries:
        sent.setdefault(d.stock_event_id, []).append(d)
    out: dict[int, Funnel] = {}
    for e in events:
        waiting = [s for s in by_variant.get(e.variant_id, []) if s.created_at <= e.occurred_at]
        head = Funnel(signups=len(waiting), confirmed=sum(1 for s in waiting if s.confirmed))
        out[e.id] = head + _sent_figures(sent.get(e.id, []))
    return out


def total(funnels: Iterable[Funnel]) -> Funnel:
    """Several funnels added up."""
    result = Funnel()
    for f in funnels:
        result = result + f
    return result


def benchmark_note(rate: Decimal | None) -> str:
    """The conversion rate set against the 10-15 % restock emails are commonly reported to convert at."""
    if rate is None:
        return "No restock email sent yet, so no conversion rate (restock emails commonly convert at 10-15 %)."
    shown = _percent(rate)
    if rate < BENCHMARK_LOW:
        return f"{shown} is below the 10-15 % restock emails commonly convert at."
    if rate > BENCHMARK_HIGH:
        return f"{shown} is above the 10-15 % restock emails commonly convert at."
    return f"{shown} is within the 10-15 % restock emails commonly convert at."


def _percent(rate: Decimal) -> str:
    text = f"{rate * 100:.1f}"
    return (text[:-2] if text.endswith(".0") else text) + " %"


def percent(rate: Decimal | None) -> str:
    """A rate for people ("12.5 %"), an en dash when there is none."""
    return "\u2013" if rate is None else _percent(rate)


def history_start(earliest: Sequence[datetime | date | None], installed: date) -> date:
    """The first day the results can cover: the earliest of the rows' moments, else the install day."""
    days = [v.date() if isinstance(v, datetime) else v for v in earliest if v is not None]
    return min([*days, installed])


FUNNEL_WIDTH = 480
# The narrowest the page draws it (its CSS min-width): 14-unit labels are then still 11.2 px.
FUNNEL_MIN_WIDTH = 384
_ROW = 34
_LABEL = 96
_PAD = 8
BAR_COLOUR = "#2c6ecb"
TEXT_COLOUR = "#1d2733"


def funnel_chart(funnel: Funnel, *, title: str) -> Markup:
    """Horizontal bars, one per stage, widest first; each bar titled and labelled with its count."""
    stages = funnel.stages()
    height = _PAD * 2 + _ROW * len(stages)
    head = escape(title)
    parts = [
        f'<svg class="funnel" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {FUNNEL_WIDTH} {height}" '
        f'width="{FUNNEL_WIDTH}" height="{height}" role="img" aria-label="{head}"><title>{head}</title>'
    ]
    top = max((count for _, count in stages), default=0) or 1
    span = FUNNEL_WIDTH - _LABEL - _PAD - 56
    for i, (label, count) in enumerate(stages):
        y = _PAD + i * _ROW
        width = span * count / top
        parts.append(
            f'<text x="{_LABEL - 6}" y="{y + _ROW / 2:.1f}" text-anchor="end" dominant-baseline="middle" '
            f'font-size="14" fill="{TEXT_COLOUR}">{escape(label)}</text>'
        )
        if count:
            parts.append(
                f'<rect class="funnel-bar" x="{_LABEL}" y="{y + 5}" width="{max(width, 2.0):.1f}" '
                f'height="{_ROW - 10}" fill="{BAR_COLOUR}"><title>{escape(label)}: {count}</title></rect>'
            )
        parts.append(
            f'<text x="{_LABEL + max(width, 2.0) + 6:.1f}" y="{y + _ROW / 2:.1f}" dominant-baseline="middle" '
            f'font-size="14" fill="{TEXT_COLOUR}">{count:,}</text>'
        )
    parts.append("</svg>")
    return Markup("".join(parts))  # noqa: S704 - numbers and escaped text only
