"""Merchant alerts: a daily digest email of what changed in the store's stock since the last digest.

The digest lists variants that became sold out or at risk (low stock), whose marketing signal changed, and whose
open waitlist passed the store's ``high_demand_waitlist`` threshold. Stock changes are derived from
``stock_state_history``: the day of the last digest (or yesterday, for the first one) against today, both as
store-local days; a variant needs a history row on both days to be compared, so a store's first day reports no
stock changes rather than its whole catalogue. Waitlist crossings compare the open waitlist now with the same
waitlist minus the signups made since that day ended.

Exactly once a day per store: ``stores.last_digest_on`` is claimed with a conditional UPDATE (only the run that moves
it from the previous value to today proceeds) and committed *before* the email is sent; if sending fails (an error, or
a server that does not answer 2xx to the message) the claim is given back so the next run retries. A day with nothing
to report claims the day and sends nothing. Every email tried is recorded in ``alert_log`` (sent or failed, and why),
which the admin's Alerts page lists. The merchant can turn the digest off (store setting ``daily_digest`` false).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from typing import Any

from sqlalchemy import BigInteger, String, and_, false, func, literal, or_, select, union_all, update
from sqlalchemy.orm import Session, aliased
from sqlalchemy.sql import Subquery

from app.config import Settings
from app.db import Database, as_utc
from app.domain.settings import resolve_settings
from app.domain.stock import Signal, Status
from app.infra.mail import Mailer
from app.models import (
    AlertKind,
    AlertLog,
    Product,
    StockEvent,
    StockState,
    StockStateHistory,
    Store,
    StoreSetting,
    StoreStatus,
    Subscription,
    Variant,
)
from app.services.merchant.dashboard import day_bounds
from app.services.notify import outbound_webhooks
from app.services.notify.emails import MESSAGE_POLICY, TEMPLATES, mail_domain, sender_address
from app.services.stock import recompute as stock
from app.services.stock.inputs import OPEN_WAITLIST_STATES
from app.services.stock.recompute import FOUND_SOLD_OUT, store_today, store_zone

log = logging.getLogger(__name__)

__all__ = [
    "DIGEST_HOUR",
    "DIGEST_SETTING",
    "INSTANT_SETTING",
    "INSTANT_SPACING",
    "Digest",
    "DigestItem",
    "InstantAlert",
    "build_digest",
    "build_instant_alert",
    "digest_message",
    "digest_on",
    "due_store_ids",
    "instant_alert_message",
    "instant_alerts_on",
    "instant_due_store_ids",
    "send_digest",
    "send_instant_alert",
]

# Local hour from which the day's digest goes out: the merchant reads it with the morning coffee, and the night's
# recomputes have written today's history rows by then.
DIGEST_HOUR = 7
# The store-scope setting that turns the daily digest off (on unless it is stored as false).
DIGEST_SETTING = "daily_digest"
# The instant alert: the store-scope setting that turns it on, the least time between two of its emails (what happens
# in between is batched into the next), and how far back a store's very first one looks.
INSTANT_SETTING = "instant_alerts"
INSTANT_SPACING = timedelta(minutes=15)
INSTANT_FIRST_LOOKBACK = timedelta(hours=1)


@dataclass(frozen=True, slots=True)
class DigestItem:
    """One variant line of the digest."""

    variant_id: int
    sku: str
    product_title: str
    variant_title: str
    detail: str

    @property
    def name(self) -> str:
        """Product and variant title as a merchant reads them."""
        if self.variant_title and self.variant_title.lower() not in ("default title", "default"):
            return f"{self.product_title} – {self.variant_title}"
        return self.product_title


@dataclass(frozen=True, slots=True)
class Digest:
    """Everything one digest shows."""

    store_name: str
    since: date
    today: date
    sold_out: list[DigestItem] = field(default_factory=list)
    at_risk: list[DigestItem] = field(default_factory=list)
    signal_changed: list[DigestItem] = field(default_factory=list)
    high_demand: list[DigestItem] = field(default_factory=list)

    @property
    def count(self) -> int:
        """How many lines the digest has."""
        return len(self.sold_out) + len(self.at_risk) + len(self.signal_changed) + len(self.high_demand)


def _threshold(session: Session, store_id: int) -> int:
    return resolve_settings(stock.store_values(session, store_id), None, None).high_demand_waitlist


def _waitlist_crossings(
    session: Session, store_id: int, since: datetime, until: datetime | None = None
) -> list[DigestItem]:
    """Open waitlists at or over the threshold now that were under it at ``since`` (signups after it not counted)."""
    threshold = _threshold(session, store_id)
    new = func.count().filter(Subscription.created_at >= since)
    where = [
        Subscription.store_id == store_id,
        Variant.store_id == store_id,
        Subscription.state.in_(OPEN_WAITLIST_STATES),
        Variant.deleted_at.is_(None),
    ]
    if until is not None:
        # Signups after ``until`` belong to the next alert's window, not this one.
        where.append(Subscription.created_at < until)
    waiting = session.execute(
        select(Variant.id, Variant.sku, Product.title, Variant.title, func.count(), new)
        .join(Variant, Variant.id == Subscription.variant_id)
        .join(Product, Product.id == Variant.product_id)
        .where(*where)
        .group_by(Variant.id, Variant.sku, Product.title, Variant.title)
        .having(func.count() >= threshold, func.count() - new < threshold)
        .order_by(func.count().desc(), Variant.id)
    ).all()
    return [
        DigestItem(vid, sku, p_title, v_title, f"{total} waiting") for vid, sku, p_title, v_title, total, _ in waiting
    ]


def build_digest(session: Session, store: Store, since: date, today: date) -> Digest:
    """What changed between the store-local days ``since`` and ``today``."""
    digest = Digest(store.name or store.domain, since, today)
    before = aliased(StockStateHistory)
    after = aliased(StockStateHistory)
    rows = session.execute(
        select(
            Variant.id,
            Variant.sku,
            Product.title,
            Variant.title,
            before.status,
            after.status,
            before.signal,
            after.signal,
            after.sellable_quantity,
            after.days_on_hand,
        )
        .join(Product, Product.id == Variant.product_id)
        .join(after, and_(after.variant_id == Variant.id, after.day == today, after.store_id == store.id))
        .join(before, and_(before.variant_id == Variant.id, before.day == since, before.store_id == store.id))
        .where(Variant.store_id == store.id, Variant.deleted_at.is_(None), Product.deleted_at.is_(None))
        .order_by(Product.title, Variant.title, Variant.id)
    ).all()
    for vid, sku, p_title, v_title, status_was, status_now, signal_was, signal_now, qty, doh in rows:
        if status_now == Status.OUT_OF_STOCK and status_was != Status.OUT_OF_STOCK:
            digest.sold_out.append(DigestItem(vid, sku, p_title, v_title, "sold out"))
        elif status_now == Status.LOW_STOCK and status_was not in (Status.LOW_STOCK, Status.OUT_OF_STOCK):
            days = f", {doh:.0f} days on hand" if doh is not None else ""
            digest.at_risk.append(DigestItem(vid, sku, p_title, v_title, f"{qty} left{days}"))
        if signal_now != signal_was:
            digest.signal_changed.append(DigestItem(vid, sku, p_title, v_title, f"{signal_was} → {signal_now}"))

    since_end = day_bounds(store, since, 1)[0][2]
    digest.high_demand.extend(_waitlist_crossings(session, store.id, since_end))
    return digest


def digest_message(settings: Settings, store: Store, to: str, digest: Digest) -> EmailMessage:
    """The digest as a multipart EmailMessage (text and HTML from templates)."""
    values = {"digest": digest, "admin_url": settings.app_url.rstrip("/") + "/admin/"}
    msg = EmailMessage(policy=MESSAGE_POLICY)
    user, _, domain = sender_address(settings.mail_from).partition("@")
    msg["From"] = Address(display_name="BackSoon", username=user, domain=domain)
    msg["To"] = to
    plural = "s" if digest.count != 1 else ""
    msg["Subject"] = f"{digest.store_name}: {digest.count} stock alert{plural} for {digest.today.isoformat()}"
    msg["Date"] = format_datetime(datetime.now(UTC))
    msg["Message-ID"] = make_msgid(
        f"digest-{store.id}-{digest.today.isoformat()}", domain=mail_domain(settings.mail_from)
    )
    msg["Auto-Submitted"] = "auto-generated"
    text = TEMPLATES.get_template("digest.txt").render(values)
    html = TEMPLATES.get_template("digest.html").render(values)
    msg.set_content(text, subtype="plain", cte="8bit")
    msg.add_alternative(html, subtype="html", cte="8bit")
    return msg


class AlertRefused(RuntimeError):
    """The SMTP server answered the alert email with something other than 2xx: it was not sent."""


def _send_alert(db: Database, settings: Settings, store_id: int, kind: str, msg: EmailMessage, lines: int) -> None:
    """Send a merchant alert and record the attempt; raises (after recording a failure) unless the server took it."""
    recipient, subject = str(msg["To"]), str(msg["Subject"])
    try:
        if not settings.smtp_url:
            raise RuntimeError(f"SMTP_URL is not set: the {kind} alert cannot be sent")
        with Mailer(settings.smtp_url) as mailer:
            result = mailer.send(msg)
        if not result.accepted:
            raise AlertRefused(f"the SMTP server answered {result.code} {result.reply}".strip())
    except Exception as exc:
        _record(db, store_id, kind, "failed", recipient, subject, lines, f"{type(exc).__name__}: {exc}")
        raise
    _record(db, store_id, kind, "sent", recipient, subject, lines, None)


def _record(
    db: Database, store_id: int, kind: str, status: str, recipient: str, subject: str, lines: int, error: str | None
) -> None:
    with db.session() as session:
        session.add(
            AlertLog(
                store_id=store_id,
                kind=kind,
                status=status,
                recipient=recipient[:320],
                subject=subject[:500],
                lines=lines,
                error=error[:1000] if error else None,
                created_at=datetime.now(UTC),
            )
        )


def digest_on(session: Session, store_id: int) -> bool:
    """Whether the store gets the daily digest (on unless the merchant turned it off)."""
    return stock.store_values(session, store_id).get(DIGEST_SETTING) is not False


def _claim(db: Database, store_id: int, today: date) -> tuple[Store, date | None] | None:
    with db.session() as session:
        store = session.get(Store, store_id)
        if store is None or not store.admin_email or store.status in (StoreStatus.UNINSTALLED, StoreStatus.PENDING):
            return None
        previous = store.last_digest_on
        if previous is not None and previous >= today:
            return None
        same = Store.last_digest_on.is_(None) if previous is None else Store.last_digest_on == previous
        claimed = session.execute(update(Store).where(Store.id == store_id, same).values(last_digest_on=today)).rowcount  # type: ignore[attr-defined]
        if claimed != 1:
            return None  # another run claimed today first
        session.expunge(store)
        return store, previous


def _release(db: Database, store_id: int, today: date, previous: date | None) -> None:
    with db.session() as session:
        session.execute(
            update(Store).where(Store.id == store_id, Store.last_digest_on == today).values(last_digest_on=previous)
        )


def send_digest(db: Database, settings: Settings, store_id: int, now: datetime | None = None) -> str:
    """Send today's digest once: 'sent', 'empty' (nothing to report), 'off', or 'skipped' (claimed, no address)."""
    when = now or datetime.now(UTC)
    with db.session() as session:
        store = session.get(Store, store_id)
        if store is None:
            return "skipped"
        if not digest_on(session, store_id):
            return "off"
        today = store_today(store, when)
    claimed = _claim(db, store_id, today)
    if claimed is None:
        return "skipped"
    store, previous = claimed
    since = previous if previous is not None else today - timedelta(days=1)
    try:
        with db.session() as session:
            digest = build_digest(session, store, since, today)
        if digest.count == 0:
            return "empty"
        msg = digest_message(settings, store, str(store.admin_email), digest)
        _send_alert(db, settings, store_id, AlertKind.DIGEST, msg, digest.count)
    except Exception:
        _release(db, store_id, today, previous)
        raise
    log.info("digest sent", extra={"store_id": store_id, "lines": digest.count})
    return "sent"


