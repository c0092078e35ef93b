"""The campaign calendar: a month as weeks of days (Monday first), each day with the campaigns running on it.

Pure: the caller reads the campaigns and the store's today; a month outside MIN_YEAR..MAX_YEAR or not written
``YYYY-MM`` is refused with a message the merchant can act on.
"""

from __future__ import annotations

import calendar
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, timedelta

MIN_YEAR = 2000
MAX_YEAR = 2999
_MONTH = re.compile(r"([0-9]{4})-([0-9]{2})")


class MonthError(ValueError):
    """A month parameter the calendar cannot show."""


@dataclass(frozen=True, slots=True)
class Span:
    """A campaign as the calendar draws it: its days and what to call it."""

    campaign_id: int
    name: str
    starts_on: date
    ends_on: date
    status: str


@dataclass(frozen=True, slots=True)
class Entry:
    """A campaign on one day: whether its bar starts or ends there (it may go on past the day's week)."""

    span: Span
    starts: bool
    ends: bool


@dataclass(frozen=True, slots=True)
class Day:
    """One cell of the month grid."""

    day: date
    in_month: bool
    today: bool
    entries: tuple[Entry, ...]


@dataclass(frozen=True, slots=True)
class MonthGrid:
    """A month as weeks (rows of seven days, Monday first) and the months before and after it, if shown."""

    first: date
    weeks: tuple[tuple[Day, ...], ...]
    previous: date | None
    next: date | None

    @property
    def label(self) -> str:
        """The month as a heading reads it, e.g. "March 2027"."""
        return f"{calendar.month_name[self.first.month]} {self.first.year}"

    @property
    def start(self) -> date:
        """The grid's first day (a Monday, possibly in the month before)."""
        return self.weeks[0][0].day

    @property
    def end(self) -> date:
        """The grid's last day (a Sunday, possibly in the month after)."""
        return self.weeks[-1][-1].day


def month_param(first: date) -> str:
    """The ``month`` query value naming the month of ``first``."""
    return f"{first.year:04d}-{first.month:02d}"


def parse_month(raw: str, today: date) -> date:
    """The first day of the month written ``YYYY-MM`` (empty: today's month); MonthError says what is wrong."""
    if not raw:
        return today.replace(day=1)
    match = _MONTH.fullmatch(raw)
    if match is None:
        raise MonthError(f"Unknown month {raw[:40]!r}: write it as YYYY-MM, for example {month_param(today)}.")
    year, month = int(match.group(1)), int(match.group(2))
    if not 1 <= month <= 12:
        raise MonthError(f"Unknown month {raw!r}: the month is 01 to 12.")
    if not MIN_YEAR <= year <= MAX_YEAR:
        raise MonthError(f"Unknown month {raw!r}: the calendar shows {MIN_YEAR} to {MAX_YEAR}.")
    return date(year, month, 1)


def grid_bounds(first: date) -> tuple[date, date]:
    """The Monday before (or on) the month's first day and the Sunday after (or on) its last day."""
    last = first.replace(day=calendar.monthrange(first.year, first.month)[1])
    return first - timedelta(days=first.weekday()), last + timedelta(days=6 - last.weekday())


def _shift(first: date, months: int) -> date | None:
    index = first.year * 12 + first.month - 1 + months
    year, month = divmod(index, 12)
    return date(year, month + 1, 1) if MIN_YEAR <= year <= MAX_YEAR else None


def month_grid(first: date, spans: Iterable[Span], today: date) -> MonthGrid:
    """The month of ``first`` as weeks, each day listing the campaigns running on it in start order."""
    start, end = grid_bounds(first)
    ordered = sorted(
        (s for s in spans if s.starts_on <= end and s.ends_on >= start), key=lambda s: (s.starts_on, s.campaign_id)
    )
    weeks: list[tuple[Day, ...]] = []
    day = start
    while day <= end:
        week = []
        for _ in range(7):
            entries = tuple(
                Entry(s, s.starts_on == day, s.ends_on == day) for s in ordered if s.starts_on <= day <= s.ends_on
            )
            week.append(Day(day, day.month == first.month, day == today, entries))
            day += timedelta(days=1)
        weeks.append(tuple(week))
    return MonthGrid(first, tuple(weeks), _shift(first, -1), _shift(first, 1))
