"""Restock fan-out: fair waves of restock emails from one restock event, once per subscriber (within budget).

One run of ``run_fanout`` leases the event row, finishes any wave a killed worker left half sent,
otherwise re-reads the stock and sends one wave (oldest subscription first, at most
``wave_size(sellable, ratio)`` emails), then schedules the next wave, defers past quiet hours, or ends
the event (done / stopped). Progress lives in the database: the event row (status, lease, next wave)
and one delivery row per (subscription, event), inserted and committed as 'claimed' before any email
of the wave is sent. A delivery row is committed 'sent' only after the server accepted its message (the reply
to the final dot, see app.infra.mail and app.services.notify.sender): nobody is missed, and a worker killed
between a dot and its reply costs at most one duplicate per SMTP connection.

Retries and dead letters: a delivery refused with a 4xx is retried with backoff (sender.retry_delay: 1, 2, 4, 8
minutes) up to sender.MAX_ATTEMPTS (5) attempts, then 'failed' with "gave up after 5 attempts: ..."; a 5xx or an
unsendable address fails it at once, and the wave goes on. A run that fails as a whole (SMTP server unreachable,
connection lost) or dies (its lease expires) counts on the event (run_failures, last_error) and the event is
retried with the same backoff; after MAX_RUN_FAILURES (8) in a row it is 'failed' (the operator's dead letter),
its claimed deliveries left as they are.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import String, and_, case, cast, exists, func, literal, or_, select, text, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session, aliased

from app.config import Settings
from app.db import Database, utcnow
from app.domain.settings import StockSettings, resolve_settings
from app.domain.urgency import restock_urgency
from app.domain.waves import in_quiet_hours, wave_size
from app.infra.mail import Mailer
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
from app.services.notify import emails, suppressions, waitlist
from app.services.notify.sender import (
    CLAIM_CHUNK,
    LEASE_SECONDS,
    MAX_ATTEMPTS,
    Sender,
    WaveContext,
    mark_notified_pg,
    retry_delay,
)
from app.services.stock.recompute import zone_named

log = logging.getLogger(__name__)

__all__ = [
    "FanoutResult",
    "due_events",
    "quiet_hours_end",
    "run_fanout",
    "settings_for",
]

# Runs of one event in a row that may fail or die before it is dead-lettered ('failed', with last_error).
MAX_RUN_FAILURES = 8
_DIED = "the run stopped without finishing (lease expired)"
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


def settings_for(session: Session, store_id: int, product_id: int, variant_id: int) -> StockSettings:
    """The stock settings that apply to one variant: store values, then its product's, then its own."""
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


