"""Engine, session scope and the declarative Base shared by every model."""

from __future__ import annotations

import select
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, DateTime, Engine, MetaData, create_engine, event
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker
from sqlalchemy.pool import StaticPool

from app.config import sqlite_path
from app.infra.sql import binary_arrays
from app.queue import enqueue_on_commit

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

# BIGINT on PostgreSQL, INTEGER on SQLite so that SQLite keeps its rowid autoincrement.
BigId = BigInteger().with_variant(sqlite.INTEGER(), "sqlite")
# JSONB on PostgreSQL for indexing and compact storage; plain JSON elsewhere.
JsonDoc = JSON().with_variant(postgresql.JSONB(), "postgresql")


class Base(DeclarativeBase):
    """Declarative base with a naming convention so Alembic names constraints predictably."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map: dict[Any, Any] = {datetime: DateTime(timezone=True)}


def utcnow() -> datetime:
    """The current time, timezone-aware in UTC."""
    return datetime.now(UTC)


def as_utc(moment: datetime) -> datetime:
    """A stored time as an aware UTC time (SQLite hands back naive ones; every stored time is UTC)."""
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def make_engine(url: str, *, echo: bool = False) -> Engine:
    """Create an engine with the pragmas and pool settings each dialect needs."""
    if url.startswith("sqlite"):
        path = sqlite_path(url)
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
        kwargs: dict[str, Any] = {"connect_args": {"check_same_thread": False, "timeout": 30}}
        if url in ("sqlite://", "sqlite:///:memory:"):
            kwargs["poolclass"] = StaticPool
        engine = create_engine(url, echo=echo, **kwargs)

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA foreign_keys=ON")
            # WAL lets the in-process job thread write while requests read.
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.close()

        return engine
    engine = create_engine(url, echo=echo, pool_pre_ping=True, pool_size=5, max_overflow=10)
    _on_connect(engine)
    return engine


def _on_connect(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _adapters(dbapi_conn: Any, _record: Any) -> None:
        binary_arrays(dbapi_conn)


def make_autocommit_engine(url: str, *, echo: bool = False) -> Engine:
    """An autocommit PostgreSQL engine for one-statement writes on a hot path (the Shopify webhook front).

    Each statement commits on its own, so a write is one round trip instead of BEGIN, statement and COMMIT. Its
    checkout tests the connection's socket instead of pre-pinging it: a server that restarted or terminated the
    backend has already sent its goodbye, which makes the idle socket readable, and the pool then replaces the
    connection before anything is sent on it. A connection that dies mid-statement is the caller's to handle.
    """
    engine = create_engine(url, echo=echo, isolation_level="AUTOCOMMIT", pool_size=5, max_overflow=5)
    _on_connect(engine)

    @event.listens_for(engine, "checkout")
    def _hung_up(dbapi_conn: Any, _record: Any, _proxy: Any) -> None:
        if getattr(dbapi_conn, "closed", False) or getattr(dbapi_conn, "broken", False):
            raise DisconnectionError("connection closed")
        poller = select.poll()
        poller.register(dbapi_conn.fileno(), select.POLLIN | select.POLLERR | select.POLLHUP)
        if poller.poll(0):
            # An idle connection has nothing to read unless the server hung up (or sent a FATAL before doing so).
            raise DisconnectionError("server closed the idle connection")

    return engine


class Database:
    """An engine and its session factory."""

    def __init__(self, url: str, *, echo: bool = False) -> None:
        self.url = url
        self.engine = make_engine(url, echo=echo)
        self.sessions = sessionmaker(self.engine, expire_on_commit=False)
        # Jobs queued with enqueue_after_commit on these sessions go out when their transaction commits.
        enqueue_on_commit(self.sessions)
        # SQLite commits locally and never pre-pings: its own engine serves one-statement writes as well.
        self.autocommit_engine = (
            self.engine if self.engine.dialect.name == "sqlite" else make_autocommit_engine(url, echo=echo)
        )

    @property
    def dialect(self) -> str:
        """The dialect name: 'postgresql' or 'sqlite'."""
        return self.engine.dialect.name

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A session committed on success and rolled back on error."""
        session = self.sessions()
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise
        finally:
            session.close()

    def dispose(self) -> None:
        """Close every pooled connection."""
        self.engine.dispose()
        if self.autocommit_engine is not self.engine:
            self.autocommit_engine.dispose()
