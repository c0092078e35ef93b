"""Restock fan-out against real PostgreSQL and a real aiosmtpd server: waves, order, skips, deferral, retries."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from app import job_specs
from app.config import Settings
from app.db import Database
from app.infra import links
from app.infra.mail import Mailer
from app.models import Delivery, Order, OrderLine, StockEvent, Store, StoreSetting, Subscription, Variant
from app.runtime import Runtime, set_runtime
from app.services.ingest import sweeper
from app.services.merchant import identity
from app.services.notify import confirmation, fanout
from app.services.notify import sender as notify_sender
from tests.factories import NOW, RecordingQueue, make_store, make_variant
from tests.smtpd import Collector, smtp_server

pytestmark = pytest.mark.integration
SENDS = pytest.mark.truncating("the wave sender commits each delivery on a connection of its own")
CONFIRMS = pytest.mark.truncating("the confirmation mail is committed as sent on a connection of its own")


@dataclass
class World:
    db: Database
    smtp: Collector
    settings: Settings
    store_id: int
    variant_id: int
    event_id: int

    def run(self, at: datetime = NOW) -> fanout.FanoutResult:
        return fanout.run_fanout(self.db, self.settings, self.event_id, clock=lambda: at)

    def subscribe(self, email: str, minutes_ago: float, state: str = "active", locale: str = "en") -> int:
        with self.db.session() as s:
            sub = Subscription(
                store_id=self.store_id,
                variant_id=self.variant_id,
                email=email,
                state=state,
                locale=locale,
                created_at=NOW - timedelta(minutes=minutes_ago),
            )
            s.add(sub)
            s.flush()
            return sub.id

    def set_qty(self, qty: int) -> None:
        with self.db.session() as s:
            v = s.get(Variant, self.variant_id)
            assert v is not None
            v.sellable_quantity = qty

    def settings_row(self, **values: Any) -> None:
        with self.db.session() as s:
            s.add(StoreSetting(store_id=self.store_id, scope="store", values=values))

    def mailed(self) -> list[str]:
        return [r.rcpt_tos[0] for r in self.smtp.received]

    def deliveries(self) -> dict[str, tuple[str, str | None, int]]:
        with self.db.session() as s:
            rows = s.execute(
                select(Subscription.email, Delivery.status, Delivery.skip_reason, Delivery.wave).join(
                    Subscription, Subscription.id == Delivery.subscription_id
                )
            ).all()
        return {e: (st, r, w) for e, st, r, w in rows}

    def subs(self) -> dict[str, tuple[str, str | None]]:
        with self.db.session() as s:
            return {
                e: (st, r)
                for e, st, r in s.execute(select(Subscription.email, Subscription.state, Subscription.skip_reason))
            }

    def event(self) -> StockEvent:
        with self.db.session() as s:
            ev = s.get(StockEvent, self.event_id)
            assert ev is not None
            return ev


@pytest.fixture
def world(db: Database) -> Iterator[World]:
    with db.session() as s:
        store = make_store(s, name="Linen & Co", timezone="Europe/Amsterdam")
        variant = make_variant(s, store, qty=3)
        ev = StockEvent(
            store_id=store.id,
            variant_id=variant.id,
            kind="restock",
            quantity_before=0,
            quantity_after=3,
            occurred_at=NOW,
            fanout_status="pending",
        )
        s.add(ev)
        s.flush()
        ids = (store.id, variant.id, ev.id)
    with smtp_server() as (handler, url):
        settings = Settings(
            env="test", smtp_url=url, app_url="https://app.test", secret_key="k", mail_from="BS <bs@mail.test>"
        )
        yield World(db, handler, settings, *ids)


@SENDS
def test_wave_size_follows_ratio_oldest_first(world: World) -> None:
    # Created in an order different from id order: created_at decides.
    for i, age in enumerate([10, 50, 30, 40, 20, 60]):
        world.subscribe(f"s{i}@x.test", age)
    world.set_qty(5)
    world.settings_row(wave_ratio=0.5, wave_interval_minutes=30)

    first = world.run()
    # ceil(5 * 0.5) = 3: the three oldest (60, 50, 40 minutes ago).
    assert world.mailed() == ["s5@x.test", "s1@x.test", "s3@x.test"]
    assert (first.status, first.sent, first.wave, first.next_wave_at) == ("pending", 3, 1, NOW + timedelta(minutes=30))
    ev = world.event()
    assert (ev.fanout_status, ev.waves_sent, ev.next_wave_at, ev.lease_until) == (
        "pending",
        1,
        NOW + timedelta(minutes=30),
        None,
    )
    # Not due yet: nothing happens.
    assert world.run(NOW + timedelta(minutes=10)).status == "leased-out"
    assert len(world.mailed()) == 3

    world.set_qty(2)  # two sold meanwhile: ceil(2 * 0.5) = 1
    second = world.run(NOW + timedelta(minutes=31))
    assert (second.sent, second.wave, second.status) == (1, 2, "pending")
    assert world.mailed()[3:] == ["s2@x.test"]
    assert world.deliveries()["s2@x.test"] == ("sent", None, 2)
    assert world.subs()["s5@x.test"] == ("notified", None)
    assert world.subs()["s0@x.test"] == ("active", None)


@SENDS
def test_last_wave_marks_done(world: World) -> None:
    world.subscribe("a@x.test", 2)
    world.subscribe("b@x.test", 1)
    world.set_qty(10)
    result = world.run()
    assert (result.status, result.sent, result.next_wave_at) == ("done", 2, None)
    assert world.event().fanout_status == "done"


@SENDS
def test_message_content_and_headers(world: World) -> None:
    sid = world.subscribe("nl@x.test", 5, locale="nl")
    world.run()
    (msg,) = [r.message for r in world.smtp.received]
    with world.db.session() as s:
        delivery_id = s.execute(select(Delivery.id)).scalar_one()
    assert msg["Subject"] == f"Weer op voorraad: {_product_title(world)}"
    assert msg["Message-ID"] == f"<restock-{delivery_id}@mail.test>"
    unsub = links.unsubscribe_url("https://app.test", "k", sid)
    mailto = links.unsubscribe_mailto("bs@mail.test", "k", sid)
    assert msg["List-Unsubscribe"] == f"<{unsub}>, <{mailto}>"
    assert msg["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    html = msg.get_body(("html",))
    assert html is not None
    assert links.buy_url("https://app.test", "k", delivery_id) in html.get_content()
    with world.db.session() as s:
        assert s.execute(select(Delivery.message_id)).scalar_one() == f"<restock-{delivery_id}@mail.test>"


@SENDS
def test_each_message_is_built_for_its_own_delivery(world: World) -> None:
    # The next message is rendered while the server digests the current one: every email must still carry
    # its own recipient, language, Message-ID and links.
    locales = ("en", "nl", "fr", "de", "nl", "en")
    subs = {f"m{i}@x.test": (world.subscribe(f"m{i}@x.test", 60 - i, locale=loc), loc) for i, loc in enumerate(locales)}
    world.set_qty(10)
    assert world.run().sent == len(locales)
    with world.db.session() as s:
        deliveries = dict(s.execute(select(Delivery.subscription_id, Delivery.id)).all())
    title = _product_title(world)
    subjects = {
        "en": f"Back in stock: {title}",
        "nl": f"Weer op voorraad: {title}",
        "fr": f"De retour en stock : {title}",
        "de": f"Wieder auf Lager: {title}",
    }
    assert len(world.smtp.received) == len(locales)
    for received in world.smtp.received:
        (rcpt,) = received.rcpt_tos
        sid, locale = subs[rcpt]
        msg = received.message
        assert msg["To"] == rcpt
        assert msg["Subject"] == subjects[locale]
        assert msg["Message-ID"] == f"<restock-{deliveries[sid]}@mail.test>"
        unsub = links.unsubscribe_url("https://app.test", "k", sid)
        assert msg["List-Unsubscribe"].startswith(f"<{unsub}>")
        html = msg.get_body(("html",))
        assert html is not None
        assert links.buy_url("https://app.test", "k", deliveries[sid]) in html.get_content()


def _product_title(world: World) -> str:
    from app.models import Product

    with world.db.session() as s:
        v = s.get(Variant, world.variant_id)
        assert v is not None
        p = s.get(Product, v.product_id)
        assert p is not None
        return p.title


@SENDS
def test_each_skip_reason_recorded_and_not_mailed(world: World) -> None:
    world.subscribe("unsub@x.test", 50, state="unsubscribed")
    world.subscribe("pending@x.test", 40, state="pending_confirmation")
    world.subscribe("bought@x.test", 30)
    world.subscribe("boughtbefore@x.test", 20)
    world.subscribe("ok@x.test", 10)
    with world.db.session() as s:
        for email, minutes in (("BOUGHT@x.test", 5), ("boughtbefore@x.test", 25)):
            order = Order(
                store_id=world.store_id, external_id=email, email=email, ordered_at=NOW - timedelta(minutes=minutes)
            )
            s.add(order)
            s.flush()
            s.add(
                OrderLine(
                    store_id=world.store_id,
                    order_id=order.id,
                    variant_id=world.variant_id,
                    external_id="l1",
                    quantity=1,
                    ordered_at=order.ordered_at,
                )
            )
    world.set_qty(2)
    result = world.run()
    assert world.mailed() == ["boughtbefore@x.test", "ok@x.test"]
    assert result.skipped == {"unsubscribed": 1, "unconfirmed": 1, "purchased": 1}
    d = world.deliveries()
    assert d["unsub@x.test"] == ("skipped", "unsubscribed", 1)
    assert d["pending@x.test"] == ("skipped", "unconfirmed", 1)
    assert d["bought@x.test"] == ("skipped", "purchased", 1)
    subs = world.subs()
    assert subs["unsub@x.test"] == ("unsubscribed", "unsubscribed")
    assert subs["pending@x.test"] == ("pending_confirmation", "unconfirmed")
    assert subs["bought@x.test"] == ("active", "purchased")
    assert subs["ok@x.test"] == ("notified", None)
    assert result.status == "done"


def test_below_min_inventory_notifies_nobody(world: World) -> None:
    world.subscribe("a@x.test", 2)
    world.subscribe("b@x.test", 1)
    world.settings_row(min_inventory=5)
    world.set_qty(4)
    result = world.run()
    assert world.mailed() == []
    assert (result.status, result.skipped) == ("done", {"below_min_inventory": 2})
    assert world.deliveries() == {
        "a@x.test": ("skipped", "below_min_inventory", 1),
        "b@x.test": ("skipped", "below_min_inventory", 1),
    }
    assert world.subs()["a@x.test"] == ("active", "below_min_inventory")
    assert world.event().fanout_status == "done"


def test_unpublished_product_notifies_nobody(world: World) -> None:
    world.subscribe("a@x.test", 2)
    with world.db.session() as s:
        v = s.get(Variant, world.variant_id)
        assert v is not None
        v.published = False
    result = world.run()
    assert world.mailed() == []
    assert (result.status, world.deliveries()) == ("done", {"a@x.test": ("skipped", "product_unpublished", 1)})
    assert world.subs()["a@x.test"] == ("active", "product_unpublished")


@SENDS
def test_stops_when_sold_out_again(world: World) -> None:
    for i in range(4):
        world.subscribe(f"s{i}@x.test", 10 - i)
    world.set_qty(1)
    assert world.run().sent == 1
    world.set_qty(0)
    result = world.run(NOW + timedelta(minutes=61))
    assert (result.status, result.sent) == ("stopped", 0)
    assert world.mailed() == ["s0@x.test"]
    ev = world.event()
    assert (ev.fanout_status, ev.next_wave_at) == ("stopped", None)
    # Everyone not mailed stays on the waitlist for the next restock.
    assert world.subs()["s1@x.test"] == ("active", None)


@SENDS
def test_quiet_hours_defer_to_their_end(world: World) -> None:
    world.subscribe("a@x.test", 2)
    world.settings_row(quiet_hours_start=22, quiet_hours_end=8)
    night = datetime(2026, 11, 20, 23, 30, tzinfo=UTC)  # 00:30 in Amsterdam (UTC+1)
    result = world.run(night)
    assert world.mailed() == []
    assert (result.status, result.next_wave_at) == ("deferred", datetime(2026, 11, 21, 7, 0, tzinfo=UTC))
    ev = world.event()
    assert (ev.fanout_status, ev.next_wave_at, ev.waves_sent) == (
        "pending",
        datetime(2026, 11, 21, 7, 0, tzinfo=UTC),
        0,
    )
    assert world.subs()["a@x.test"] == ("active", "quiet_hours")
    assert world.deliveries() == {}
    # Still quiet at 07:59 local: nothing; at 08:00 local the wave goes.
    assert world.run(datetime(2026, 11, 21, 6, 59, tzinfo=UTC)).status == "leased-out"
    assert world.run(datetime(2026, 11, 21, 7, 0, tzinfo=UTC)).sent == 1
    assert world.mailed() == ["a@x.test"]
    assert world.subs()["a@x.test"] == ("notified", None)


def test_quiet_hours_end_exact_values() -> None:
    assert fanout.quiet_hours_end(datetime(2026, 11, 20, 21, 0, tzinfo=UTC), "Europe/Amsterdam", 8) == datetime(
        2026, 11, 21, 7, 0, tzinfo=UTC
    )
    assert fanout.quiet_hours_end(datetime(2026, 7, 1, 1, 0, tzinfo=UTC), "Europe/Amsterdam", 8) == datetime(
        2026, 7, 1, 6, 0, tzinfo=UTC
    )
    assert fanout.quiet_hours_end(datetime(2026, 7, 1, 1, 0, tzinfo=UTC), "Nowhere/Bogus", 8) == datetime(
        2026, 7, 1, 8, 0, tzinfo=UTC
    )


@SENDS
def test_retried_job_sends_nothing_twice(world: World) -> None:
    for i in range(3):
        world.subscribe(f"s{i}@x.test", 10 - i)
    world.set_qty(10)
    assert world.run().status == "done"
    # Retried job, a duplicate job, and a forced re-lease of the event: nothing is mailed again.
    assert world.run().status == "leased-out"
    with world.db.session() as s:
        ev = s.get(StockEvent, world.event_id)
        assert ev is not None
        ev.fanout_status = "pending"
    again = world.run(NOW + timedelta(minutes=1))
    assert (again.sent, again.status) == (0, "done")
    assert sorted(world.smtp.by_rcpt().values()) == [1, 1, 1]


@SENDS
def test_killed_before_commit_point_resends_only_claimed(world: World) -> None:
    for i in range(3):
        world.subscribe(f"s{i}@x.test", 10 - i)
    world.set_qty(10)
    # A worker claimed the wave, sent s0, then died mid-DATA for s1 (row still claimed), lease expired.
    mailer = Mailer(world.settings.smtp_url or "")
    calls = {"n": 0}

    class Killed(BaseException):
        pass

    real_send = mailer.send

    def dying_send(data: Any, **kw: Any) -> Any:
        calls["n"] += 1
        if calls["n"] == 2:
            raise Killed
        return real_send(data, **kw)

    mailer.send = dying_send  # type: ignore[method-assign]
    with pytest.raises(Killed):
        fanout.run_fanout(world.db, world.settings, world.event_id, mailer=mailer, clock=lambda: NOW)
    mailer.close()
    assert world.mailed() == ["s0@x.test"]
    assert world.event().fanout_status == "running"
    # Lease still held: a second worker stays out.
    assert world.run(NOW + timedelta(seconds=5)).status == "leased-out"
    resumed = world.run(NOW + timedelta(seconds=16))
    assert (resumed.sent, resumed.status) == (2, "done")
    assert world.smtp.by_rcpt() == {"s0@x.test": 1, "s1@x.test": 1, "s2@x.test": 1}


@SENDS
def test_second_worker_cannot_send_a_row_already_sent(world: World) -> None:
    world.subscribe("a@x.test", 1)
    world.set_qty(1)
    world.run()
    with world.db.session() as s:
        d = s.execute(select(Delivery)).scalar_one()
        d_id = d.id
    # A stale worker still holding the row in memory tries it: the commit point refuses, the server drops it.
    with world.db.session() as s:
        ctx = fanout._load(s, world.event_id)
    assert ctx is not None
    with Mailer(world.settings.smtp_url or "") as m:
        sender = notify_sender.Sender(world.db, world.settings, ctx, m, lambda: NOW)
        with world.db.engine.connect() as conn:
            sender._send_one(conn, d_id, 1, "a@x.test", sender._render(d_id, 1, "a@x.test", "en"))
    assert world.smtp.by_rcpt() == {"a@x.test": 1}


@SENDS
def test_refusals_transient_retried_permanent_failed(world: World) -> None:
    world.subscribe("later@x.test", 3)
    world.subscribe("gone@x.test", 2)
    world.subscribe("ok@x.test", 1)
    world.smtp.replies["later@x.test"] = "451 try again later"
    world.smtp.replies["gone@x.test"] = "550 no such user"
    world.set_qty(10)
    first = world.run()
    assert (first.sent, first.failed, first.status) == (1, 2, "pending")
    assert first.next_wave_at == NOW + timedelta(seconds=60)
    d = world.deliveries()
    assert (d["later@x.test"][0], d["gone@x.test"][0], d["ok@x.test"][0]) == ("claimed", "failed", "sent")
    assert world.subs()["gone@x.test"] == ("active", None)
    del world.smtp.replies["later@x.test"]
    second = world.run(NOW + timedelta(seconds=61))
    assert (second.sent, second.status) == (1, "done")
    assert world.smtp.by_rcpt() == {"ok@x.test": 1, "later@x.test": 1}


def test_sweeper_finds_stalled_fanouts(world: World) -> None:
    with world.db.session() as s:
        ev = s.get(StockEvent, world.event_id)
        assert ev is not None
        ev.fanout_status = "running"
        ev.lease_until = NOW - timedelta(seconds=1)
    with world.db.session() as s:
        specs = sweeper.stalled_fanouts(s, NOW, NOW - timedelta(seconds=60))
    minute = int(NOW.timestamp() // 60)
    assert [(j.func, j.args, j.job_id) for j in specs] == [
        (job_specs.FANOUT_EVENT, (world.event_id,), f"fanout-{world.event_id}-s{minute}")
    ]
    with world.db.session() as s:
        ev = s.get(StockEvent, world.event_id)
        assert ev is not None
        ev.lease_until = NOW + timedelta(seconds=10)
    with world.db.session() as s:
        assert sweeper.stalled_fanouts(s, NOW, NOW - timedelta(seconds=60)) == []
        ev = s.get(StockEvent, world.event_id)
        assert ev is not None
        ev.fanout_status = "pending"
        ev.next_wave_at = NOW - timedelta(seconds=30)
    with world.db.session() as s:
        # Due 30 s ago: run_due_waves' turn, not the sweeper's yet.
        assert sweeper.stalled_fanouts(s, NOW, NOW - timedelta(seconds=60)) == []
        assert len(sweeper.stalled_fanouts(s, NOW + timedelta(seconds=31), NOW - timedelta(seconds=29))) == 1


def test_run_due_waves_enqueues_due_events(world: World) -> None:
    from jobs import notify

    jobs = RecordingQueue()
    set_runtime(Runtime(settings=world.settings, db=world.db, jobs=jobs))
    try:
        with world.db.session() as s:
            ev = s.get(StockEvent, world.event_id)
            assert ev is not None
            ev.next_wave_at = datetime.now(UTC) + timedelta(minutes=5)
        assert notify.run_due_waves() == 0
        with world.db.session() as s:
            ev = s.get(StockEvent, world.event_id)
            assert ev is not None
            ev.next_wave_at = datetime.now(UTC) - timedelta(seconds=1)
        assert notify.run_due_waves() == 1
    finally:
        set_runtime(None)
    assert [(j.func, j.args, j.job_id) for j in jobs.specs] == [
        (job_specs.FANOUT_EVENT, (world.event_id,), f"fanout-{world.event_id}")
    ]


@CONFIRMS
def test_confirmation_sent_once(world: World) -> None:
    sid = world.subscribe("c@x.test", 1, state="pending_confirmation", locale="de")
    active = world.subscribe("act@x.test", 1)
    assert confirmation.send_confirmation(world.db, world.settings, sid, clock=lambda: NOW) is True
    assert confirmation.send_confirmation(world.db, world.settings, sid, clock=lambda: NOW) is False
    assert confirmation.send_confirmation(world.db, world.settings, active, clock=lambda: NOW) is False
    assert world.mailed() == ["c@x.test"]
    msg = world.smtp.received[0].message
    assert msg["Subject"] == "Bitte bestätige deine E-Mail-Adresse für Linen & Co"
    assert msg["List-Unsubscribe-Post"] is None
    body = msg.get_body(("plain",))
    assert body is not None
    raw_token = body.get_content().split("https://app.test/c/")[1].split()[0]
    with world.db.session() as s:
        sub = s.get(Subscription, sid)
        assert sub is not None
        assert sub.confirm_token_hash == links.hash_token(raw_token)
        assert (sub.confirm_sent_at, sub.confirm_expires_at) == (NOW, NOW + timedelta(hours=48))


FORKED_WORKER = """
import sys, threading
from app.config import Settings
from app.db import Database
from app.services.notify import confirmation, fanout
assert threading.active_count() == 1
db = Database(sys.argv[1])
settings = Settings(env="test", smtp_url=sys.argv[2], app_url="https://app.test", secret_key="k",
                    mail_from="BS <bs@mail.test>", fanout_connections=4)
