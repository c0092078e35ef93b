"""Mail faults against real PostgreSQL and aiosmtpd: IDNA and SMTPUTF8 addresses, per-recipient failures, retries
with backoff, dead letters, suppressions, and the confirmation email under the same rules."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta

import pytest
from sqlalchemy import select

from app import job_specs
from app.config import Settings
from app.db import Database
from app.models import Delivery, StockEvent, Subscription, Suppression
from app.services.ingest import sweeper
from app.services.notify import confirmation, fanout
from tests.factories import NOW, make_store, make_variant
from tests.smtpd import Collector, free_port, smtp_server

pytestmark = [
    pytest.mark.integration,
    pytest.mark.truncating("the wave sender and the confirmation commit on connections of their own"),
]

IDN = "jöhn.dœ@exämple.com"
IDN_WIRE = "jöhn.dœ@xn--exmple-cua.com"


@dataclass
class Mail:
    db: Database
    smtp: Collector
    settings: Settings
    store_id: int
    variant_id: int
    event_id: int

    def subscribe(self, email: str, minutes_ago: float, state: str = "active") -> int:
        with self.db.session() as s:
            sub = Subscription(
                store_id=self.store_id, variant_id=self.variant_id, email=email, state=state, locale="en",
                created_at=NOW - timedelta(minutes=minutes_ago),
            )  # fmt: skip
            s.add(sub)
            s.flush()
            return sub.id

    def run(self, at: datetime = NOW, settings: Settings | None = None) -> fanout.FanoutResult:
        return fanout.run_fanout(self.db, settings or self.settings, self.event_id, clock=lambda: at)

    def deliveries(self) -> dict[str, tuple[str, int, str | None]]:
        with self.db.session() as s:
            rows = s.execute(
                select(Subscription.email, Delivery.status, Delivery.attempts, Delivery.error).join(
                    Subscription, Subscription.id == Delivery.subscription_id
                )
            ).all()
        return {e: (st, a, err) for e, st, a, err in rows}

    def event(self) -> tuple[str | None, int, str | None, datetime | None]:
        with self.db.session() as s:
            ev = s.get(StockEvent, self.event_id)
            assert ev is not None
            return ev.fanout_status, ev.run_failures, ev.last_error, ev.next_wave_at

    def suppressions(self) -> list[tuple[int, str, str]]:
        with self.db.session() as s:
            return [tuple(r) for r in s.execute(select(Suppression.store_id, Suppression.email, Suppression.reason))]  # type: ignore[misc]

    def sub(self, sid: int) -> Subscription:
        with self.db.session() as s:
            sub = s.get(Subscription, sid)
            assert sub is not None
            s.expunge(sub)
            return sub


def _world(db: Database, smtputf8: bool) -> Iterator[Mail]:
    with db.session() as s:
        store = make_store(s, name="Linen & Co", timezone="Europe/Amsterdam")
        variant = make_variant(s, store, qty=50)
        ev = StockEvent(
            store_id=store.id, variant_id=variant.id, kind="restock", quantity_before=0, quantity_after=50,
            occurred_at=NOW, fanout_status="pending",
        )  # fmt: skip
        s.add(ev)
        s.flush()
        ids = (store.id, variant.id, ev.id)
    with smtp_server(smtputf8=smtputf8) as (handler, url):
        settings = Settings(
            env="test", smtp_url=url, app_url="https://app.test", secret_key="k", mail_from="BS <bs@mail.test>"
        )
        yield Mail(db, handler, settings, *ids)


@pytest.fixture
def mail(db: Database) -> Iterator[Mail]:
    yield from _world(db, smtputf8=False)


@pytest.fixture
def mail_utf8(db: Database) -> Iterator[Mail]:
    yield from _world(db, smtputf8=True)


def test_an_internationalised_domain_goes_out_as_punycode(mail: Mail) -> None:
    mail.subscribe("ann@exämple.com", 2)
    result = mail.run()
    assert (result.sent, result.failed, result.status) == (1, 0, "done")
    (received,) = mail.smtp.received
    assert received.rcpt_tos == ["ann@xn--exmple-cua.com"]
    assert received.message["To"] == "ann@xn--exmple-cua.com"
    assert mail.deliveries() == {"ann@exämple.com": ("sent", 1, None)}


def test_a_non_ascii_local_part_fails_alone_without_smtputf8_and_the_wave_goes_on(mail: Mail) -> None:
    mail.subscribe(IDN, 10)  # the oldest: first in the wave
    for i in range(3):
        mail.subscribe(f"s{i}@x.test", 5 - i)
    result = mail.run()
    assert (result.sent, result.failed, result.status) == (3, 1, "done")
    assert mail.smtp.by_rcpt() == {"s0@x.test": 1, "s1@x.test": 1, "s2@x.test": 1}
    d = mail.deliveries()
    assert d[IDN] == (
        "failed",
        1,
        "address not sendable: the SMTP server does not offer SMTPUTF8, needed for a non-ASCII local part",
    )
    assert d["s0@x.test"] == ("sent", 1, None)
    # Our server's limit, not the shopper's mailbox: nothing suppressed; the event is not retried for it.
    assert mail.suppressions() == []
    assert mail.event() == ("done", 0, None, None)


def test_a_non_ascii_local_part_goes_out_over_smtputf8(mail_utf8: Mail) -> None:
    mail_utf8.subscribe(IDN, 10)
    mail_utf8.subscribe("ok@x.test", 5)
    result = mail_utf8.run()
    assert (result.sent, result.failed) == (2, 0)
    first, second = mail_utf8.smtp.received
    assert first.rcpt_tos == [IDN_WIRE]
    assert b"To: " + IDN_WIRE.encode() + b"\r\n" in first.data
    assert first.message["To"] == IDN_WIRE
    assert second.rcpt_tos == ["ok@x.test"]
    assert mail_utf8.deliveries()[IDN] == ("sent", 1, None)


def test_a_hard_bounce_fails_that_delivery_and_suppresses_the_address_for_the_store(mail: Mail) -> None:
    mail.subscribe("gone@x.test", 10)
    mail.subscribe("ok@x.test", 5)
    mail.smtp.rcpt_replies["gone@x.test"] = "550 5.1.1 <gone@x.test>: no such user"
    result = mail.run()
    assert (result.sent, result.failed, result.status) == (1, 1, "done")
    assert mail.smtp.by_rcpt() == {"ok@x.test": 1}
    assert mail.deliveries()["gone@x.test"] == ("failed", 1, "550 5.1.1 <gone@x.test>: no such user")
    assert mail.suppressions() == [(mail.store_id, "gone@x.test", "550 5.1.1 <gone@x.test>: no such user")]

    # The next restock of another product of the store skips the address.
    with mail.db.session() as s:
        store_id = mail.store_id
        from app.models import Store

        store = s.get(Store, store_id)
        assert store is not None
        other = make_variant(s, store, qty=5)
        s.add(Subscription(store_id=store_id, variant_id=other.id, email="gone@x.test", state="active", locale="en",
                           created_at=NOW))  # fmt: skip
        ev = StockEvent(store_id=store_id, variant_id=other.id, kind="restock", quantity_before=0, quantity_after=5,
                        occurred_at=NOW, fanout_status="pending")  # fmt: skip
        s.add(ev)
        s.flush()
        other_event = ev.id
    again = fanout.run_fanout(mail.db, mail.settings, other_event, clock=lambda: NOW)
    assert (again.sent, again.skipped, again.status) == (0, {"suppressed": 1}, "done")
    assert mail.smtp.by_rcpt() == {"ok@x.test": 1}


def test_a_content_refusal_fails_the_delivery_without_suppressing(mail: Mail) -> None:
    mail.subscribe("picky@x.test", 10)
    mail.smtp.replies["picky@x.test"] = "554 5.7.1 message refused as spam"
    result = mail.run()
    assert (result.sent, result.failed, result.status) == (0, 1, "done")
    assert mail.deliveries() == {"picky@x.test": ("failed", 1, "554 5.7.1 message refused as spam")}
    assert mail.suppressions() == []
    assert mail.smtp.received == []


def test_a_4xx_is_retried_with_backoff_then_given_up_after_five_attempts(mail: Mail) -> None:
    mail.subscribe("later@x.test", 10)
    mail.smtp.replies["later@x.test"] = "451 4.3.0 try again later"
    at = NOW
    waits = []
    for attempt in range(1, 5):
        result = mail.run(at)
        assert (result.sent, result.failed, result.status) == (0, 1, "pending")
        assert mail.deliveries() == {"later@x.test": ("claimed", attempt, "451 4.3.0 try again later")}
        assert result.next_wave_at is not None
        waits.append(result.next_wave_at - at)
        assert mail.run(result.next_wave_at - timedelta(seconds=1)).status == "leased-out"  # not due yet
        at = result.next_wave_at
    assert waits == [timedelta(minutes=1), timedelta(minutes=2), timedelta(minutes=4), timedelta(minutes=8)]
    last = mail.run(at)
    assert (last.failed, last.status) == (1, "done")
    assert mail.deliveries() == {"later@x.test": ("failed", 5, "gave up after 5 attempts: 451 4.3.0 try again later")}
    assert mail.smtp.received == []
    assert mail.suppressions() == []


def test_a_4xx_recovers_on_retry(mail: Mail) -> None:
    mail.subscribe("later@x.test", 10)
    mail.subscribe("ok@x.test", 5)
    mail.smtp.rcpt_replies["later@x.test"] = "450 4.2.0 mailbox busy"
    first = mail.run()
    assert (first.sent, first.failed, first.status, first.next_wave_at) == (1, 1, "pending", NOW + timedelta(minutes=1))
    del mail.smtp.rcpt_replies["later@x.test"]
    second = mail.run(NOW + timedelta(minutes=1))
    assert (second.sent, second.status) == (1, "done")
    assert mail.smtp.by_rcpt() == {"ok@x.test": 1, "later@x.test": 1}
    assert mail.deliveries()["later@x.test"] == ("sent", 2, None)


def test_an_unreachable_server_retries_the_run_with_backoff_then_dead_letters_the_event(mail: Mail) -> None:
    mail.subscribe("a@x.test", 10)
    down = Settings(
        env="test", smtp_url=f"smtp://127.0.0.1:{free_port()}?timeout=2", app_url="https://app.test",
        secret_key="k", mail_from="BS <bs@mail.test>",
    )  # fmt: skip
    at = NOW
    for run in range(1, fanout.MAX_RUN_FAILURES):
        result = mail.run(at, down)
        status, failures, error, next_at = mail.event()
        assert (result.status, status, failures) == ("pending", "pending", run)
        assert error is not None and error.startswith("ConnectionRefusedError")
        assert next_at == at + timedelta(seconds=min(60 * 2 ** (run - 1), 1800))
        at = next_at
    dead = mail.run(at, down)
    status, failures, error, next_at = mail.event()
    assert (dead.status, status, failures, next_at) == ("failed", "failed", 8, None)
    assert error is not None and error.startswith("ConnectionRefusedError")
    # Dead-lettered: the claimed delivery stays claimed (never attempted), and nothing picks the event up again.
    assert mail.deliveries() == {"a@x.test": ("claimed", 0, None)}
    assert mail.run(at + timedelta(days=1)).status == "leased-out"
    with mail.db.session() as s:
        assert sweeper.stalled_fanouts(s, at + timedelta(days=1), at) == []


def test_a_run_that_keeps_dying_is_dead_lettered(mail: Mail) -> None:
    mail.subscribe("a@x.test", 10)
    with mail.db.session() as s:
        ev = s.get(StockEvent, mail.event_id)
        assert ev is not None
        ev.fanout_status, ev.lease_until, ev.run_failures = "running", NOW - timedelta(seconds=1), 6
    # Its seventh death is counted; the resume goes ahead and finishing resets the count.
    assert mail.run().status == "done"
    assert mail.event() == ("done", 0, "the run stopped without finishing (lease expired)", None)
    with mail.db.session() as s:
        ev = s.get(StockEvent, mail.event_id)
        assert ev is not None
        ev.fanout_status, ev.lease_until, ev.run_failures = "running", NOW - timedelta(seconds=1), 7
    assert mail.run().status == "failed"
    assert mail.event() == ("failed", 8, "the run stopped without finishing (lease expired)", None)
    assert mail.smtp.by_rcpt() == {"a@x.test": 1}


# --- the double opt-in confirmation ----------------------------------------------------------------------------


def _confirm(mail: Mail, sid: int, at: datetime = NOW, settings: Settings | None = None) -> bool:
    return confirmation.send_confirmation(mail.db, settings or mail.settings, sid, clock=lambda: at)


def _due(mail: Mail, at: datetime) -> list[tuple[str, tuple[object, ...]]]:
    with mail.db.session() as s:
        return [(j.func, j.args) for j in sweeper.stalled_confirmations(s, at, at - timedelta(seconds=60))]


def test_a_refused_confirmation_is_retried_by_the_sweeper_then_sent(mail: Mail) -> None:
    sid = mail.subscribe("c@x.test", 1, state="pending_confirmation")
    mail.smtp.replies["c@x.test"] = "421 4.7.0 try again later"
    assert _confirm(mail, sid) is False
    sub = mail.sub(sid)
    assert (sub.confirm_sent_at, sub.confirm_attempts, sub.confirm_retry_at, sub.confirm_error) == (
        None, 1, NOW + timedelta(minutes=1), "421 4.7.0 try again later",
    )  # fmt: skip
    assert sub.confirm_token_hash is None
    assert _due(mail, NOW + timedelta(seconds=59)) == []
    assert _due(mail, NOW + timedelta(minutes=1)) == [(job_specs.SEND_CONFIRMATION, (sid,))]
    del mail.smtp.replies["c@x.test"]
    later = NOW + timedelta(minutes=1)
    assert _confirm(mail, sid, later) is True
    sub = mail.sub(sid)
    assert (sub.confirm_sent_at, sub.confirm_attempts, sub.confirm_retry_at, sub.confirm_error) == (
        later,
        2,
        None,
        None,
    )
    assert sub.confirm_token_hash is not None
    assert mail.smtp.by_rcpt() == {"c@x.test": 1}
    assert _due(mail, later + timedelta(days=1)) == []


def test_a_hard_bounced_confirmation_is_given_up_and_suppressed(mail: Mail) -> None:
    sid = mail.subscribe("nobody@x.test", 1, state="pending_confirmation")
    mail.smtp.rcpt_replies["nobody@x.test"] = "550 5.1.1 no such user"
    assert _confirm(mail, sid) is False
    sub = mail.sub(sid)
    assert (sub.confirm_sent_at, sub.confirm_attempts, sub.confirm_retry_at, sub.confirm_error, sub.skip_reason) == (
        None, 1, None, "550 5.1.1 no such user", "confirmation_failed",
    )  # fmt: skip
    assert mail.suppressions() == [(mail.store_id, "nobody@x.test", "550 5.1.1 no such user")]
    assert _due(mail, NOW + timedelta(days=1)) == []
    # Even a job run again sends nothing.
    assert _confirm(mail, sid, NOW + timedelta(days=1)) is False
    assert mail.smtp.received == []


def test_a_confirmation_to_an_unreachable_server_is_retried_until_its_last_attempt(mail: Mail) -> None:
    sid = mail.subscribe("c@x.test", 1, state="pending_confirmation")
    down = Settings(
        env="test", smtp_url=f"smtp://127.0.0.1:{free_port()}?timeout=2", app_url="https://app.test",
        secret_key="k", mail_from="BS <bs@mail.test>",
    )  # fmt: skip
    at = NOW
    for attempt in range(1, confirmation.MAX_CONFIRM_ATTEMPTS):
        assert _confirm(mail, sid, at, down) is False
        sub = mail.sub(sid)
        assert sub.confirm_attempts == attempt
        assert sub.confirm_retry_at == at + timedelta(minutes=2 ** (attempt - 1))
        assert (sub.confirm_error or "").startswith("ConnectionRefusedError")
        at = sub.confirm_retry_at
    assert _confirm(mail, sid, at, down) is False
    sub = mail.sub(sid)
    assert (sub.confirm_attempts, sub.confirm_retry_at, sub.skip_reason) == (5, None, "confirmation_failed")
    assert (sub.confirm_error or "").startswith("gave up after 5 attempts: ConnectionRefusedError")
    assert _due(mail, at + timedelta(days=1)) == []


def test_a_confirmation_to_a_non_ascii_local_part_without_smtputf8_fails_for_good(mail: Mail) -> None:
    sid = mail.subscribe(IDN, 1, state="pending_confirmation")
    assert _confirm(mail, sid) is False
    sub = mail.sub(sid)
    assert (sub.confirm_attempts, sub.confirm_retry_at, sub.confirm_error) == (
        1, None,
        "address not sendable: the SMTP server does not offer SMTPUTF8, needed for a non-ASCII local part",
    )  # fmt: skip
    assert mail.smtp.received == [] and mail.suppressions() == []


def test_a_confirmation_whose_job_was_lost_is_picked_up_by_the_sweeper(mail: Mail) -> None:
    sid = mail.subscribe("c@x.test", 1, state="pending_confirmation")
    with mail.db.session() as s:
        sub = s.get(Subscription, sid)
        assert sub is not None
        updated = sub.updated_at
    assert _due(mail, updated + timedelta(seconds=59)) == []
    assert _due(mail, updated + timedelta(seconds=61)) == [(job_specs.SEND_CONFIRMATION, (sid,))]
    assert _confirm(mail, sid) is True
    assert _due(mail, updated + timedelta(days=1)) == []
