"""What a landing page tells search engines and social networks: schema.org data, Open Graph/Twitter tags, language.

Structured data follows Google's "Product variant structured data": a product with several variants is a
``ProductGroup`` (``productGroupID``, ``variesBy``, ``hasVariant``) whose variants are ``Product``s, each with its
own ``Offer`` (sku, price, currency, availability and the URL that opens the store's page with that variant
chosen); a product with one variant is a plain ``Product`` with that one offer. Every URL is the merchant's: the
data describes the store's own product page, which is also the page's canonical address.

A variant's availability is its stock state's: in stock, low stock or untracked → InStock; backorder (sellable at
zero, shipped later) → BackOrder; sold out → OutOfStock. A variant not yet assessed takes the product's
(see app.web.shop.availability). The catalogue has no pre-orders, so PreOrder is never claimed. A variant that
cannot be bought now carries its restock date as availabilityDate when the engine has one (a dated purchase order,
or a lead time the merchant chose to show).

Languages: the page speaks one of the store's languages for which BackSoon has shopper texts (app.domain.waitlist
LOCALES); a store with none of those is served in English. The shopper's choice (``?lang=``, then Accept-Language)
wins among those; otherwise the store's own language.
"""

from __future__ import annotations

import html as html_lib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from app.domain.waitlist import LOCALES, pick_locale

SCHEMA = "https://schema.org/"

# schema.org properties Google lists for variesBy, keyed by the option names stores use for them.
VARIES_BY: Mapping[str, str] = {
    "size": "size",
    "maat": "size",
    "taille": "size",
    "größe": "size",
    "grösse": "size",
    "color": "color",
    "colour": "color",
    "kleur": "color",
    "couleur": "color",
    "farbe": "color",
    "material": "material",
    "materiaal": "material",
    "matière": "material",
    "pattern": "pattern",
    "patroon": "pattern",
    "motif": "pattern",
    "muster": "pattern",
}

# Open Graph's product:availability words (Meta's catalog microdata) for the schema.org short names.
OG_AVAILABILITY: Mapping[str, str] = {
    "InStock": "in stock",
    "BackOrder": "available for order",
    "OutOfStock": "out of stock",
}

_BUYABLE = ("in_stock", "low_stock", "untracked")


@dataclass(frozen=True, slots=True)
class VariantOffer:
    """One variant as the structured data describes it."""

    external_id: str
    sku: str
    title: str
    options: Mapping[str, str]
    price: str  # "89.00": a decimal point, no symbol
    status: str | None  # the stock state's status; None before the first assessment
    restock_eta: str | None  # ISO day: the availabilityDate of a variant that cannot be bought now
    image: str | None
    url: str


def variant_availability(status: str | None, product_kind: str) -> str:
    """The schema.org availability (short name) of a variant with that status; the product's when not assessed."""
    if status is None:
        return product_kind
    if status in _BUYABLE:
        return "InStock"
    return "BackOrder" if status == "backorder" else "OutOfStock"


def _offer(v: VariantOffer, currency: str, product_kind: str) -> dict[str, Any]:
    kind = variant_availability(v.status, product_kind)
    offer: dict[str, Any] = {
        "@type": "Offer",
        "url": v.url,
        "price": v.price,
        "priceCurrency": currency,
        "availability": SCHEMA + kind,
    }
    if kind != "InStock" and v.restock_eta:
        offer["availabilityDate"] = v.restock_eta
    return offer


def varies_by(variants: Sequence[VariantOffer]) -> list[str]:
    """The schema.org properties the variants differ in, from their option names (in the options' order)."""
    found: list[str] = []
    for v in variants:
        for name in v.options:
            prop = VARIES_BY.get(name.strip().lower())
            if prop is not None and SCHEMA + prop not in found:
                found.append(SCHEMA + prop)
    return found