def due_store_ids(session: Session, now: datetime | None = None) -> list[int]:
    """Stores with an admin email and the digest on whose local day has one due (past DIGEST_HOUR, not yet claimed)."""
    when = now or datetime.now(UTC)
    rows = session.execute(
        select(Store, StoreSetting.values)
        .outerjoin(StoreSetting, and_(StoreSetting.store_id == Store.id, StoreSetting.scope == "store"))
        .where(Store.admin_email.is_not(None), Store.status == StoreStatus.ACTIVE)
        .order_by(Store.id)
    ).all()
    due: list[int] = []
    for store, values in rows:
        if values and values.get(DIGEST_SETTING) is False:
            continue  # the merchant turned the digest off
        today = store_today(store, when)
        local_hour = day_bounds(store, today, 1)[0][1]
        if when < local_hour + timedelta(hours=DIGEST_HOUR):
            continue
        if store.last_digest_on is None or store.last_digest_on < today:
            due.append(store.id)
    return due


# --- The optional instant alert -------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class InstantAlert:
    """What happened since the last instant alert, and the cursor to store once it is sent."""

    store_name: str
    at: datetime
    cursor: dict[str, Any]
    sold_out: list[DigestItem] = field(default_factory=list)
    signal_changed: list[DigestItem] = field(default_factory=list)
    high_demand: list[DigestItem] = field(default_factory=list)

    @property
    def count(self) -> int:
        """How many lines the alert has."""
        return len(self.sold_out) + len(self.signal_changed) + len(self.high_demand)


