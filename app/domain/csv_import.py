"""Purchase-order CSV parsing and validation: pure, so every rule is tested without a database.

Columns (header names, any order, any case): ``sku``, ``quantity``, ``expected_date`` (YYYY-MM-DD), and the
optional ``supplier`` and ``reference``. Spreadsheets differ in how they save CSV, so a UTF-8 byte-order mark,
``;`` or ``,`` as the delimiter, CRLF line ends and blank lines are all accepted. Every problem is reported with
the line number the merchant sees in their editor (the header is line 1).
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Collection
from dataclasses import dataclass
from datetime import date

MAX_BYTES = 1_000_000
MAX_ROWS = 5_000
MAX_QUANTITY = 1_000_000
MAX_TEXT = 255
REQUIRED_COLUMNS = ("sku", "quantity", "expected_date")
OPTIONAL_COLUMNS = ("supplier", "reference")

_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_DIGITS = re.compile(r"\d+")


@dataclass(frozen=True, slots=True)
class PoLine:
    """One valid purchase-order line."""

    line: int
    sku: str
    quantity: int
    expected_on: date
    supplier: str = ""
    reference: str = ""


@dataclass(frozen=True, slots=True)
class LineError:
    """A problem on one line of the file (line 0: the file as a whole)."""

    line: int
    message: str


@dataclass(frozen=True, slots=True)
class ParsedCsv:
    """The valid lines and the per-line errors of one file."""

    lines: tuple[PoLine, ...]
    errors: tuple[LineError, ...]

    @property
    def ok(self) -> bool:
        """True when the file has no error at all."""
        return not self.errors


class FieldError(ValueError):
    """A value that cannot be used; its message is shown to the merchant as is."""


def parse_quantity(raw: str) -> int:
    """A positive whole number of units, at most MAX_QUANTITY."""
    text = raw.strip()
    if not _DIGITS.fullmatch(text) or int(text) <= 0:
        raise FieldError(f"quantity {text!r} is not a positive whole number")
    value = int(text)
    if value > MAX_QUANTITY:
        raise FieldError(f"quantity {value} is more than {MAX_QUANTITY}")
    return value


def parse_expected_date(raw: str, today: date) -> date:
    """A YYYY-MM-DD date that is today or later."""
    text = raw.strip()
    if not _DATE.fullmatch(text):
        raise FieldError(f"expected_date {text!r} is not a date in the form YYYY-MM-DD")
    try:
        value = date.fromisoformat(text)
    except ValueError:
        raise FieldError(f"expected_date {text!r} is not a real date") from None
    if value < today:
        raise FieldError(f"expected_date {text} is in the past")
    return value


def _decode(data: bytes) -> str | LineError:
    if len(data) > MAX_BYTES:
        return LineError(0, f"The file is larger than {MAX_BYTES // 1000} kB; split it into smaller files.")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return LineError(0, "The file is not UTF-8 text; save it as 'CSV UTF-8' and try again.")


def _delimiter(text: str) -> str:
    # Spreadsheets in comma-decimal locales (nl, fr, de) save CSV with semicolons; the header decides.
    first = next((line for line in text.splitlines() if line.strip()), "")
    return ";" if first.count(";") > first.count(",") else ","


def _header(row: list[str]) -> dict[str, int] | LineError:
    names = [cell.strip().lower() for cell in row]
    missing = [col for col in REQUIRED_COLUMNS if col not in names]
    if missing:
        return LineError(
            1, f"The header must name the columns {', '.join(REQUIRED_COLUMNS)}; missing: {', '.join(missing)}."
        )
    return {name: names.index(name) for name in (*REQUIRED_COLUMNS, *OPTIONAL_COLUMNS) if name in names}


def parse_po_csv(data: bytes, known_skus: Collection[str], today: date) -> ParsedCsv:
    """Parse a purchase-order file; every line is checked and every problem reported with its line number."""
    text = _decode(data)
    if isinstance(text, LineError):
        return ParsedCsv((), (text,))
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=_delimiter(text))
    columns: dict[str, int] | None = None
    header_line = 0
    lines: list[PoLine] = []
    errors: list[LineError] = []
    seen: dict[tuple[str, date, str], int] = {}
    rows = 0
    try:
        last_end = 0
        for row in reader:
            # A record starts on the line after the previous one ended (a quoted field may span lines).
            line, last_end = last_end + 1, reader.line_num
            if not any(cell.strip() for cell in row):
                continue
            if columns is None:
                parsed = _header(row)
                if isinstance(parsed, LineError):
                    return ParsedCsv((), (LineError(line, parsed.message),))
                columns, header_line = parsed, line
                continue
            rows += 1
            if rows > MAX_ROWS:
                return ParsedCsv((), (LineError(0, f"The file has more than {MAX_ROWS} lines; split it."),))
            result = _line(row, line, columns, known_skus, today)
            if isinstance(result, LineError):
                errors.append(result)
                continue
            key = (result.sku, result.expected_on, result.reference)
            if key in seen:
                errors.append(LineError(line, f"duplicate of line {seen[key]} (same sku, expected_date and reference)"))
                continue
            seen[key] = line
            lines.append(result)
    except csv.Error as exc:
        errors.append(LineError(reader.line_num, f"unreadable CSV ({exc})"))
    if columns is None:
        return ParsedCsv((), (LineError(0, "The file is empty: it needs a header line and at least one order."),))
    if not lines and not errors:
        errors.append(LineError(header_line, "The file has a header but no order lines."))
    return ParsedCsv(tuple(lines), tuple(errors))


def _line(
    row: list[str], line: int, columns: dict[str, int], known_skus: Collection[str], today: date
) -> PoLine | LineError:
    def cell(name: str) -> str:
        index = columns.get(name)
        return row[index].strip() if index is not None and index < len(row) else ""

    problems: list[str] = []
    sku = cell("sku")
    if not sku:
        problems.append("sku is empty")
    elif sku not in known_skus:
        problems.append(f"unknown SKU {sku!r}")
    quantity = expected = None
    try:
        quantity = parse_quantity(cell("quantity"))
    except FieldError as exc:
        problems.append(str(exc))
    try:
        expected = parse_expected_date(cell("expected_date"), today)
    except FieldError as exc:
        problems.append(str(exc))
    supplier, reference = cell("supplier"), cell("reference")
    for name, value in (("supplier", supplier), ("reference", reference)):
        if len(value) > MAX_TEXT:
            problems.append(f"{name} is longer than {MAX_TEXT} characters")
    if problems or quantity is None or expected is None:
        return LineError(line, "; ".join(problems))
    return PoLine(line, sku, quantity, expected, supplier, reference)
