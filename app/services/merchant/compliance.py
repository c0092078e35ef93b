"""Privacy: export what we hold about a shopper, erase a shopper, erase a whole shop.

Used by Shopify's mandatory compliance webhooks, the admin's GDPR removal, and a WooCommerce store's own privacy
tools through the companion plugin (app/web/privacy.py).
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Result, delete, or_, select, text, update
from sqlalchemy.orm import Session

from app.infra.sql import dialect
from app.models import (
    ComplianceRequest,
    ComplianceStatus,
    ConsentRecord,
    Delivery,
    Order,
    Product,
    Store,
    Subscription,
    Variant,
    WebhookEvent,
)


def _rowcount(result: Result[Any]) -> int:
    return int(getattr(result, "rowcount", 0) or 0)


DATA_REQUEST = "customers/data_request"


def email_hash(email: str) -> str:
    """sha256 of a normalised email, for audit rows that must not keep the address."""
    return hashlib.sha256(email.strip().lower().encode()).hexdigest()


def customer_id_hash(customer_id: str) -> str:
    """sha256 of a platform customer id, for audit rows that must not keep it."""
    return hashlib.sha256(f"customer:{customer_id.strip()}".encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class Redacted:
    """What one erasure removed."""

    subscriptions: int
    orders: int
    exports: int = 0


def _customer_orders_clause(store_id: int, email: str | None, customer_id: str | None, order_ids: Sequence[str]) -> Any:
    terms = []
    if email:
        terms.append(Order.email == email.strip().lower())
    if customer_id:
        terms.append(Order.customer_external_id == customer_id)
    if order_ids:
        terms.append(Order.external_id.in_(list(order_ids)))
    if not terms:
        return None
    return (Order.store_id == store_id) & or_(*terms)


def export_customer(session: Session, store_id: int, email: str | None, customer_id: str | None) -> dict[str, Any]:
    """Everything stored about one shopper in one store, as a JSON-ready document."""
    subs = []
    if email:
        rows = session.execute(
            select(Subscription, Variant.sku, Variant.title, Product.title)
            .join(Variant, Variant.id == Subscription.variant_id)
            .join(Product, Product.id == Variant.product_id)
            .where(Subscription.store_id == store_id, Subscription.email == email.strip().lower())
            .order_by(Subscription.id)
        ).all()
        for sub, sku, v_title, p_title in rows:
            consents = session.scalars(
                select(ConsentRecord).where(ConsentRecord.subscription_id == sub.id).order_by(ConsentRecord.id)
            ).all()
            deliveries = session.scalars(
                select(Delivery).where(Delivery.subscription_id == sub.id).order_by(Delivery.id)
            ).all()
            subs.append(
                {
                    "product": p_title,
                    "variant": v_title,
                    "sku": sku,
                    "email": sub.email,
                    "locale": sub.locale,
                    "storefront_root": sub.storefront_root,
                    "state": sub.state,
                    "subscribed_at": sub.created_at.isoformat(),
                    "confirmed_at": sub.confirmed_at.isoformat() if sub.confirmed_at else None,
                    "notified_at": sub.notified_at.isoformat() if sub.notified_at else None,
                    "unsubscribed_at": sub.unsubscribed_at.isoformat() if sub.unsubscribed_at else None,
                    "consents": [
                        {
                            "kind": c.kind,
                            "text_version": c.text_version,
                            "text": c.text,
                            "given_at": c.given_at.isoformat(),
                        }
                        for c in consents
                    ],
                    "emails": [
                        {"status": d.status, "sent_at": d.sent_at.isoformat() if d.sent_at else None}
                        for d in deliveries
                    ],
                }
            )
    orders: list[dict[str, Any]] = []
    clause = _customer_orders_clause(store_id, email, customer_id, ())
    if clause is not None:
        for order in session.scalars(select(Order).where(clause).order_by(Order.ordered_at)):
            orders.append(
                {
                    "order": order.name or order.external_id,
                    "email": order.email,
                    "ordered_at": order.ordered_at.isoformat(),
                }
            )
    return {"waitlist_subscriptions": subs, "orders": orders}


def redact_customer(
    session: Session,
    store_id: int,
    email: str | None,
    customer_id: str | None,
    order_ids: Sequence[str] = (),
    keep_event_id: int | None = None,
) -> Redacted:
    """Erase a shopper: their subscriptions (with consents and deliveries), the personal fields of their orders,
    earlier data request documents about them and the stored webhook deliveries that name them (except the one
    being processed, ``keep_event_id``, whose body its handler blanks)."""
    n_subs = 0
    if email:
        n_subs = _rowcount(
            session.execute(
                delete(Subscription).where(
                    Subscription.store_id == store_id, Subscription.email == email.strip().lower()
                )
            )
        )
    n_orders = 0
    clause = _customer_orders_clause(store_id, email, customer_id, order_ids)
    if clause is not None:
        # Orders stay (they are sales history the stock engine needs); only who placed them goes.
        n_orders = _rowcount(session.execute(update(Order).where(clause).values(email=None, customer_external_id=None)))
    n_exports = _erase_exports(session, store_id, email, customer_id)
    needles = {email.strip(), email.strip().lower()} if email else set()
    # A short id would match inside unrelated numbers; Shopify's customer ids are 13 digits.
    if customer_id and len(customer_id.strip()) >= 8:
        needles.add(customer_id.strip())
    _erase_deliveries(session, store_id, sorted(needles), keep_event_id)
    return Redacted(subscriptions=n_subs, orders=n_orders, exports=n_exports)


def _erase_deliveries(session: Session, store_id: int, needles: Sequence[str], keep_event_id: int | None) -> int:
    # The inbox keeps raw bodies for its retention; those naming the shopper (their orders, their customer record)
    # go now. A delivery not yet processed goes too: the reconciliation re-reads what it carried, without them.
    found = 0
    for needle in needles:
        if dialect(session) == "postgresql":
            clause = text("position(CAST(:needle AS bytea) IN webhook_events.body) > 0")
        else:
            clause = text("instr(webhook_events.body, CAST(:needle AS BLOB)) > 0")
        result = session.execute(
            delete(WebhookEvent)
            .where(
                WebhookEvent.store_id == store_id,
                WebhookEvent.id != (keep_event_id or 0),
                clause.bindparams(needle=needle.encode()),
            )
            .execution_options(synchronize_session=False)
        )
        found += _rowcount(result)
    return found


def _erase_exports(session: Session, store_id: int, email: str | None, customer_id: str | None) -> int:
    # An earlier data request's document is a copy of what was just erased: it goes too (the audit row stays).
    terms = []
    if email:
        terms.append(ComplianceRequest.customer_email_hash == email_hash(email))
    if customer_id:
        terms.append(ComplianceRequest.customer_id_hash == customer_id_hash(customer_id))
    if not terms:
        return 0
    return _rowcount(
        session.execute(
            update(ComplianceRequest)
            .where(ComplianceRequest.store_id == store_id, ComplianceRequest.export.is_not(None), or_(*terms))
            .values(export=None)
        )
    )


def redact_shop(session: Session, store_id: int, keep_event_id: int | None = None) -> bool:
    """Erase a store and, through the foreign keys, every row that belongs to it.

    Inbox rows hold raw payloads (emails, addresses), so they go too, except the delivery being processed (its
    body names only the shop). The store's privacy requests stay as the audit trail (kind, shop domain, times)
    without their exports or the hashes of whom they were about.
    """
    session.execute(
        delete(WebhookEvent).where(WebhookEvent.store_id == store_id, WebhookEvent.id != (keep_event_id or 0))
    )
    store = session.get(Store, store_id)
    if store is not None:
        # Deliveries recorded before the store was known to us (store_id null) name it only in their headers.
        session.execute(delete(WebhookEvent).where(WebhookEvent.id.in_(_unowned_events(session, store))))
    session.execute(
        update(ComplianceRequest)
        .where(ComplianceRequest.store_id == store_id)
        .values(export=None, customer_email_hash=None, customer_id_hash=None)
    )
    return bool(_rowcount(session.execute(delete(Store).where(Store.id == store_id))))


def _unowned_events(session: Session, store: Store) -> list[int]:
    domain = store.domain.lower().removeprefix("https://").removeprefix("http://").rstrip("/")
    rows = session.execute(
        select(WebhookEvent.id, WebhookEvent.headers).where(
            WebhookEvent.store_id.is_(None), WebhookEvent.platform == store.platform
        )
    ).all()
    out = []
    for event_id, headers in rows:
        values = {str(v).lower().removeprefix("https://").removeprefix("http://").rstrip("/") for v in headers.values()}
        if domain in values:
            out.append(int(event_id))
    return out


def forget_body(event: WebhookEvent) -> None:
    """Blank a processed privacy delivery's raw body: it names the shopper, and nothing reads it again."""
    event.body = b""