def instant_alerts_on(session: Session, store_id: int) -> bool:
    """Whether the store turned the instant alert on (store-wide setting ``instant_alerts``, off by default)."""
    return stock.store_values(session, store_id).get(INSTANT_SETTING) is True


def _told(signals: dict[str, str]) -> Subquery:
    # What the previous instant alerts told, as a (variant_id, signal) table for the webhook's comparison query.
    rows = [
        select(literal(int(vid), BigInteger).label("variant_id"), literal(sig, String).label("signal"))
        for vid, sig in sorted(signals.items(), key=lambda kv: int(kv[0]))
    ]
    if not rows:
        return (
            select(literal(0, BigInteger).label("variant_id"), literal(Signal.OK, String).label("signal"))
            .where(false())
            .subquery("told")
        )
    if len(rows) == 1:
        return rows[0].subquery("told")
    return union_all(*rows).subquery("told")


def _sorted(items: list[DigestItem]) -> list[DigestItem]:
    return sorted(items, key=lambda i: (i.product_title, i.variant_title, i.variant_id))


def build_instant_alert(session: Session, store: Store, now: datetime) -> InstantAlert:
    """Sell-outs, signal changes and waitlist crossings since the store's last instant alert (or the last hour)."""
    cursor = store.instant_alert_cursor or {}
    first = store.instant_alert_at is None
    since = now - INSTANT_FIRST_LOOKBACK if store.instant_alert_at is None else as_utc(store.instant_alert_at)
    # The highest event id is read first: events written while this runs are left for the next alert.
    top = session.scalar(select(func.max(StockEvent.id)).where(StockEvent.store_id == store.id)) or 0
    after = int(cursor.get("event_id") or 0)
    q = (
        select(Variant.id, Variant.sku, Product.title, Variant.title)
        .select_from(StockEvent)
        .join(Variant, Variant.id == StockEvent.variant_id)
        .join(Product, Product.id == Variant.product_id)
        .where(
            StockEvent.store_id == store.id,
            Variant.store_id == store.id,
            StockEvent.kind == "sellout",
            # A span recorded for a variant found sold out at connect is history, not a sell-out to alert about.
            StockEvent.source != FOUND_SOLD_OUT,
            StockEvent.id > after,
            StockEvent.id <= top,
            Variant.deleted_at.is_(None),
        )
        .distinct()
    )
    if first:
        q = q.where(StockEvent.occurred_at >= since)
    sold = [DigestItem(vid, sku, p_title, v_title, "sold out") for vid, sku, p_title, v_title in session.execute(q)]

    told: dict[str, str] = {str(k): str(v) for k, v in (cursor.get("signals") or {}).items()}
    changes = outbound_webhooks.signal_changes(session, store.id, _told(told))
    signals = dict(told)
    changed: list[DigestItem] = []
    for c in changes:
        if c.signal == Signal.OK:
            signals.pop(str(c.variant_id), None)
        else:
            signals[str(c.variant_id)] = c.signal
        # A store's first alert has no memory of what it told: only changes of the last hour count as news.
        if not first or as_utc(c.changed_at) >= since:
            item = DigestItem(c.variant_id, c.sku, c.product_title, c.variant_title, f"{c.previous} → {c.signal}")
            changed.append(item)

    crossings = _waitlist_crossings(session, store.id, since, now)
    return InstantAlert(
        store.name or store.domain,
        now,
        {"event_id": max(top, after), "signals": signals},
        _sorted(sold),
        _sorted(changed),
        crossings,
    )


