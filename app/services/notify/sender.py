"""Sends the claimed deliveries of a restock wave, each committed 'sent' inside SMTP DATA, large waves forked.

The forked senders (one process and SMTP connection each) earn their place in the fan-out benchmark
(benchmarks/fanout.py): a large wave over several connections at once."""

from __future__ import annotations

import contextlib
import ctypes
import json
import logging
import os
import signal
import smtplib
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, NoReturn

from sqlalchemy import Connection, select, text
from sqlalchemy.orm import Session

from app.config import Settings
from app.db import Database
from app.domain.settings import StockSettings
from app.infra import links
from app.infra.mail import CommitPointRefused, Mailer
from app.models import (
    Delivery,
    DeliveryStatus,
    Subscription,
    SubscriptionState,
)
from app.services.notify import emails

log = logging.getLogger(__name__)
LEASE_SECONDS = 15
# Renewed well inside the lease, so a live worker never loses it to the sweeper.
RENEW_SECONDS = 5
CLAIM_CHUNK = 1000
# A wave uses one more SMTP connection (up to Settings.fanout_connections) per this many deliveries.
PER_CONNECTION_MIN = 50
MAX_ATTEMPTS = 3


@dataclass(slots=True)
class WaveContext:
    event_id: int
    store_id: int
    variant_id: int
    store_name: str
    sender_name: str | None
    reply_to: str | None
    store_tz: str
    product_title: str
    variant_title: str
    image_url: str | None
    published: bool
    sellable: int
    waves_sent: int
    settings: StockSettings


# The commit point runs once per message (the hot path): its statements keep the statuses as literals, built from
# the enums, so each is the same fixed text as ever (prepared once by the driver), with no extra parameters.
_SENT, _CLAIMED = DeliveryStatus.SENT.value, DeliveryStatus.CLAIMED.value
_ACTIVE, _NOTIFIED = SubscriptionState.ACTIVE.value, SubscriptionState.NOTIFIED.value
_MARK_SENT = text(
    f"UPDATE deliveries SET status = '{_SENT}', sent_at = :now, message_id = :mid, attempts = attempts + 1, "  # noqa: S608
    f"error = NULL WHERE id = :id AND status = '{_CLAIMED}'"
)
_MARK_NOTIFIED = text(
    f"UPDATE subscriptions SET state = '{_NOTIFIED}', notified_at = :now, skip_reason = NULL "  # noqa: S608
    f"WHERE id = :sid AND state = '{_ACTIVE}'"
)
# PostgreSQL: the commit point writes the delivery row only; the subscribers of sent rows are marked notified
# in bulk (_MARK_NOTIFIED_PG) after each chunk and when the wave settles, which also catches up a killed run.
# Exactly-once rests on the delivery row alone; the subscription state is what the merchant sees.
_MARK_SENT_PG_RAW = (
    f"UPDATE deliveries SET status = '{_SENT}', sent_at = %(now)s, message_id = %(mid)s, attempts = attempts + 1, "  # noqa: S608
    f"error = NULL WHERE id = %(id)s AND status = '{_CLAIMED}'"
)
_MARK_NOTIFIED_PG = text(
    "UPDATE subscriptions AS s SET state = :notified, notified_at = d.sent_at, skip_reason = NULL "
    "FROM deliveries AS d WHERE d.stock_event_id = :event_id AND d.status = :sent "
    "AND (CAST(:upto AS bigint) IS NULL OR d.id <= :upto) AND (CAST(:from_id AS bigint) IS NULL OR d.id >= :from_id) "
    "AND s.id = d.subscription_id AND s.state = :active"
)


def mark_notified_pg(conn: Connection | Session, event_id: int, from_id: int | None, upto: int | None) -> None:
    """Subscribers whose delivery of this event is 'sent' (delivery ids within the bounds) are 'notified'."""
    conn.execute(
        _MARK_NOTIFIED_PG,
        {
            "event_id": event_id,
            "from_id": from_id,
            "upto": upto,
            "notified": SubscriptionState.NOTIFIED,
            "sent": DeliveryStatus.SENT,
            "active": SubscriptionState.ACTIVE,
        },
    )


