"""An order with 120 line items and 7 refunds is reconciled completely, within Shopify's 1,000-point query ceiling.

The simulated Admin API (responses) answers ORDERS_PAGE and the per-order follow-ups the way Shopify does: nested
lists are cut at the ``first`` the document asks for, ``refunds(first:)`` is a plain list without a cursor, and any
document whose requested cost (integrations.shopify.cost) exceeds 1,000 is refused with MAX_COST_EXCEEDED.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from typing import Any

import pytest
import requests
import responses
from sqlalchemy import func, select

from app.db import Database
from app.models import Order, OrderLine, Refund, RefundLine, Store, SyncRun
from app.platforms.shopify import records as shopify_records
from app.platforms.shopify import sync as shopify_sync
from integrations.shopify.bulk import map_order_node
from integrations.shopify.cost import MAX_QUERY_COST, requested_cost
from integrations.shopify.graphql import GraphQLClient
from tests.factories import RecordingQueue

pytestmark = pytest.mark.integration

SHOP = "backsoon-demo.myshopify.com"
GRAPHQL = f"https://{SHOP}/admin/api/2026-10/graphql.json"
LOCATION = 79432187993
T0 = "2026-10-14T13:00:00Z"
BIG, SMALL, TWO_REFUNDS = 820_000_000_001, 820_000_000_002, 820_000_000_003
LINE_BASE, REFUND_BASE, VARIANT_BASE = 15_000_000_000_000, 1_012_000_000_000, 49_000_000_000_000
N_LINES = 120
REFUND_SIZES = (25, 3, 12, 1, 40, 2, 30)  # refund 0 is cut on the orders page; 2–6 are not on it at all


def _cost(requested: int) -> dict[str, Any]:
    return {
        "cost": {
            "requestedQueryCost": requested,
            "actualQueryCost": requested // 4,
            "throttleStatus": {"maximumAvailable": 2000.0, "currentlyAvailable": 1900, "restoreRate": 100.0},
        }
    }


def _nested_first(query: str, field: str) -> int:
    match = re.search(rf"\b{field}\(first: (\d+)", query)
    assert match is not None, f"{field} is not sized in the document"
    return int(match.group(1))


class BigOrderAdmin:
    """Answers the GraphQL operations of a reconcile for three orders, one of them with 120 lines and 7 refunds."""

    def __init__(self) -> None:
        self.orders: list[dict[str, Any]] = [
            self._order(BIG, N_LINES, [self._refund_lines(r, size, N_LINES) for r, size in enumerate(REFUND_SIZES)]),
            self._order(SMALL, 3, [[(0, 1, "RETURN"), (2, 1, "NO_RESTOCK")]]),
            self._order(TWO_REFUNDS, 4, [[(1, 2, "RETURN")], [(3, 1, "CANCEL")]]),
        ]
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.costs: list[int] = []
        self.gone: set[str] = set()  # order GIDs answered as null by the follow-ups

    @staticmethod
    def _refund_lines(r: int, size: int, n_lines: int) -> list[tuple[int, int, str]]:
        return [((r * 13 + j) % n_lines, 1, ("RETURN", "NO_RESTOCK", "CANCEL")[j % 3]) for j in range(size)]

    @staticmethod
    def _order(order_id: int, n_lines: int, refunds: list[list[tuple[int, int, str]]]) -> dict[str, Any]:
        return {"id": order_id, "n_lines": n_lines, "refunds": refunds}

    # --- node builders ---------------------------------------------------------------------------------------

    @staticmethod
    def line_node(order_id: int, i: int) -> dict[str, Any]:
        return {
            "id": f"gid://shopify/LineItem/{LINE_BASE + order_id % 1000 * 1000 + i}",
            "quantity": 4 + i % 3,
            "currentQuantity": 4 + i % 3,
            "sku": f"SKU-{i:03d}",
            "variant": None if i % 5 == 0 else {"id": f"gid://shopify/ProductVariant/{VARIANT_BASE + i}"},
            "originalUnitPriceSet": {"shopMoney": {"amount": f"{10 + i}.50"}},
        }

    def _conn(self, nodes: list[dict[str, Any]], start: int, first: int) -> dict[str, Any]:
        chunk = nodes[start : start + first]
        end = start + len(chunk)
        return {"nodes": chunk, "pageInfo": {"hasNextPage": end < len(nodes), "endCursor": str(end) if chunk else None}}

    def _lines(self, order: dict[str, Any]) -> list[dict[str, Any]]:
        return [self.line_node(order["id"], i) for i in range(order["n_lines"])]

    def _refund_gid(self, order: dict[str, Any], r: int) -> str:
        return f"gid://shopify/Refund/{REFUND_BASE + order['id'] % 1000 * 100 + r}"

    def _refund_header(self, order: dict[str, Any], r: int) -> dict[str, Any]:
        return {"id": self._refund_gid(order, r), "createdAt": f"2026-10-15T1{r}:00:00Z", "note": f"refund {r}"}

    def _refund_line_nodes(self, order: dict[str, Any], r: int) -> list[dict[str, Any]]:
        return [
            {"lineItem": {"id": self.line_node(order["id"], i)["id"]}, "quantity": q, "restockType": kind}
            for i, q, kind in order["refunds"][r]
        ]

    def _refund(self, order: dict[str, Any], r: int, first: int, after: str | None) -> dict[str, Any]:
        lines = self._conn(self._refund_line_nodes(order, r), int(after or 0), first)
        return {**self._refund_header(order, r), "refundLineItems": lines}

    def order_node(self, order: dict[str, Any], lines: int, refunds: int, refund_lines: int) -> dict[str, Any]:
        oid = order["id"]
        return {
            "id": f"gid://shopify/Order/{oid}",
            "legacyResourceId": str(oid),
            "name": f"#{oid % 10000}",
            "email": "Maya.Chen@Example.com",
            "createdAt": T0,
            "processedAt": T0,
            "updatedAt": T0,
            "cancelledAt": None,
            "currencyCode": "USD",
            "totalPriceSet": {"shopMoney": {"amount": "1234.00"}},
            "customer": {"id": "gid://shopify/Customer/7712345678901"},
            "displayFinancialStatus": "PARTIALLY_REFUNDED",
            "displayFulfillmentStatus": "FULFILLED",
            "lineItems": self._conn(self._lines(order), 0, lines),
            "refunds": [self._refund(order, r, refund_lines, None) for r in range(len(order["refunds"]))][:refunds],
        }

    def full_node(self, order: dict[str, Any]) -> dict[str, Any]:
        """The order as one node holding every list in full (what a query without limits would return)."""
        return self.order_node(order, 10_000, 10_000, 10_000)

    def _find(self, gid: str) -> dict[str, Any] | None:
        if gid in self.gone:
            return None
        return next((o for o in self.orders if f"gid://shopify/Order/{o['id']}" == gid), None)

    # --- the endpoint ----------------------------------------------------------------------------------------

    def __call__(self, request: Any) -> tuple[int, dict[str, str], str]:
        payload = json.loads(request.body)
        query, variables = payload["query"], payload.get("variables", {})
        name = query.split("(")[0].split("{")[0].split()[-1]
        self.calls.append((name, variables))
        cost = requested_cost(query, variables)
        self.costs.append(cost)
        if cost > MAX_QUERY_COST:
            error = {
                "message": f"Query cost is {cost}, which exceeds the single query max cost limit (1000).",
                "extensions": {"code": "MAX_COST_EXCEEDED", "cost": cost, "maxCost": MAX_QUERY_COST},
            }
            return 200, {"Content-Type": "application/json"}, json.dumps({"errors": [error]})
        first = variables.get("first", 0)
        assert first <= 250, f"{name}: first {first} above Shopify's 250"
        if name == "LocationsPage":
            nodes = [{"id": f"gid://shopify/Location/{LOCATION}", "name": "HQ", "isActive": True}]
            data: dict[str, Any] = {"locations": {"nodes": nodes, "pageInfo": {"hasNextPage": False}}}
        elif name == "ProductsPage":
            data = {"products": {"nodes": [], "pageInfo": {"hasNextPage": False, "endCursor": None}}}
        elif name == "OrdersPage":
            lines, refunds = _nested_first(query, "lineItems"), _nested_first(query, "refunds")
            refund_lines = _nested_first(query, "refundLineItems")
            nodes = [self.order_node(o, lines, refunds, refund_lines) for o in self.orders]
            data = {"orders": self._conn(nodes, int(variables.get("after") or 0), first)}
        elif name == "OrderLineItemsPage":
            order = self._find(variables["id"])
            data = {"order": None}
            if order is not None:
                page = self._conn(self._lines(order), int(variables.get("after") or 0), first)
                data = {"order": {"id": variables["id"], "lineItems": page}}
        elif name == "OrderRefunds":
            order = self._find(variables["id"])
            data = {"order": None}
            if order is not None:  # a list: cut at first, no pageInfo
                headers = [self._refund_header(order, r) for r in range(len(order["refunds"]))][:first]
                data = {"order": {"id": variables["id"], "refunds": headers}}
        elif name == "RefundLinesPage":
            found = [
                (o, r)
                for o in self.orders
                for r in range(len(o["refunds"]))
                if self._refund_gid(o, r) == variables["id"]
            ]
            assert len(found) == 1
            order, r = found[0]
            data = {"refund": self._refund(order, r, first, variables.get("after"))}
        else:
            raise AssertionError(f"unexpected operation {name}")
        return 200, {"Content-Type": "application/json"}, json.dumps({"data": data, "extensions": _cost(cost)})

    def names(self) -> list[str]:
        return [name for name, _ in self.calls]


def graphql() -> GraphQLClient:
    return GraphQLClient(SHOP, lambda: "shpat_test", sleep=lambda _s: None)


@pytest.fixture
def store_id(db: Database) -> int:
    with db.session() as s:
        store = Store(platform="shopify", domain=SHOP, name="Demo", timezone="America/New_York")
        s.add(store)
        s.flush()
        return store.id


def reconcile(db: Database, store_id: int) -> SyncRun:
    jobs = RecordingQueue()
    with db.session() as s:
        run_id = shopify_sync.start_sync(s, jobs, store_id, kind="reconcile").id
    status = shopify_sync.step(db, jobs, run_id, shopify_sync.Clients(graphql=graphql(), http=requests.Session()))
    with db.session() as s:
        run = s.get(SyncRun, run_id)
        assert run is not None
        s.expunge(run)
    assert status == "done", run.error
    return run


def expected_refunded(admin: BigOrderAdmin, order: dict[str, Any]) -> dict[str, int]:
    """Each line's external id → the units its refunds take back."""
    totals: Counter[int] = Counter()
    for refund in order["refunds"]:
        for i, q, _ in refund:
            totals[i] += q
    return {admin.line_node(order["id"], i)["id"].rsplit("/", 1)[-1]: totals[i] for i in range(order["n_lines"])}


