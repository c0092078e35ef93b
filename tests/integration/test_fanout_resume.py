"""A restock run cut off mid-wave and resumed after a later restock of the same variant: nobody is mailed twice.

Found by the soak (benchmarks/soak.py): a cut run leaves its deliveries 'claimed'; the variant sells out and is
restocked, the new event claimed the same subscribers and mailed them, then the old event resumed and mailed them
again. Real PostgreSQL and a real aiosmtpd server.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta

import pytest
from sqlalchemy import select

from app.config import Settings
from app.db import Database
from app.models import Delivery, StockEvent, Subscription
from app.services.notify import fanout
from tests.factories import NOW, make_store, make_variant
from tests.smtpd import Collector, smtp_server

pytestmark = [pytest.mark.integration, pytest.mark.truncating("the wave sender commits on a connection of its own")]


@dataclass
class World:
    db: Database
    smtp: Collector
    settings: Settings
    store_id: int
    variant_id: int

    def event(self, minutes_ago: float, status: str = "pending") -> int:
        with self.db.session() as s:
            ev = StockEvent(
                store_id=self.store_id,
                variant_id=self.variant_id,
                kind="restock",
                quantity_before=0,
                quantity_after=10,
                occurred_at=NOW - timedelta(minutes=minutes_ago),
                fanout_status=status,
                waves_sent=1,
            )
            s.add(ev)
            s.flush()
            return ev.id

    def subscribe(self, email: str, minutes_ago: float) -> int:
        with self.db.session() as s:
            sub = Subscription(
                store_id=self.store_id,
                variant_id=self.variant_id,
                email=email,
                state="active",
                locale="en",
                created_at=NOW - timedelta(minutes=minutes_ago),
            )
            s.add(sub)
            s.flush()
            return sub.id

    def claimed(self, event_id: int, sub_id: int, minutes_ago: float) -> None:
        """What a run killed after its claim and before its sends leaves behind."""
        with self.db.session() as s:
            s.add(
                Delivery(
                    store_id=self.store_id,
                    subscription_id=sub_id,
                    stock_event_id=event_id,
                    wave=1,
                    status="claimed",
                    claimed_at=NOW - timedelta(minutes=minutes_ago),
                )
            )

    def sent(self, event_id: int, sub_id: int, minutes_ago: float) -> None:
        """Another event's email to this subscriber, accepted by the server ``minutes_ago``."""
        with self.db.session() as s:
            s.add(
                Delivery(
                    store_id=self.store_id,
                    subscription_id=sub_id,
                    stock_event_id=event_id,
                    wave=1,
                    status="sent",
                    claimed_at=NOW - timedelta(minutes=minutes_ago + 1),
                    sent_at=NOW - timedelta(minutes=minutes_ago),
                )
            )

    def run(self, event_id: int, at: datetime = NOW) -> fanout.FanoutResult:
        return fanout.run_fanout(self.db, self.settings, event_id, clock=lambda: at)

    def mailed(self) -> list[str]:
        return sorted(r.rcpt_tos[0] for r in self.smtp.received)

    def deliveries(self) -> list[tuple[int, str, str, str | None]]:
        with self.db.session() as s:
            rows = s.execute(
                select(Delivery.stock_event_id, Subscription.email, Delivery.status, Delivery.skip_reason)
                .join(Subscription, Subscription.id == Delivery.subscription_id)
                .order_by(Delivery.stock_event_id, Subscription.email)
            ).all()
        return [(int(e), str(m), str(st), r) for e, m, st, r in rows]


@pytest.fixture
def world(db: Database) -> Iterator[World]:
    with db.session() as s:
        store = make_store(s, name="Linen & Co", timezone="Europe/Amsterdam")
        variant = make_variant(s, store, qty=10)
        ids = (store.id, variant.id)
    with smtp_server() as (handler, url):
        settings = Settings(
            env="test", smtp_url=url, app_url="https://app.test", secret_key="k", mail_from="BS <bs@mail.test>"
        )
        yield World(db, handler, settings, *ids)