_Rendered = tuple[str, bytes]  # (Message-ID, the message as sent)


class _Links:
    """Per-delivery Message-ID and signed links, as app.services.notify.emails/links build them, with less work each.

    The unsubscribe token is signed once for both the https and the mailto link, and the fixed parts around
    each id or token are taken once from the functions themselves (checked; otherwise they are called as is).
    """

    def __init__(self, settings: Settings, mail_from_addr: str) -> None:
        s = self.settings = settings
        self.mail_from_addr = mail_from_addr
        probe = 987654321
        mid = emails.restock_message_id(probe, s.mail_from)
        buy_tok, unsub_tok = links.buy_token(s.secret_key, probe), links.unsubscribe_token(s.secret_key, probe)
        parts = (
            mid.split(str(probe)),
            links.buy_url(s.app_url, s.secret_key, probe).split(buy_tok),
            links.unsubscribe_url(s.app_url, s.secret_key, probe).split(unsub_tok),
            links.unsubscribe_mailto(mail_from_addr, s.secret_key, probe).split(unsub_tok),
        )
        self.fast = all(len(p) == 2 for p in parts)
        self.parts = [tuple(p) for p in parts] if self.fast else []

    def for_delivery(self, delivery_id: int, sub_id: int) -> tuple[str, str, str, str]:
        """(Message-ID, buy link, unsubscribe link, unsubscribe mailto) of one delivery."""
        s = self.settings
        if not self.fast:
            return (
                emails.restock_message_id(delivery_id, s.mail_from),
                links.buy_url(s.app_url, s.secret_key, delivery_id),
                links.unsubscribe_url(s.app_url, s.secret_key, sub_id),
                links.unsubscribe_mailto(self.mail_from_addr, s.secret_key, sub_id),
            )
        (m0, m1), (b0, b1), (u0, u1), (t0, t1) = self.parts
        unsub = links.unsubscribe_token(s.secret_key, sub_id)
        return (
            f"{m0}{delivery_id}{m1}",
            f"{b0}{links.buy_token(s.secret_key, delivery_id)}{b1}",
            f"{u0}{unsub}{u1}",
            f"{t0}{unsub}{t1}",
        )


_PR_SET_PDEATHSIG = 1


def _can_fork() -> bool:
    """Forked senders only on Linux (PR_SET_PDEATHSIG) and from a single-threaded process (an RQ work horse,
    a script): forking a threaded process (a web server running jobs in-process) could copy a held lock."""
    return sys.platform.startswith("linux") and threading.active_count() == 1


def _die_with_parent(parent: int) -> None:  # pragma: no cover - runs in a forked child
    """SIGKILL this process when its parent dies, so a killed worker takes its senders with it."""
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_PDEATHSIG) failed")
    if os.getppid() != parent:  # the parent died before prctl took effect
        os._exit(1)


