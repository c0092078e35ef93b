"""Sends the claimed deliveries of a restock wave, each marked 'sent' once the server accepted it; large waves forked.

Per message: right before the final dot its attempt is recorded (attempts + 1, refused when the row is no longer
'claimed'), and after the server's 2xx reply to the dot the row is committed 'sent'. A worker that dies between
the dot and that commit leaves the row 'claimed', so the resume sends it again: at most one duplicate per
connection, never a row 'sent' that the server did not accept.

Failures are per recipient: a 5xx reply to its RCPT or DATA, or an address the server cannot carry, marks that
delivery 'failed' with its reason (a hard bounce also suppresses the address for the store) and the wave goes on;
a 4xx reply leaves it 'claimed' for a retry with backoff, until MAX_ATTEMPTS attempts, after which it is 'failed'
("gave up after N attempts: ..."). A lost connection ends the run (the event is retried with backoff, see
app.services.notify.fanout).

The forked senders (one process and SMTP connection each) earn their place in the fan-out benchmark
(benchmarks/fanout.py): a large wave over several connections at once."""

from __future__ import annotations

import contextlib
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
from app.infra.mail import AddressError, CommitPointRefused, Mailer
from app.infra.procs import die_with_parent
from app.models import (
    Delivery,
    DeliveryStatus,
    Subscription,
    SubscriptionState,
)
from app.services.notify import emails, suppressions

log = logging.getLogger(__name__)
LEASE_SECONDS = 15
# Renewed well inside the lease, so a live worker never loses it to the sweeper.
RENEW_SECONDS = 5
CLAIM_CHUNK = 1000
# A wave uses one more SMTP connection (up to Settings.fanout_connections) per this many deliveries.
PER_CONNECTION_MIN = 50
# Attempts per delivery (each 4xx reply, or a send cut off after its final dot, is one); then it is 'failed'.
MAX_ATTEMPTS = 5
# Backoff between retries: 1, 2, 4, 8, 16 minutes, then every 30 minutes.
RETRY_BASE_SECONDS = 60
RETRY_MAX_SECONDS = 30 * 60


def retry_delay(attempt: int) -> timedelta:
    """The wait before retry number ``attempt`` (1-based): doubling from a minute, capped at 30 minutes."""
    return timedelta(seconds=min(RETRY_BASE_SECONDS * 2 ** max(0, attempt - 1), RETRY_MAX_SECONDS))


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
    price: str = ""
    # The urgency count of the email (app.domain.urgency), None when the count is unknown or not small.
    only_left: int | None = None


