"""Merchant admin — settings, store-wide with per-product and per-variant overrides; a change recomputes.

The page's Store section shows the store's identity (name, admin email, timezone, currency, country, language), where
each value comes from, and takes the merchant's own values (app.services.merchant.identity decides what applies).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from flask import Blueprint, abort, flash, redirect, render_template, request
from flask.typing import ResponseReturnValue
from sqlalchemy.orm import Session

from app.domain.settings import DEFAULT_SETTINGS
from app.domain.store_identity import DEFAULTS, FIELDS, Source
from app.models import Product, Store, Variant
from app.platforms import registry
from app.services.merchant import identity as identity_service
from app.services.merchant import settings as service
from app.web.admin.auth import AdminContext, admin, admin_required
from app.web.admin.shell import admin_url
from app.web.deps import db_session, runtime

bp = Blueprint("admin_settings", __name__, url_prefix="/admin")

_SAVED = "Settings saved. Stock states and the storefront update within a minute."
_IDENTITY_SAVED = "Store details saved. Dates, prices and feeds use them from now on."

# Each identity field's label, help text, and the example its error message ends with.
_IDENTITY_LABELS: dict[str, tuple[str, str, str]] = {
    "name": ("Store name", "The name customers see in restock emails and on the storefront.", "any text"),
    "admin_email": (
        "Admin email",
        "Where digests and alerts go, and the only address admin sign-in links are sent to.",
        "an address such as owner@example.com",
    ),
    "timezone": (
        "Timezone",
        "An IANA timezone such as Europe/Amsterdam: it decides when a store day starts.",
        "an IANA name such as Europe/Amsterdam",
    ),
    "currency": ("Currency", "A three-letter ISO 4217 code such as EUR.", "a three-letter code such as EUR"),
    "country": ("Country", "A two-letter ISO 3166 code such as NL.", "a two-letter code such as NL"),
    "locale": (
        "Language",
        "A language code with an optional region, such as nl or pt-BR.",
        "a code such as nl or pt-BR",
    ),
}


@dataclass(frozen=True, slots=True)
class IdentityView:
    """One identity field as the Store section shows it."""

    name: str  # the form field: identity_<field>
    label: str
    help: str
    current: str  # "EUR — from WooCommerce"
    reported: str | None  # "WooCommerce says EUR", beside a value set here
    value: str  # the input: the merchant's own value (empty: the store's value applies)
    placeholder: str  # what applies when the input is empty
    overridden: bool
    reset_label: str  # "Use WooCommerce's value (EUR)"
    reset: bool  # that box is ticked
    error: str | None


def _identity_views(store: Store, submitted: dict[str, str] | None, errors: dict[str, str]) -> list[IdentityView]:
    platform = registry.of(store).label
    sources = {Source.MERCHANT: "set here", Source.PLATFORM: f"from {platform}", Source.DEFAULT: "default"}
    views = []
    for field, current in identity_service.identity(store).items():
        label, help_text, _ = _IDENTITY_LABELS[field]
        key = f"identity_{field}"
        overridden = current.source is Source.MERCHANT
        fallback = current.reported or (store.domain if field == "name" else DEFAULTS[field]) or ""
        views.append(
            IdentityView(
                name=key,
                label=label,
                help=help_text,
                current=f"{current.value or 'not set'} — {sources[current.source]}",
                reported=f"{platform} says {current.reported}" if overridden and current.reported else None,
                value=submitted.get(key, "")
                if submitted is not None
                else ((current.value or "") if overridden else ""),
                placeholder=fallback,
                overridden=overridden,
                reset_label=(
                    f"Use {platform}'s value ({current.reported})"
                    if current.reported
                    else f"Use the default ({fallback or 'none'})"
                ),
                reset=bool(submitted.get(f"{key}_reset")) if submitted is not None else False,
                error=errors.get(field),
            )
        )
    return views


def _identity_errors(found: dict[str, str]) -> dict[str, str]:
    # set_overrides says what is wrong ("not a valid timezone"); the page adds what would be right.
    return {
        field: f"{error[:1].upper()}{error[1:]}: use {_IDENTITY_LABELS[field][2]}." for field, error in found.items()
    }


def _identity_values(form: dict[str, str]) -> dict[str, str | None]:
    # Only fields the form carries are touched; an empty input or a ticked "use the store's value" clears the override.
    values: dict[str, str | None] = {}
    for field in FIELDS:
        key = f"identity_{field}"
        if key in form or f"{key}_reset" in form:
            values[field] = None if form.get(f"{key}_reset") else (form.get(key, "").strip() or None)
    return values


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
    """Set or clear the merchant's own store name, admin email, timezone, currency, country and language."""
    ctx = admin()
    session = db_session()
    submitted = _form()
    before = dict(ctx.store.identity_overrides or {})
    field_errors = identity_service.set_overrides(ctx.store, _identity_values(submitted))
    if field_errors:
        session.rollback()
        errors = _identity_errors(field_errors)
        return _settings_page(ctx, session, None, {}, identity_submitted=submitted, identity_errors=errors)
    changed = dict(ctx.store.identity_overrides or {}) != before
    session.commit()
    flash(_IDENTITY_SAVED if changed else "Nothing changed.", "success")
    return redirect(admin_url(ctx, "admin_settings.index", _anchor="store"))


def _settings_page(
    ctx: AdminContext,
    session: Session,
    submitted: dict[str, str] | None,
    errors: dict[str, str],
    *,
    identity_submitted: dict[str, str] | None = None,
    identity_errors: dict[str, str] | None = None,
) -> ResponseReturnValue:
    store_id = ctx.store.id
    saved = service.values_of(session, store_id, "store")
    texts = service.texts_view(saved, ctx.store.name or ctx.store.domain)
    identity_errors = identity_errors or {}
    page: dict[str, Any] = {
        "identity": _identity_views(ctx.store, identity_submitted, identity_errors),
        "identity_errors": identity_errors,
        "zones": sorted(identity_service.known_zones()),
        "fields": service.field_views(saved, DEFAULT_SETTINGS, submitted=submitted, errors=errors),
        "suppliers": service.suppliers(session, store_id),
        "texts": texts,
        "saved": saved,
        "submitted": submitted,
        "errors": errors,
    }
    return render_template("admin/settings.html", **page), 400 if errors or identity_errors else 200


def _override(scope: str, target: Product | Variant, product: Product) -> ResponseReturnValue:
    ctx = admin()
    session = db_session()
    submitted: dict[str, str] | None = None
    errors: dict[str, str] = {}
    endpoint = f"admin_settings.{scope}"
    if request.method == "POST":
        submitted = _form()
        result = service.save_override(session, runtime().jobs, ctx.store.id, scope, target, submitted)
        if not result.errors:
            session.commit()
            flash(_SAVED if result.changed else "Nothing changed.", "success")
            return redirect(admin_url(ctx, endpoint, **{f"{scope}_id": target.id}))
        session.rollback()
        errors = result.errors
    own = service.values_of(session, ctx.store.id, scope, target.id)
    base = service.inherited(session, ctx.store.id, scope, product.id)
    variants = service.product_variants(session, product) if scope == "product" else []
    return (
        render_template(
            "admin/settings_override.html",
            scope=scope,
            target=target,
            product=product,
            variants=variants,
            endpoint=endpoint,
            fields=service.field_views(own, base, submitted=submitted, errors=errors, override=True),
            errors=errors,
        ),
        400 if errors else 200,
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
