"""The store's identity as BackSoon uses it: what the platform reports, what the merchant set here, and the result.

Platforms call ``record_reported`` whenever they read the store's own settings (at install or connect, on Shopify's
shop/update, on WooCommerce's daily re-read); the settings page shows ``identity_views`` and calls
``set_overrides`` with ``form_values``. Both leave the store's columns (name, admin_email, timezone, currency,
country, locale) at the effective values that app.domain.store_identity decides, which is what every email, digest,
date, price and feed reads. ``format_amount`` writes an amount the way the store does, from the money format its
platform reported.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from app.domain import money
from app.domain.store_identity import FIELDS, IdentityField, Source, default_value, effective_identity, normalize
from app.models import Store

_HOST = re.compile(r"(?=.{1,253}$)[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)+")


@functools.cache
def known_zones() -> frozenset[str]:
    """Every IANA timezone name this machine knows (read once: scanning tzdata is slow)."""
    return frozenset(available_timezones())


def identity(store: Store) -> dict[str, IdentityField]:
    """Each identity field of the store: its effective value, where it comes from, and the platform's value."""
    return effective_identity(store.reported_identity, store.identity_overrides, store.domain, known_zones())


def record_reported(store: Store, reported: Mapping[str, Any], now: datetime) -> list[str]:
    """Keep what the platform reports about the store and apply it; the fields whose effective value changed.

    Fields the platform did not report this time keep their last reported value (a partial read, e.g. Shopify's
    shop/update without a locale, must not erase the rest).
    """
    merged = dict(store.reported_identity or {})
    merged.update({k: v for k, v in reported.items() if k in FIELDS and v is not None})
    if "logo_url" in reported and reported["logo_url"] is not None:
        # "" is an answer (the store has no logo) and clears an old one; None is no answer and keeps it.
        merged["logo_url"] = reported["logo_url"]
    languages = [normalize("locale", raw, set()) for raw in reported.get("languages") or ()]
    if reported.get("languages") is not None:
        merged["languages"] = [tag for tag in dict.fromkeys(languages) if tag is not None]
    host = reported.get("primary_domain")
    if isinstance(host, str) and _HOST.fullmatch(host.strip().lower()):
        merged["primary_domain"] = host.strip().lower()
    written = money.from_dict(reported.get("money_format"))
    if written is not None:
        merged["money_format"] = written.as_dict()
    store.reported_identity = merged
    store.identity_read_at = now
    return _apply(store)


def languages(store: Store) -> list[str]:
    """The store's languages, its own language first, then the others its platform says it is published in."""
    reported = (store.reported_identity or {}).get("languages")
    others = [tag for tag in reported if isinstance(tag, str)] if isinstance(reported, list) else []
    return list(dict.fromkeys([store.locale or "en", *others]))


def primary_host(store: Store) -> str | None:
    """The host shoppers reach the store on (Shopify's primary domain), when the platform reported one."""
    host = (store.reported_identity or {}).get("primary_domain")
    return host if isinstance(host, str) and _HOST.fullmatch(host) else None


def money_format(store: Store) -> money.MoneyFormat | None:
    """How the store writes amounts of its currency, None when unknown (or the merchant set another currency)."""
    reported = store.reported_identity or {}
    if reported.get("currency") != store.currency:
        return None  # the store's format is for the currency it reported, not for one set here
    return money.from_dict(reported.get("money_format"))


def format_amount(store: Store, amount: Decimal | float | int) -> str:
    """An amount of the store's currency as the store writes it ("€ 1.234,56"), else "1,234.56 EUR"."""
    return money.format_money(amount, money_format(store), store.currency)


def local_time(store: Store, moment: datetime | str | None) -> str:
    """A moment as the store's clock showed it, with the zone: "2026-12-07 17:36 CET" ("" for none)."""
    if moment is None or moment == "":
        return ""
    when = datetime.fromisoformat(moment) if isinstance(moment, str) else moment
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)  # stored times are UTC
    try:
        zone: tzinfo = ZoneInfo(store.timezone)
    except (ZoneInfoNotFoundError, ValueError):
        zone = UTC
    local = when.astimezone(zone)
    return f"{local:%Y-%m-%d %H:%M} {local.tzname() or ''}".rstrip()


def set_overrides(store: Store, values: Mapping[str, str | None]) -> dict[str, str]:
    """Set (a value) or clear (None or "") the merchant's own values; errors by field for values that are not valid.

    Nothing is changed when any value is not valid.
    """
    zones = known_zones()
    errors = {
        k: f"not a valid {k.replace('_', ' ')}"
        for k, v in values.items()
        if k in FIELDS and v and normalize(k, v, zones) is None
    }
    unknown = sorted(k for k in values if k not in FIELDS)
    if unknown:
        raise ValueError(f"unknown identity fields: {', '.join(unknown)}")
    if errors:
        return errors
    overrides = dict(store.identity_overrides or {})
    for k, v in values.items():
        if v:
            overrides[k] = normalize(k, v, zones)
        else:
            overrides.pop(k, None)
    store.identity_overrides = overrides or None
    _apply(store)
    return {}


def _apply(store: Store) -> list[str]:
    changed = []
    for field, value in identity(store).items():
        column = field
        if getattr(store, column) != value.value:
            setattr(store, column, value.value)
            changed.append(field)
    return changed


# Each identity field's label, help text, and the example its error message ends with.
LABELS: dict[str, tuple[str, str, str]] = {
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


def identity_views(
    store: Store, platform: str, submitted: Mapping[str, str] | None, errors: Mapping[str, str]
) -> list[IdentityView]:
    """Each identity field for the settings form: value and source, the platform's value, the input, its error.

    ``platform`` names the store's platform in a sentence ("from WooCommerce"); ``submitted`` is the form just
    refused, whose values are shown again.
    """
    sources = {Source.MERCHANT: "set here", Source.PLATFORM: f"from {platform}", Source.DEFAULT: "default"}
    views = []
    for field, current in identity(store).items():
        label, help_text, _ = LABELS[field]
        key = f"identity_{field}"
        overridden = current.source is Source.MERCHANT
        fallback = current.reported or default_value(field, store.domain) or ""
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


def error_messages(found: Mapping[str, str]) -> dict[str, str]:
    """set_overrides' errors ("not a valid timezone") as the form shows them, with what would be right."""
    return {field: f"{error[:1].upper()}{error[1:]}: use {LABELS[field][2]}." for field, error in found.items()}


def form_values(form: Mapping[str, str]) -> dict[str, str | None]:
    """The overrides a submitted form asks for: a value, or None to clear (an empty input or a ticked reset)."""
    # Only fields the form carries are touched.
    values: dict[str, str | None] = {}
    for field in FIELDS:
        key = f"identity_{field}"
        if key in form or f"{key}_reset" in form:
            values[field] = None if form.get(f"{key}_reset") else (form.get(key, "").strip() or None)
    return values
