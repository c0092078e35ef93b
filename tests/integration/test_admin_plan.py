"""The buyer's planning screens: the at-risk table sorted, searched and filtered by supplier with Incoming, overdue and
the real sold-out date; draft purchase orders and a supplier's CSV from the suggestions; overstock and dead stock from
known history only (a fresh install claims nothing dead)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select

from app.db import Database
from app.domain.history import SoldOutSince
from app.models import DirtyVariant, Product, PurchaseOrder, StockEvent, StockState, Store, Supplier, Variant
from app.services.stock.recompute import FOUND_SOLD_OUT, recompute, store_today
from app.web.admin.auth import session_fields
from tests.conftest import AppFactory
from tests.factories import RecordingQueue, add_sale, make_variant

pytestmark = pytest.mark.integration

_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
ZONE = "America/Los_Angeles"


@dataclass
class Plan:
    client: FlaskClient
    db: Database
    jobs: RecordingQueue
    a: int
    v: dict[str, int]
    acme: int
    bolt: int
    other_supplier: int
    today: date
    now: datetime

    def html(self, query: str = "", status: int = 200) -> str:
        resp = self.client.get(f"/admin/at-risk{query}")
        assert resp.status_code == status
        return resp.get_data(as_text=True)

    def skus(self, query: str = "") -> list[str]:
        return _skus(self.html(query))

    def csrf(self) -> str:
        match = _CSRF.search(self.html())
        assert match is not None
        return match.group(1)

    def orders(self) -> list[tuple[int, int | None, int, date, str, str, int]]:
        with self.db.session() as s:
            return [
                (p.variant_id, p.supplier_id, p.quantity, p.expected_on, p.status, p.reference, p.store_id)
                for p in s.scalars(select(PurchaseOrder).order_by(PurchaseOrder.id))
            ]


def _skus(html: str) -> list[str]:
    match = re.search(r'<table id="at-risk-table">(.*?)</table>', html, re.S)
    assert match is not None, "no at-risk table"
    return re.findall(r"/admin/variants/\d+[^>]*>([A-Z-]+)</a>", match.group(1))


def _state(store_id: int, variant_id: int, **values: Any) -> StockState:
    defaults: dict[str, Any] = {
        "sellable_quantity": 0,
        "velocity": 0.0,
        "velocity_windows": [],
        "status": "in_stock",
        "badge_kind": "none",
        "signal": "ok",
        "signal_reason": "healthy",
        "priority": 0.0,
        "waitlist_open": 0,
        "incoming_quantity": 0,
        "lead_time_days": 14,
        "reasons": [],
    }
    return StockState(store_id=store_id, variant_id=variant_id, **{**defaults, **values})


def _variant(s: Any, store: Store, sku: str, product_supplier: int | None = None, **kw: Any) -> int:
    product = Product(store_id=store.id, external_id=f"p-{sku}", title=f"Product {sku}", supplier_id=product_supplier)
    s.add(product)
    s.flush()
    variant = Variant(store_id=store.id, product_id=product.id, external_id=f"v-{sku}", sku=sku, title="Red", **kw)
    s.add(variant)
    s.flush()
    return variant.id


@pytest.fixture
def plan(db: Database, make_app: AppFactory) -> Iterator[Plan]:
    jobs = RecordingQueue()
    app = make_app(jobs=jobs)
    now = datetime.now(UTC)
    with db.session() as s:
        a = Store(platform="woocommerce", domain="a.example", name="Alpha", timezone=ZONE)
        b = Store(platform="woocommerce", domain="b.example", name="Beta")
        s.add_all([a, b])
        s.flush()
        today = store_today(a, now)
        acme, bolt = Supplier(store_id=a.id, name="Acme"), Supplier(store_id=a.id, name="Bolt")
        theirs = Supplier(store_id=b.id, name="Acme")
        s.add_all([acme, bolt, theirs])
        s.flush()
        v = {
            "P-OUT": _variant(s, a, "P-OUT", acme.id),
            # The variant's own supplier wins over its product's.
            "P-LOW": _variant(s, a, "P-LOW", acme.id, supplier_id=bolt.id),
            "P-FOUND": _variant(s, a, "P-FOUND"),
            "P-OK": _variant(s, a, "P-OK", acme.id),
            "B-SECRET": _variant(s, b, "B-SECRET", theirs.id),
        }
        s.add_all(
            [
                _state(
                    a.id,
                    v["P-OUT"],
                    status="out_of_stock",
                    signal="pause",
                    signal_reason="out_of_stock",
                    priority=50.0,
                    suggested_reorder_qty=30,
                    stockout_on=today,
                    reorder_by=today - timedelta(days=3),
                ),
                _state(
                    a.id,
                    v["P-LOW"],
                    sellable_quantity=8,
                    velocity=0.69,
                    days_on_hand=11.6,
                    status="low_stock",
                    signal="throttle",
                    signal_reason="below_lead_time",
                    priority=20.0,
                    incoming_quantity=62,
                    suggested_reorder_qty=4,
                    lead_time_days=35,
                    stockout_on=today + timedelta(days=11),
                    reorder_by=today,
                ),
                _state(a.id, v["P-FOUND"], status="out_of_stock", signal="pause", priority=10.0, stockout_on=today),
                _state(a.id, v["P-OK"], sellable_quantity=90, velocity=1.0, priority=1.0, suggested_reorder_qty=5),
                _state(
                    b.id, v["B-SECRET"], status="out_of_stock", signal="pause", priority=99.0, suggested_reorder_qty=7
                ),
            ]
        )
        s.add_all(
            [
                StockEvent(
                    store_id=a.id,
                    variant_id=v["P-OUT"],
                    kind="sellout",
                    quantity_before=2,
                    quantity_after=0,
                    occurred_at=now - timedelta(days=12),
                ),
                StockEvent(
                    store_id=a.id,
                    variant_id=v["P-FOUND"],
                    kind="sellout",
                    quantity_before=0,
                    quantity_after=0,
                    occurred_at=now - timedelta(days=2),
                    source=FOUND_SOLD_OUT,
                    details={"since": str(SoldOutSince.CONNECT)},
                ),
            ]
        )
        ids = (a.id, v, acme.id, bolt.id, theirs.id)
    client = app.test_client()
    with client.session_transaction() as sess:
        sess.update(session_fields(ids[0], 0))
    yield Plan(client, db, jobs, *ids, today=today, now=now)


def test_the_default_order_is_priority_and_every_figure_sorts_both_ways(plan: Plan) -> None:
    assert plan.skus() == ["P-OUT", "P-LOW", "P-FOUND"]
    assert plan.skus("?sort=incoming") == ["P-LOW", "P-OUT", "P-FOUND"]
    assert plan.skus("?sort=incoming&dir=asc") == ["P-OUT", "P-FOUND", "P-LOW"]
    assert plan.skus("?sort=sku") == ["P-FOUND", "P-LOW", "P-OUT"]
    assert plan.skus("?sort=suggested&dir=asc") == ["P-FOUND", "P-LOW", "P-OUT"]
    # A missing date sorts last either way.
    assert plan.skus("?sort=reorder_by") == ["P-OUT", "P-LOW", "P-FOUND"]
    assert plan.skus("?sort=reorder_by&dir=desc") == ["P-LOW", "P-OUT", "P-FOUND"]
    assert plan.skus("?sort=supplier") == ["P-OUT", "P-LOW", "P-FOUND"]
    assert plan.skus("?sort=signal&dir=asc") == ["P-OUT", "P-FOUND", "P-LOW"]
    html = plan.html("?sort=sku")
    # The sorted column flips; the others start at their most urgent end; the filters carry along.
    assert '<a href="/admin/at-risk?sort=sku&amp;dir=desc" data-sort="sku">SKU</a>' in html
    assert '<a href="/admin/at-risk?sort=incoming&amp;dir=desc" data-sort="incoming">Incoming</a>' in html
    assert 'aria-sort="ascending"' in html
    filtered = plan.html(f"?supplier={plan.acme}&sort=sku")
    assert f'href="/admin/at-risk?supplier={plan.acme}&amp;sort=incoming&amp;dir=desc"' in filtered


def test_filters_by_supplier_status_signal_and_search(plan: Plan) -> None:
    assert plan.skus(f"?supplier={plan.acme}") == ["P-OUT"]
    assert plan.skus(f"?supplier={plan.bolt}") == ["P-LOW"]
    assert plan.skus("?supplier=none") == ["P-FOUND"]
    assert plan.skus("?signal=throttle") == ["P-LOW"]
    assert plan.skus("?status=out_of_stock&sort=sku") == ["P-FOUND", "P-OUT"]
    assert plan.skus("?q=low") == ["P-LOW"]
    assert plan.skus("?q=product+p-f") == ["P-FOUND"]
    # LIKE wildcards are literal characters in a search.
    assert "No variant at risk matches this filter." in plan.html("?q=P_OUT")
    assert "No variant at risk matches this filter." in plan.html(f"?supplier={plan.acme}&signal=throttle")


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("?sort=price", "sort"),
        ("?dir=up", "dir"),
        ("?supplier=abc", "supplier"),
        ("?supplier=99999999999999999999", "supplier"),
        ("?q=" + "x" * 101, "q"),
        ("?page=0", "page"),
    ],
)
def test_a_bad_parameter_is_a_400_naming_it(plan: Plan, query: str, field: str) -> None:
    html = plan.html(query, status=400)
    assert f'<p class="field-error" id="{field}-error">' in html
    assert 'id="at-risk-table"' not in html


def test_another_stores_supplier_is_not_a_filter_here(plan: Plan) -> None:
    html = plan.html(f"?supplier={plan.other_supplier}", status=400)
    assert f"Unknown supplier &#39;{plan.other_supplier}&#39;" in html
    assert "B-SECRET" not in html


def test_rows_show_incoming_overdue_and_the_real_sold_out_day(plan: Plan) -> None:
    html = plan.html()
    rows = {
        sku: re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", row)).strip()
        for row, sku in re.findall(r'<tr data-variant="\d+">(.*?>([A-Z-]+)</a>.*?)</tr>', html, re.S)
    }
    sold_out_day = (plan.now - timedelta(days=12)).astimezone(_zone()).date().isoformat()
    found_day = (plan.now - timedelta(days=2)).astimezone(_zone()).date().isoformat()
    overdue_day = (plan.today - timedelta(days=3)).isoformat()
    assert rows["P-OUT"] == (
        "P-OUT pause Sold out: ads would send shoppers to a product they cannot buy. out of stock Settings 0 0 30 "
        f"{overdue_day} overdue – / 14 Sold out since {sold_out_day} 0 no days of sales yet Product P-OUT · Red Acme –"
    )
    assert rows["P-LOW"].startswith(
        f"P-LOW throttle below lead time low stock Settings 8 62 4 {plan.today.isoformat()} 11.6 / 35"
    )
    assert "overdue" not in rows["P-LOW"]
    assert f"Sold out (since before {found_day})" in rows["P-FOUND"]
    assert "No supplier" in rows["P-FOUND"]


def _zone() -> ZoneInfo:
    return ZoneInfo(ZONE)


def test_draft_po_creates_one_open_order_per_supplier_for_the_suggestions(plan: Plan) -> None:
    v = plan.v
    resp = plan.client.post(
        "/admin/at-risk/draft-po",
        data={
            "csrf_token": plan.csrf(),
            "variant_id": [str(v["P-OUT"]), str(v["P-LOW"]), str(v["P-FOUND"]), str(v["B-SECRET"])],
        },
    )
    assert (resp.status_code, resp.headers["Location"]) == (303, "/admin/incoming")
    day = plan.today.strftime("%Y%m%d")
    assert plan.orders() == [
        (v["P-OUT"], plan.acme, 30, plan.today + timedelta(days=14), "open", f"DRAFT-{day}-{plan.acme}", plan.a),
        (v["P-LOW"], plan.bolt, 4, plan.today + timedelta(days=35), "open", f"DRAFT-{day}-{plan.bolt}", plan.a),
    ]
    with plan.db.session() as s:
        assert sorted(s.scalars(select(DirtyVariant.variant_id))) == sorted([v["P-OUT"], v["P-LOW"]])
    page = plan.client.get("/admin/incoming").get_data(as_text=True)
    assert f"Purchase order DRAFT-{day}-{plan.acme} (Acme): 1 line, 30 units, open and counted as incoming." in page


def test_draft_po_without_csrf_or_for_another_store_creates_nothing(plan: Plan) -> None:
    v = plan.v
    resp = plan.client.post("/admin/at-risk/draft-po", data={"variant_id": [str(v["P-OUT"])]})
    assert resp.status_code == 403
    resp = plan.client.post(
        "/admin/at-risk/draft-po", data={"csrf_token": plan.csrf(), "variant_id": [str(v["B-SECRET"])]}
    )
    assert resp.status_code == 400
    assert resp.get_json()["error"]["code"] == "nothing_to_order"
    for bad in ([], ["x1"], [str(v["P-OUT"])] * 501):
        resp = plan.client.post("/admin/at-risk/draft-po", data={"csrf_token": plan.csrf(), "variant_id": bad})
        assert (resp.status_code, resp.get_json()["error"]["code"]) == (400, "bad_selection")
    assert plan.orders() == []
    with plan.db.session() as s:
        assert s.scalars(select(DirtyVariant.variant_id)).all() == []


def test_a_suppliers_csv_lists_its_suggestions_exactly(plan: Plan) -> None:
    with plan.db.session() as s:
        product = s.get(Product, s.get(Variant, plan.v["P-OUT"]).product_id)  # type: ignore[union-attr]
        assert product is not None
        product.title = "=HYPERLINK(1)"  # a spreadsheet must not run it
    resp = plan.client.get(f"/admin/at-risk/suppliers/{plan.acme}.csv")
    assert resp.status_code == 200
    assert resp.headers["Content-Disposition"] == (
        f'attachment; filename="backsoon-supplier-{plan.acme}-suggestions-{plan.today.isoformat()}.csv"'
    )
    overdue = (plan.today - timedelta(days=3)).isoformat()
    assert (
        resp.data
        == (
            "sku,product,variant,quantity,sellable,incoming,reorder_by,lead_time_days,supplier\r\n"
            # P-OK is not at risk but has a suggestion: the supplier's order covers it too.
            "P-OK,Product P-OK,Red,5,90,0,,14,Acme\r\n"
            f"P-OUT,'=HYPERLINK(1),Red,30,0,0,{overdue},14,Acme\r\n"
        ).encode()
    )
    bolt = plan.client.get(f"/admin/at-risk/suppliers/{plan.bolt}.csv").data.decode()
    assert bolt.splitlines()[1:] == [f"P-LOW,Product P-LOW,Red,4,8,62,{plan.today.isoformat()},35,Bolt"]
    # Nothing suggested without a supplier: the header alone.
    assert plan.client.get("/admin/at-risk/suppliers/none.csv").data.decode().count("\r\n") == 1
    assert plan.client.get(f"/admin/at-risk/suppliers/{plan.other_supplier}.csv").status_code == 404
    assert plan.client.get("/admin/at-risk/suppliers/x.csv").status_code == 404


def test_a_fresh_install_with_no_history_claims_nothing_dead(db: Database, make_app: AppFactory) -> None:
    client = make_app().test_client()
    now = datetime.now(UTC)
    with db.session() as s:
        store = Store(platform="woocommerce", domain="fresh.example", name="Fresh", installed_at=now)
        s.add(store)
        s.flush()
        make_variant(s, store, qty=30, sku="IDLE")
        recompute(s, store.id, now=now)
        store_id = store.id
    with client.session_transaction() as sess:
        sess.update(session_fields(store_id, 0))
    html = client.get("/admin/overstock").get_data(as_text=True)
    assert f"Order history starts {now.date().isoformat()}" in html
    assert "1 variant with stock and no sale since then cannot be called dead yet." in html
    assert 'id="overstock-table"' not in html
    assert "No variant holds more than its cover, and none is dead stock." in html


def test_dead_stock_and_overstock_from_known_history(db: Database, make_app: AppFactory) -> None:
    client = make_app().test_client()
    now = datetime.now(UTC)
    with db.session() as s:
        store = Store(
            platform="woocommerce",
            domain="old.example",
            name="Old",
            installed_at=now - timedelta(days=150),
            orders_history_from=now - timedelta(days=120),
        )
        s.add(store)
        s.flush()
        dead = make_variant(s, store, qty=30, sku="DEAD")
        add_sale(s, dead, 1, days_ago=100, now=now)
        selling = make_variant(s, store, qty=3, sku="SELLING")
        for n in range(20):
            add_sale(s, selling, 1, days_ago=n + 0.5, now=now)
        recompute(s, store.id, now=now)
        # Overstock: 500 on hand at the stored sales rate of 1/day is 500 - (60 cover + 7 safety) = 433 over.
        full = make_variant(s, store, qty=500, sku="FULL")
        add_sale(s, full, 1, days_ago=1, now=now)
        s.add(_state(store.id, full.id, sellable_quantity=500, velocity=1.0))
        store_id, ids = store.id, (dead.id, full.id)
    with client.session_transaction() as sess:
        sess.update(session_fields(store_id, 0))
    html = client.get("/admin/overstock").get_data(as_text=True)
    rows = re.findall(r'<tr data-variant="(\d+)">(.*?)</tr>', html, re.S)
    cells = {int(vid): re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", row)).strip() for vid, row in rows}
    assert list(cells) == [ids[1], ids[0]]
    assert cells[ids[1]].startswith("FULL overstock 500 433 1 1 Product")
    assert cells[ids[0]].startswith("DEAD dead stock 30 0 ")
    assert " 100 " in cells[ids[0]]
    assert "SELLING" not in html
    assert f"Order history starts {(now - timedelta(days=120)).date().isoformat()}" in html
    assert client.get("/admin/overstock?page=x").status_code == 400


def test_sold_out_since_is_the_day_the_recompute_saw_it_hit_zero(db: Database, make_app: AppFactory) -> None:
    client = make_app().test_client()
    now = datetime.now(UTC)
    with db.session() as s:
        store = Store(platform="woocommerce", domain="edge.example", name="Edge", installed_at=now - timedelta(days=30))
        s.add(store)
        s.flush()
        variant = make_variant(s, store, qty=4, sku="EDGE")
        make_variant(s, store, qty=0, sku="FOUND")
        recompute(s, store.id, now=now - timedelta(days=30))
        variant.sellable_quantity = 0
        recompute(s, store.id, now=now - timedelta(days=9))
        recompute(s, store.id, now=now)
        store_id = store.id
    with client.session_transaction() as sess:
        sess.update(session_fields(store_id, 0))
    html = client.get("/admin/at-risk?sort=sku").get_data(as_text=True)
    assert _skus(html) == ["EDGE", "FOUND"]
    labels = re.findall(r'<span class="sold-out-since">([^<]+)</span>', html)
    # Not today: the day the edge to zero was recorded; FOUND was sold out when first seen, since nobody knows when.
    assert labels == [
        f"Sold out since {(now - timedelta(days=9)).date().isoformat()}",
        f"Sold out (since before {(now - timedelta(days=30)).date().isoformat()})",
    ]
