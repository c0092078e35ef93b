"""Sales velocity: units a variant sells per day it was actually sellable.

Arithmetic is done on exact fractions and rounded once (half to even) at the end, so the same
inputs give the same 4-decimal figure on every machine.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction

VELOCITY_DECIMALS = 4


def exact(value: float) -> Fraction:
    """Return the decimal a float was written as (0.1 → 1/10), so ceil/floor are not fooled by binary."""
    if isinstance(value, int):
        return Fraction(value)
    if not math.isfinite(value):
        raise ValueError(f"not a finite number: {value!r}")
    return Fraction(repr(value))


@dataclass(frozen=True, slots=True)
class WindowSales:
    """Net units sold over the last ``days`` days, and for how many of those days the variant was sellable.

    ``units_net`` is after cancellations and refunds and may be negative. ``sellable_days`` is
    fractional and excludes sold-out time: a sold-out day says nothing about demand.
    """

    days: int
    units_net: int
    sellable_days: float

    def __post_init__(self) -> None:
        if self.days < 1:
            raise ValueError("a sales window is at least one day long")
        if not math.isfinite(self.sellable_days) or self.sellable_days < 0:
            raise ValueError("sellable_days must be a finite number, 0 or more")


@dataclass(frozen=True, slots=True)
class Velocity:
    """Blended units per day, and each window's own rate (None where the window was left out)."""

    per_day: float
    by_window: tuple[float | None, ...]


def _window_rate(window: WindowSales, min_sellable_days: float) -> Fraction | None:
    # More sellable time than the window has is bad input; trusting it would understate demand.
    sellable = min(exact(window.sellable_days), Fraction(window.days))
    if sellable <= 0 or sellable < exact(min_sellable_days):
        return None
    # Refunds exceeding sales are returns of earlier demand, not negative demand.
    return Fraction(max(window.units_net, 0)) / sellable


def window_rate(window: WindowSales, min_sellable_days: float = 1.0) -> float | None:
    """Units per sellable day in one window, rounded to 4 dp; None below ``min_sellable_days``."""
    rate = _window_rate(window, min_sellable_days)
    return None if rate is None else float(round(rate, VELOCITY_DECIMALS))


def blended_velocity(
    windows: Sequence[WindowSales], weights: Sequence[float], min_sellable_days: float = 1.0
) -> Velocity:
    """Weighted average of the window rates, weights renormalised over the windows that qualify.

    per window: rate = max(units_net, 0) / sellable_days, or None when sellable_days < min_sellable_days
    blend:      Σ(rate * weight) / Σ(weight) over windows with a rate; 0.0 when none qualifies.
    If every qualifying window has weight 0 the plain mean of their rates is used: a variant that
    demonstrably sells must not read as zero demand because of how the weights were set.
    """
    if len(windows) != len(weights):
        raise ValueError(f"{len(windows)} windows but {len(weights)} weights")
    if any(not math.isfinite(w) or w < 0 for w in weights):
        raise ValueError("weights must be finite and not negative")
    rates = [_window_rate(window, min_sellable_days) for window in windows]
    scored = [(rate, exact(weight)) for rate, weight in zip(rates, weights, strict=True) if rate is not None]
    total_weight = sum((weight for _, weight in scored), Fraction(0))
    if not scored:
        per_day = Fraction(0)
    elif total_weight > 0:
        per_day = sum((rate * weight for rate, weight in scored), Fraction(0)) / total_weight
    else:
        per_day = sum((rate for rate, _ in scored), Fraction(0)) / len(scored)
    return Velocity(
        per_day=float(round(per_day, VELOCITY_DECIMALS)),
        by_window=tuple(None if rate is None else float(round(rate, VELOCITY_DECIMALS)) for rate in rates),
    )
