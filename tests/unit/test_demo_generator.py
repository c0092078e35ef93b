"""The demo generator: deterministic, realistic in shape, and consistent between its streams."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Generator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest

from integrations.base import (
    InventoryRecord,
    OrderRecord,
    ProductRecord,
    PurchaseOrderRecord,
    StockChangeRecord,
    StoreAdapter,
)
from integrations.demo import DemoSignup, DemoStoreAdapter, generate

TODAY = date(2026, 11, 22)
START = datetime(2026, 5, 26, tzinfo=UTC)  # 180 days before TODAY
END = datetime(2026, 11, 22, tzinfo=UTC)
SPIKE_PRODUCTS = ("demo-p-11", "demo-p-23")  # the catalog's fixed viral positions


@dataclass
class Demo:
    products: list[ProductRecord]
    orders: list[OrderRecord]
    inventory: list[InventoryRecord]
    purchase_orders: list[PurchaseOrderRecord]
    changes: list[StockChangeRecord]
    signups: list[DemoSignup]


def _materialise(seed: int = 7, variants: int = 500) -> Demo:
    demo = generate(seed, variants, 180, today=TODAY)
    return Demo(
        products=list(demo.iter_products()),
        orders=list(demo.iter_orders()),
        inventory=list(demo.iter_inventory()),
        purchase_orders=list(demo.iter_purchase_orders()),
        changes=list(demo.iter_stock_changes()),
        signups=list(demo.iter_signups()),
    )


@pytest.fixture(scope="module")
def demo() -> Demo:
    return _materialise()


def _variants(demo: Demo) -> dict[str, tuple[ProductRecord, int]]:
    return {v.external_id: (p, i) for p in demo.products for i, v in enumerate(p.variants)}


def _deny_tracked(demo: Demo) -> set[str]:
    return {v.external_id for p in demo.products for v in p.variants if v.tracked and v.inventory_policy == "deny"}


def _stock(demo: Demo) -> dict[str, int]:
    totals: dict[str, int] = defaultdict(int)
    for level in demo.inventory:
        totals[level.variant_external_id] += level.available or 0
    return totals


def test_same_seed_gives_identical_output(demo: Demo) -> None:
    again = _materialise()
    assert again.products == demo.products
    assert again.orders == demo.orders
    assert again.inventory == demo.inventory
    assert again.purchase_orders == demo.purchase_orders
    assert again.changes == demo.changes
    assert again.signups == demo.signups


def test_different_seed_gives_different_output(demo: Demo) -> None:
    other = generate(8, 500, 180, today=TODAY)
    assert [p.title for p in other.iter_products()] != [p.title for p in demo.products]
    assert next(other.iter_orders()) != demo.orders[0]
    assert other.summary().order_lines == 10737


def test_exact_counts_of_the_default_store(demo: Demo) -> None:
    variants = [v for p in demo.products for v in p.variants]
    stock = _stock(demo)
    deny = _deny_tracked(demo)
    assert len(demo.products) == 152
    assert len(variants) == 500
    assert len(demo.orders) == 6105
    assert sum(len(o.lines) for o in demo.orders) == 10677
    assert sum(1 for o in demo.orders if o.cancelled_at is not None) == 132
    assert sum(len(o.refunds) for o in demo.orders) == 157
    assert sum(len(r.lines) for o in demo.orders for r in o.refunds) == 195
    assert sum(1 for p in demo.products for v in p.variants if v.external_id in deny and p.published) == 486
    assert sum(1 for ext in deny if stock[ext] <= 0) == 30
    assert len(demo.purchase_orders) == 66
    assert sum(1 for v in variants if not v.tracked) == 6
    assert sum(1 for v in variants if v.inventory_policy == "continue") == 7
    assert sum(1 for p in demo.products if not p.published) == 1
    assert len(demo.signups) == 96
    assert Counter(c.kind for c in demo.changes) == {"sellout": 182, "restock": 152}
    assert len(demo.inventory) == 1000


def test_summary_agrees_with_the_streams(demo: Demo) -> None:
    s = generate(today=TODAY).summary()
    assert (s.products, s.variants, s.orders, s.order_lines) == (152, 500, 6105, 10677)
    assert (s.sold_out, s.low_stock, s.overstocked, s.open_purchase_orders) == (30, 60, 44, 66)
    assert (s.untracked, s.continue_policy, s.unpublished_products, s.signups) == (6, 7, 1, 96)
    assert (s.stock_changes, s.sellouts, s.restocks, s.cancelled_orders, s.refunds) == (334, 182, 152, 132, 157)


def test_catalog_looks_like_a_shop(demo: Demo) -> None:
    variants = [v for p in demo.products for v in p.variants]
    prices = [v.price for v in variants]
    assert min(prices) == Decimal("12.00")
    assert max(prices) == Decimal("181.00")
    sizes = Counter(len(p.variants) for p in demo.products)
    assert sizes[1] == 79  # single-variant products
    assert sizes[15] == 7  # five sizes in three colours
    sized = [p for p in demo.products if {v.options.get("Size") for v in p.variants} == {"XS", "S", "M", "L", "XL"}]
    assert len(sized) == 32
    assert {c for p in demo.products for c in p.collections} >= {"knitwear", "kitchen", "summer"}
    assert len({p.supplier for p in demo.products if p.supplier}) == 5
    gift = demo.products[0]
    assert gift.title == "Northwind Gift Card"
    assert [v.price for v in gift.variants] == [Decimal(25), Decimal(50), Decimal(100), Decimal(150)]
    assert not any(v.tracked for v in gift.variants)
    draft = [p for p in demo.products if not p.published]
    assert [(p.external_id, p.status) for p in draft] == [("demo-p-3", "draft")]
    assert len({v.sku for v in variants}) == 500
    assert len({v.external_id for v in variants}) == 500


def test_suppliers_and_lead_times() -> None:
    suppliers = list(generate(today=TODAY).iter_suppliers())
    assert 3 <= len(suppliers) <= 5
    assert sorted(s.lead_time_days for s in suppliers) == [7, 14, 21, 35, 45]


def test_orders_cover_the_180_days_before_today(demo: Demo) -> None:
    days = sorted({o.ordered_at.date() for o in demo.orders})
    assert days[0] == START.date()
    assert days[-1] == TODAY - timedelta(days=1)
    assert len(days) == 180
    assert all(START <= o.ordered_at < END for o in demo.orders)
    assert [o.ordered_at for o in demo.orders] == sorted(o.ordered_at for o in demo.orders)
    assert all(o.email and o.email.endswith("@example.com") for o in demo.orders)
    assert all(o.currency == "EUR" for o in demo.orders)
    assert sum(1 for o in demo.orders if len(o.lines) > 1) == 2755


def test_order_totals_refunds_and_cancellations(demo: Demo) -> None:
    for o in demo.orders:
        assert o.total == sum((line.price * line.quantity for line in o.lines), Decimal(0))
        if o.cancelled_at is not None:
            assert o.ordered_at < o.cancelled_at < END
            assert o.financial_status == "voided" and not o.refunds
        line_qty = {line.external_id: line.quantity for line in o.lines}
        for refund in o.refunds:
            assert o.ordered_at < refund.refunded_at < END
            assert all(0 < rl.quantity <= line_qty[rl.line_external_id] for rl in refund.lines)
    statuses = Counter(o.financial_status for o in demo.orders)
    assert statuses == {"paid": 5816, "voided": 132, "refunded": 110, "partially_refunded": 47}


def test_refunds_can_exceed_a_days_sales(demo: Demo) -> None:
    sold: Counter[tuple[str, date]] = Counter()
    refunded: Counter[tuple[str, date]] = Counter()
    for o in demo.orders:
        variant_of = {line.external_id: line.variant_external_id or "" for line in o.lines}
        if o.cancelled_at is None:
            for line in o.lines:
                sold[(variant_of[line.external_id], o.ordered_at.date())] += line.quantity
        for refund in o.refunds:
            for rl in refund.lines:
                refunded[(variant_of[rl.line_external_id], refund.refunded_at.date())] += rl.quantity
    # Net sales of a variant can be negative on a day: velocity code must cope with that.
    assert sum(1 for key, q in refunded.items() if q > sold[key]) == 159


def test_no_sales_while_sold_out(demo: Demo) -> None:
    deny = _deny_tracked(demo)
    spans: dict[str, list[tuple[datetime, datetime]]] = defaultdict(list)
    open_since: dict[str, datetime] = {}
    for c in demo.changes:
        if c.kind == "sellout":
            open_since[c.variant_external_id] = c.occurred_at
        else:
            spans[c.variant_external_id].append((open_since.pop(c.variant_external_id), c.occurred_at))
    for ext, since in open_since.items():
        spans[ext].append((since, END))
    sold_out_days = 0
    for o in demo.orders:
        for line in o.lines:
            ext = line.variant_external_id or ""
            if ext in deny:
                assert not any(s < o.ordered_at < e for s, e in spans[ext]), (ext, o.external_id)
    # And per calendar day: a day spent wholly sold out has no order lines for that variant.
    lines_by_day = {(line.variant_external_id, o.ordered_at.date()) for o in demo.orders for line in o.lines}
    for ext, ranges in spans.items():
        if ext not in deny:
            continue  # pre-order items keep selling into a backlog
        for s, e in ranges:
            day = s.date() + timedelta(days=1)
            while datetime(day.year, day.month, day.day, tzinfo=UTC) + timedelta(days=1) <= e:
                sold_out_days += 1
                assert (ext, day) not in lines_by_day
                day += timedelta(days=1)
    assert sold_out_days == 4650


def test_stock_edges_alternate_and_never_go_negative_for_deny_policy(demo: Demo) -> None:
    deny = _deny_tracked(demo)
    last: dict[str, str] = {}
    for c in demo.changes:
        assert last.get(c.variant_external_id, "restock") != c.kind  # every history starts in stock
        last[c.variant_external_id] = c.kind
        if c.kind == "sellout":
            assert c.quantity_before > 0 >= c.quantity_after
        else:
            assert c.quantity_before <= 0 < c.quantity_after
        if c.variant_external_id in deny:
            assert c.quantity_before >= 0 and c.quantity_after >= 0
    assert [c.occurred_at for c in demo.changes] == sorted(c.occurred_at for c in demo.changes)
    assert all((level.available or 0) >= 0 for level in demo.inventory if level.variant_external_id in deny)
    stock = _stock(demo)
    # The end state agrees with the last edge of every variant.
    assert all((stock[ext] <= 0) == (kind == "sellout") for ext, kind in last.items())


def test_each_sellout_is_the_line_that_emptied_the_shelf(demo: Demo) -> None:
    lines = {
        (line.variant_external_id, o.ordered_at): line.quantity
        for o in demo.orders
        if o.cancelled_at is None
        for line in o.lines
    }
    deny = _deny_tracked(demo)
    for c in demo.changes:
        if c.kind == "sellout" and c.variant_external_id in deny:
            assert lines[(c.variant_external_id, c.occurred_at)] == c.quantity_before - c.quantity_after


def test_backorders_only_for_continue_policy(demo: Demo) -> None:
    variants = _variants(demo)
    stock = _stock(demo)
    negative = sorted(ext for ext, q in stock.items() if q < 0)
    assert all(variants[ext][0].variants[variants[ext][1]].inventory_policy == "continue" for ext in negative)
    untracked = [level for level in demo.inventory if level.available is None]
    assert len(untracked) == 12  # six untracked variants, two locations


def test_open_purchase_orders_are_due_after_today(demo: Demo) -> None:
    assert all(po.expected_on > TODAY for po in demo.purchase_orders)
    assert len({po.variant_external_id for po in demo.purchase_orders}) == len(demo.purchase_orders)
    assert all(po.quantity > 0 and po.supplier for po in demo.purchase_orders)
    assert max(po.expected_on for po in demo.purchase_orders) <= TODAY + timedelta(days=60)


def test_weekends_sell_more_than_weekdays(demo: Demo) -> None:
    per_day: Counter[date] = Counter()
    for o in demo.orders:
        per_day[o.ordered_at.date()] += len(o.lines)
    weekend = [n for d, n in per_day.items() if d.weekday() >= 5]
    weekday = [n for d, n in per_day.items() if d.weekday() < 5]
    assert sum(weekend) / len(weekend) > 1.2 * sum(weekday) / len(weekday)


def test_viral_spike_is_visible(demo: Demo) -> None:
    product_of = {v.external_id: p.external_id for p in demo.products for v in p.variants}
    per_product: dict[str, Counter[int]] = defaultdict(Counter)
    for o in demo.orders:
        days_ago = (TODAY - o.ordered_at.date()).days
        for line in o.lines:
            per_product[product_of[line.variant_external_id or ""]][days_ago] += 1

    def ratio(counts: Counter[int]) -> float:
        inside = sum(counts[d] for d in range(12, 21)) / 9
        outside = sum(n for d, n in counts.items() if not 12 <= d <= 20) / 171
        return inside / outside if outside else 0.0

    spiking = sorted(pid for pid, counts in per_product.items() if ratio(counts) > 4 and sum(counts.values()) > 50)
    assert spiking == list(SPIKE_PRODUCTS)


def test_signups_wait_for_variants_sold_out_now(demo: Demo) -> None:
    stock = _stock(demo)
    assert {s.locale for s in demo.signups} == {"en", "nl", "fr", "de"}
    assert all(stock[s.variant_external_id] <= 0 for s in demo.signups)
    assert all(START < s.created_at < END and s.email.endswith("@example.com") for s in demo.signups)
    assert len({(s.variant_external_id, s.email) for s in demo.signups}) == len(demo.signups)
    last_sellout = {c.variant_external_id: c.occurred_at for c in demo.changes if c.kind == "sellout"}
    assert all(s.created_at > last_sellout[s.variant_external_id] for s in demo.signups)
    assert len({s.variant_external_id for s in demo.signups}) == 28


def test_other_scales_keep_the_proportions() -> None:
    s = generate(7, 2000, 180, today=TODAY).summary()
    assert (s.products, s.variants, s.order_lines, s.sold_out, s.open_purchase_orders) == (619, 2000, 40645, 145, 206)
    short = generate(7, 200, 30, today=TODAY)
    orders = list(short.iter_orders())
    assert len(orders) == short.summary().orders == 539
    assert min(o.ordered_at for o in orders) >= END - timedelta(days=30)


def test_adapter_implements_the_store_protocol() -> None:
    adapter = DemoStoreAdapter(7, 500, 180, TODAY)
    assert isinstance(adapter, StoreAdapter)
    assert adapter.platform == "demo"
    info = adapter.store_info()
    assert (info.name, info.domain, info.timezone, info.currency, info.locale) == (
        "Northwind Goods (demo)",
        "demo.backsoon.localhost",
        "Europe/Amsterdam",
        "EUR",
        "en",
    )
    assert [(loc.name, loc.active) for loc in adapter.iter_locations()] == [("Warehouse", True), ("Shop floor", True)]
    assert sum(1 for _ in adapter.iter_orders(datetime(2026, 11, 1, tzinfo=UTC))) == 800
    assert sum(1 for _ in adapter.iter_products(datetime(2026, 1, 1, tzinfo=UTC))) == 49
    assert adapter.summary().order_lines == 10677


def test_orders_are_streamed() -> None:
    demo = generate(today=TODAY)
    orders = demo.iter_orders()
    assert isinstance(orders, Generator)  # a stream, never a list
    first = next(orders)
    assert first.name == "#1001"
    orders.close()  # an abandoned stream leaves no half-finished end state behind
    assert demo.summary().orders == 6105
