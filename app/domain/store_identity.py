"""The store's identity: name, admin email, timezone, currency, country and language, and where each comes from.

A platform reports what it knows about the store; the merchant may set any of it here instead. The effective value
of a field is the merchant's, else the platform's, else the default. A reported value that is not valid (an unknown
timezone, a currency that is not three letters) counts as not reported, so a platform's odd answer never replaces
a good value with a bad one.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any


class Source(StrEnum):
    """Where a field's effective value comes from."""

    MERCHANT = "merchant"  # set here, in BackSoon's settings
    PLATFORM = "platform"  # reported by the store's platform
    DEFAULT = "default"  # neither: BackSoon's default


FIELDS = ("name", "admin_email", "timezone", "currency", "country", "locale")
DEFAULTS: Mapping[str, str | None] = {
    "name": None,  # the store's domain stands in (see effective_identity)
    "admin_email": None,
    "timezone": "UTC",
    "currency": "USD",
    "country": None,
    "locale": "en",
}

_CURRENCY = re.compile(r"[A-Z]{3}")
_COUNTRY = re.compile(r"[A-Z]{2}")
_LOCALE = re.compile(r"([a-z]{2,3})(?:-([A-Z]{2}|[0-9]{3}))?")
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")


@dataclass(frozen=True, slots=True)
class IdentityField:
    """One field's effective value, its source, and the platform's value beside it."""

    name: str
    value: str | None
    source: Source
    reported: str | None


def normalize(field: str, raw: Any, known_zones: frozenset[str] | set[str]) -> str | None:
    """The field's value in BackSoon's form, or None when the raw value is missing or not valid for that field.

    Timezones must be one of ``known_zones`` (IANA names); currencies ISO 4217 codes and countries ISO 3166 alpha-2
    codes (upper-cased; a platform's own forms, like WooCommerce's "NL:NH", are mapped by its reader); locales a
    language with an optional region ("nl", "pt-BR"; "nl_NL" and "pt-br" are accepted); emails lower-cased.
    """
    if not isinstance(raw, str):
        return None
    text = raw.strip()
    if not text:
        return None
    if field == "timezone":
        return text if text in known_zones else None
    if field == "currency":
        code = text.upper()
        return code if _CURRENCY.fullmatch(code) else None
    if field == "country":
        code = text.upper()
        return code if _COUNTRY.fullmatch(code) else None
    if field == "locale":
        tag = text.replace("_", "-")
        language, _, region = tag.partition("-")
        candidate = language.lower() + (f"-{region.upper()}" if region else "")
        return candidate if _LOCALE.fullmatch(candidate) else None
    if field == "admin_email":
        email = text.lower()
        return email if _EMAIL.fullmatch(email) and len(email) <= 320 else None
    if field == "name":
        return text[:255]
    raise ValueError(f"unknown identity field {field!r}")


def default_value(field: str, domain: str) -> str | None:
    """What a field is when neither the merchant nor the platform gave a value (a store's name is its domain)."""
    return domain if field == "name" else DEFAULTS[field]


def effective_identity(
    reported: Mapping[str, Any] | None,
    overrides: Mapping[str, Any] | None,
    domain: str,
    known_zones: frozenset[str] | set[str],
) -> dict[str, IdentityField]:
    """Each field's effective value and source: the merchant's value, else the platform's, else the default."""
    out: dict[str, IdentityField] = {}
    for field in FIELDS:
        mine = normalize(field, (overrides or {}).get(field), known_zones)
        theirs = normalize(field, (reported or {}).get(field), known_zones)
        if mine is not None:
            out[field] = IdentityField(field, mine, Source.MERCHANT, theirs)
        elif theirs is not None:
            out[field] = IdentityField(field, theirs, Source.PLATFORM, theirs)
        else:
            out[field] = IdentityField(field, default_value(field, domain), Source.DEFAULT, None)
    return out
