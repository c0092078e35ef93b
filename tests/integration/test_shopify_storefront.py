"""Storefront write-back against a simulated Admin API (responses + fixtures), on real PostgreSQL."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from typing import Any

import pytest
import responses
from sqlalchemy import select, update

from app.db import Database
from app.models import StockState, Store, Variant
from app.platforms.shopify.storefront import publish_changed
from integrations.shopify.graphql import GraphQLClient
from tests.conftest import FIXTURES
from tests.factories import make_store, make_variant

pytestmark = pytest.mark.integration

SHOP = "backsoon-demo.myshopify.com"
GRAPHQL = f"https://{SHOP}/admin/api/2026-10/graphql.json"
GQL = FIXTURES / "shopify" / "graphql"
FIRST_VARIANT = 49712345678125


def load(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((GQL / name).read_text())
    return data


def client() -> GraphQLClient:
    return GraphQLClient(SHOP, lambda: "shpat_test", sleep=lambda _s: None)


class FakeAdmin:
    """Answers metafieldsSet like the fixtures; refuses (atomically) any call naming an owner in ``refuse``."""

    def __init__(self, refuse: set[str] | None = None, during: Any = None) -> None:
        self.refuse = refuse or set()
        self.during = during
        self.calls: list[list[dict[str, Any]]] = []

    def __call__(self, request: Any) -> tuple[int, dict[str, str], str]:
        body = json.loads(request.body)
        assert "metafieldsSet" in body["query"]
        inputs = body["variables"]["metafields"]
        self.calls.append(inputs)
        if self.during is not None:
            self.during()
        if any(i["ownerId"] in self.refuse for i in inputs):
            answer = load("metafields_set.user_errors.json")
        else:
            answer = load("metafields_set.success.json")
        return 200, {"Content-Type": "application/json"}, json.dumps(answer)


def seed(db: Database, n: int, *, published: int = 0) -> tuple[int, list[int]]:
    """A Shopify store with ``n`` variants, each with a computed state; the first ``published`` are up to date."""
    with db.session() as s:
        store = make_store(s, platform="shopify", domain=SHOP)
        ids: list[int] = []
        for i in range(n):
            v = make_variant(s, store, external_id=str(FIRST_VARIANT + i))
            fp = f"fp-{i}"
            s.add(
                StockState(
                    store_id=store.id,
                    variant_id=v.id,
                    status="out_of_stock" if i % 3 == 0 else "low_stock",
                    badge_kind="none" if i % 3 == 0 else "only_n_left",
                    badge_quantity=None if i % 3 == 0 else 2,
                    restock_eta=date(2026, 10, 28) if i % 3 == 0 else None,
                    eta_source="lead_time" if i % 3 == 0 else None,
                    fingerprint=fp,
                    published_fingerprint=fp if i < published else None,
                )
            )
            ids.append(v.id)
        s.flush()
        return store.id, ids


def published(db: Database, store_id: int) -> dict[int, str | None]:
    with db.session() as s:
        rows = s.execute(
            select(StockState.variant_id, StockState.published_fingerprint).where(StockState.store_id == store_id)
        )
        return {int(v): p for v, p in rows}


@responses.activate
def test_changed_states_are_published_once(db: Database) -> None:
    store_id, ids = seed(db, 5, published=2)
    admin = FakeAdmin()
    responses.add_callback(responses.POST, GRAPHQL, callback=admin)

    with db.session() as s:
        result = publish_changed(s, client(), store_id)
    assert (result.sent, result.failed, result.batches) == (3, 0, 1)
    sent = admin.calls[0]
    assert [i["ownerId"] for i in sent] == [f"gid://shopify/ProductVariant/{FIRST_VARIANT + i}" for i in (2, 3, 4)]
    assert {(i["namespace"], i["key"], i["type"]) for i in sent} == {("$app:backsoon", "state", "json")}
    assert json.loads(sent[1]["value"]) == {
        "status": "out_of_stock",
        "badge": {"kind": "none", "quantity": None},
        "restock_eta": "2026-10-28",
        "eta_source": "lead_time",
        "back_soon": True,
        "v": 1,
    }
    assert published(db, store_id) == {vid: f"fp-{i}" for i, vid in enumerate(ids)}

    # Nothing changed since: a second run makes no HTTP call at all.
    with db.session() as s:
        again = publish_changed(s, client(), store_id)
    assert (again.sent, again.failed, again.batches) == (0, 0, 0)
    assert len(responses.calls) == 1


@responses.activate
def test_a_state_changed_mid_publish_stays_unpublished(db: Database) -> None:
    store_id, ids = seed(db, 3)

    def recompute_meanwhile() -> None:
        with db.session() as s:
            s.execute(update(StockState).where(StockState.variant_id == ids[1]).values(fingerprint="fp-newer"))

    responses.add_callback(responses.POST, GRAPHQL, callback=FakeAdmin(during=recompute_meanwhile))
    with db.session() as s:
        result = publish_changed(s, client(), store_id)
    assert (result.sent, result.batches) == (3, 1)
    assert published(db, store_id) == {ids[0]: "fp-0", ids[1]: None, ids[2]: "fp-2"}

    # The newer state goes out on the next run, alone.
    admin = FakeAdmin()
    responses.reset()
    responses.add_callback(responses.POST, GRAPHQL, callback=admin)
    with db.session() as s:
        assert publish_changed(s, client(), store_id).sent == 1
    assert [i["ownerId"] for call in admin.calls for i in call] == [f"gid://shopify/ProductVariant/{FIRST_VARIANT + 1}"]
    assert published(db, store_id)[ids[1]] == "fp-newer"


@responses.activate
def test_user_errors_mark_nothing_of_their_chunk_and_other_chunks_succeed(db: Database) -> None:
    store_id, ids = seed(db, 60)
    bad_owner = f"gid://shopify/ProductVariant/{FIRST_VARIANT + 30}"  # in the second chunk (25..49)
    admin = FakeAdmin(refuse={bad_owner})
    responses.add_callback(responses.POST, GRAPHQL, callback=admin)

    with db.session() as s:
        result = publish_changed(s, client(), store_id)
    assert [len(c) for c in admin.calls] == [25, 25, 10]
    assert (result.sent, result.failed, result.batches) == (35, 25, 3)
    assert len(result.errors) == 1 and "INVALID_VALUE" in result.errors[0]
    marks = published(db, store_id)
    assert all(marks[vid] == f"fp-{i}" for i, vid in enumerate(ids) if not 25 <= i < 50)
    assert all(marks[vid] is None for vid in ids[25:50])

    # The refused chunk is retried on the next run; once Shopify accepts it, everything is published.
    admin.refuse.clear()
    with db.session() as s:
        retry = publish_changed(s, client(), store_id)
    assert (retry.sent, retry.failed, retry.batches) == (25, 0, 1)
    assert all(p is not None for p in published(db, store_id).values())


@responses.activate
def test_sixty_changed_states_take_three_calls_and_deleted_variants_are_skipped(db: Database) -> None:
    store_id, ids = seed(db, 61)
    with db.session() as s:
        s.execute(update(Variant).where(Variant.id == ids[-1]).values(deleted_at=datetime.now(UTC)))
    admin = FakeAdmin()
    responses.add_callback(responses.POST, GRAPHQL, callback=admin)
    with db.session() as s:
        result = publish_changed(s, client(), store_id)
    assert (result.sent, result.failed, result.batches) == (60, 0, 3)
    assert len(responses.calls) == 3
    assert published(db, store_id)[ids[-1]] is None


@responses.activate
def test_other_stores_states_are_not_sent(db: Database) -> None:
    store_id, _ = seed(db, 2)
    with db.session() as s:
        other = make_store(s, platform="shopify", domain="other-shop.myshopify.com")
        v = make_variant(s, other, external_id="123")
        s.add(StockState(store_id=other.id, variant_id=v.id, status="in_stock", fingerprint="x"))
        assert s.get(Store, other.id) is not None
    admin = FakeAdmin()
    responses.add_callback(responses.POST, GRAPHQL, callback=admin)
    with db.session() as s:
        assert publish_changed(s, client(), store_id).sent == 2
    assert all("/123" not in i["ownerId"] for call in admin.calls for i in call)


@responses.activate
def test_product_listings_are_published_as_product_metafields_true_for_the_whole_product(db: Database) -> None:
    from app.models import Product, ProductListing
    from app.services.stock.storefront_state import refresh_listings

    with db.session() as s:
        store = make_store(s, platform="shopify", domain=SHOP)
        many = Product(store_id=store.id, external_id="9587413528877", title="Merino Crew Sweater")
        few = Product(store_id=store.id, external_id="9587413561645", title="Linen Apron")
        s.add_all([many, few])
        s.flush()
        quantities = [(many, 5, "low_stock"), (many, 404, "in_stock"), (few, 2, "low_stock"), (few, 1, "low_stock")]
        for i, (product, qty, status) in enumerate(quantities):
            v = make_variant(s, store, product=product, qty=qty, external_id=str(FIRST_VARIANT + i))
            s.add(StockState(store_id=store.id, variant_id=v.id, status=status, sellable_quantity=qty))
        s.flush()
        assert refresh_listings(s, store.id, [many.id, few.id], datetime(2026, 12, 7, tzinfo=UTC)) == 2
        assert refresh_listings(s, store.id, [many.id, few.id], datetime(2026, 12, 7, tzinfo=UTC)) == 0
        store_id, ids = store.id, (many.id, few.id)
    admin = FakeAdmin()
    responses.add_callback(responses.POST, GRAPHQL, callback=admin)
    with db.session() as s:
        result = publish_changed(s, client(), store_id)
    assert (result.sent, result.failed, result.batches) == (6, 0, 1)  # four variant states and two listings
    listings = {i["ownerId"]: json.loads(i["value"]) for i in admin.calls[0] if i["key"] == "listing"}
    assert listings == {
        # One variant's "Only 5 left" does not stand for 409 units.
        "gid://shopify/Product/9587413528877": {
            "status": "in_stock",
            "badge": {"kind": "none", "quantity": None},
            "v": 1,
        },
        "gid://shopify/Product/9587413561645": {
            "status": "low_stock",
            "badge": {"kind": "only_n_left", "quantity": 3},
            "v": 1,
        },
    }
    assert {(i["namespace"], i["type"]) for i in admin.calls[0]} == {("$app:backsoon", "json")}
    with db.session() as s:
        rows = s.execute(select(ProductListing.product_id, ProductListing.published_fingerprint)).all()
        assert all(fp for _pid, fp in rows) and {pid for pid, _fp in rows} == set(ids)
        again = publish_changed(s, client(), store_id)
    assert (again.sent, again.batches) == (0, 0)