class Sender:
    """Sends the claimed deliveries of one event, committing each as 'sent' inside DATA.

    On PostgreSQL (Linux), with a mailer of its own, in a single-threaded process (an RQ work horse), a large
    wave goes out over up to ``connections`` SMTP connections at once: one forked child process per
    connection, each with its own database and SMTP connection, sending its share of the wave (delivery id
    modulo the number of children) exactly as a single sender does. Every message keeps its own commit point
    (its row committed 'sent' right before its final dot). Processes, not threads: a thread whose commit
    returned may wait milliseconds for the GIL before it can write the dot, which would widen the window in
    which a killed worker leaves a row 'sent' that never reached the server; a single-threaded child writes it
    at once. The children die with the parent (PR_SET_PDEATHSIG), so a SIGKILLed worker stops every
    connection, and the sweeper's resume finds each row 'claimed' (sent again) or 'sent' (done).
    """

    def __init__(
        self,
        db: Database,
        settings: Settings,
        ctx: WaveContext,
        mailer: Mailer,
        clock: Callable[[], datetime],
        *,
        connections: int = 1,
    ):
        self.db = db
        self.settings = settings
        self.ctx = ctx
        self.mailer = mailer
        self.clock = clock
        self.templates: dict[str, emails.RestockTemplate] = {}
        self.mail_from_addr = emails.sender_address(settings.mail_from)
        self.links = _Links(settings, self.mail_from_addr)
        self.renewed = clock()
        self.sent = 0
        self.failed = 0
        self.pg = db.dialect == "postgresql"
        self.connections = max(1, connections) if self.pg else 1
        # (index, of): this sender handles the deliveries whose id % of == index (a forked child's share).
        self.share: tuple[int, int] | None = None

    def template(self, locale: str) -> emails.RestockTemplate:
        tpl = self.templates.get(locale)
        if tpl is None:
            lang = emails.normalise_locale(locale)
            tpl = self.templates.get(lang)
            if tpl is None:
                tpl = self.templates[lang] = emails.RestockTemplate(
                    emails.RestockContext(
                        to="x@example.invalid",
                        locale=lang,
                        store_name=self.ctx.store_name,
                        product_title=self.ctx.product_title,
                        variant_title=self.ctx.variant_title,
                        image_url=self.ctx.image_url,
                        buy_url="",
                        unsubscribe_url="",
                        unsubscribe_mailto="",
                        message_id="",
                        mail_from=self.settings.mail_from,
                        date=self.clock(),
                        sender_name=self.ctx.sender_name,
                        reply_to=self.ctx.reply_to,
                    )
                )
            self.templates[locale] = tpl
        return tpl

    @contextmanager
    def _connection(self) -> Iterator[Connection]:
        with self.db.engine.connect() as raw:
            pg = self.pg
            # PostgreSQL: autocommit, so each status write is one round trip and atomic on its own.
            conn = raw.execution_options(isolation_level="AUTOCOMMIT") if pg else raw
            if pg:
                # Per-message commits only need to survive a killed worker (the failure this design defends),
                # not a crash of PostgreSQL itself: asynchronous commit makes them cheap. Session-level on this
                # dedicated connection, reset before it goes back to the pool.
                conn.execute(text("SET synchronous_commit = off"))
                conn.commit()
            try:
                yield conn
            finally:
                if pg and not conn.closed and not conn.invalidated:
                    conn.execute(text("RESET synchronous_commit"))

    def run(self) -> None:
        with self._connection() as conn:
            batch = self._pending(conn, 0)
            conn.commit()
            # Small waves stay on one connection (in claim order); a connection only pays off for a few dozen.
            workers = min(self.connections, len(batch) // PER_CONNECTION_MIN)
            if workers <= 1 or not _can_fork():
                self._send_all(conn, batch)
                return
        self._send_forked(workers)

    def _pending(self, conn: Connection, after_id: int) -> list[Any]:
        query = (
            select(Delivery.id, Delivery.subscription_id, Delivery.attempts, Subscription.email, Subscription.locale)
            .join(Subscription, Subscription.id == Delivery.subscription_id)
            .where(
                Delivery.stock_event_id == self.ctx.event_id,
                Delivery.status == DeliveryStatus.CLAIMED,
                Delivery.attempts < MAX_ATTEMPTS,
                Delivery.id > after_id,
            )
            .order_by(Delivery.id)
            .limit(CLAIM_CHUNK)
        )
        if self.share is not None:
            index, of = self.share
            query = query.where(Delivery.id % of == index)
        return list(conn.execute(query).all())

    def _send_all(self, conn: Connection, batch: list[Any]) -> None:
        while batch:
            last = 0
            # The next message is rendered while the server digests the current one (between its dot and
            # reply), so building it is off the critical path; it is used only for the row it was built for.
            ahead: dict[int, _Rendered] = {}
            for i, (delivery_id, sub_id, _attempts, email, locale) in enumerate(batch):
                last = delivery_id
                rendered = ahead.pop(delivery_id, None) or self._render(delivery_id, sub_id, email, locale)
                nxt = batch[i + 1] if i + 1 < len(batch) else None
                prepare = None if nxt is None else self._render_into(ahead, nxt)
                self._send_one(conn, delivery_id, sub_id, email, rendered, while_waiting=prepare)
            if self.pg:
                mark_notified_pg(conn, self.ctx.event_id, batch[0][0], last)
            batch = self._pending(conn, last)
            conn.commit()

    def _send_forked(self, workers: int) -> None:
        """Send the wave from ``workers`` child processes, one share each; raise if any of them failed."""
        parent = os.getpid()
        children: list[tuple[int, int]] = []
        try:
            for index in range(workers):
                read_fd, write_fd = os.pipe()
                pid = os.fork()
                if pid == 0:  # pragma: no cover - runs in the child, which leaves through os._exit
                    os.close(read_fd)
                    self._child(parent, index, workers, write_fd)
                os.close(write_fd)
                children.append((pid, read_fd))
            errors: list[str] = []
            while children:
                pid, read_fd = children[0]
                with os.fdopen(read_fd, "rb") as pipe:
                    report = pipe.read()
                os.waitpid(pid, 0)
                children.pop(0)
                try:
                    outcome = json.loads(report or b"{}")
                except ValueError:
                    outcome = {}
                self.sent += int(outcome.get("sent", 0))
                self.failed += int(outcome.get("failed", 0))
                if "error" in outcome or not report:
                    errors.append(str(outcome.get("error", f"sender process {pid} died")))
        finally:
            for pid, read_fd in children:  # only after an error in this process: stop the rest like a kill would
                with contextlib.suppress(OSError):
                    os.kill(pid, signal.SIGKILL)
                    os.waitpid(pid, 0)
                with contextlib.suppress(OSError):
                    os.close(read_fd)
        if errors:
            raise RuntimeError(f"{len(errors)} of {workers} fan-out senders failed: {errors[0]}")

    def _child(self, parent: int, index: int, workers: int, write_fd: int) -> NoReturn:  # pragma: no cover
        """A forked sender: its share of the wave over its own connections; reports (sent, failed), then exits."""
        code = 1
        report: dict[str, Any] = {}
        try:
            _die_with_parent(parent)
            # Fresh connections: the parent's pooled ones are left untouched (and never closed from here).
            self.db = Database(self.db.engine.url.render_as_string(hide_password=False))
            self.mailer = Mailer(self.mailer.config, local_hostname=self.mailer.local_hostname)
            self.share = (index, workers)
            self.sent = self.failed = 0
            try:
                with self._connection() as conn:
                    batch = self._pending(conn, 0)
                    conn.commit()
                    self._send_all(conn, batch)
            finally:
                self.mailer.close()
            code = 0
        except BaseException as exc:
            report["error"] = f"{exc.__class__.__name__}: {exc}"
        finally:
            report.update(sent=self.sent, failed=self.failed)
            with contextlib.suppress(BaseException):
                os.write(write_fd, json.dumps(report).encode())
            os._exit(code)

    def _render_into(self, ahead: dict[int, _Rendered], row: Any) -> Callable[[], None]:
        """A callable that renders the pending delivery ``row`` into ``ahead``."""

        def prepare() -> None:
            ahead[row[0]] = self._render(row[0], row[1], row[3], row[4])

        return prepare

    def _render(self, delivery_id: int, sub_id: int, email: str, locale: str) -> _Rendered:
        """One delivery's Message-ID and message bytes."""
        message_id, buy_url, unsubscribe_url, unsubscribe_mailto = self.links.for_delivery(delivery_id, sub_id)
        data = self.template(locale).render(
            to=email,
            message_id=message_id,
            buy_url=buy_url,
            unsubscribe_url=unsubscribe_url,
            unsubscribe_mailto=unsubscribe_mailto,
        )
        return message_id, data

    def _send_one(
        self,
        conn: Connection,
        delivery_id: int,
        sub_id: int,
        email: str,
        rendered: _Rendered,
        *,
        while_waiting: Callable[[], None] | None = None,
    ) -> None:
        message_id, data = rendered

        def commit_point() -> None:
            now = self.clock()
            params = {"now": now, "mid": message_id, "id": delivery_id, "sid": sub_id}
            if self.pg:
                # One autocommitted, prepared statement on the driver's cursor (SQLAlchemy's statement machinery
                # costs more than the round trip): marks the row sent and the subscriber notified.
                with conn.connection.driver_connection.cursor() as cur:  # type: ignore[union-attr]
                    cur.execute(_MARK_SENT_PG_RAW, params, prepare=True)
                    done = cur.rowcount
            else:
                done = conn.execute(_MARK_SENT, params).rowcount
                if done == 1:
                    conn.execute(_MARK_NOTIFIED, params)
            if done != 1:
                conn.rollback()
                raise CommitPointRefused(f"delivery {delivery_id} is no longer claimed")
            if self._renewal_due(now):
                conn.execute(
                    text("UPDATE stock_events SET lease_until = :lease WHERE id = :id"),
                    {"lease": now + timedelta(seconds=LEASE_SECONDS), "id": self.ctx.event_id},
                )
            conn.commit()

        try:
            result = self.mailer.send(
                data,
                sender=self.mail_from_addr,
                recipients=[email],
                before_commit_point=commit_point,
                while_waiting=while_waiting,
            )
        except CommitPointRefused:
            log.info("delivery %s already handled elsewhere; not sent", delivery_id)
            return
        except (smtplib.SMTPRecipientsRefused, smtplib.SMTPSenderRefused, smtplib.SMTPDataError) as exc:
            code = _code(exc)
            conn.rollback()
            self._failed(conn, delivery_id, sub_id, code, str(exc), reverted=False)
            return
        if not result.accepted:
            self._failed(conn, delivery_id, sub_id, result.code, result.reply, reverted=True)
            return
        self.sent += 1

    def _renewal_due(self, now: datetime) -> bool:
        """True every RENEW_SECONDS (each forked sender renews on its own)."""
        if (now - self.renewed).total_seconds() < RENEW_SECONDS:
            return False
        self.renewed = now
        return True

    def _failed(
        self, conn: Connection, delivery_id: int, sub_id: int, code: int, reply: str, *, reverted: bool
    ) -> None:
        """A refusal: transient ones go back to 'claimed' for a later retry, permanent ones are 'failed'."""
        transient = 400 <= code < 500
        conn.execute(
            text(
                "UPDATE deliveries SET status = CASE WHEN :transient AND attempts < :max THEN :claimed "
                "ELSE :failed END, attempts = attempts + :inc, error = :err, sent_at = NULL, message_id = NULL "
                "WHERE id = :id"
            ),
            {
                "claimed": DeliveryStatus.CLAIMED,
                "failed": DeliveryStatus.FAILED,
                "transient": transient,
                "max": MAX_ATTEMPTS - (0 if reverted else 1),
                "inc": 0 if reverted else 1,
                "err": f"{code} {reply}"[:1000],
                "id": delivery_id,
            },
        )
        if reverted:
            conn.execute(
                text(
                    "UPDATE subscriptions SET state = :active, notified_at = NULL WHERE id = :sid AND state = :notified"
                ),
                {"sid": sub_id, "active": SubscriptionState.ACTIVE, "notified": SubscriptionState.NOTIFIED},
            )
        conn.commit()
        self.failed += 1
        log.warning("delivery %s refused: %s %s", delivery_id, code, reply)


def _code(exc: smtplib.SMTPException) -> int:
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        codes = [c for c, _ in exc.recipients.values()]
        return int(codes[0]) if codes else 550
    return int(getattr(exc, "smtp_code", 550))
