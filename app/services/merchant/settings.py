"""Merchant settings: store-wide values with per-product and per-variant overrides, and the store's texts.

Stock settings live in ``store_settings`` rows (scope store | product | variant, ``values`` JSON) and are validated
by the domain (``apply_overrides``), field by field, against the layer they override, so a message can be shown next
to each field. The store row also carries ``sender_name``, ``reply_to``, ``instant_alerts`` and ``texts``
({language: {key: text}}), which the stock engine ignores. A saved change to a stock setting or a supplier lead time
marks the affected variants dirty: the recompute, then the storefront publish, follow after commit.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from email_validator import EmailNotValidError, validate_email
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.domain.settings import (
    DEFAULT_SETTINGS,
    SETTING_FIELDS,
    STORE_ONLY,
    StockSettings,
    apply_overrides,
    resolve_settings,
)
from app.domain.waitlist import consent
from app.models import Product, StoreSetting, Supplier, Variant
from app.queue import JobQueue
from app.services.stock.dirty import mark_dirty

LANGUAGES = ("en", "nl", "fr", "de")
TEXT_KEYS = ("only_n_left", "selling_fast", "back_soon", "consent")
TEXT_LABELS = {
    "only_n_left": "Low-stock badge",
    "selling_fast": "Selling-fast badge",
    "back_soon": "Back-soon label",
    "consent": "Consent text",
}
# key → (placeholders it must contain, placeholders it may contain, maximum length)
TEXT_RULES: dict[str, tuple[frozenset[str], frozenset[str], int]] = {
    "only_n_left": (frozenset({"count"}), frozenset({"count"}), 120),
    "selling_fast": (frozenset(), frozenset(), 120),
    "back_soon": (frozenset(), frozenset({"date"}), 200),
    "consent": (frozenset(), frozenset({"store"}), 1000),
}
DEFAULT_TEXTS: dict[str, dict[str, str]] = {
    "en": {"only_n_left": "Only [count] left", "selling_fast": "Selling fast", "back_soon": "Back soon"},
    "nl": {"only_n_left": "Nog [count] op voorraad", "selling_fast": "Gaat hard", "back_soon": "Binnenkort terug"},
    "fr": {
        "only_n_left": "Plus que [count] en stock",
        "selling_fast": "Se vend vite",
        "back_soon": "Bientôt de retour",
    },
    "de": {
        "only_n_left": "Nur noch [count] verfügbar",
        "selling_fast": "Verkauft sich schnell",
        "back_soon": "Bald wieder da",
    },
}
MAX_SENDER_NAME = 100
FIELD_NAMES = tuple(f.name for f in SETTING_FIELDS)
MANAGED_KEYS = frozenset({*FIELD_NAMES, "sender_name", "reply_to", "texts", "instant_alerts"})
_PLACEHOLDER = re.compile(r"\[([^\[\]]*)\]")
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")
_MAX_ID = 2**63 - 1


@dataclass(frozen=True, slots=True)
class FieldView:
    """One setting in a form: what the merchant typed or saved, what it inherits, and any error."""

    name: str
    type: str
    label: str
    help: str
    value: str
    inherited: str
    overridden: bool
    error: str | None = None
    current: str = ""  # the value the engine applies and its source, "45 days — Variant override"
    inherit_text: str = ""  # what ticking "Inherit" gives, "35 days from supplier Acme"
    store_only: bool = False  # shown without a control on product and variant forms
    auto_label: str = ""  # a store-form choice "automatic" (double opt-in's country default)


@dataclass(frozen=True, slots=True)
class SaveResult:
    """Per-field messages (nothing saved when any), and how many variants were marked for recompute."""

    errors: dict[str, str] = field(default_factory=dict)
    changed: bool = False
    dirty: int = 0


def default_text(lang: str, key: str, store_name: str) -> str:
    """The text a store shows when it has not set its own."""
    if key == "consent":
        return consent(lang, store_name).text
    return DEFAULT_TEXTS[lang][key]


def format_value(kind: str, value: object) -> str:
    """A setting value as the form shows it."""
    if value is None:
        return ""
    if kind == "bool":
        return "true" if value else "false"
    if isinstance(value, list | tuple):
        return ", ".join(_num(v) for v in value)
    return _num(value)


def _num(value: object) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def format_default(name: str) -> Any:
    """A default setting value in its stored (JSON) form."""
    value = getattr(DEFAULT_SETTINGS, name)
    return list(value) if isinstance(value, tuple) else value


def _sentence(message: str) -> str:
    message = message.replace("_", " ")
    return message[:1].upper() + message[1:] + ("" if message.endswith(".") else ".")


def _row(session: Session, store_id: int, scope: str, target_id: int | None = None) -> StoreSetting | None:
    q = select(StoreSetting).where(StoreSetting.store_id == store_id, StoreSetting.scope == scope)
    if scope == "product":
        q = q.where(StoreSetting.product_id == target_id)
    elif scope == "variant":
        q = q.where(StoreSetting.variant_id == target_id)
    return session.scalars(q.limit(1)).first()


def values_of(session: Session, store_id: int, scope: str, target_id: int | None = None) -> dict[str, Any]:
    """The saved values of one layer (empty when none)."""
    row = _row(session, store_id, scope, target_id)
    return dict(row.values or {}) if row is not None else {}


def find_product(session: Session, store_id: int, product_id: int) -> Product | None:
    """The store's live product with that id (another store's is None)."""
    if not 0 < product_id <= _MAX_ID:
        return None
    return session.scalars(
        select(Product).where(Product.id == product_id, Product.store_id == store_id, Product.deleted_at.is_(None))
    ).first()


def find_variant(session: Session, store_id: int, variant_id: int) -> Variant | None:
    """The store's live variant with that id (another store's is None)."""
    if not 0 < variant_id <= _MAX_ID:
        return None
    return session.scalars(
        select(Variant).where(Variant.id == variant_id, Variant.store_id == store_id, Variant.deleted_at.is_(None))
    ).first()


def product_variants(session: Session, product: Product) -> list[Variant]:
    """The product's live variants, for links to their own overrides."""
    return list(
        session.scalars(
            select(Variant)
            .where(Variant.product_id == product.id, Variant.store_id == product.store_id, Variant.deleted_at.is_(None))
            .order_by(Variant.position, Variant.id)
        )
    )


