"""The pure helpers of benchmarks/storefront_lighthouse.py: Shopify's page weights, medians, run order and INP."""

from __future__ import annotations

import pytest

from benchmarks.storefront_lighthouse import WEIGHTS, inp_from_events, interleaved_plan, median, weighted_score


def test_shopify_weighs_home_product_and_collection_17_40_43() -> None:
    assert WEIGHTS == {"home": 0.17, "product": 0.40, "collection": 0.43}
    assert weighted_score({"home": 90.0, "product": 80.0, "collection": 70.0}) == pytest.approx(77.4, abs=1e-9)
    assert weighted_score({"home": 100.0, "product": 100.0, "collection": 100.0}) == pytest.approx(100.0, abs=1e-9)
    # A drop on the collection page costs more than the same drop on the home page.
    home_drop = weighted_score({"home": 90.0, "product": 100.0, "collection": 100.0})
    collection_drop = weighted_score({"home": 100.0, "product": 100.0, "collection": 90.0})
    assert (home_drop, collection_drop) == (pytest.approx(98.3, abs=1e-9), pytest.approx(95.7, abs=1e-9))


def test_a_missing_page_type_is_refused_rather_than_weighted_as_zero() -> None:
    with pytest.raises(ValueError, match="no score for page type\\(s\\) collection, home"):
        weighted_score({"product": 99.0})


def test_median_of_odd_and_even_run_counts() -> None:
    assert median([91.0, 99.0, 95.0]) == 95.0
    assert median([91.0, 99.0, 95.0, 97.0]) == 96.0
    with pytest.raises(ValueError, match="no runs"):
        median([])


def test_the_variants_order_flips_every_round() -> None:
    assert interleaved_plan(["home", "product"], ["without", "with"], 2) == [
        ("home", "without"),
        ("home", "with"),
        ("product", "without"),
        ("product", "with"),
        ("home", "with"),
        ("home", "without"),
        ("product", "with"),
        ("product", "without"),
    ]
    assert interleaved_plan(["home"], ["without", "with"], 0) == []


def test_inp_is_the_longest_interaction_over_its_entries() -> None:
    events = [
        {"name": "pointerdown", "duration": 40.0, "interactionId": 7},
        {"name": "click", "duration": 96.0, "interactionId": 7},
        {"name": "keydown", "duration": 24.0, "interactionId": 9},
        {"name": "keyup", "duration": 32.0, "interactionId": 9},
        # Not an interaction (no id): a mouseover, however long, does not count.
        {"name": "mouseover", "duration": 400.0, "interactionId": 0},
    ]
    assert inp_from_events(events) == (96.0, 2)
    assert inp_from_events([]) == (0.0, 0)
