"""Restock wave sizes and quiet hours."""

from __future__ import annotations

import pytest

from app.domain.waves import in_quiet_hours, wave_size


@pytest.mark.parametrize(
    ("quantity", "ratio", "expected"),
    [
        (3, 1.0, 3),
        (10, 0.1, 1),
        (100, 0.07, 7),  # 100 * 0.07 is 7.000000000000001 in binary floating point
        (10, 0.3, 3),
        (7, 0.5, 4),
        (1, 0.01, 1),
        (3, 10.0, 30),
        (4, 2.5, 10),
        (0, 1.0, 0),
        (-2, 1.0, 0),
    ],
)
def test_wave_size(quantity: int, ratio: float, expected: int) -> None:
    assert wave_size(quantity, ratio) == expected


@pytest.mark.parametrize("ratio", [0.0, -1.0, float("nan"), float("inf")])
def test_wave_size_rejects_a_ratio_that_is_not_positive(ratio: float) -> None:
    with pytest.raises(ValueError, match="ratio"):
        wave_size(5, ratio)


@pytest.mark.parametrize(
    ("hour", "start", "end", "expected"),
    [
        (22, 22, 7, True),
        (23, 22, 7, True),
        (0, 22, 7, True),
        (6, 22, 7, True),
        (7, 22, 7, False),
        (21, 22, 7, False),
        (12, 22, 7, False),
        (9, 9, 17, True),
        (16, 9, 17, True),
        (17, 9, 17, False),
        (8, 9, 17, False),
        (3, None, None, False),
        (3, 1, None, False),
        (3, None, 5, False),
        (3, 3, 3, False),
    ],
)
def test_in_quiet_hours(hour: int, start: int | None, end: int | None, expected: bool) -> None:
    assert in_quiet_hours(hour, start, end) is expected


@pytest.mark.parametrize("hour", [-1, 24])
def test_in_quiet_hours_rejects_an_impossible_hour(hour: int) -> None:
    with pytest.raises(ValueError, match="hour"):
        in_quiet_hours(hour, 22, 7)