@responses.activate
def test_reconcile_applies_all_120_lines_and_7_refunds(db: Database, store_id: int) -> None:
    admin = BigOrderAdmin()
    responses.add_callback(responses.POST, GRAPHQL, callback=admin)

    run = reconcile(db, store_id)

    assert max(admin.costs) <= MAX_QUERY_COST
    big = admin.orders[0]
    with db.session() as s:
        order_id = s.scalar(select(Order.id).where(Order.store_id == store_id, Order.external_id == str(BIG)))
        assert order_id is not None
        lines = dict(
            s.execute(
                select(OrderLine.external_id, OrderLine.refunded_quantity).where(OrderLine.order_id == order_id)
            ).all()
        )
        refunds = s.scalar(select(func.count()).select_from(Refund).where(Refund.order_id == order_id))
        refund_lines = s.scalar(
            select(func.count())
            .select_from(RefundLine)
            .join(Refund, RefundLine.refund_id == Refund.id)
            .where(Refund.order_id == order_id)
        )
        restocked = s.scalar(
            select(func.count())
            .select_from(RefundLine)
            .join(Refund, RefundLine.refund_id == Refund.id)
            .where(Refund.order_id == order_id, RefundLine.restock.is_(True))
        )
        orders = s.scalar(select(func.count()).select_from(Order).where(Order.store_id == store_id))
    assert len(lines) == N_LINES
    assert lines == expected_refunded(admin, big)
    assert sum(lines.values()) == sum(REFUND_SIZES) == 113
    assert refunds == len(REFUND_SIZES) == 7
    assert refund_lines == 113
    assert restocked == sum(1 for refund in big["refunds"] for _, _, kind in refund if kind != "NO_RESTOCK")
    assert orders == 3
    assert (run.counts or {})["orders"] == 3

    # One page of orders (10 a page at 942 points), the big order's lines 11–120 in one
    # follow-up page, both orders returning refunds(first: 2) listed in full, and the refund lines the page did not
    # hold: refund 0 after its first 10, refunds 2–6 from the start (each within one page of 250).
    assert admin.names().count("OrdersPage") == 1
    line_pages = [v for n, v in admin.calls if n == "OrderLineItemsPage"]
    assert line_pages == [{"id": f"gid://shopify/Order/{BIG}", "first": 200, "after": "10"}]
    assert [v["id"] for n, v in admin.calls if n == "OrderRefunds"] == [
        f"gid://shopify/Order/{BIG}",
        f"gid://shopify/Order/{TWO_REFUNDS}",
    ]
    refund_pages = [(v["id"].rsplit("/", 1)[-1], v["after"]) for n, v in admin.calls if n == "RefundLinesPage"]
    base = REFUND_BASE + BIG % 1000 * 100
    assert sorted(refund_pages) == [(str(base), "10")] + [(str(base + r), None) for r in range(2, 7)]


