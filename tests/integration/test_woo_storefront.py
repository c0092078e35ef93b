"""WooCommerce storefront write-back against a simulated REST API (responses), on real PostgreSQL."""

from __future__ import annotations

import json
import re
from datetime import date
from typing import Any
from urllib.parse import urlsplit

import pytest
import responses
from sqlalchemy import select

from app import job_specs
from app.config import Settings
from app.db import Database
from app.infra.crypto import cipher_for
from app.models import Product, StockState, Store, Variant
from app.platforms.woocommerce import sync as woo_sync
from app.platforms.woocommerce.storefront import publish_changed
from app.runtime import Runtime, set_runtime
from app.services.stock import dirty
from integrations.woocommerce.client import WooClient
from tests.conftest import FIXTURES
from tests.factories import RecordingQueue, make_store, make_variant

pytestmark = pytest.mark.integration

STORE_URL = "https://shop.example"
API = f"{STORE_URL}/wp-json/wc/v3/"
SETTINGS = Settings(env="test", app_url="https://backsoon.example")
ITEM_ERROR = json.loads((FIXTURES / "woocommerce" / "rest" / "products-batch-update-item-error.json").read_text())

OUT = '{"back_soon":true,"badge":{"kind":"none","quantity":null},"eta_source":"lead_time","restock_eta":"2026-10-28","status":"out_of_stock","v":1}'  # noqa: E501
LOW = '{"back_soon":false,"badge":{"kind":"only_n_left","quantity":2},"eta_source":null,"restock_eta":null,"status":"low_stock","v":1}'  # noqa: E501


def public_resolver(*_args: Any, **_kwargs: Any) -> list[tuple[Any, ...]]:
    return [(2, 1, 6, "", ("93.184.216.34", 443))]


def client() -> WooClient:
    return WooClient(STORE_URL, "ck_test", "cs_test", resolver=public_resolver, sleep=lambda _s: None)


class FakeWoo:
    """Answers batch updates like WooCommerce: refused ids get the captured per-item error inside a 200."""

    def __init__(self, *, refuse: set[int] | None = None, fail: set[str] | None = None) -> None:
        self.refuse = refuse or set()
        self.fail = fail or set()  # paths answered with a 502
        self.calls: list[tuple[str, dict[str, Any]]] = []

    def install(self) -> None:
        responses.add_callback(responses.POST, re.compile(re.escape(API) + ".*"), callback=self)

    def __call__(self, request: Any) -> tuple[int, dict[str, str], str]:
        path = urlsplit(request.url).path.removeprefix("/wp-json/wc/v3/")
        body: dict[str, Any] = json.loads(request.body)
        self.calls.append((path, body))
        if path in self.fail:
            return 502, {"Content-Type": "text/html"}, "<html>Bad gateway</html>"
        error = ITEM_ERROR["body"]["update"][-1]["error"]
        answer = [
            {"id": u["id"], "error": error} if u["id"] in self.refuse else {"id": u["id"]} for u in body["update"]
        ]
        return 200, {"Content-Type": "application/json"}, json.dumps({"update": answer})


def add_state(s: Any, variant: Variant, fp: str, *, out: bool) -> None:
    s.add(
        StockState(
            store_id=variant.store_id,
            variant_id=variant.id,
            status="out_of_stock" if out else "low_stock",
            badge_kind="none" if out else "only_n_left",
            badge_quantity=None if out else 2,
            restock_eta=date(2026, 10, 28) if out else None,
            eta_source="lead_time" if out else None,
            fingerprint=fp,
        )
    )


def woo_store(s: Any) -> Store:
    cipher = cipher_for(SETTINGS)
    creds = cipher.encrypt_json({"consumer_key": "ck_test", "consumer_secret": "cs_test"})
    return make_store(s, platform="woocommerce", domain=STORE_URL, credentials_encrypted=creds)


def seed_mixed(db: Database) -> tuple[int, dict[str, int]]:
    """Simple product 10 (out of stock) and variable product 14 with variations 15 (out) and 16 (low)."""
    with db.session() as s:
        store = woo_store(s)
        simple = Product(store_id=store.id, external_id="10", title="Classic Tee", kind="simple")
        hoodie = Product(store_id=store.id, external_id="14", title="Hoodie", kind="variable")
        s.add_all([simple, hoodie])
        s.flush()
        v10 = make_variant(s, store, product=simple, external_id="10")
        v15 = make_variant(s, store, product=hoodie, external_id="15")
        v16 = make_variant(s, store, product=hoodie, external_id="16")
        add_state(s, v10, "fp-10", out=True)
        add_state(s, v15, "fp-15", out=True)
        add_state(s, v16, "fp-16", out=False)
        s.flush()
        return store.id, {"10": v10.id, "15": v15.id, "16": v16.id}


