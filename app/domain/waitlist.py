"""Waitlist rules: double-opt-in default, shopper language, consent texts and versions, who may sign up, messages.

Pure: no Flask, no database. The services and web layers call these for every decision about a signup.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from app.domain.stock import Status

__all__ = [
    "CONFIRM_RESEND_AFTER_SECONDS",
    "DEFAULT_LOCALE",
    "EU_EEA",
    "LOCALES",
    "Consent",
    "accept_language_tags",
    "consent",
    "consent_version",
    "double_opt_in",
    "double_opt_in_source",
    "message",
    "parse_bool",
    "pick_locale",
    "saved_texts",
    "signup_refusal",
]

LOCALES = ("en", "nl", "fr", "de")
DEFAULT_LOCALE = "en"

# EU member states plus the EEA members Iceland, Liechtenstein and Norway (ISO 3166-1 alpha-2). Greece is "GR" in
# ISO but "EL" in EU publications; both are accepted.
EU_EEA = frozenset(
    {
        "AT", "BE", "BG", "HR", "CY", "CZ", "DK", "EE", "FI", "FR", "DE", "GR", "EL", "HU", "IE", "IT", "LV", "LT",
        "LU", "MT", "NL", "PL", "PT", "RO", "SK", "SI", "ES", "SE", "IS", "LI", "NO",
    }
)  # fmt: skip

# A second confirmation email for a still-pending signup is sent at most this often: a shopper who lost the first
# one can ask again, but a script cannot turn the form into a mail cannon aimed at somebody else's inbox.
CONFIRM_RESEND_AFTER_SECONDS = 600

_TRUE = frozenset({"true", "1", "yes", "on"})
_FALSE = frozenset({"false", "0", "no", "off"})
_TAG = re.compile(r"[A-Za-z]{2,3}(?:[-_][A-Za-z0-9]{1,8})*")


def parse_bool(value: object) -> bool | None:
    """A setting's boolean from JSON or a form ("true", "0", ...); None when absent or unreadable."""
    if isinstance(value, bool):
        return value
    if isinstance(value, str):
        lowered = value.strip().lower()
        if lowered in _TRUE:
            return True
        if lowered in _FALSE:
            return False
    return None


def double_opt_in_source(country: str | None, store_setting: object = None) -> tuple[bool, str]:
    """Whether signups need email confirmation, and why: "store" (its explicit setting), else "country" (on for
    EU/EEA stores) or "default" (off elsewhere)."""
    explicit = parse_bool(store_setting)
    if explicit is not None:
        return explicit, "store"
    if (country or "").strip().upper() in EU_EEA:
        return True, "country"
    return False, "default"


def double_opt_in(country: str | None, store_setting: object = None) -> bool:
    """Whether signups need email confirmation: the store's explicit setting, else on for EU/EEA stores."""
    return double_opt_in_source(country, store_setting)[0]


def pick_locale(candidates: Iterable[str | None], default: str = DEFAULT_LOCALE) -> str:
    """The first supported language among tags like "nl-BE", "fr_CA" or "DE"; ``default`` when none is."""
    for tag in candidates:
        if not tag or not _TAG.fullmatch(tag.strip()):
            continue
        language = re.split(r"[-_]", tag.strip(), maxsplit=1)[0].lower()
        if language in LOCALES:
            return language
    return default


def accept_language_tags(header: str | None) -> list[str]:
    """Language tags of an Accept-Language header, most preferred first (q=0 dropped)."""
    if not header:
        return []
    weighted: list[tuple[float, int, str]] = []
    for index, part in enumerate(header.split(",")[:20]):
        tag, _, params = part.strip().partition(";")
        quality = 1.0
        if params.strip().startswith("q="):
            try:
                quality = float(params.strip()[2:])
            except ValueError:
                continue
        if quality > 0 and tag:
            weighted.append((-quality, index, tag.strip()))
    return [tag for _, _, tag in sorted(weighted)]


_CONSENT_TEXTS: Mapping[str, str] = {
    "en": (
        "Email me once when this item is back in stock. {store} will use my address only for this "
        "notification, and I can unsubscribe at any time."
    ),
    "nl": (
        "Mail me één keer wanneer dit artikel weer op voorraad is. {store} gebruikt mijn adres alleen voor "
        "dit bericht en ik kan me altijd afmelden."
    ),
    "fr": (
        "Prévenez-moi une fois par e-mail quand cet article est de retour en stock. {store} n'utilisera mon "
        "adresse que pour cette notification et je peux me désinscrire à tout moment."
    ),
    "de": (
        "Benachrichtigt mich einmal per E-Mail, wenn dieser Artikel wieder vorrätig ist. {store} nutzt meine "
        "Adresse nur dafür, und ich kann mich jederzeit abmelden."
    ),
}


