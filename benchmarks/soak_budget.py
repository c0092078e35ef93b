"""The soak's verdict (benchmarks/soak.py): what was expected against what the database and the SMTP server saw.

Pure: every input is a count or a set the soak collected; nothing here reads a database, a socket or a clock.

Mail budget (issue #16 item 4's bound). A message the SMTP server wrote down but whose reply the sender never read
(the worker killed between the final dot and the 250, or the SMTP server killed after accepting and before
replying) is sent again by whoever resumes the wave: at most one such duplicate per SMTP connection cut. The soak
cannot see which kills landed inside that window, so it allows one duplicate per connection a kill could have cut:
``(worker kills + SMTP server kills) * FANOUT_CONNECTIONS``. Anything above that, and any subscriber never mailed,
is over budget.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class MailFacts:
    """What the soak knows about restock mail at the end of a run."""

    # Addresses whose signup was accepted (202): each is one subscriber who must be mailed.
    subscribers: frozenset[str]
    # Messages the SMTP server wrote down, per recipient (every recipient of the soak, whatever the message).
    received: Mapping[str, int]
    # Delivery rows the database marks 'sent', per recipient: a row for an address the server never saw is lost.
    sent_rows: Mapping[str, int]
    worker_kills: int
    smtp_kills: int
    fanout_connections: int = 1


@dataclass(frozen=True, slots=True)
class MailVerdict:
    """The mail side of the verdict; ``over_budget`` is the soak's JSON value."""

    subscribers: int
    mailed: int
    missed: tuple[str, ...]
    # Recorded as sent in the database, never accepted by the SMTP server.
    lost: tuple[str, ...]
    duplicates: int
    duplicate_bound: int
    over_budget: int
    duplicated: dict[str, int] = field(default_factory=dict)


def mail_verdict(facts: MailFacts) -> MailVerdict:
    """Missed, lost and duplicated messages against the budget; over_budget = missed + lost + duplicates over bound."""
    missed = tuple(sorted(a for a in facts.subscribers if facts.received.get(a, 0) == 0))
    lost = tuple(sorted(a for a, n in facts.sent_rows.items() if n > 0 and facts.received.get(a, 0) == 0))
    # The soak signs each address up once: every message past the first is a duplicate, whatever the database says
    # (two 'sent' rows from two restock events are two messages to one subscriber all the same).
    duplicated = {address: n - 1 for address, n in facts.received.items() if n > 1}
    duplicates = sum(duplicated.values())
    bound = (facts.worker_kills + facts.smtp_kills) * max(1, facts.fanout_connections)
    # A subscriber both missed and lost is counted once: the message that never arrived.
    unique_missing = len(set(missed) | set(lost))
    return MailVerdict(
        subscribers=len(facts.subscribers),
        mailed=sum(1 for a in facts.subscribers if facts.received.get(a, 0) > 0),
        missed=missed,
        lost=lost,
        duplicates=duplicates,
        duplicate_bound=bound,
        over_budget=unique_missing + max(0, duplicates - bound),
        duplicated=duplicated,
    )


@dataclass(frozen=True, slots=True)
class WebhookFacts:
    """What the soak sent and what the database holds for its stores."""

    # Distinct deliveries (topic + body) answered 200 at least once; resends of the same bytes are not counted.
    accepted: int
    # Inbox rows of the soak's stores, by status.
    rows_by_status: Mapping[str, int]
    orders_sent: int
    orders_in_db: int
    order_lines_sent: int
    order_lines_in_db: int
    # Products whose stored quantity is not the last quantity the soak sent for them.
    stock_mismatches: int


def webhook_problems(facts: WebhookFacts) -> list[str]:
    """Each way the run broke exactly-once webhook processing, as a sentence; [] when none."""
    problems: list[str] = []
    rows = sum(facts.rows_by_status.values())
    if rows != facts.accepted:
        problems.append(f"{rows} inbox rows for {facts.accepted} distinct accepted deliveries")
    left = {s: n for s, n in facts.rows_by_status.items() if s not in ("processed", "echo") and n}
    if left:
        problems.append("inbox rows not processed: " + ", ".join(f"{n} {s}" for s, n in sorted(left.items())))
    if facts.orders_in_db != facts.orders_sent:
        problems.append(f"{facts.orders_in_db} orders stored for {facts.orders_sent} sent")
    if facts.order_lines_in_db != facts.order_lines_sent:
        problems.append(f"{facts.order_lines_in_db} order lines stored for {facts.order_lines_sent} sent")
    if facts.stock_mismatches:
        problems.append(f"{facts.stock_mismatches} products not at the last quantity sent")
    return problems