def test_a_later_restock_leaves_the_cut_runs_subscribers_to_it(world: World) -> None:
    ann, bob = world.subscribe("ann@shop.test", 300), world.subscribe("bob@shop.test", 200)
    world.subscribe("cy@shop.test", 100)
    old = world.event(60)
    world.claimed(old, ann, 59)
    world.claimed(old, bob, 59)
    new = world.event(5, status="pending")

    assert world.run(new).sent == 1
    assert world.mailed() == ["cy@shop.test"]
    assert world.run(old).sent == 2
    assert world.mailed() == ["ann@shop.test", "bob@shop.test", "cy@shop.test"]
    assert world.deliveries() == [
        (old, "ann@shop.test", "sent", None),
        (old, "bob@shop.test", "sent", None),
        (new, "cy@shop.test", "sent", None),
    ]


def test_a_dead_runs_subscribers_go_to_the_later_restock_and_a_replay_skips_them(world: World) -> None:
    ann = world.subscribe("ann@shop.test", 300)
    old = world.event(60, status="failed")
    world.claimed(old, ann, 59)
    new = world.event(5)

    assert world.run(new).sent == 1
    assert world.mailed() == ["ann@shop.test"]
    # The operator replays the dead event (backsoon inbox replay): it finds ann already told.
    with world.db.session() as s:
        ev = s.get(StockEvent, old)
        assert ev is not None
        ev.fanout_status, ev.run_failures = "pending", 0
    result = world.run(old)
    assert (result.sent, result.status) == (0, "done")
    assert world.mailed() == ["ann@shop.test"]
    assert world.deliveries() == [
        (old, "ann@shop.test", "skipped", "notified_by_another_restock"),
        (new, "ann@shop.test", "sent", None),
    ]


def test_a_resumed_run_skips_who_left_the_list_meanwhile(world: World) -> None:
    ann, bob = world.subscribe("ann@shop.test", 300), world.subscribe("bob@shop.test", 200)
    old = world.event(60)
    world.claimed(old, ann, 59)
    world.claimed(old, bob, 59)
    with world.db.session() as s:
        sub = s.get(Subscription, ann)
        assert sub is not None
        sub.state = "unsubscribed"

    assert world.run(old).sent == 1
    assert world.mailed() == ["bob@shop.test"]
    assert world.deliveries() == [
        (old, "ann@shop.test", "skipped", "unsubscribed"),
        (old, "bob@shop.test", "sent", None),
    ]


def test_mailed_by_another_event_since_the_claim_is_skipped_before_the_subscriber_is_marked(world: World) -> None:
    # The other event's sent row is written before its subscriber is marked notified (in bulk, per chunk): a resume
    # in between must still see it.
    ann = world.subscribe("ann@shop.test", 300)
    old, other = world.event(60), world.event(30, status="running")
    world.claimed(old, ann, 59)
    world.sent(other, ann, 28)

    assert world.run(old).sent == 0
    assert world.mailed() == []
    assert (old, "ann@shop.test", "skipped", "notified_by_another_restock") in world.deliveries()


def test_mailed_before_the_claim_does_not_count(world: World) -> None:
    # An earlier restock's email, before this claim (the shopper signed up again since): this one is still owed.
    ann = world.subscribe("ann@shop.test", 300)
    earlier, old = world.event(600, status="done"), world.event(60)
    world.sent(earlier, ann, 598)
    world.claimed(old, ann, 59)

    assert world.run(old).sent == 1
    assert world.mailed() == ["ann@shop.test"]


def test_a_new_restock_skips_who_another_event_just_mailed_before_they_are_marked(world: World) -> None:
    # Event A's sent row is committed; its subscribers are marked notified after the chunk. Event B claiming in
    # between must not mail them again. A shopper who signed up again since (created_at later) is owed one more.
    ann, bob = world.subscribe("ann@shop.test", 300), world.subscribe("bob@shop.test", 10)
    first, second = world.event(60, status="running"), world.event(1)
    for sub_id in (ann, bob):
        world.sent(first, sub_id, 58)

    assert world.run(second).sent == 1
    assert world.mailed() == ["bob@shop.test"]
    assert [d for d in world.deliveries() if d[0] == second] == [(second, "bob@shop.test", "sent", None)]