def seed_simple(db: Database, n: int) -> tuple[int, list[int]]:
    with db.session() as s:
        store = woo_store(s)
        ids = []
        for i in range(n):
            product = Product(store_id=store.id, external_id=str(1000 + i), title=f"P{i}", kind="simple")
            s.add(product)
            s.flush()
            v = make_variant(s, store, product=product, external_id=str(1000 + i))
            add_state(s, v, f"fp-{i}", out=i % 2 == 0)
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
def test_simple_product_and_variations_get_exact_bodies_and_a_second_run_sends_nothing(db: Database) -> None:
    store_id, vids = seed_mixed(db)
    woo = FakeWoo()
    woo.install()
    with db.session() as s:
        result = publish_changed(s, client(), store_id)
    assert (result.sent, result.failed, result.batches, result.errors) == (3, 0, 2, ())
    assert woo.calls == [
        ("products/batch", {"update": [{"id": 10, "meta_data": [{"key": "_backsoon_state", "value": OUT}]}]}),
        (
            "products/14/variations/batch",
            {
                "update": [
                    {"id": 15, "meta_data": [{"key": "_backsoon_state", "value": OUT}]},
                    {"id": 16, "meta_data": [{"key": "_backsoon_state", "value": LOW}]},
                ]
            },
        ),
    ]
    assert published(db, store_id) == {vids["10"]: "fp-10", vids["15"]: "fp-15", vids["16"]: "fp-16"}

    with db.session() as s:
        again = publish_changed(s, client(), store_id)
    assert (again.sent, again.failed, again.batches) == (0, 0, 0)
    assert len(responses.calls) == 2


@responses.activate
def test_an_item_error_leaves_only_that_item_unpublished(db: Database) -> None:
    store_id, vids = seed_mixed(db)
    woo = FakeWoo(refuse={15})
    woo.install()
    with db.session() as s:
        result = publish_changed(s, client(), store_id)
    assert (result.sent, result.failed, result.batches) == (2, 1, 2)
    assert result.errors == (
        "POST products/14/variations/batch: item 15: woocommerce_rest_product_invalid_id: Invalid ID.",
    )
    assert published(db, store_id) == {vids["10"]: "fp-10", vids["15"]: None, vids["16"]: "fp-16"}

    # The next run resends the refused variation alone.
    woo.refuse.clear()
    with db.session() as s:
        assert publish_changed(s, client(), store_id).sent == 1
    assert [(p, [u["id"] for u in b["update"]]) for p, b in woo.calls[2:]] == [("products/14/variations/batch", [15])]
    assert published(db, store_id)[vids["15"]] == "fp-15"


@responses.activate
def test_150_simple_products_go_out_in_two_calls_of_100_and_50(db: Database) -> None:
    store_id, _ids = seed_simple(db, 150)
    woo = FakeWoo()
    woo.install()
    with db.session() as s:
        result = publish_changed(s, client(), store_id)
    assert (result.sent, result.failed, result.batches) == (150, 0, 2)
    assert [(p, len(b["update"])) for p, b in woo.calls] == [("products/batch", 100), ("products/batch", 50)]
    assert [u["id"] for _, b in woo.calls for u in b["update"]] == list(range(1000, 1150))
    assert set(published(db, store_id).values()) == {f"fp-{i}" for i in range(150)}
    with db.session() as s:
        assert publish_changed(s, client(), store_id).batches == 0
    assert len(responses.calls) == 2


@responses.activate
def test_a_failed_call_is_recorded_marks_nothing_of_that_call_and_the_others_go_out(db: Database) -> None:
    store_id, vids = seed_mixed(db)
    woo = FakeWoo(fail={"products/batch"})
    woo.install()
    with db.session() as s:
        result = publish_changed(s, client(), store_id)
    assert (result.sent, result.failed, result.batches) == (2, 1, 2)
    assert len(result.errors) == 1 and result.errors[0].startswith("POST products/batch: TransientError: ")
    assert published(db, store_id) == {vids["10"]: None, vids["15"]: "fp-15", vids["16"]: "fp-16"}


@responses.activate
def test_non_numeric_ids_are_never_sent(db: Database) -> None:
    with db.session() as s:
        store = woo_store(s)
        v = make_variant(s, store, external_id="v-odd")  # its product is "simple" with a non-numeric id
        add_state(s, v, "fp", out=True)
        store_id = store.id
    FakeWoo().install()
    with db.session() as s:
        result = publish_changed(s, client(), store_id)
    assert (result.sent, result.failed, result.batches) == (0, 1, 0)
    assert "not a WooCommerce id" in result.errors[0]
    assert len(responses.calls) == 0


