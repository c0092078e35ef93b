"""Merchant admin — Exports (streamed CSV), the marketing-signal feed and the outbound webhook."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from flask import Blueprint, Response, abort, flash, redirect, render_template, request, stream_with_context, url_for
from flask.typing import ResponseReturnValue

from app.platforms import registry
from app.services.merchant import exports as export_service
from app.services.merchant import feeds
from app.services.notify import outbound_webhooks
from app.web.admin import confirm
from app.web.admin.auth import admin, admin_required
from app.web.admin.shell import admin_url
from app.web.deps import db_session, runtime

bp = Blueprint("admin_data", __name__, url_prefix="/admin")


def _page(
    status: int = 200,
    *,
    errors: dict[str, str] | None = None,
    form: dict[str, str] | None = None,
    new_secret: str | None = None,
) -> ResponseReturnValue:
    session = db_session()
    store = admin().store
    config = feeds.feed_config(session, store, registry.of(store).feed_id_scheme)
    page: dict[str, Any] = {
        "exports": list(export_service.EXPORTS.values()),
        "feed_urls": (
            {
                fmt: url_for("feeds.signals", feed_token=store.feed_token, fmt=fmt, _external=True)
                for fmt in ("csv", "json")
            }
            if store.feed_token
            else None
        ),
        "config": config,
        "schemes": feeds.FEED_ID_SCHEMES,
        "webhook_url": store.outbound_webhook_url,
        "deliveries": outbound_webhooks.recent(session, store.id),
        "errors": errors or {},
        "form": form or {},
        "new_secret": new_secret,
        "admin_email": store.admin_email,
    }
    return render_template("admin/exports.html", **page), status


@bp.get("/exports")
@admin_required
def exports() -> ResponseReturnValue:
    """The exports, the feed URL and id format, and the outbound webhook settings with its delivery log."""
    return _page()


@bp.get("/exports/<kind>.csv")
@admin_required
def download(kind: str) -> ResponseReturnValue:
    """One export as a streamed CSV download."""
    if kind not in export_service.EXPORTS:
        abort(404)
    store = admin().store
    store_id, slug = store.id, (store.domain or "store").replace(".", "-")
    db = runtime().db

    def generate() -> Any:
        # Its own session, opened and closed inside the stream: the request's session is torn down independently.
        session = db.sessions()
        try:
            yield from export_service.rows_for(session, store_id, kind)
        finally:
            session.close()

    stamp = datetime.now(UTC).strftime("%Y%m%d")
    resp = Response(stream_with_context(generate()), mimetype="text/csv")
    resp.headers["Content-Disposition"] = f'attachment; filename="backsoon-{slug}-{kind}-{stamp}.csv"'
    resp.headers["Cache-Control"] = "no-store"
    resp.headers["X-Accel-Buffering"] = "no"  # let a proxy pass rows on as they are written
    return resp


_FEED_ACTIONS = ("rotate", "disable")


def _feed_confirmation(action: str) -> confirm.Confirmation:
    ctx = admin()
    what = (
        "A new secret feed URL replaces the current one. The current URL stops working at once: Google Merchant "
        "Center, or anything else reading it, must be given the new one."
        if action == "rotate"
        else "The feed is turned off: its URL stops working at once, and ads keep whatever label they read last."
    )
    return confirm.Confirmation(
        title="Replace the feed URL?" if action == "rotate" else "Turn the feed off?",
        consequences=(what, "The old URL cannot be brought back."),
        action_url=admin_url(ctx, "admin_data.feed_token"),
        button="Replace the feed URL" if action == "rotate" else "Turn the feed off",
        back_url=admin_url(ctx, "admin_data.exports"),
        final=True,
        fields={"action": action},
        back_label="Keep the current URL and go back",
    )


@bp.route("/exports/feed-token", methods=["GET", "POST"])
@admin_required
def feed_token() -> ResponseReturnValue:
    """Create the feed's secret URL, or once confirmed (GET shows the step) rotate it or turn the feed off."""
    ctx = admin()
    session = db_session()
    store = ctx.store
    action = request.values.get("action", "rotate")
    if action not in _FEED_ACTIONS:
        abort(400)
    if store.feed_token and (request.method == "GET" or not confirm.confirmed()):
        return confirm.confirm_page(_feed_confirmation(action), 200 if request.method == "GET" else 400)
    if request.method == "GET":
        return redirect(admin_url(ctx, "admin_data.exports"))  # no feed yet: nothing to confirm
    if action == "disable":
        store.feed_token = None
        session.commit()
        flash("The feed is turned off; its URL no longer works.", "success")
    else:
        had = bool(store.feed_token)
        feeds.rotate_token(session, store)
        session.commit()
        flash("New feed URL created." + (" The old URL no longer works." if had else ""), "success")
    return redirect(admin_url(ctx, "admin_data.exports"))


