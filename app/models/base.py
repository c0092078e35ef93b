"""Shared column helpers for models: ids, store scope, timestamps."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey
from sqlalchemy.orm import Mapped, declared_attr, mapped_column

from app.db import BigId, utcnow


class IdMixin:
    """A surrogate integer primary key."""

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)


class StoreScoped:
    """Every row belongs to a store; deleting the store deletes its rows."""

    @declared_attr
    def store_id(cls) -> Mapped[int]:
        return mapped_column(BigId, ForeignKey("stores.id", ondelete="CASCADE"), index=True, nullable=False)


class Timestamps:
    """Created/updated times kept by the application."""

    created_at: Mapped[datetime] = mapped_column(default=utcnow, nullable=False)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow, nullable=False)