def test_recompute_queues_the_woocommerce_write_back(db: Database) -> None:
    from jobs.stock import recompute_dirty, recompute_store

    queue = RecordingQueue()
    set_runtime(Runtime(Settings(env="test"), db, queue))
    try:
        with db.session() as s:
            woo = make_store(s, platform="woocommerce")
            demo = make_store(s, platform="demo")
            vw, vd = make_variant(s, woo, qty=3), make_variant(s, demo, qty=3)
            dirty.mark_dirty(s, queue, woo.id, [vw.id], "webhook")
            dirty.mark_dirty(s, queue, demo.id, [vd.id], "webhook")
            woo_id, demo_id = woo.id, demo.id
        queue.specs.clear()
        assert recompute_dirty(woo_id) == {"variants": 1}
        assert recompute_dirty(demo_id) == {"variants": 1}
        recompute_store(woo_id)
        recompute_store(demo_id)
        publishes = [(sp.func, sp.args, sp.job_id) for sp in queue.specs if sp.func.endswith(".publish_storefront")]
        # The demo store has no storefront to write back to.
        assert publishes == [
            (job_specs.WOO_PUBLISH, (woo_id,), f"publish-{woo_id}"),
            (job_specs.WOO_PUBLISH, (woo_id,), f"publish-{woo_id}"),
        ]
    finally:
        set_runtime(None)


@responses.activate
def test_publish_storefront_job_writes_and_disconnects_on_a_rejected_key(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    from jobs import woocommerce as woo_jobs

    real_client_for = woo_sync.client_for

    def offline_client_for(settings: Settings, store: Store, **kw: Any) -> WooClient:
        return real_client_for(settings, store, resolver=public_resolver)

    monkeypatch.setattr(woo_sync, "client_for", offline_client_for)
    store_id, _vids = seed_mixed(db)
    woo = FakeWoo()
    woo.install()
    set_runtime(Runtime(SETTINGS, db, RecordingQueue()))
    try:
        assert woo_jobs.publish_storefront(store_id) == {"sent": 3, "failed": 0, "batches": 2}
        assert woo_jobs.publish_storefront(store_id) == {"sent": 0, "failed": 0, "batches": 0}
        assert len(responses.calls) == 2

        with db.session() as s:
            s.execute(StockState.__table__.update().values(fingerprint="fp-new"))
        responses.reset()
        responses.add(responses.POST, re.compile(re.escape(API) + ".*"), status=401, json={"code": "x"})
        assert woo_jobs.publish_storefront(store_id) == {"sent": 0, "failed": 3, "batches": 1}
        with db.session() as s:
            store = s.get(Store, store_id)
            assert store is not None and store.status == "disconnected"
        assert set(published(db, store_id).values()) == {"fp-10", "fp-15", "fp-16"}
        assert woo_jobs.publish_storefront(store_id) == {"sent": 0, "failed": 0, "batches": 0}
    finally:
        set_runtime(None)


@responses.activate
def test_product_listings_go_to_the_product_meta_in_calls_of_their_own(db: Database) -> None:
    from datetime import UTC, datetime

    from app.models import ProductListing
    from app.services.stock.storefront_state import refresh_listings

    store_id, vids = seed_mixed(db)
    with db.session() as s:
        # The hoodie: S sold out, M with 2 left: the card says "Only 2 left" for the whole product.
        s.execute(select(StockState).where(StockState.variant_id == vids["16"])).scalar_one().sellable_quantity = 2
        pids = s.scalars(select(Product.id).where(Product.store_id == store_id).order_by(Product.id)).all()
        assert refresh_listings(s, store_id, pids, datetime(2026, 12, 7, tzinfo=UTC)) == 2
        s.commit()
    woo = FakeWoo(refuse={10})
    woo.install()
    with db.session() as s:
        result = publish_changed(s, client(), store_id)
    listing_call = woo.calls[-1]
    assert listing_call == (
        "products/batch",
        {
            "update": [
                {
                    "id": 10,
                    "meta_data": [
                        {
                            "key": "_backsoon_listing",
                            "value": '{"badge":{"kind":"none","quantity":null},"status":"out_of_stock","v":1}',
                        }
                    ],
                },
                {
                    "id": 14,
                    "meta_data": [
                        {
                            "key": "_backsoon_listing",
                            "value": '{"badge":{"kind":"only_n_left","quantity":2},"status":"low_stock","v":1}',
                        }
                    ],
                },
            ]
        },
    )
    # Product 10 was refused (in both calls): its state and its listing stay unpublished, the hoodie's goes out.
    assert (result.sent, result.failed, result.batches) == (3, 2, 3)
    with db.session() as s:
        marks = dict(s.execute(select(ProductListing.product_id, ProductListing.published_fingerprint)).all())
    assert marks[pids[0]] is None and marks[pids[1]] is not None