def inherited(session: Session, store_id: int, scope: str, product_id: int | None = None) -> StockSettings:
    """What a layer inherits: the defaults for the store, the store's values for a product, both for a variant."""
    if scope == "store":
        return DEFAULT_SETTINGS
    store = values_of(session, store_id, "store")
    product = values_of(session, store_id, "product", product_id) if scope == "variant" else None
    return resolve_settings(store, product, None)


def field_views(
    own: Mapping[str, Any],
    base: StockSettings,
    *,
    submitted: Mapping[str, str] | None = None,
    errors: Mapping[str, str] | None = None,
    override: bool = False,
) -> list[FieldView]:
    """Every setting for a form: its own value (or what was just submitted), the inherited value, its error."""
    views = []
    for f in SETTING_FIELDS:
        inherited_value = format_value(f.type, getattr(base, f.name))
        if submitted is not None:
            is_set = not (override and submitted.get(f"inherit_{f.name}"))
            value = submitted.get(f.name, "") if is_set else ""
        else:
            is_set = f.name in own
            value = format_value(f.type, own[f.name]) if is_set else ("" if override else inherited_value)
        views.append(
            FieldView(
                name=f.name,
                type=f.type,
                label=f.label,
                help=f.help,
                value=value,
                inherited=inherited_value,
                overridden=is_set,
                error=(errors or {}).get(f.name),
            )
        )
    return views


