"""Campaign pages: the month calendar (campaigns across month edges, today marked, a bad month refused), each
at-risk variant's forecast beside its no-campaign baseline, sold-out variants kept out of the risks, the forecast's
progress while the recompute runs, and the product picker's names."""

from __future__ import annotations

import math
import re
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from fractions import Fraction

import pytest
from sqlalchemy import func, select

from app.db import Database
from app.models import Campaign, Product, StockState, Store, Variant
from app.services.stock import dirty
from app.services.stock.recompute import recompute
from tests.conftest import AppFactory
from tests.factories import add_sale, make_variant
from tests.integration.test_admin_planning import TODAY, Admin, day, live, recorded, settings_overrides

__all__ = ["live", "recorded", "settings_overrides"]

pytestmark = pytest.mark.integration

_CELL = re.compile(r'<td data-date="([0-9-]+)" class="([^"]+)"([^>]*)>(.*?)</td>', re.S)
_EVENT = re.compile(r'<li class="([^"]+)" data-campaign="[0-9]+"><a href="/admin/campaigns/[0-9]+">([^<]+)</a></li>')


def cells(html: str) -> list[tuple[str, str, list[tuple[str, str]]]]:
    """The calendar's day cells in order: (date, classes, [(campaign name, its bar's classes)])."""
    return [
        (d, classes, [(name, cls) for cls, name in _EVENT.findall(body)]) for d, classes, _, body in _CELL.findall(html)
    ]


def add_campaign(db: Database, store_id: int, name: str, starts: date, ends: date, status: str = "planned") -> int:
    with db.session() as s:
        c = Campaign(
            store_id=store_id,
            name=name,
            starts_on=starts,
            ends_on=ends,
            uplift_pct=Decimal("20"),
            product_ids=[],
            collections=["Summer"],
            status=status,
        )
        s.add(c)
        s.flush()
        return c.id


def run_dirty(db: Database, store_id: int) -> int:
    """What the recompute_dirty job does, in the test's process: recompute and forget the dirty variants."""
    with db.session() as s:
        batch = dirty.take_dirty_batch(s, store_id)
        recompute(s, store_id, [vid for vid, _ in batch], now=datetime.now(UTC))
        dirty.clear_dirty(s, batch)
        return len(batch)


def test_the_calendar_draws_campaigns_across_month_edges_and_leaves_cancelled_ones_out(recorded: Admin) -> None:
    db, sid = recorded.db, recorded.store_id
    end_of_winter = add_campaign(db, sid, "Winter end", date(2027, 2, 25), date(2027, 3, 3))
    add_campaign(db, sid, "Easter", date(2027, 3, 29), date(2027, 4, 4))
    add_campaign(db, sid, "One day", date(2027, 3, 15), date(2027, 3, 15))
    add_campaign(db, sid, "Called off", date(2027, 3, 10), date(2027, 3, 12), status="cancelled")

    resp = recorded.client.get("/admin/campaigns?month=2027-03")
    html = resp.get_data(as_text=True)
    assert resp.status_code == 200
    assert "<caption>March 2027</caption>" in html
    # 1 March 2027 is a Monday and the 31st a Wednesday: five weeks, 1 March to 4 April.
    days = cells(html)
    assert [d for d, _, _ in days] == [(date(2027, 3, 1) + timedelta(days=n)).isoformat() for n in range(35)]
    assert [re.findall(r'<th scope="row" class="cal-week">Week ([0-9]+)</th>', html)] == [["9", "10", "11", "12", "13"]]
    assert html.count('<th scope="col"><abbr title="Monday">Mon</abbr></th>') == 1
    by_day = {d: events for d, _, events in days}
    assert by_day["2027-03-01"] == [("Winter end", "cal-event cal-event--planned")]
    assert by_day["2027-03-02"] == [("Winter end", "cal-event cal-event--planned")]
    assert by_day["2027-03-03"] == [("Winter end", "cal-event cal-event--planned cal-event--end")]
    assert by_day["2027-03-15"] == [("One day", "cal-event cal-event--planned cal-event--start cal-event--end")]
    assert by_day["2027-03-29"] == [("Easter", "cal-event cal-event--planned cal-event--start")]
    assert by_day["2027-04-04"] == [("Easter", "cal-event cal-event--planned cal-event--end")]
    busy = sorted(d for d, events in by_day.items() if events)
    assert busy == ["2027-03-01", "2027-03-02", "2027-03-03", "2027-03-15"] + [f"2027-03-{n}" for n in (29, 30, 31)] + [
        "2027-04-01",
        "2027-04-02",
        "2027-04-03",
        "2027-04-04",
    ]
    assert "Called off" not in html.split('id="list-heading"')[0]
    outside = [d for d, classes, _ in days if "cal-day--outside" in classes]
    assert outside == ["2027-04-01", "2027-04-02", "2027-04-03", "2027-04-04"]
    assert 'href="/admin/campaigns?month=2027-02#calendar-heading"' in html
    assert 'href="/admin/campaigns?month=2027-04#calendar-heading"' in html
    assert f'<a href="/admin/campaigns/{end_of_winter}">Winter end</a>' in html

    # February 2027 is exactly four weeks: the campaign's bar ends at the grid's last day and starts on the 25th.
    feb = cells(recorded.client.get("/admin/campaigns?month=2027-02").get_data(as_text=True))
    assert (feb[0][0], feb[-1][0], len(feb)) == ("2027-02-01", "2027-02-28", 28)
    assert [d for d, _, events in feb if events] == ["2027-02-25", "2027-02-26", "2027-02-27", "2027-02-28"]
    assert feb[24][2] == [("Winter end", "cal-event cal-event--planned cal-event--start")]
    # The list below still names every campaign, the cancelled one too.
    assert html.count('<td><a href="/admin/campaigns/') == 4


