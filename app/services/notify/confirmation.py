"""The double-opt-in confirmation email: sent once, counted sent only once the server accepted it.

The token's hash is stored right before the final dot (the link must work the moment the email lands) with the
attempt counted; ``confirm_sent_at`` is set after the server's 2xx reply. A 4xx or an unreachable server is retried
by the sweeper (``confirm_retry_at``, sender.retry_delay's backoff: 1, 2, 4, 8 minutes) up to
``MAX_CONFIRM_ATTEMPTS``; then, or at once on a 5xx or an unsendable address, it is given up with the reason in
``confirm_error`` (a hard bounce also suppresses the address for the store). A new signup starts it over.
"""

from __future__ import annotations

import logging
import smtplib
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select, update

from app.config import Settings
from app.db import Database, utcnow
from app.infra import links
from app.infra.mail import AddressError, CommitPointRefused, Mailer
from app.models import Product, Store, Subscription, SubscriptionState, Variant
from app.services.notify import emails, suppressions, waitlist
from app.services.notify.sender import MAX_ATTEMPTS, retry_delay, smtp_code

log = logging.getLogger(__name__)

__all__ = ["CONFIRM_TTL", "MAX_CONFIRM_ATTEMPTS", "send_confirmation"]

CONFIRM_TTL = timedelta(hours=48)
# Attempts at one confirmation email (4xx replies, SMTP unreachable, a send cut off after its dot).
MAX_CONFIRM_ATTEMPTS = MAX_ATTEMPTS


def send_confirmation(
    db: Database,
    settings: Settings,
    subscription_id: int,
    *,
    mailer: Mailer | None = None,
    clock: Callable[[], datetime] = utcnow,
) -> bool:
    """Send the double-opt-in email; True once the server accepted it (confirm_sent_at is set only then).

    False when there is nothing to send (confirmed, unsubscribed, already sent, given up, suppressed) or the send
    failed: a transient failure sets confirm_retry_at (the sweeper sends again then), a permanent one or the last
    attempt leaves confirm_error and no retry.
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
        if (
            sub.state != SubscriptionState.PENDING_CONFIRMATION
            or sub.confirm_sent_at is not None
            or sub.confirm_attempts >= MAX_CONFIRM_ATTEMPTS
        ):
            return False
        if suppressions.suppressed(session, store.id, [sub.email]):
            sub.confirm_error = "suppressed: the address hard-bounced earlier"
            sub.confirm_retry_at = None
            sub.skip_reason = "suppressed"
            return False
        sender_name, reply_to = emails.store_sender(waitlist.store_values(session, store), store.admin_email)
        email, locale, seen, store_id = sub.email, sub.locale, sub.confirm_attempts, store.id
        store_name, product_title, variant_title = store.name or store.domain, product.title, variant.title
        image_url, price = variant.image_url or product.image_url, emails.email_price(store, variant.price)
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
            image_url=image_url,
            price=price,
        )
    )
    own = mailer is None
    m = mailer
    with db.engine.connect() as conn:
        counted = False

        def before_dot() -> None:
            # The token's hash is stored before the dot (the link must work the moment the email lands) and the
            # attempt counted; refused when another run got here first.
            nonlocal counted
            done = conn.execute(
                update(Subscription)
                .where(
                    Subscription.id == subscription_id,
                    Subscription.state == SubscriptionState.PENDING_CONFIRMATION,
                    Subscription.confirm_sent_at.is_(None),
                    Subscription.confirm_attempts == seen,
                )
                .values(
                    confirm_token_hash=digest,
                    confirm_expires_at=now + CONFIRM_TTL,
                    confirm_attempts=Subscription.confirm_attempts + 1,
                )
            ).rowcount
            if done != 1:
                conn.rollback()
                raise CommitPointRefused(f"subscription {subscription_id} needs no confirmation email")
            conn.commit()
            counted = True

        def failed(code: int, reply: str, *, transient: bool, at_rcpt: bool = False) -> bool:
            conn.rollback()
            attempts = seen + 1
            err = (f"{code} {reply}" if code else reply)[:900]
            retry = transient and attempts < MAX_CONFIRM_ATTEMPTS
            values: dict[str, Any] = {
                "confirm_token_hash": None,
                "confirm_expires_at": None,
                "confirm_attempts": attempts,
                "confirm_retry_at": clock() + retry_delay(attempts) if retry else None,
                "confirm_error": err if retry or not transient else f"gave up after {attempts} attempts: {err}",
            }
            if not retry:
                values["skip_reason"] = "confirmation_failed"
            conn.execute(
                update(Subscription)
                .where(Subscription.id == subscription_id, Subscription.confirm_sent_at.is_(None))
                .values(**values)
            )
            if suppressions.is_hard_bounce(code, reply, at_rcpt=at_rcpt):
                suppressions.suppress(conn, store_id, email, f"{code} {reply}", clock())
            conn.commit()
            log.warning("confirmation email for subscription %s failed: %s", subscription_id, err)
            return False

        try:
            if m is None:
                if not settings.smtp_url:
                    raise RuntimeError("SMTP_URL is not configured; the confirmation email cannot be sent")
                m = Mailer(settings.smtp_url)
            result = m.send(
                msg, sender=emails.sender_address(settings.mail_from), recipients=[email],
                before_commit_point=before_dot,
            )  # fmt: skip
        except CommitPointRefused:
            return False
        except AddressError as exc:
            return failed(0, f"address not sendable: {exc}", transient=False)
        except (smtplib.SMTPRecipientsRefused, smtplib.SMTPSenderRefused, smtplib.SMTPDataError) as exc:
            code, reply = smtp_code(exc)
            at_rcpt = isinstance(exc, smtplib.SMTPRecipientsRefused)
            return failed(code, reply, transient=400 <= code < 500, at_rcpt=at_rcpt)
        except (smtplib.SMTPException, OSError, RuntimeError) as exc:
            # Unreachable server, lost connection (maybe after the dot): not sent as far as we know; retried.
            return failed(0, f"{exc.__class__.__name__}: {exc}", transient=True)
        finally:
            if own and m is not None:
                m.close()
        if not result.accepted:
            return failed(result.code, result.reply, transient=result.transient)
        # Accepted: only now is it sent.
        conn.execute(
            update(Subscription)
            .where(Subscription.id == subscription_id, Subscription.confirm_token_hash == digest)
            .values(confirm_sent_at=now, confirm_retry_at=None, confirm_error=None)
        )
        conn.commit()
        return True
