"""The soak's verdict (benchmarks/soak_budget.py): missed, lost and duplicated mail against the kill bound, and the
ways exactly-once webhook processing can fail."""

from __future__ import annotations

from benchmarks.soak_budget import MailFacts, WebhookFacts, mail_verdict, webhook_problems


def _facts(**kw: object) -> MailFacts:
    base: dict[str, object] = {
        "subscribers": frozenset({"a@x.com", "b@x.com", "c@x.com"}),
        "received": {"a@x.com": 1, "b@x.com": 1, "c@x.com": 1},
        "sent_rows": {"a@x.com": 1, "b@x.com": 1, "c@x.com": 1},
        "worker_kills": 0,
        "smtp_kills": 0,
    }
    base.update(kw)
    return MailFacts(**base)  # type: ignore[arg-type]


def test_everyone_mailed_once_is_within_budget() -> None:
    v = mail_verdict(_facts())
    assert (v.subscribers, v.mailed, v.missed, v.lost, v.duplicates, v.duplicate_bound, v.over_budget) == (
        3, 3, (), (), 0, 0, 0,
    )  # fmt: skip


def test_a_subscriber_never_mailed_is_over_budget_whatever_the_kills() -> None:
    v = mail_verdict(_facts(received={"a@x.com": 1, "b@x.com": 1}, sent_rows={"a@x.com": 1, "b@x.com": 1},
                            worker_kills=5, smtp_kills=5))  # fmt: skip
    assert (v.mailed, v.missed, v.lost, v.over_budget) == (2, ("c@x.com",), (), 1)


def test_a_row_sent_that_the_server_never_accepted_is_lost_and_counted_once_with_the_miss() -> None:
    v = mail_verdict(_facts(received={"a@x.com": 1, "b@x.com": 1}))
    assert (v.missed, v.lost, v.over_budget) == (("c@x.com",), ("c@x.com",), 1)
    # Lost without being a subscriber the soak knew of (a row for an address it never signed up) still counts.
    v = mail_verdict(_facts(sent_rows={"a@x.com": 1, "b@x.com": 1, "c@x.com": 1, "z@x.com": 1}))
    assert (v.missed, v.lost, v.over_budget) == ((), ("z@x.com",), 1)


def test_duplicates_up_to_one_per_killed_connection_are_within_budget_and_past_it_are_not() -> None:
    received = {"a@x.com": 2, "b@x.com": 2, "c@x.com": 3}
    within = mail_verdict(_facts(received=received, worker_kills=3, smtp_kills=1))
    assert (within.duplicates, within.duplicate_bound, within.over_budget) == (4, 4, 0)
    assert within.duplicated == {"a@x.com": 1, "b@x.com": 1, "c@x.com": 2}
    over = mail_verdict(_facts(received=received, worker_kills=1, smtp_kills=1))
    assert (over.duplicates, over.duplicate_bound, over.over_budget) == (4, 2, 2)
    # Each kill may cut every connection of a wave sent over several.
    wide = mail_verdict(_facts(received=received, worker_kills=1, smtp_kills=1, fanout_connections=2))
    assert (wide.duplicate_bound, wide.over_budget) == (4, 0)


def test_two_rows_sent_for_one_subscriber_by_two_restocks_are_a_duplicate_and_a_missing_row_is_not() -> None:
    # Each address signs up once: a second message is a duplicate even when the database holds a row for each.
    v = mail_verdict(_facts(received={"a@x.com": 2, "b@x.com": 1, "c@x.com": 1}, sent_rows={"a@x.com": 2,
                            "b@x.com": 1, "c@x.com": 1}))  # fmt: skip
    assert (v.duplicates, v.duplicated, v.over_budget) == (1, {"a@x.com": 1}, 1)
    # Accepted but its row never written (the worker died after the dot): one message, no duplicate, nothing lost.
    v = mail_verdict(_facts(sent_rows={"a@x.com": 1, "b@x.com": 1}))
    assert (v.duplicates, v.lost, v.missed, v.over_budget) == (0, (), (), 0)


def _webhooks(**kw: object) -> WebhookFacts:
    base: dict[str, object] = {
        "accepted": 10,
        "rows_by_status": {"processed": 9, "echo": 1},
        "orders_sent": 4,
        "orders_in_db": 4,
        "order_lines_sent": 7,
        "order_lines_in_db": 7,
        "stock_mismatches": 0,
    }
    base.update(kw)
    return WebhookFacts(**base)  # type: ignore[arg-type]


def test_every_delivery_stored_once_processed_and_applied_has_no_problem() -> None:
    assert webhook_problems(_webhooks()) == []


def test_each_way_exactly_once_breaks_is_named() -> None:
    assert webhook_problems(_webhooks(rows_by_status={"processed": 11})) == [
        "11 inbox rows for 10 distinct accepted deliveries"
    ]
    assert webhook_problems(_webhooks(rows_by_status={"processed": 7, "received": 2, "failed": 1})) == [
        "inbox rows not processed: 1 failed, 2 received"
    ]
    assert webhook_problems(_webhooks(orders_in_db=3, order_lines_in_db=8, stock_mismatches=2)) == [
        "3 orders stored for 4 sent",
        "8 order lines stored for 7 sent",
        "2 products not at the last quantity sent",
    ]
