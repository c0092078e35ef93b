"""Restock fan-out: fair waves of restock emails from one restock event, exactly once per subscriber.

One run of ``run_fanout`` leases the event row, finishes any wave a killed worker left half sent,
otherwise re-reads the stock and sends one wave (oldest subscription first, at most
``wave_size(sellable, ratio)`` emails), then schedules the next wave, defers past quiet hours, or ends
the event (done / stopped). Progress lives in the database: the event row (status, lease, next wave)
and one delivery row per (subscription, event), inserted and committed as 'claimed' before any email
of the wave is sent. Each delivery row is committed 'sent' inside SMTP DATA, before the final dot
(see app.infra.mail), so neither a retried job nor a killed worker mails anyone twice.
"""

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
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, NoReturn

from sqlalchemy import Connection, and_, exists, func, or_, select, text, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from app.config import Settings
from app.db import Database, utcnow
from app.domain.settings import StockSettings, resolve_settings
from app.domain.waves import in_quiet_hours, wave_size
from app.infra import links
from app.infra.mail import CommitPointRefused, Mailer
from app.models import (
    Delivery,
    DeliveryStatus,
    FanoutStatus,
    Order,
    OrderLine,
    Product,
    StockEvent,
    Store,
    StoreSetting,
    Subscription,
    SubscriptionState,
    Variant,
)
from app.services.notify import emails, waitlist
from app.services.stock.recompute import zone_named

log = logging.getLogger(__name__)

__all__ = [
    "FanoutResult",
    "due_events",
    "quiet_hours_end",
    "run_fanout",
]

LEASE_SECONDS = 15
# Renewed well inside the lease, so a live worker never loses it to the sweeper.
RENEW_SECONDS = 5
CLAIM_CHUNK = 1000
# A wave uses one more SMTP connection (up to Settings.fanout_connections) per this many deliveries.
PER_CONNECTION_MIN = 50
MAX_ATTEMPTS = 3
RETRY_SECONDS = 60
# Subscriptions a wave looks at: active ones are mailed, the other two are skipped with a reason.
CANDIDATE_STATES = (SubscriptionState.ACTIVE, SubscriptionState.PENDING_CONFIRMATION, SubscriptionState.UNSUBSCRIBED)
SKIP_FOR_STATE = {SubscriptionState.PENDING_CONFIRMATION: "unconfirmed", SubscriptionState.UNSUBSCRIBED: "unsubscribed"}


@dataclass(slots=True)
class FanoutResult:
    """What one run did."""

    event_id: int
    status: str  # leased-out | deferred (till quiet hours end) | the event's FanoutStatus: done | stopped | pending
    sent: int = 0
    skipped: dict[str, int] = field(default_factory=dict)
    failed: int = 0
    wave: int = 0
    next_wave_at: datetime | None = None


def quiet_hours_end(now: datetime, tz_name: str | None, end_hour: int) -> datetime:
    """The next moment (UTC) the store's clock reads ``end_hour``:00 after ``now``."""
    tz = zone_named(tz_name)
    local = now.astimezone(tz)
    day: date = local.date()
    candidate = datetime.combine(day, time(end_hour), tzinfo=tz)
    if candidate <= local:
        candidate = datetime.combine(day + timedelta(days=1), time(end_hour), tzinfo=tz)
    return candidate.astimezone(UTC)


def _settings_for(session: Session, store_id: int, product_id: int, variant_id: int) -> StockSettings:
    layers: dict[str, dict[str, Any] | None] = {"store": None, "product": None, "variant": None}
    rows = session.execute(
        select(StoreSetting.scope, StoreSetting.values).where(
            StoreSetting.store_id == store_id,
            or_(
                StoreSetting.scope == "store",
                and_(StoreSetting.scope == "product", StoreSetting.product_id == product_id),
                and_(StoreSetting.scope == "variant", StoreSetting.variant_id == variant_id),
            ),
        )
    )
    for scope, values in rows:
        layers[scope] = dict(values or {})
    return resolve_settings(layers["store"], layers["product"], layers["variant"])