@bp.post("/exports/feed-settings")
@admin_required
def feed_settings() -> ResponseReturnValue:
    """Save how the feed names items (so ids match the primary Merchant Center feed)."""
    ctx = admin()
    session = db_session()
    form = {
        "feed_id_scheme": request.form.get("feed_id_scheme", ""),
        "feed_country": request.form.get("feed_country", ""),
    }
    errors = feeds.save_feed_config(session, ctx.store, form["feed_id_scheme"][:32], form["feed_country"][:8])
    if errors:
        session.rollback()
        return _page(400, errors=errors, form=form)
    session.commit()
    flash("Feed id format saved.", "success")
    return redirect(admin_url(ctx, "admin_data.exports"))


_WEBHOOK_CONFIRM = ("remove", "rotate_secret")


def _webhook_confirmation(action: str) -> confirm.Confirmation:
    ctx = admin()
    url = ctx.store.outbound_webhook_url or ""
    if action == "remove":
        title, button = "Turn the webhook off?", "Turn the webhook off"
        lines = (
            f"BackSoon stops posting signal changes to {url}, and forgets that URL and its signing secret.",
            "Deliveries not sent yet are given up. Turning it on again needs the URL and gives a new secret.",
        )
    else:
        title, button = "Make a new signing secret?", "Make a new signing secret"
        lines = (
            f"The current secret stops being used at once: {url} must check signatures with the new one, shown once "
            "on the next page, or it will reject BackSoon's posts.",
            "The current secret cannot be brought back.",
        )
    return confirm.Confirmation(
        title=title,
        consequences=lines,
        action_url=admin_url(ctx, "admin_data.webhook"),
        button=button,
        back_url=admin_url(ctx, "admin_data.exports"),
        final=True,
        fields={"action": action},
    )


@bp.get("/exports/webhook")
@admin_required
def webhook_confirm() -> ResponseReturnValue:
    """The confirm step before turning the webhook off or replacing its signing secret."""
    action = request.args.get("action", "")
    if action not in _WEBHOOK_CONFIRM:
        abort(400)
    if not admin().store.outbound_webhook_url:
        return redirect(admin_url(admin(), "admin_data.exports"))  # no webhook: nothing to confirm
    return confirm.confirm_page(_webhook_confirmation(action))


@bp.post("/exports/webhook")
@admin_required
def webhook() -> ResponseReturnValue:
    """Save, re-key or remove the outbound webhook (the last two once confirmed); a new secret is shown once."""
    ctx = admin()
    session = db_session()
    store = ctx.store
    action = request.form.get("action", "save")
    if action in _WEBHOOK_CONFIRM and store.outbound_webhook_url and not confirm.confirmed():
        return confirm.confirm_page(_webhook_confirmation(action), 400)
    if action == "remove":
        outbound_webhooks.remove(session, store)
        session.commit()
        flash("The webhook is turned off.", "success")
        return redirect(admin_url(ctx, "admin_data.exports"))
    if action not in ("save", "rotate_secret"):
        abort(400)
    raw = request.form.get("webhook_url", store.outbound_webhook_url or "") if action == "save" else None
    url = raw if raw is not None else (store.outbound_webhook_url or "")
    try:
        url = outbound_webhooks.validate_url(url, runtime().settings)
    except ValueError as exc:
        session.rollback()
        return _page(400, errors={"webhook_url": str(exc)}, form={"webhook_url": url[:2000]})
    secret = outbound_webhooks.configure(session, runtime().settings, store, url, new_secret=action == "rotate_secret")
    session.commit()
    if secret is None:
        flash("Webhook URL saved.", "success")
        return redirect(admin_url(ctx, "admin_data.exports"))
    return _page(new_secret=secret)
