"""Merchant admin — Subscribers (paged, searchable by address and SKU), resend and removal, and the notification log."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, flash, redirect, render_template, request
from flask.typing import ResponseReturnValue

from app.models import Product, Variant
from app.services.notify import subscriber_list as listing
from app.services.notify import subscribers as service
from app.web.admin import confirm
from app.web.admin.auth import admin, admin_required
from app.web.admin.shell import admin_url
from app.web.deps import db_session, runtime

bp = Blueprint("admin_subscribers", __name__, url_prefix="/admin")


def _variant_filter(raw: str, errors: dict[str, str]) -> tuple[Variant, Product] | None:
    if not raw:
        return None
    if not raw.isascii() or not raw.isdigit() or len(raw) > 19:
        errors["variant"] = "Choose a variant from the list (a variant id is a whole number)."
        return None
    found = service.find_variant(db_session(), admin().store.id, int(raw))
    if found is None:
        errors["variant"] = "This store has no variant with that id."
    return found


def _text(name: str, limit: int, errors: dict[str, str]) -> str:
    value = request.args.get(name, "").strip()
    if len(value) > limit:
        errors[name] = f"At most {limit} characters."
    elif any(c in value for c in "\r\n\x00"):
        errors[name] = "Enter text on one line."
    return value


def _cursors(errors: dict[str, str]) -> tuple[listing.Cursor | None, listing.Cursor | None]:
    found: dict[str, listing.Cursor | None] = {}
    for name in ("after", "before"):
        raw = request.args.get(name, "").strip()
        found[name] = listing.parse_cursor(raw) if raw else None
        if raw and found[name] is None:
            errors[name] = "This page link is damaged: go back to the first page."
    if found["after"] is not None and found["before"] is not None:
        errors["before"] = "A page link has either a next or a previous position, not both."
    return found["after"], found["before"]


@bp.get("/subscribers")
@admin_required
def index() -> ResponseReturnValue:
    """Subscriptions, newest first, a page at a time, filtered by variant, state, address and SKU or product."""
    session = db_session()
    store = admin().store
    errors: dict[str, str] = {}
    variant_raw = request.args.get("variant", "").strip()
    state = request.args.get("state", "").strip()
    search = _text("q", service.MAX_SEARCH, errors)
    sku = _text("sku", listing.MAX_SKU_SEARCH, errors)
    variant = _variant_filter(variant_raw, errors)
    if state and state not in service.STATES:
        errors["state"] = "Choose one of the listed states."
    after, before = _cursors(errors)
    # The filters as they go on every page link, so Next and Previous keep them.
    kept = {k: v for k, v in (("variant", variant_raw), ("state", state), ("q", search), ("sku", sku)) if v}
    page: dict[str, Any] = {
        "store": store,
        "states": service.STATES,
        "variant_raw": variant_raw,
        "state": state,
        "q": search,
        "sku": sku,
        "kept": kept,
        "kept_but_variant": {k: v for k, v in kept.items() if k != "variant"},
        "errors": errors,
        "variant": None,
        "result": None,
    }
    if errors:
        return render_template("admin/subscribers.html", **page), 400
    page["variant"] = variant
    variant_id = variant[0].id if variant else None
    filters = listing.Filters(variant_id=variant_id, state=state or None, email=search or None, sku=sku or None)
    page["result"] = listing.subscriber_page(session, store.id, filters, after=after, before=before)
    return render_template("admin/subscribers.html", **page)


@bp.get("/subscribers/log")
@admin_required
def log() -> ResponseReturnValue:
    """The notification log of one address: why did (or didn't) this shopper get an email?"""
    email = request.args.get("email", "").strip()
    page: dict[str, Any] = {"email": email, "error": None, "result": None}
    if not email:
        return render_template("admin/subscribers_log.html", **page)
    if len(email) > service.MAX_SEARCH or "@" not in email or any(c in email for c in "\r\n\x00"):
        page["error"] = "Enter the shopper's full email address."
        return render_template("admin/subscribers_log.html", **page), 400
    page["result"] = service.notification_log(db_session(), admin().store.id, email)
    return render_template("admin/subscribers_log.html", **page)


def _back() -> ResponseReturnValue:
    # Back to the log the merchant came from, else the list (only our own endpoints: no open redirect).
    ctx = admin()
    email = request.values.get("log_email", "").strip()
    if email and len(email) <= service.MAX_SEARCH:
        return redirect(admin_url(ctx, "admin_subscribers.log", email=email), code=303)
    return redirect(admin_url(ctx, "admin_subscribers.index"), code=303)


@bp.post("/subscribers/<int:subscription_id>/resend")
@admin_required
def resend(subscription_id: int) -> ResponseReturnValue:
    """Put one subscription back on the normal send path (see app.services.notify.subscribers)."""
    session = db_session()
    outcome = service.resend(session, runtime().jobs, admin().store.id, subscription_id)
    if outcome is None:
        session.rollback()
        abort(404)
    if outcome.done:
        session.commit()
    else:
        session.rollback()
    flash(outcome.message, "success" if outcome.done else "error")
    return _back()


def _removal_confirmation(subscription_id: int, preview: service.RemovalPreview) -> confirm.Confirmation:
    ctx = admin()
    log_email = request.values.get("log_email", "").strip()
    back_to_log = bool(log_email) and len(log_email) <= service.MAX_SEARCH
    emails = f"{preview.deliveries} restock email{'s' if preview.deliveries != 1 else ''}"
    others = preview.other_signups
    return confirm.Confirmation(
        title=f"Erase {preview.email} from the waitlist for {preview.variant}?",
        consequences=(
            f"The address {preview.email}, the IP fingerprint and browser of their consent, their link to a store "
            "customer and any pending confirmation link are deleted for good. Nothing is sent to this signup again.",
            f"The signup stays in your counts as 'removed', and its notification history ({emails}) stays without "
            "the address. A record of the erasure keeps only a fingerprint of the address.",
            (
                f"Their {others} other waitlist signup{'s' if others != 1 else ''} in this store "
                f"{'are' if others != 1 else 'is'} not touched: remove each one too to erase the address everywhere."
                if others
                else "This is their only waitlist signup in this store."
            ),
        ),
        action_url=admin_url(ctx, "admin_subscribers.remove", subscription_id=subscription_id),
        button=f"Erase {preview.email}",
        back_url=(
            admin_url(ctx, "admin_subscribers.log", email=log_email)
            if back_to_log
            else admin_url(ctx, "admin_subscribers.index")
        ),
        final=True,
        fields={"log_email": log_email} if back_to_log else {},
        back_label="Keep this subscriber and go back",
    )


@bp.route("/subscribers/<int:subscription_id>/remove", methods=["GET", "POST"])
@admin_required
def remove(subscription_id: int) -> ResponseReturnValue:
    """GDPR removal once confirmed (GET shows the confirm step): the address and consent IP hash are erased for good."""
    session = db_session()
    preview = service.removal_preview(session, admin().store.id, subscription_id)
    if preview is None:
        abort(404)
    if preview.removed and request.method == "GET":
        flash("This subscriber was already removed.", "success")
        return _back()
    if not preview.removed and (request.method == "GET" or not confirm.confirmed()):
        return confirm.confirm_page(
            _removal_confirmation(subscription_id, preview), 200 if request.method == "GET" else 400
        )
    removed = service.remove(session, admin().store, subscription_id)
    if removed is None:
        session.rollback()
        abort(404)
    session.commit()
    message = "Subscriber removed: the address is erased." if removed else "This subscriber was already removed."
    flash(message, "success")
    return _back()
