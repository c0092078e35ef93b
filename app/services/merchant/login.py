"""Standalone admin sign-in: single-use, expiring links emailed to a store's admin address.

Only the sha256 of a link's token is stored. Asking for a link answers the same whether or not the address belongs
to a store, so the form tells nobody which addresses are merchants: the form only records the request (one row, one
job, whatever the address), and the job looks the address up, issues the links and mails them.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.message import EmailMessage
from email.utils import formataddr, make_msgid

from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session

from app import job_specs
from app.config import Settings
from app.db import Database
from app.infra.links import hash_token, new_confirm_token
from app.infra.mail import Mailer
from app.models import AdminLoginRequest, AdminLoginToken, Store, StoreStatus
from app.queue import JobQueue, enqueue_after_commit

log = logging.getLogger(__name__)

LINK_LIFETIME = timedelta(minutes=15)
# A merchant asking again and again gets at most this many live links per store; older ones stay valid.
MAX_LIVE_LINKS = 5
# A request whose job never ran (Redis was down) is dropped after this long: the merchant has asked again by then.
REQUEST_LIFETIME = timedelta(hours=1)


@dataclass(frozen=True, slots=True)
class LoginLink:
    """A freshly issued sign-in link for one store (the raw token exists only here and in the email)."""

    store_id: int
    store_name: str
    email: str
    url: str


def request_links(session: Session, jobs: JobQueue, email: str, now: datetime) -> None:
    """Record a sign-in request for ``email`` and mail its links from a job once the caller commits.

    The same insert and the same job for every address: whether it belongs to a store is only looked at by the job.
    """
    row = AdminLoginRequest(email=email, created_at=now)
    session.add(row)
    session.flush()
    enqueue_after_commit(session, jobs, job_specs.send_admin_login(row.id))


def send_requested(db: Database, settings: Settings, request_id: int, now: datetime) -> int:
    """The job's part of a sign-in request: issue and mail its links, then forget it. Returns emails sent.

    The links are committed before they are mailed (a mailed link must work); the request is deleted only after
    the mail went out, so a job that dies in between sends fresh links when it runs again.
    """
    with db.session() as session:
        session.execute(delete(AdminLoginRequest).where(AdminLoginRequest.created_at < now - REQUEST_LIFETIME))
        email = session.scalar(select(AdminLoginRequest.email).where(AdminLoginRequest.id == request_id))
        links = issue_links(session, settings, email, now) if email is not None else []
    if email is None:
        return 0
    sent = send_links(settings, links)
    with db.session() as session:
        session.execute(delete(AdminLoginRequest).where(AdminLoginRequest.id == request_id))
    return sent


def issue_links(session: Session, settings: Settings, email: str, now: datetime) -> list[LoginLink]:
    """A sign-in link for every active store whose admin address is ``email`` (already normalised)."""
    stores = session.execute(
        select(Store.id, Store.name, Store.domain).where(
            func.lower(Store.admin_email) == email.lower(), Store.status != StoreStatus.UNINSTALLED
        )
    ).all()
    out: list[LoginLink] = []
    for store_id, name, domain in stores:
        live = session.scalar(
            select(func.count())
            .select_from(AdminLoginToken)
            .where(
                AdminLoginToken.store_id == store_id,
                AdminLoginToken.used_at.is_(None),
                AdminLoginToken.expires_at > now,
            )
        )
        if (live or 0) >= MAX_LIVE_LINKS:
            continue
        raw, digest = new_confirm_token()
        session.add(AdminLoginToken(store_id=store_id, token_hash=digest, email=email, expires_at=now + LINK_LIFETIME))
        out.append(LoginLink(store_id, name or domain, email, f"{settings.app_url}/admin/login/{raw}"))
    return out


def redeem(session: Session, raw: str, now: datetime) -> int | None:
    """Spend a sign-in token once: the store id it signs in to, or None when unknown, used or expired."""
    stmt = (
        update(AdminLoginToken)
        .where(
            AdminLoginToken.token_hash == hash_token(raw),
            AdminLoginToken.used_at.is_(None),
            AdminLoginToken.expires_at > now,
        )
        .values(used_at=now)
        .returning(AdminLoginToken.store_id)
    )
    # One conditional UPDATE: two clicks racing on the same link cannot both sign in.
    store_id = session.execute(stmt).scalar_one_or_none()
    return int(store_id) if store_id is not None else None


def is_live(session: Session, raw: str, now: datetime) -> bool:
    """True while a token can still be spent (for the confirmation page shown before signing in)."""
    return (
        session.scalar(
            select(func.count())
            .select_from(AdminLoginToken)
            .where(
                AdminLoginToken.token_hash == hash_token(raw),
                AdminLoginToken.used_at.is_(None),
                AdminLoginToken.expires_at > now,
            )
        )
        or 0
    ) > 0


def login_message(settings: Settings, link: LoginLink) -> EmailMessage:
    """The sign-in email: plain text and a minimal HTML part, no tracking, no advertising."""
    msg = EmailMessage()
    msg["Subject"] = f"Sign in to BackSoon for {link.store_name}"
    msg["From"] = settings.mail_from
    msg["To"] = formataddr(("", link.email))
    msg["Message-ID"] = make_msgid(domain="backsoon.localhost")
    msg["Auto-Submitted"] = "auto-generated"
    text = (
        f"Use this link to sign in to BackSoon for {link.store_name}:\n\n{link.url}\n\n"
        f"It works once and expires in {int(LINK_LIFETIME.total_seconds() // 60)} minutes. "
        "If you did not ask to sign in, ignore this email.\n"
    )
    msg.set_content(text)
    from markupsafe import escape

    msg.add_alternative(
        f"<p>Use this link to sign in to BackSoon for <strong>{escape(link.store_name)}</strong>:</p>"
        f'<p><a href="{escape(link.url)}">Sign in to BackSoon</a></p>'
        f"<p>It works once and expires in {int(LINK_LIFETIME.total_seconds() // 60)} minutes. "
        "If you did not ask to sign in, ignore this email.</p>",
        subtype="html",
    )
    return msg


def send_links(settings: Settings, links: list[LoginLink]) -> int:
    """Email each link; without SMTP_URL (a developer machine) the link is logged instead. Returns emails sent."""
    if not links:
        return 0
    if not settings.smtp_url:
        for link in links:
            log.warning("SMTP_URL is not set; admin sign-in link for store %s: %s", link.store_id, link.url)
        return 0
    sent = 0
    with Mailer(settings.smtp_url) as mailer:
        for link in links:
            if mailer.send(login_message(settings, link)).accepted:
                sent += 1
    return sent