def _local_time(at: datetime, store: Store) -> str:
    local = as_utc(at).astimezone(store_zone(store))
    return f"{local:%Y-%m-%d %H:%M} {local.tzname() or store_zone(store).key}"


def instant_alert_message(settings: Settings, store: Store, to: str, alert: InstantAlert) -> EmailMessage:
    """The instant alert as a multipart EmailMessage (text and HTML from templates)."""
    base = settings.app_url.rstrip("/")
    values = {
        "alert": alert,
        # In the merchant's own time, as the dashboard shows it.
        "at": _local_time(alert.at, store),
        "admin_url": base + "/admin/",
        "settings_url": base + "/admin/settings",
    }
    msg = EmailMessage(policy=MESSAGE_POLICY)
    user, _, domain = sender_address(settings.mail_from).partition("@")
    msg["From"] = Address(display_name="BackSoon", username=user, domain=domain)
    msg["To"] = to
    plural = "s" if alert.count != 1 else ""
    msg["Subject"] = f"{alert.store_name}: {alert.count} new stock alert{plural}"
    msg["Date"] = format_datetime(alert.at)
    msg["Message-ID"] = make_msgid(
        f"instant-{store.id}-{int(alert.at.timestamp())}", domain=mail_domain(settings.mail_from)
    )
    msg["Auto-Submitted"] = "auto-generated"
    msg.set_content(TEMPLATES.get_template("instant_alert.txt").render(values), subtype="plain", cte="8bit")
    msg.add_alternative(TEMPLATES.get_template("instant_alert.html").render(values), subtype="html", cte="8bit")
    return msg


