"""The Alembic migrations build exactly the schema the models declare, on PostgreSQL and SQLite, and move data."""

from __future__ import annotations

import json
import warnings
from datetime import UTC, datetime, timedelta
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


# SQLite's reflection cannot read an expression index back, so those are compared by their SQL instead.
_EXPRESSION_INDEXES = {"ix_orders_store_lower_email": "ON orders (store_id, lower(email))"}


def _diff(db: Database) -> list[object]:
    with db.engine.connect() as conn:
        if conn.dialect.name != "sqlite":
            return list(compare_metadata(MigrationContext.configure(conn), Base.metadata))

        def include(obj: object, name: str | None, kind: str, reflected: bool, compare_to: object) -> bool:
            return not (kind == "index" and name in _EXPRESSION_INDEXES)

        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", "Skipped unsupported reflection of expression-based index")
            warnings.filterwarnings("ignore", "autogenerate skipping metadata-specified expression-based index")
            context = MigrationContext.configure(conn, opts={"include_object": include})
            return list(compare_metadata(context, Base.metadata))


@pytest.mark.truncating("compares the schema on a connection of its own")
def test_postgresql_schema_matches_the_models(db: Database) -> None:
    assert _diff(db) == []


def test_sqlite_schema_matches_the_models(sqlite_db: Database) -> None:
    assert _diff(sqlite_db) == []
    with sqlite_db.engine.connect() as conn:
        found = dict(conn.execute(text("SELECT name, sql FROM sqlite_master WHERE type = 'index'")).all())
    for name, columns in _EXPRESSION_INDEXES.items():
        assert columns in found[name]


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


