"""Recompute on real PostgreSQL: aggregates, sold-out time, edges, idempotency, scoping, dirty flow."""

from __future__ import annotations

import threading
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import func, select

from app import job_specs
from app.config import Settings
from app.db import Database
from app.models import (
    Campaign,
    DirtyVariant,
    InventoryLevel,
    PurchaseOrder,
    StockEvent,
    StockState,
    StockStateHistory,
    StoreSetting,
    Subscription,
    Supplier,
    Variant,
)
from app.queue import InProcessJobQueue
from app.runtime import Runtime, set_runtime
from app.services.stock import dirty, inputs
from app.services.stock import recompute as stock
from app.services.stock import writer as stock_writer
from app.services.stock.storefront_state import unpublished_states
from integrations.shopify.storefront import state_value
from tests.factories import NOW, RecordingQueue, add_sale, make_location, make_store, make_variant

pytestmark = pytest.mark.integration


def state(db: Database, variant_id: int) -> StockState:
    with db.session() as s:
        st = s.get(StockState, variant_id)
        assert st is not None
        return st


def events(db: Database, store_id: int) -> list[tuple[int, str, int, int, str | None]]:
    with db.session() as s:
        rows = s.execute(
            select(
                StockEvent.variant_id,
                StockEvent.kind,
                StockEvent.quantity_before,
                StockEvent.quantity_after,
                StockEvent.fanout_status,
            )
            .where(StockEvent.store_id == store_id)
            .order_by(StockEvent.id)
        )
        return [tuple(r) for r in rows]  # type: ignore[misc]


def test_velocity_nets_cancellations_and_refunds_over_each_window(db: Database) -> None:
    with db.session() as s:
        store = make_store(s)
        v = make_variant(s, store, qty=30)
        add_sale(s, v, 7, days_ago=1)
        add_sale(s, v, 7, days_ago=5)
        add_sale(s, v, 14, days_ago=20)
        add_sale(s, v, 100, days_ago=2, cancelled=True)
        add_sale(s, v, 5, days_ago=3, refunded=5)
        add_sale(s, v, 50, days_ago=120)  # outside every window
        sid, vid = store.id, v.id
    with db.session() as s:
        result = stock.recompute(s, sid, now=NOW)
    assert (result.variants, result.changed, result.restocks, result.sellouts) == (1, 1, 0, 0)
    st = state(db, vid)
    assert st.velocity_windows == [2.0, 1.0, 0.3111]
    # 0.5 × 2 + 0.3 × 1 + 0.2 × 28/90
    assert st.velocity == 1.3622
    assert st.days_on_hand == 22.0
    assert st.sellable_quantity == 30
    assert st.status == "in_stock"
    assert st.stockout_on == date(2026, 12, 12)
    assert st.reorder_by == date(2026, 11, 21)


def test_sold_out_time_is_not_counted_as_zero_demand(db: Database) -> None:
    with db.session() as s:
        store = make_store(s)
        v = make_variant(s, store, qty=4)
        add_sale(s, v, 10, days_ago=6.5)
        s.add_all(
            [
                StockEvent(
                    store_id=store.id,
                    variant_id=v.id,
                    kind="sellout",
                    quantity_before=2,
                    quantity_after=0,
                    occurred_at=NOW - timedelta(days=6),
                    ended_at=NOW - timedelta(days=1),
                ),
                StockEvent(
                    store_id=store.id,
                    variant_id=v.id,
                    kind="restock",
                    quantity_before=0,
                    quantity_after=4,
                    occurred_at=NOW - timedelta(days=1),
                ),
            ]
        )
        sid, vid = store.id, v.id
    with db.session() as s:
        stock.recompute(s, sid, now=NOW)
    st = state(db, vid)
    # 5 of the last 7 days were sold out: 10 units over 2 sellable days, 23 of 28, 85 of 90.
    assert st.velocity_windows == [5.0, 0.4348, 0.1176]
    assert st.velocity == 2.654


def test_a_sell_out_span_recorded_by_recompute_ends_at_the_restock(db: Database) -> None:
    with db.session() as s:
        store = make_store(s)
        v = make_variant(s, store, qty=3)
        add_sale(s, v, 7, days_ago=6.5)
        sid, vid = store.id, v.id

    def run_at(days_ago: int, qty: int | None = None) -> None:
        with db.session() as s:
            if qty is not None:
                s.execute(stock.Variant.__table__.update().where(stock.Variant.id == vid).values(sellable_quantity=qty))
            stock.recompute(s, sid, now=NOW - timedelta(days=days_ago))

    def spans() -> list[tuple[Any, ...]]:
        with db.session() as s:
            rows = s.execute(
                select(StockEvent.kind, StockEvent.occurred_at, StockEvent.ended_at)
                .where(StockEvent.variant_id == vid)
                .order_by(StockEvent.id)
            )
            return [tuple(r) for r in rows]

    run_at(5)
    run_at(4, qty=0)
    assert spans() == [("sellout", NOW - timedelta(days=4), None)]
    # Still sold out two days later: the open span counts up to now (2 of the last 7 days sellable before it).
    run_at(2)
    assert state(db, vid).velocity_windows == [1.4, 0.2692, 0.0795]
    run_at(1, qty=5)
    assert spans() == [
        ("sellout", NOW - timedelta(days=4), NOW - timedelta(days=1)),
        ("restock", NOW - timedelta(days=1), None),
    ]
    # A day after the restock: 3 of the last 7 days were sold out, 7 units over 4 sellable days, 25 of 28, 87 of 90.
    run_at(0)
    assert state(db, vid).velocity_windows == [1.75, 0.28, 0.0805]