# Both per-message statements run on the hot path: they keep the statuses as literals, built from the enums, so each
# is the same fixed text as ever (prepared once by the driver), with no extra parameters.
_SENT, _CLAIMED = DeliveryStatus.SENT.value, DeliveryStatus.CLAIMED.value
_ACTIVE, _NOTIFIED = SubscriptionState.ACTIVE.value, SubscriptionState.NOTIFIED.value
# Right before the final dot: the attempt is counted, and refused if another run already finished the row.
_MARK_ATTEMPT = text(f"UPDATE deliveries SET attempts = attempts + 1 WHERE id = :id AND status = '{_CLAIMED}'")  # noqa: S608
_MARK_ATTEMPT_PG_RAW = f"UPDATE deliveries SET attempts = attempts + 1 WHERE id = %(id)s AND status = '{_CLAIMED}'"  # noqa: S608
# After the server's 2xx reply to the dot: only now is the message sent.
_MARK_SENT = text(
    f"UPDATE deliveries SET status = '{_SENT}', sent_at = :now, message_id = :mid, "  # noqa: S608
    f"error = NULL WHERE id = :id AND status = '{_CLAIMED}'"
)
_MARK_NOTIFIED = text(
    f"UPDATE subscriptions SET state = '{_NOTIFIED}', notified_at = :now, skip_reason = NULL "  # noqa: S608
    f"WHERE id = :sid AND state = '{_ACTIVE}'"
)
# PostgreSQL: the sent row is written alone; the subscribers of sent rows are marked notified in bulk
# (_MARK_NOTIFIED_PG) after each chunk and when the wave settles, which also catches up a killed run.
_MARK_SENT_PG_RAW = (
    f"UPDATE deliveries SET status = '{_SENT}', sent_at = %(now)s, message_id = %(mid)s, "  # noqa: S608
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


def _can_fork() -> bool:
    """Forked senders only on Linux (PR_SET_PDEATHSIG) and from a single-threaded process (an RQ work horse,
    a script): forking a threaded process (a web server running jobs in-process) could copy a held lock."""
    return sys.platform.startswith("linux") and threading.active_count() == 1


class Sender:
    """Sends the claimed deliveries of one event, committing each as 'sent' once the server accepted it.

    On PostgreSQL (Linux), with a mailer of its own, in a single-threaded process (an RQ work horse), a large
    wave goes out over up to ``connections`` SMTP connections at once: one forked child process per
    connection, each with its own database and SMTP connection, sending its share of the wave (delivery id
    modulo the number of children) exactly as a single sender does. Processes, not threads: each connection
    has at most one message between its dot and its recorded reply (the duplicate budget), and a
    single-threaded child records the reply at once. The children die with the parent (PR_SET_PDEATHSIG), so
    a SIGKILLed worker stops every connection, and the sweeper's resume finds each row 'claimed' (sent again)
    or 'sent' (done).
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
                        price=self.ctx.price,
                        only_left=self.ctx.only_left,
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
            die_with_parent(parent)
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
        counted = False

        def before_dot() -> None:
            nonlocal counted
            now = self.clock()
            if self.pg:
                # One autocommitted, prepared statement on the driver's cursor (SQLAlchemy's statement machinery
                # costs more than the round trip).
                with conn.connection.driver_connection.cursor() as cur:  # type: ignore[union-attr]
                    cur.execute(_MARK_ATTEMPT_PG_RAW, {"id": delivery_id}, prepare=True)
                    done = cur.rowcount
            else:
                done = conn.execute(_MARK_ATTEMPT, {"id": delivery_id}).rowcount
            if done != 1:
                conn.rollback()
                raise CommitPointRefused(f"delivery {delivery_id} is no longer claimed")
            counted = True
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
                before_commit_point=before_dot,
                while_waiting=while_waiting,
            )
        except CommitPointRefused:
            log.info("delivery %s already handled elsewhere; not sent", delivery_id)
            return
        except AddressError as exc:
            conn.rollback()
            self._failed(conn, delivery_id, email, 0, f"address not sendable: {exc}", counted=counted)
            return
        except (smtplib.SMTPRecipientsRefused, smtplib.SMTPSenderRefused, smtplib.SMTPDataError) as exc:
            conn.rollback()
            code, reply = smtp_code(exc)
            self._failed(conn, delivery_id, email, code, reply, counted=counted, at_rcpt=_at_rcpt(exc))
            return
        if not result.accepted:
            self._failed(conn, delivery_id, email, result.code, result.reply, counted=counted)
            return
        self._mark_sent(conn, delivery_id, sub_id, message_id)

    def _mark_sent(self, conn: Connection, delivery_id: int, sub_id: int, message_id: str) -> None:
        """The server accepted the message: the row is 'sent' (and on SQLite the subscriber 'notified')."""
        now = self.clock()
        params = {"now": now, "mid": message_id, "id": delivery_id, "sid": sub_id}
        if self.pg:
            with conn.connection.driver_connection.cursor() as cur:  # type: ignore[union-attr]
                cur.execute(_MARK_SENT_PG_RAW, params, prepare=True)
                done = cur.rowcount
        else:
            done = conn.execute(_MARK_SENT, params).rowcount
            if done == 1:
                conn.execute(_MARK_NOTIFIED, params)
        conn.commit()
        if done == 1:
            self.sent += 1
        else:  # another run finished the row meanwhile (a stale worker): the message went out twice
            log.warning("delivery %s was no longer claimed when its message was accepted", delivery_id)

    def _renewal_due(self, now: datetime) -> bool:
        """True every RENEW_SECONDS (each forked sender renews on its own)."""
        if (now - self.renewed).total_seconds() < RENEW_SECONDS:
            return False
        self.renewed = now
        return True

    def _failed(
        self, conn: Connection, delivery_id: int, email: str, code: int, reply: str, *, counted: bool,
        at_rcpt: bool = False,
    ) -> None:  # fmt: skip
        """A refusal or unsendable address: a 4xx stays 'claimed' for a retry (till MAX_ATTEMPTS), the rest 'failed'."""
        transient = 400 <= code < 500
        err = f"{code} {reply}" if code else reply
        conn.execute(
            text(
                "UPDATE deliveries SET attempts = attempts + :inc, sent_at = NULL, message_id = NULL, "
                "status = CASE WHEN :transient AND attempts + :inc < :max THEN :claimed ELSE :failed END, "
                "error = CASE WHEN :transient AND attempts + :inc >= :max "
                "THEN 'gave up after ' || (attempts + :inc) || ' attempts: ' || :err ELSE :err END "
                "WHERE id = :id AND status = :claimed"
            ),
            {
                "claimed": DeliveryStatus.CLAIMED,
                "failed": DeliveryStatus.FAILED,
                "transient": transient,
                "max": MAX_ATTEMPTS,
                "inc": 0 if counted else 1,
                "err": err[:900],
                "id": delivery_id,
            },
        )
        if suppressions.is_hard_bounce(code, reply, at_rcpt=at_rcpt):
            suppressions.suppress(conn, self.ctx.store_id, email, f"{code} {reply}", self.clock())
        conn.commit()
        self.failed += 1
        log.warning("delivery %s refused: %s", delivery_id, err)


def smtp_code(exc: smtplib.SMTPException) -> tuple[int, str]:
    """The reply code and text of a refusal (the first refused recipient's)."""
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        replies = list(exc.recipients.values())
        if not replies:
            return 550, "recipient refused"
        code, msg = replies[0]
        return int(code), _text(msg)
    return int(getattr(exc, "smtp_code", 550)), _text(getattr(exc, "smtp_error", b""))


def _text(msg: object) -> str:
    return msg.decode("utf-8", "replace") if isinstance(msg, bytes) else str(msg)


def _at_rcpt(exc: smtplib.SMTPException) -> bool:
    return isinstance(exc, smtplib.SMTPRecipientsRefused)
