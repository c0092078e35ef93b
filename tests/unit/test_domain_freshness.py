"""Freshness rules: each store's pass at its own offset in the period, what to do about our webhooks, the banners."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from app.domain import freshness
from app.platforms.woocommerce.sync import WEBHOOK_TOPICS
from tests.conftest import FIXTURES

EVERY = 240
URL = "https://11.22.33.44:5300/webhooks/woocommerce/1"


def test_each_store_has_a_fixed_offset_within_the_period() -> None:
    assert [freshness.slot(store_id, EVERY) for store_id in (1, 2, 3, 240, 241)] == [1, 2, 3, 0, 1]
    assert freshness.slot(61, 60) == 1
    assert all(0 <= freshness.slot(store_id, EVERY) < EVERY for store_id in range(1, 500))


def test_a_pass_is_due_once_per_period_at_the_stores_offset() -> None:
    # Store 1's slot is at second 1 of every 240 s period counted from the epoch.
    period_start = datetime.fromtimestamp(240 * 7_000_000, UTC)
    slot_time = period_start + timedelta(seconds=1)
    assert freshness.is_due(1, slot_time, None, EVERY) is True  # never ran
    started = slot_time + timedelta(seconds=5)
    assert freshness.is_due(1, started + timedelta(seconds=60), started, EVERY) is False
    assert freshness.is_due(1, slot_time + timedelta(seconds=EVERY - 1), started, EVERY) is False
    assert freshness.is_due(1, slot_time + timedelta(seconds=EVERY), started, EVERY) is True
    # A pass started just before the slot does not stand in for the one due at the slot.
    early = slot_time - timedelta(seconds=1)
    assert freshness.is_due(1, slot_time, early, EVERY) is True
    # Store 2's slot comes a second later: at store 1's slot, store 2's pass of the last period still stands.
    assert freshness.is_due(2, slot_time, slot_time - timedelta(seconds=200), EVERY) is False
    assert freshness.is_due(2, slot_time + timedelta(seconds=1), slot_time - timedelta(seconds=200), EVERY) is True


def _hook(hook_id: int, topic: str, status: str, url: str = URL) -> dict[str, object]:
    return {"id": hook_id, "topic": topic, "status": status, "delivery_url": url}


def test_the_captured_disabled_list_re_enables_ours_and_ignores_the_foreign_one() -> None:
    # The live capture: webhook 2 is BackSoon's product.updated, disabled; webhook 12 delivers elsewhere.
    listed = json.loads((FIXTURES / "woocommerce" / "live-9.4.3" / "webhooks-list-status-disabled.json").read_text())
    assert [(h["id"], h["status"]) for h in listed] == [(12, "disabled"), (2, "disabled")]
    ours_active = [_hook(20 + i, t, "active") for i, t in enumerate(WEBHOOK_TOPICS) if t != "product.updated"]
    plan = freshness.plan_webhooks([*listed, *ours_active], URL, WEBHOOK_TOPICS)
    assert plan == freshness.WebhookPlan(enable=((2, "product.updated"),), create=(), paused=())


def test_missing_topics_are_created_and_an_active_copy_wins_over_a_disabled_one() -> None:
    hooks = [
        _hook(3, "order.created", "disabled"),
        _hook(4, "order.created", "active"),
        _hook(5, "order.updated", "disabled"),
        _hook(6, "order.updated", "disabled"),
        _hook(7, "product.deleted", "paused"),
        _hook(8, "product.created", "active", url="https://other.example/hook"),
    ]
    plan = freshness.plan_webhooks(hooks, URL, WEBHOOK_TOPICS)
    assert plan.enable == ((5, "order.updated"),)  # one per topic, the oldest
    assert plan.paused == ("product.deleted",)
    assert plan.create == ("product.created", "product.updated", "product.restored", "order.deleted")


def test_nothing_to_do_when_every_topic_is_active() -> None:
    hooks = [_hook(i, t, "active") for i, t in enumerate(WEBHOOK_TOPICS, start=1)]
    assert freshness.plan_webhooks(hooks, URL, WEBHOOK_TOPICS) == freshness.WebhookPlan((), (), ())


def test_banners_say_what_is_wrong_and_none_when_healthy() -> None:
    healthy = freshness.banners(
        failures_in_a_row=2, failing_after=3, last_error="x", webhooks_broken=[], platform_label="WooCommerce"
    )
    assert healthy == []
    shown = freshness.banners(
        failures_in_a_row=3,
        failing_after=3,
        last_error="TransientError: GET products: timed out (ReadTimeout)",
        webhooks_broken=["product.updated", "order.created"],
        platform_label="WooCommerce",
    )
    assert shown == [
        freshness.Banner(
            "sync-failing",
            "Syncing with WooCommerce is failing: the last 3 checks for changes failed, so stock shown on your "
            "storefront may be out of date. The last error: TransientError: GET products: timed out (ReadTimeout)",
        ),
        freshness.Banner(
            "webhooks-broken",
            "WooCommerce is not sending BackSoon updates for product.updated, order.created: the webhook is disabled "
            "or paused and could not be re-enabled. Changes still arrive within a few minutes through our regular "
            "checks.",
        ),
    ]
