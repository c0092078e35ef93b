"""Stock settings: defaults, validated overrides, and store → product → variant layering.

Overrides arrive from JSON columns and admin forms, so scalar values may be numbers or their string
form ("14", "2.5", "true"), and lists may be JSON arrays or comma-separated strings ("7, 28, 90").
A ``None`` value means "inherit" for every field except the two quiet-hour fields, where ``None``
(or an empty string) is a real value: no quiet hours.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields, replace
from typing import Any, cast

_TRUE = frozenset({"true", "1", "yes", "on"})
_FALSE = frozenset({"false", "0", "no", "off"})


@dataclass(frozen=True, slots=True)
class StockSettings:
    """Every tunable of the stock engine, with the defaults a new store starts from."""

    low_stock_threshold: int = 5
    days_on_hand_warning: float = 14.0
    lead_time_days: int = 14
    show_lead_time_eta: bool = False
    safety_days: int = 7
    cover_days: int = 60
    velocity_windows: tuple[int, ...] = (7, 28, 90)
    velocity_weights: tuple[float, ...] = (0.5, 0.3, 0.2)
    min_sellable_days: float = 1.0
    selling_fast_days: float = 7.0
    selling_fast_min_velocity: float = 1.0
    pause_days_floor: float = 3.0
    wave_ratio: float = 1.0
    wave_interval_minutes: int = 60
    min_inventory: int = 1
    quiet_hours_start: int | None = None
    quiet_hours_end: int | None = None
    double_opt_in: bool = False
    attribution_days: int = 7
    high_demand_waitlist: int = 25


DEFAULT_SETTINGS = StockSettings()


@dataclass(frozen=True, slots=True)
class SettingField:
    """How one setting is shown in an admin form: its name, value type, label and help text."""

    name: str
    type: str  # "int" | "float" | "bool" | "hour" (int or None) | "int_list" | "float_list"
    label: str
    help: str


SETTING_FIELDS: tuple[SettingField, ...] = (
    SettingField(
        "low_stock_threshold",
        "int",
        "Low-stock threshold (units)",
        "At or below this many sellable units a variant is low stock and may show 'only N left'. 0 to 100000.",
    ),
    SettingField(
        "days_on_hand_warning",
        "float",
        "Low-stock warning (days on hand)",
        "A variant with this many days of stock or fewer is low stock. 0 to 3650.",
    ),
    SettingField(
        "lead_time_days",
        "int",
        "Supplier lead time (days)",
        "Days from placing a purchase order to receiving the stock. 0 to 365.",
    ),
    SettingField(
        "show_lead_time_eta",
        "bool",
        "Show a lead-time restock date",
        "With no dated purchase order, show shoppers 'back around' today + the lead time, but only where a "
        "supplier or product lead time was entered; the store default above never makes a date.",
    ),
    SettingField(
        "safety_days",
        "int",
        "Safety stock (days)",
        "Extra days of demand kept in hand on top of the lead time. 0 to 365.",
    ),
    SettingField(
        "cover_days",
        "int",
        "Reorder cover (days)",
        "How many days of demand a reorder should cover once it arrives. 0 to 730.",
    ),
    SettingField(
        "velocity_windows",
        "int_list",
        "Velocity windows (days)",
        "Look-back windows for sales velocity, e.g. 7, 28, 90. 1 to 10 windows of 1 to 730 days, "
        "as many as there are weights.",
    ),
    SettingField(
        "velocity_weights",
        "float_list",
        "Velocity weights",
        "Weight of each window in the blended velocity, e.g. 0.5, 0.3, 0.2. Not negative, not all 0.",
    ),
    SettingField(
        "min_sellable_days",
        "float",
        "Minimum sellable days per window",
        "A window in which the variant was sellable for fewer days is left out of the blend. 0 to 365.",
    ),
    SettingField(
        "selling_fast_days",
        "float",
        "'Selling fast' below (days on hand)",
        "Show 'selling fast' when days on hand is at or below this. 0 to 365.",
    ),
    SettingField(
        "selling_fast_min_velocity",
        "float",
        "'Selling fast' minimum velocity (units/day)",
        "Show 'selling fast' only when the variant sells at least this many units a day. 0 to 1000000.",
    ),
    SettingField(
        "pause_days_floor",
        "float",
        "Pause ads below (days on hand)",
        "At or below this many days of stock the ad signal says pause. 0 to 365.",
    ),
    SettingField(
        "wave_ratio",
        "float",
        "Restock wave ratio",
        "Each restock wave notifies up to ceil(available units * ratio) subscribers. Above 0, at most 10.",
    ),
    SettingField(
        "wave_interval_minutes",
        "int",
        "Minutes between waves",
        "Wait this long before re-checking stock and sending the next wave. 1 to 10080.",
    ),
    SettingField(
        "min_inventory",
        "int",
        "Minimum restock (units)",
        "Notify subscribers only when at least this many units are back. 1 to 100000.",
    ),
    SettingField(
        "quiet_hours_start",
        "hour",
        "Quiet hours start",
        "Hour (0-23, store time) from which no restock emails are sent; empty for none.",
    ),
    SettingField(
        "quiet_hours_end",
        "hour",
        "Quiet hours end",
        "Hour (0-23, store time) at which sending resumes; may wrap past midnight; empty for none.",
    ),
    SettingField(
        "double_opt_in",
        "bool",
        "Double opt-in",
        "Ask subscribers to confirm their email before they join the waitlist.",
    ),
    SettingField(
        "attribution_days",
        "int",
        "Attribution window (days)",
        "An order within this many days of a restock email counts as a recovered sale. 0 to 365.",
    ),
    SettingField(
        "high_demand_waitlist",
        "int",
        "High-demand waitlist size",
        "A waitlist at least this long flags the variant as high demand. 1 to 1000000.",
    ),
)


class _InvalidError(ValueError):
    """A value that cannot be used for a setting; its message is shown to the merchant."""


def _whole(raw: object) -> int:
    if isinstance(raw, bool):
        raise _InvalidError("must be a whole number")
    if isinstance(raw, int):
        return raw
    if isinstance(raw, str):
        text = raw.strip()
        try:
            return int(text)
        except ValueError:
            try:
                raw = float(text)
            except ValueError:
                raise _InvalidError("must be a whole number") from None
    if isinstance(raw, float) and math.isfinite(raw) and raw.is_integer():
        return int(raw)
    raise _InvalidError("must be a whole number")


def _number(raw: object) -> float:
    if isinstance(raw, bool):
        raise _InvalidError("must be a number")
    value: float
    if isinstance(raw, int | float):
        value = float(raw)
    elif isinstance(raw, str):
        try:
            value = float(raw.strip())
        except ValueError:
            raise _InvalidError("must be a number") from None
    else:
        raise _InvalidError("must be a number")
    if not math.isfinite(value):
        raise _InvalidError("must be a number")
    return value


def _fmt(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(float(value))


def _int_in(low: int, high: int) -> Callable[[object], object]:
    def parse(raw: object) -> object:
        value = _whole(raw)
        if not low <= value <= high:
            raise _InvalidError(f"must be between {low} and {high}")
        return value

    return parse


def _float_in(low: float, high: float) -> Callable[[object], object]:
    def parse(raw: object) -> object:
        value = _number(raw)
        if not low <= value <= high:
            raise _InvalidError(f"must be between {_fmt(low)} and {_fmt(high)}")
        return value

    return parse


def _wave_ratio(raw: object) -> object:
    value = _number(raw)
    if not 0 < value <= 10:
        raise _InvalidError("must be greater than 0 and at most 10")
    return value


def _hour(raw: object) -> object:
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        return None
    try:
        value = _whole(raw)
    except _InvalidError:
        raise _InvalidError("must be an hour from 0 to 23, or empty") from None
    if not 0 <= value <= 23:
        raise _InvalidError("must be an hour from 0 to 23, or empty")
    return value


def _flag(raw: object) -> object:
    if isinstance(raw, bool):
        return raw
    if isinstance(raw, str):
        text = raw.strip().lower()
        if text in _TRUE:
            return True
        if text in _FALSE:
            return False
    raise _InvalidError("must be true or false")


def _items(raw: object, message: str) -> list[object]:
    if isinstance(raw, str):
        return [part for part in (p.strip() for p in raw.split(",")) if part]
    if isinstance(raw, list | tuple):
        return list(raw)
    raise _InvalidError(message)


def _windows(raw: object) -> object:
    message = "must be a list of whole numbers of days"
    items = _items(raw, message)
    if not 1 <= len(items) <= 10:
        raise _InvalidError("must have 1 to 10 windows")
    try:
        values = tuple(_whole(item) for item in items)
    except _InvalidError:
        raise _InvalidError(message) from None
    if any(not 1 <= value <= 730 for value in values):
        raise _InvalidError("each window must be between 1 and 730 days")
    return values


def _weights(raw: object) -> object:
    message = "must be a list of numbers"
    items = _items(raw, message)
    if not 1 <= len(items) <= 10:
        raise _InvalidError("must have 1 to 10 weights")
    try:
        values = tuple(_number(item) for item in items)
    except _InvalidError:
        raise _InvalidError(message) from None
    if any(value < 0 for value in values):
        raise _InvalidError("weights must be 0 or more")
    if sum(values) <= 0:
        raise _InvalidError("weights must not all be 0")
    return values


_PARSERS: dict[str, Callable[[object], object]] = {
    "low_stock_threshold": _int_in(0, 100_000),
    "days_on_hand_warning": _float_in(0, 3650),
    "lead_time_days": _int_in(0, 365),
    "show_lead_time_eta": _flag,
    "safety_days": _int_in(0, 365),
    "cover_days": _int_in(0, 730),
    "velocity_windows": _windows,
    "velocity_weights": _weights,
    "min_sellable_days": _float_in(0, 365),
    "selling_fast_days": _float_in(0, 365),
    "selling_fast_min_velocity": _float_in(0, 1_000_000),
    "pause_days_floor": _float_in(0, 365),
    "wave_ratio": _wave_ratio,
    "wave_interval_minutes": _int_in(1, 10_080),
    "min_inventory": _int_in(1, 100_000),
    "quiet_hours_start": _hour,
    "quiet_hours_end": _hour,
    "double_opt_in": _flag,
    "attribution_days": _int_in(0, 365),
    "high_demand_waitlist": _int_in(1, 1_000_000),
}
_NULLABLE = frozenset({"quiet_hours_start", "quiet_hours_end"})


def _check_pairs(base: StockSettings, parsed: dict[str, object], errors: dict[str, str]) -> None:
    # Rules that span two fields are checked on the merged result, and blame only the keys supplied.
    windows = cast("tuple[int, ...]", parsed.get("velocity_windows", base.velocity_windows))
    weights = cast("tuple[float, ...]", parsed.get("velocity_weights", base.velocity_weights))
    if len(windows) != len(weights):
        if "velocity_windows" in parsed:
            errors["velocity_windows"] = f"must have as many entries as velocity_weights ({len(weights)})"
        if "velocity_weights" in parsed:
            errors["velocity_weights"] = f"must have as many entries as velocity_windows ({len(windows)})"
        parsed.pop("velocity_windows", None)
        parsed.pop("velocity_weights", None)

    start = parsed.get("quiet_hours_start", base.quiet_hours_start)
    end = parsed.get("quiet_hours_end", base.quiet_hours_end)
    message = ""
    if (start is None) != (end is None):
        message = "set both quiet_hours_start and quiet_hours_end, or neither"
    elif start is not None and start == end:
        message = "quiet hours start and end must differ"
    if message:
        for key in ("quiet_hours_start", "quiet_hours_end"):
            if key in parsed:
                errors[key] = message
                del parsed[key]


def apply_overrides(base: StockSettings, overrides: Mapping[str, object]) -> tuple[StockSettings, dict[str, str]]:
    """Merge valid overrides into ``base``; return the result and a field → message dict of rejects."""
    errors: dict[str, str] = {}
    parsed: dict[str, object] = {}
    for key, raw in overrides.items():
        parser = _PARSERS.get(key)
        if parser is None:
            errors[key] = "unknown setting"
            continue
        if raw is None and key not in _NULLABLE:
            continue  # None means "inherit from the layer below"
        try:
            parsed[key] = parser(raw)
        except _InvalidError as exc:
            errors[key] = str(exc)
    _check_pairs(base, parsed, errors)
    return replace(base, **cast("dict[str, Any]", parsed)), errors


# Where an effective value comes from, lowest layer first. "supplier" applies to the lead time only: a supplier's
# lead time beats the store's (and the default), a product or variant override beats the supplier's.
SOURCES = ("default", "store", "supplier", "product", "variant")
# Settings read once per store, never per product or variant: an override of these would change nothing.
STORE_ONLY = frozenset({"double_opt_in"})


def layer_settings(
    store: Mapping[str, object] | None,
    product: Mapping[str, object] | None,
    variant: Mapping[str, object] | None,
    base: StockSettings = DEFAULT_SETTINGS,
) -> tuple[StockSettings, dict[str, str]]:
    """Layer store, product, variant overrides over ``base`` (invalid keys skipped); each field's deciding layer."""
    settings = base
    sources = dict.fromkeys(_PARSERS, "default")
    for name, layer in (("store", store), ("product", product), ("variant", variant)):
        if not layer:
            continue
        settings, errors = apply_overrides(settings, layer)
        for key, raw in layer.items():
            if key in _PARSERS and key not in errors and (raw is not None or key in _NULLABLE):
                sources[key] = name
    return settings, sources


def resolve_settings(
    store: Mapping[str, object] | None,
    product: Mapping[str, object] | None,
    variant: Mapping[str, object] | None,
    base: StockSettings = DEFAULT_SETTINGS,
) -> StockSettings:
    """Layer store, then product, then variant overrides over ``base``, skipping invalid keys."""
    return layer_settings(store, product, variant, base)[0]


def planned_lead_time(settings: StockSettings, lead_source: str, supplier_days: int | None) -> tuple[int, str]:
    """The lead time the engine plans with and its source: a product or variant override, else the supplier's lead
    time, else the store's or the default (``lead_source`` is the layer that set ``settings.lead_time_days``)."""
    if lead_source in ("product", "variant") or supplier_days is None:
        return settings.lead_time_days, lead_source
    return supplier_days, "supplier"


def _check_catalogue() -> None:
    # Fail at import, not in an admin form, if a field is added without its parser or description.
    names = [f.name for f in fields(StockSettings)]
    if names != [f.name for f in SETTING_FIELDS] or set(names) != set(_PARSERS):
        raise RuntimeError("StockSettings, SETTING_FIELDS and the parsers are out of step")


_check_catalogue()
