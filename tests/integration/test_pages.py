"""The welcome page and the demo dashboard, rendered from real PostgreSQL rows."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from flask.testing import FlaskClient

from app.db import Database
from app.models import Product, StockEvent, StockState, StockStateHistory, Store, Variant
from app.queue import InProcessJobQueue
from tests.conftest import AppFactory, hashed_name

pytestmark = pytest.mark.integration

COMPUTED_AT = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


@dataclass(frozen=True)
class Demo:
    """Ids of the seeded rows."""

    demo: int
    other: int
    v: dict[str, int]


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
        "computed_at": COMPUTED_AT,
        "changed_at": COMPUTED_AT,
    }
    return StockState(store_id=store_id, variant_id=variant_id, **{**defaults, **values})


def _seed(db: Database, *, with_demo: bool = True) -> Demo:
    today = datetime.now(UTC).date()
    with db.session() as s:
        other = Store(platform="shopify", domain="other.myshopify.com", name="Other Shop")
        stores = [other]
        demo = Store(
            platform="demo",
            domain="demo.backsoon.local",
            name="Demo Outfitters",
            currency="EUR",
            last_recomputed_at=COMPUTED_AT,
        )
        if with_demo:
            stores.append(demo)
        s.add_all(stores)
        s.flush()
        home = demo if with_demo else other
        jacket = Product(store_id=home.id, external_id="p1", title="Rain Jacket")
        beanie = Product(store_id=home.id, external_id="p2", title="Beanie <Limited>")
        mug = Product(store_id=other.id, external_id="p9", title="Other Mug")
        s.add_all([jacket, beanie, mug])
        s.flush()
        variants = {
            "jacket_m": Variant(store_id=home.id, product_id=jacket.id, external_id="1", sku="JKT-M", title="M"),
            "jacket_l": Variant(store_id=home.id, product_id=jacket.id, external_id="2", sku="JKT-L", title="L"),
            "beanie": Variant(
                store_id=home.id,
                product_id=beanie.id,
                external_id="3",
                sku="BEANIE",
                title="Default Title",
                price=Decimal("19.00"),
            ),
            "mug": Variant(store_id=other.id, product_id=mug.id, external_id="9", sku="MUG", title="White"),
        }
        s.add_all(variants.values())
        s.flush()
        v = {name: variant.id for name, variant in variants.items()}
        s.add_all(
            [
                _state(
                    home.id,
                    v["jacket_m"],
                    sellable_quantity=3,
                    velocity=1.5,
                    days_on_hand=2.0,
                    stockout_on=date(2026, 3, 3),
                    reorder_by=date(2026, 2, 17),
                    suggested_reorder_qty=45,
                    status="low_stock",
                    badge_kind="only_n_left",
                    badge_quantity=3,
                    signal="throttle",
                    signal_reason="days_on_hand_below_lead_time",
                    priority=60.0,
                    waitlist_open=0,
                    reasons=[
                        "Velocity 1.5/day",
                        "3 units ÷ 1.5/day = 2 days on hand",
                        "Ads throttle: stock runs out before a reorder could land (14 days)",
                    ],
                ),
                _state(
                    home.id,
                    v["jacket_l"],
                    sellable_quantity=0,
                    velocity=0.75,
                    days_on_hand=0.0,
                    stockout_on=date(2026, 3, 1),
                    status="out_of_stock",
                    signal="pause",
                    signal_reason="out_of_stock",
                    restock_eta=date(2026, 3, 15),
                    eta_source="lead_time",
                    priority=90.5,
                    waitlist_open=12,
                ),
                _state(
                    home.id,
                    v["beanie"],
                    sellable_quantity=40,
                    velocity=4.0,
                    days_on_hand=10.0,
                    status="in_stock",
                    badge_kind="selling_fast",
                    priority=8.0,
                    waitlist_open=2,
                ),
                _state(other.id, v["mug"], status="out_of_stock", signal="pause", priority=99.0, waitlist_open=50),
            ]
        )
        s.add_all(
            [
                StockStateHistory(
                    store_id=home.id,
                    variant_id=v["jacket_m"],
                    day=today - timedelta(days=ago),
                    sellable_quantity=3 + ago,
                    velocity=1.5,
                    days_on_hand=None if ago == 2 else (3 + ago) / 1.5,
                    status="low_stock",
                    signal="throttle",
                )
                for ago in range(6)
            ]
        )
        # Two days with rows and two without: the chart must show the gap, not join across it.
        s.add_all(
            [
                StockStateHistory(
                    store_id=home.id,
                    variant_id=v["beanie"],
                    day=today - timedelta(days=ago),
                    sellable_quantity=40,
                    velocity=4.0,
                    days_on_hand=10.0,
                    status="in_stock",
                    signal="ok",
                )
                for ago in (0, 3)
            ]
        )
        s.add(
            StockEvent(
                store_id=home.id,
                variant_id=v["jacket_l"],
                kind="sellout",
                quantity_before=2,
                quantity_after=0,
                occurred_at=COMPUTED_AT,
            )
        )
        return Demo(demo=demo.id if with_demo else 0, other=other.id, v=v)


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    """Demo mode: the demo pages answer."""
    return {"demo": True}


@pytest.fixture
def job_queue(parked_jobs: InProcessJobQueue) -> InProcessJobQueue:
    """Parked: nothing a page enqueues runs."""
    return parked_jobs


def _text(html: str) -> str:
    """The visible text, whitespace collapsed, for exact phrase checks."""
    without_tags = re.sub(r"<[^>]+>", " ", html)
    return re.sub(r"\s+", " ", without_tags).strip()


def _section(html: str, table_id: str) -> str:
    match = re.search(rf'<table id="{table_id}">(.*?)</table>', html, re.S)
    assert match is not None, table_id
    return match.group(1)


def test_overview_shows_counts_and_tables(db: Database, client: FlaskClient) -> None:
    seed = _seed(db)
    resp = client.get("/demo/")
    assert resp.status_code == 200
    assert resp.mimetype == "text/html"
    html = resp.get_data(as_text=True)
    assert '<html lang="en">' in html
    assert "<h1>Demo Outfitters</h1>" in html
    assert f'href="/static/{hashed_name("backsoon.css")}"' in html
    for stat, value in {
        "at-risk": 2,
        "sold-out": 1,
        "low-stock": 1,
        "throttle": 1,
        "pause": 1,
        "waitlist": 14,
    }.items():
        assert f'<dd id="stat-{stat}">{value}</dd>' in html, stat
    assert "computed from 3 variants, last recomputed 2026-03-01 12:00 UTC" in _text(html)
    assert '<time datetime="2026-03-01T12:00:00+00:00">2026-03-01 12:00 UTC</time>' in html

    v = seed.v
    at_risk = _section(html, "at-risk-table")
    assert "<caption>2 of 2 variants at risk, by priority</caption>" in at_risk
    rows = re.findall(r'<th scope="row"><a href="/demo/variants/(\d+)">([^<]+)</a></th>', at_risk)
    assert rows == [(str(v["jacket_l"]), "JKT-L"), (str(v["jacket_m"]), "JKT-M")]
    jacket_m_row = _text(at_risk.split(f'/demo/variants/{v["jacket_m"]}"')[1].split("</tr>")[0])
    assert jacket_m_row == (
        ">JKT-M Rain Jacket · M low stock Only 3 left 3 1.50 2 / 14 2026-03-03 2026-02-17 45 "
        "throttle days on hand below lead time –"
    )
    jacket_l_row = _text(at_risk.split(f'/demo/variants/{v["jacket_l"]}"')[1].split("</tr>")[0])
    assert jacket_l_row == (
        ">JKT-L Rain Jacket · L out of stock – 0 0.75 0 / 14 2026-03-01 – 0 pause out of stock 2026-03-15 lead time"
    )
    assert '<span class="badge badge--only_n_left">Only 3 left</span>' in at_risk

    waitlist = _section(html, "waitlist-table")
    rows = re.findall(r'<th scope="row"><a href="/demo/variants/(\d+)">([^<]+)</a></th>', waitlist)
    assert rows == [(str(v["jacket_l"]), "JKT-L"), (str(v["beanie"]), "BEANIE")]
    beanie_row = _text(waitlist.split(f'/demo/variants/{v["beanie"]}"')[1].split("</tr>")[0])
    # Product titles are escaped, and the platform's "Default Title" is not shown.
    assert beanie_row == ">BEANIE Beanie &lt;Limited&gt; 2 in stock 40 0 –"

    assert f'href="/api/v1/stores/{seed.demo}/variants?at_risk=true"' in html
    assert f'href="/api/v1/stores/{seed.demo}/variants?has_waitlist=true&amp;sort=waitlist"' in html
    # Nothing of the other store leaks onto the page.
    assert "MUG" not in html
    assert "Other Mug" not in html


def test_overview_json_links_answer_in_demo_mode(db: Database, client: FlaskClient) -> None:
    seed = _seed(db)
    body = client.get(f"/api/v1/stores/{seed.demo}/variants?has_waitlist=true&sort=waitlist").get_json()
    assert [i["id"] for i in body["items"]] == [seed.v["jacket_l"], seed.v["beanie"]]


def test_variant_page_has_reasons_and_sparklines(db: Database, client: FlaskClient) -> None:
    seed = _seed(db)
    resp = client.get(f"/demo/variants/{seed.v['jacket_m']}")
    assert resp.status_code == 200
    html = resp.get_data(as_text=True)
    assert html.count('<svg class="spark"') == 2
    assert "<title>Sellable quantity over the last 6 days</title>" in html
    assert "<title>Days on hand over the last 6 days, lead time 14 days</title>" in html
    # Six days of sellable quantity draw one unbroken line; the missing days-on-hand value splits it in two.
    sellable_svg, doh_svg = re.findall(r'<svg class="spark".*?</svg>', html, re.S)
    assert len(re.findall(r'<polyline class="spark-line" points="([^"]+)"', sellable_svg)) == 1
    assert len(re.findall(r"<polyline", doh_svg)) == 2
    assert '<line class="spark-ref"' in doh_svg
    assert '<ol class="reasons"><li>Velocity 1.5/day</li><li>3 units ÷ 1.5/day = 2 days on hand</li>' in re.sub(
        r">\s+<", "><", html
    )
    text = _text(html)
    assert "Sellable quantity: 8 → 3" in text
    assert "Days on hand: 5.3 → 2" in text
    assert "No restock or sell-out recorded yet." in text
    assert f'href="/api/v1/stores/{seed.demo}/variants/{seed.v["jacket_m"]}"' in html

    sold_out = client.get(f"/demo/variants/{seed.v['jacket_l']}")
    text = _text(sold_out.get_data(as_text=True))
    assert "2026-03-01 12:00 sell-out 2 0" in text
    assert "no history yet" in text

    gappy = client.get(f"/demo/variants/{seed.v['beanie']}").get_data(as_text=True)
    sellable_svg = re.findall(r'<svg class="spark".*?</svg>', gappy, re.S)[0]
    assert "<title>Sellable quantity over the last 4 days</title>" in sellable_svg
    assert "<polyline" not in sellable_svg
    assert re.findall(r'<circle class="spark-dot" cx="([\d.]+)"', sellable_svg) == ["4.0", "236.0"]


@pytest.mark.parametrize("name", ["mug"])
def test_variant_page_of_another_store_is_404(db: Database, client: FlaskClient, name: str) -> None:
    seed = _seed(db)
    for path in (f"/demo/variants/{seed.v[name]}", "/demo/variants/987654", "/demo/variants/99999999999999999999999"):
        resp = client.get(path)
        assert resp.status_code == 404, path
        assert resp.mimetype == "text/html"
        assert "<h1>Not found</h1>" in resp.get_data(as_text=True)


def test_root_redirects_to_demo(db: Database, client: FlaskClient) -> None:
    _seed(db)
    resp = client.get("/")
    assert resp.status_code == 302
    assert resp.headers["Location"] == "/demo/"


def test_without_demo_store_root_welcomes_and_demo_is_404(db: Database, client: FlaskClient) -> None:
    seed = _seed(db, with_demo=False)
    root = client.get("/")
    assert root.status_code == 200
    html = root.get_data(as_text=True)
    assert "<h1>Welcome to BackSoon</h1>" in html
    assert '<a href="/healthz">/healthz</a>' in html
    assert '<a href="/openapi.json">/openapi.json</a>' in html
    for path in ("/demo/", f"/demo/variants/{seed.v['jacket_m']}"):
        resp = client.get(path)
        assert resp.status_code == 404, path
        assert resp.mimetype == "text/html"
        assert "No demo store is seeded. Run `make demo` to create one." in resp.get_data(as_text=True)


def test_demo_pages_need_demo_mode(db: Database, make_app: AppFactory) -> None:
    seed = _seed(db)
    client = make_app(demo=False).test_client()
    assert client.get("/").status_code == 200
    assert "<h1>Welcome to BackSoon</h1>" in client.get("/").get_data(as_text=True)
    assert client.get("/demo/").status_code == 404
    assert client.get(f"/demo/variants/{seed.v['jacket_m']}").status_code == 404


def test_static_stylesheet_is_served(client: FlaskClient) -> None:
    resp = client.get("/static/backsoon.css")
    assert resp.status_code == 200
    assert resp.mimetype == "text/css"
    resp.close()
