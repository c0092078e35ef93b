"""The Alembic migrations build exactly the schema the models declare, on PostgreSQL and SQLite, and move data."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from sqlalchemy import create_engine, text

import app.models  # noqa: F401 - registers every table
from app.db import Base, Database
from tests.conftest import ROOT

pytestmark = pytest.mark.integration


def _diff(db: Database) -> list[object]:
    with db.engine.connect() as conn:
        return list(compare_metadata(MigrationContext.configure(conn), Base.metadata))


@pytest.mark.truncating("compares the schema on a connection of its own")
def test_postgresql_schema_matches_the_models(db: Database) -> None:
    assert _diff(db) == []


def test_sqlite_schema_matches_the_models(sqlite_db: Database) -> None:
    assert _diff(sqlite_db) == []


def test_0007_ends_each_sell_out_span_at_its_variants_next_event(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'spans.db'}"
    cfg = Config(str(ROOT / "alembic.ini"))
    cfg.attributes["database_url"] = url
    cfg.attributes["configure_logger"] = False
    command.upgrade(cfg, "0006")
    t = [datetime(2026, 11, d, 12, 0, tzinfo=UTC) for d in range(1, 6)]
    events = [
        # variant 1: sold out, restocked, sold out again (still); variant 2: sold out twice in a row, then restocked.
        (1, 1, "sellout", t[0]), (2, 1, "restock", t[1]), (3, 1, "sellout", t[2]),
        (4, 2, "sellout", t[0]), (5, 2, "sellout", t[1]), (6, 2, "restock", t[3]),
    ]  # fmt: skip
    engine = create_engine(url)
    with engine.begin() as conn:
        for eid, vid, kind, at in events:
            conn.execute(
                text(
                    "INSERT INTO stock_events (id, store_id, variant_id, kind, quantity_before, quantity_after,"
                    " occurred_at, source, waves_sent, details) VALUES (:i, 1, :v, :k, 0, 0, :at, 'demo', 0, '{}')"
                ),
                {"i": eid, "v": vid, "k": kind, "at": at},
            )
    command.upgrade(cfg, "head")
    with engine.connect() as conn:
        ended = dict(conn.execute(text("SELECT id, ended_at FROM stock_events ORDER BY id")).all())
    engine.dispose()
    as_text = {eid: None if at is None else str(at)[:19] for eid, at in ended.items()}
    assert as_text == {
        1: "2026-11-02 12:00:00",
        2: None,
        3: None,
        4: "2026-11-02 12:00:00",
        5: "2026-11-04 12:00:00",
        6: None,
    }


def test_0009_keeps_a_typed_admin_email_as_the_merchants_own_value(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'identity.db'}"
    cfg = Config(str(ROOT / "alembic.ini"))
    cfg.attributes["database_url"] = url
    cfg.attributes["configure_logger"] = False
    command.upgrade(cfg, "0008")
    engine = create_engine(url)
    with engine.begin() as conn:
        for sid, email in ((1, "owner@myshop.example.com"), (2, None)):
            conn.execute(
                text(
                    "INSERT INTO stores (id, platform, domain, name, scopes, timezone, currency, locale, status,"
                    " installed_at, created_at, updated_at, admin_email) VALUES (:i, 'woocommerce', :d, 'shop', '',"
                    " 'UTC', 'USD', 'en', 'active', :t, :t, :t, :e)"
                ),
                {"i": sid, "d": f"https://shop{sid}.example", "t": datetime(2026, 12, 1, tzinfo=UTC), "e": email},
            )
    command.upgrade(cfg, "head")
    with engine.connect() as conn:
        rows = conn.execute(
            text("SELECT id, admin_email, identity_overrides, reported_identity FROM stores ORDER BY id")
        ).all()
    engine.dispose()
    assert [(r[0], r[1], None if r[2] is None else json.loads(r[2]), r[3]) for r in rows] == [
        (1, "owner@myshop.example.com", {"admin_email": "owner@myshop.example.com"}, None),
        (2, None, None, None),
    ]
