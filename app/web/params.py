"""Query string and path checks shared by the JSON API and the admin: a bad value is a 400 (or 404) naming it."""

from __future__ import annotations

import re
from collections.abc import Sequence

from werkzeug.datastructures import MultiDict

from app.services.merchant.stock_views import (
    BADGES,
    DEFAULT_PER_PAGE,
    SIGNALS,
    SORTS,
    STATUSES,
    VariantQuery,
)
from app.web.deps import abort_json

MAX_PER_PAGE = 200
MAX_QUERY_LENGTH = 200
# Ids are BIGINT: a larger number in the URL cannot name a row, and would make PostgreSQL fail.
MAX_ID = 2**63 - 1
_INTEGER = re.compile(r"-?[0-9]+")
_TRUE = ("true", "1", "yes")
_FALSE = ("false", "0", "no")


class _Params:
    """Reads query parameters, collecting every problem so one 400 names them all."""

    def __init__(self, args: MultiDict[str, str]) -> None:
        self.args = args
        self.errors: dict[str, str] = {}

    def integer(self, name: str, default: int, minimum: int, maximum: int | None = None) -> int:
        raw = self.args.get(name)
        if raw is None:
            return default
        # Plain ASCII digits only: int() would also take "1_000", "+5" and non-Latin digits.
        if not _INTEGER.fullmatch(raw.strip()):
            self.errors[name] = f"must be an integer, not {raw[:40]!r}"
            return default
        value = int(raw.strip())
        if value < minimum:
            self.errors[name] = f"must be at least {minimum}"
        elif maximum is not None and value > maximum:
            self.errors[name] = f"must be at most {maximum}"
        return value

    def choices(self, name: str, allowed: Sequence[str]) -> tuple[str, ...]:
        given = self.args.getlist(name)
        if not given:
            return ()
        # "status=a,b" and "status=a&status=b" mean the same.
        values = tuple(part.strip() for raw in given for part in raw.split(","))
        unknown = [v for v in values if v not in allowed]
        if unknown:
            self.errors[name] = f"unknown value {unknown[0][:40]!r}; expected one or more of {', '.join(allowed)}"
            return ()
        return tuple(dict.fromkeys(values))

    def choice(self, name: str, allowed: Sequence[str], default: str) -> str:
        raw = self.args.get(name)
        if raw is None:
            return default
        if raw not in allowed:
            self.errors[name] = f"unknown value {raw[:40]!r}; expected one of {', '.join(allowed)}"
            return default
        return raw

    def boolean(self, name: str) -> bool | None:
        raw = self.args.get(name)
        if raw is None:
            return None
        lowered = raw.strip().lower()
        if lowered in _TRUE:
            return True
        if lowered in _FALSE:
            return False
        self.errors[name] = f"must be true or false, not {raw[:40]!r}"
        return None

    def text(self, name: str, max_length: int) -> str | None:
        raw = self.args.get(name)
        if raw is None or raw.strip() == "":
            return None
        if len(raw) > max_length:
            self.errors[name] = f"must be at most {max_length} characters"
            return None
        # PostgreSQL rejects NUL in text; left through it would surface as a 500.
        if "\x00" in raw:
            self.errors[name] = "must not contain NUL characters"
            return None
        return raw.strip()

    def finish(self) -> None:
        if self.errors:
            names = ", ".join(sorted(self.errors))
            abort_json(400, "invalid_parameter", f"Invalid query parameter(s): {names}.", dict(self.errors))


def parse_variant_query(args: MultiDict[str, str]) -> VariantQuery:
    """Validate the listing's query string; any bad value is a 400 naming the parameter."""
    p = _Params(args)
    query = VariantQuery(
        statuses=p.choices("status", STATUSES),
        signals=p.choices("signal", SIGNALS),
        badges=p.choices("badge", BADGES),
        q=p.text("q", MAX_QUERY_LENGTH),
        at_risk=p.boolean("at_risk"),
        has_waitlist=p.boolean("has_waitlist"),
        sort=p.choice("sort", SORTS, "priority"),
        page=p.integer("page", 1, 1),
        per_page=p.integer("per_page", DEFAULT_PER_PAGE, 1, MAX_PER_PAGE),
    )
    p.finish()
    return query


def check_id(value: int, what: str) -> None:
    """404 for ids no row can have, before they reach the database."""
    if value > MAX_ID:
        abort_json(404, "not_found", f"No such {what}.")
