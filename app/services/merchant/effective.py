"""Effective settings as the merchant sees them: each value the engine uses and the layer it comes from.

Values and sources come from the domain's own resolution (``layer_settings``, ``planned_lead_time`` and
``double_opt_in_source``), the functions the recompute and the signup use, so a page never shows a value the engine
does not apply. Sources: the default, the store's setting, the supplier's lead time, a product or a variant override.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.domain.settings import SETTING_FIELDS, STORE_ONLY, SettingField, layer_settings, planned_lead_time
from app.domain.waitlist import double_opt_in_source
from app.models import Product, Store, StoreSetting, Supplier, Variant
from app.services.merchant.settings import find_product, find_variant, values_of

_UNITS = {
    "low_stock_threshold": "units",
    "min_inventory": "units",
    "days_on_hand_warning": "days",
    "lead_time_days": "days",
    "safety_days": "days",
    "cover_days": "days",
    "velocity_windows": "days",
    "min_sellable_days": "days",
    "selling_fast_days": "days",
    "pause_days_floor": "days",
    "attribution_days": "days",
    "wave_interval_minutes": "minutes",
    "selling_fast_min_velocity": "units/day",
    "high_demand_waitlist": "subscribers",
}


@dataclass(frozen=True, slots=True)
class Effective:
    """One setting as applied: the value in words, where it comes from, and the same as "from ..." for a label."""

    name: str
    label: str
    raw: object
    value: str
    source: str  # default | store | country | supplier | product | variant
    source_text: str  # "Default", "Store setting", "Supplier Acme (35 days)", ...
    origin: str  # "the default", "the store setting", "supplier Acme", ...


def human(f: SettingField, value: object) -> str:
    """A setting value in words, with its unit: "35 days", "Yes", "7, 28, 90 days", "none"."""
    if value is None:
        return "none"
    if f.type == "bool":
        return "Yes" if value else "No"
    if f.type == "hour":
        return f"{int(str(value)):02d}:00"
    text = ", ".join(_num(v) for v in value) if isinstance(value, list | tuple) else _num(value)
    unit = _UNITS.get(f.name)
    if unit == "days" and text == "1":
        unit = "day"
    return f"{text} {unit}" if unit else text


def _num(value: object) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _supplier(session: Session, store_id: int, product: Product | None, variant: Variant | None) -> Supplier | None:
    # The engine's rule: the variant's own supplier, else its product's (inputs.py joins COALESCE(v, p)).
    supplier_id = (variant.supplier_id if variant is not None else None) or (
        product.supplier_id if product is not None else None
    )
    if supplier_id is None:
        return None
    found = session.get(Supplier, supplier_id)
    return found if found is not None and found.store_id == store_id else None


_SOURCE_TEXT = {
    "default": ("Default", "the default"),
    "store": ("Store setting", "the store setting"),
    "product": ("Product override", "the product"),
    "variant": ("Variant override", "this variant"),
}


def _describe(f: SettingField, value: object, source: str, supplier: Supplier | None) -> Effective:
    if source == "supplier" and supplier is not None:
        text = f"Supplier {supplier.name} ({supplier.lead_time_days} days)"
        origin = f"supplier {supplier.name}"
    else:
        text, origin = _SOURCE_TEXT[source]
    return Effective(f.name, f.label, value, human(f, value), source, text, origin)


def resolve(
    session: Session,
    store: Store,
    product: Product | None = None,
    variant: Variant | None = None,
    *,
    with_variant_layer: bool = True,
    with_product_layer: bool = True,
) -> dict[str, Effective]:
    """Every setting's effective value and source for the store, a product or a variant, as the engine applies it
    (``with_*_layer`` False: what that layer inherits, for an override form's "Inherit: ..." label)."""
    store_values = values_of(session, store.id, "store")
    product_values: Mapping[str, Any] | None = None
    variant_values: Mapping[str, Any] | None = None
    if product is not None and with_product_layer:
        product_values = values_of(session, store.id, "product", product.id)
    if variant is not None and with_variant_layer:
        variant_values = values_of(session, store.id, "variant", variant.id)
    settings, sources = layer_settings(store_values, product_values, variant_values)
    supplier = _supplier(session, store.id, product, variant) if product is not None else None
    out: dict[str, Effective] = {}
    for f in SETTING_FIELDS:
        value: object = getattr(settings, f.name)
        source = sources[f.name]
        if f.name == "lead_time_days":
            value, source = planned_lead_time(
                settings, source, supplier.lead_time_days if supplier is not None else None
            )
        out[f.name] = _describe(f, value, source, supplier)
    out["double_opt_in"] = double_opt_in(store, store_values)
    return out


def double_opt_in(store: Store, store_values: Mapping[str, Any]) -> Effective:
    """Double opt-in as the signup decides it: the store's explicit choice, else on for EU/EEA stores."""
    f = next(x for x in SETTING_FIELDS if x.name == "double_opt_in")
    value, source = double_opt_in_source(store.country, store_values.get("double_opt_in"))
    country = (store.country or "").upper() or "not known"
    if source == "country":
        text = f"On by default for stores in the EU/EEA (store country: {country})"
        origin = "the EU/EEA default"
    elif source == "store":
        text, origin = "Store setting", "the store setting"
    else:
        text = f"Default for stores outside the EU/EEA (store country: {country})"
        origin = "the default"
    return Effective(f.name, f.label, value, human(f, value), source, text, origin)


def is_store_only(name: str) -> bool:
    """Whether a setting is read for the whole store only, so a product or variant override would change nothing."""
    return name in STORE_ONLY


def of_variant(session: Session, store: Store, variant_id: int) -> list[Effective]:
    """A live variant's effective settings, in form order (empty when the store has no such variant)."""
    variant = find_variant(session, store.id, variant_id)
    product = find_product(session, store.id, variant.product_id) if variant is not None else None
    if variant is None or product is None:
        return []
    return list(resolve(session, store, product, variant).values())


@dataclass(frozen=True, slots=True)
class OverrideRow:
    """A product or variant with its own settings, for the list on the store settings page."""

    scope: str
    target_id: int
    label: str
    fields: tuple[str, ...]


def overridden(session: Session, store_id: int, limit: int = 200) -> list[OverrideRow]:
    """The store's live products and variants that override a setting, products first, by title."""
    labels = {f.name: f.label for f in SETTING_FIELDS}
    rows = session.execute(
        select(
            StoreSetting.scope, StoreSetting.values, Product.id, Product.title, Variant.id, Variant.sku, Variant.title
        )
        .outerjoin(Variant, (Variant.id == StoreSetting.variant_id) & Variant.deleted_at.is_(None))
        .join(
            Product,
            (Product.id == func.coalesce(StoreSetting.product_id, Variant.product_id)) & Product.deleted_at.is_(None),
        )
        .where(StoreSetting.store_id == store_id, StoreSetting.scope.in_(("product", "variant")))
        .order_by(StoreSetting.scope, Product.title, Variant.position, Variant.id)
        .limit(limit)
    ).all()
    out = []
    for scope, values, pid, title, vid, sku, vtitle in rows:
        names = tuple(labels[k] for k in (values or {}) if k in labels and k not in STORE_ONLY)
        if not names:
            continue
        if scope == "product":
            out.append(OverrideRow("product", int(pid), str(title), names))
        else:
            label = f"{title} · {vtitle}" if vtitle else str(title)
            out.append(OverrideRow("variant", int(vid), f"{label} ({sku})" if sku else label, names))
    return out
