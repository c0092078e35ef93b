"""The merchant admin shell: sign-in by emailed link, sign-out, and the helpers every admin page shares.

Pages live in their own blueprints under /admin (dashboard, settings, incoming stock, exports, subscribers);
each view is wrapped in ``@admin_required`` (app.web.admin.auth) and reads its store from ``admin().store``.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

from email_validator import EmailNotValidError, validate_email
from flask import Blueprint, Flask, g, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue

from app.domain.freshness import Banner
from app.domain.naming import variant_label
from app.platforms import registry
from app.services.ingest import dead_letters, freshness
from app.services.merchant import email_confirm
from app.services.merchant import identity as store_identity
from app.services.merchant import login as admin_login
from app.web.admin.auth import (
    APP_BRIDGE_URL,
    AdminContext,
    csrf_token,
    sign_in,
    sign_out_everywhere,
)
from app.web.deps import db_session, runtime

bp = Blueprint("admin", __name__, url_prefix="/admin")


def admin_url(ctx: AdminContext | None, endpoint: str, **values: Any) -> str:
    """url_for that keeps Shopify's shop/host on embedded links (the bounce page then adds a fresh token)."""
    if ctx is not None and ctx.embedded:
        values.setdefault("shop", ctx.shop)
        values.setdefault("host", ctx.host)
        values.setdefault("embedded", "1")
    return url_for(endpoint, **values)


def return_path() -> str:
    """This page's path and query, for a ``next`` link back to it (without an embedded session token: a stale one
    must not ride along; the bounce page adds a fresh one)."""
    args = [(k, v) for k, v in request.args.items(multi=True) if k != "id_token"]
    return request.path + (f"?{urlencode(args)}" if args else "")


def _safe_next(target: str | None) -> str | None:
    # Only our own admin paths: an open redirect after sign-in would make our links a phishing tool.
    if target and target.startswith("/admin") and not target.startswith("//") and "\\" not in target:
        return target
    return None


# The admin's sections, in menu order; a section appears once its blueprint registers the endpoint.
NAV: tuple[tuple[str, str], ...] = (
    ("admin_dashboard.index", "Dashboard"),
    ("admin_dashboard.at_risk", "At risk"),
    ("admin_dashboard.demand", "Waitlist demand"),
    ("admin_plan.overstock", "Overstock"),
    ("admin_planning.incoming", "Incoming stock"),
    ("admin_planning.campaigns", "Campaigns"),
    ("admin_results.index", "Results"),
    ("admin_subscribers.index", "Subscribers"),
    ("admin_data.exports", "Exports & feeds"),
    ("admin_privacy.index", "Data requests"),
    ("admin_emails.index", "Emails"),
    ("admin_emails.alerts", "Alerts"),
    ("admin_settings.index", "Settings"),
)


def init_app(app: Flask) -> None:
    """Template globals for admin pages (the security headers are app.web.security's, on every response)."""
    app.jinja_env.globals.update(
        csrf_token=csrf_token,
        admin_url=admin_url,
        return_path=return_path,
        app_bridge_url=APP_BRIDGE_URL,
        variant_label=variant_label,
        store_money=store_identity.format_amount,
        store_time=store_identity.local_time,
    )

    @app.context_processor
    def _admin_context() -> dict[str, Any]:
        if not request.path.startswith("/admin"):
            return {}
        ctx: AdminContext | None = g.get("admin")
        return {
            "ctx": ctx,
            "admin_nav": [(e, label) for e, label in NAV if e in app.view_functions],
            "shopify_api_key": runtime().settings.shopify_api_key or "",
            "health_banners": _health_banners(ctx),
            # The Failed updates page is in the menu only while there is something on it.
            "dead_letter_count": sum(dead_letters.counts(db_session(), store_id=ctx.store.id).values()) if ctx else 0,
        }


def _health_banners(ctx: AdminContext | None) -> list[Banner]:
    """Sync failing or webhooks not delivering: shown on every admin page until a pass finds the store healthy."""
    if ctx is None:
        return []
    store = ctx.store
    found = registry.PLATFORMS.get(store.platform)
    label = found.label if found is not None else store.platform
    return freshness.banners_for(db_session(), store, runtime().settings, label)


def _now() -> datetime:
    return datetime.now(UTC)


@bp.get("/login")
def login() -> ResponseReturnValue:
    """The sign-in form: an email address receives a one-time link."""
    return render_template("admin/login.html", next=_safe_next(request.args.get("next")), error=None, email="")


@bp.post("/login")
def login_request() -> ResponseReturnValue:
    """Email a sign-in link; the same answer whether or not the address belongs to a store."""
    raw = (request.form.get("email") or "").strip()
    try:
        email = validate_email(raw, check_deliverability=False).normalized.lower()
    except EmailNotValidError:
        return (
            render_template("admin/login.html", next=None, email=raw[:320], error="Enter a valid email address."),
            400,
        )
    session = db_session()
    # Known address or not, the same insert and the same job: only the job looks the address up and mails.
    admin_login.request_links(session, runtime().jobs, email, _now())
    session.commit()
    return render_template("admin/login_sent.html", email=email)


@bp.get("/login/<token>")
def login_confirm(token: str) -> ResponseReturnValue:
    """Show a 'Sign in' button: mail scanners follow GET links, so only the POST spends the token."""
    live = len(token) <= 100 and admin_login.is_live(db_session(), token, _now())
    if not live:
        return render_template("admin/error.html", title="This link expired", message=_EXPIRED), 410
    return render_template("admin/login_confirm.html", token=token)


_EXPIRED = "Sign-in links work once and for 15 minutes. Ask for a new one."


@bp.post("/login/<token>")
def login_redeem(token: str) -> ResponseReturnValue:
    """Spend the link and start the admin session."""
    session = db_session()
    store_id = admin_login.redeem(session, token, _now()) if len(token) <= 100 else None
    if store_id is None:
        session.rollback()
        return render_template("admin/error.html", title="This link expired", message=_EXPIRED), 410
    session.commit()
    sign_in(store_id)
    return redirect(url_for("admin_dashboard.index"))


@bp.get("/email/confirm/<token>")
def email_confirm_page(token: str) -> ResponseReturnValue:
    """Show a 'Confirm' button for a typed admin email: mail scanners follow GET links, so only the POST spends it."""
    live = len(token) <= 100 and email_confirm.is_live(db_session(), token, _now())
    if not live:
        return render_template("admin/error.html", title="This link expired", message=_CONFIRM_EXPIRED), 410
    return render_template("admin/email_confirm.html", token=token)


_CONFIRM_EXPIRED = (
    "Confirmation links work once, for 24 hours, and only for the address typed last. Type the address again in "
    "Settings → Store to get a new one."
)


@bp.post("/email/confirm/<token>")
def email_confirm_redeem(token: str) -> ResponseReturnValue:
    """Spend the link: the address becomes the store's admin email (no sign-in: the link proves the inbox only)."""
    session = db_session()
    store = email_confirm.confirm(session, token, _now()) if len(token) <= 100 else None
    if store is None:
        session.rollback()
        return render_template("admin/error.html", title="This link expired", message=_CONFIRM_EXPIRED), 410
    email = store.admin_email
    session.commit()
    return render_template("admin/email_confirmed.html", email=email)


@bp.post("/logout")
def logout() -> ResponseReturnValue:
    """End every session of this admin, on every device (a cross-site POST carries no Lax cookie, so cannot)."""
    sign_out_everywhere()
    return redirect(url_for("admin.login"))
