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
from typing import cast

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
_FRACTION_ZERO = Fraction(0)


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


class _NearTie(Exception):
    """A float figure that cannot be trusted to round like the exact one: too near a tie, or out of range."""


_Real = float | Fraction  # the arithmetic of a run: floats first, fractions where floats are not trusted


def _check_weights(weights: Sequence[float]) -> None:
    for weight in weights:
        # One chained comparison rejects negatives, NaN and infinity.
        if not 0 <= weight < _INF:
            raise ValueError("weights must be finite and not negative")


def _rounded(figure: _Real, exactly: bool) -> float:
    """The figure rounded half to even to 4 dp; in the float run, _NearTie where that is not certain."""
    if exactly:
        return float(round(cast(Fraction, figure), VELOCITY_DECIMALS))
    scaled = figure * _SCALE
    whole = int(scaled)
    fraction = scaled - whole
    if scaled >= _FAST_LIMIT or -_TIE_MARGIN < fraction - 0.5 < _TIE_MARGIN:
        raise _NearTie
    return (whole + (fraction > 0.5)) / _SCALE


def _blend(
    windows: Sequence[WindowSales], weights: Sequence[float], min_sellable_days: float, exactly: bool
) -> Velocity:
    # The one implementation of the rules, run in floats first and, where that raises _NearTie, again
    # in fractions (exactly). Floats compare exactly as the decimals they were written as do, so which
    # windows count is decided alike in both runs; only the arithmetic differs.
    if exactly:
        # The exact run checks every weight before it reads a window, as it always has: an input with
        # a bad weight and an out-of-range rate reports the weight. The float run checks each in turn.
        _check_weights(weights)
    finite = -_INF < min_sellable_days < _INF
    # exact() refuses a non-finite minimum, but only once a window gets as far as comparing with it:
    # no window counts here, and below that raises if one had sellable time.
    minimum = min_sellable_days if finite else _INF
    by_window: list[float | None] = []
    # A zero of the run's own type: float arithmetic is fastest between floats, and 0.0 would make fractions floats.
    weighted: _Real = _FRACTION_ZERO if exactly else 0.0
    total_weight = plain = weighted
    rated = 0
    for index in range(len(windows)):
        weight = weights[index]
        if not 0 <= weight < _INF:  # as in _check_weights
            raise ValueError("weights must be finite and not negative")
        window = windows[index]
        sellable = window.sellable_days
        days = window.days
        # More sellable time than the window has is bad input; trusting it would understate demand.
        if sellable > days:
            sellable = days
        if sellable <= 0 or sellable < minimum:
            by_window.append(None)
            continue
        units = window.units_net
        share: _Real = exact(weight) if exactly else weight
        # Refunds exceeding sales are returns of earlier demand, not negative demand.
        rate = (units if units > 0 else 0) / (exact(sellable) if exactly else sellable)
        by_window.append(_rounded(rate, exactly))
        weighted += rate * share
        total_weight += share
        plain += rate
        rated += 1
    if not finite and any(window.sellable_days > 0 for window in windows):
        exact(min_sellable_days)  # raises
    if not rated:
        per_day = 0.0
    elif total_weight > 0:
        if total_weight < _MIN_WEIGHT_SUM and not exactly:
            raise _NearTie
        per_day = _rounded(weighted / total_weight, exactly)
    else:
        # Every qualifying window has weight 0: a variant that demonstrably sells must not read as zero
        # demand because of how the weights were set, so the plain mean of their rates is used.
        per_day = _rounded(plain / rated, exactly)
    result: Velocity = _new(Velocity)
    _set_per_day(result, per_day)
    _set_by_window(result, tuple(by_window))
    return result


def window_rate(window: WindowSales, min_sellable_days: float = 1.0) -> float | None:
    """Units per sellable day in one window, rounded to 4 dp; None below ``min_sellable_days``."""
    # Straight to the exact run, as window_rate always was: it is not on the engine's path.
    return _blend((window,), (1.0,), min_sellable_days, True).by_window[0]


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
    if count <= _MAX_FAST_WINDOWS:
        try:
            return _blend(windows, weights, min_sellable_days, False)
        except _NearTie:
            pass
    return _blend(windows, weights, min_sellable_days, True)
