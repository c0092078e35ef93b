"""Subscribers in the merchant admin: the per-variant list, the notification log, manual resend and GDPR removal.

Every function takes the signed-in store's id and filters by it, so an id from another store reads as unknown.

**Manual resend** never sends an email itself: it only puts the subscription back where the normal, exactly-once
paths pick it up (a delivery row claimed and committed before the email leaves).

- Waiting for confirmation: the double-opt-in email is asked for again (at most every ten minutes, the same floor
  a repeated signup has), through the confirmation job.
- Active or notified, and the latest restock of its variant left it a ``failed`` or ``skipped`` delivery whose
  reason no longer holds (a failed send, unconfirmed or unpublished then, below the minimum inventory then), or no
  delivery at all: the subscription is re-armed (``active``, skip reason cleared), the stale delivery row is
  deleted (what it said is kept in the event's ``details["resends"]``), and, when that restock is still fanning out
  or the variant is sellable now, the event is reopened (``pending``, due now) and its fan-out job enqueued. The
  fan-out then claims the subscription in a fresh wave, through every gate (stock, minimum inventory, quiet
  hours, bought since), oldest subscription first. With no sellable stock it stays armed for the next restock.
- Refused, nothing changed: already emailed for that restock (or an earlier one), being sent right now, skipped
  because the shopper bought the variant, a reason that still holds, or unsubscribed/converted/removed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session

from app import job_specs
from app.db import as_utc
from app.domain import waitlist as rules
from app.models import (
    ConsentRecord,
    Delivery,
    DeliveryStatus,
    FanoutStatus,
    Product,
    StockEvent,
    Store,
    Subscription,
    SubscriptionState,
    Variant,
)
from app.queue import JobQueue, enqueue_after_commit
from app.services.merchant import compliance
from app.services.notify import fanout

__all__ = [
    "STATES",
    "ConsentView",
    "DeliveryView",
    "EventView",
    "NotificationLog",
    "RemovalPreview",
    "ResendOutcome",
    "SubscriberRow",
    "find_variant",
    "notification_log",
    "redacted_address",
    "removal_preview",
    "remove",
    "resend",
]

STATES = tuple(SubscriptionState)
MAX_SEARCH = 254
_MAX_ID = 2**63 - 1
REDACTED_DOMAIN = "redacted.invalid"
# A skip for these reasons can never be undone by a resend: the shopper bought the variant since signing up.
_FINAL_SKIPS = frozenset({"purchased"})


@dataclass(frozen=True, slots=True)
class ConsentView:
    """One consent record as the admin shows it (the IP only ever as a hash)."""

    kind: str
    text_version: str
    text: str
    given_at: datetime
    has_ip: bool


@dataclass(frozen=True, slots=True)
class SubscriberRow:
    """One subscription in the list, with its variant, latest consent and latest delivery."""

    id: int
    email: str
    state: str
    skip_reason: str | None
    locale: str
    source: str
    created_at: datetime
    confirmed_at: datetime | None
    notified_at: datetime | None
    variant_id: int
    sku: str | None
    variant_title: str
    product_title: str
    consent_version: str | None
    consent_at: datetime | None
    last_status: str | None
    last_reason: str | None


@dataclass(frozen=True, slots=True)
class DeliveryView:
    """One restock email (or the record of why none went) to one subscription."""

    id: int
    subscription_id: int
    stock_event_id: int
    wave: int
    status: str
    skip_reason: str | None
    attempts: int
    error: str | None
    claimed_at: datetime
    sent_at: datetime | None
    clicked_at: datetime | None
    converted_at: datetime | None
    conversion_kind: str | None
    revenue: Decimal | None


@dataclass(frozen=True, slots=True)
class EventView:
    """A restock of a variant and how its fan-out went, with this shopper's subscription explained against it."""

    id: int
    variant_id: int
    occurred_at: datetime
    quantity_before: int
    quantity_after: int
    fanout_status: str | None
    waves_sent: int
    next_wave_at: datetime | None
    resends: int
    # subscription id → why it got (or did not get) an email from this restock
    outcome: dict[int, str]


@dataclass(frozen=True, slots=True)
class NotificationLog:
    """Everything that explains whether one address got restock email in one store."""

    email: str
    subscriptions: list[SubscriberRow]
    consents: dict[int, list[ConsentView]]
    deliveries: dict[int, list[DeliveryView]]
    events: list[EventView]