def record_request(
    session: Session,
    *,
    store_id: int | None,
    platform: str,
    shop_domain: str,
    kind: str,
    external_id: str,
    email: str | None = None,
    customer_id: str | None = None,
    export: dict[str, Any] | None = None,
    counts: dict[str, Any] | None = None,
) -> ComplianceRequest:
    """Keep the audit row of a privacy request (the email and customer id only as hashes)."""
    req = ComplianceRequest(
        store_id=store_id,
        platform=platform,
        shop_domain=shop_domain,
        kind=kind,
        external_id=external_id,
        customer_email_hash=email_hash(email) if email else None,
        customer_id_hash=customer_id_hash(customer_id) if customer_id else None,
        export=export,
        counts=counts or {},
        status=ComplianceStatus.DONE,
        completed_at=datetime.now(UTC),
    )
    session.add(req)
    session.flush()
    return req


# --- asked by the store's own privacy tools (the WordPress plugin's personal-data exporter and eraser) -----------

PRIVACY_EXPORT = "privacy/export"
PRIVACY_ERASE = "privacy/erase"


def export_shopper(session: Session, store: Store, email: str) -> dict[str, Any]:
    """What we hold about one shopper of the store, for the store's privacy tools; the audit row keeps only counts."""
    export = export_customer(session, store.id, email, None)
    record_request(
        session,
        store_id=store.id,
        platform=store.platform,
        shop_domain=store.domain,
        kind=PRIVACY_EXPORT,
        external_id=uuid.uuid4().hex,
        email=email,
        # The document goes back to the store in the answer; keeping a copy here would be one more to erase.
        counts={k: len(v) for k, v in export.items()},
    )
    return export


def erase_shopper(session: Session, store: Store, email: str) -> Redacted:
    """Erase one shopper of the store when its privacy tools ask; asking again removes nothing more."""
    result = redact_customer(session, store.id, email, None)
    record_request(
        session,
        store_id=store.id,
        platform=store.platform,
        shop_domain=store.domain,
        kind=PRIVACY_ERASE,
        external_id=uuid.uuid4().hex,
        email=email,
        counts={"subscriptions": result.subscriptions, "orders": result.orders},
    )
    return result
