"""Freshness rules, pure: when a store's pass is due, what to do about its webhooks, which banners its admin shows."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any


def slot(store_id: int, every_seconds: int) -> int:
    """The store's fixed offset (seconds) within every period of ``every_seconds``."""
    # Ids are dense, so consecutive stores one second apart spread any number of stores evenly over the period.
    return store_id % every_seconds


def is_due(store_id: int, now: datetime, last_started: datetime | None, every_seconds: int) -> bool:
    """True when the store's slot in the current period has come and no pass started since it came."""
    if last_started is None:
        return True
    offset = slot(store_id, every_seconds)

    def period(moment: datetime) -> int:
        return int(moment.timestamp() - offset) // every_seconds

    return period(now) > period(last_started)


@dataclass(frozen=True, slots=True)
class WebhookPlan:
    """What a pass does about our webhooks: re-enable these (id, topic), create these topics, leave these alone."""

    enable: tuple[tuple[int, str], ...]
    create: tuple[str, ...]
    # Topics whose only webhook of ours the merchant paused: theirs to resume, so the admin asks them to.
    paused: tuple[str, ...]


def plan_webhooks(hooks: Iterable[Mapping[str, Any]], delivery_url: str, topics: Sequence[str]) -> WebhookPlan:
    """For each topic: nothing when one of ours is active; else re-enable one WooCommerce disabled; else create one.

    "Ours" is a webhook delivering to our URL for the store. A paused one is left as it is: only a merchant pauses.
    """
    by_topic: dict[str, dict[str, list[int]]] = {}
    for hook in hooks:
        if hook.get("delivery_url") != delivery_url:
            continue
        hook_id = hook.get("id")
        if isinstance(hook_id, bool) or not isinstance(hook_id, int):
            continue
        statuses = by_topic.setdefault(str(hook.get("topic")), {})
        statuses.setdefault(str(hook.get("status")), []).append(hook_id)
    enable: list[tuple[int, str]] = []
    create: list[str] = []
    paused: list[str] = []
    for topic in topics:
        found = by_topic.get(topic, {})
        if found.get("active"):
            continue
        if found.get("disabled"):
            enable.append((min(found["disabled"]), topic))
        elif found.get("paused"):
            paused.append(topic)
        else:
            create.append(topic)
    return WebhookPlan(enable=tuple(enable), create=tuple(create), paused=tuple(paused))


@dataclass(frozen=True, slots=True)
class Banner:
    """One admin banner: its element id and its sentence."""

    id: str
    text: str


def banners(
    *,
    failures_in_a_row: int,
    failing_after: int,
    last_error: str | None,
    webhooks_broken: Sequence[str],
    platform_label: str,
) -> list[Banner]:
    """The freshness banners of a connected store (the disconnected banner is the layout's own)."""
    shown: list[Banner] = []
    if failures_in_a_row >= failing_after:
        reason = f" The last error: {last_error}" if last_error else ""
        shown.append(
            Banner(
                "sync-failing",
                f"Syncing with {platform_label} is failing: the last {failures_in_a_row} checks for changes failed, "
                f"so stock shown on your storefront may be out of date.{reason}",
            )
        )
    if webhooks_broken:
        shown.append(
            Banner(
                "webhooks-broken",
                f"{platform_label} is not sending BackSoon updates for {', '.join(webhooks_broken)}: the webhook is "
                f"disabled or paused and could not be re-enabled. Changes still arrive within a few minutes through "
                f"our regular checks.",
            )
        )
    return shown
