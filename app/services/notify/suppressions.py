"""Addresses a store no longer mails: a hard bounce (the receiving server said the mailbox does not exist).

Only a permanent refusal of the address itself counts: an enhanced status 5.1.x ("bad destination mailbox"), or,
without one, 550/551/553 to RCPT TO. A message refused for its content or a full mailbox (5.7.x, 552, 554) fails
that delivery alone and suppresses nothing.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import Connection, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from app.models import Suppression

__all__ = ["is_hard_bounce", "suppress", "suppressed"]

_ENHANCED = re.compile(r"^\s*([245])\.(\d{1,3})\.(\d{1,3})\b")
_HARD_CODES = frozenset({550, 551, 553})


def is_hard_bounce(code: int, reply: str, *, at_rcpt: bool) -> bool:
    """True when a refusal says the address itself does not exist (so mailing it again is pointless)."""
    if not 500 <= code < 600:
        return False
    enhanced = _ENHANCED.match(reply or "")
    if enhanced is not None:
        return enhanced.group(1) == "5" and enhanced.group(2) == "1"
    return at_rcpt and code in _HARD_CODES


def suppress(conn: Connection | Session, store_id: int, email: str, reason: str, now: datetime) -> None:
    """Record a hard bounce for the store (the first reason stays); the caller commits."""
    dialect = conn.get_bind().dialect.name if isinstance(conn, Session) else conn.dialect.name
    ins = pg_insert(Suppression) if dialect == "postgresql" else sqlite_insert(Suppression)
    conn.execute(
        ins.values(store_id=store_id, email=email, reason=reason[:1000], created_at=now).on_conflict_do_nothing(
            index_elements=["store_id", "email"]
        )
    )


def suppressed(conn: Connection | Session, store_id: int, emails: Iterable[str]) -> set[str]:
    """Which of these addresses the store no longer mails."""
    wanted = list(set(emails))
    if not wanted:
        return set()
    rows = conn.execute(
        select(Suppression.email).where(Suppression.store_id == store_id, Suppression.email.in_(wanted))
    ).scalars()
    return set(rows)
