"""The one way a shopper reads a date: day and month name in their language, the year only when it is not this one.

en "21 December", nl "21 december", fr "21 décembre", de "21. Dezember"; "21 December 2027" in another year. The
widget (widget/src/widget.js ``day``, its months in widget/src/strings.json) and the WordPress plugin
(``BackSoon_State::shopper_date``) spell dates with these same tables, so a page never shows two formats. Restock
dates are store-local calendar days, and "this year" is the year of the store's own today.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date

__all__ = ["MONTHS", "shopper_date"]

MONTHS: Mapping[str, tuple[str, ...]] = {
    "en": ("January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
           "November", "December"),
    "nl": ("januari", "februari", "maart", "april", "mei", "juni", "juli", "augustus", "september", "oktober",
           "november", "december"),
    "fr": ("janvier", "février", "mars", "avril", "mai", "juin", "juillet", "août", "septembre", "octobre",
           "novembre", "décembre"),
    "de": ("Januar", "Februar", "März", "April", "Mai", "Juni", "Juli", "August", "September", "Oktober",
           "November", "Dezember"),
}  # fmt: skip


def shopper_date(day: date, locale: str, today: date) -> str:
    """``day`` as a shopper in ``locale`` reads it (English for an unknown language); ``today`` is the store's."""
    lang = locale if locale in MONTHS else "en"
    month = MONTHS[lang][day.month - 1]
    text = f"{day.day}. {month}" if lang == "de" else f"{day.day} {month}"
    return text if day.year == today.year else f"{text} {day.year}"
