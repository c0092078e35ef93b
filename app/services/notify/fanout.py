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

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import and_, exists, func, or_, select, text, update
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
from app.services.notify.sender import CLAIM_CHUNK, LEASE_SECONDS, MAX_ATTEMPTS, Sender, WaveContext, mark_notified_pg
from app.services.stock.recompute import zone_named

log = logging.getLogger(__name__)

__all__ = [
    "FanoutResult",
    "due_events",
    "quiet_hours_end",
    "run_fanout",
]

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


def _load(session: Session, event_id: int) -> WaveContext | None:
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
    sender_name, reply_to = emails.store_sender(waitlist.store_values(session, store), store.admin_email)
    return WaveContext(
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


def _candidates(session: Session, ctx: WaveContext, limit: int, states: Sequence[str] = CANDIDATE_STATES) -> list[Any]:
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


def _purchased(session: Session, ctx: WaveContext, sub_ids: list[int]) -> set[int]:
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
    session: Session, ctx: WaveContext, skips: dict[str, list[int]], wave: int, now: datetime
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


def _skip_all(session: Session, ctx: WaveContext, reason: str | None, wave: int, now: datetime) -> dict[str, int]:
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


def _claim_wave(session: Session, ctx: WaveContext, size: int, wave: int, now: datetime) -> dict[str, int]:
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
        sender = Sender(db, settings, ctx, mailer, clock, connections=settings.fanout_connections if own_mailer else 1)
        sender.run()
        result.sent, result.failed = sender.sent, sender.failed
        _settle(db, ctx, result, clock())
        return result
    finally:
        if own_mailer and mailer is not None:
            mailer.close()


def _settle(db: Database, ctx: WaveContext, result: FanoutResult, now: datetime) -> None:
    """After a wave: retry, next wave, or done."""
    with db.session() as session:
        if db.dialect == "postgresql":
            # Every subscriber mailed for this event shows it, including those of a killed run's last chunk.
            mark_notified_pg(session, ctx.event_id, None, None)
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
        sender_name, reply_to = emails.store_sender(waitlist.store_values(session, store), store.admin_email)
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
