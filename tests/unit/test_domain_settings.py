"""Stock settings: validation messages, string parsing, cross-field rules and layering."""

from __future__ import annotations

from dataclasses import fields

import pytest

from app.domain.settings import (
    DEFAULT_SETTINGS,
    SETTING_FIELDS,
    StockSettings,
    apply_overrides,
    layer_settings,
    planned_lead_time,
    resolve_settings,
)


def test_defaults() -> None:
    s = StockSettings()
    assert (s.low_stock_threshold, s.days_on_hand_warning, s.lead_time_days, s.safety_days, s.cover_days) == (
        5,
        14.0,
        14,
        7,
        60,
    )
    assert (s.velocity_windows, s.velocity_weights, s.min_sellable_days) == ((7, 28, 90), (0.5, 0.3, 0.2), 1.0)
    assert (s.selling_fast_days, s.selling_fast_min_velocity, s.pause_days_floor) == (7.0, 1.0, 3.0)
    assert (s.wave_ratio, s.wave_interval_minutes, s.min_inventory) == (1.0, 60, 1)
    assert (s.quiet_hours_start, s.quiet_hours_end, s.double_opt_in) == (None, None, False)
    assert (s.attribution_days, s.high_demand_waitlist) == (7, 25)
    assert s == DEFAULT_SETTINGS


def test_setting_fields_describe_every_field_in_order() -> None:
    assert [f.name for f in SETTING_FIELDS] == [f.name for f in fields(StockSettings)]
    assert {f.type for f in SETTING_FIELDS} == {"int", "float", "bool", "hour", "int_list", "float_list"}
    assert all(f.label and f.help for f in SETTING_FIELDS)


def test_valid_overrides_are_applied_and_parsed() -> None:
    settings, errors = apply_overrides(
        StockSettings(),
        {
            "lead_time_days": "21",
            "days_on_hand_warning": "10.5",
            "low_stock_threshold": 3.0,
            "velocity_windows": "14, 56",
            "velocity_weights": [0.6, 0.4],
            "double_opt_in": "on",
            "quiet_hours_start": 22,
            "quiet_hours_end": "7",
            "wave_ratio": 10,
        },
    )
    assert errors == {}
    assert settings.lead_time_days == 21
    assert settings.days_on_hand_warning == 10.5
    assert settings.low_stock_threshold == 3
    assert settings.velocity_windows == (14, 56)
    assert settings.velocity_weights == (0.6, 0.4)
    assert settings.double_opt_in is True
    assert (settings.quiet_hours_start, settings.quiet_hours_end) == (22, 7)
    assert settings.wave_ratio == 10.0
    assert isinstance(settings.days_on_hand_warning, float)
    assert isinstance(settings.wave_ratio, float)


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("lead_time_days", 366, "must be between 0 and 365"),
        ("lead_time_days", -1, "must be between 0 and 365"),
        ("lead_time_days", 14.5, "must be a whole number"),
        ("lead_time_days", "two weeks", "must be a whole number"),
        ("lead_time_days", True, "must be a whole number"),
        ("lead_time_days", [14], "must be a whole number"),
        ("low_stock_threshold", -1, "must be between 0 and 100000"),
        ("safety_days", 400, "must be between 0 and 365"),
        ("cover_days", 731, "must be between 0 and 730"),
        ("days_on_hand_warning", -0.5, "must be between 0 and 3650"),
        ("days_on_hand_warning", "nan", "must be a number"),
        ("days_on_hand_warning", float("inf"), "must be a number"),
        ("days_on_hand_warning", False, "must be a number"),
        ("min_sellable_days", "lots", "must be a number"),
        ("selling_fast_days", 366, "must be between 0 and 365"),
        ("selling_fast_min_velocity", -1, "must be between 0 and 1000000"),
        ("pause_days_floor", -3, "must be between 0 and 365"),
        ("wave_ratio", 0, "must be greater than 0 and at most 10"),
        ("wave_ratio", 10.5, "must be greater than 0 and at most 10"),
        ("wave_ratio", "x", "must be a number"),
        ("wave_interval_minutes", 0, "must be between 1 and 10080"),
        ("min_inventory", 0, "must be between 1 and 100000"),
        ("attribution_days", 366, "must be between 0 and 365"),
        ("high_demand_waitlist", 0, "must be between 1 and 1000000"),
        ("double_opt_in", "maybe", "must be true or false"),
        ("double_opt_in", 1, "must be true or false"),
        ("velocity_windows", [7, 0, 90], "each window must be between 1 and 730 days"),
        ("velocity_windows", [7, 28.5, 90], "must be a list of whole numbers of days"),
        ("velocity_windows", 7, "must be a list of whole numbers of days"),
        ("velocity_windows", [], "must have 1 to 10 windows"),
        ("velocity_weights", [0.5, -0.3, 0.2], "weights must be 0 or more"),
        ("velocity_weights", [0, 0, 0], "weights must not all be 0"),
        ("velocity_weights", ["a", 1, 1], "must be a list of numbers"),
        ("velocity_weights", {"a": 1}, "must be a list of numbers"),
        ("velocity_weights", [1.0] * 11, "must have 1 to 10 weights"),
    ],
)
def test_invalid_values_are_reported_and_not_applied(key: str, value: object, message: str) -> None:
    base = StockSettings()
    settings, errors = apply_overrides(base, {key: value})
    assert errors == {key: message}
    assert settings == base