def _claim_instant(db: Database, store_id: int, previous: datetime | None, alert: InstantAlert) -> bool:
    with db.session() as session:
        same = Store.instant_alert_at.is_(None) if previous is None else Store.instant_alert_at == previous
        claimed = session.execute(
            update(Store)
            .where(Store.id == store_id, same)
            .values(instant_alert_at=alert.at, instant_alert_cursor=alert.cursor)
        ).rowcount  # type: ignore[attr-defined]
        return bool(claimed == 1)


def _release_instant(
    db: Database, store_id: int, at: datetime, previous: datetime | None, cursor: dict[str, Any] | None
) -> None:
    with db.session() as session:
        session.execute(
            update(Store)
            .where(Store.id == store_id, Store.instant_alert_at == at)
            .values(instant_alert_at=previous, instant_alert_cursor=cursor)
        )


def send_instant_alert(db: Database, settings: Settings, store_id: int, now: datetime | None = None) -> str:
    """Email what just happened, at most every 15 minutes: 'sent', 'empty', 'waiting', 'off' or 'skipped'."""
    when = now or datetime.now(UTC)
    with db.session() as session:
        store = session.get(Store, store_id)
        if store is None or not store.admin_email or store.status != StoreStatus.ACTIVE:
            return "skipped"
        if not instant_alerts_on(session, store_id):
            return "off"
        previous, cursor = store.instant_alert_at, store.instant_alert_cursor
        if previous is not None and when < as_utc(previous) + INSTANT_SPACING:
            return "waiting"  # the periodic sweep sends the batch once the spacing has passed
        alert = build_instant_alert(session, store, when)
        session.expunge(store)
    if alert.count == 0:
        return "empty"  # nothing claimed: the next run looks at the same window again
    if not settings.smtp_url:
        raise RuntimeError("SMTP_URL is not set: the instant alert cannot be sent")
    # Claimed and committed before sending: of two concurrent runs only one moves the cursor, and sends.
    if not _claim_instant(db, store_id, previous, alert):
        return "skipped"
    try:
        msg = instant_alert_message(settings, store, str(store.admin_email), alert)
        _send_alert(db, settings, store_id, AlertKind.INSTANT, msg, alert.count)
    except Exception:
        _release_instant(db, store_id, alert.at, previous, cursor)
        raise
    log.info("instant alert sent", extra={"store_id": store_id, "lines": alert.count})
    return "sent"


