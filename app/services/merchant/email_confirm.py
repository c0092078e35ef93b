"""A typed admin email takes effect only once a link sent to it is clicked.

The admin email is where sign-in links go, so an address typed by whoever holds a session (or pasted keys) must
be proven before it can receive them: the address stays pending, a single-use link (only its sha256 stored) is
mailed to it, and spending that link makes it the merchant's own value (identity override). A newer typed address
supersedes a pending one; the address the store itself reports needs no link.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.message import EmailMessage
from email.utils import formataddr, make_msgid

from markupsafe import escape
from sqlalchemy import ColumnElement, select, update
from sqlalchemy.orm import Session

from app.config import Settings
from app.infra.links import hash_token, new_confirm_token
from app.infra.mail import Mailer
from app.models import AdminEmailConfirmation, Store
from app.services.merchant.identity import set_overrides

__all__ = [
    "LINK_LIFETIME",
    "ConfirmLink",
    "cancel_pending",
    "confirm",
    "is_live",
    "message",
    "needs_confirmation",
    "pending",
    "request_confirmation",
    "send",
]

log = logging.getLogger(__name__)

LINK_LIFETIME = timedelta(hours=24)


@dataclass(frozen=True, slots=True)
class ConfirmLink:
    """A freshly issued confirmation link (the raw token exists only here and in the email)."""

    store_id: int
    store_name: str
    email: str
    url: str


def needs_confirmation(store: Store, email: str) -> bool:
    """False when the address is what the store itself reports (already proven) or already the admin email."""
    reported = (store.reported_identity or {}).get("admin_email")
    return email != reported and email != store.admin_email


def cancel_pending(session: Session, store_id: int, now: datetime) -> None:
    """Void the store's pending address: its link stops working (a newer address, or the merchant cleared it)."""
    session.execute(
        update(AdminEmailConfirmation)
        .where(
            AdminEmailConfirmation.store_id == store_id,
            AdminEmailConfirmation.confirmed_at.is_(None),
            AdminEmailConfirmation.superseded_at.is_(None),
        )
        .values(superseded_at=now)
    )


def request_confirmation(session: Session, settings: Settings, store: Store, email: str, now: datetime) -> ConfirmLink:
    """Make ``email`` (normalised) the store's pending admin email and issue its link; older pending ones lapse."""
    cancel_pending(session, store.id, now)
    raw, digest = new_confirm_token()
    session.add(
        AdminEmailConfirmation(
            store_id=store.id, token_hash=digest, email=email, created_at=now, expires_at=now + LINK_LIFETIME
        )
    )
    session.flush()
    url = f"{settings.app_url.rstrip('/')}/admin/email/confirm/{raw}"
    return ConfirmLink(store.id, store.name or store.domain, email, url)


def pending(session: Session, store_id: int, now: datetime) -> AdminEmailConfirmation | None:
    """The store's address waiting for its link to be clicked, if any."""
    return session.execute(
        select(AdminEmailConfirmation)
        .where(
            AdminEmailConfirmation.store_id == store_id,
            AdminEmailConfirmation.confirmed_at.is_(None),
            AdminEmailConfirmation.superseded_at.is_(None),
            AdminEmailConfirmation.expires_at > now,
        )
        .order_by(AdminEmailConfirmation.id.desc())
        .limit(1)
    ).scalar_one_or_none()


def _live(raw: str, now: datetime) -> list[ColumnElement[bool]]:
    return [
        AdminEmailConfirmation.token_hash == hash_token(raw),
        AdminEmailConfirmation.confirmed_at.is_(None),
        AdminEmailConfirmation.superseded_at.is_(None),
        AdminEmailConfirmation.expires_at > now,
    ]


def is_live(session: Session, raw: str, now: datetime) -> bool:
    """True while a link can still be spent (for the page shown before confirming)."""
    found = session.execute(select(AdminEmailConfirmation.id).where(*_live(raw, now))).first()
    return found is not None


def confirm(session: Session, raw: str, now: datetime) -> Store | None:
    """Spend a link once: the address becomes the store's admin email; None when unknown, spent, lapsed or expired."""
    # One conditional UPDATE: two clicks racing on the same link cannot both apply it.
    row = session.execute(
        update(AdminEmailConfirmation)
        .where(*_live(raw, now))
        .values(confirmed_at=now)
        .returning(AdminEmailConfirmation.store_id, AdminEmailConfirmation.email)
    ).first()
    if row is None:
        return None
    store = session.get(Store, row.store_id)
    if store is None:
        return None
    if set_overrides(store, {"admin_email": row.email}):
        return None  # stored normalised when issued: cannot happen, but never apply an invalid address
    session.flush()
    return store


def message(settings: Settings, link: ConfirmLink) -> EmailMessage:
    """The confirmation email: plain text and a minimal HTML part, no tracking."""
    msg = EmailMessage()
    msg["Subject"] = f"Confirm your admin email for {link.store_name} on BackSoon"
    msg["From"] = settings.mail_from
    msg["To"] = formataddr(("", link.email))
    msg["Message-ID"] = make_msgid(domain="backsoon.localhost")
    msg["Auto-Submitted"] = "auto-generated"
    hours = int(LINK_LIFETIME.total_seconds() // 3600)
    msg.set_content(
        f"Someone set this address as the admin email of {link.store_name} on BackSoon. It receives sign-in links "
        f"and alerts once you confirm it:\n\n{link.url}\n\nThe link works once and expires in {hours} hours. "
        "If this was not you, ignore this email: nothing changes.\n"
    )
    msg.add_alternative(
        f"<p>Someone set this address as the admin email of <strong>{escape(link.store_name)}</strong> on BackSoon. "
        "It receives sign-in links and alerts once you confirm it:</p>"
        f'<p><a href="{escape(link.url)}">Confirm this address</a></p>'
        f"<p>The link works once and expires in {hours} hours. If this was not you, ignore this email: "
        "nothing changes.</p>",
        subtype="html",
    )
    return msg


def send(settings: Settings, link: ConfirmLink) -> bool:
    """Email the link; without SMTP_URL (a developer machine) it is logged instead. True when a server took it."""
    if not settings.smtp_url:
        log.warning("SMTP_URL is not set; admin email confirmation link for store %s: %s", link.store_id, link.url)
        return False
    with Mailer(settings.smtp_url) as mailer:
        return bool(mailer.send(message(settings, link)).accepted)
