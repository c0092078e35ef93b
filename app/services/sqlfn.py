"""Small dialect helpers so the set-based queries run on PostgreSQL and on the embedded SQLite."""

from __future__ import annotations

from sqlalchemy.orm import Session


def dialect(session: Session) -> str:
    """The dialect name of the session's bind."""
    return session.get_bind().dialect.name


def epoch(session: Session, column: str) -> str:
    """SQL for a timestamp column as Unix seconds."""
    if dialect(session) == "postgresql":
        return f"EXTRACT(EPOCH FROM {column})"
    return f"((julianday({column}) - 2440587.5) * 86400.0)"


def greatest(session: Session, *exprs: str) -> str:
    """SQL for the largest of several expressions."""
    name = "GREATEST" if dialect(session) == "postgresql" else "MAX"
    return f"{name}({', '.join(exprs)})"


def least(session: Session, *exprs: str) -> str:
    """SQL for the smallest of several expressions."""
    name = "LEAST" if dialect(session) == "postgresql" else "MIN"
    return f"{name}({', '.join(exprs)})"