def instant_due_store_ids(session: Session, now: datetime | None = None) -> list[int]:
    """Stores with the instant alert on, past the spacing, whose stock states changed since their last alert."""
    when = now or datetime.now(UTC)
    # Every sell-out, signal change and waitlist signup rewrites the variant's state, so a state changed since the
    # last alert is the cheap sign that a batch may be waiting (whether it holds news is for the job to find out).
    since = func.coalesce(Store.instant_alert_at, when - INSTANT_FIRST_LOOKBACK)
    changed = (
        select(StockState.variant_id).where(StockState.store_id == Store.id, StockState.changed_at > since).exists()
    )
    rows = session.execute(
        select(Store.id, StoreSetting.values)
        .join(StoreSetting, and_(StoreSetting.store_id == Store.id, StoreSetting.scope == "store"))
        .where(
            Store.admin_email.is_not(None),
            Store.status == StoreStatus.ACTIVE,
            or_(Store.instant_alert_at.is_(None), Store.instant_alert_at <= when - INSTANT_SPACING),
            changed,
        )
        .order_by(Store.id)
    ).all()
    # The JSON flag is checked here rather than in SQL: the same code on PostgreSQL and SQLite.
    return [int(sid) for sid, values in rows if values and values.get(INSTANT_SETTING) is True]


def instant_alert_store_ids(session: Session, store_ids: Sequence[int]) -> set[int]:
    """Those of these stores an instant alert job could send for: active, with an admin email, the alert on."""
    if not store_ids:
        return set()
    rows = session.execute(
        select(Store.id, StoreSetting.values)
        .join(StoreSetting, and_(StoreSetting.store_id == Store.id, StoreSetting.scope == "store"))
        .where(Store.id.in_(store_ids), Store.admin_email.is_not(None), Store.status == StoreStatus.ACTIVE)
    ).all()
    return {int(sid) for sid, values in rows if values and values.get(INSTANT_SETTING) is True}
