"""Small dialect helpers so the set-based queries run on PostgreSQL and on the embedded SQLite."""

from __future__ import annotations

from sqlalchemy import Connection
from sqlalchemy.orm import Session


def dialect(db: Session | Connection) -> str:
    """The dialect name behind a session or connection."""
    if isinstance(db, Connection):
        return db.dialect.name
    return db.get_bind().dialect.name


def epoch(db: Session | Connection, column: str) -> str:
    """SQL for a timestamp column as Unix seconds."""
    if dialect(db) == "postgresql":
        return f"EXTRACT(EPOCH FROM {column})"
    return f"((julianday({column}) - 2440587.5) * 86400.0)"


def greatest(db: Session | Connection, *exprs: str) -> str:
    """SQL for the largest of several expressions."""
    name = "GREATEST" if dialect(db) == "postgresql" else "MAX"
    return f"{name}({', '.join(exprs)})"


def least(db: Session | Connection, *exprs: str) -> str:
    """SQL for the smallest of several expressions."""
    name = "LEAST" if dialect(db) == "postgresql" else "MIN"
    return f"{name}({', '.join(exprs)})"