@dataclass(frozen=True, slots=True)
class ResendOutcome:
    """What a resend did: ``done`` says whether anything changed; ``message`` is for the merchant."""

    code: str  # queued | armed | confirmation_queued | refused_*
    message: str
    done: bool
    event_id: int | None = None


def _aware(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    return as_utc(value)


def redacted_address(subscription_id: int) -> str:
    """The placeholder that replaces a removed shopper's address (unique per row, undeliverable by RFC 6761)."""
    return f"removed-{subscription_id}@{REDACTED_DOMAIN}"


def find_variant(session: Session, store_id: int, variant_id: int) -> tuple[Variant, Product] | None:
    """The store's variant with that id and its product (another store's is None)."""
    if not 0 < variant_id <= _MAX_ID:
        return None
    row = session.execute(
        select(Variant, Product)
        .join(Product, Product.id == Variant.product_id)
        .where(Variant.id == variant_id, Variant.store_id == store_id)
    ).one_or_none()
    return None if row is None else (row[0], row[1])


def _rows(session: Session, subs: Sequence[tuple[Subscription, str | None, str, str]]) -> list[SubscriberRow]:
    ids = [s.id for s, *_ in subs]
    consents: dict[int, tuple[str, datetime]] = {}
    lasts: dict[int, tuple[str, str | None]] = {}
    if ids:
        for sid, version, given in session.execute(
            select(ConsentRecord.subscription_id, ConsentRecord.text_version, ConsentRecord.given_at)
            .where(ConsentRecord.subscription_id.in_(ids), ConsentRecord.kind == "signup")
            .order_by(ConsentRecord.subscription_id, ConsentRecord.id)
        ):
            consents[int(sid)] = (version, given)  # the last signup consent wins
        for sid, status, reason in session.execute(
            select(Delivery.subscription_id, Delivery.status, Delivery.skip_reason)
            .where(Delivery.subscription_id.in_(ids))
            .order_by(Delivery.subscription_id, Delivery.stock_event_id, Delivery.id)
        ):
            lasts[int(sid)] = (status, reason)
    out = []
    for sub, sku, v_title, p_title in subs:
        consent = consents.get(sub.id)
        last = lasts.get(sub.id)
        out.append(
            SubscriberRow(
                id=sub.id,
                email=sub.email,
                state=sub.state,
                skip_reason=sub.skip_reason,
                locale=sub.locale,
                source=sub.source,
                created_at=sub.created_at,
                confirmed_at=sub.confirmed_at,
                notified_at=sub.notified_at,
                variant_id=sub.variant_id,
                sku=sku,
                variant_title=v_title,
                product_title=p_title,
                consent_version=consent[0] if consent else None,
                consent_at=consent[1] if consent else None,
                last_status=last[0] if last else None,
                last_reason=last[1] if last else None,
            )
        )
    return out


def _select_subs() -> Any:
    return (
        select(Subscription, Variant.sku, Variant.title, Product.title)
        .join(Variant, Variant.id == Subscription.variant_id)
        .join(Product, Product.id == Variant.product_id)
    )


def _explain(sub: SubscriberRow, ev: StockEvent, delivery: DeliveryView | None) -> str:
    """Why this subscription got, or did not get, an email from this restock."""
    if delivery is not None:
        if delivery.status == DeliveryStatus.SENT:
            return f"emailed in wave {delivery.wave}"
        if delivery.status == DeliveryStatus.SKIPPED:
            return f"skipped: {delivery.skip_reason or 'no reason recorded'}"
        if delivery.status == DeliveryStatus.FAILED:
            return f"failed: {delivery.error or 'refused by the mail server'}"
        return f"{delivery.status} (wave {delivery.wave}, {delivery.attempts} attempts)"
    created, occurred = _aware(sub.created_at), _aware(ev.occurred_at)
    if sub.state == SubscriptionState.REDACTED:
        return "removed on request"
    fanning = ev.fanout_status in (FanoutStatus.PENDING, FanoutStatus.RUNNING)
    if created is not None and occurred is not None and created > occurred and not fanning:
        return "signed up after this restock had finished"
    if sub.state == SubscriptionState.NOTIFIED:
        return "already emailed for an earlier restock"
    if fanning:
        if sub.skip_reason == "quiet_hours":
            return "waiting: deferred past the store's quiet hours"
        return "waiting for a later wave"
    if ev.fanout_status == FanoutStatus.STOPPED:
        return "not reached: sold out again before its wave"
    if sub.state in (SubscriptionState.CONVERTED, SubscriptionState.UNSUBSCRIBED):
        return f"not emailed: {sub.state}"
    return "not reached by this restock"


def notification_log(session: Session, store_id: int, email: str, *, events_per_variant: int = 20) -> NotificationLog:
    """Every subscription of an address, every delivery, and every restock of those variants, explained."""
    address = email.strip().lower()
    subs = session.execute(
        _select_subs()
        .where(Subscription.store_id == store_id, Subscription.email == address)
        .order_by(Subscription.created_at, Subscription.id)
    ).all()
    rows = _rows(session, [(s, sku, vt, pt) for s, sku, vt, pt in subs])
    ids = [r.id for r in rows]
    consents: dict[int, list[ConsentView]] = {i: [] for i in ids}
    deliveries: dict[int, list[DeliveryView]] = {i: [] for i in ids}
    events: list[EventView] = []
    if not ids:
        return NotificationLog(address, rows, consents, deliveries, events)
    for c in session.scalars(
        select(ConsentRecord).where(ConsentRecord.subscription_id.in_(ids)).order_by(ConsentRecord.id)
    ):
        consents[c.subscription_id].append(
            ConsentView(c.kind, c.text_version, c.text, c.given_at, has_ip=c.ip_hash is not None)
        )
    by_pair: dict[tuple[int, int], DeliveryView] = {}
    for d in session.scalars(select(Delivery).where(Delivery.subscription_id.in_(ids)).order_by(Delivery.id)):
        view = DeliveryView(
            id=d.id,
            subscription_id=d.subscription_id,
            stock_event_id=d.stock_event_id,
            wave=d.wave,
            status=d.status,
            skip_reason=d.skip_reason,
            attempts=d.attempts,
            error=d.error,
            claimed_at=d.claimed_at,
            sent_at=d.sent_at,
            clicked_at=d.clicked_at,
            converted_at=d.converted_at,
            conversion_kind=d.conversion_kind,
            revenue=d.revenue,
        )
        deliveries[d.subscription_id].append(view)
        by_pair[(d.subscription_id, d.stock_event_id)] = view
    variant_ids = sorted({r.variant_id for r in rows})
    ranked = (
        select(
            StockEvent.id,
            func.row_number()
            .over(partition_by=StockEvent.variant_id, order_by=(StockEvent.occurred_at.desc(), StockEvent.id.desc()))
            .label("n"),
        )
        .where(StockEvent.store_id == store_id, StockEvent.kind == "restock", StockEvent.variant_id.in_(variant_ids))
        .subquery()
    )
    evs = session.scalars(
        select(StockEvent)
        .join(ranked, ranked.c.id == StockEvent.id)
        .where(ranked.c.n <= events_per_variant)
        .order_by(StockEvent.occurred_at.desc(), StockEvent.id.desc())
    ).all()
    for ev in evs:
        outcome = {r.id: _explain(r, ev, by_pair.get((r.id, ev.id))) for r in rows if r.variant_id == ev.variant_id}
        resends = ev.details.get("resends") if isinstance(ev.details, dict) else None
        events.append(
            EventView(
                id=ev.id,
                variant_id=ev.variant_id,
                occurred_at=ev.occurred_at,
                quantity_before=ev.quantity_before,
                quantity_after=ev.quantity_after,
                fanout_status=ev.fanout_status,
                waves_sent=ev.waves_sent,
                next_wave_at=ev.next_wave_at,
                resends=len(resends) if isinstance(resends, list) else 0,
                outcome=outcome,
            )
        )
    return NotificationLog(address, rows, consents, deliveries, events)


def _subscription(session: Session, store_id: int, subscription_id: int, *, lock: bool = False) -> Subscription | None:
    if not 0 < subscription_id <= _MAX_ID:
        return None
    q = select(Subscription).where(Subscription.id == subscription_id, Subscription.store_id == store_id)
    if lock:
        q = q.with_for_update()
    return session.scalars(q).first()


def _refused(code: str, message: str) -> ResendOutcome:
    return ResendOutcome(code=f"refused_{code}", message=message, done=False)


def _min_inventory(session: Session, store_id: int, variant: Variant) -> int:
    # The same layered settings the fan-out gates on, so "can send now" here means what it means there.
    return fanout.settings_for(session, store_id, variant.product_id, variant.id).min_inventory


def _fmt(moment: datetime | None) -> str:
    aware = _aware(moment)
    return aware.strftime("%Y-%m-%d %H:%M UTC") if aware is not None else "an earlier restock"


def resend(
    session: Session, jobs: JobQueue, store_id: int, subscription_id: int, *, now: datetime | None = None
) -> ResendOutcome | None:
    """Re-arm one subscription for the normal send paths (see the module docstring); None when it is not the store's.

    The caller commits; the job is enqueued after the commit.
    """
    moment = now or datetime.now(UTC)
    sub = _subscription(session, store_id, subscription_id, lock=True)
    if sub is None:
        return None
    if sub.state in (SubscriptionState.REDACTED, SubscriptionState.UNSUBSCRIBED, SubscriptionState.CONVERTED):
        reasons = {
            SubscriptionState.REDACTED: "This subscription was removed; nothing can be sent to it.",
            SubscriptionState.UNSUBSCRIBED: "This shopper unsubscribed; they get no email until they sign up again.",
            SubscriptionState.CONVERTED: "This shopper already bought the item after the restock email.",
        }
        return _refused(sub.state, reasons[SubscriptionState(sub.state)])
    if sub.state == SubscriptionState.PENDING_CONFIRMATION:
        last = _aware(sub.confirm_sent_at) or _aware(sub.updated_at) or moment
        if moment - last < timedelta(seconds=rules.CONFIRM_RESEND_AFTER_SECONDS):
            return _refused("too_soon", "A confirmation email went out less than ten minutes ago; try again later.")
        # The job sends only while confirm_sent_at is empty; clearing it (and the old link) asks for a new one.
        sub.confirm_sent_at = None
        sub.confirm_token_hash = None
        sub.confirm_expires_at = None
        sub.updated_at = moment
        enqueue_after_commit(session, jobs, job_specs.send_confirmation(sub.id))
        return ResendOutcome("confirmation_queued", "The confirmation email will be sent again.", done=True)

    found = find_variant(session, store_id, sub.variant_id)
    if found is None:
        return None
    variant, product = found
    event = session.scalars(
        select(StockEvent)
        .where(StockEvent.variant_id == variant.id, StockEvent.kind == "restock")
        .order_by(StockEvent.occurred_at.desc(), StockEvent.id.desc())
        .limit(1)
        .with_for_update()
    ).first()
    delivery = None
    if event is not None:
        delivery = session.scalars(
            select(Delivery).where(Delivery.subscription_id == sub.id, Delivery.stock_event_id == event.id)
        ).first()
    if delivery is not None and delivery.status == DeliveryStatus.SENT:
        return _refused("already_sent", f"Already emailed for this restock on {_fmt(delivery.sent_at)}.")
    if delivery is not None and delivery.status == DeliveryStatus.CLAIMED:
        return _refused("sending", "This restock email is being sent right now.")
    if delivery is None and sub.state == SubscriptionState.NOTIFIED:
        return _refused("already_sent", f"Already emailed on {_fmt(sub.notified_at)}; a signup gets one email.")
    live = bool(variant.published and product.published and variant.deleted_at is None and product.deleted_at is None)
    min_inventory = _min_inventory(session, store_id, variant)
    sellable = int(variant.sellable_quantity)
    if delivery is not None and delivery.status != DeliveryStatus.FAILED:
        reason = delivery.skip_reason or ""
        holds = (
            reason in _FINAL_SKIPS
            or (reason == "product_unpublished" and not live)
            or (reason == "below_min_inventory" and sellable < min_inventory)
        )
        if holds:
            return _refused("reason_holds", f"Skipped because {reason.replace('_', ' ')}, which still holds.")

    sub.state = SubscriptionState.ACTIVE
    sub.skip_reason = None
    sub.updated_at = moment
    fanning = event is not None and event.fanout_status in (FanoutStatus.PENDING, FanoutStatus.RUNNING)
    can_send = live and sellable > 0 and sellable >= min_inventory
    if event is None or not (fanning or can_send):
        return ResendOutcome(
            "armed", "Waiting again: this shopper will be emailed when the item is next restocked.", done=True
        )
    if delivery is not None:
        # The unique (subscription, event) row would keep the fan-out from claiming it again; its story stays on
        # the event, so the log still shows what happened before the resend.
        details = dict(event.details or {})
        history = list(details.get("resends") or [])
        history.append(
            {
                "subscription_id": sub.id,
                "status": delivery.status,
                "skip_reason": delivery.skip_reason,
                "wave": delivery.wave,
                "at": moment.isoformat(),
            }
        )
        details["resends"] = history
        event.details = details
        session.execute(delete(Delivery).where(Delivery.id == delivery.id))
    if event.fanout_status in (FanoutStatus.DONE, FanoutStatus.STOPPED, None):
        event.fanout_status = FanoutStatus.PENDING
        event.next_wave_at = moment
        event.lease_until = None
    session.flush()
    enqueue_after_commit(session, jobs, job_specs.fanout_event(event.id, suffix=f"resend-{sub.id}"))
    return ResendOutcome(
        "queued", "Queued: the restock fan-out will email this shopper in its next wave.", done=True, event_id=event.id
    )


@dataclass(frozen=True, slots=True)
class RemovalPreview:
    """What removing one subscription would erase and keep, for the confirm step."""

    email: str
    variant: str  # SKU and product, as the merchant knows them
    deliveries: int  # restock emails logged for it: they stay, without the address
    other_signups: int  # the same address's other live subscriptions in the store: not touched
    removed: bool = False  # erased already: nothing left to confirm


def removal_preview(session: Session, store_id: int, subscription_id: int) -> RemovalPreview | None:
    """What ``remove`` would do to this subscription (None when it is not the store's)."""
    sub = _subscription(session, store_id, subscription_id)
    if sub is None:
        return None
    if sub.state == SubscriptionState.REDACTED:
        return RemovalPreview("", "", 0, 0, removed=True)
    variant = session.get(Variant, sub.variant_id)
    product = session.get(Product, variant.product_id) if variant is not None else None
    sku = (variant.sku if variant is not None else "") or f"variant {sub.variant_id}"
    deliveries = session.scalar(select(func.count()).where(Delivery.subscription_id == sub.id)) or 0
    others = session.scalar(
        select(func.count()).where(
            Subscription.store_id == store_id,
            func.lower(Subscription.email) == sub.email.lower(),
            Subscription.id != sub.id,
            Subscription.state != SubscriptionState.REDACTED,
        )
    )
    label = f"{sku} ({product.title})" if product is not None and product.title else sku
    return RemovalPreview(sub.email, label, int(deliveries), int(others or 0))


def remove(session: Session, store: Store, subscription_id: int, *, now: datetime | None = None) -> bool | None:
    """GDPR removal of one subscription: the address and consent IP hash are erased, nothing is sent to it again.

    The row stays as ``redacted`` (with its deliveries, which hold no personal data) so the store's counts and
    attribution figures do not change; an audit row keeps only the address's hash, as for Shopify's
    customers/redact. Returns None when the subscription is not the store's, False when it was removed already.
    """
    moment = now or datetime.now(UTC)
    sub = _subscription(session, store.id, subscription_id, lock=True)
    if sub is None:
        return None
    if sub.state == SubscriptionState.REDACTED:
        return False
    email = sub.email
    sub.email = redacted_address(sub.id)
    sub.state = SubscriptionState.REDACTED
    sub.skip_reason = "removed"
    sub.customer_external_id = None
    sub.storefront_root = None
    sub.confirm_token_hash = None
    sub.confirm_expires_at = None
    sub.updated_at = moment
    session.execute(
        update(ConsentRecord)
        .where(ConsentRecord.subscription_id == sub.id)
        .values(ip_hash=None, user_agent=None)
        .execution_options(synchronize_session=False)
    )
    # A claimed-but-unsent email would otherwise go to the placeholder; SMTP errors may quote the address.
    session.execute(
        update(Delivery)
        .where(Delivery.subscription_id == sub.id, Delivery.status == DeliveryStatus.CLAIMED)
        .values(status=DeliveryStatus.SKIPPED, skip_reason="removed")
        .execution_options(synchronize_session=False)
    )
    session.execute(
        update(Delivery)
        .where(Delivery.subscription_id == sub.id, Delivery.error.is_not(None))
        .values(error=None)
        .execution_options(synchronize_session=False)
    )
    compliance.record_request(
        session,
        store_id=store.id,
        platform=store.platform,
        shop_domain=store.domain,
        kind="admin/remove",
        external_id=f"subscription-{sub.id}",
        email=email,
        counts={"subscriptions": 1},
    )
    return True
