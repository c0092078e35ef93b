"""The restock funnel's counting, rates, benchmark note, history start and chart, from constructed rows."""

from __future__ import annotations

import re
from datetime import date, datetime
from decimal import Decimal

from app.domain import funnel as fn

T0 = datetime(2026, 3, 1, 9, 0)


def _sub(sid: int, variant: int, product: int, day: int, confirmed: bool = True) -> fn.SubscriptionRow:
    return fn.SubscriptionRow(sid, variant, product, T0.replace(day=day), confirmed)


def _sent(sid: int, event: int, clicked: bool = False, bought: bool = False, revenue: str = "0") -> fn.DeliveryRow:
    return fn.DeliveryRow(sid, event, T0.replace(day=20), clicked, bought, Decimal(revenue))


SUBS = [
    _sub(1, 10, 100, 1),
    _sub(2, 10, 100, 2),
    _sub(3, 10, 100, 3, confirmed=False),
    _sub(4, 11, 100, 25),  # signed up after the restock of variant 10 (and of another variant)
    _sub(5, 20, 200, 4),
    _sub(6, 20, 200, 5),
]
SENT = [
    _sent(1, 900, clicked=True, bought=True, revenue="39.90"),
    _sent(2, 900, clicked=True),
    _sent(5, 901),
    _sent(6, 901, bought=True, revenue="12.50"),  # assisted: bought without a click
]
EVENTS = [
    fn.EventRow(900, 10, 100, T0.replace(day=20)),
    fn.EventRow(901, 20, 200, T0.replace(day=20)),
    fn.EventRow(902, 11, 100, T0.replace(day=10)),  # sent nothing yet: its waiting list is empty at that time
]


def test_by_product_counts_every_stage_and_the_revenue() -> None:
    funnels = fn.by_product(SUBS, SENT)
    assert funnels == {
        100: fn.Funnel(signups=4, confirmed=3, emailed=2, clicked=2, bought=1, revenue=Decimal("39.90")),
        200: fn.Funnel(signups=2, confirmed=2, emailed=2, clicked=0, bought=1, revenue=Decimal("12.50")),
    }
    assert funnels[100].conversion_rate == Decimal("0.5000")
    assert funnels[100].click_rate == Decimal("1.0000")
    assert funnels[100].stages() == [("Signups", 4), ("Confirmed", 3), ("Emailed", 2), ("Clicked", 2), ("Bought", 1)]


def test_by_restock_counts_the_waiting_list_at_the_restock_and_its_emails() -> None:
    funnels = fn.by_restock(EVENTS, SUBS, SENT)
    assert funnels[900] == fn.Funnel(3, 2, 2, 2, 1, Decimal("39.90"))
    assert funnels[901] == fn.Funnel(2, 2, 2, 0, 1, Decimal("12.50"))
    assert funnels[902] == fn.Funnel()
    assert fn.total(funnels.values()) == fn.Funnel(5, 4, 4, 2, 2, Decimal("52.40"))


def test_a_delivery_of_an_unknown_subscription_is_not_counted() -> None:
    assert fn.by_product(SUBS[:1], [_sent(99, 900, True, True, "5")]) == {100: fn.Funnel(signups=1, confirmed=1)}


def test_empty_history_gives_zeros_and_no_rate() -> None:
    empty = fn.total(fn.by_product([], []).values())
    assert empty == fn.Funnel(0, 0, 0, 0, 0, Decimal("0.00"))
    assert empty.conversion_rate is None
    assert empty.click_rate is None
    assert fn.percent(empty.conversion_rate) == "\u2013"
    assert fn.benchmark_note(None) == (
        "No restock email sent yet, so no conversion rate (restock emails commonly convert at 10-15 %)."
    )


def test_benchmark_note_places_the_rate_against_ten_to_fifteen_percent() -> None:
    assert fn.benchmark_note(Decimal("0.0500")) == "5 % is below the 10-15 % restock emails commonly convert at."
    assert fn.benchmark_note(Decimal("0.1000")) == "10 % is within the 10-15 % restock emails commonly convert at."
    assert fn.benchmark_note(Decimal("0.1250")) == "12.5 % is within the 10-15 % restock emails commonly convert at."
    assert fn.benchmark_note(Decimal("0.1500")) == "15 % is within the 10-15 % restock emails commonly convert at."
    assert fn.benchmark_note(Decimal("0.5000")) == "50 % is above the 10-15 % restock emails commonly convert at."


def test_history_start_is_the_earliest_row_or_the_install_day() -> None:
    installed = date(2026, 5, 1)
    assert fn.history_start([], installed) == installed
    assert fn.history_start([None, None], installed) == installed
    assert fn.history_start([datetime(2026, 4, 2, 23, 0), date(2026, 4, 9)], installed) == date(2026, 4, 2)
    assert fn.history_start([date(2026, 6, 1)], installed) == installed


def test_funnel_chart_draws_one_titled_bar_per_nonzero_stage_with_readable_labels() -> None:
    svg = str(fn.funnel_chart(fn.Funnel(8, 6, 4, 2, 0, Decimal("0")), title="Funnel <test>"))
    assert 'role="img"' in svg
    assert "<title>Funnel &lt;test&gt;</title>" in svg
    assert re.findall(r"<title>(\w+): (\d+)</title>", svg) == [
        ("Signups", "8"),
        ("Confirmed", "6"),
        ("Emailed", "4"),
        ("Clicked", "2"),
    ]
    # The widest bar is the first stage; each later bar is in proportion.
    widths = [float(w) for w in re.findall(r'class="funnel-bar"[^>]*width="([\d.]+)"', svg)]
    assert widths == [320.0, 240.0, 160.0, 80.0]
    # Labels stay at least 11 px when the chart is drawn at its narrowest (min-width on the Results page).
    sizes = {int(s) for s in re.findall(r'font-size="(\d+)"', svg)}
    assert sizes == {14}
    assert min(sizes) * fn.FUNNEL_MIN_WIDTH / fn.FUNNEL_WIDTH >= 11


def test_funnel_chart_of_an_empty_funnel_has_no_bars() -> None:
    svg = str(fn.funnel_chart(fn.Funnel(), title="Empty"))
    assert "funnel-bar" not in svg
    assert svg.count(">0</text>") == 5