def test_the_calendar_opens_on_this_month_with_today_marked(recorded: Admin) -> None:
    html = recorded.client.get("/admin/campaigns").get_data(as_text=True)
    days = cells(html)
    today = [(d, classes, attrs) for d, classes, attrs, _ in _CELL.findall(html) if "cal-day--today" in classes]
    assert today == [(TODAY.isoformat(), "cal-day cal-day--today", ' aria-current="date"')]
    assert html.count('aria-current="date"') == 1
    assert f"<caption>{TODAY.strftime('%B %Y')}</caption>" in html
    assert {d for d, classes, _ in days if "outside" not in classes} == {
        TODAY.replace(day=n).isoformat() for n in range(1, 32) if _valid(TODAY.year, TODAY.month, n)
    }
    assert 'id="cal-today"' not in html


def _valid(year: int, month: int, day_: int) -> bool:
    try:
        date(year, month, day_)
    except ValueError:
        return False
    return True


@pytest.mark.parametrize(
    ("month", "message"),
    [
        ("2027-13", "Unknown month &#39;2027-13&#39;: the month is 01 to 12."),
        ("March", "Unknown month &#39;March&#39;: write it as YYYY-MM, for example "),
        ("1999-12", "Unknown month &#39;1999-12&#39;: the calendar shows 2000 to 2999."),
        ("2027-3", "Unknown month &#39;2027-3&#39;: write it as YYYY-MM"),
    ],
)
def test_a_bad_month_is_a_400_naming_it_and_shows_this_month(recorded: Admin, month: str, message: str) -> None:
    add_campaign(recorded.db, recorded.store_id, "Kept", TODAY, TODAY)
    resp = recorded.client.get("/admin/campaigns", query_string={"month": month})
    html = resp.get_data(as_text=True)
    assert resp.status_code == 400
    assert '<p class="flash flash--error" role="alert" id="month-error">' + message in html
    assert f"<caption>{TODAY.strftime('%B %Y')}</caption>" in html
    with recorded.db.session() as s:
        assert s.scalar(select(func.count()).select_from(Campaign)) == 1
    assert (recorded.dirty(), recorded.jobs.specs) == ([], [])


@pytest.fixture
def with_sold_out(live: Admin) -> Iterator[tuple[Admin, int]]:
    """The live admin with a third variant of the product: sold out now after selling 1 a day."""
    now = datetime.now(UTC)
    with live.db.session() as s:
        product = s.get(Product, live.product_id)
        assert product is not None
        store = s.get(Store, live.store_id)
        assert store is not None
        gone = make_variant(s, store, qty=0, sku="TEE-L", product=product)
        for n in range(7):
            add_sale(s, gone, 1, days_ago=n + 0.5, now=now)
        recompute(s, live.store_id, now=now)
        vid = gone.id
    yield live, vid