def _lease(session: Session, event_id: int, now: datetime) -> int | None:
    """Lease the event if it is due; returns its run failures in a row (a taken-over dead run counts), else None."""
    lease = now + timedelta(seconds=LEASE_SECONDS)
    running = StockEvent.fanout_status == FanoutStatus.RUNNING
    due = or_(
        and_(
            StockEvent.fanout_status == FanoutStatus.PENDING,
            or_(StockEvent.next_wave_at.is_(None), StockEvent.next_wave_at <= now),
        ),
        and_(running, or_(StockEvent.lease_until.is_(None), StockEvent.lease_until < now)),
    )
    row = session.execute(
        update(StockEvent)
        .where(StockEvent.id == event_id, StockEvent.kind == "restock", due)
        .values(
            fanout_status=FanoutStatus.RUNNING,
            lease_until=lease,
            # Still 'running' with its lease expired: the run before this one died (a killed worker, a crash).
            run_failures=case((running, StockEvent.run_failures + 1), else_=StockEvent.run_failures),
            last_error=case((running, _DIED), else_=StockEvent.last_error),
        )
        .returning(StockEvent.run_failures)
        .execution_options(synchronize_session=False)
    ).one_or_none()
    return None if row is None else int(row[0])


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
    settings = settings_for(session, store.id, product.id, variant.id)
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
        settings=settings,
        price=emails.email_price(store, variant.price),
        only_left=restock_urgency(
            tracked=variant.tracked,
            inventory_policy=variant.inventory_policy,
            backorder=variant.backorder,
            sellable=int(variant.sellable_quantity),
            threshold=settings.low_stock_threshold,
        ),
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
    """Subscriptions this event may still mail or skip, oldest first: none it has a row for, none owed elsewhere."""
    delivered = exists().where(Delivery.subscription_id == Subscription.id, Delivery.stock_event_id == ctx.event_id)
    # A run of an earlier restock that was cut off still owes its claimed subscribers their email and will resume:
    # claiming them here too would mail them twice. Once that event is done, stopped or dead, they are free again.
    claimed_elsewhere = (
        exists()
        .where(
            Delivery.subscription_id == Subscription.id,
            Delivery.stock_event_id != ctx.event_id,
            Delivery.status == DeliveryStatus.CLAIMED,
        )
        .where(
            exists().where(
                StockEvent.id == Delivery.stock_event_id,
                StockEvent.fanout_status.in_((FanoutStatus.PENDING, FanoutStatus.RUNNING)),
            )
        )
    )
    # Mailed by another event since signing up, but not marked notified yet (PostgreSQL marks a chunk's subscribers
    # after the chunk): a signup gets one email.
    mailed_elsewhere = exists().where(
        Delivery.subscription_id == Subscription.id,
        Delivery.stock_event_id != ctx.event_id,
        Delivery.status == DeliveryStatus.SENT,
        Delivery.sent_at >= Subscription.created_at,
    )
    return list(
        session.execute(
            select(Subscription.id, Subscription.state, Subscription.email, Subscription.created_at)
            .where(
                Subscription.variant_id == ctx.variant_id,
                Subscription.state.in_(states),
                ~delivered,
                ~claimed_elsewhere,
                ~mailed_elsewhere,
            )
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
        bounced = suppressions.suppressed(session, ctx.store_id, [email for _, _, email, _ in batch])
        skips: dict[str, list[int]] = {}
        to_send: list[int] = []
        for sid, state, email, _ in batch:
            if state != SubscriptionState.ACTIVE:
                skips.setdefault(SKIP_FOR_STATE[state], []).append(sid)
            elif email in bounced:
                skips.setdefault("suppressed", []).append(sid)
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


def _drop_stale_claims(session: Session, event_id: int) -> None:
    """Skip this event's claimed rows whose subscriber may no longer be mailed by it.

    A resumed run sends what it claimed, but meanwhile the subscriber may have unsubscribed, been erased, or been
    mailed by a later restock of the same variant: each such row is skipped with the reason, so nobody gets the same
    news twice or an email after leaving the list.
    """
    sub = aliased(Subscription)
    other = aliased(Delivery)
    mailed_since = exists().where(
        other.subscription_id == Delivery.subscription_id,
        other.stock_event_id != Delivery.stock_event_id,
        other.status == DeliveryStatus.SENT,
        other.sent_at >= Delivery.claimed_at,
    )
    reason = case(
        (sub.state == SubscriptionState.UNSUBSCRIBED, literal("unsubscribed")),
        (sub.state == SubscriptionState.REDACTED, literal("redacted")),
        else_=literal("notified_by_another_restock"),
    )
    gone = sub.state.in_(
        (
            SubscriptionState.UNSUBSCRIBED,
            SubscriptionState.REDACTED,
            SubscriptionState.NOTIFIED,
            SubscriptionState.CONVERTED,
        )
    )
    stale = (
        select(Delivery.id, reason.label("reason"))
        .join(sub, sub.id == Delivery.subscription_id)
        .where(Delivery.stock_event_id == event_id, Delivery.status == DeliveryStatus.CLAIMED, or_(gone, mailed_since))
    )
    by_reason: dict[str, list[int]] = {}
    for delivery_id, why in session.execute(stale).all():
        by_reason.setdefault(str(why), []).append(int(delivery_id))
    for why, ids in by_reason.items():
        session.execute(
            update(Delivery)
            .where(Delivery.id.in_(ids), Delivery.status == DeliveryStatus.CLAIMED)
            .values(status=DeliveryStatus.SKIPPED, skip_reason=why)
            .execution_options(synchronize_session=False)
        )
        log.info(
            "restock event %s: %d claimed emails skipped on resume (%s)",
            event_id,
            len(ids),
            why,
            extra={"data": {"event_id": event_id, "skip_reason": why}},
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
        failures = _lease(session, event_id, clock())
        if failures is None:
            return FanoutResult(event_id, "leased-out")
        if failures >= MAX_RUN_FAILURES:
            _finish(session, event_id, FanoutStatus.FAILED, next_wave_at=None)
            log.error("restock event %s dead-lettered after %s failed runs", event_id, failures)
            return FanoutResult(event_id, FanoutStatus.FAILED)
        ctx = _load(session, event_id)
    if ctx is None:
        return FanoutResult(event_id, "leased-out")
    own_mailer = mailer is None
    result = FanoutResult(event_id, FanoutStatus.PENDING, wave=ctx.waves_sent)
    try:
        with db.session() as session:
            _drop_stale_claims(session, event_id)
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
        sender: Sender | None = None
        try:
            if mailer is None:
                if not settings.smtp_url:
                    with db.session() as session:
                        retryable, _ = _has_claimed(session, event_id)
                    if retryable:
                        raise RuntimeError("SMTP_URL is not configured; restock emails cannot be sent")
                mailer = Mailer(settings.smtp_url or "smtp://127.0.0.1:25")
            # A mailer handed in is one connection the caller owns: the wave goes over it alone.
            sender = Sender(
                db, settings, ctx, mailer, clock, connections=settings.fanout_connections if own_mailer else 1
            )
            sender.run()
        except Exception as exc:
            # The run as a whole failed (SMTP unreachable, connection lost, a sender process died): whatever
            # was accepted is recorded; the rest waits for a retry with backoff.
            if sender is not None:
                result.sent, result.failed = sender.sent, sender.failed
            _retry_run(db, ctx, result, clock(), f"{exc.__class__.__name__}: {exc}")
            return result
        result.sent, result.failed = sender.sent, sender.failed
        _settle(db, ctx, result, clock())
        return result
    finally:
        if own_mailer and mailer is not None:
            mailer.close()


def _retry_run(db: Database, ctx: WaveContext, result: FanoutResult, now: datetime, error: str) -> None:
    """A run that failed as a whole: retried with backoff, or dead-lettered after MAX_RUN_FAILURES in a row."""
    log.warning("restock event %s: run failed: %s", ctx.event_id, error)
    with db.session() as session:
        if db.dialect == "postgresql":
            mark_notified_pg(session, ctx.event_id, None, None)
        before = session.execute(select(StockEvent.run_failures).where(StockEvent.id == ctx.event_id)).scalar_one()
        # A run that got messages through was not stuck on the same fault: the count starts again.
        failures = 1 if result.sent else int(before) + 1
        if failures >= MAX_RUN_FAILURES:
            _finish(session, ctx.event_id, FanoutStatus.FAILED, next_wave_at=None, run_failures=failures,
                    last_error=error[:1000])  # fmt: skip
            result.status = FanoutStatus.FAILED
            log.error("restock event %s dead-lettered after %s failed runs: %s", ctx.event_id, failures, error)
            return
        result.next_wave_at = now + retry_delay(failures)
        _finish(session, ctx.event_id, FanoutStatus.PENDING, next_wave_at=result.next_wave_at, run_failures=failures,
                last_error=error[:1000])  # fmt: skip
        result.status = FanoutStatus.PENDING


def _settle(db: Database, ctx: WaveContext, result: FanoutResult, now: datetime) -> None:
    """After a wave: retry, next wave, or done."""
    with db.session() as session:
        if db.dialect == "postgresql":
            # Every subscriber mailed for this event shows it, including those of a killed run's last chunk.
            mark_notified_pg(session, ctx.event_id, None, None)
        session.execute(
            update(StockEvent)
            .where(StockEvent.id == ctx.event_id)
            .values(run_failures=0)
            .execution_options(synchronize_session=False)
        )
        retryable, exhausted = _has_claimed(session, ctx.event_id)
        if exhausted:
            # Cut off after their final dot MAX_ATTEMPTS times (no reply ever read): the dead letter says so.
            session.execute(
                update(Delivery)
                .where(
                    Delivery.stock_event_id == ctx.event_id,
                    Delivery.status == DeliveryStatus.CLAIMED,
                    Delivery.attempts >= MAX_ATTEMPTS,
                )
                .values(
                    status=DeliveryStatus.FAILED,
                    error=func.substr(
                        literal("gave up after ")
                        + cast(Delivery.attempts, String)
                        + " attempts: "
                        + func.coalesce(Delivery.error, "no reply to the final dot"),
                        1,
                        1000,
                    ),
                )
                .execution_options(synchronize_session=False)
            )
        if retryable:
            last = session.execute(
                select(func.max(Delivery.attempts)).where(
                    Delivery.stock_event_id == ctx.event_id,
                    Delivery.status == DeliveryStatus.CLAIMED,
                    Delivery.attempts < MAX_ATTEMPTS,
                )
            ).scalar_one()
            result.next_wave_at = now + retry_delay(int(last or 1))
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
