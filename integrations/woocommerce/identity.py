"""What a WooCommerce store says about itself: name, timezone, currency, country, language and admin email.

Where each comes from (tests/fixtures/woocommerce/live-9.4.3/README.md, "1. Store identity" and "Surprises"):

- name, timezone: WordPress's public site index ``GET /wp-json/`` (``name`` is the blogname, ``timezone_string``
  the zone). No wc/v3 endpoint has the timezone (``system_status``' ``default_timezone`` is PHP's, always UTC) and a
  WooCommerce key cannot read wp/v2, so the index is the only source; it needs no key.
- logo: the same index's ``site_logo`` (WordPress 5.8+, WP_REST_Server::add_site_logo_to_index): the attachment id
  of the theme's custom logo, 0 for none. Its address is the public attachment's ``source_url``
  (``GET /wp-json/wp/v2/media/<id>``, no key either). A store without a logo reports "" (none); a failed media
  read, or an index without ``site_logo``, reports nothing, so a logo read before is kept.
- currency, country: ``wc/v3/settings/general`` (``woocommerce_currency``; ``woocommerce_default_country`` is
  "NL" or "NL:NH", country:state).
- admin email: the first administrator's ``email`` from ``wc/v3/customers?role=administrator``, else
  ``wc/v3/settings/email``'s ``woocommerce_email_from_address`` (its value, else its default, which WooCommerce
  takes from WordPress's admin_email).
- language: ``wc/v3/system_status``' ``environment.language``, WordPress's locale ("nl_NL"); from the same answer,
  how prices are written: ``settings``' ``currency_symbol`` (an HTML entity, "&euro;"), ``currency_position``,
  ``thousand_separator``, ``decimal_separator`` and ``number_of_decimals``.

Each source may fail on its own (a 401 on customers for a key whose user may not list users, a site index a
security plugin turns into HTML): what the others said is still returned and the rest is None. Only when the key
is refused everywhere it was used, or nothing answered at all, does the read raise, with the client's error.
"""

from __future__ import annotations

import html
import logging
import re
from collections.abc import Callable, Mapping
from typing import Any

from integrations.base import AuthRevoked, PlatformError, StoreInfo
from integrations.woocommerce.client import WooClient

__all__ = ["MEDIA_FIELDS", "SITE_INDEX_FIELDS", "SYSTEM_STATUS_FIELDS", "money_format", "read_store_info"]

log = logging.getLogger(__name__)

SITE_INDEX_FIELDS = ("name", "gmt_offset", "timezone_string", "site_logo")
"""What is asked of the site index (the whole index is 1.3 MB, nearly all of it the routes map)."""

SYSTEM_STATUS_FIELDS = (
    "environment.language",
    "settings.currency_symbol",
    "settings.currency_position",
    "settings.thousand_separator",
    "settings.decimal_separator",
    "settings.number_of_decimals",
)
"""What is asked of system_status: the language and how the store writes prices."""

MEDIA_FIELDS = ("id", "media_type", "source_url")
"""What is asked of the site logo's attachment."""

_REGION = re.compile(r"[A-Za-z]{2}|[0-9]{3}")

Values = dict[str, Any]


def read_store_info(client: WooClient) -> StoreInfo:
    """The store's name, timezone, currency, country, language and admin email, None where it did not say."""
    values: Values = {}
    failures: dict[str, PlatformError] = {}
    signed: list[str] = []
    sources: tuple[tuple[str, bool, Callable[[WooClient], Values]], ...] = (
        ("site index", False, _site_index),
        ("settings/general", True, _general),
        ("customers", True, _administrator),
        ("settings/email", True, _email_setting),
        ("system_status", True, _system_status),
    )
    for name, needs_key, source in sources:
        if name == "settings/email" and values.get("email"):
            continue  # the administrator's own address is better than the address store emails are sent from
        if needs_key:
            signed.append(name)
        try:
            found = source(client)
        except PlatformError as exc:
            log.info("WooCommerce store %s: reading its %s failed: %s", client.store_url, name, exc)
            failures[name] = exc
            continue
        values.update({k: v for k, v in found.items() if v and not values.get(k)})
    refused = [failures[n] for n in signed if isinstance(failures.get(n), AuthRevoked)]
    if refused and len(refused) == len(signed):
        raise refused[0]  # the key is refused: the caller's usual handling (disconnect) applies
    if len(failures) == len(signed) + 1:
        raise next(iter(failures.values()))  # nothing answered: nothing learned, try again later
    return StoreInfo(
        logo_url=_site_logo(client, values.get("logo_id")),
        name=values.get("name"),
        domain=client.store_url,
        timezone=values.get("timezone"),
        currency=values.get("currency"),
        locale=values.get("locale"),
        country=values.get("country"),
        email=values.get("email"),
        money_format=values.get("money_format"),
    )


def _text(value: Any) -> str | None:
    if not isinstance(value, str):
        return None
    return value.strip() or None


