"""Waitlist rules: double-opt-in default, language picking, consent texts and versions, who may sign up."""

from __future__ import annotations

import hashlib

import pytest

from app.domain import waitlist as rules


@pytest.mark.parametrize(
    ("country", "setting", "expected"),
    [
        ("NL", None, True),
        ("de", None, True),
        ("NO", None, True),  # EEA, not EU
        ("GR", None, True),
        ("US", None, False),
        ("GB", None, False),
        (None, None, False),
        ("NL", False, False),  # the store said no
        ("NL", "false", False),
        ("US", True, True),
        ("US", "on", True),
        ("NL", "maybe", True),  # unreadable setting: the default applies
    ],
)
def test_double_opt_in_default(country: str | None, setting: object, expected: bool) -> None:
    assert rules.double_opt_in(country, setting) is expected


@pytest.mark.parametrize(
    ("country", "setting", "expected"),
    [
        ("NL", None, (True, "country")),
        ("US", None, (False, "default")),
        (None, None, (False, "default")),
        ("NL", False, (False, "store")),
        ("US", "on", (True, "store")),
        ("NL", "maybe", (True, "country")),  # unreadable: not the store's choice
    ],
)
def test_double_opt_in_says_why(country: str | None, setting: object, expected: tuple[bool, str]) -> None:
    assert rules.double_opt_in_source(country, setting) == expected


@pytest.mark.parametrize(
    ("candidates", "expected"),
    [
        (["nl-BE"], "nl"),
        (["fr_CA"], "fr"),
        (["DE"], "de"),
        (["es-ES", "de-AT"], "de"),
        (["es"], "en"),
        ([None, "", "x", "nl"], "nl"),
        (["nl\r\nX-Evil: 1"], "en"),
        ([], "en"),
    ],
)
def test_pick_locale(candidates: list[str | None], expected: str) -> None:
    assert rules.pick_locale(candidates) == expected


def test_accept_language_order_by_quality() -> None:
    assert rules.accept_language_tags("en;q=0.5, nl-BE, fr;q=0.8, de;q=0") == ["nl-BE", "fr", "en"]
    assert rules.accept_language_tags(None) == []
    assert rules.accept_language_tags("nl;q=abc, de") == ["de"]


def test_consent_text_and_version() -> None:
    en = rules.consent("en", "Acme")
    assert en.text == (
        "Email me once when this item is back in stock. Acme will use my address only for this notification, "
        "and I can unsubscribe at any time."
    )
    assert en.version == hashlib.sha256(en.text.encode("utf-8")).hexdigest()[:12]
    assert len(en.version) == 12
    nl = rules.consent("nl", "Acme")
    assert "Acme" in nl.text and nl.text.startswith("Mail me één keer")
    assert nl.version != en.version
    assert rules.consent("nl", "Other").version != nl.version  # the store name is part of what was agreed to
    assert rules.consent("es", "Acme") == en  # unknown language: English
    assert (
        rules.consent("de", "  ").text.startswith("Benachrichtigt mich") and "The shop" in rules.consent("de", "").text
    )


@pytest.mark.parametrize(
    ("status", "eta_known", "expected"),
    [
        ("out_of_stock", False, None),
        ("out_of_stock", True, None),
        ("backorder", False, None),
        ("backorder", True, "in_stock"),
        ("in_stock", False, "in_stock"),
        ("low_stock", False, "in_stock"),
        ("untracked", False, "in_stock"),
        (None, False, None),  # never computed: "coming soon"
    ],
)
def test_signup_refusal(status: str | None, eta_known: bool, expected: str | None) -> None:
    assert rules.signup_refusal(status, eta_known) == expected


@pytest.mark.parametrize(
    ("locale", "expected"),
    [
        ("en", "This item is available again — refresh the page to buy it."),
        ("nl", "Dit artikel is weer beschikbaar — vernieuw de pagina om het te kopen."),
        ("fr", "Cet article est de nouveau disponible — actualisez la page pour l'acheter."),
        ("de", "Dieser Artikel ist wieder verfügbar – lade die Seite neu, um ihn zu kaufen."),
        ("es", "This item is available again — refresh the page to buy it."),  # unknown language: English
    ],
)
def test_in_stock_refusal_tells_the_shopper_to_refresh_and_buy(locale: str, expected: str) -> None:
    assert rules.message(locale, "in_stock") == expected


def test_messages_per_language() -> None:
    assert rules.message("en", "subscribed") == "Thanks! We'll email you once when it's back in stock."
    assert rules.message("nl", "subscribed") == "Bedankt! We mailen je één keer zodra het weer op voorraad is."
    assert rules.message("xx", "invalid_email") == "Please enter a valid email address."
    assert rules.message("de", "unsubscribed_body", store="Acme", product="Hat") == (
        "Du bekommst keine Wieder-da-E-Mail von Acme für Hat mehr."
    )
    for locale in rules.LOCALES:
        assert rules.message(locale, "confirm_button")


def test_parse_bool() -> None:
    assert rules.parse_bool(True) is True
    assert rules.parse_bool(" Yes ") is True
    assert rules.parse_bool("0") is False
    assert rules.parse_bool(1) is None
    assert rules.parse_bool(None) is None


def test_custom_consent_text_names_the_store_and_is_versioned() -> None:
    agreed = rules.consent("de", "Laden", "  Ja, [store] darf mir schreiben.  ")
    assert agreed == rules.Consent(
        "Ja, Laden darf mir schreiben.", rules.consent_version("Ja, Laden darf mir schreiben.")
    )
    assert rules.consent("de", "Laden", "   ") == rules.consent("de", "Laden")
    assert rules.consent("de", "Laden", None).version != agreed.version


def test_saved_texts_for_one_language() -> None:
    values = {"texts": {"en": {"only_n_left": "Just [count]", "consent": " Ok ", "back_soon": "", "x": "y"}}}
    assert rules.saved_texts(values, "en") == {"only_n_left": "Just [count]", "consent": "Ok"}
    assert rules.saved_texts(values, "nl") == {}
    assert rules.saved_texts({"texts": {"en": "bad"}}, "en") == {}
    assert rules.saved_texts(None, "en") == {}


@pytest.mark.parametrize(
    ("given", "root"),
    [
        ("/nl", "/nl"),
        ("/en-ca", "/en-ca"),
        ("/EN-CA/", "/en-ca"),
        ("/pt-br", "/pt-br"),
        ("/", None),
        ("", None),
        (None, None),
        ("//evil.example", None),
        ("https://evil.example/nl", None),
        ("/nl/products/tee", None),
        ("/account/logout", None),
        ("/n\\l", None),
        ("nl", None),
        ("/nl?x=1", None),
    ],
)
def test_storefront_root_is_a_locale_root_or_nothing(given: str | None, root: str | None) -> None:
    assert rules.storefront_root(given) == root
