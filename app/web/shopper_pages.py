"""The shopper's pages behind the links in our emails: double-opt-in confirmation and unsubscribe.

They are drawn in the store's name and look (app.services.merchant.brand) with a link back to the product's page.
A harmless repeat (a confirmation link used twice, an unsubscribe link opened after unsubscribing) answers 200
with what is already true; a link that cannot be used answers 404 or 410 with a kind page that says what to do.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from flask import Blueprint, Response, render_template, request
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.domain import waitlist as rules
from app.domain.brand import Brand, effective_brand
from app.infra.links import read_unsubscribe_token
from app.models import Product, Store, SubscriptionState, Variant
from app.models.waitlist import Subscription
from app.platforms import registry
from app.services.merchant.brand import brand_of
from app.services.notify import waitlist as service
from app.web.deps import db_session, runtime

bp = Blueprint("shopper_pages", __name__)


@dataclass(frozen=True, slots=True)
class ShopperFrame:
    """What the shopper layout draws around a page: the store, its look, and the way back."""

    name: str
    brand: Brand
    back_url: str


def shopper_frame(session: Session, store: Store, subscription: Subscription | None = None) -> ShopperFrame:
    """The frame of a page about the store: back to the subscription's product page when one is given."""
    back = registry.home_url(store)
    if subscription is not None:
        row = session.execute(
            select(Product, Variant)
            .join(Variant, Variant.product_id == Product.id)
            .where(Variant.id == subscription.variant_id, Variant.store_id == store.id)
        ).one_or_none()
        if row is not None:
            back = registry.product_url(store, row[0], row[1], subscription.storefront_root)
    return ShopperFrame(name=store.name or store.domain, brand=brand_of(store), back_url=back)


def render_shopper_page(
    template: str, status: int, lang: str, frame: ShopperFrame | None, title: str, **context: Any
) -> Response:
    """A page in the shopper layout: the store's name, colours and logo, and the way back to the store."""
    page = render_template(
        f"storefront_pages/{template}",
        lang=lang,
        frame=frame,
        brand=frame.brand if frame is not None else effective_brand(None, None),
        title=title,
        back_label=rules.message(lang, "back_to_store", store=frame.name) if frame is not None else "",
        footer=rules.message(lang, "footer"),
        **context,
    )
    return Response(page, status=status, mimetype="text/html")


def _frame(session: Session, sub: Subscription) -> tuple[ShopperFrame | None, str]:
    """The page's frame and language: the shopper's, else the store's."""
    store = session.get(Store, sub.store_id)
    if store is None:
        return None, rules.pick_locale([sub.locale])
    return shopper_frame(session, store, sub), rules.pick_locale([sub.locale, store.locale])


def _unknown_link() -> Response:
    # No store is known from a link that names none: a neutral page in the browser's language, still kind and
    # still saying what to do.
    lang = rules.pick_locale(rules.accept_language_tags(request.headers.get("Accept-Language")))
    return render_shopper_page(
        "message.html",
        404,
        lang,
        None,
        rules.message(lang, "link_unknown_title"),
        body=rules.message(lang, "link_unknown_body"),
    )


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
    if sub is None or status == "unknown":
        return _unknown_link()
    frame, locale = _frame(session, sub)
    names = service.subscription_context(session, sub)
    if status == "open":
        return render_shopper_page(
            "confirm.html",
            200,
            locale,
            frame,
            rules.message(locale, "confirm_title"),
            body=rules.message(locale, "confirm_body", **names),
            button=rules.message(locale, "confirm_button"),
        )
    if status == "confirmed":
        title, body = rules.message(locale, "confirmed_title"), rules.message(locale, "confirmed_body", **names)
        return render_shopper_page("message.html", 200, locale, frame, title, body=body)
    if status == "spent" and sub.state == SubscriptionState.UNSUBSCRIBED:
        # Confirmed once, unsubscribed since: the link must not sign them up again, and it is no error either.
        title, body = (
            rules.message(locale, "already_unsubscribed_title"),
            rules.message(locale, "unsubscribed_body", **names),
        )
        return render_shopper_page("message.html", 200, locale, frame, title, body=body)
    if status == "spent":
        title = rules.message(locale, "already_confirmed_title", **names)
        body = rules.message(locale, "already_confirmed_body", **names)
        return render_shopper_page("message.html", 200, locale, frame, title, body=body)
    title, body = rules.message(locale, "expired_title"), rules.message(locale, "confirm_expired")
    return render_shopper_page("message.html", 410, locale, frame, title, body=body)


@bp.route("/u/<token>", methods=["GET", "POST"])
def unsubscribe_page(token: str) -> Response:
    """GET: a page with an Unsubscribe button, never unsubscribing by itself. POST (form or RFC 8058): unsubscribe."""
    session = db_session()
    secret = runtime().settings.secret_key
    sid = read_unsubscribe_token(secret, token)
    sub = service.subscription_for_link(session, sid) if sid is not None else None
    if sub is None:
        return _unknown_link()
    frame, locale = _frame(session, sub)
    names = service.subscription_context(session, sub)
    if sub.state == SubscriptionState.UNSUBSCRIBED:
        # Opened again, or a second one-click POST: already done, and it says so.
        title = rules.message(locale, "already_unsubscribed_title")
        body = rules.message(locale, "unsubscribed_body", **names)
        return render_shopper_page("message.html", 200, locale, frame, title, body=body)
    if request.method == "POST":
        service.unsubscribe(session, sub.id)
        session.commit()
        title, body = rules.message(locale, "unsubscribed_title"), rules.message(locale, "unsubscribed_body", **names)
        return render_shopper_page("message.html", 200, locale, frame, title, body=body)
    return render_shopper_page(
        "unsubscribe.html",
        200,
        locale,
        frame,
        rules.message(locale, "unsubscribe_title"),
        body=rules.message(locale, "unsubscribe_body", **names),
        button=rules.message(locale, "unsubscribe_button"),
    )
