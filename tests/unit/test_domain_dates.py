"""One date format per language, the same in Python, the widget and the WordPress plugin."""

from __future__ import annotations

from datetime import date

import pytest

from app.domain.dates import MONTHS, shopper_date

TODAY = date(2026, 12, 7)

# Shared with the widget's browser test and the plugin's PHP test: all three must spell these the same.
CASES = [
    ("en", date(2026, 12, 21), "21 December"),
    ("nl", date(2026, 12, 21), "21 december"),
    ("fr", date(2026, 12, 21), "21 décembre"),
    ("de", date(2026, 12, 21), "21. Dezember"),
    ("en", date(2027, 3, 1), "1 March 2027"),
    ("nl", date(2027, 3, 1), "1 maart 2027"),
    ("fr", date(2027, 8, 1), "1 août 2027"),
    ("de", date(2027, 3, 1), "1. März 2027"),
    ("es", date(2026, 12, 21), "21 December"),  # a language we do not speak: English
]


@pytest.mark.parametrize(("locale", "day", "expected"), CASES)
def test_shopper_date(locale: str, day: date, expected: str) -> None:
    assert shopper_date(day, locale, TODAY) == expected


def test_this_year_is_the_stores_today() -> None:
    # On 31 December at the store a date in January names its year; a day later it does not.
    assert shopper_date(date(2027, 1, 2), "en", date(2026, 12, 31)) == "2 January 2027"
    assert shopper_date(date(2027, 1, 2), "en", date(2027, 1, 1)) == "2 January"


def test_every_language_has_twelve_months() -> None:
    assert {lang: len(names) for lang, names in MONTHS.items()} == {"en": 12, "nl": 12, "fr": 12, "de": 12}
