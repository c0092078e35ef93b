"""Restock waves: how many subscribers one wave may notify, and when not to send at all."""

from __future__ import annotations

import math

from app.domain.velocity import exact


def wave_size(sellable_quantity: int, ratio: float) -> int:
    """Subscribers one wave may notify: ceil(sellable_quantity * ratio), 0 when nothing is sellable.

    The ratio is taken as the decimal it was written as, so 3 * 1.0 is 3 and 10 * 0.1 is 1, where
    binary floats would make 10 * 0.1 round up to 2 after ceil on some values.
    """
    if not math.isfinite(ratio) or ratio <= 0:
        raise ValueError("ratio must be a finite number above 0")
    if sellable_quantity <= 0:
        return 0
    return math.ceil(sellable_quantity * exact(ratio))


def in_quiet_hours(local_hour: int, start: int | None, end: int | None) -> bool:
    """True when ``local_hour`` (store time) falls in [start, end), wrapping midnight when start > end.

    No quiet hours when either bound is None or start == end (an empty window, not a 24-hour one).
    """
    if not 0 <= local_hour <= 23:
        raise ValueError(f"hour must be 0-23, got {local_hour}")
    if start is None or end is None or start == end:
        return False
    if start < end:
        return start <= local_hour < end
    return local_hour >= start or local_hour < end