r = fanout.run_fanout(db, settings, int(sys.argv[3]))
print(r.status, r.sent, r.failed, flush=True)
"""


@pytest.mark.truncating("forked senders and a worker subprocess, each on connections of its own")
def test_wave_over_forked_connections_sends_each_once(world: World, pg_url: str) -> None:
    import os
    import subprocess
    import sys

    from sqlalchemy import func

    from tests.conftest import ROOT

    for i in range(400):
        world.subscribe(f"f{i}@x.test", 1000 - i, locale=("en", "nl", "fr", "de")[i % 4])
    world.subscribe("gone@x.test", 1)
    world.smtp.replies["gone@x.test"] = "550 no such user"
    world.set_qty(1000)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    out = subprocess.run(
        [sys.executable, "-c", FORKED_WORKER, pg_url, world.settings.smtp_url or "", str(world.event_id)],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr  # the worker's traceback, if it failed
    assert out.stdout.split() == ["done", "400", "1"]
    counts = world.smtp.by_rcpt()
    assert len(counts) == 400 and set(counts.values()) == {1}
    with world.db.session() as s:
        statuses = dict(
            s.execute(
                select(Delivery.status, func.count())
                .where(Delivery.stock_event_id == world.event_id)
                .group_by(Delivery.status)
            ).all()
        )
        notified = s.execute(select(func.count()).where(Subscription.state == "notified")).scalar_one()
    assert statuses == {"sent": 400, "failed": 1}
    assert notified == 400
    assert world.subs()["gone@x.test"] == ("active", None)


@SENDS
def test_replies_go_to_the_email_the_platform_reported_when_the_merchant_set_no_reply_to(world: World) -> None:
    # A real install: no settings row, the admin email only from the store's identity read.
    with world.db.session() as s:
        store = s.get(Store, world.store_id)
        assert store is not None and store.admin_email is None
        identity.record_reported(store, {"name": "Linen & Co", "admin_email": "Owner@Linen.example"}, NOW)
    world.subscribe("a@x.test", 10)
    world.run()
    pending = world.subscribe("b@x.test", 5, state="pending_confirmation")
    assert confirmation.send_confirmation(world.db, world.settings, pending, clock=lambda: NOW) is True
    restock, confirm = (r.message for r in world.smtp.received)
    for msg in (restock, confirm):
        assert msg["From"] == "Linen & Co <bs@mail.test>"
        assert msg["Reply-To"] == "owner@linen.example"


@SENDS
def test_a_store_with_no_email_at_all_sends_without_reply_to(world: World) -> None:
    world.subscribe("a@x.test", 10)
    world.run()
    (restock,) = (r.message for r in world.smtp.received)
    assert restock["From"] == "Linen & Co <bs@mail.test>"
    assert restock["Reply-To"] is None


@SENDS
def test_restock_and_confirmation_mail_carry_the_merchants_sender_name_and_reply_to(world: World) -> None:
    world.settings_row(sender_name="Linen Team", reply_to="help@linen.example")
    world.subscribe("a@x.test", 10)
    world.run()
    pending = world.subscribe("b@x.test", 5, state="pending_confirmation")
    assert confirmation.send_confirmation(world.db, world.settings, pending, clock=lambda: NOW) is True
    restock, confirm = (r.message for r in world.smtp.received)
    for msg in (restock, confirm):
        # The merchant's name with our sending address (its domain is the one that authenticates the mail).
        assert msg["From"] == "Linen Team <bs@mail.test>"
        assert msg["Reply-To"] == "help@linen.example"
