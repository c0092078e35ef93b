"""The cron's periodic recompute and attribution run stores in batches: one job per batch, follow-ups only where due."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from app import job_specs
from app.config import Settings
from app.db import Database
from app.models import Delivery, StockState, Store, StoreSetting, StoreStatus, Variant
from app.runtime import Runtime, set_runtime
from app.services.stock import recompute as stock
from tests.factories import RecordingQueue, make_store, make_variant
from tests.integration.test_attribution import _delivery, _order

pytestmark = pytest.mark.integration


def _stores(db: Database, variants: list[int]) -> list[int]:
    ids = []
    with db.session() as s:
        for n in variants:
            store = make_store(s)
            for _ in range(n):
                make_variant(s, store, qty=5)
            ids.append(store.id)
    return ids


def _queue(db: Database) -> RecordingQueue:
    queue = RecordingQueue()
    set_runtime(Runtime(Settings(env="test"), db, queue))
    return queue


def test_store_batches_cut_at_the_variant_and_store_limits(db: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(stock, "BATCH_VARIANTS", 5)
    monkeypatch.setattr(stock, "BATCH_STORES", 3)
    a, b, c, d, e, f, g = _stores(db, [2, 2, 2, 7, 1, 1, 1])
    with db.session() as s:
        batches = stock.store_batches(s, [g, f, e, d, c, b, a])
    # 2+2 fits, a third 2 would be 6; the 7-variant store runs alone; three 1-variant stores hit the store limit.
    assert batches == [(a, b), (c,), (d,), (e, f, g)]


def test_store_batches_of_no_stores_is_empty(db: Database) -> None:
    with db.session() as s:
        assert stock.store_batches(s, []) == []


def test_recompute_all_enqueues_one_job_per_batch_of_active_stores(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    from jobs.stock import recompute_all

    monkeypatch.setattr(stock, "BATCH_VARIANTS", 3)
    a, b, c, gone = _stores(db, [1, 2, 3, 1])
    with db.session() as s:
        s.get_one(Store, gone).status = StoreStatus.UNINSTALLED
    queue = _queue(db)
    assert recompute_all() == 3
    assert [(sp.func, sp.args, sp.job_id, sp.queue) for sp in queue.specs] == [
        (job_specs.RECOMPUTE_STORES, ((a, b),), f"recompute-stores-{a}-{b}-2", "low"),
        (job_specs.RECOMPUTE_STORES, ((c,),), f"recompute-stores-{c}-{c}-1", "low"),
    ]


def test_recompute_stores_recomputes_each_store_and_queues_only_the_follow_ups_due(db: Database) -> None:
    from jobs.stock import recompute_stores

    plain, hooked, alerted, shop = _stores(db, [2, 1, 1, 1])
    with db.session() as s:
        s.get_one(Store, hooked).outbound_webhook_url = "https://hooks.example.test/signals"
        s.get_one(Store, alerted).admin_email = "owner@example.test"
        s.add(StoreSetting(store_id=alerted, scope="store", values={"instant_alerts": True}))
        s.get_one(Store, shop).platform = "shopify"
    queue = _queue(db)
    assert recompute_stores((plain, hooked, alerted, shop)) == {
        "stores": 4,
        "variants": 5,
        "changed": 5,
        "restocks": 0,
    }
    with db.session() as s:
        states = s.execute(select(StockState.store_id).order_by(StockState.store_id)).scalars().all()
        assert states == sorted([plain, plain, hooked, alerted, shop])
    # No attribution (the cron's attribute_all runs on the same schedule); no webhook or alert run for a store that
    # has none to run; the Shopify store's write-back as after every recompute.
    assert [(sp.func, sp.args) for sp in queue.specs] == [
        (job_specs.DELIVER_WEBHOOKS, (hooked,)),
        (job_specs.SEND_INSTANT_ALERTS, (alerted,)),
        (job_specs.SHOPIFY_PUBLISH, (shop,)),
    ]


def test_recompute_stores_skips_instant_alerts_without_an_admin_email_or_when_off(db: Database) -> None:
    from jobs.stock import recompute_stores

    no_email, off, uninstalled_hook = _stores(db, [1, 1, 1])
    with db.session() as s:
        s.add(StoreSetting(store_id=no_email, scope="store", values={"instant_alerts": True}))
        s.get_one(Store, off).admin_email = "owner@example.test"
        s.add(StoreSetting(store_id=off, scope="store", values={"instant_alerts": False}))
        store = s.get_one(Store, uninstalled_hook)
        store.outbound_webhook_url = "https://hooks.example.test/signals"
        store.status = StoreStatus.UNINSTALLED
    queue = _queue(db)
    assert recompute_stores((no_email, off, uninstalled_hook))["stores"] == 3
    assert queue.specs == []


def test_recompute_stores_carries_on_past_a_failing_store_and_then_fails_naming_it(db: Database) -> None:
    from jobs.stock import recompute_stores

    (first,) = _stores(db, [1])
    with db.session() as s:
        s.get_one(Store, first).outbound_webhook_url = "https://hooks.example.test/signals"
    queue = _queue(db)
    missing = first + 1000
    with pytest.raises(RuntimeError, match=rf"^periodic recompute failed for stores \[{missing}\]$"):
        recompute_stores((missing, first))
    with db.session() as s:
        assert s.execute(select(StockState.store_id)).scalars().all() == [first]
    assert [(sp.func, sp.args) for sp in queue.specs] == [(job_specs.DELIVER_WEBHOOKS, (first,))]


def test_attribute_all_enqueues_one_job_per_batch_and_the_batch_attributes_each_store(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    from jobs.attribution import attribute_all, attribute_stores

    monkeypatch.setattr(stock, "BATCH_STORES", 2)
    a, b, c = _stores(db, [1, 1, 1])
    queue = _queue(db)
    assert attribute_all() == 3
    assert [(sp.func, sp.args, sp.job_id, sp.queue) for sp in queue.specs] == [
        (job_specs.ATTRIBUTE_STORES, ((a, b),), f"attribute-stores-{a}-{b}-2", "low"),
        (job_specs.ATTRIBUTE_STORES, ((c,),), f"attribute-stores-{c}-{c}-1", "low"),
    ]
    now = datetime.now(UTC)
    with db.session() as s:
        sent = []
        for sid in (a, b, c):
            variant = s.execute(select(Variant).where(Variant.store_id == sid)).scalar_one()
            sent.append(_delivery(s, variant, sent_at=now - timedelta(hours=2), clicked=now - timedelta(hours=1)))
            _order(s, s.get_one(Store, sid), "ann@example.com", now - timedelta(minutes=30), [(variant, 1, "9.00", 0)])
        sent_ids = [d.id for d in sent]
    # Each store of the batch converts its one delivery, in its own transaction; the store outside it is left alone.
    assert attribute_stores((a, b)) == 2
    with db.session() as s:
        converted = [s.get_one(Delivery, did).converted_at is not None for did in sent_ids]
    assert converted == [True, True, False]
