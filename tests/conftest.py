"""Shared fixtures: real PostgreSQL and Redis for integration tests, skipped loudly when absent outside CI."""

from __future__ import annotations

import os
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from app.db import Base, Database

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "tests" / "fixtures"
IN_CI = os.environ.get("CI", "").lower() == "true"

# Tests wipe what they use, so they never fall back to DATABASE_URL/REDIS_URL, which may be real.
TEST_DATABASE_URL = os.environ.get("TEST_DATABASE_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/backsoon_test")
TEST_REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/13")


def _pg_url() -> str:
    url = TEST_DATABASE_URL
    if url.startswith("postgres://") or url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url.split("://", 1)[1]
    return url


def _ensure_database(url: str) -> None:
    target = make_url(url)
    admin = create_engine(target.set(database="postgres"), isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            exists = conn.execute(text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": target.database}).scalar()
            if not exists:
                conn.execute(text(f'CREATE DATABASE "{target.database}"'))
    finally:
        admin.dispose()


def _unavailable(what: str, exc: BaseException) -> None:
    message = f"{what} is unreachable ({exc.__class__.__name__}: {exc})"
    if IN_CI:
        pytest.fail(f"{message}; under CI=true nothing may be skipped", pytrace=False)
    banner = "\n" + "!" * 78 + f"\n!! SKIPPING INTEGRATION TESTS: {message}\n" + "!" * 78
    warnings.warn(banner, stacklevel=2)
    print(banner)
    pytest.skip(message)


@pytest.fixture(scope="session")
def pg_url() -> str:
    """URL of a migrated PostgreSQL test database."""
    from alembic import command
    from alembic.config import Config

    url = _pg_url()
    if "test" not in (make_url(url).database or ""):
        pytest.fail(f"refusing to wipe {url!r}: the test database name must contain 'test'", pytrace=False)
    try:
        _ensure_database(url)
    except Exception as exc:
        _unavailable("PostgreSQL", exc)
    engine = create_engine(url)
    with engine.begin() as conn:
        # A clean schema every session so the migration itself is tested from the first table.
        conn.execute(text("DROP SCHEMA public CASCADE"))
        conn.execute(text("CREATE SCHEMA public"))
    engine.dispose()
    cfg = Config(str(ROOT / "alembic.ini"))
    cfg.attributes["database_url"] = url
    cfg.attributes["configure_logger"] = False
    command.upgrade(cfg, "head")
    return url


# False once something wrote to the test database outside the db fixture (the browser tests' live servers): the next
# test using db then starts by emptying the tables instead of inheriting a seeded demo store.
PG_STATE = {"clean": True}


def _truncate_all(db: Database) -> None:
    tables = ", ".join(f'"{t.name}"' for t in Base.metadata.sorted_tables)
    with db.engine.begin() as conn:
        conn.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))


@pytest.fixture
def db(pg_url: str) -> Iterator[Database]:
    """A Database on the migrated test database, empty at the start; every table is emptied after the test."""
    database = Database(pg_url)
    if not PG_STATE["clean"]:
        _truncate_all(database)
    try:
        yield database
    finally:
        _truncate_all(database)
        PG_STATE["clean"] = True
        database.dispose()


@pytest.fixture
def redis_conn() -> Iterator[object]:
    """A real Redis connection on its own logical database, flushed before and after."""
    import redis

    conn = redis.Redis.from_url(TEST_REDIS_URL)
    try:
        conn.ping()
    except Exception as exc:
        _unavailable("Redis", exc)
    conn.flushdb()
    try:
        yield conn
    finally:
        conn.flushdb()
        conn.close()


@pytest.fixture
def sqlite_db(tmp_path: Path) -> Iterator[Database]:
    """A migrated SQLite database in a temporary folder (the embedded default)."""
    from alembic import command
    from alembic.config import Config

    url = f"sqlite:///{tmp_path / 'backsoon.db'}"
    cfg = Config(str(ROOT / "alembic.ini"))
    cfg.attributes["database_url"] = url
    cfg.attributes["configure_logger"] = False
    command.upgrade(cfg, "head")
    db = Database(url)
    try:
        yield db
    finally:
        db.dispose()