@pytest.mark.parametrize("value", [24, -1, "noon", 7.5])
def test_quiet_hour_must_be_an_hour(value: object) -> None:
    settings, errors = apply_overrides(StockSettings(), {"quiet_hours_start": value, "quiet_hours_end": 7})
    # The end alone would leave half a window, so it is held back too.
    assert errors == {
        "quiet_hours_start": "must be an hour from 0 to 23, or empty",
        "quiet_hours_end": "set both quiet_hours_start and quiet_hours_end, or neither",
    }
    assert settings == StockSettings()


def test_unknown_keys_are_reported() -> None:
    settings, errors = apply_overrides(StockSettings(), {"lead_tiem_days": 3, "lead_time_days": 3})
    assert errors == {"lead_tiem_days": "unknown setting"}
    assert settings.lead_time_days == 3


def test_valid_keys_apply_even_when_others_are_invalid() -> None:
    settings, errors = apply_overrides(StockSettings(), {"safety_days": 3, "cover_days": -5})
    assert errors == {"cover_days": "must be between 0 and 730"}
    assert (settings.safety_days, settings.cover_days) == (3, 60)


def test_none_inherits_for_ordinary_fields() -> None:
    base = StockSettings(lead_time_days=30)
    assert apply_overrides(base, {"lead_time_days": None}) == (base, {})


def test_none_or_empty_clears_quiet_hours() -> None:
    base = StockSettings(quiet_hours_start=22, quiet_hours_end=7)
    settings, errors = apply_overrides(base, {"quiet_hours_start": None, "quiet_hours_end": ""})
    assert errors == {}
    assert (settings.quiet_hours_start, settings.quiet_hours_end) == (None, None)


def test_quiet_hours_need_both_ends() -> None:
    settings, errors = apply_overrides(StockSettings(), {"quiet_hours_start": 22})
    assert errors == {"quiet_hours_start": "set both quiet_hours_start and quiet_hours_end, or neither"}
    assert settings.quiet_hours_start is None


def test_quiet_hours_must_differ() -> None:
    _, errors = apply_overrides(StockSettings(), {"quiet_hours_start": 5, "quiet_hours_end": 5})
    assert errors == {
        "quiet_hours_start": "quiet hours start and end must differ",
        "quiet_hours_end": "quiet hours start and end must differ",
    }


def test_one_quiet_hour_can_change_when_the_other_is_already_set() -> None:
    base = StockSettings(quiet_hours_start=22, quiet_hours_end=7)
    settings, errors = apply_overrides(base, {"quiet_hours_end": 6})
    assert errors == {}
    assert (settings.quiet_hours_start, settings.quiet_hours_end) == (22, 6)


def test_windows_must_match_the_existing_weights() -> None:
    settings, errors = apply_overrides(StockSettings(), {"velocity_windows": [7, 28]})
    assert errors == {"velocity_windows": "must have as many entries as velocity_weights (3)"}
    assert settings.velocity_windows == (7, 28, 90)


def test_mismatched_windows_and_weights_blame_both_and_apply_neither() -> None:
    settings, errors = apply_overrides(StockSettings(), {"velocity_windows": [7, 28], "velocity_weights": [1]})
    assert errors == {
        "velocity_windows": "must have as many entries as velocity_weights (1)",
        "velocity_weights": "must have as many entries as velocity_windows (2)",
    }
    assert (settings.velocity_windows, settings.velocity_weights) == ((7, 28, 90), (0.5, 0.3, 0.2))


def test_weights_may_contain_zeros_when_one_is_positive() -> None:
    settings, errors = apply_overrides(StockSettings(), {"velocity_weights": "1, 0, 0"})
    assert errors == {}
    assert settings.velocity_weights == (1.0, 0.0, 0.0)


