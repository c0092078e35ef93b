"""The campaign calendar's month grid and month parameter, and a campaign's forecast beside its baseline."""

from __future__ import annotations

from datetime import date, timedelta
from fractions import Fraction

import pytest

from app.domain.campaign_calendar import MonthError, Span, grid_bounds, month_grid, month_param, parse_month
from app.domain.campaign_forecast import Outlook, compare
from app.domain.stock import CampaignWindow, IncomingStock, campaign_risk

TODAY = date(2027, 3, 10)  # a Wednesday


def day(offset: int) -> date:
    return TODAY + timedelta(days=offset)


# --- the month grid -------------------------------------------------------------------------------


def test_parse_month_reads_yyyy_mm_and_defaults_to_todays_month() -> None:
    assert parse_month("", TODAY) == date(2027, 3, 1)
    assert parse_month("2026-12", TODAY) == date(2026, 12, 1)
    assert month_param(date(2031, 1, 1)) == "2031-01"


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("2027-00", "Unknown month '2027-00': the month is 01 to 12."),
        ("2027-1", "Unknown month '2027-1': write it as YYYY-MM, for example 2027-03."),
        ("3000-01", "Unknown month '3000-01': the calendar shows 2000 to 2999."),
        ("２０２７-03", "Unknown month '２０２７-03': write it as YYYY-MM, for example 2027-03."),
        ("2027-03 ", "Unknown month '2027-03 ': write it as YYYY-MM, for example 2027-03."),
    ],
)
def test_parse_month_refuses_what_it_cannot_show(raw: str, message: str) -> None:
    with pytest.raises(MonthError) as caught:
        parse_month(raw, TODAY)
    assert str(caught.value) == message


def test_grid_bounds_run_monday_to_sunday() -> None:
    assert grid_bounds(date(2027, 3, 1)) == (date(2027, 3, 1), date(2027, 4, 4))
    assert grid_bounds(date(2027, 2, 1)) == (date(2027, 2, 1), date(2027, 2, 28))
    assert grid_bounds(date(2026, 12, 1)) == (date(2026, 11, 30), date(2027, 1, 3))


def test_month_grid_puts_each_campaign_on_its_days_in_start_order() -> None:
    late = Span(2, "Late", date(2027, 3, 3), date(2027, 3, 4), "planned")
    early = Span(1, "Early", date(2027, 2, 20), date(2027, 3, 3), "planned")
    gone = Span(3, "Far", date(2027, 6, 1), date(2027, 6, 2), "planned")
    grid = month_grid(date(2027, 3, 1), [late, gone, early], TODAY)
    assert (grid.label, grid.start, grid.end, len(grid.weeks)) == ("March 2027", date(2027, 3, 1), date(2027, 4, 4), 5)
    assert (grid.previous, grid.next) == (date(2027, 2, 1), date(2027, 4, 1))
    days = {d.day: d for week in grid.weeks for d in week}
    assert [(e.span.name, e.starts, e.ends) for e in days[date(2027, 3, 3)].entries] == [
        ("Early", False, True),
        ("Late", True, False),
    ]
    assert [(e.span.name, e.starts, e.ends) for e in days[date(2027, 3, 4)].entries] == [("Late", False, True)]
    assert [d.day for d in days.values() if d.today] == [TODAY]
    assert [d.day for d in days.values() if not d.in_month] == [date(2027, 4, n) for n in range(1, 5)]
    assert sum(len(d.entries) for d in days.values()) == 3 + 2


def test_the_first_and_last_months_have_no_link_beyond() -> None:
    assert month_grid(date(2000, 1, 1), [], TODAY).previous is None
    assert month_grid(date(2999, 12, 1), [], TODAY).next is None


# --- the forecast beside its baseline -------------------------------------------------------------


def window(cid: int, start: int, end: int, uplift: float = 100.0) -> CampaignWindow:
    return CampaignWindow(cid, day(start), day(end), uplift)


def test_the_baseline_leaves_the_campaigns_uplift_out() -> None:
    # 20 units at 2 a day; campaign days 2-6 at +100 %. Days 0-1 use 4. With it the 16 left go at 4 a day and day 6
    # is short; without it days 2-6 ask for 10 and the stock lasts until day 10.
    result = compare(20, 2.0, (), (window(7, 2, 6),), 7, TODAY)
    assert result is not None
    assert (result.first_day, result.last_day) == (day(2), day(6))
    assert result.with_campaign == Outlook(Fraction(20), Fraction(16), day(6))
    assert result.baseline == Outlook(Fraction(10), Fraction(10), day(10))
    risk = campaign_risk(20, 2.0, (), (window(7, 2, 6),), TODAY)
    assert risk is not None and risk.stockout_on == result.with_campaign.sells_out_on


def test_incoming_stock_and_other_campaigns_count_in_both() -> None:
    # 10 units at 1.5 a day, 30 more on day 4; this campaign days 3-8 at +50 %, another days 5-6 at +100 %.
    # Days 0-2 use 4.5 (5.5 left). With both: day 3 asks 2.25 (3.25 left), day 4 gets 30 (33.25) and asks 2.25,
    # days 5-6 ask 3.75 each, days 7-8 2.25 each: 16.5 asked, all sold, 19 left; at 1.5 a day day 21 is short.
    # Baseline: 1.5, 1.5, 3, 3, 1.5, 1.5 = 12 asked and sold, 23.5 left after day 8: day 24 is short.
    incoming = (IncomingStock(30, day(4)),)
    campaigns = (window(1, 3, 8, 50.0), window(2, 5, 6))
    result = compare(10, 1.5, incoming, campaigns, 1, TODAY)
    assert result is not None
    assert result.with_campaign == Outlook(Fraction(33, 2), Fraction(33, 2), day(21))
    assert result.baseline == Outlook(Fraction(12), Fraction(12), day(24))


def test_owed_stock_sells_nothing_until_incoming_pays_it_off() -> None:
    # 3 owed at 1 a day; 5 arrive on day 2 (2 left after the debt), campaign days 1-4 at +100 %: day 1 is short
    # either way, and of the 8 (or 4) units asked on days 1-4 only the 2 left after the debt are sold.
    result = compare(-3, 1.0, (IncomingStock(5, day(2)),), (window(4, 1, 4),), 4, TODAY)
    assert result is not None
    assert result.with_campaign == Outlook(Fraction(8), Fraction(2), day(1))
    assert result.baseline == Outlook(Fraction(4), Fraction(2), day(1))


def test_a_running_campaign_counts_from_today_and_an_ended_one_has_no_forecast() -> None:
    # 30 units; days 0-4 of the campaign are left, at 4 a day (20) or 2 a day (10). With it the 10 left last to
    # day 9 (short day 10); without it the 20 left last to day 14.
    result = compare(30, 2.0, (), (window(5, -3, 4),), 5, TODAY)
    assert result is not None
    assert (result.first_day, result.with_campaign, result.baseline) == (
        TODAY,
        Outlook(Fraction(20), Fraction(20), day(10)),
        Outlook(Fraction(10), Fraction(10), day(15)),
    )
    assert compare(30, 2.0, (), (window(5, -9, -1),), 5, TODAY) is None
    assert compare(30, 2.0, (), (window(6, 1, 2),), 5, TODAY) is None


def test_no_sales_sell_nothing_and_never_run_out_with_stock() -> None:
    result = compare(5, 0.0, (), (window(1, 0, 2),), 1, TODAY)
    assert result is not None
    assert result.with_campaign == result.baseline == Outlook(Fraction(0), Fraction(0), None)