def test_the_state_fingerprint_moves_only_with_what_the_storefront_shows(db: Database) -> None:
    with db.session() as s:
        store = make_store(s)
        v = make_variant(s, store, qty=30)
        sid, vid = store.id, v.id
    with db.session() as s:
        stock.recompute(s, sid, now=NOW)
    first = state(db, vid)
    # A sale: velocity, days on hand and priority move; the page (in stock, no badge) does not.
    with db.session() as s:
        add_sale(s, s.get(stock.Variant, vid), 3, days_ago=0.5)
    with db.session() as s:
        assert stock.recompute(s, sid, now=NOW + timedelta(minutes=1)).changed == 1
    second = state(db, vid)
    assert (first.velocity, first.status, first.badge_kind) == (0.0, "in_stock", "none")
    # 3 units: 0.5 × 3/7 + 0.3 × 3/28 + 0.2 × 3/90 per day.
    assert (second.velocity, second.status, second.badge_kind) == (0.2531, "in_stock", "none")
    assert second.fingerprint == first.fingerprint
    # Down to 2: "Only 2 left" is on the page, so the storefront must hear of it.
    with db.session() as s:
        s.execute(stock.Variant.__table__.update().where(stock.Variant.id == vid).values(sellable_quantity=2))
    with db.session() as s:
        stock.recompute(s, sid, now=NOW + timedelta(minutes=2))
    third = state(db, vid)
    assert (third.status, third.badge_kind, third.badge_quantity) == ("low_stock", "only_n_left", 2)
    assert third.fingerprint != first.fingerprint


def test_edges_create_one_event_each_and_a_rerun_changes_nothing(db: Database) -> None:
    with db.session() as s:
        store = make_store(s)
        a = make_variant(s, store, qty=0)
        b = make_variant(s, store, qty=5)
        untracked = make_variant(s, store, qty=0, tracked=False)
        sid, aid, bid, uid = store.id, a.id, b.id, untracked.id
    with db.session() as s:
        first = stock.recompute(s, sid, now=NOW)
    # The first computation sets the baseline: no edge without a previous state. The tracked variant found sold out
    # gets a span (history, not a sell-out BackSoon saw): nothing says it ever sold, so it starts at this run.
    assert (first.changed, first.restocks, first.sellouts) == (3, 0, 0)
    assert state(db, aid).status == "out_of_stock"
    assert state(db, uid).status == "untracked"
    assert events(db, sid) == [(aid, "sellout", 0, 0, None)]

    with db.session() as s:
        s.execute(stock.Variant.__table__.update().where(stock.Variant.id == aid).values(sellable_quantity=6))
        s.execute(stock.Variant.__table__.update().where(stock.Variant.id == bid).values(sellable_quantity=0))
        s.execute(stock.Variant.__table__.update().where(stock.Variant.id == uid).values(sellable_quantity=3))
    with db.session() as s:
        second = stock.recompute(s, sid, now=NOW + timedelta(minutes=5))
    assert (second.restocks, second.sellouts) == (1, 1)
    assert events(db, sid) == [
        (aid, "sellout", 0, 0, None),
        (aid, "restock", 0, 6, "pending"),
        (bid, "sellout", 5, 0, None),
    ]
    assert second.restock_event_ids == (events_ids(db, sid, "restock")[0],)
    with db.session() as s:
        found = s.execute(
            select(StockEvent).where(StockEvent.variant_id == aid, StockEvent.kind == "sellout")
        ).scalar_one()
        # The restock ended the found span like any other.
        assert (found.source, found.details, found.occurred_at, found.ended_at) == (
            "found",
            {"since": "connect"},
            NOW,
            NOW + timedelta(minutes=5),
        )

    with db.session() as s:
        third = stock.recompute(s, sid, now=NOW + timedelta(minutes=10))
    assert (third.changed, third.restocks, third.sellouts) == (0, 0, 0)
    assert len(events(db, sid)) == 3


def events_ids(db: Database, store_id: int, kind: str) -> list[int]:
    with db.session() as s:
        return list(s.scalars(select(StockEvent.id).where(StockEvent.store_id == store_id, StockEvent.kind == kind)))


def test_history_keeps_one_row_per_variant_per_store_day(db: Database) -> None:
    with db.session() as s:
        store = make_store(s, timezone="America/New_York")
        v = make_variant(s, store, qty=8)
        sid, vid = store.id, v.id
    for minutes in (0, 30):
        with db.session() as s:
            stock.recompute(s, sid, now=NOW + timedelta(minutes=minutes))
    with db.session() as s:
        s.execute(stock.Variant.__table__.update().where(stock.Variant.id == vid).values(sellable_quantity=2))
    with db.session() as s:
        stock.recompute(s, sid, now=NOW + timedelta(days=1))
    with db.session() as s:
        rows = s.execute(
            select(StockStateHistory.day, StockStateHistory.sellable_quantity, StockStateHistory.status)
            .where(StockStateHistory.variant_id == vid)
            .order_by(StockStateHistory.day)
        ).all()
    # NOW is 12:00 UTC = 07:00 in New York, the same calendar day.
    assert [tuple(r) for r in rows] == [(date(2026, 11, 20), 8, "in_stock"), (date(2026, 11, 21), 2, "low_stock")]


