"""A shopper's data request reaches the merchant: listed in the admin, and announced to the store's admin address.

Shopify sends ``customers/data_request`` to the app and expects the merchant to hand the shopper what the app
holds. BackSoon builds the document when the request arrives (compliance.py) and keeps it on the request's row
until the shopper or the shop is erased. The email carries no personal data: only a signed link that expires,
``/privacy/data-requests/<id>?expires=<unix time>&signature=<hex>``, where the signature is an HMAC-SHA256 of the
request id and the expiry keyed by the deployment's SECRET_KEY. The admin page offers the same download to a
signed-in merchant.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
from datetime import UTC, datetime, timedelta
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from urllib.parse import urlencode

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from app.config import Settings
from app.db import Database
from app.infra.mail import Mailer
from app.models import ComplianceRequest, Store, StoreStatus
from app.services.merchant.compliance import DATA_REQUEST
from app.services.notify.emails import MESSAGE_POLICY, TEMPLATES, mail_domain, sender_address

log = logging.getLogger(__name__)

LINK_LIFETIME = timedelta(days=7)


def _signature(secret_key: str, request_id: int, expires: int) -> str:
    message = f"data-request:{request_id}:{expires}".encode()
    return hmac.new(secret_key.encode(), message, hashlib.sha256).hexdigest()


def signed_link(settings: Settings, request_id: int, now: datetime) -> str:
    """The download link of one data request's document, valid for LINK_LIFETIME from now."""
    expires = int((now + LINK_LIFETIME).timestamp())
    query = urlencode({"expires": expires, "signature": _signature(settings.secret_key, request_id, expires)})
    return f"{settings.app_url.rstrip('/')}/privacy/data-requests/{request_id}?{query}"


def link_is_valid(settings: Settings, request_id: int, expires: str, signature: str, now: datetime) -> bool:
    """Whether a link's expiry and signature are ours and the expiry has not passed."""
    if not expires.isdigit() or len(expires) > 12 or int(expires) <= now.timestamp():
        return False
    return hmac.compare_digest(signature, _signature(settings.secret_key, request_id, int(expires)))


def for_store(session: Session, store_id: int) -> list[ComplianceRequest]:
    """The store's data requests, newest first (those already erased stay listed, without a document)."""
    return list(
        session.scalars(
            select(ComplianceRequest)
            .where(ComplianceRequest.store_id == store_id, ComplianceRequest.kind == DATA_REQUEST)
            .order_by(ComplianceRequest.received_at.desc(), ComplianceRequest.id.desc())
        )
    )


def unsent_ids(session: Session, now: datetime) -> list[int]:
    """Data requests of the last week whose notice is not sent yet (a failed send is tried again)."""
    return list(
        session.scalars(
            select(ComplianceRequest.id)
            .join(Store, Store.id == ComplianceRequest.store_id)
            .where(
                ComplianceRequest.kind == DATA_REQUEST,
                ComplianceRequest.notified_at.is_(None),
                ComplianceRequest.export.is_not(None),
                ComplianceRequest.received_at > now - LINK_LIFETIME,
                Store.admin_email.is_not(None),
                Store.status != StoreStatus.PENDING,
            )
            .order_by(ComplianceRequest.id)
        )
    )


def notice_message(settings: Settings, store: Store, to: str, request: ComplianceRequest, url: str) -> EmailMessage:
    """The email to the store's admin: a shopper asked for their data, here is the link (no data in the mail)."""
    values = {
        "store_name": store.name or store.domain,
        "request_ref": request.external_id,
        "received": request.received_at.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "url": url,
        "expires_days": LINK_LIFETIME.days,
        "admin_url": settings.app_url.rstrip("/") + "/admin/data-requests",
    }
    msg = EmailMessage(policy=MESSAGE_POLICY)
    user, _, domain = sender_address(settings.mail_from).partition("@")
    msg["From"] = Address(display_name="BackSoon", username=user, domain=domain)
    msg["To"] = to
    msg["Subject"] = f"{values['store_name']}: a customer asked for their data (request {request.external_id})"
    msg["Date"] = format_datetime(datetime.now(UTC))
    msg["Message-ID"] = make_msgid(f"data-request-{request.id}", domain=mail_domain(settings.mail_from))
    msg["Auto-Submitted"] = "auto-generated"
    msg.set_content(TEMPLATES.get_template("data_request.txt").render(values), subtype="plain", cte="8bit")
    msg.add_alternative(TEMPLATES.get_template("data_request.html").render(values), subtype="html", cte="8bit")
    return msg


def send_notice(db: Database, settings: Settings, request_id: int, now: datetime | None = None) -> str:
    """Email the store's admin the link to one data request's document, once: 'sent', or why not."""
    when = now or datetime.now(UTC)
    with db.session() as session:
        req = session.get(ComplianceRequest, request_id)
        if req is None or req.kind != DATA_REQUEST or req.store_id is None or req.export is None:
            return "skipped"
        store = session.get(Store, req.store_id)
        if store is None or store.status == StoreStatus.PENDING:
            return "skipped"
        if not store.admin_email:
            # The admin page still lists it; the merchant sees it there.
            return "no_address"
        # Claimed before sending so a second run of the job sends nothing; released below if sending fails.
        claimed = session.execute(
            update(ComplianceRequest)
            .where(ComplianceRequest.id == request_id, ComplianceRequest.notified_at.is_(None))
            .values(notified_at=when)
        )
        if getattr(claimed, "rowcount", 0) != 1:
            return "already_sent"
        to = str(store.admin_email)
        message = notice_message(settings, store, to, req, signed_link(settings, request_id, when))
    try:
        if not settings.smtp_url:
            raise RuntimeError("SMTP_URL is not set: the data request notice cannot be sent")
        with Mailer(settings.smtp_url) as mailer:
            result = mailer.send(message)
        if not result.accepted:
            raise RuntimeError(f"the SMTP server refused the data request notice: {result.code} {result.reply}")
    except Exception:
        with db.session() as session:
            session.execute(
                update(ComplianceRequest)
                .where(ComplianceRequest.id == request_id, ComplianceRequest.notified_at == when)
                .values(notified_at=None)
            )
        raise
    log.info("data request notice sent", extra={"store_id": store.id, "compliance_request_id": request_id})
    return "sent"
