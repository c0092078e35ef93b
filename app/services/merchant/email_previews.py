"""Previews of every email the store sends, built by the same code that sends them, from the store's own data.

The restock and confirmation emails show one of the store's real variants (the one asked for, else the variant
with the most people waiting, else the first one), with its image, price and the urgency line the email would
carry right now. The digest and the instant alert show what they would report now; when there is nothing to
report, or the store has no variant yet, a preview is built from a clearly labelled sample instead. Nothing here
writes: no token, no claim, no cursor moves.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from email.message import EmailMessage

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.config import Settings
from app.domain.urgency import restock_urgency
from app.models import Product, Store, Subscription, Variant
from app.services.notify import alerts, emails, fanout
from app.services.notify.alerts import Digest, DigestItem, InstantAlert
from app.services.stock import recompute as stock
from app.services.stock.recompute import store_today

__all__ = ["KINDS", "Preview", "find_variant", "preview", "preview_variant"]

KINDS: dict[str, str] = {
    "restock": "Restock email",
    "confirmation": "Confirmation email",
    "digest": "Daily digest",
    "instant": "Instant alert",
}
# Shown instead of a variant when the store has none yet: the preview says it is a sample.
SAMPLE_PRODUCT, SAMPLE_VARIANT, SAMPLE_PRICE = "Sample product", "Sample variant", Decimal("24.95")
SAMPLE_ADMIN = "you@example.com"
PREVIEW_TO = "shopper@example.com"


@dataclass(frozen=True, slots=True)
class Preview:
    """One email as it would go out: subject, both parts, and whether it shows sample data."""

    kind: str
    title: str
    subject: str
    html: str
    text: str
    sample: bool
    note: str


def find_variant(session: Session, store_id: int, variant_id: int) -> Variant | None:
    """The store's live variant with this id, None for any other store's."""
    return session.scalar(
        select(Variant).where(Variant.id == variant_id, Variant.store_id == store_id, Variant.deleted_at.is_(None))
    )


def preview_variant(session: Session, store_id: int) -> Variant | None:
    """The variant the previews show by default: most people waiting, then the first by id; None when none."""
    waiting = (
        select(func.count())
        .where(Subscription.variant_id == Variant.id, Subscription.store_id == store_id)
        .correlate(Variant)
        .scalar_subquery()
    )
    return session.scalar(
        select(Variant)
        .join(Product, Product.id == Variant.product_id)
        .where(Variant.store_id == store_id, Variant.deleted_at.is_(None), Product.deleted_at.is_(None))
        .order_by(waiting.desc(), Variant.id)
        .limit(1)
    )


def _parts(msg: EmailMessage) -> tuple[str, str]:
    html = msg.get_body(("html",))
    text = msg.get_body(("plain",))
    return (
        str(html.get_content()) if isinstance(html, EmailMessage) else "",
        str(text.get_content()) if isinstance(text, EmailMessage) else "",
    )


def _preview(kind: str, msg: EmailMessage, sample: bool, note: str) -> Preview:
    html, text = _parts(msg)
    return Preview(kind, KINDS[kind], str(msg["Subject"]), html, text, sample, note)


def _shop_url(store: Store, product: Product | None) -> str:
    if product is not None and product.url and product.url.startswith(("https://", "http://")):
        return product.url
    return f"https://{store.domain}/"


def _shopper_email(
    session: Session, settings: Settings, store: Store, kind: str, variant: Variant | None, now: datetime
) -> EmailMessage:
    product = session.get(Product, variant.product_id) if variant is not None else None
    sender_name, reply_to = emails.store_sender(stock.store_values(session, store.id), store.admin_email)
    base = settings.app_url.rstrip("/")
    if variant is not None and product is not None:
        product_title, variant_title = product.title, variant.title
        image_url, price = variant.image_url or product.image_url, emails.email_price(store, variant.price)
        threshold = fanout.settings_for(session, store.id, product.id, variant.id).low_stock_threshold
        only_left = restock_urgency(
            tracked=variant.tracked,
            inventory_policy=variant.inventory_policy,
            backorder=variant.backorder,
            sellable=int(variant.sellable_quantity),
            threshold=threshold,
        )
    else:
        product_title, variant_title = SAMPLE_PRODUCT, SAMPLE_VARIANT
        image_url, price, only_left = None, emails.email_price(store, SAMPLE_PRICE), None
    common = {
        "to": PREVIEW_TO,
        "locale": store.locale,
        "store_name": store.name or store.domain,
        "product_title": product_title,
        "variant_title": variant_title,
        "message_id": f"<preview-{kind}@{emails.mail_domain(settings.mail_from)}>",
        "mail_from": settings.mail_from,
        "date": now,
        "sender_name": sender_name,
        "reply_to": reply_to,
    }
    if kind == "restock":
        return emails.build_restock(
            emails.RestockContext(
                **common,  # type: ignore[arg-type]
                image_url=image_url,
                buy_url=_shop_url(store, product),
                unsubscribe_url=f"{base}/u/preview",
                unsubscribe_mailto=f"mailto:{emails.sender_address(settings.mail_from)}?subject=unsubscribe",
                price=price,
                only_left=only_left,
            )
        )
    return emails.build_confirmation(
        emails.ConfirmContext(
            **common,  # type: ignore[arg-type]
            confirm_url=f"{base}/c/preview",
            image_url=image_url,
            price=price,
        )
    )


def _sample_items(variant: Variant | None, product: Product | None) -> tuple[DigestItem, DigestItem, DigestItem]:
    vid = variant.id if variant is not None else 0
    sku = variant.sku if variant is not None else "SAMPLE-1"
    p_title = product.title if product is not None else SAMPLE_PRODUCT
    v_title = variant.title if variant is not None else SAMPLE_VARIANT
    return (
        DigestItem(vid, sku, p_title, v_title, "sold out"),
        DigestItem(vid, sku, p_title, v_title, "ok → pause"),
        DigestItem(vid, sku, p_title, v_title, "30 waiting"),
    )


def _merchant_email(
    session: Session, settings: Settings, store: Store, kind: str, variant: Variant | None, now: datetime
) -> tuple[EmailMessage, bool]:
    to = store.admin_email or SAMPLE_ADMIN
    product = session.get(Product, variant.product_id) if variant is not None else None
    sold, changed, waiting = _sample_items(variant, product)
    if kind == "digest":
        today = store_today(store, now)
        since = store.last_digest_on if store.last_digest_on and store.last_digest_on < today else None
        digest = alerts.build_digest(session, store, since or today - timedelta(days=1), today)
        if digest.count:
            return alerts.digest_message(settings, store, to, digest), False
        sample = Digest(digest.store_name, digest.since, today, [sold], [], [changed], [waiting])
        return alerts.digest_message(settings, store, to, sample), True
    alert = alerts.build_instant_alert(session, store, now)
    if alert.count:
        return alerts.instant_alert_message(settings, store, to, alert), False
    sample_alert = InstantAlert(alert.store_name, now, {}, [sold], [changed], [waiting])
    return alerts.instant_alert_message(settings, store, to, sample_alert), True


def preview(
    session: Session, settings: Settings, store: Store, kind: str, variant: Variant | None, now: datetime | None = None
) -> Preview:
    """The email of this kind as the store would send it now (``kind`` one of KINDS)."""
    when = now or datetime.now(UTC)
    if kind in ("restock", "confirmation"):
        msg = _shopper_email(session, settings, store, kind, variant, when)
        if variant is None:
            return _preview(kind, msg, True, "Sample: the store has no products yet, so a sample product is shown.")
        return _preview(kind, msg, False, "")
    merchant, sample = _merchant_email(session, settings, store, kind, variant, when)
    note = "Sample: there is nothing to report right now, so these lines are examples." if sample else ""
    return _preview(kind, merchant, sample, note)
