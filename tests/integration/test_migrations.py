"""The Alembic migrations build exactly the schema the models declare, on PostgreSQL and SQLite."""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

import app.models  # noqa: F401 - registers every table
from app.db import Base, Database

pytestmark = pytest.mark.integration


def _diff(db: Database) -> list[object]:
    with db.engine.connect() as conn:
        return list(compare_metadata(MigrationContext.configure(conn), Base.metadata))


def test_postgresql_schema_matches_the_models(pg_db: Database) -> None:
    assert _diff(pg_db) == []


def test_sqlite_schema_matches_the_models(sqlite_db: Database) -> None:
    assert _diff(sqlite_db) == []