def _snapshot(db: Database, store_id: int) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    with db.session() as s:
        states = s.execute(
            select(StockState.variant_id, StockState.sellable_quantity, StockState.status, StockState.velocity)
            .where(StockState.store_id == store_id)
            .order_by(StockState.variant_id)
        ).all()
        history = s.execute(
            select(StockStateHistory.variant_id, StockStateHistory.day, StockStateHistory.sellable_quantity)
            .where(StockStateHistory.store_id == store_id)
            .order_by(StockStateHistory.variant_id, StockStateHistory.day)
        ).all()
    return [tuple(r) for r in states], [tuple(r) for r in history]


def test_batches_written_by_the_pipelined_writer_match_a_single_batch(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    stores = []
    for _ in range(2):
        with db.session() as s:
            store = make_store(s)
            vs = [make_variant(s, store, qty=q) for q in (0, 1, 5, 9, 40)]
            add_sale(s, vs[2], 4, days_ago=2)
            stores.append((store.id, [v.id for v in vs]))

    def run(sid: int, vids: list[int], batch: int) -> list[int]:
        monkeypatch.setattr(stock_writer, "WRITE_BATCH", batch)
        changed = []
        with db.session() as s:
            changed.append(stock.recompute(s, sid, now=NOW).changed)
        with db.session() as s:
            for vid, qty in zip(vids, (3, 0, 5, 9, 0), strict=True):
                s.execute(stock.Variant.__table__.update().where(stock.Variant.id == vid).values(sellable_quantity=qty))
        with db.session() as s:
            result = stock.recompute(s, sid, now=NOW + timedelta(days=1))
            changed += [result.changed, result.restocks, result.sellouts]
        return changed

    # The first store in batches of 2 (three batches through the writer thread), the second in one batch inline.
    assert run(*stores[0], batch=2) == run(*stores[1], batch=10_000) == [5, 5, 1, 2]
    (a_states, a_history), (b_states, b_history) = _snapshot(db, stores[0][0]), _snapshot(db, stores[1][0])
    assert len(a_states) == 5 and len(a_history) == 10
    offset = stores[1][1][0] - stores[0][1][0]
    assert [(vid + offset, *rest) for vid, *rest in a_states] == b_states
    assert [(vid + offset, *rest) for vid, *rest in a_history] == b_history


def _store_of_five(db: Database) -> int:
    """A store of five variants (0, 1, 5, 9 and 40 units): three batches of two."""
    with db.session() as s:
        store = make_store(s)
        for q in (0, 1, 5, 9, 40):
            make_variant(s, store, qty=q)
        return store.id


def test_a_failing_batch_fails_the_recompute_and_writes_nothing(db: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    sid = _store_of_five(db)
    calls: list[int] = []
    real = stock_writer.write_history

    def fail_second(session: Any, store_id: int, today: date, ids: Any) -> None:
        calls.append(len(ids))
        if len(calls) == 2:
            raise RuntimeError("disk full")
        real(session, store_id, today, ids)

    monkeypatch.setattr(stock_writer, "WRITE_BATCH", 2)
    monkeypatch.setattr(stock_writer, "write_history", fail_second)
    with pytest.raises(RuntimeError, match="disk full"), db.session() as s:
        stock.recompute(s, sid, now=NOW)
    # The third batch was taken but not written; the session's transaction rolled back.
    assert calls == [2, 2]
    assert _snapshot(db, sid) == ([], [])
    with db.session() as s:
        recomputed = select(func.count()).select_from(stock.Store).where(stock.Store.last_recomputed_at.is_not(None))
        assert s.scalar(recomputed) == 0


def test_an_engine_failure_mid_run_stops_the_writer_before_the_rollback(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    sid = _store_of_five(db)
    real = stock.StateAssessor.state
    seen: list[int] = []

    def fail_fifth(self: stock.StateAssessor, row: Any) -> dict[str, Any]:
        seen.append(row[0])
        if len(seen) == 5:
            raise ValueError("unknown inventory policy")
        return real(self, row)

    monkeypatch.setattr(stock_writer, "WRITE_BATCH", 2)
    monkeypatch.setattr(stock.StateAssessor, "state", fail_fifth)
    with pytest.raises(ValueError, match="unknown inventory policy"), db.session() as s:
        stock.recompute(s, sid, now=NOW)
    # Two batches went through the writer thread; it was joined before the session rolled them back.
    assert len(seen) == 5
    assert [t.name for t in threading.enumerate() if t.name.startswith("recompute-writer")] == []
    assert _snapshot(db, sid) == ([], [])


def test_inputs_from_settings_suppliers_incoming_waitlist_and_campaigns(db: Database) -> None:
    with db.session() as s:
        store = make_store(s)
        supplier = Supplier(store_id=store.id, name="Acme", lead_time_days=30)
        s.add(supplier)
        s.flush()
        v = make_variant(s, store, qty=0, supplier_id=supplier.id)
        s.add(PurchaseOrder(store_id=store.id, variant_id=v.id, quantity=40, expected_on=date(2026, 12, 3)))
        s.add(
            PurchaseOrder(
                store_id=store.id, variant_id=v.id, quantity=10, expected_on=date(2026, 12, 1), status="cancelled"
            )
        )
        for i in range(3):
            s.add(Subscription(store_id=store.id, variant_id=v.id, email=f"s{i}@example.test", state="active"))
        s.add(Subscription(store_id=store.id, variant_id=v.id, email="gone@example.test", state="unsubscribed"))
        s.add(StoreSetting(store_id=store.id, scope="store", values={"low_stock_threshold": 2}))
        w = make_variant(s, store, qty=3)
        s.add(StoreSetting(store_id=store.id, scope="variant", variant_id=w.id, values={"low_stock_threshold": 1}))
        for d in range(10):
            add_sale(s, w, 1, days_ago=d + 0.5)
        s.add(
            Campaign(
                store_id=store.id,
                name="Black Friday",
                starts_on=date(2026, 11, 21),
                ends_on=date(2026, 11, 30),
                uplift_pct=Decimal("100"),
                product_ids=[w.product_id],
            )
        )
        sid, vid, wid = store.id, v.id, w.id
    with db.session() as s:
        stock.recompute(s, sid, now=NOW)
    sold_out = state(db, vid)
    assert (sold_out.status, sold_out.lead_time_days, sold_out.waitlist_open, sold_out.incoming_quantity) == (
        "out_of_stock",
        30,
        3,
        40,
    )
    assert (sold_out.restock_eta, sold_out.eta_source) == (date(2026, 12, 3), "incoming_stock")
    assert (sold_out.signal, sold_out.badge_kind) == ("pause", "none")
    low = state(db, wid)
    # Variant override (1) beats the store's threshold (2): 3 units is not "Only 3 left".
    assert (low.badge_kind, low.badge_quantity) == ("none", None)
    assert low.campaign_id is not None
    assert low.campaign_stockout_on == date(2026, 11, 22)


def test_recompute_is_scoped_to_one_store(db: Database) -> None:
    with db.session() as s:
        a = make_store(s)
        b = make_store(s)
        va = make_variant(s, a, qty=1)
        vb = make_variant(s, b, qty=1)
        add_sale(s, vb, 30, days_ago=1)
        aid, bid, vaid, vbid = a.id, b.id, va.id, vb.id
    with db.session() as s:
        result = stock.recompute(s, aid, now=NOW)
    assert result.variants == 1
    with db.session() as s:
        assert s.scalars(select(StockState.variant_id)).all() == [vaid]
    assert state(db, vaid).velocity == 0.0
    with db.session() as s:
        stock.recompute(s, bid, [vaid, vbid], now=NOW)
    with db.session() as s:
        assert sorted(s.scalars(select(StockState.variant_id))) == [vaid, vbid]


def test_dirty_variants_recompute_through_one_collapsed_job(db: Database) -> None:
    from jobs.stock import recompute_dirty

    queue = RecordingQueue()
    with db.session() as s:
        store = make_store(s)
        v1 = make_variant(s, store, qty=0)
        v2 = make_variant(s, store, qty=4)
        sid, v1id, v2id = store.id, v1.id, v2.id
    with db.session() as s:
        assert dirty.mark_dirty(s, queue, sid, [v1id, v2id, v1id], "webhook") == 2
    with db.session() as s:
        dirty.mark_dirty(s, queue, sid, [v2id], "webhook")
    assert [sp.job_id for sp in queue.specs] == [f"recompute-dirty-{sid}", f"recompute-dirty-{sid}"]

    set_runtime(Runtime(Settings(env="test"), db, InProcessJobQueue(eager=True)))
    assert recompute_dirty(sid) == {"variants": 2}
    with db.session() as s:
        assert s.scalar(select(func.count()).select_from(DirtyVariant)) == 0
        assert sorted(s.scalars(select(StockState.variant_id))) == [v1id, v2id]
    assert recompute_dirty(sid) == {"variants": 0}


def test_mark_dirty_with_nothing_enqueues_nothing(db: Database) -> None:
    queue = RecordingQueue()
    with db.session() as s:
        store = make_store(s)
        assert dirty.mark_dirty(s, queue, store.id, [], "webhook") == 0
    assert queue.specs == []
    with db.session() as s:
        assert s.scalar(select(func.count()).select_from(DirtyVariant)) == 0


def test_unknown_store_raises_lookup_error(db: Database) -> None:
    with db.session() as s, pytest.raises(LookupError, match="store 424242 not found"):
        stock.recompute(s, 424242, now=NOW)


def test_recompute_jobs_queue_each_platforms_storefront_write_back(db: Database) -> None:
    from jobs.stock import recompute_dirty, recompute_store

    queue = RecordingQueue()
    set_runtime(Runtime(Settings(env="test"), db, queue))
    with db.session() as s:
        shop = make_store(s, platform="shopify")
        woo = make_store(s, platform="woocommerce")
        vs, vw = make_variant(s, shop, qty=3), make_variant(s, woo, qty=3)
        dirty.mark_dirty(s, queue, shop.id, [vs.id], "webhook")
        dirty.mark_dirty(s, queue, woo.id, [vw.id], "webhook")
        shop_id, woo_id = shop.id, woo.id
    queue.specs.clear()
    assert recompute_dirty(shop_id) == {"variants": 1}
    assert recompute_dirty(woo_id) == {"variants": 1}
    assert recompute_dirty(shop_id) == {"variants": 0}
    recompute_store(woo_id)
    recompute_store(shop_id)
    publishes = [(sp.func, sp.args, sp.job_id) for sp in queue.specs if sp.func.endswith(".publish_storefront")]
    assert publishes == [
        (job_specs.SHOPIFY_PUBLISH, (shop_id,), f"publish-{shop_id}"),
        (job_specs.WOO_PUBLISH, (woo_id,), f"publish-{woo_id}"),
        (job_specs.WOO_PUBLISH, (woo_id,), f"publish-{woo_id}"),
        (job_specs.SHOPIFY_PUBLISH, (shop_id,), f"publish-{shop_id}"),
    ]


def test_a_recompute_is_followed_by_fanout_attribution_and_signal_webhooks(db: Database) -> None:
    from jobs.stock import recompute_dirty

    queue = RecordingQueue()
    set_runtime(Runtime(Settings(env="test"), db, queue))
    with db.session() as s:
        store = make_store(s, platform="demo")
        variant = make_variant(s, store, qty=0)
        stock.recompute(s, store.id)
        variant.sellable_quantity = 4  # back in stock: the next recompute records a restock
        dirty.mark_dirty(s, queue, store.id, [variant.id], "webhook")
        store_id = store.id
    queue.specs.clear()
    assert recompute_dirty(store_id) == {"variants": 1}
    with db.session() as s:
        event_id = s.execute(select(StockEvent.id).where(StockEvent.kind == "restock")).scalar_one()
    assert [(sp.func, sp.args, sp.job_id, sp.queue) for sp in queue.specs] == [
        (job_specs.FANOUT_EVENT, (event_id,), f"fanout-{event_id}", "default"),
        (job_specs.ATTRIBUTE_STORE, (store_id,), f"attribute-{store_id}", "low"),
        (job_specs.DELIVER_WEBHOOKS, (store_id,), f"outbound-webhooks-{store_id}", "low"),
        (job_specs.SEND_INSTANT_ALERTS, (store_id,), f"instant-alerts-{store_id}", "low"),
    ]


def _count_assessed(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The ids of the variants the engine assesses from now on, in order."""
    calls: list[int] = []
    real_assess = stock.assess

    def counting(facts: Any, settings: Any, today: Any) -> Any:
        calls.append(facts.variant_id)
        return real_assess(facts, settings, today)

    monkeypatch.setattr(stock, "assess", counting)
    return calls


def test_periodic_run_skips_variants_whose_inputs_did_not_change(db: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    with db.session() as s:
        store = make_store(s)
        a = make_variant(s, store, qty=5)
        b = make_variant(s, store, qty=0)
        add_sale(s, a, 2, days_ago=1)
        sid, aid = store.id, a.id
        assert b.id
    with db.session() as s:
        stock.recompute(s, sid, now=NOW)
    calls = _count_assessed(monkeypatch)
    with db.session() as s:
        assert stock.recompute(s, sid, now=NOW + timedelta(minutes=15)).changed == 0
    assert calls == []
    with db.session() as s:
        s.execute(stock.Variant.__table__.update().where(stock.Variant.id == aid).values(sellable_quantity=4))
    with db.session() as s:
        assert stock.recompute(s, sid, now=NOW + timedelta(minutes=30)).changed == 1
    assert calls == [aid]
    # A new engine version recomputes everything.
    monkeypatch.setattr(inputs, "ENGINE_VERSION", inputs.ENGINE_VERSION + 1)
    with db.session() as s:
        assert stock.recompute(s, sid, now=NOW + timedelta(minutes=45)).changed == 2


@pytest.mark.truncating("ANALYZE runs on a connection of its own")
def test_analyze_runs_once_a_load_crosses_a_mark(db: Database) -> None:
    from app.services.ingest import sync_runs

    assert sync_runs.analyze_if_due(db, 1_900, 2_000) is True
    assert sync_runs.analyze_if_due(db, 2_000, 2_100) is False
    assert sync_runs.analyze_if_due(db, 19_950, 20_050) is True
    assert sync_runs.analyze_if_due(db, 30_000, 30_100) is False


@pytest.mark.parametrize("backend", ["db", "sqlite_db"])
def test_each_input_changed_alone_recomputes_exactly_its_variant(
    backend: str, request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The input fingerprint is computed in the database: every input it covers, changed on its own, brings
    back that variant and no other; unchanged variants never reach the engine."""
    from app.models import Product, Variant

    db: Database = request.getfixturevalue(backend)
    with db.session() as s:
        store = make_store(s)
        supplier = Supplier(store_id=store.id, name="Acme", lead_time_days=30)
        s.add(supplier)
        s.flush()
        vs = [make_variant(s, store, qty=20) for _ in range(11)]
        vs[5].supplier_id = supplier.id
        for v in vs:
            add_sale(s, v, 2, days_ago=1)
        line = add_sale(s, vs[2], 3, days_ago=2)
        sid, ids, pids, line_id = store.id, [v.id for v in vs], [v.product_id for v in vs], line.id
    with db.session() as s:
        assert stock.recompute(s, sid, now=NOW).changed == 11

    calls = _count_assessed(monkeypatch)

    def update(model: Any, row_id: int, **values: Any) -> Any:
        return lambda s: s.execute(model.__table__.update().where(model.id == row_id).values(**values))

    def add(row: Any) -> Any:
        return lambda s: s.add(row)

    refund = stock.text("UPDATE order_lines SET refunded_quantity = 1 WHERE id = :i")
    threshold, lead_time, dec_9 = {"low_stock_threshold": 3}, {"lead_time_days": 5}, date(2026, 12, 9)
    campaign = Campaign(
        store_id=sid, name="Sale", starts_on=date(2026, 11, 23), ends_on=date(2026, 11, 30),
        uplift_pct=Decimal("50"), product_ids=[pids[8]],
    )  # fmt: skip
    changes: list[tuple[str, Any]] = [
        ("quantity", update(Variant, ids[0], sellable_quantity=19)),
        ("a sale", lambda s: add_sale(s, s.get(Variant, ids[1]), 1, days_ago=0.01)),
        ("a refund", lambda s: s.execute(refund, {"i": line_id})),
        ("incoming stock", add(PurchaseOrder(store_id=sid, variant_id=ids[3], quantity=9, expected_on=dec_9))),
        ("a signup", add(Subscription(store_id=sid, variant_id=ids[4], email="w@example.test", state="active"))),
        ("the supplier's lead time", update(Supplier, supplier.id, lead_time_days=21)),
        ("a product setting", add(StoreSetting(store_id=sid, scope="product", product_id=pids[6], values=threshold))),
        ("a variant setting", add(StoreSetting(store_id=sid, scope="variant", variant_id=ids[7], values=lead_time))),
        ("a campaign", add(campaign)),
        ("unpublished", update(Product, pids[9], published=False)),
        ("sold out", update(Variant, ids[10], sellable_quantity=0)),
    ]  # fmt: skip
    for minute, (what, change) in enumerate(changes, start=1):
        with db.session() as s:
            change(s)
        calls.clear()
        with db.session() as s:
            result = stock.recompute(s, sid, now=NOW + timedelta(minutes=minute))
        assert (what, result.changed, calls) == (what, 1, [ids[minute - 1]])
    # Sold out since the last run: its sold-out time grows in steps of six hours, its first step a variant's own
    # phase short of six hours; until then nothing changes, then only its inputs do.
    sold_out_at = NOW + timedelta(minutes=11)
    first_step = timedelta(hours=inputs.SOLD_OUT_STEP_HOURS) - timedelta(seconds=inputs.soldout_phase(ids[10]))
    calls.clear()
    with db.session() as s:
        assert (stock.recompute(s, sid, now=sold_out_at + first_step / 2).changed, calls) == (0, [])
    with db.session() as s:
        assert stock.recompute(s, sid, now=sold_out_at + first_step + timedelta(minutes=1)).changed == 1
    assert calls == [ids[10]]
    # Nothing changed: nothing recomputed.
    calls.clear()
    with db.session() as s:
        later = sold_out_at + first_step + timedelta(minutes=2)
        assert (stock.recompute(s, sid, now=later).changed, calls) == (0, [])
    assert state(db, ids[5]).lead_time_days == 21
    assert state(db, ids[7]).lead_time_days == 5


def test_a_restock_date_comes_only_from_an_entered_lead_time_the_merchant_shows(db: Database) -> None:
    with db.session() as s:
        store = make_store(s)
        supplier = Supplier(store_id=store.id, name="Acme", lead_time_days=30)
        s.add(supplier)
        s.flush()
        # A store-level lead time is still the store's default: shown or not, it never dates a restock.
        s.add(StoreSetting(store_id=store.id, scope="store", values={"show_lead_time_eta": True, "lead_time_days": 10}))
        by_supplier = make_variant(s, store, qty=0, supplier_id=supplier.id)
        by_default = make_variant(s, store, qty=0)
        by_override = make_variant(s, store, qty=0)
        s.add(StoreSetting(store_id=store.id, scope="variant", variant_id=by_override.id, values={"lead_time_days": 5}))
        hidden = make_variant(s, store, qty=0, supplier_id=supplier.id)
        s.add(
            StoreSetting(
                store_id=store.id, scope="product", product_id=hidden.product_id, values={"show_lead_time_eta": False}
            )
        )
        variants = (by_supplier, by_default, by_override, hidden)
        for v in variants:
            add_sale(s, v, 3, days_ago=1.5)
        sid, ids = store.id, [v.id for v in variants]
    with db.session() as s:
        stock.recompute(s, sid, now=NOW)
    found = {vid: state(db, vid) for vid in ids}
    supplied, default, override, not_shown = (found[vid] for vid in ids)
    assert (supplied.status, supplied.restock_eta, supplied.eta_source) == (
        "out_of_stock",
        date(2026, 12, 20),
        "lead_time",
    )
    assert "Back in stock about 2026-12-20 = today + 30 days lead time, if ordered today" in supplied.reasons
    assert (override.restock_eta, override.eta_source) == (date(2026, 11, 25), "lead_time")
    assert (default.status, default.lead_time_days, default.restock_eta, default.eta_source) == (
        "out_of_stock",
        10,
        None,
        None,
    )
    assert not any(r.startswith("Back in stock") for r in default.reasons)
    assert (
        "No restock date: no open purchase order, and no supplier, product or variant lead time entered"
        " (the store default lead time never dates a restock)" in default.reasons
    )
    assert (not_shown.lead_time_days, not_shown.restock_eta, not_shown.eta_source) == (30, None, None)
    assert "No restock date: no open purchase order, and the 30-day lead time is not shown" in not_shown.reasons


@pytest.mark.parametrize("backend", ["db", "sqlite_db"])
def test_no_lead_time_date_follows_a_purchase_order_closed_while_sold_out(
    backend: str, request: pytest.FixtureRequest
) -> None:
    db: Database = request.getfixturevalue(backend)
    sold_out_at = NOW - timedelta(days=2)
    with db.session() as s:
        store = make_store(s)
        supplier = Supplier(store_id=store.id, name="Acme", lead_time_days=30)
        s.add(supplier)
        s.flush()
        s.add(StoreSetting(store_id=store.id, scope="store", values={"show_lead_time_eta": True}))
        waiting, before, cancelled = (make_variant(s, store, qty=0, supplier_id=supplier.id) for _ in range(3))
        for v in (waiting, before, cancelled):
            add_sale(s, v, 3, days_ago=3)
            s.add(StockEvent(store_id=store.id, variant_id=v.id, kind="sellout", quantity_before=3, quantity_after=0,
                             occurred_at=sold_out_at))  # fmt: skip
        po = PurchaseOrder(store_id=store.id, variant_id=waiting.id, quantity=20, expected_on=date(2026, 11, 27))
        # Received before this sell-out began: it restocked the variant then, and says nothing about now.
        s.add(PurchaseOrder(store_id=store.id, variant_id=before.id, quantity=9, received_quantity=9,
                            expected_on=date(2026, 11, 1), status="received",
                            updated_at=sold_out_at - timedelta(days=3)))  # fmt: skip
        s.add(PurchaseOrder(store_id=store.id, variant_id=cancelled.id, quantity=9, expected_on=date(2026, 11, 30),
                            status="cancelled", updated_at=sold_out_at + timedelta(hours=5)))  # fmt: skip
        s.add(po)
        s.flush()
        sid, ids, po_id = store.id, (waiting.id, before.id, cancelled.id), po.id
    with db.session() as s:
        stock.recompute(s, sid, now=NOW)
    assert (state(db, ids[0]).restock_eta, state(db, ids[0]).eta_source) == (date(2026, 11, 27), "incoming_stock")
    assert (state(db, ids[1]).restock_eta, state(db, ids[1]).eta_source) == (date(2026, 12, 20), "lead_time")
    closed = state(db, ids[2])
    assert (closed.restock_eta, closed.eta_source) == (None, None)
    reason = (
        "No restock date: a purchase order was received or closed since the variant sold out without restocking it,"
        " and the lead time is no promise in its place"
    )
    assert reason in closed.reasons
    assert not any(r.startswith("Back in stock") for r in closed.reasons)

    # The open order is received but the variant stays sold out: its date goes, and no lead-time guess replaces it.
    with db.session() as s:
        received = s.get(PurchaseOrder, po_id)
        assert received is not None
        received.status, received.received_quantity = "received", 20
        received.updated_at = NOW - timedelta(hours=1)
    with db.session() as s:
        assert stock.recompute(s, sid, now=NOW).changed == 1
    after = state(db, ids[0])
    assert (after.restock_eta, after.eta_source, after.incoming_quantity) == (None, None, 0)
    assert reason in after.reasons


def test_undated_incoming_stock_says_on_its_way_and_never_dates_a_restock(db: Database) -> None:
    """Shopify's incoming quantity has no date: a sold-out variant may say it is on its way, and nothing more."""
    with db.session() as s:
        store = make_store(s)
        online = make_location(s, store)
        wholesale = make_location(s, store, fulfills_online=False)
        coming = make_variant(s, store, qty=0)
        elsewhere = make_variant(s, store, qty=0)
        dated = make_variant(s, store, qty=0)
        shelf = make_variant(s, store, qty=8)
        for v, loc in ((coming, online), (elsewhere, wholesale), (dated, online), (shelf, online)):
            s.add(InventoryLevel(store_id=store.id, variant_id=v.id, location_id=loc.id, available=0, incoming=12))
        s.add(PurchaseOrder(store_id=store.id, variant_id=dated.id, quantity=5, expected_on=date(2026, 12, 3)))
        sid = store.id
        ids = (coming.id, elsewhere.id, dated.id, shelf.id)
    with db.session() as s:
        stock.recompute(s, sid, now=NOW)
    got = {vid: (state(db, vid).status, state(db, vid).restock_eta, state(db, vid).on_its_way) for vid in ids}
    assert got == {
        ids[0]: ("out_of_stock", None, True),
        ids[1]: ("out_of_stock", None, False),  # on its way to a location that does not sell online
        ids[2]: ("out_of_stock", date(2026, 12, 3), False),  # a dated order says more
        ids[3]: ("in_stock", None, False),
    }
    with db.session() as s:
        docs = {u.variant_id: state_value(u.state) for u in unpublished_states(s, sid, 10)}
    assert docs[ids[0]] == {
        "status": "out_of_stock",
        "badge": {"kind": "none", "quantity": None},
        "restock_eta": None,
        "eta_source": None,
        "back_soon": True,
        "v": 1,
        "on_its_way": True,
    }
    assert "on_its_way" not in docs[ids[1]]
    # The stock arrives elsewhere: incoming drops to 0, the variant is recomputed and no longer says it.
    with db.session() as s:
        level = s.scalars(select(InventoryLevel).where(InventoryLevel.variant_id == ids[0])).one()
        level.incoming = 0
        s.commit()
    with db.session() as s:
        stock.recompute(s, sid, now=NOW)
    assert state(db, ids[0]).on_its_way is False


def test_recompute_keeps_each_products_listing_true_for_the_whole_product(db: Database) -> None:
    from app.models import Product, ProductListing

    with db.session() as s:
        store = make_store(s)
        big, small = (Product(store_id=store.id, external_id=ref, title=ref) for ref in ("big", "small"))
        s.add_all([big, small])
        s.flush()
        make_variant(s, store, product=big, qty=5)
        make_variant(s, store, product=big, qty=404)
        make_variant(s, store, product=small, qty=2)
        last = make_variant(s, store, product=small, qty=1)
        sid, ids, last_id = store.id, (big.id, small.id), last.id
    with db.session() as s:
        stock.recompute(s, sid, now=NOW)

    def listings() -> dict[int, tuple[str, str, int | None, bool]]:
        with db.session() as s:
            rows = s.scalars(select(ProductListing).where(ProductListing.store_id == sid)).all()
            return {
                r.product_id: (r.status, r.badge_kind, r.badge_quantity, r.published_fingerprint is None) for r in rows
            }

    assert listings() == {
        ids[0]: ("in_stock", "none", None, True),  # 409 units: one variant's "Only 5 left" is not the card's
        ids[1]: ("low_stock", "only_n_left", 3, True),
    }
    # The last unit of one variant sells: only that product's listing changes.
    with db.session() as s:
        s.get(Variant, last_id).sellable_quantity = 0  # type: ignore[union-attr]
        s.commit()
    with db.session() as s:
        stock.recompute(s, sid, now=NOW)
    assert listings()[ids[1]] == ("low_stock", "only_n_left", 2, True)
    # The 404-unit variant is deleted: the product's card now has 5 units, and it says so.
    with db.session() as s:
        gone = s.scalars(select(Variant).where(Variant.product_id == ids[0], Variant.sellable_quantity == 404)).one()
        gone.deleted_at = NOW
        s.commit()
        gone_id = gone.id
    with db.session() as s:
        stock.recompute(s, sid, [gone_id], now=NOW)
    assert listings()[ids[0]] == ("low_stock", "only_n_left", 5, True)


def test_a_recompute_redoes_only_its_products_listings_and_they_match_a_full_refresh(db: Database) -> None:
    from app.models import Product, ProductListing
    from app.services.stock.storefront_state import refresh_listings

    with db.session() as s:
        store = make_store(s)
        names = ("pair", "fast", "own_threshold", "oversold", "hidden", "still")
        products = {n: Product(store_id=store.id, external_id=n, title=n) for n in names}
        s.add_all(products.values())
        s.flush()
        pair_a = make_variant(s, store, product=products["pair"], qty=3)
        pair_b = make_variant(s, store, product=products["pair"], qty=1)
        fast = make_variant(s, store, product=products["fast"], qty=8)
        for days_ago in (0.5, 1.5, 2.5):
            add_sale(s, fast, 10, days_ago=days_ago)
        make_variant(s, store, product=products["own_threshold"], qty=4)
        s.add(StoreSetting(store_id=store.id, scope="product", product_id=products["own_threshold"].id,
                           values={"low_stock_threshold": 2}))  # fmt: skip
        make_variant(s, store, product=products["oversold"], qty=0, inventory_policy="continue")
        make_variant(s, store, product=products["oversold"], qty=2)
        make_variant(s, store, product=products["hidden"], qty=100, published=False)
        make_variant(s, store, product=products["hidden"], qty=1)
        make_variant(s, store, product=products["still"], qty=50)
        sid, pid = store.id, {n: p.id for n, p in products.items()}
        pair_b_id, fast_id = pair_b.id, fast.id
        del pair_a
    with db.session() as s:
        stock.recompute(s, sid, now=NOW)

    def listings() -> dict[str, tuple[str, str, int | None, str]]:
        with db.session() as s:
            rows = s.scalars(select(ProductListing).where(ProductListing.store_id == sid)).all()
            by_id = {r.product_id: r for r in rows}
            return {n: (by_id[p].status, by_id[p].badge_kind, by_id[p].badge_quantity, by_id[p].fingerprint)
                    for n, p in pid.items()}  # fmt: skip

    first = listings()
    assert {n: row[:3] for n, row in first.items()} == {
        "pair": ("low_stock", "only_n_left", 4),
        "fast": ("in_stock", "selling_fast", None),
        "own_threshold": ("in_stock", "none", None),  # 4 units, but this product's threshold is 2
        "oversold": ("low_stock", "none", None),  # a variant sells beyond its stock: no count to promise
        "hidden": ("low_stock", "only_n_left", 1),  # the unpublished variant's 100 units are not on the card
        "still": ("in_stock", "none", None),
    }
    # A later run: the pair's last unit sells and the fast seller's stock is refilled. Only their variants come back
    # from the inputs statement, so only their two products' listings are redone.
    with db.session() as s:
        s.get(Variant, pair_b_id).sellable_quantity = 0  # type: ignore[union-attr]
        s.get(Variant, fast_id).sellable_quantity = 500  # type: ignore[union-attr]
    with db.session() as s:
        assert stock.recompute(s, sid, now=NOW + timedelta(minutes=15)).changed == 2
    after = listings()
    assert {n: row[:3] for n, row in after.items()} == {
        **{n: row[:3] for n, row in first.items()},
        "pair": ("low_stock", "only_n_left", 3),
        "fast": ("in_stock", "none", None),
    }
    with db.session() as s:
        computed = {p: at for p, at in s.execute(select(ProductListing.product_id, ProductListing.computed_at))}
    assert {n for n, p in pid.items() if computed[p] > NOW} == {"pair", "fast"}
    # Every product's listing refreshed from scratch comes out exactly as the recompute left them.
    with db.session() as s:
        assert refresh_listings(s, sid, pid.values(), NOW + timedelta(minutes=16)) == 0
    assert listings() == after