def _parse_settings(
    form: Mapping[str, str], base: StockSettings, *, override: bool
) -> tuple[dict[str, Any], dict[str, str]]:
    """The layer's new values from a form, validated against what it overrides."""
    candidate: dict[str, object] = {}
    for f in SETTING_FIELDS:
        if override and (form.get(f"inherit_{f.name}") or f.name in STORE_ONLY):
            continue  # a store-only setting has no override: the form shows it without a control
        raw = form.get(f.name)
        if raw is None:
            continue
        raw = raw.strip()
        if not raw and f.type != "hour":
            continue  # an empty box inherits (or, store-wide, takes the default)
        if not raw and not override:
            continue  # store-wide "no quiet hours" is the default
        candidate[f.name] = raw
    result, raw_errors = apply_overrides(base, candidate)
    errors = {name: _sentence(message) for name, message in raw_errors.items()}
    values: dict[str, Any] = {}
    for name in candidate:
        if name not in errors:
            value = getattr(result, name)
            values[name] = list(value) if isinstance(value, tuple) else value
    return values, errors


def _text_error(key: str, text: str) -> str | None:
    required, allowed, limit = TEXT_RULES[key]
    if len(text) > limit:
        return f"At most {limit} characters."
    if _CONTROL.search(text if key == "consent" else text.replace("\n", "\x0b")):
        return "Remove line breaks and control characters." if key != "consent" else "Remove control characters."
    if text.count("[") != text.count("]"):
        return "Unbalanced [ or ]: placeholders are written like [count]."
    found = set(_PLACEHOLDER.findall(text))
    unknown = sorted(found - allowed)
    if unknown:
        usable = ", ".join(f"[{p}]" for p in sorted(allowed)) or "none"
        return f"Unknown placeholder [{unknown[0]}]; placeholders you can use here: {usable}."
    missing = sorted(required - found)
    if missing:
        return f"Must contain [{missing[0]}], where the number goes."
    return None


def _parse_store_extras(form: Mapping[str, str]) -> tuple[dict[str, Any], dict[str, str]]:
    values: dict[str, Any] = {}
    errors: dict[str, str] = {}
    sender = (form.get("sender_name") or "").strip()
    if len(sender) > MAX_SENDER_NAME:
        errors["sender_name"] = f"At most {MAX_SENDER_NAME} characters."
    elif _CONTROL.search(sender) or any(c in sender for c in '\r\n<>"'):
        errors["sender_name"] = "Use letters, digits and spaces; no line breaks, quotes or angle brackets."
    elif sender:
        values["sender_name"] = sender
    reply_to = (form.get("reply_to") or "").strip()
    if reply_to:
        try:
            values["reply_to"] = validate_email(reply_to, check_deliverability=False).normalized
        except EmailNotValidError as exc:
            errors["reply_to"] = f"Enter a valid email address ({exc})."
    # Off unless chosen: only "on" is stored, like a setting left at its default.
    instant = (form.get("instant_alerts") or "false").strip()
    if instant == "true":
        values["instant_alerts"] = True
    elif instant != "false":
        errors["instant_alerts"] = "Choose Yes or No."
    texts: dict[str, dict[str, str]] = {}
    for lang in LANGUAGES:
        for key in TEXT_KEYS:
            name = f"text_{lang}_{key}"
            text = (form.get(name) or "").strip()
            if not text:
                continue
            error = _text_error(key, text)
            if error:
                errors[name] = error
            else:
                texts.setdefault(lang, {})[key] = text
    if texts:
        values["texts"] = texts
    return values, errors


def suppliers(session: Session, store_id: int) -> list[Supplier]:
    """The store's suppliers by name."""
    return list(session.scalars(select(Supplier).where(Supplier.store_id == store_id).order_by(Supplier.name)))


def _parse_suppliers(form: Mapping[str, str], rows: list[Supplier]) -> tuple[dict[int, int], dict[str, str]]:
    lead_times: dict[int, int] = {}
    errors: dict[str, str] = {}
    for supplier in rows:
        name = f"supplier_{supplier.id}_lead_time"
        raw = (form.get(name) or "").strip()
        if name not in form:
            continue
        if not raw:
            errors[name] = "Enter the supplier's lead time in days, 0 to 365."
            continue
        # The same rule as the store-wide lead time, from the domain.
        result, bad = apply_overrides(DEFAULT_SETTINGS, {"lead_time_days": raw})
        if bad:
            errors[name] = _sentence(bad["lead_time_days"])
        else:
            lead_times[supplier.id] = result.lead_time_days
    return lead_times, errors