def _lease(session: Session, event_id: int, now: datetime) -> bool:
    lease = now + timedelta(seconds=LEASE_SECONDS)
    due = or_(
        and_(
            StockEvent.fanout_status == FanoutStatus.PENDING,
            or_(StockEvent.next_wave_at.is_(None), StockEvent.next_wave_at <= now),
        ),
        and_(
            StockEvent.fanout_status == FanoutStatus.RUNNING,
            or_(StockEvent.lease_until.is_(None), StockEvent.lease_until < now),
        ),
    )
    result = session.execute(
        update(StockEvent)
        .where(StockEvent.id == event_id, StockEvent.kind == "restock", due)
        .values(fanout_status=FanoutStatus.RUNNING, lease_until=lease)
        .execution_options(synchronize_session=False)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


@dataclass(slots=True)
class _Context:
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


def _load(session: Session, event_id: int) -> _Context | None:
    row = session.execute(
        select(StockEvent, Variant, Product, Store)
        .join(Variant, Variant.id == StockEvent.variant_id)
        .join(Product, Product.id == Variant.product_id)
        .join(Store, Store.id == StockEvent.store_id)
        .where(StockEvent.id == event_id)
    ).one_or_none()
    if row is None:
        return None
    ev, variant, product, store = row
    sender_name, reply_to = emails.store_sender(waitlist.store_values(session, store))
    return _Context(
        event_id=ev.id,
        store_id=ev.store_id,
        variant_id=variant.id,
        store_name=store.name or store.domain,
        sender_name=sender_name,
        reply_to=reply_to,
        store_tz=store.timezone,
        product_title=product.title,
        variant_title=variant.title,
        image_url=variant.image_url or product.image_url,
        published=bool(
            variant.published and product.published and variant.deleted_at is None and product.deleted_at is None
        ),
        sellable=int(variant.sellable_quantity),
        waves_sent=ev.waves_sent,
        settings=_settings_for(session, store.id, product.id, variant.id),
    )


_INSERT_DELIVERIES_PG = text(
    "INSERT INTO deliveries (store_id, subscription_id, stock_event_id, wave, status, skip_reason, attempts, "
    "clicks, claimed_at) "
    "SELECT :store_id, u.sid, :stock_event_id, :wave, :status, :skip_reason, 0, 0, :claimed_at "
    "FROM unnest(CAST(:sids AS bigint[])) WITH ORDINALITY AS u(sid, n) ORDER BY u.n "
    "ON CONFLICT (subscription_id, stock_event_id) DO NOTHING RETURNING id, subscription_id, status"
)


def _insert_deliveries(session: Session, rows: list[dict[str, Any]]) -> list[tuple[int, int, str]]:
    """Insert delivery rows; a row another run already holds is left alone (ON CONFLICT DO NOTHING).

    On PostgreSQL rows that differ only in their subscription (every caller's case) go in as one statement with
    one array parameter, in order: a thousand-row multi-VALUES statement costs the driver far more to prepare.
    """
    if not rows:
        return []
    dialect = session.get_bind().dialect.name
    common = ("store_id", "stock_event_id", "wave", "status", "skip_reason", "claimed_at")
    first = rows[0]
    if dialect == "postgresql" and all(r.get(k) == first.get(k) for r in rows for k in common):
        params = {k: first.get(k) for k in common}
        params["sids"] = [r["subscription_id"] for r in rows]
        result = session.execute(_INSERT_DELIVERIES_PG, params)
        return [(int(a), int(b), str(c)) for a, b, c in result.all()]
    ins = pg_insert(Delivery) if dialect == "postgresql" else sqlite_insert(Delivery)
    stmt = ins.on_conflict_do_nothing(index_elements=["subscription_id", "stock_event_id"]).returning(
        Delivery.id, Delivery.subscription_id, Delivery.status
    )
    return [(int(a), int(b), str(c)) for a, b, c in session.execute(stmt, rows).all()]


def _candidates(session: Session, ctx: _Context, limit: int, states: Sequence[str] = CANDIDATE_STATES) -> list[Any]:
    """Subscriptions without a delivery for this event, oldest first."""
    delivered = exists().where(Delivery.subscription_id == Subscription.id, Delivery.stock_event_id == ctx.event_id)
    return list(
        session.execute(
            select(Subscription.id, Subscription.state, Subscription.email, Subscription.created_at)
            .where(Subscription.variant_id == ctx.variant_id, Subscription.state.in_(states), ~delivered)
            .order_by(Subscription.created_at, Subscription.id)
            .limit(limit)
        ).all()
    )


def _purchased(session: Session, ctx: _Context, sub_ids: list[int]) -> set[int]:
    """Subscriptions whose email ordered this variant (not cancelled) since signing up."""
    if not sub_ids:
        return set()
    rows = session.execute(
        select(Subscription.id)
        .join(
            Order,
            and_(
                Order.store_id == Subscription.store_id,
                func.lower(Order.email) == func.lower(Subscription.email),
                Order.ordered_at >= Subscription.created_at,
                Order.cancelled_at.is_(None),
            ),
        )
        .join(OrderLine, and_(OrderLine.order_id == Order.id, OrderLine.variant_id == Subscription.variant_id))
        .where(Subscription.id.in_(sub_ids))
        .distinct()
    )
    return {int(r) for r in rows.scalars()}


def _record_skips(
    session: Session, ctx: _Context, skips: dict[str, list[int]], wave: int, now: datetime
) -> dict[str, int]:
    counts: dict[str, int] = {}
    for reason, ids in skips.items():
        if not ids:
            continue
        rows = [
            {
                "store_id": ctx.store_id,
                "subscription_id": sid,
                "stock_event_id": ctx.event_id,
                "wave": wave,
                "status": DeliveryStatus.SKIPPED,
                "skip_reason": reason,
                "claimed_at": now,
            }
            for sid in ids
        ]
        inserted = _insert_deliveries(session, rows)
        mine = [sid for _, sid, _ in inserted]
        if mine:
            session.execute(
                update(Subscription)
                .where(Subscription.id.in_(mine))
                .values(skip_reason=reason)
                .execution_options(synchronize_session=False)
            )
        counts[reason] = len(mine)
    return counts


def _skip_all(session: Session, ctx: _Context, reason: str | None, wave: int, now: datetime) -> dict[str, int]:
    """Record a skip for every remaining candidate: ``reason`` for active ones, their own for the rest."""
    totals: dict[str, int] = {}
    while True:
        batch = _candidates(session, ctx, CLAIM_CHUNK, CANDIDATE_STATES if reason else tuple(SKIP_FOR_STATE))
        if not batch:
            return totals
        skips: dict[str, list[int]] = {}
        for sid, state, _, _ in batch:
            why = SKIP_FOR_STATE.get(state) or reason
            if why is not None:
                skips.setdefault(why, []).append(sid)
        for k, v in _record_skips(session, ctx, skips, wave, now).items():
            totals[k] = totals.get(k, 0) + v


def _claim_wave(session: Session, ctx: _Context, size: int, wave: int, now: datetime) -> dict[str, int]:
    """Claim up to ``size`` sends (oldest first), recording skips met on the way."""
    claimed = 0
    skipped: dict[str, int] = {}
    while claimed < size:
        batch = _candidates(session, ctx, max(CLAIM_CHUNK, size - claimed))
        if not batch:
            break
        bought = _purchased(session, ctx, [sid for sid, state, _, _ in batch if state == SubscriptionState.ACTIVE])
        skips: dict[str, list[int]] = {}
        to_send: list[int] = []
        for sid, state, _, _ in batch:
            if state != SubscriptionState.ACTIVE:
                skips.setdefault(SKIP_FOR_STATE[state], []).append(sid)
            elif sid in bought:
                skips.setdefault("purchased", []).append(sid)
            elif claimed + len(to_send) < size:
                to_send.append(sid)
            else:
                break
        for k, v in _record_skips(session, ctx, skips, wave, now).items():
            skipped[k] = skipped.get(k, 0) + v
        rows = [
            {
                "store_id": ctx.store_id,
                "subscription_id": sid,
                "stock_event_id": ctx.event_id,
                "wave": wave,
                "status": DeliveryStatus.CLAIMED,
                "claimed_at": now,
            }
            for sid in to_send
        ]
        claimed += len(_insert_deliveries(session, rows))
        if not to_send and not skips:
            break
    skipped["_claimed"] = claimed
    return skipped


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


def _mark_notified_pg(conn: Connection | Session, event_id: int, from_id: int | None, upto: int | None) -> None:
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


class _Sender:
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
        ctx: _Context,
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
                _mark_notified_pg(conn, self.ctx.event_id, batch[0][0], last)
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


def _finish(session: Session, event_id: int, status: FanoutStatus, **values: Any) -> None:
    session.execute(
        update(StockEvent)
        .where(StockEvent.id == event_id)
        .values(fanout_status=status, lease_until=None, **values)
        .execution_options(synchronize_session=False)
    )


def _has_claimed(session: Session, event_id: int) -> tuple[bool, bool]:
    """(retryable claimed rows left, exhausted claimed rows left)."""
    base = select(func.count()).where(Delivery.stock_event_id == event_id, Delivery.status == DeliveryStatus.CLAIMED)
    retry = session.execute(base.where(Delivery.attempts < MAX_ATTEMPTS)).scalar_one()
    spent = session.execute(base.where(Delivery.attempts >= MAX_ATTEMPTS)).scalar_one()
    flags = {True: int(retry), False: int(spent)}
    return flags.get(True, 0) > 0, flags.get(False, 0) > 0


def run_fanout(
    db: Database,
    settings: Settings,
    event_id: int,
    *,
    mailer: Mailer | None = None,
    clock: Callable[[], datetime] = utcnow,
) -> FanoutResult:
    """Run (or resume) one restock event's fan-out: at most one wave per call."""
    with db.session() as session:
        if not _lease(session, event_id, clock()):
            return FanoutResult(event_id, "leased-out")
        ctx = _load(session, event_id)
    if ctx is None:
        return FanoutResult(event_id, "leased-out")
    own_mailer = mailer is None
    result = FanoutResult(event_id, FanoutStatus.PENDING, wave=ctx.waves_sent)
    try:
        with db.session() as session:
            retryable, _ = _has_claimed(session, event_id)
        if not retryable:
            # A fresh wave: check the gates, then claim.
            now = clock()
            wave = ctx.waves_sent + 1
            st = ctx.settings
            with db.session() as session:
                if not ctx.published:
                    result.skipped = _skip_all(session, ctx, "product_unpublished", wave, now)
                    _finish(session, event_id, FanoutStatus.DONE, next_wave_at=None)
                    result.status = FanoutStatus.DONE
                    return result
                if ctx.sellable <= 0:
                    _finish(session, event_id, FanoutStatus.STOPPED, next_wave_at=None)
                    result.status = FanoutStatus.STOPPED
                    return result
                if ctx.sellable < st.min_inventory:
                    if ctx.waves_sent == 0:
                        result.skipped = _skip_all(session, ctx, "below_min_inventory", wave, now)
                        _finish(session, event_id, FanoutStatus.DONE, next_wave_at=None)
                        result.status = FanoutStatus.DONE
                    else:
                        _finish(session, event_id, FanoutStatus.STOPPED, next_wave_at=None)
                        result.status = FanoutStatus.STOPPED
                    return result
                local_hour = now.astimezone(zone_named(ctx.store_tz)).hour
                if st.quiet_hours_end is not None and in_quiet_hours(
                    local_hour, st.quiet_hours_start, st.quiet_hours_end
                ):
                    resume_at = quiet_hours_end(now, ctx.store_tz, st.quiet_hours_end)
                    size = wave_size(ctx.sellable, st.wave_ratio)
                    waiting = [sid for sid, *_ in _candidates(session, ctx, size, (SubscriptionState.ACTIVE,))]
                    if waiting:
                        # Deferred, not dropped: the wave's subscribers show why they wait.
                        session.execute(
                            update(Subscription)
                            .where(Subscription.id.in_(waiting))
                            .values(skip_reason="quiet_hours")
                            .execution_options(synchronize_session=False)
                        )
                    _finish(session, event_id, FanoutStatus.PENDING, next_wave_at=resume_at)
                    result.status = "deferred"
                    result.next_wave_at = resume_at
                    return result
                claim = _claim_wave(session, ctx, wave_size(ctx.sellable, st.wave_ratio), wave, now)
                claimed = claim.pop("_claimed")
                result.skipped = claim
                if claimed:
                    session.execute(
                        update(StockEvent)
                        .where(StockEvent.id == event_id)
                        .values(waves_sent=wave)
                        .execution_options(synchronize_session=False)
                    )
            # The claim is committed here, before the first email of the wave leaves.
            result.wave = wave if claimed else ctx.waves_sent
        if mailer is None:
            if not settings.smtp_url:
                with db.session() as session:
                    retryable, _ = _has_claimed(session, event_id)
                if retryable:
                    raise RuntimeError("SMTP_URL is not configured; restock emails cannot be sent")
            mailer = Mailer(settings.smtp_url or "smtp://127.0.0.1:25")
        # A mailer handed in is one connection the caller owns: the wave goes over it alone.
        sender = _Sender(db, settings, ctx, mailer, clock, connections=settings.fanout_connections if own_mailer else 1)
        sender.run()
        result.sent, result.failed = sender.sent, sender.failed
        _settle(db, ctx, result, clock())
        return result
    finally:
        if own_mailer and mailer is not None:
            mailer.close()


def _settle(db: Database, ctx: _Context, result: FanoutResult, now: datetime) -> None:
    """After a wave: retry, next wave, or done."""
    with db.session() as session:
        if db.dialect == "postgresql":
            # Every subscriber mailed for this event shows it, including those of a killed run's last chunk.
            _mark_notified_pg(session, ctx.event_id, None, None)
        retryable, exhausted = _has_claimed(session, ctx.event_id)
        if exhausted:
            session.execute(
                update(Delivery)
                .where(
                    Delivery.stock_event_id == ctx.event_id,
                    Delivery.status == DeliveryStatus.CLAIMED,
                    Delivery.attempts >= MAX_ATTEMPTS,
                )
                .values(status=DeliveryStatus.FAILED)
                .execution_options(synchronize_session=False)
            )
        if retryable:
            result.next_wave_at = now + timedelta(seconds=RETRY_SECONDS)
            _finish(session, ctx.event_id, FanoutStatus.PENDING, next_wave_at=result.next_wave_at)
            result.status = FanoutStatus.PENDING
            return
        if _candidates(session, ctx, 1, (SubscriptionState.ACTIVE,)):
            result.next_wave_at = now + timedelta(minutes=ctx.settings.wave_interval_minutes)
            _finish(session, ctx.event_id, FanoutStatus.PENDING, next_wave_at=result.next_wave_at)
            result.status = FanoutStatus.PENDING
            return
        # Nobody left to mail: the unconfirmed and unsubscribed still show why they got nothing.
        for k, v in _skip_all(session, ctx, None, result.wave or 1, now).items():
            result.skipped[k] = result.skipped.get(k, 0) + v
        _finish(session, ctx.event_id, FanoutStatus.DONE, next_wave_at=None)
        result.status = FanoutStatus.DONE


def due_events(session: Session, now: datetime) -> list[int]:
    """Restock events whose next wave is due (pending, next_wave_at passed or unset)."""
    return list(
        session.scalars(
            select(StockEvent.id)
            .where(
                StockEvent.kind == "restock",
                StockEvent.fanout_status == FanoutStatus.PENDING,
                or_(StockEvent.next_wave_at.is_(None), StockEvent.next_wave_at <= now),
            )
            .order_by(StockEvent.id)
            .limit(1000)
        )
    )


CONFIRM_TTL = timedelta(hours=48)


def send_confirmation(
    db: Database,
    settings: Settings,
    subscription_id: int,
    *,
    mailer: Mailer | None = None,
    clock: Callable[[], datetime] = utcnow,
) -> bool:
    """Send the double-opt-in email once: the token is committed inside DATA, right before the final dot.

    Returns False when there is nothing to send (confirmed, unsubscribed, or already sent).
    """
    with db.session() as session:
        row = session.execute(
            select(Subscription, Variant, Product, Store)
            .join(Variant, Variant.id == Subscription.variant_id)
            .join(Product, Product.id == Variant.product_id)
            .join(Store, Store.id == Subscription.store_id)
            .where(Subscription.id == subscription_id)
        ).one_or_none()
        if row is None:
            return False
        sub, variant, product, store = row
        if sub.state != SubscriptionState.PENDING_CONFIRMATION or sub.confirm_sent_at is not None:
            return False
        sender_name, reply_to = emails.store_sender(waitlist.store_values(session, store))
        email, locale = sub.email, sub.locale
        store_name, product_title, variant_title = store.name or store.domain, product.title, variant.title
    if not settings.smtp_url and mailer is None:
        raise RuntimeError("SMTP_URL is not configured; the confirmation email cannot be sent")
    now = clock()
    raw, digest = links.new_confirm_token()
    msg = emails.build_confirmation(
        emails.ConfirmContext(
            to=email,
            locale=locale,
            store_name=store_name,
            product_title=product_title,
            variant_title=variant_title,
            confirm_url=links.confirm_url(settings.app_url, raw),
            message_id=f"<confirm-{subscription_id}-{int(now.timestamp())}@{emails.mail_domain(settings.mail_from)}>",
            mail_from=settings.mail_from,
            date=now,
            sender_name=sender_name,
            reply_to=reply_to,
        )
    )
    own = mailer is None
    m = mailer or Mailer(settings.smtp_url or "")
    try:
        with db.engine.connect() as conn:

            def commit_point() -> None:
                done = conn.execute(
                    update(Subscription)
                    .where(
                        Subscription.id == subscription_id,
                        Subscription.state == SubscriptionState.PENDING_CONFIRMATION,
                        Subscription.confirm_sent_at.is_(None),
                    )
                    .values(confirm_token_hash=digest, confirm_expires_at=now + CONFIRM_TTL, confirm_sent_at=now)
                ).rowcount
                if done != 1:
                    conn.rollback()
                    raise CommitPointRefused(f"subscription {subscription_id} needs no confirmation email")
                conn.commit()

            try:
                result = m.send(
                    msg, sender=emails.sender_address(settings.mail_from), recipients=[email],
                    before_commit_point=commit_point,
                )  # fmt: skip
            except CommitPointRefused:
                return False
            if not result.accepted:
                # Refused after the commit point: clear the mark so a retry of the job sends again.
                conn.execute(
                    update(Subscription)
                    .where(Subscription.id == subscription_id, Subscription.confirm_token_hash == digest)
                    .values(confirm_token_hash=None, confirm_expires_at=None, confirm_sent_at=None)
                )
                conn.commit()
                raise RuntimeError(f"confirmation email refused: {result.code} {result.reply}")
        return True
    finally:
        if own:
            m.close()
