"""Purchase-order CSV parsing: delimiters, BOM, CRLF, blank lines, and every per-line error with its line number."""

from __future__ import annotations

from datetime import date

import pytest

from app.domain.csv_import import (
    MAX_BYTES,
    MAX_ROWS,
    FieldError,
    LineError,
    PoLine,
    parse_expected_date,
    parse_po_csv,
    parse_quantity,
)

TODAY = date(2026, 11, 20)
SKUS = {"TEE-S", "TEE-M", "MUG"}


def parse(text: str, encoding: str = "utf-8") -> tuple[tuple[PoLine, ...], tuple[LineError, ...]]:
    result = parse_po_csv(text.encode(encoding), SKUS, TODAY)
    return result.lines, result.errors


def test_a_clean_comma_file_parses_every_line() -> None:
    lines, errors = parse(
        "sku,quantity,expected_date,supplier,reference\nTEE-S,12,2026-12-01,Acme,PO-1\nMUG,3,2026-11-20,,\n"
    )
    assert errors == ()
    assert lines == (
        PoLine(2, "TEE-S", 12, date(2026, 12, 1), "Acme", "PO-1"),
        PoLine(3, "MUG", 3, date(2026, 11, 20), "", ""),
    )


def test_bom_semicolons_crlf_blank_lines_and_header_case_are_handled() -> None:
    text = '\ufeffExpected_Date;SKU;Quantity\r\n\r\n2026-12-24;TEE-M;5\r\n  \r\n2027-01-02;"TEE-S";7\r\n\r\n'
    lines, errors = parse(text)
    assert errors == ()
    assert lines == (
        PoLine(3, "TEE-M", 5, date(2026, 12, 24)),
        PoLine(5, "TEE-S", 7, date(2027, 1, 2)),
    )


def test_every_problem_is_reported_with_its_line_number() -> None:
    text = (
        "sku,quantity,expected_date\n"
        "NOPE,5,2026-12-01\n"  # 2 unknown sku
        "TEE-S,0,2026-12-01\n"  # 3 zero
        "TEE-S,-4,2026-12-01\n"  # 4 negative
        "TEE-S,2.5,2026-12-01\n"  # 5 not whole
        "TEE-S,4,01/12/2026\n"  # 6 wrong format
        "TEE-S,4,2026-02-30\n"  # 7 not a real date
        "TEE-S,4,2026-11-19\n"  # 8 past
        "TEE-M,4,2026-12-01\n"  # 9 fine
        "TEE-M,4,2026-12-01\n"  # 10 duplicate of 9
        ",4,2026-12-01\n"  # 11 empty sku
        "MUG,abc,\n"  # 12 two problems on one line
    )
    lines, errors = parse(text)
    assert lines == (PoLine(9, "TEE-M", 4, date(2026, 12, 1)),)
    assert errors == (
        LineError(2, "unknown SKU 'NOPE'"),
        LineError(3, "quantity '0' is not a positive whole number"),
        LineError(4, "quantity '-4' is not a positive whole number"),
        LineError(5, "quantity '2.5' is not a positive whole number"),
        LineError(6, "expected_date '01/12/2026' is not a date in the form YYYY-MM-DD"),
        LineError(7, "expected_date '2026-02-30' is not a real date"),
        LineError(8, "expected_date 2026-11-19 is in the past"),
        LineError(10, "duplicate of line 9 (same sku, expected_date and reference)"),
        LineError(11, "sku is empty"),
        LineError(
            12,
            "quantity 'abc' is not a positive whole number; expected_date '' is not a date in the form YYYY-MM-DD",
        ),
    )


def test_same_sku_and_date_with_different_references_are_two_orders() -> None:
    lines, errors = parse("sku,quantity,expected_date,reference\nMUG,1,2026-12-01,A\nMUG,1,2026-12-01,B\n")
    assert errors == ()
    assert [line.reference for line in lines] == ["A", "B"]


def test_a_quoted_field_spanning_lines_keeps_later_line_numbers_right() -> None:
    lines, errors = parse('sku,quantity,expected_date,reference\nMUG,1,2026-12-01,"two\nlines"\nNOPE,1,2026-12-01,x\n')
    assert lines == (PoLine(2, "MUG", 1, date(2026, 12, 1), "", "two\nlines"),)
    assert errors == (LineError(4, "unknown SKU 'NOPE'"),)


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (b"", LineError(0, "The file is empty: it needs a header line and at least one order.")),
        (b"\n\r\n  \n", LineError(0, "The file is empty: it needs a header line and at least one order.")),
        (b"sku,quantity,expected_date\n", LineError(1, "The file has a header but no order lines.")),
        (
            b"\nproduct,qty,date\nMUG,1,2026-12-01\n",
            LineError(
                2,
                "The header must name the columns sku, quantity, expected_date; missing: sku, quantity, expected_date.",
            ),
        ),
        (
            b"sku,quantity,expected_date\n\xff\xfe,1",
            LineError(0, "The file is not UTF-8 text; save it as 'CSV UTF-8' and try again."),
        ),
        (b"x" * (MAX_BYTES + 1), LineError(0, "The file is larger than 1000 kB; split it into smaller files.")),
    ],
)
def test_file_level_problems_import_nothing(data: bytes, expected: LineError) -> None:
    result = parse_po_csv(data, SKUS, TODAY)
    assert (result.lines, result.errors, result.ok) == ((), (expected,), False)


def test_too_many_rows_is_one_file_error() -> None:
    body = "".join(f"MUG,1,2026-12-01,r{i}\n" for i in range(MAX_ROWS + 1))
    lines, errors = parse("sku,quantity,expected_date,reference\n" + body)
    assert (lines, errors) == ((), (LineError(0, f"The file has more than {MAX_ROWS} lines; split it."),))


def test_long_optional_text_is_an_error() -> None:
    _, errors = parse(f"sku,quantity,expected_date,supplier\nMUG,1,2026-12-01,{'s' * 256}\n")
    assert errors == (LineError(2, "supplier is longer than 255 characters"),)


def test_field_parsers_shared_with_the_form() -> None:
    assert parse_quantity(" 42 ") == 42
    assert parse_expected_date("2026-11-20", TODAY) == TODAY
    with pytest.raises(FieldError, match="is more than 1000000"):
        parse_quantity("1000001")
    with pytest.raises(FieldError, match="in the past"):
        parse_expected_date("2020-01-01", TODAY)