def test_0011_sets_shopify_order_horizons_and_spans_for_variants_sold_out_since_found(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'history.db'}"
    cfg = Config(str(ROOT / "alembic.ini"))
    cfg.attributes["database_url"] = url
    cfg.attributes["configure_logger"] = False
    command.upgrade(cfg, "0010")
    t0 = datetime(2026, 10, 1, 12, 0, tzinfo=UTC)
    day = timedelta(days=1)
    engine = create_engine(url)
    with engine.begin() as conn:

        def run(sql: str, **values: object) -> None:
            conn.execute(text(sql), {"t": t0, **values})

        # 1: Shopify, first synced a day after install; 2: Shopify with read_all_orders; 3: Shopify never synced;
        # 4: WooCommerce (no horizon).
        for sid, platform, scopes in (
            (1, "shopify", "read_orders"),
            (2, "shopify", "read_orders,read_all_orders"),
            (3, "shopify", "read_orders"),
            (4, "woocommerce", "read_write"),
        ):
            run(
                "INSERT INTO stores (id, platform, domain, name, scopes, timezone, currency, locale, status,"
                " installed_at, created_at, updated_at) VALUES (:i, :p, :d, 's', :sc, 'UTC', 'USD', 'en', 'active',"
                " :t, :t, :t)",
                i=sid, p=platform, d=f"shop{sid}.example", sc=scopes,
            )  # fmt: skip
        for rid, started in ((1, t0 + day), (2, t0 + 5 * day)):
            run(
                "INSERT INTO sync_runs (id, store_id, kind, status, phase, done, counts, cursor, attempts, started_at,"
                " created_at, updated_at) VALUES (:i, 1, 'initial', 'done', 'finalize', 0, '{}', '{}', 0, :s, :t, :t)",
                i=rid, s=started,
            )  # fmt: skip
        run(
            "INSERT INTO products (id, store_id, external_id, title, handle, description, vendor, product_type, kind,"
            " status, published, collections, tags, created_at, updated_at) VALUES (1, 4, 'p', '', '', '', '', '',"
            " 'simple', 'active', 1, '[]', '[]', :t, :t)"
        )
        run(
            "INSERT INTO locations (id, store_id, external_id, name, active, fulfills_online, created_at, updated_at)"
            " VALUES (1, 4, 'l', '', 1, 1, :t, :t)"
        )
        # 1: a sale; 2: a level update only; 3: neither; 4: had an edge; 5: in stock; 6: no state yet.
        for vid, qty in ((1, 0), (2, 0), (3, -2), (4, 0), (5, 3), (6, 0)):
            run(
                "INSERT INTO variants (id, store_id, product_id, external_id, sku, title, options, price, tracked,"
                " inventory_policy, backorder, stock_from_parent, published, position, sellable_quantity, created_at,"
                " updated_at) VALUES (:i, 4, 1, :e, '', '', '{}', 1, 1, 'deny', 0, 0, 1, 0, :q, :c, :c)",
                i=vid, e=f"v{vid}", q=qty, c=t0 + 10 * day,
            )  # fmt: skip
            if vid != 6:
                run(
                    "INSERT INTO stock_states (variant_id, store_id, sellable_quantity, velocity, velocity_windows,"
                    " suggested_reorder_qty, status, badge_kind, signal, signal_reason, priority, waitlist_open,"
                    " incoming_quantity, lead_time_days, reasons, fingerprint, input_fingerprint, computed_at,"
                    " changed_at) VALUES (:i, 4, :q, 0, '[]', 0, 's', 'none', 'ok', '', 0, 0, 0, 14, '[]', '', '',"
                    " :t, :t)",
                    i=vid, q=qty,
                )  # fmt: skip
        run(
            "INSERT INTO orders (id, store_id, external_id, name, currency, total, financial_status, status,"
            " ordered_at, created_at, updated_at) VALUES (1, 4, 'o', '#1', 'USD', 1, 'paid', 'open', :t, :t, :t)"
        )
        for lid, vid, at in ((1, 1, t0 + 2 * day), (2, 1, t0 + 3 * day), (3, 1, t0 + 20 * day)):
            run(
                "INSERT INTO order_lines (id, store_id, order_id, variant_id, external_id, sku, quantity,"
                " refunded_quantity, price, ordered_at, cancelled) VALUES (:i, 4, 1, :v, :e, '', 1, 0, 1, :a, 0)",
                i=lid, v=vid, e=f"l{lid}", a=at,
            )  # fmt: skip
        for lvl, vid, at in ((1, 1, t0 + 4 * day), (2, 2, t0 + 6 * day)):
            run(
                "INSERT INTO inventory_levels (id, store_id, variant_id, location_id, available, external_updated_at)"
                " VALUES (:i, 4, :v, 1, 0, :a)",
                i=lvl, v=vid, a=at,
            )  # fmt: skip
        run(
            "INSERT INTO stock_events (id, store_id, variant_id, kind, quantity_before, quantity_after, occurred_at,"
            " source, waves_sent, details) VALUES (1, 4, 4, 'sellout', 2, 0, :t, 'recompute', 0, '{}')"
        )
    command.upgrade(cfg, "head")
    with engine.connect() as conn:
        horizons = dict(conn.execute(text("SELECT id, orders_history_from FROM stores ORDER BY id")).all())
        spans = conn.execute(
            text("SELECT variant_id, source, details, occurred_at FROM stock_events WHERE id > 1 ORDER BY variant_id")
        ).all()
    engine.dispose()
    # 60 days before the first initial sync, or before the install of a store never synced.
    assert {sid: None if at is None else str(at)[:19] for sid, at in horizons.items()} == {
        1: "2026-08-03 12:00:00",
        2: None,
        3: "2026-08-02 12:00:00",
        4: None,
    }
    # The last sale before the variant was first seen (the one after is not evidence), else the level update,
    # else its creation.
    assert [(v, src, json.loads(d), str(at)[:19]) for v, src, d, at in spans] == [
        (1, "found", {"since": "last_sale"}, "2026-10-04 12:00:00"),
        (2, "found", {"since": "inventory_update"}, "2026-10-07 12:00:00"),
        (3, "found", {"since": "connect"}, "2026-10-11 12:00:00"),
    ]
