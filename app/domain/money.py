"""Amounts of money written the way the store writes them: "€ 1.234,56" on a Dutch WooCommerce store.

Each platform's reader maps its store's format (Shopify's money format, WooCommerce's currency position, symbol,
separators and decimals) to one plain dict, ``{pattern, thousands, decimal, decimals}``, kept in the store's reported
identity. Machine-read output (feeds, schema.org, CSV) keeps ISO codes and a decimal point: only what people read
uses the store's format.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

AMOUNT = "{amount}"

_MAX_DECIMALS = 4
_MAX_TEXT = 32


@dataclass(frozen=True, slots=True)
class MoneyFormat:
    """A pattern around "{amount}", the thousands and decimal separators, and how many decimals are shown."""

    pattern: str
    thousands: str
    decimal: str
    decimals: int

    def as_dict(self) -> dict[str, Any]:
        """The plain dict kept in the store's reported identity."""
        return asdict(self)


def from_dict(raw: Any) -> MoneyFormat | None:
    """The format a stored dict describes, or None when it is not a valid one."""
    if not isinstance(raw, Mapping):
        return None
    pattern, thousands, decimal, decimals = (raw.get(k) for k in ("pattern", "thousands", "decimal", "decimals"))
    if not (isinstance(pattern, str) and isinstance(thousands, str) and isinstance(decimal, str)):
        return None
    if not isinstance(decimals, int) or isinstance(decimals, bool) or not 0 <= decimals <= _MAX_DECIMALS:
        return None
    if pattern.count(AMOUNT) != 1 or len(pattern) > _MAX_TEXT or len(thousands) > 3 or len(decimal) > 3:
        return None
    if decimals and not decimal:
        return None
    return MoneyFormat(pattern, thousands, decimal, decimals)


def format_money(amount: Decimal | float | int, money_format: MoneyFormat | None, currency: str) -> str:
    """The amount as the store writes it, or "1,234.56 EUR" when the store's format is not known."""
    try:
        value = Decimal(str(amount))
    except InvalidOperation:
        value = Decimal(0)
    fmt = money_format or MoneyFormat(AMOUNT + " " + currency, ",", ".", 2)
    rounded = value.quantize(Decimal(1).scaleb(-fmt.decimals), rounding=ROUND_HALF_UP)
    sign = "-" if rounded < 0 else ""
    whole, _, fraction = f"{abs(rounded):.{fmt.decimals}f}".partition(".")
    groups: list[str] = []
    while len(whole) > 3:
        groups.insert(0, whole[-3:])
        whole = whole[:-3]
    groups.insert(0, whole)
    number = fmt.thousands.join(groups) + (fmt.decimal + fraction if fmt.decimals else "")
    return sign + fmt.pattern.replace(AMOUNT, number)
