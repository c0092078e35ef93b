"""Sales velocity: units a variant sells per day it was actually sellable.

The figure is defined on exact fractions (each float read as the decimal it was written as) and
rounded once, half to even, to 4 decimals, so the same inputs give the same figure on every machine.
It is computed in floats, whose error here is far below 1e-9; only a float that close to a rounding
tie, where the exact value could round the other way, is recomputed with fractions.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction

VELOCITY_DECIMALS = 4

_SCALE = 10_000.0  # 10 ** VELOCITY_DECIMALS
_INF = math.inf
# Distance from a tie, in 1/10,000ths (so 1e-9 of a unit), inside which the float result is not trusted to
# round like the exact value. The float error is at most about (2 * windows + 4) * 1.1e-16 relative: under
# 3e-6 of a 1/10,000th below _FAST_LIMIT with up to _MAX_FAST_WINDOWS windows, well inside the margin.
_TIE_MARGIN = 1e-5
_FAST_LIMIT = 1e8  # in 1/10,000ths: 10,000 units a day; faster sellers go the exact way
# Weights summing below this risk subnormal products, which lose precision.
_MIN_WEIGHT_SUM = 1e-100
_MAX_FAST_WINDOWS = 100


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
        # One chained comparison rejects negatives, NaN and infinity.
        if not 0 <= self.sellable_days < _INF:
            raise ValueError("sellable_days must be a finite number, 0 or more")


@dataclass(frozen=True, slots=True)
class Velocity:
    """Blended units per day, and each window's own rate (None where the window was left out)."""

    per_day: float
    by_window: tuple[float | None, ...]


_new = object.__new__
# The slot descriptors fill a frozen instance without its per-field object.__setattr__ calls.
_set_per_day = Velocity.__dict__["per_day"].__set__
_set_by_window = Velocity.__dict__["by_window"].__set__


def _velocity(per_day: float, by_window: tuple[float | None, ...]) -> Velocity:
    result: Velocity = _new(Velocity)
    _set_per_day(result, per_day)
    _set_by_window(result, by_window)
    return result


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


def _check_weights(weights: Sequence[float]) -> None:
    for weight in weights:
        # One chained comparison rejects negatives, NaN and infinity.
        if not 0 <= weight < _INF:
            raise ValueError("weights must be finite and not negative")


def _exact_blend(windows: Sequence[WindowSales], weights: Sequence[float], min_sellable_days: float) -> Velocity:
    _check_weights(weights)
    rates = [_window_rate(window, min_sellable_days) for window in windows]
    scored = [(rate, exact(weight)) for rate, weight in zip(rates, weights, strict=True) if rate is not None]
    total_weight = sum((weight for _, weight in scored), Fraction(0))
    if not scored:
        per_day = Fraction(0)
    elif total_weight > 0:
        per_day = sum((rate * weight for rate, weight in scored), Fraction(0)) / total_weight
    else:
        per_day = sum((rate for rate, _ in scored), Fraction(0)) / len(scored)
    return _velocity(
        float(round(per_day, VELOCITY_DECIMALS)),
        tuple(None if rate is None else float(round(rate, VELOCITY_DECIMALS)) for rate in rates),
    )


def blended_velocity(
    windows: Sequence[WindowSales], weights: Sequence[float], min_sellable_days: float = 1.0
) -> Velocity:
    """Weighted average of the window rates, weights renormalised over the windows that qualify.

    per window: rate = max(units_net, 0) / sellable_days, or None when sellable_days < min_sellable_days
    blend:      Σ(rate * weight) / Σ(weight) over windows with a rate; 0.0 when none qualifies.
    If every qualifying window has weight 0 the plain mean of their rates is used: a variant that
    demonstrably sells must not read as zero demand because of how the weights were set.
    """
    count = len(windows)
    if count != len(weights):
        raise ValueError(f"{count} windows but {len(weights)} weights")
    # A non-finite minimum raises in exact(), but only once a window gets that far: leave that to the exact path.
    if count > _MAX_FAST_WINDOWS or not -_INF < min_sellable_days < _INF:
        return _exact_blend(windows, weights, min_sellable_days)
    by_window: list[float | None] = []
    weighted = total_weight = plain = 0.0
    rated = 0
    for index in range(count):
        weight = weights[index]
        if not 0 <= weight < _INF:
            raise ValueError("weights must be finite and not negative")
        window = windows[index]
        sellable = window.sellable_days
        days = window.days
        # Floats compare exactly as the decimals they were written as do, so these agree with exact().
        if sellable > days:
            sellable = days
        if sellable <= 0 or sellable < min_sellable_days:
            by_window.append(None)
            continue
        units = window.units_net
        rate = units / sellable if units > 0 else 0.0
        scaled = rate * _SCALE
        whole = int(scaled)
        fraction = scaled - whole
        if scaled >= _FAST_LIMIT or -_TIE_MARGIN < fraction - 0.5 < _TIE_MARGIN:
            return _exact_blend(windows, weights, min_sellable_days)
        by_window.append((whole + (fraction > 0.5)) / _SCALE)
        weighted += rate * weight
        total_weight += weight
        plain += rate
        rated += 1
    if not rated:
        return _velocity(0.0, tuple(by_window))
    if total_weight > 0:
        if total_weight < _MIN_WEIGHT_SUM:
            return _exact_blend(windows, weights, min_sellable_days)
        scaled = weighted / total_weight * _SCALE
    else:
        scaled = plain / rated * _SCALE
    whole = int(scaled)
    fraction = scaled - whole
    if scaled >= _FAST_LIMIT or -_TIE_MARGIN < fraction - 0.5 < _TIE_MARGIN:
        return _exact_blend(windows, weights, min_sellable_days)
    result: Velocity = _new(Velocity)
    _set_per_day(result, (whole + (fraction > 0.5)) / _SCALE)
    _set_by_window(result, tuple(by_window))
    return result