def test_resolve_layers_store_then_product_then_variant() -> None:
    settings = resolve_settings(
        {"lead_time_days": 10, "low_stock_threshold": 8, "safety_days": 2},
        {"lead_time_days": 20, "low_stock_threshold": "nope"},
        {"low_stock_threshold": 2, "unknown": 1},
    )
    assert (settings.lead_time_days, settings.low_stock_threshold, settings.safety_days) == (20, 2, 2)


def test_resolve_without_product_or_variant_overrides() -> None:
    assert resolve_settings({}, None, None) == StockSettings()
    base = StockSettings(cover_days=30)
    assert resolve_settings({"safety_days": 1}, None, {}, base=base) == StockSettings(cover_days=30, safety_days=1)


def test_resolve_checks_windows_against_the_layer_below() -> None:
    settings = resolve_settings(
        {"velocity_windows": [7, 28], "velocity_weights": [0.7, 0.3]},
        {"velocity_weights": [0.5, 0.3, 0.2]},
        None,
    )
    assert (settings.velocity_windows, settings.velocity_weights) == ((7, 28), (0.7, 0.3))


def test_settings_are_immutable() -> None:
    with pytest.raises(AttributeError):
        StockSettings().lead_time_days = 3  # type: ignore[misc]


def test_showing_a_lead_time_restock_date_is_off_by_default_and_layers() -> None:
    assert DEFAULT_SETTINGS.show_lead_time_eta is False
    assert resolve_settings({"show_lead_time_eta": "yes"}, None, None).show_lead_time_eta is True
    assert (
        resolve_settings({"show_lead_time_eta": True}, {"show_lead_time_eta": "false"}, None).show_lead_time_eta
        is False
    )
    assert resolve_settings(
        {"show_lead_time_eta": True}, {"show_lead_time_eta": False}, {"show_lead_time_eta": "on"}
    ) == (StockSettings(show_lead_time_eta=True))
    assert resolve_settings({"show_lead_time_eta": True}, {"show_lead_time_eta": None}, None).show_lead_time_eta is True


@pytest.mark.parametrize("value", ["maybe", 1, 0, 2.5, [], ""])
def test_showing_a_lead_time_restock_date_must_be_true_or_false(value: object) -> None:
    settings, errors = apply_overrides(DEFAULT_SETTINGS, {"show_lead_time_eta": value})
    assert errors == {"show_lead_time_eta": "must be true or false"}
    assert settings == DEFAULT_SETTINGS


def test_layer_settings_names_the_layer_that_set_each_field() -> None:
    settings, sources = layer_settings(
        {"lead_time_days": "20", "safety_days": "x", "quiet_hours_start": None},
        {"lead_time_days": 45, "cover_days": None, "velocity_windows": "7, 28"},  # windows ≠ weights: skipped
        {"low_stock_threshold": 3},
    )
    assert settings == resolve_settings(
        {"lead_time_days": "20", "safety_days": "x", "quiet_hours_start": None},
        {"lead_time_days": 45, "cover_days": None, "velocity_windows": "7, 28"},
        {"low_stock_threshold": 3},
    )
    assert (settings.lead_time_days, settings.low_stock_threshold, settings.safety_days) == (45, 3, 7)
    assert {k: v for k, v in sources.items() if v != "default"} == {
        "lead_time_days": "product",
        "low_stock_threshold": "variant",
        "quiet_hours_start": "store",  # None is a real value here: no quiet hours
    }
    assert set(sources) == {f.name for f in SETTING_FIELDS}


def test_layer_settings_counts_an_explicit_no_quiet_hours_as_set() -> None:
    _, sources = layer_settings(
        {"quiet_hours_start": 22, "quiet_hours_end": 7}, None, {"quiet_hours_start": None, "quiet_hours_end": None}
    )
    assert (sources["quiet_hours_start"], sources["quiet_hours_end"]) == ("variant", "variant")


@pytest.mark.parametrize(
    ("lead_source", "supplier", "expected"),
    [
        ("default", None, (14, "default")),
        ("store", None, (14, "store")),
        ("default", 35, (35, "supplier")),
        ("store", 35, (35, "supplier")),  # a supplier's lead time beats the store's
        ("product", 35, (14, "product")),  # an override beats the supplier's
        ("variant", 0, (14, "variant")),
        ("store", 0, (0, "supplier")),  # 0 days is a lead time, not "none"
    ],
)
def test_planned_lead_time(lead_source: str, supplier: int | None, expected: tuple[int, str]) -> None:
    assert planned_lead_time(DEFAULT_SETTINGS, lead_source, supplier) == expected
