"""The shopper's pages behind the links in our emails: double-opt-in confirmation and unsubscribe."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from flask import Blueprint, Response, render_template, request

from app.domain import waitlist as rules
from app.infra.links import read_unsubscribe_token
from app.models import SubscriptionState
from app.services.notify import waitlist as service
from app.web.deps import db_session, runtime

bp = Blueprint("shopper_pages", __name__)


def _page(template: str, status: int, **context: Any) -> Response:
    return Response(render_template(f"storefront_pages/{template}", **context), status=status, mimetype="text/html")


_CONFIRM_ERRORS = {
    "spent": (409, "confirm_spent"),
    "expired": (410, "confirm_expired"),
    "unknown": (404, "link_unknown"),
}


@bp.route("/c/<token>", methods=["GET", "POST"])
def confirm_page(token: str) -> Response:
    """GET: a page with a Confirm button (mail scanners prefetch links). POST: confirm once."""
    session = db_session()
    now = datetime.now(UTC)
    if request.method == "GET":
        sub = service.subscription_by_confirm_token(session, token)
        status = service.confirm_status(sub, now)
    else:
        outcome = service.confirm(
            session,
            runtime().settings.secret_key,
            token,
            ip=request.remote_addr,
            user_agent=request.headers.get("User-Agent"),
            now=now,
        )
        session.commit()
        sub, status = outcome.subscription, outcome.status
    locale = rules.pick_locale([sub.locale if sub else None])
    names = service.subscription_context(session, sub) if sub is not None else {"store": "", "product": ""}
    if status == "open":
        return _page(
            "confirm.html",
            200,
            lang=locale,
            title=rules.message(locale, "confirm_title"),
            body=rules.message(locale, "confirm_body", **names),
            button=rules.message(locale, "confirm_button"),
        )
    if status == "confirmed":
        return _page(
            "message.html",
            200,
            lang=locale,
            title=rules.message(locale, "confirmed_title"),
            body=rules.message(locale, "confirmed_body", **names),
        )
    code, key = _CONFIRM_ERRORS[status]
    return _page(
        "message.html", code, lang=locale, title=rules.message(locale, "error_title"), body=rules.message(locale, key)
    )


@bp.route("/u/<token>", methods=["GET", "POST"])
def unsubscribe_page(token: str) -> Response:
    """GET: a page with an Unsubscribe button, never unsubscribing by itself. POST (form or RFC 8058): unsubscribe."""
    session = db_session()
    secret = runtime().settings.secret_key
    sid = read_unsubscribe_token(secret, token)
    sub = service.subscription_for_link(session, sid) if sid is not None else None
    if sub is None:
        return _page(
            "message.html",
            404,
            lang="en",
            title=rules.message("en", "error_title"),
            body=rules.message("en", "link_unknown"),
        )
    locale = rules.pick_locale([sub.locale])
    names = service.subscription_context(session, sub)
    if request.method == "POST" or sub.state == SubscriptionState.UNSUBSCRIBED:
        if request.method == "POST":
            service.unsubscribe(session, sub.id)
            session.commit()
        return _page(
            "message.html",
            200,
            lang=locale,
            title=rules.message(locale, "unsubscribed_title"),
            body=rules.message(locale, "unsubscribed_body", **names),
        )
    return _page(
        "unsubscribe.html",
        200,
        lang=locale,
        title=rules.message(locale, "unsubscribe_title"),
        body=rules.message(locale, "unsubscribe_body", **names),
        button=rules.message(locale, "unsubscribe_button"),
    )