@dataclass(frozen=True, slots=True)
class Consent:
    """The consent text shown beside the signup form and its version (recorded with every signup)."""

    text: str
    version: str


def consent_version(text: str) -> str:
    """A short, stable fingerprint of a consent text: the first 12 hex digits of its sha256."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:12]


def consent(locale: str, store_name: str, custom: str | None = None) -> Consent:
    """The consent text in the shopper's language, naming the store, with its version.

    ``custom`` is the merchant's own text for that language (``[store]`` stands for the store's name); without one
    the default text is used. The version is the hash of the exact words shown, so changing the text makes forms
    rendered with the old one fail with ``consent_required`` rather than record an agreement to other words.
    """
    name = (store_name or "").strip() or "The shop"
    own = (custom or "").strip()
    if own:
        text = own.replace("[store]", name)
    else:
        text = _CONSENT_TEXTS.get(locale, _CONSENT_TEXTS[DEFAULT_LOCALE]).format(store=name)
    return Consent(text=text, version=consent_version(text))


# The storefront texts a merchant may replace, per language (placeholders are filled where the text is shown).
TEXT_KEYS = ("only_n_left", "selling_fast", "back_soon", "consent")


def saved_texts(store_values: object, locale: str) -> dict[str, str]:
    """The merchant's own texts for one language from the store's saved settings; unset or unreadable ones left out."""
    texts = store_values.get("texts") if isinstance(store_values, Mapping) else None
    own = texts.get(locale) if isinstance(texts, Mapping) else None
    if not isinstance(own, Mapping):
        return {}
    return {k: v.strip() for k in TEXT_KEYS if isinstance(v := own.get(k), str) and v.strip()}


# Statuses at which a variant can be bought right now; a waitlist for them would only delay the shopper.
_PURCHASABLE = frozenset({Status.IN_STOCK, Status.LOW_STOCK, Status.UNTRACKED})


def signup_refusal(status: str | None, restock_eta_known: bool) -> str | None:
    """Why a signup for a variant in this stock status is refused ("in_stock"), or None when it is allowed.

    Allowed: sold out (out_of_stock), a backorder with no expected date (the shopper cannot tell when it ships, so
    "tell me when it is really back" is a fair wish), and a variant with no computed state yet (a "coming soon"
    product that was never stocked: the merchant is measuring demand). Refused: anything that can be bought now,
    including a backorder with a known ship date, where the widget shows "Ships around <date>" instead of a form.
    A merchant expects the waitlist to hold people who could not buy, so the widget can answer "it's back: buy it
    now" when a cached page offered the form for a variant that has just been restocked.

    The page a shopper signs up from may be older than our state (a cached page) or newer (the platform's own page
    after a sale whose webhook we have not applied yet); nothing in a signup says which, so our state decides and
    the refusal tells the shopper what it says: available, refresh the page to buy (``message(locale, "in_stock")``).
    """
    if status is None or status == Status.OUT_OF_STOCK:
        return None
    if status == Status.BACKORDER:
        return "in_stock" if restock_eta_known else None
    if status in _PURCHASABLE:
        return "in_stock"
    return None


_MESSAGES: Mapping[str, Mapping[str, str]] = {
    "en": {
        "subscribed": "Thanks! We'll email you once when it's back in stock.",
        "confirm_sent": "Almost done: check your inbox and confirm your address to join the waitlist.",
        "in_stock": "This item is available again — refresh the page to buy it.",
        "invalid_email": "Please enter a valid email address.",
        "consent_required": "Please tick the box to agree to be emailed.",
        "consent_changed": "The consent text changed; please reload the page and agree again.",
        "consent_unversioned": (
            "We could not tell which consent text you agreed to; please reload the page and agree again."
        ),
        "confirm_title": "Confirm your email",
        "confirm_body": "Confirm that you want one email from {store} when {product} is back in stock.",
        "confirm_button": "Confirm",
        "confirmed_title": "You're on the list",
        "confirmed_body": "We'll email you once when {product} is back in stock at {store}.",
        "confirm_expired": "This confirmation link has expired. Sign up again on the product page for a new one.",
        "unsubscribe_title": "Unsubscribe",
        "unsubscribe_body": "Stop the back-in-stock email from {store} for {product}?",
        "unsubscribe_button": "Unsubscribe",
        "unsubscribed_title": "You're unsubscribed",
        "unsubscribed_body": "You will get no back-in-stock email from {store} for {product}.",
        "error_title": "Something is not right",
        "agree_title": "Agree to be emailed",
        "agree_button": "Email me when it's back",
        "already_confirmed_title": "You're already on the list for {product}",
        "already_confirmed_body": "Nothing more to do: we'll email you once when it's back in stock at {store}.",
        "already_unsubscribed_title": "You're already unsubscribed",
        "expired_title": "This link has expired",
        "link_unknown_title": "This link doesn't work",
        "link_unknown_body": (
            "It may have been cut short when it was copied. Open it again from the email, or sign up again on the "
            "product page."
        ),
        "back_to_store": "Back to {store}",
        "footer": "Restock alerts by BackSoon",
    },
    "nl": {
        "subscribed": "Bedankt! We mailen je één keer zodra het weer op voorraad is.",
        "confirm_sent": "Bijna klaar: bevestig je adres via de mail in je inbox om op de wachtlijst te komen.",
        "in_stock": "Dit artikel is weer beschikbaar — vernieuw de pagina om het te kopen.",
        "invalid_email": "Vul een geldig e-mailadres in.",
        "consent_required": "Vink het vakje aan om akkoord te gaan met de e-mail.",
        "consent_changed": "De toestemmingstekst is gewijzigd; laad de pagina opnieuw en ga opnieuw akkoord.",
        "consent_unversioned": (
            "We weten niet met welke toestemmingstekst je akkoord ging; laad de pagina opnieuw en ga opnieuw akkoord."
        ),
        "confirm_title": "Bevestig je e-mailadres",
        "confirm_body": "Bevestig dat je één e-mail van {store} wilt wanneer {product} weer op voorraad is.",
        "confirm_button": "Bevestigen",
        "confirmed_title": "Je staat op de lijst",
        "confirmed_body": "We mailen je één keer zodra {product} weer op voorraad is bij {store}.",
        "confirm_expired": "Deze bevestigingslink is verlopen. Meld je opnieuw aan op de productpagina.",
        "unsubscribe_title": "Afmelden",
        "unsubscribe_body": "De voorraadmail van {store} voor {product} stoppen?",
        "unsubscribe_button": "Afmelden",
        "unsubscribed_title": "Je bent afgemeld",
        "unsubscribed_body": "Je krijgt geen voorraadmail meer van {store} voor {product}.",
        "error_title": "Er klopt iets niet",
        "agree_title": "Ga akkoord met de e-mail",
        "agree_button": "Mail me als het terug is",
        "already_confirmed_title": "Je staat al op de lijst voor {product}",
        "already_confirmed_body": (
            "Je hoeft niets meer te doen: we mailen je één keer zodra het weer op voorraad is bij {store}."
        ),
        "already_unsubscribed_title": "Je bent al afgemeld",
        "expired_title": "Deze link is verlopen",
        "link_unknown_title": "Deze link werkt niet",
        "link_unknown_body": (
            "Misschien is hij bij het kopiëren afgebroken. Open hem opnieuw vanuit de e-mail, of meld je opnieuw aan "
            "op de productpagina."
        ),
        "back_to_store": "Terug naar {store}",
        "footer": "Voorraadmeldingen door BackSoon",
    },
    "fr": {
        "subscribed": "Merci ! Nous vous écrirons une fois dès que l'article sera de retour.",
        "confirm_sent": "Presque fini : confirmez votre adresse depuis votre boîte mail pour rejoindre la liste.",
        "in_stock": "Cet article est de nouveau disponible — actualisez la page pour l'acheter.",
        "invalid_email": "Veuillez saisir une adresse e-mail valide.",
        "consent_required": "Veuillez cocher la case pour accepter de recevoir l'e-mail.",
        "consent_changed": "Le texte de consentement a changé ; rechargez la page et acceptez à nouveau.",
        "consent_unversioned": (
            "Nous ne savons pas quel texte de consentement vous avez accepté ; rechargez la page et acceptez à nouveau."
        ),
        "confirm_title": "Confirmez votre adresse",
        "confirm_body": "Confirmez que vous souhaitez un e-mail de {store} quand {product} sera de retour en stock.",
        "confirm_button": "Confirmer",
        "confirmed_title": "Vous êtes sur la liste",
        "confirmed_body": "Nous vous écrirons une fois quand {product} sera de retour chez {store}.",
        "confirm_expired": "Ce lien de confirmation a expiré. Inscrivez-vous à nouveau sur la page du produit.",
        "unsubscribe_title": "Se désinscrire",
        "unsubscribe_body": "Arrêter l'e-mail de retour en stock de {store} pour {product} ?",
        "unsubscribe_button": "Se désinscrire",
        "unsubscribed_title": "Vous êtes désinscrit",
        "unsubscribed_body": "Vous ne recevrez plus d'e-mail de retour en stock de {store} pour {product}.",
        "error_title": "Un problème est survenu",
        "agree_title": "Acceptez d'être prévenu par e-mail",
        "agree_button": "Prévenez-moi de son retour",
        "already_confirmed_title": "Vous êtes déjà sur la liste pour {product}",
        "already_confirmed_body": "Rien d'autre à faire : nous vous écrirons une fois dès son retour chez {store}.",
        "already_unsubscribed_title": "Vous êtes déjà désinscrit",
        "expired_title": "Ce lien a expiré",
        "link_unknown_title": "Ce lien ne fonctionne pas",
        "link_unknown_body": (
            "Il a peut-être été coupé lors de la copie. Ouvrez-le à nouveau depuis l'e-mail, ou inscrivez-vous à "
            "nouveau sur la page du produit."
        ),
        "back_to_store": "Retour à {store}",
        "footer": "Alertes de réassort par BackSoon",
    },
    "de": {
        "subscribed": "Danke! Wir schreiben dir einmal, sobald der Artikel wieder da ist.",
        "confirm_sent": "Fast geschafft: Bestätige deine Adresse über die E-Mail in deinem Postfach.",
        "in_stock": "Dieser Artikel ist wieder verfügbar – lade die Seite neu, um ihn zu kaufen.",
        "invalid_email": "Bitte gib eine gültige E-Mail-Adresse ein.",
        "consent_required": "Bitte setze das Häkchen, um der E-Mail zuzustimmen.",
        "consent_changed": "Der Einwilligungstext hat sich geändert; lade die Seite neu und stimme erneut zu.",
        "consent_unversioned": (
            "Wir wissen nicht, welchem Einwilligungstext du zugestimmt hast; lade die Seite neu und stimme erneut zu."
        ),
        "confirm_title": "E-Mail-Adresse bestätigen",
        "confirm_body": "Bestätige, dass du eine E-Mail von {store} möchtest, sobald {product} wieder vorrätig ist.",
        "confirm_button": "Bestätigen",
        "confirmed_title": "Du stehst auf der Liste",
        "confirmed_body": "Wir schreiben dir einmal, sobald {product} bei {store} wieder vorrätig ist.",
        "confirm_expired": "Dieser Bestätigungslink ist abgelaufen. Melde dich auf der Produktseite erneut an.",
        "unsubscribe_title": "Abmelden",
        "unsubscribe_body": "Die Wieder-da-E-Mail von {store} für {product} abbestellen?",
        "unsubscribe_button": "Abmelden",
        "unsubscribed_title": "Du bist abgemeldet",
        "unsubscribed_body": "Du bekommst keine Wieder-da-E-Mail von {store} für {product} mehr.",
        "error_title": "Etwas stimmt nicht",
        "agree_title": "Der E-Mail zustimmen",
        "agree_button": "Benachrichtigen, wenn verfügbar",
        "already_confirmed_title": "Du stehst schon auf der Liste für {product}",
        "already_confirmed_body": (
            "Du musst nichts mehr tun: Wir schreiben dir einmal, sobald es bei {store} wieder da ist."
        ),
        "already_unsubscribed_title": "Du bist schon abgemeldet",
        "expired_title": "Dieser Link ist abgelaufen",
        "link_unknown_title": "Dieser Link funktioniert nicht",
        "link_unknown_body": (
            "Vielleicht wurde er beim Kopieren abgeschnitten. Öffne ihn erneut aus der E-Mail oder melde dich auf der "
            "Produktseite erneut an."
        ),
        "back_to_store": "Zurück zu {store}",
        "footer": "Wieder-da-Benachrichtigungen von BackSoon",
    },
}


def message(locale: str, key: str, **values: str) -> str:
    """A shopper-facing text in the given language (English when the language is unknown)."""
    texts = _MESSAGES.get(locale, _MESSAGES[DEFAULT_LOCALE])
    text = texts.get(key, _MESSAGES[DEFAULT_LOCALE][key])
    return text.format(**values) if values else text


def _check_catalogue() -> None:
    # Fail at import, not in front of a shopper, when a language lacks a text.
    keys = set(_MESSAGES[DEFAULT_LOCALE])
    for locale in LOCALES:
        if set(_MESSAGES[locale]) != keys or locale not in _CONSENT_TEXTS:
            raise RuntimeError(f"waitlist texts for {locale!r} are incomplete")


_check_catalogue()


_STOREFRONT_ROOT = re.compile(r"/[a-z]{2,3}(?:-[a-z0-9]{2,4})?")


def storefront_root(value: str | None) -> str | None:
    """A storefront's locale or market root ("/nl", "/en-ca") as Shopify's routes.root_url gives it, or None for
    the primary root ("/") and for anything else: it only ever becomes a path prefix on the shop's own domain."""
    if not value:
        return None
    root = value.strip().lower().rstrip("/")
    return root if _STOREFRONT_ROOT.fullmatch(root) else None
