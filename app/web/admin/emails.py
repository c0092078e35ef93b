"""Merchant admin — Emails (a preview of every email the store sends) and Alerts (digest and instant alert settings,
and the log of alerts sent).

A preview's HTML is served by its own route with a Content-Security-Policy of its own (no scripts, no forms, a
sandbox) and shown in a sandboxed iframe, so the email's markup, which carries the store's product titles, runs
nothing inside the admin. Another store's variant id answers 404.
"""

from __future__ import annotations

from datetime import UTC, datetime

from flask import Blueprint, abort, flash, make_response, redirect, render_template, request
from flask.typing import ResponseReturnValue

from app.domain.naming import variant_label
from app.models import Product, Variant
from app.services.merchant import alert_settings
from app.services.merchant import email_previews as previews
from app.web.admin.auth import admin, admin_required
from app.web.admin.shell import admin_url
from app.web.deps import db_session, runtime
from app.web.security import embedded_frame_ancestors

bp = Blueprint("admin_emails", __name__, url_prefix="/admin")

# The email's own inline styles and remote product images load; nothing else does, and nothing runs.
PREVIEW_POLICY = "default-src 'none'; img-src https: http: data:; style-src 'unsafe-inline'; sandbox"


def _variant() -> Variant | None:
    """The variant asked for with ?variant_id= (404 unless it is this store's), else the default one."""
    session = db_session()
    store_id = admin().store.id
    raw = request.args.get("variant_id")
    if raw is None or raw == "":
        return previews.preview_variant(session, store_id)
    if not raw.isdigit() or len(raw) > 18:
        abort(404)
    found = previews.find_variant(session, store_id, int(raw))
    if found is None:
        abort(404)
    return found


@bp.get("/emails")
@admin_required
def index() -> ResponseReturnValue:
    """Every email the store sends, as HTML in a sandboxed frame and as its plain-text part."""
    ctx = admin()
    variant = _variant()
    session = db_session()
    now = datetime.now(UTC)
    shown = [previews.preview(session, runtime().settings, ctx.store, kind, variant, now) for kind in previews.KINDS]
    name = ""
    if variant is not None:
        product = session.get(Product, variant.product_id)
        title = product.title if product is not None else ""
        name = " – ".join(p for p in (title, variant_label(title, variant.title)) if p)
    return render_template("admin/emails.html", previews=shown, variant=variant, variant_name=name)


@bp.get("/emails/<kind>/preview")
@admin_required
def frame(kind: str) -> ResponseReturnValue:
    """The HTML part of one email, for the preview frame, under a policy that lets nothing in it run."""
    if kind not in previews.KINDS:
        abort(404)
    variant = _variant()
    shown = previews.preview(db_session(), runtime().settings, admin().store, kind, variant)
    resp = make_response(shown.html)
    resp.headers["Content-Type"] = "text/html; charset=utf-8"
    ancestors = (embedded_frame_ancestors() or "frame-ancestors").removeprefix("frame-ancestors")
    resp.headers["Content-Security-Policy"] = f"{PREVIEW_POLICY}; frame-ancestors 'self'{ancestors}"
    resp.headers["Cache-Control"] = "no-store"
    return resp


@bp.route("/alerts", methods=["GET", "POST"])
@admin_required
def alerts() -> ResponseReturnValue:
    """The merchant's alert settings and the log of digest and instant alert emails sent."""
    ctx = admin()
    session = db_session()
    errors: dict[str, str] = {}
    submitted: dict[str, str] | None = None
    if request.method == "POST":
        submitted = {k: request.form.get(k, "") for k in ("daily_digest", "instant_alerts")}
        result = alert_settings.save(session, ctx.store.id, submitted)
        if not result.errors:
            session.commit()
            flash("Alert settings saved." if result.changed else "Nothing changed.", "success")
            return redirect(admin_url(ctx, "admin_emails.alerts"), code=303)
        session.rollback()
        errors = result.errors
    page = {
        "current": alert_settings.current(session, ctx.store.id),
        "log": alert_settings.log(session, ctx.store.id),
        "submitted": submitted,
        "errors": errors,
    }
    return render_template("admin/alerts.html", **page), 400 if errors else 200
