"""The store's look on the shopper pages: its primary colour and logo, checked, and the colours that follow from them.

The merchant sets both in the admin settings (stores.brand); a platform may report a logo (WooCommerce's site logo)
that applies while the merchant has set none. Shopify's Admin API has no brand field, so a Shopify store's brand is
the merchant's only. Text on the primary colour is white where white reaches WCAG AA (4.5:1), else black: one of the
two always does, whatever the colour, so any colour can be accepted.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

__all__ = [
    "NEUTRAL",
    "Brand",
    "check_brand",
    "contrast_ratio",
    "effective_brand",
    "logo_url",
    "parse_colour",
    "text_colour",
]

NEUTRAL = "#1f2933"
"""The primary colour of a store that has set none: dark slate, AA with white text."""

WHITE = "#ffffff"
BLACK = "#000000"
AA_NORMAL_TEXT = 4.5
MAX_URL_LENGTH = 2000

_HEX = re.compile(r"#?([0-9a-fA-F]{3}|[0-9a-fA-F]{6})")
_HOST = re.compile(r"[A-Za-z0-9.-]+")


def parse_colour(raw: Any) -> str | None:
    """A hex colour ("#1A73E8", "1a73e8", "#fa0") as "#rrggbb", or None when it is not one."""
    if not isinstance(raw, str):
        return None
    found = _HEX.fullmatch(raw.strip())
    if found is None:
        return None
    digits = found.group(1).lower()
    if len(digits) == 3:
        digits = "".join(ch * 2 for ch in digits)
    return f"#{digits}"


def _luminance(colour: str) -> float:
    # WCAG 2.x relative luminance of an sRGB colour.
    def channel(value: int) -> float:
        c = value / 255
        return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4

    r, g, b = (int(colour[i : i + 2], 16) for i in (1, 3, 5))
    return 0.2126 * channel(r) + 0.7152 * channel(g) + 0.0722 * channel(b)


def contrast_ratio(first: str, second: str) -> float:
    """WCAG contrast ratio of two "#rrggbb" colours, from 1 (same) to 21 (black on white)."""
    a, b = sorted((_luminance(first), _luminance(second)), reverse=True)
    return (a + 0.05) / (b + 0.05)


def text_colour(background: str) -> str:
    """White where it reaches WCAG AA on the background, else black (which then always does)."""
    # White first: on a mid blue both pass and shops expect white buttons; where white fails (luminance above
    # about 0.18), black is at least 4.67:1.
    return WHITE if contrast_ratio(background, WHITE) >= AA_NORMAL_TEXT else BLACK


def logo_url(raw: Any) -> str | None:
    """An https address with a host and no credentials, whitespace or quotes, as given; None when it is not one."""
    if not isinstance(raw, str):
        return None
    text = raw.strip()
    if not text or len(text) > MAX_URL_LENGTH or any(ch.isspace() or ch in "\"'<>\\" for ch in text):
        return None
    try:
        parts = urlsplit(text)
        port = parts.port  # raises on a port that is not a number, or out of range
    except ValueError:
        return None
    if port == 0:
        return None
    host = parts.hostname or ""
    if parts.scheme.lower() != "https" or not host or not _HOST.fullmatch(host) or "." not in host:
        return None
    if parts.username is not None or parts.password is not None:
        return None
    return text


def check_brand(values: Mapping[str, str | None]) -> tuple[dict[str, str], dict[str, str]]:
    """The merchant's form (primary_colour, logo_url; empty clears) as stored values, and errors by field.

    The stored dict holds only the fields given a value; nothing is to be saved when errors is not empty.
    """
    cleaned: dict[str, str] = {}
    errors: dict[str, str] = {}
    colour_raw = (values.get("primary_colour") or "").strip()
    if colour_raw:
        colour = parse_colour(colour_raw)
        if colour is None:
            errors["primary_colour"] = "Not a colour: use a hex colour such as #1a73e8."
        else:
            cleaned["primary_colour"] = colour
    logo_raw = (values.get("logo_url") or "").strip()
    if logo_raw:
        logo = logo_url(logo_raw)
        if logo is None:
            errors["logo_url"] = (
                "Not a logo address: use an https:// address of an image, such as https://shop.example/logo.png."
            )
        else:
            cleaned["logo_url"] = logo
    return cleaned, errors


@dataclass(frozen=True, slots=True)
class Brand:
    """What the shopper pages are drawn with."""

    primary: str  # "#rrggbb": the header band and buttons
    on_primary: str  # text on the primary colour: white or black
    link: str  # links on the white page: the primary colour when it reads well on white, else the neutral one
    logo_url: str | None
    logo_source: str | None  # "merchant" | "platform" | None
    custom_colour: bool  # the merchant set the colour (False: the neutral one)


def effective_brand(merchant: Mapping[str, Any] | None, reported_logo: Any) -> Brand:
    """The merchant's colour and logo, else the platform's logo, else the neutral look."""
    own = merchant or {}
    colour = parse_colour(own.get("primary_colour"))
    primary = colour or NEUTRAL
    mine, theirs = logo_url(own.get("logo_url")), logo_url(reported_logo)
    logo, source = (mine, "merchant") if mine else ((theirs, "platform") if theirs else (None, None))
    link = primary if contrast_ratio(primary, WHITE) >= AA_NORMAL_TEXT else NEUTRAL
    return Brand(
        primary=primary,
        on_primary=text_colour(primary),
        link=link,
        logo_url=logo,
        logo_source=source,
        custom_colour=colour is not None,
    )
