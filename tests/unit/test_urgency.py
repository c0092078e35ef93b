"""The restock email's urgency count: shown only when the count is known, a real limit, and small."""

from __future__ import annotations

import pytest

from app.domain.urgency import restock_urgency


@pytest.mark.parametrize(
    ("tracked", "policy", "backorder", "sellable", "shown"),
    [
        (True, "deny", False, 3, 3),
        (True, "deny", False, 5, 5),  # at the threshold
        (True, "deny", False, 1, 1),
        (True, "deny", False, 6, None),  # plenty: no urgency
        (True, "deny", False, 0, None),
        (True, "deny", False, None, None),  # unknown count
        (False, "deny", False, 3, None),  # stock not tracked: the count means nothing
        (True, "continue", False, 3, None),  # oversells: not a limit
        (True, "deny", True, 3, None),  # backorders: not a limit
    ],
)
def test_urgency_only_when_true(
    tracked: bool, policy: str, backorder: bool, sellable: int | None, shown: int | None
) -> None:
    assert (
        restock_urgency(tracked=tracked, inventory_policy=policy, backorder=backorder, sellable=sellable, threshold=5)
        == shown
    )