@responses.activate
def test_the_completed_record_is_the_one_a_full_node_maps_to(monkeypatch: pytest.MonkeyPatch) -> None:
    # Small follow-up pages: lines 50 at a time (3 pages), refund lines 7 at a time (several pages per refund).
    monkeypatch.setattr(shopify_records, "ORDER_LINE_PAGE_SIZE", 50)
    monkeypatch.setattr(shopify_records, "REFUND_LINE_PAGE_SIZE", 7)
    admin = BigOrderAdmin()
    responses.add_callback(responses.POST, GRAPHQL, callback=admin)
    client = graphql()
    for order in admin.orders:
        page_node = admin.order_node(order, 10, 2, 10)
        assert shopify_records.complete_order(client, page_node) == map_order_node(admin.full_node(order))
    assert [v["after"] for n, v in admin.calls if n == "OrderLineItemsPage"] == ["10", "60", "110"]
    big_refund_pages = Counter(v["id"] for n, v in admin.calls if n == "RefundLinesPage")
    base = REFUND_BASE + BIG % 1000 * 100
    # refund 0: 25 lines, 10 on the page, 15 more in 3 pages of 7; refunds 2–6 from the start in ceil(size / 7)
    assert big_refund_pages == Counter(
        {f"gid://shopify/Refund/{base}": 3}
        | {f"gid://shopify/Refund/{base + r}": -(-REFUND_SIZES[r] // 7) for r in range(2, 7)}
    )
    assert max(admin.costs) <= MAX_QUERY_COST


@responses.activate
def test_an_order_deleted_while_its_lines_are_read_is_skipped() -> None:
    admin = BigOrderAdmin()
    admin.gone.add(f"gid://shopify/Order/{BIG}")
    responses.add_callback(responses.POST, GRAPHQL, callback=admin)
    assert shopify_records.complete_order(graphql(), admin.order_node(admin.orders[0], 10, 2, 10)) is None


@responses.activate
def test_a_cut_order_is_never_mapped_short() -> None:
    # Without completion the page node refuses to map: nothing is dropped silently.
    from integrations.shopify.bulk import IncompleteConnection

    admin = BigOrderAdmin()
    with pytest.raises(IncompleteConnection):
        map_order_node(admin.order_node(admin.orders[0], 10, 2, 10))