def test_the_campaign_page_puts_the_forecast_beside_its_baseline_and_sold_out_variants_apart(
    with_sold_out: tuple[Admin, int],
) -> None:
    live, gone = with_sold_out
    v2 = live.variant_ids[1]
    gone_state = live.state(gone)
    assert (gone_state.sellable_quantity, gone_state.status) == (0, "out_of_stock")
    assert gone_state.velocity > 0  # it sold: without the rule it would be short on the campaign's first day
    resp = live.post(
        "/admin/campaigns",
        {"name": "Tee week", "starts_on": day(2), "ends_on": day(9), "uplift_pct": "100", "collections": "Summer"},
    )
    assert resp.status_code == 302
    # 20 units at v a day (v read as the 4-dp decimal the engine stores): days 0-1 use 2v; on the campaign's 8 days
    # the rest goes at 2v a day. Without the uplift the same 8 days ask for 8v and the stock lasts to day ⌊20 ÷ v⌋.
    v = Fraction(str(live.state(v2).velocity))
    left = 20 - 2 * v
    assert 8 * v < left < 16 * v  # the campaign sells it out, the baseline does not
    with_out = 2 + math.floor(left / (2 * v))
    with live.db.session() as s:
        camp_id = s.scalars(select(Campaign.id)).one()
        risks = s.execute(
            select(StockState.variant_id, StockState.campaign_stockout_on).where(StockState.campaign_id == camp_id)
        ).all()
    assert risks == [(v2, TODAY + timedelta(days=with_out))]
    html = live.client.get(f"/admin/campaigns/{camp_id}").get_data(as_text=True)
    assert '<span id="targeted">3</span>' in html
    assert '<span id="sell-out-count">1</span>' in html
    row = re.search(rf'<tr data-variant="{v2}">(.*?)</tr>', html, re.S)
    assert row is not None
    figures = dict(re.findall(r'data-figure="([a-z-]+)">(.*?)</td>', row.group(1)))
    baseline_out = day(math.floor(20 / v))
    assert figures == {
        "baseline-sold": f"{float(8 * v):.1f}",
        "campaign-sold": f"{float(left):.1f}",
        "baseline-sells-out": f'<time datetime="{baseline_out}">{baseline_out}</time>',
        "campaign-sells-out": f'<time datetime="{day(with_out)}">{day(with_out)}</time>',
    }
    sell_outs = html.split('id="sell-outs"')[1].split("</table>")[0]
    assert "TEE-L" not in sell_outs
    sold_out = html.split('id="already-sold-out"')[1].split("</table>")[0]
    # The product's first variant never sold and has none either: both are sold out, neither is a risk.
    assert sorted(re.findall(r'<tr data-variant="([0-9]+)">', sold_out)) == sorted(
        [str(live.variant_ids[0]), str(gone)]
    )
    assert "<td>out of stock</td>" in sold_out
    listing = live.client.get("/admin/campaigns").get_data(as_text=True)
    assert re.search(rf'<a href="/admin/campaigns/{camp_id}">Tee week</a>.*?<td class="num">1</td>', listing, re.S)


def test_the_forecast_says_what_is_computed_and_when_until_the_recompute_is_done(recorded: Admin) -> None:
    resp = recorded.post(
        "/admin/campaigns",
        {"name": "Tee week", "starts_on": day(2), "ends_on": day(9), "uplift_pct": "100", "collections": "Summer"},
    )
    assert resp.status_code == 302
    with recorded.db.session() as s:
        camp_id = s.scalars(select(Campaign.id)).one()
        computed = s.scalar(select(func.max(StockState.computed_at)))
    assert computed is not None
    stamp = computed.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")
    html = recorded.client.get(f"/admin/campaigns/{camp_id}").get_data(as_text=True)
    assert f'data-progress-url="/admin/campaigns/{camp_id}/progress"' in html
    assert 'id="no-sell-outs-yet"' in html and 'id="no-sell-outs"' not in html
    listing = recorded.client.get("/admin/campaigns").get_data(as_text=True)
    assert '<span class="computing">being computed (2 variants to go)</span>' in listing

    body = recorded.client.get(f"/admin/campaigns/{camp_id}/progress").get_json()
    queued = body.pop("queued_since")
    assert queued is not None
    assert body == {
        "targeted": 2,
        "pending": 2,
        "sell_outs": 0,
        "computed_at": computed.isoformat(),
        "message": (
            "Working out the stock forecast of 2 of 2 variants in this campaign, with its uplift (queued "
            f"{datetime.fromisoformat(queued).astimezone(UTC).strftime('%Y-%m-%d %H:%M UTC')}). Last computed "
            f"{stamp}. This page updates by itself when it is done."
        ),
    }

    assert run_dirty(recorded.db, recorded.store_id) == 2
    done = recorded.client.get(f"/admin/campaigns/{camp_id}/progress").get_json()
    with recorded.db.session() as s:
        latest = s.scalar(select(func.max(StockState.computed_at)))
    assert latest is not None
    assert (done["pending"], done["sell_outs"], done["queued_since"]) == (0, 1, None)
    assert done["message"] == (
        f"The forecasts of all 2 variants are up to date. Last computed {latest.astimezone(UTC):%Y-%m-%d %H:%M UTC}."
    )
    page = recorded.client.get(f"/admin/campaigns/{camp_id}").get_data(as_text=True)
    assert "forecast-progress" not in page and '<span id="sell-out-count">1</span>' in page