def structured_data(
    *,
    product_id: str,
    name: str,
    description: str,
    image: str | None,
    url: str,
    currency: str,
    product_kind: str,
    variants: Sequence[VariantOffer],
) -> dict[str, Any]:
    """The schema.org document: a Product with one Offer, or a ProductGroup with a Product per variant."""
    if len(variants) == 1:
        only = variants[0]
        doc: dict[str, Any] = {"@context": "https://schema.org", "@type": "Product", "name": name, "url": url}
        if only.sku:
            doc["sku"] = only.sku
        if image or only.image:
            doc["image"] = only.image or image
        if description:
            doc["description"] = description
        doc["offers"] = _offer(only, currency, product_kind)
        return doc
    group: dict[str, Any] = {
        "@context": "https://schema.org",
        "@type": "ProductGroup",
        "name": name,
        "url": url,
        "productGroupID": product_id,
    }
    if image:
        group["image"] = image
    if description:
        group["description"] = description
    props = varies_by(variants)
    if props:
        group["variesBy"] = props
    members = []
    for v in variants:
        member: dict[str, Any] = {"@type": "Product", "name": f"{name} - {v.title}" if v.title else name}
        if v.sku:
            member["sku"] = v.sku
        if v.image or image:
            member["image"] = v.image or image
        for option, value in v.options.items():
            prop = VARIES_BY.get(option.strip().lower())
            if prop is not None:
                member[prop] = value
        member["offers"] = _offer(v, currency, product_kind)
        members.append(member)
    group["hasVariant"] = members
    return group


def social_tags(
    *,
    title: str,
    description: str,
    image: str | None,
    url: str,
    site_name: str,
    price: str,
    currency: str,
    availability: str,
) -> list[tuple[str, str]]:
    """Open Graph and Twitter card tags as (property or name, content), in the order the page prints them."""
    tags = [
        ("og:type", "product"),
        ("og:title", title),
        ("og:url", url),
        ("og:site_name", site_name),
    ]
    if description:
        tags.append(("og:description", description))
    if image:
        tags.append(("og:image", image))
        tags.append(("og:image:alt", title))
    tags += [
        ("product:price:amount", price),
        ("product:price:currency", currency),
        ("product:availability", OG_AVAILABILITY[availability]),
        ("twitter:card", "summary_large_image" if image else "summary"),
        ("twitter:title", title),
    ]
    if description:
        tags.append(("twitter:description", description))
    if image:
        tags.append(("twitter:image", image))
    return tags


def page_languages(store_languages: Iterable[str]) -> list[str]:
    """The languages the page can be served in for a store: its own that BackSoon has texts for, else English."""
    found: list[str] = []
    for tag in store_languages:
        lang = pick_locale([tag], default="")
        if lang and lang not in found:
            found.append(lang)
    return found or ["en"]


def choose_language(asked: str | None, accepted: Sequence[str], offered: Sequence[str]) -> str:
    """The page's language among ``offered`` (store's own first): ?lang=, then Accept-Language, then the first."""
    for tag in [asked, *accepted]:
        lang = pick_locale([tag], default="")
        if lang in offered:
            return lang
    return offered[0] if offered else LOCALES[0]


def plain_text(html: str, limit: int = 300) -> str:
    """A description for meta tags: markup dropped, whitespace collapsed, cut at a word near ``limit``."""
    text, depth = [], 0
    for ch in html:
        if ch == "<":
            depth += 1
        elif ch == ">" and depth:
            depth -= 1
            text.append(" ")
        elif not depth:
            text.append(ch)
    words = " ".join(html_lib.unescape("".join(text)).split())
    if len(words) <= limit:
        return words
    cut = words[:limit].rsplit(" ", 1)[0]
    return cut + "…"


# The widget's own label for the address field (widget/src/strings.json "email"), for the page without JavaScript.
EMAIL_LABEL: Mapping[str, str] = {
    "en": "Email address",
    "nl": "E-mailadres",
    "fr": "Adresse e-mail",
    "de": "E-Mail-Adresse",
}