def _settings(body: Any) -> dict[str, Mapping[str, Any]]:
    """A settings group's list of ``{id, value, …}`` by id."""
    items = body if isinstance(body, list) else []
    return {str(item["id"]): item for item in items if isinstance(item, dict) and "id" in item}


def _site_index(client: WooClient) -> Values:
    index = client.get_site_index(SITE_INDEX_FIELDS)
    name = _text(index.get("name"))
    # A manual offset ("UTC+1") leaves timezone_string "" and gmt_offset a bare number, the offset of today: it
    # names no zone and no daylight-saving rule, so the timezone stays unknown rather than a zone made up from it.
    logo = index.get("site_logo")
    return {
        # WordPress keeps the blogname HTML-escaped ("Tom &amp; Jerry"), and the index serves it as stored.
        "name": html.unescape(name) if name else None,
        "timezone": _text(index.get("timezone_string")),
        # As text, so "0" (no logo) survives the merge that drops empty values.
        "logo_id": str(logo) if isinstance(logo, int) and not isinstance(logo, bool) and logo >= 0 else None,
    }


def _site_logo(client: WooClient, logo_id: str | None) -> str | None:
    """The site logo's address, "" for a store without one, None when it could not be told."""
    if logo_id is None:
        return None
    if logo_id == "0":
        return ""
    try:
        media = client.get_public(f"wp/v2/media/{logo_id}", MEDIA_FIELDS)
    except PlatformError as exc:
        log.info("WooCommerce store %s: reading its site logo failed: %s", client.store_url, exc)
        return None
    if not isinstance(media, dict) or media.get("media_type") != "image":
        return None
    return _text(media.get("source_url"))


def _general(client: WooClient) -> Values:
    settings = _settings(client.get("settings/general", {"_fields": ("id", "value")}))
    country = _text(settings.get("woocommerce_default_country", {}).get("value"))
    return {
        "currency": _text(settings.get("woocommerce_currency", {}).get("value")),
        "country": country.split(":", 1)[0] if country else None,  # "NL:NH" is country:state
    }


def _administrator(client: WooClient) -> Values:
    admins = client.get(
        "customers",
        {"role": "administrator", "orderby": "id", "order": "asc", "per_page": 1, "_fields": ("id", "email")},
    )
    first = admins[0] if isinstance(admins, list) and admins and isinstance(admins[0], dict) else {}
    return {"email": _text(first.get("email"))}


def _email_setting(client: WooClient) -> Values:
    sender = _settings(client.get("settings/email", {"_fields": ("id", "value", "default")})).get(
        "woocommerce_email_from_address", {}
    )
    return {"email": _text(sender.get("value")) or _text(sender.get("default"))}


def _system_status(client: WooClient) -> Values:
    # Only these fields: the full report also runs the store's outbound HTTP self-tests (up to 10 s each).
    status = client.get("system_status", {"_fields": SYSTEM_STATUS_FIELDS})
    environment = status.get("environment") if isinstance(status, dict) else None
    settings = status.get("settings") if isinstance(status, dict) else None
    return {
        "locale": _wp_locale(environment.get("language") if isinstance(environment, dict) else None),
        "money_format": money_format(settings) if isinstance(settings, Mapping) else None,
    }


# WooCommerce's currency position: where the symbol goes around the amount.
_POSITIONS: Mapping[str, str] = {
    "left": "{symbol}{amount}",
    "right": "{amount}{symbol}",
    "left_space": "{symbol}\u00a0{amount}",
    "right_space": "{amount}\u00a0{symbol}",
}


def money_format(settings: Mapping[str, Any]) -> dict[str, Any] | None:
    """system_status' price settings as {pattern, thousands, decimal, decimals}; None when one is missing."""
    layout = _POSITIONS.get(str(settings.get("currency_position")))
    symbol = settings.get("currency_symbol")
    thousands, decimal = settings.get("thousand_separator"), settings.get("decimal_separator")
    decimals = settings.get("number_of_decimals")
    if layout is None or not isinstance(symbol, str) or not symbol.strip():
        return None
    if not isinstance(thousands, str) or not isinstance(decimal, str):
        return None
    if isinstance(decimals, str) and decimals.strip().isdigit():
        decimals = int(decimals)
    if not isinstance(decimals, int) or isinstance(decimals, bool):
        return None
    # The symbol is an HTML entity ("&euro;"), as WooCommerce prints it into pages.
    pattern = layout.replace("{symbol}", html.unescape(symbol).strip())
    return {"pattern": pattern, "thousands": thousands, "decimal": decimal, "decimals": decimals}


def _wp_locale(value: Any) -> str | None:
    """WordPress's locale as language_REGION: "de_DE_formal" → "de_DE", "nl_NL" stays, "ca" stays."""
    text = _text(value)
    if text is None:
        return None
    language, _, rest = text.partition("_")
    region = rest.split("_", 1)[0]
    return f"{language}_{region}" if _REGION.fullmatch(region) else language
