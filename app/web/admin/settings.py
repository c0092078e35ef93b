"""Merchant admin — settings, store-wide with per-product and per-variant overrides; a change recomputes.

The page's Store section shows the store's identity (name, admin email, timezone, currency, country, language), where
each value comes from, and takes the merchant's own values (app.services.merchant.identity decides what applies).
Its Brand section takes the primary colour and logo of the shopper pages (app.services.merchant.brand).
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from flask import Blueprint, abort, flash, redirect, render_template, request
from flask.typing import ResponseReturnValue
from sqlalchemy.orm import Session

from app.domain.brand import contrast_ratio
from app.domain.settings import DEFAULT_SETTINGS
from app.domain.store_identity import normalize
from app.models import Product, Variant
from app.platforms import registry
from app.services.merchant import brand as brand_service
from app.services.merchant import effective, email_confirm
from app.services.merchant import identity as identity_service
from app.services.merchant import settings as service
from app.web.admin.auth import AdminContext, admin, admin_required
from app.web.admin.shell import admin_url
from app.web.deps import db_session, runtime

bp = Blueprint("admin_settings", __name__, url_prefix="/admin")

_SAVED = "Settings saved. Stock states and the storefront update within a minute."
_IDENTITY_SAVED = "Store details saved. Dates, prices and feeds use them from now on."
_BRAND_SAVED = "Brand saved. The confirmation and unsubscribe pages use it from now on."


def _form() -> dict[str, str]:
    # Only the first value of each field: a repeated field must not smuggle a second value past validation.
    return {key: request.form.get(key, "") for key in request.form}


@bp.route("/settings", methods=["GET", "POST"])
@admin_required
def index() -> ResponseReturnValue:
    """Store-wide settings, supplier lead times, sender and reply-to, and the storefront texts per language."""
    ctx = admin()
    session = db_session()
    store_id = ctx.store.id
    submitted: dict[str, str] | None = None
    errors: dict[str, str] = {}
    if request.method == "POST":
        submitted = _form()
        result = service.save_store(session, runtime().jobs, store_id, submitted)
        if not result.errors:
            session.commit()
            flash(_SAVED if result.changed else "Nothing changed.", "success")
            return redirect(admin_url(ctx, "admin_settings.index"))
        session.rollback()
        errors = result.errors
    return _settings_page(ctx, session, submitted, errors)


@bp.route("/settings/store", methods=["POST"])
@admin_required
def store_identity() -> ResponseReturnValue:
    """Set or clear the merchant's own store name, timezone, currency, country and language; a typed admin email
    waits for the link sent to it (the address the store reports applies at once)."""
    ctx = admin()
    session = db_session()
    submitted = _form()
    before = dict(ctx.store.identity_overrides or {})
    values = identity_service.form_values(submitted)
    typed = values.pop("admin_email") if values.get("admin_email") else None
    email = normalize("admin_email", typed, frozenset()) if typed else None
    field_errors = identity_service.set_overrides(ctx.store, values)
    if typed and email is None:
        field_errors["admin_email"] = "not a valid admin email"
    if field_errors:
        session.rollback()
        errors = identity_service.error_messages(field_errors)
        return _settings_page(ctx, session, None, {}, identity_submitted=submitted, identity_errors=errors)
    link = None
    if "admin_email" in values:  # cleared: the store's own address applies, and a typo'd pending one must not
        email_confirm.cancel_pending(session, ctx.store.id, _now())
    if email is not None:
        if email_confirm.needs_confirmation(ctx.store, email):
            live = email_confirm.pending(session, ctx.store.id, _now())
            if live is None or live.email != email:  # the same address again does not mail it again
                link = email_confirm.request_confirmation(session, runtime().settings, ctx.store, email, _now())
        else:
            identity_service.set_overrides(ctx.store, {"admin_email": email})
    changed = dict(ctx.store.identity_overrides or {}) != before
    session.commit()
    if link is not None:
        email_confirm.send(runtime().settings, link)
        flash(
            f"We sent a confirmation link to {link.email}. It becomes the admin email once you click that link"
            + ("; the other details are saved." if changed else "."),
            "success",
        )
    else:
        flash(_IDENTITY_SAVED if changed else "Nothing changed.", "success")
    return redirect(admin_url(ctx, "admin_settings.index", _anchor="store"))


@bp.route("/settings/brand", methods=["POST"])
@admin_required
def brand() -> ResponseReturnValue:
    """Set or clear the primary colour and logo of the shopper pages; nothing is saved when either is not valid."""
    ctx = admin()
    session = db_session()
    submitted = _form()
    before = ctx.store.brand
    errors = brand_service.set_brand(
        ctx.store,
        {"primary_colour": submitted.get("brand_primary_colour"), "logo_url": submitted.get("brand_logo_url")},
    )
    if errors:
        session.rollback()
        return _settings_page(ctx, session, None, {}, brand_submitted=submitted, brand_errors=errors)
    changed = ctx.store.brand != before
    session.commit()
    flash(_BRAND_SAVED if changed else "Nothing changed.", "success")
    return redirect(admin_url(ctx, "admin_settings.index", _anchor="brand"))


def _now() -> datetime:
    return datetime.now(UTC)


def _settings_page(
    ctx: AdminContext,
    session: Session,
    submitted: dict[str, str] | None,
    errors: dict[str, str],
    *,
    identity_submitted: dict[str, str] | None = None,
    identity_errors: dict[str, str] | None = None,
    brand_submitted: dict[str, str] | None = None,
    brand_errors: dict[str, str] | None = None,
) -> ResponseReturnValue:
    store_id = ctx.store.id
    saved = service.values_of(session, store_id, "store")
    texts = service.texts_view(saved, ctx.store.name or ctx.store.domain)
    identity_errors = identity_errors or {}
    page: dict[str, Any] = {
        "pending_email": email_confirm.pending(session, store_id, _now()),
        "identity": identity_service.identity_views(
            ctx.store, registry.of(ctx.store).label, identity_submitted, identity_errors
        ),
        "identity_errors": identity_errors,
        "zones": sorted(identity_service.known_zones()),
        "fields": _store_fields(ctx, session, saved, submitted, errors),
        "suppliers": service.suppliers(session, store_id),
        "overridden": effective.overridden(session, store_id),
        "texts": texts,
        "saved": saved,
        "submitted": submitted,
        "errors": errors,
        "brand": (shown := brand_service.brand_of(ctx.store)),
        "brand_contrast": f"{contrast_ratio(shown.primary, shown.on_primary):.1f}",
        "brand_own": ctx.store.brand or {},
        "brand_reported_logo": brand_service.reported_logo(ctx.store),
        "brand_note": registry.of(ctx.store).brand_note,
        "brand_submitted": brand_submitted,
        "brand_errors": brand_errors or {},
    }
    failed = errors or identity_errors or brand_errors
    return render_template("admin/settings.html", **page), 400 if failed else 200


def safe_next(raw: str | None) -> str | None:
    """A return address that stays inside this admin (a relative /admin path), else None."""
    if not raw or len(raw) > 2000 or not (raw == "/admin" or raw.startswith(("/admin/", "/admin?"))):
        return None
    if "\\" in raw or any(ord(c) < 33 or ord(c) == 127 for c in raw):
        return None  # browsers drop tabs and newlines and read a backslash as a slash: the path could leave us
    parts = urlsplit(raw)
    return raw if not parts.scheme and not parts.netloc else None


def _store_fields(
    ctx: AdminContext, session: Session, saved: dict[str, Any], submitted: dict[str, str] | None, errors: dict[str, str]
) -> list[service.FieldView]:
    now = effective.resolve(session, ctx.store)
    auto = effective.double_opt_in(ctx.store, {})
    views = []
    for view in service.field_views(saved, DEFAULT_SETTINGS, submitted=submitted, errors=errors):
        view = replace(view, current=f"{now[view.name].value} — {now[view.name].source_text}")
        if effective.is_store_only(view.name):
            # Empty means "automatic" (the country's default); only an explicit Yes or No is stored.
            value = view.value if submitted is not None else service.format_value(view.type, saved.get(view.name))
            view = replace(view, value=value, auto_label=f"Automatic: {auto.value} — {auto.source_text}")
        views.append(view)
    return views


def _override(scope: str, target: Product | Variant, product: Product) -> ResponseReturnValue:
    ctx = admin()
    session = db_session()
    raw_next = request.values.get("next")
    back = safe_next(raw_next)
    if raw_next and back is None:
        message = "The return address must be a page of this admin (a path starting with /admin/)."
        page = render_template(
            "admin/error.html",
            title="Not a page of this admin",
            message=message,
            back_url=admin_url(ctx, f"admin_settings.{scope}", **{f"{scope}_id": target.id}),
        )
        return page, 400
    submitted: dict[str, str] | None = None
    errors: dict[str, str] = {}
    endpoint = f"admin_settings.{scope}"
    if request.method == "POST":
        submitted = _form()
        result = service.save_override(session, runtime().jobs, ctx.store.id, scope, target, submitted)
        if not result.errors:
            session.commit()
            flash(_SAVED if result.changed else "Nothing changed.", "success")
            return redirect(back or admin_url(ctx, endpoint, **{f"{scope}_id": target.id}))
        session.rollback()
        errors = result.errors
    own = service.values_of(session, ctx.store.id, scope, target.id)
    base = service.inherited(session, ctx.store.id, scope, product.id)
    variant = target if isinstance(target, Variant) else None
    now = effective.resolve(session, ctx.store, product, variant)
    inherits = effective.resolve(
        session, ctx.store, product, variant, with_variant_layer=False, with_product_layer=scope == "variant"
    )
    views = service.field_views(own, base, submitted=submitted, errors=errors, override=True)
    variants = service.product_variants(session, product) if scope == "product" else []
    return (
        render_template(
            "admin/settings_override.html",
            scope=scope,
            target=target,
            product=product,
            variants=variants,
            endpoint=endpoint,
            fields=[_described(v, now[v.name], inherits[v.name]) for v in views],
            errors=errors,
            back=back,
        ),
        400 if errors else 200,
    )


def _described(view: service.FieldView, now: effective.Effective, inherit: effective.Effective) -> service.FieldView:
    # The placeholder and "Inherit" label show what the engine would use without this override (a supplier's lead
    # time included), not merely the layer below's stored value.
    return replace(
        view,
        current=f"{now.value} — {now.source_text}",
        inherited=service.format_value(view.type, inherit.raw),
        inherit_text=f"{inherit.value} from {inherit.origin}",
        store_only=effective.is_store_only(view.name),
    )


@bp.route("/settings/products/<int:product_id>", methods=["GET", "POST"])
@admin_required
def product(product_id: int) -> ResponseReturnValue:
    """A product's overrides, each showing the store-wide value it replaces."""
    found = service.find_product(db_session(), admin().store.id, product_id)
    if found is None:
        abort(404)
    return _override("product", found, found)


@bp.route("/settings/variants/<int:variant_id>", methods=["GET", "POST"])
@admin_required
def variant(variant_id: int) -> ResponseReturnValue:
    """A variant's overrides, each showing the product or store value it replaces."""
    session = db_session()
    found = service.find_variant(session, admin().store.id, variant_id)
    if found is None:
        abort(404)
    parent = service.find_product(session, admin().store.id, found.product_id)
    if parent is None:
        abort(404)
    return _override("variant", found, parent)
