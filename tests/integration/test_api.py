"""The /api/v1 JSON API on real PostgreSQL: exact bodies, filters, sort, pages, auth and errors."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from flask.testing import FlaskClient

from app import job_specs
from app.db import Database
from app.models import Product, StockEvent, StockState, StockStateHistory, Store, Variant
from app.queue import InProcessJobQueue, JobSpec
from app.services.merchant.api_keys import hash_api_key
from tests.conftest import AppFactory

pytestmark = pytest.mark.integration

COMPUTED_AT = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
KEY_A = {"Authorization": "Bearer key-a"}
KEY_B = {"Authorization": "Bearer key-b"}


@dataclass(frozen=True)
class Seed:
    """Ids of the rows every test here reads."""

    a: int
    b: int
    demo: int
    v: dict[str, int]  # name -> variant id (store A, except "b1" in store B and "demo1" in the demo store)
    today: date  # today at store A (Europe/Berlin)


def _state(store_id: int, variant_id: int, **values: Any) -> StockState:
    defaults: dict[str, Any] = {
        "sellable_quantity": 0,
        "velocity": 0.0,
        "velocity_windows": [],
        "days_on_hand": None,
        "stockout_on": None,
        "reorder_by": None,
        "suggested_reorder_qty": 0,
        "status": "in_stock",
        "badge_kind": "none",
        "badge_quantity": None,
        "signal": "ok",
        "signal_reason": "healthy",
        "restock_eta": None,
        "eta_source": None,
        "priority": 0.0,
        "waitlist_open": 0,
        "incoming_quantity": 0,
        "lead_time_days": 14,
        "campaign_id": None,
        "campaign_stockout_on": None,
        "reasons": [],
        "computed_at": COMPUTED_AT,
        "changed_at": COMPUTED_AT,
    }
    return StockState(store_id=store_id, variant_id=variant_id, **{**defaults, **values})


def _variant(store: Store, product: Product, ext: str, sku: str, title: str, **values: Any) -> Variant:
    return Variant(store_id=store.id, product_id=product.id, external_id=ext, sku=sku, title=title, **values)


@pytest.fixture
def seed(db: Database) -> Seed:
    """Store A (keyed "key-a") with six variants, store B (keyed "key-b"), and a demo store."""
    today = datetime.now(ZoneInfo("Europe/Berlin")).date()
    with db.session() as s:
        a = Store(
            platform="shopify",
            domain="alpha.myshopify.com",
            name="Alpha Goods",
            timezone="Europe/Berlin",
            currency="EUR",
            api_key_hash=hash_api_key("key-a"),
            last_recomputed_at=COMPUTED_AT,
        )
        b = Store(platform="woocommerce", domain="beta.example", name="Beta", api_key_hash=hash_api_key("key-b"))
        demo = Store(platform="demo", domain="demo.backsoon.local", name="Demo Outfitters")
        s.add_all([a, b, demo])
        s.flush()
        shirt = Product(store_id=a.id, external_id="p1", title="Linen Shirt")
        socks = Product(store_id=a.id, external_id="p2", title="Wool Socks")
        tote = Product(store_id=a.id, external_id="p3", title="Canvas Tote")
        b_prod = Product(store_id=b.id, external_id="p1", title="Beta Mug")
        demo_prod = Product(store_id=demo.id, external_id="p1", title="Demo Cap")
        s.add_all([shirt, socks, tote, b_prod, demo_prod])
        s.flush()
        v = {
            "shirt_s": _variant(a, shirt, "v1", "SHIRT-S", "Small", price=Decimal("39.90")),
            "shirt_m": _variant(a, shirt, "v2", "SHIRT-M", "Medium", price=Decimal("39.90")),
            "sock_1": _variant(a, socks, "v3", "SOCK-1", "Grey", price=Decimal("12.00")),
            "sock_2": _variant(a, socks, "v4", "SOCK_2", "Navy", price=Decimal("12.00"), tracked=False),
            "tote": _variant(a, tote, "v6", "TOTE-1", "Default Title", inventory_policy="continue"),
            "gone": _variant(a, socks, "v5", "SOCK-OLD", "Old", deleted_at=COMPUTED_AT),
            "fresh": _variant(a, socks, "v7", "SOCK-NEW", "New"),  # no stock state computed yet
            "b1": _variant(b, b_prod, "v1", "MUG-1", "White"),
            "demo1": _variant(demo, demo_prod, "v1", "CAP-1", "Red"),
        }
        s.add_all(v.values())
        s.flush()
        ids = {name: variant.id for name, variant in v.items()}
        s.add_all(
            [
                _state(
                    a.id,
                    ids["shirt_s"],
                    sellable_quantity=3,
                    velocity=2.0,
                    velocity_windows=[2.5, 2.0, 1.0],
                    sales_days=90,
                    days_on_hand=1.5,
                    stockout_on=date(2026, 3, 4),
                    reorder_by=date(2026, 2, 20),
                    suggested_reorder_qty=40,
                    status="low_stock",
                    badge_kind="only_n_left",
                    badge_quantity=3,
                    signal="throttle",
                    signal_reason="days_on_hand_below_lead_time",
                    restock_eta=None,
                    priority=42.5,
                    reasons=["Velocity 2/day", "3 units ÷ 2/day = 1.5 days on hand"],
                ),
                _state(
                    a.id,
                    ids["shirt_m"],
                    sellable_quantity=0,
                    velocity=1.25,
                    velocity_windows=[1.0, 1.5, None],
                    days_on_hand=0.0,
                    stockout_on=date(2026, 3, 1),
                    reorder_by=date(2026, 2, 15),
                    suggested_reorder_qty=35,
                    status="out_of_stock",
                    signal="pause",
                    signal_reason="out_of_stock",
                    restock_eta=date(2026, 3, 10),
                    eta_source="incoming_stock",
                    priority=80.25,
                    waitlist_open=7,
                    incoming_quantity=24,
                    lead_time_days=10,
                    campaign_id=5,
                    campaign_stockout_on=date(2026, 3, 12),
                    reasons=["0 sellable units = 0 days on hand", "Back in stock 2026-03-10: incoming stock expected"],
                ),
                _state(
                    a.id,
                    ids["sock_1"],
                    sellable_quantity=90,
                    velocity=3.0,
                    days_on_hand=30.0,
                    stockout_on=date(2026, 3, 31),
                    status="in_stock",
                    badge_kind="selling_fast",
                    priority=5.0,
                    waitlist_open=2,
                ),
                _state(a.id, ids["sock_2"], status="untracked", signal_reason="untracked", priority=0.0),
                _state(
                    a.id,
                    ids["tote"],
                    sellable_quantity=-2,
                    velocity=0.5,
                    stockout_on=date(2026, 3, 2),
                    status="backorder",
                    signal="throttle",
                    signal_reason="backorder",
                    priority=10.0,
                    waitlist_open=1,
                ),
                # A deleted variant keeps its old state row; it must be counted nowhere.
                _state(a.id, ids["gone"], status="out_of_stock", signal="pause", priority=99.0, waitlist_open=100),
                _state(b.id, ids["b1"], status="low_stock", signal="throttle", priority=50.0, waitlist_open=4),
                _state(demo.id, ids["demo1"], status="in_stock", priority=1.0),
            ]
        )
        history_days = [0, 1, 89, 90, 120]
        s.add_all(
            [
                StockStateHistory(
                    store_id=a.id,
                    variant_id=ids["shirt_m"],
                    day=today - timedelta(days=ago),
                    sellable_quantity=ago,
                    velocity=1.25,
                    days_on_hand=None if ago == 1 else float(ago) / 2,
                    status="out_of_stock" if ago == 0 else "low_stock",
                    signal="pause" if ago == 0 else "throttle",
                )
                for ago in history_days
            ]
        )
        s.add(
            StockStateHistory(
                store_id=b.id,
                variant_id=ids["b1"],
                day=today,
                sellable_quantity=9,
                velocity=1.0,
                days_on_hand=9.0,
                status="low_stock",
                signal="throttle",
            )
        )
        s.add_all(
            [
                StockEvent(
                    store_id=a.id,
                    variant_id=ids["shirt_m"],
                    kind="sellout" if i % 2 == 0 else "restock",
                    quantity_before=1 if i % 2 == 0 else 0,
                    quantity_after=0 if i % 2 == 0 else 5,
                    occurred_at=COMPUTED_AT - timedelta(days=30 - i),
                )
                for i in range(22)
            ]
        )
        s.add(StockEvent(store_id=b.id, variant_id=ids["b1"], kind="restock", quantity_before=0, quantity_after=9))
        return Seed(a=a.id, b=b.id, demo=demo.id, v=ids, today=today)


@pytest.fixture
def job_queue(parked_jobs: InProcessJobQueue) -> InProcessJobQueue:
    """Parked, so the recompute tests see what was enqueued."""
    return parked_jobs


def ids(body: dict[str, Any]) -> list[int]:
    return [item["id"] for item in body["items"]]


# --- store summary ----------------------------------------------------------------------------


def test_store_summary_counts_live_variants_by_status_and_signal(client: FlaskClient, seed: Seed) -> None:
    resp = client.get(f"/api/v1/stores/{seed.a}", headers=KEY_A)
    assert resp.status_code == 200
    assert resp.get_json() == {
        "id": seed.a,
        "name": "Alpha Goods",
        "platform": "shopify",
        "domain": "alpha.myshopify.com",
        "timezone": "Europe/Berlin",
        "currency": "EUR",
        "status": "active",
        "last_recomputed_at": "2026-03-01T12:00:00+00:00",
        "counts": {
            "variants": 5,
            "by_status": {"in_stock": 1, "low_stock": 1, "out_of_stock": 1, "backorder": 1, "untracked": 1},
            "by_signal": {"ok": 2, "throttle": 2, "pause": 1},
            "waitlist_open": 10,
            "at_risk": 3,
        },
    }


# --- variant list -----------------------------------------------------------------------------

SHIRT_S_ITEM_KEYS = {
    "sku": "SHIRT-S",
    "title": "Small",
    "product_title": "Linen Shirt",
    "external_id": "v1",
    "price": 39.9,
    "tracked": True,
    "policy": "deny",
    "sellable_quantity": 3,
    "velocity": 2.0,
    "velocity_windows": [2.5, 2.0, 1.0],
    "sales_days": 90,
    "days_on_hand": 1.5,
    "stockout_on": "2026-03-04",
    "reorder_by": "2026-02-20",
    "suggested_reorder_qty": 40,
    "status": "low_stock",
    "badge": {"kind": "only_n_left", "quantity": 3, "text": "Only 3 left"},
    "signal": {"value": "throttle", "reason": "days_on_hand_below_lead_time"},
    "restock_eta": {"date": None, "source": None},
    "priority": 42.5,
    "waitlist_open": 0,
    "incoming_quantity": 0,
    "lead_time_days": 14,
    "campaign": None,
    "reasons": ["Velocity 2/day", "3 units ÷ 2/day = 1.5 days on hand"],
    "computed_at": "2026-03-01T12:00:00+00:00",
}


def test_list_is_sorted_by_priority_and_carries_every_figure(client: FlaskClient, seed: Seed) -> None:
    resp = client.get(f"/api/v1/stores/{seed.a}/variants", headers=KEY_A)
    assert resp.status_code == 200
    body = resp.get_json()
    v = seed.v
    assert ids(body) == [v["shirt_m"], v["shirt_s"], v["tote"], v["sock_1"], v["sock_2"]]
    assert (body["page"], body["per_page"], body["total"], body["pages"]) == (1, 50, 5, 1)
    assert "Link" not in resp.headers
    shirt_s = body["items"][1]
    assert shirt_s == {"id": v["shirt_s"], "product_id": shirt_s["product_id"], **SHIRT_S_ITEM_KEYS}
    assert body["items"][3]["badge"] == {"kind": "selling_fast", "quantity": None, "text": "Selling fast"}
    assert body["items"][4]["badge"] == {"kind": "none", "quantity": None, "text": None}
    assert body["items"][0]["campaign"] == {"id": 5, "stockout_on": "2026-03-12"}
    assert body["items"][0]["velocity_windows"] == [1.0, 1.5, None]


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("status=low_stock", ["shirt_s"]),
        ("status=low_stock,out_of_stock", ["shirt_m", "shirt_s"]),
        ("status=low_stock&status=out_of_stock", ["shirt_m", "shirt_s"]),
        ("signal=throttle", ["shirt_s", "tote"]),
        ("signal=ok", ["sock_1", "sock_2"]),
        ("badge=selling_fast", ["sock_1"]),
        ("badge=none&status=backorder", ["tote"]),
        ("q=shirt", ["shirt_m", "shirt_s"]),
        ("q=sMaLl", ["shirt_s"]),
        ("q=wool", ["sock_1", "sock_2"]),
        ("q=_", ["sock_2"]),  # a literal underscore, not the LIKE wildcard
        ("q=%25", []),  # a literal percent sign
        ("at_risk=true", ["shirt_m", "shirt_s", "tote"]),
        ("at_risk=false", ["sock_1", "sock_2"]),
        ("has_waitlist=true", ["shirt_m", "tote", "sock_1"]),
        ("at_risk=true&signal=throttle&q=tote", ["tote"]),
        ("sort=days_on_hand", ["shirt_m", "shirt_s", "sock_1", "sock_2", "tote"]),
        ("sort=stockout_on", ["shirt_m", "tote", "shirt_s", "sock_1", "sock_2"]),
        ("sort=sku", ["shirt_m", "shirt_s", "sock_1", "sock_2", "tote"]),
        ("sort=waitlist", ["shirt_m", "sock_1", "tote", "shirt_s", "sock_2"]),
        ("sort=priority", ["shirt_m", "shirt_s", "tote", "sock_1", "sock_2"]),
    ],
)
def test_filters_and_sorts(client: FlaskClient, seed: Seed, query: str, expected: list[str]) -> None:
    resp = client.get(f"/api/v1/stores/{seed.a}/variants?{query}", headers=KEY_A)
    assert resp.status_code == 200
    body = resp.get_json()
    assert ids(body) == [seed.v[name] for name in expected]
    assert body["total"] == len(expected)


def test_pagination_and_link_header(client: FlaskClient, seed: Seed) -> None:
    base = f"http://localhost/api/v1/stores/{seed.a}/variants"
    v = seed.v

    first = client.get(f"/api/v1/stores/{seed.a}/variants?per_page=2&sort=priority", headers=KEY_A)
    assert first.status_code == 200
    assert {k: first.get_json()[k] for k in ("page", "per_page", "total", "pages")} == {
        "page": 1,
        "per_page": 2,
        "total": 5,
        "pages": 3,
    }
    assert ids(first.get_json()) == [v["shirt_m"], v["shirt_s"]]
    assert first.headers["Link"] == f'<{base}?per_page=2&sort=priority&page=2>; rel="next"'

    middle = client.get(f"/api/v1/stores/{seed.a}/variants?per_page=2&page=2&sort=priority", headers=KEY_A)
    assert ids(middle.get_json()) == [v["tote"], v["sock_1"]]
    assert middle.headers["Link"] == (
        f'<{base}?per_page=2&page=3&sort=priority>; rel="next", <{base}?per_page=2&page=1&sort=priority>; rel="prev"'
    )

    last = client.get(f"/api/v1/stores/{seed.a}/variants?per_page=2&page=3", headers=KEY_A)
    assert ids(last.get_json()) == [v["sock_2"]]
    assert last.headers["Link"] == f'<{base}?per_page=2&page=2>; rel="prev"'

    beyond = client.get(f"/api/v1/stores/{seed.a}/variants?per_page=2&page=999999999999999999999", headers=KEY_A)
    assert beyond.status_code == 200
    assert beyond.get_json() == {"items": [], "page": 999999999999999999999, "per_page": 2, "total": 5, "pages": 3}
    assert beyond.headers["Link"] == f'<{base}?per_page=2&page=3>; rel="prev"'


def test_empty_result_has_zero_pages_and_no_links(client: FlaskClient, seed: Seed) -> None:
    resp = client.get(f"/api/v1/stores/{seed.a}/variants?q=nothing-matches", headers=KEY_A)
    assert resp.get_json() == {"items": [], "page": 1, "per_page": 50, "total": 0, "pages": 0}
    assert "Link" not in resp.headers


@pytest.mark.parametrize(
    ("query", "details"),
    [
        ("page=abc", {"page": "must be an integer, not 'abc'"}),
        ("page=0", {"page": "must be at least 1"}),
        ("page=1.5", {"page": "must be an integer, not '1.5'"}),
        ("page=1_000", {"page": "must be an integer, not '1_000'"}),
        ("page=-3", {"page": "must be at least 1"}),
        ("per_page=", {"per_page": "must be an integer, not ''"}),
        ("per_page=201", {"per_page": "must be at most 200"}),
        ("per_page=0", {"per_page": "must be at least 1"}),
        (
            "status=sold_out",
            {
                "status": "unknown value 'sold_out'; expected one or more of "
                "in_stock, low_stock, out_of_stock, backorder, untracked"
            },
        ),
        (
            "status=low_stock,",
            {
                "status": "unknown value ''; expected one or more of "
                "in_stock, low_stock, out_of_stock, backorder, untracked"
            },
        ),
        ("signal=stop", {"signal": "unknown value 'stop'; expected one or more of ok, throttle, pause"}),
        ("badge=hot", {"badge": "unknown value 'hot'; expected one or more of none, only_n_left, selling_fast"}),
        (
            "sort=price",
            {"sort": "unknown value 'price'; expected one of priority, days_on_hand, stockout_on, sku, waitlist"},
        ),
        ("at_risk=maybe", {"at_risk": "must be true or false, not 'maybe'"}),
        ("has_waitlist=2", {"has_waitlist": "must be true or false, not '2'"}),
        ("q=" + "x" * 201, {"q": "must be at most 200 characters"}),
        ("q=a%00b", {"q": "must not contain NUL characters"}),
        (
            "page=x&per_page=500&sort=nope",
            {
                "page": "must be an integer, not 'x'",
                "per_page": "must be at most 200",
                "sort": "unknown value 'nope'; expected one of priority, days_on_hand, stockout_on, sku, waitlist",
            },
        ),
    ],
)
def test_bad_query_parameters_are_400_naming_each(
    client: FlaskClient, seed: Seed, query: str, details: dict[str, str]
) -> None:
    resp = client.get(f"/api/v1/stores/{seed.a}/variants?{query}", headers=KEY_A)
    assert resp.status_code == 400
    assert resp.get_json() == {
        "error": {
            "code": "invalid_parameter",
            "message": f"Invalid query parameter(s): {', '.join(sorted(details))}.",
            "details": details,
        }
    }


# --- variant detail ---------------------------------------------------------------------------


def test_variant_detail_has_item_history_and_latest_events(client: FlaskClient, seed: Seed) -> None:
    vid = seed.v["shirt_m"]
    resp = client.get(f"/api/v1/stores/{seed.a}/variants/{vid}", headers=KEY_A)
    assert resp.status_code == 200
    body = resp.get_json()
    listed = client.get(f"/api/v1/stores/{seed.a}/variants?status=out_of_stock", headers=KEY_A).get_json()["items"][0]
    assert {k: body[k] for k in listed} == listed
    assert set(body) == {*listed, "history", "events"}
    assert listed["restock_eta"] == {"date": "2026-03-10", "source": "incoming_stock"}
    assert listed["price"] == 39.9
    t = seed.today
    # 90 days inclusive of today: 89 days ago is in, 90 and 120 are out.
    assert body["history"] == [
        {
            "day": (t - timedelta(days=89)).isoformat(),
            "sellable_quantity": 89,
            "velocity": 1.25,
            "days_on_hand": 44.5,
            "status": "low_stock",
            "signal": "throttle",
        },
        {
            "day": (t - timedelta(days=1)).isoformat(),
            "sellable_quantity": 1,
            "velocity": 1.25,
            "days_on_hand": None,
            "status": "low_stock",
            "signal": "throttle",
        },
        {
            "day": t.isoformat(),
            "sellable_quantity": 0,
            "velocity": 1.25,
            "days_on_hand": 0.0,
            "status": "out_of_stock",
            "signal": "pause",
        },
    ]
    events = body["events"]
    assert len(events) == 20
    # 22 events, one a day ending 2026-02-20 (i = 21); the two oldest fall off.
    assert [e["occurred_at"] for e in events[:2]] == ["2026-02-20T12:00:00+00:00", "2026-02-19T12:00:00+00:00"]
    assert {k: events[0][k] for k in ("kind", "before", "after", "source")} == {
        "kind": "restock",
        "before": 0,
        "after": 5,
        "source": "recompute",
    }
    assert {k: events[1][k] for k in ("kind", "before", "after")} == {"kind": "sellout", "before": 1, "after": 0}
    assert events[-1]["occurred_at"] == "2026-02-01T12:00:00+00:00"


@pytest.mark.parametrize("name", ["b1", "demo1", "gone", "fresh"])
def test_variant_outside_the_store_or_without_state_is_404(client: FlaskClient, seed: Seed, name: str) -> None:
    resp = client.get(f"/api/v1/stores/{seed.a}/variants/{seed.v[name]}", headers=KEY_A)
    assert resp.status_code == 404
    assert resp.get_json()["error"]["code"] == "not_found"
    assert "history" not in resp.get_json()


def test_unknown_and_unrepresentable_ids_are_404_json(client: FlaskClient, seed: Seed) -> None:
    for path in (
        "/api/v1/stores/987654",
        f"/api/v1/stores/{seed.a}/variants/987654",
        "/api/v1/stores/99999999999999999999999",
        f"/api/v1/stores/{seed.a}/variants/99999999999999999999999",
        "/api/v1/stores/abc/variants",
    ):
        resp = client.get(path, headers=KEY_A)
        assert resp.status_code == 404, path
        assert resp.is_json, path
        assert resp.get_json()["error"]["code"] == "not_found", path


# --- auth -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "path",
    ["", "/variants", "/variants/{shirt_s}"],
)
def test_auth_no_key_401_other_store_key_404(client: FlaskClient, seed: Seed, path: str) -> None:
    url = f"/api/v1/stores/{seed.a}" + path.format(**seed.v)
    no_key = client.get(url)
    assert no_key.status_code == 401
    assert no_key.get_json() == {
        "error": {"code": "unauthorized", "message": "Send the store's admin API key as 'Authorization: Bearer <key>'."}
    }
    other = client.get(url, headers=KEY_B)
    assert other.status_code == 404
    assert other.get_json() == {"error": {"code": "not_found", "message": "No such store."}}
    # A key of no store at all is refused as a key (the same 401 for any store id, existing or not).
    for target in (url, "/api/v1/stores/987654"):
        wrong = client.get(target, headers={"Authorization": "Bearer nope"})
        assert (wrong.status_code, wrong.get_json()) == (
            401,
            {"error": {"code": "unauthorized", "message": "This admin API key is not valid."}},
        )
        assert wrong.headers["WWW-Authenticate"] == 'Bearer realm="BackSoon", error="invalid_token"'
    assert no_key.headers["WWW-Authenticate"] == 'Bearer realm="BackSoon"'
    assert "WWW-Authenticate" not in other.headers
    assert client.get(url, headers=KEY_A).status_code == 200


def test_store_b_key_sees_only_store_b(client: FlaskClient, seed: Seed) -> None:
    body = client.get(f"/api/v1/stores/{seed.b}/variants", headers=KEY_B).get_json()
    assert ids(body) == [seed.v["b1"]]
    summary = client.get(f"/api/v1/stores/{seed.b}", headers=KEY_B).get_json()
    assert summary["counts"]["variants"] == 1
    assert summary["counts"]["waitlist_open"] == 4
    detail = client.get(f"/api/v1/stores/{seed.b}/variants/{seed.v['b1']}", headers=KEY_B).get_json()
    assert [h["sellable_quantity"] for h in detail["history"]] == [9]
    assert [(e["kind"], e["before"], e["after"]) for e in detail["events"]] == [("restock", 0, 9)]


def test_demo_store_is_public_only_in_demo_mode(make_app: AppFactory, seed: Seed) -> None:
    closed = make_app(demo=False).test_client()
    assert closed.get(f"/api/v1/stores/{seed.demo}").status_code == 401
    assert closed.get(f"/api/v1/stores/{seed.demo}/variants").status_code == 401

    open_ = make_app(demo=True).test_client()
    summary = open_.get(f"/api/v1/stores/{seed.demo}")
    assert summary.status_code == 200
    assert summary.get_json()["name"] == "Demo Outfitters"
    assert ids(open_.get(f"/api/v1/stores/{seed.demo}/variants").get_json()) == [seed.v["demo1"]]
    # Demo mode opens the demo store only.
    assert open_.get(f"/api/v1/stores/{seed.a}").status_code == 401
    # A key for another store is still a 404 on the demo store.
    assert open_.get(f"/api/v1/stores/{seed.demo}", headers=KEY_A).status_code == 404


# --- recompute --------------------------------------------------------------------------------


def test_recompute_enqueues_one_collapsed_job(client: FlaskClient, seed: Seed, parked_jobs: InProcessJobQueue) -> None:
    first = client.post(f"/api/v1/stores/{seed.a}/recompute", headers=KEY_A)
    assert first.status_code == 202
    assert first.get_json() == {"enqueued": True}
    assert parked_jobs._items.qsize() == 1
    assert parked_jobs._items.queue[0] == JobSpec(
        job_specs.RECOMPUTE_STORE, (seed.a,), job_id=f"recompute-store-{seed.a}", queue="low"
    )

    second = client.post(f"/api/v1/stores/{seed.a}/recompute", headers=KEY_A)
    assert second.status_code == 202
    assert second.get_json() == {"enqueued": False}
    assert parked_jobs._items.qsize() == 1
    assert parked_jobs.errors == []


def test_recompute_refused_enqueues_nothing(client: FlaskClient, seed: Seed, parked_jobs: InProcessJobQueue) -> None:
    assert client.post(f"/api/v1/stores/{seed.a}/recompute").status_code == 401
    assert client.post(f"/api/v1/stores/{seed.a}/recompute", headers=KEY_B).status_code == 404
    assert client.post("/api/v1/stores/987654/recompute", headers=KEY_A).status_code == 404
    assert client.get(f"/api/v1/stores/{seed.a}/recompute", headers=KEY_A).status_code == 405
    assert parked_jobs._items.qsize() == 0
    # Store B's own key still works, and only for store B.
    assert client.post(f"/api/v1/stores/{seed.b}/recompute", headers=KEY_B).get_json() == {"enqueued": True}
    assert [spec.args for spec in parked_jobs._items.queue] == [(seed.b,)]