def _upsert(session: Session, store_id: int, scope: str, values: dict[str, Any], target_id: int | None = None) -> bool:
    row = _row(session, store_id, scope, target_id)
    old = dict(row.values or {}) if row is not None else {}
    if old == values:
        return False
    if row is None:
        row = StoreSetting(
            store_id=store_id,
            scope=scope,
            product_id=target_id if scope == "product" else None,
            variant_id=target_id if scope == "variant" else None,
            values=values,
        )
        session.add(row)
    else:
        row.values = values
    session.flush()
    return True


def _store_variant_ids(session: Session, store_id: int, product_id: int | None = None) -> list[int]:
    q = select(Variant.id).where(Variant.store_id == store_id, Variant.deleted_at.is_(None))
    if product_id is not None:
        q = q.where(Variant.product_id == product_id)
    return [int(v) for v in session.scalars(q)]


def save_store(session: Session, jobs: JobQueue, store_id: int, form: Mapping[str, str]) -> SaveResult:
    """Validate and save the store-wide settings, texts and supplier lead times; nothing is saved on any error."""
    settings, errors = _parse_settings(form, DEFAULT_SETTINGS, override=False)
    extras, extra_errors = _parse_store_extras(form)
    rows = suppliers(session, store_id)
    lead_times, supplier_errors = _parse_suppliers(form, rows)
    errors.update(extra_errors)
    errors.update(supplier_errors)
    if errors:
        return SaveResult(errors=errors)
    old = values_of(session, store_id, "store")
    # A value equal to the default is not stored: the row says only what the merchant changed.
    # Double opt-in is the exception: its default depends on the store's country, so "No" on an EU store is a choice.
    settings = {k: v for k, v in settings.items() if v != format_default(k) or k in STORE_ONLY}
    # Keys this form does not manage (other admin sections may keep theirs here) are carried over.
    kept = {k: v for k, v in old.items() if k not in MANAGED_KEYS}
    changed = _upsert(session, store_id, "store", {**kept, **settings, **extras})
    stock_changed = {k: v for k, v in old.items() if k in FIELD_NAMES} != settings
    for supplier in rows:
        if supplier.id in lead_times and supplier.lead_time_days != lead_times[supplier.id]:
            supplier.lead_time_days = lead_times[supplier.id]
            changed = stock_changed = True
    dirty = 0
    if stock_changed:
        dirty = mark_dirty(session, jobs, store_id, _store_variant_ids(session, store_id), "settings")
    return SaveResult(changed=changed, dirty=dirty)


def save_override(
    session: Session, jobs: JobQueue, store_id: int, scope: str, target: Product | Variant, form: Mapping[str, str]
) -> SaveResult:
    """Validate and save a product's or variant's overrides (a ticked 'inherit' clears that field)."""
    product_id = target.id if isinstance(target, Product) else target.product_id
    base = inherited(session, store_id, scope, product_id)
    values, errors = _parse_settings(form, base, override=True)
    if errors:
        return SaveResult(errors=errors)
    if not _upsert(session, store_id, scope, values, target.id):
        return SaveResult()
    ids = [target.id] if isinstance(target, Variant) else _store_variant_ids(session, store_id, target.id)
    return SaveResult(changed=True, dirty=mark_dirty(session, jobs, store_id, ids, "settings"))


def texts_view(saved: Mapping[str, Any], store_name: str) -> list[tuple[str, list[tuple[str, str, str, str]]]]:
    """Per language: (key, label, the saved text or "", the default shown as the placeholder)."""
    raw = saved.get("texts")
    texts: dict[str, Any] = raw if isinstance(raw, dict) else {}
    out = []
    for lang in LANGUAGES:
        lang_raw = texts.get(lang)
        own: dict[str, Any] = lang_raw if isinstance(lang_raw, dict) else {}
        out.append(
            (
                lang,
                [
                    (key, TEXT_LABELS[key], str(own.get(key, "")), default_text(lang, key, store_name))
                    for key in TEXT_KEYS
                ],
            )
        )
    return out