def test_progress_of_another_stores_campaign_is_a_404(recorded: Admin, db: Database, make_app: AppFactory) -> None:
    with db.session() as s:
        other_store = s.scalars(select(Product.store_id).where(Product.id == recorded.other_product_id)).one()
    other = add_campaign(db, other_store, "Theirs", TODAY, TODAY)
    assert recorded.client.get(f"/admin/campaigns/{other}/progress").status_code == 404


def test_the_picker_names_products_apart_by_variants_and_skus(recorded: Admin) -> None:
    with recorded.db.session() as s:
        store = s.get(Store, recorded.store_id)
        assert store is not None
        blue = make_variant(s, store, qty=5, sku="LS-BLUE", title="Default Title")
        red = make_variant(s, store, qty=5, sku="LS-RED", title="Default Title")
        twin_a = make_variant(s, store, qty=5, sku="", title="Large")
        twin_b = make_variant(s, store, qty=5, sku="", title="Large")
        ids = {}
        for v, title in ((blue, "Linen Shirt"), (red, "Linen Shirt"), (twin_a, "Mug"), (twin_b, "Mug")):
            product = s.get(Product, v.product_id)
            assert product is not None
            product.title = title
            ids[v.sku or f"mug{len(ids)}"] = v.product_id
    html = recorded.client.get("/admin/campaigns").get_data(as_text=True)
    assert '<select id="product_ids"' not in html
    items = re.findall(
        r'<li data-search="([^"]*)"><label><input type="checkbox" name="product_ids" value="([0-9]+)">\s*'
        r'<span class="picker__title">([^<]*)</span> <span class="picker__detail">([^<]*)</span>',
        html,
    )
    named = {int(pid): (title, detail, search) for search, pid, title, detail in items}
    assert named[ids["LS-BLUE"]] == ("Linen Shirt", "1 variant: LS-BLUE", "linen shirt default title ls-blue")
    assert named[ids["LS-RED"]] == ("Linen Shirt", "1 variant: LS-RED", "linen shirt default title ls-red")
    mugs = sorted((ids["mug2"], ids["mug3"]))
    assert [named[m][:2] for m in mugs] == [("Mug", f"1 variant: Large · product #{m}") for m in mugs]
    with recorded.db.session() as s:
        tee = s.scalars(select(Variant.title).where(Variant.id.in_(recorded.variant_ids)).order_by(Variant.id)).all()
    assert named[recorded.product_id][1] == f"2 variants: {tee[0]} (TEE-S), {tee[1]} (TEE-M)"
    assert [title for _, _, title, _ in items] == sorted(title for _, _, title, _ in items)
    assert '<input id="product-filter" type="search"' in html


def test_ticked_products_plan_the_campaign_and_stay_ticked_after_an_error(recorded: Admin) -> None:
    pid = recorded.product_id
    form = {"starts_on": day(1), "ends_on": day(2), "uplift_pct": "5", "product_ids": str(pid)}
    bad = recorded.post("/admin/campaigns", {**form, "name": ""})
    assert bad.status_code == 400
    html = bad.get_data(as_text=True)
    assert f'<input type="checkbox" name="product_ids" value="{pid}" checked>' in html
    with recorded.db.session() as s:
        assert s.scalar(select(func.count()).select_from(Campaign)) == 0
    ok = recorded.post("/admin/campaigns", {**form, "name": "Tees"})
    assert ok.status_code == 302
    with recorded.db.session() as s:
        assert s.scalars(select(Campaign.product_ids)).one() == [pid]
