"""The demo's past restock emails: who waited for recent restocks, the wave that mailed them, and their clicks.

Written after the seed's bulk load, from rows it loaded: for each recent restock event, shoppers who signed up
(and confirmed) before it, one sent wave, and clicks on some buy links. Among the waiting shoppers are the first
customers whose seeded orders bought that variant soon after the restock, so the attribution job (not this module)
finds the conversions and their revenue. Deterministic: the same seed gives the same rows.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, func, insert, select, update

from app.models import (
    ConsentRecord,
    Delivery,
    DeliveryStatus,
    Order,
    OrderLine,
    StockEvent,
    Subscription,
    SubscriptionState,
)
from app.models.stock import FanoutStatus

__all__ = ["PAST_RESTOCKS", "PastResults", "write_past_results"]

PAST_RESTOCKS = 40  # the most recent restocks of the seeded history get a past wave
WINDOW = timedelta(days=7)  # the default attribution window
SEND_DELAY = timedelta(minutes=10)  # the wave went out just after the stock was booked in
BUYERS_PER_RESTOCK = 2
CONSENT_TEXT = "Email me once when this item is back in stock. I can unsubscribe at any time."
CONSENT_VERSION = "demo-v1"


@dataclass(frozen=True, slots=True)
class PastResults:
    """How many past restocks got a wave, and the subscriptions, emails and clicks written for them."""

    restocks: int
    subscriptions: int
    emails: int
    clicks: int


def _naive(value: datetime) -> datetime:
    return value.replace(tzinfo=None) if value.tzinfo is not None else value


def write_past_results(conn: Connection, store_id: int, today_start: datetime) -> PastResults:
    """Write the past waves of the store's latest restocks before today; returns what was written."""
    events = conn.execute(
        select(StockEvent.id, StockEvent.variant_id, StockEvent.occurred_at)
        .where(
            StockEvent.store_id == store_id,
            StockEvent.kind == "restock",
            StockEvent.occurred_at < today_start - timedelta(days=1),
        )
        .order_by(StockEvent.occurred_at.desc(), StockEvent.id.desc())
        .limit(PAST_RESTOCKS)
    ).all()
    taken = {
        (v, e)
        for v, e in conn.execute(
            select(Subscription.variant_id, Subscription.email).where(Subscription.store_id == store_id)
        )
    }
    subs = emails = clicks = 0
    for k, (event_id, variant_id, occurred_at) in enumerate(reversed(events)):
        sent_at = occurred_at + SEND_DELAY
        buyers = [
            str(email)
            for email, _ in conn.execute(
                select(func.lower(Order.email), func.min(Order.ordered_at))
                .join(OrderLine, OrderLine.order_id == Order.id)
                .where(
                    Order.store_id == store_id,
                    OrderLine.variant_id == variant_id,
                    OrderLine.cancelled.is_(False),
                    Order.cancelled_at.is_(None),
                    Order.email.is_not(None),
                    Order.ordered_at > sent_at,
                    Order.ordered_at <= sent_at + WINDOW,
                )
                .group_by(func.lower(Order.email))
                .order_by(func.min(Order.ordered_at), func.lower(Order.email))
                .limit(BUYERS_PER_RESTOCK)
            )
        ]
        waiting = [*buyers, *(f"waitlist.{event_id}.{j}@example.com" for j in range(6 + k % 5))]
        for j, email in enumerate(waiting):
            if (variant_id, email) in taken:
                continue
            taken.add((variant_id, email))
            created = _naive(occurred_at) - timedelta(days=1 + j, hours=k % 7)
            sub_id = conn.execute(
                insert(Subscription)
                .values(
                    store_id=store_id, variant_id=variant_id, email=email, locale="en",
                    state=SubscriptionState.NOTIFIED, source="widget", created_at=created, updated_at=sent_at,
                    confirm_sent_at=created + timedelta(minutes=1), confirmed_at=created + timedelta(minutes=20),
                    notified_at=sent_at,
                )
                .returning(Subscription.id)
            ).scalar_one()  # fmt: skip
            conn.execute(
                insert(ConsentRecord).values(
                    store_id=store_id, subscription_id=sub_id, kind="signup", text_version=CONSENT_VERSION,
                    text=CONSENT_TEXT, given_at=created,
                )
            )  # fmt: skip
            # The first buyer followed the email's link (a direct conversion), the second did not (assisted);
            # every third of the others clicked without buying.
            clicked = (j == 0 and bool(buyers)) or (j >= len(buyers) and j % 3 == 0)
            values: dict[str, Any] = {
                "store_id": store_id, "subscription_id": sub_id, "stock_event_id": event_id, "wave": 1,
                "status": DeliveryStatus.SENT, "attempts": 1, "claimed_at": sent_at, "sent_at": sent_at,
                "message_id": f"<demo-{event_id}-{j}@backsoon.localhost>",
                "clicked_at": sent_at + timedelta(minutes=5) if clicked else None, "clicks": int(clicked),
            }  # fmt: skip
            conn.execute(insert(Delivery).values(**values))
            subs += 1
            emails += 1
            clicks += int(clicked)
        conn.execute(
            update(StockEvent)
            .where(StockEvent.id == event_id)
            .values(fanout_status=FanoutStatus.DONE, waves_sent=1, next_wave_at=None)
        )
    return PastResults(restocks=len(events), subscriptions=subs, emails=emails, clicks=clicks)
