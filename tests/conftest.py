"""Shared fixtures: real PostgreSQL and Redis for integration tests, skipped loudly when absent outside CI.

The database: ``db`` runs the test inside one transaction on one connection, rolled back at the end (the app's own
commits release savepoints; see tests/databases.py). A test whose code opens connections of its own (threads,
subprocesses, forks, live servers, the autocommit engine, a CLI) is marked ``@pytest.mark.truncating("why")``
(or its module is) and gets a plain Database whose tables are emptied by TRUNCATE afterwards instead. A rolled-back
test that opens a second connection or leaves rows behind fails, naming the marker.

The web app: ``app`` is built by the app factory on the test's ``db`` with ``job_queue`` (in-process, eager) and
the test settings, and ``client`` is its test client. A module changes them by redefining a fixture, not by
building an app of its own:

- ``settings_overrides``: Settings fields on top of the test defaults (``{"demo": True, "secret_key": ...}``);
- ``job_queue``: the queue (``parked_jobs``, a ``RecordingQueue``, a ``RedisJobQueue``);
- ``make_app(**settings, jobs=..., database=...)``: another app in the same test (demo mode off, a dead queue).
"""

from __future__ import annotations

import hashlib
import os
import threading
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from app.config import Settings
from app.db import Database
from app.queue import InProcessJobQueue, JobQueue
from app.runtime import Runtime, set_runtime
from app.web.factory import build_app
from tests.databases import RollbackDatabase, restart_identities, tables_with_rows, truncate_all

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "tests" / "fixtures"
IN_CI = os.environ.get("CI", "").lower() == "true"

# Tests wipe what they use, so they never fall back to DATABASE_URL/REDIS_URL, which may be real.
TEST_DATABASE_URL = os.environ.get("TEST_DATABASE_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/backsoon_test")
TEST_REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/13")


def hashed_name(name: str) -> str:
    """The content-hashed name pages must use for app/static/<name>, worked out here from the file's bytes."""
    digest = hashlib.sha256((ROOT / "app" / "static" / name).read_bytes()).hexdigest()[:12]
    stem, _, suffix = name.rpartition(".")
    return f"{stem}.{digest}.{suffix}"


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


def _truncating(url: str) -> Iterator[Database]:
    database = Database(url)
    if PG_STATE["clean"]:
        with database.engine.begin() as conn:
            restart_identities(conn)  # a rolled-back test before this one moved them
    else:
        truncate_all(database)
    try:
        yield database
    finally:
        truncate_all(database)
        PG_STATE["clean"] = True
        database.dispose()


def _rolled_back(url: str) -> Iterator[Database]:
    if not PG_STATE["clean"]:
        plain = Database(url)
        try:
            truncate_all(plain)
        finally:
            plain.dispose()
        PG_STATE["clean"] = True
    database = RollbackDatabase(url)
    try:
        yield database
    finally:
        database.close()
        try:
            left = tables_with_rows(database)
            if left:
                truncate_all(database)  # so the next test starts empty all the same
        finally:
            database.dispose()
    marker = 'mark it @pytest.mark.truncating("why")'
    if database.refused:
        pytest.fail(f"this test opened {database.refused} connection(s) besides its rolled-back one: {marker}")
    if left:
        pytest.fail(f"this test left rows in {', '.join(left)} outside its rolled-back transaction: {marker}")


@pytest.fixture
def db(request: pytest.FixtureRequest, pg_url: str) -> Iterator[Database]:
    """The test's Database on the migrated test database, empty at the start and rolled back (or truncated) after."""
    marker = request.node.get_closest_marker("truncating")
    if marker is None:
        yield from _rolled_back(pg_url)
        return
    if not (marker.args and isinstance(marker.args[0], str) and marker.args[0].strip()):
        pytest.fail('@pytest.mark.truncating needs its reason: @pytest.mark.truncating("why")', pytrace=False)
    yield from _truncating(pg_url)


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    """Settings fields the module's app uses on top of the test defaults; redefine it in a module to change them."""
    return {}


@pytest.fixture
def job_queue() -> JobQueue:
    """The job queue of the app: in-process and eager; redefine it in a module for a parked, recording or Redis one."""
    return InProcessJobQueue(eager=True)


@pytest.fixture
def parked_jobs() -> Iterator[InProcessJobQueue]:
    """An in-process queue whose worker never picks anything up, so enqueued jobs stay visible."""
    jobs = InProcessJobQueue(eager=False)
    release = threading.Event()
    # A live stand-in for the worker thread: the queue sees a worker and starts none of its own.
    jobs._thread = threading.Thread(target=release.wait, name="parked-worker", daemon=True)
    jobs._thread.start()
    yield jobs
    release.set()


AppFactory = Callable[..., Flask]


@pytest.fixture
def make_app(
    request: pytest.FixtureRequest, job_queue: JobQueue, settings_overrides: dict[str, Any]
) -> Iterator[AppFactory]:
    """Builds an app like ``app``: keyword arguments override settings, ``jobs=``/``database=`` replace those."""

    def make(*, jobs: JobQueue | None = None, database: Database | None = None, **settings: Any) -> Flask:
        # The test's db only when no other database is given, so an app on SQLite alone needs no PostgreSQL.
        on: Database = request.getfixturevalue("db") if database is None else database
        values: dict[str, Any] = {"env": "test", "database_url": on.url, **settings_overrides, **settings}
        # The factory behind create_app(), given a runtime so the app uses this test's database and queue.
        return build_app(runtime=Runtime(Settings(**values), on, job_queue if jobs is None else jobs))

    yield make
    set_runtime(None)  # build_app installed the runtime process-wide; the next test must not inherit it


@pytest.fixture
def app(make_app: AppFactory) -> Flask:
    """The Flask app on the test's db, job_queue and settings_overrides."""
    return make_app()


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    """A test client of the app."""
    return app.test_client()


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
