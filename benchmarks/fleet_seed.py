"""Seeding for benchmarks/fleet.py: many small demo stores bulk-loaded in one transaction, beside one large one.

Each fleet store is the demo generator's Northwind Goods at the fleet's size (its own seed, so catalogs and
histories differ), loaded through the demo seed's own loader and COPY sink: one transaction, one COPY stream, the
tables analysed once at the end instead of once per store.
"""

from __future__ import annotations

import contextlib
import dataclasses
from datetime import UTC, date, datetime

from sqlalchemy import text

from app.db import Database
from app.platforms.demo import seed as demo_seed
from app.platforms.demo.past_results import write_past_results
from integrations.demo import DemoStoreAdapter

# The fleet's stores are told apart from the single large demo store by their domain.
FLEET_DOMAIN = "fleet-{}.bench.localhost"
FLEET_LIKE = "fleet-%.bench.localhost"
# Each fleet store's generator seed: the store's number plus this, so no two stores are the same catalog.
SEED_BASE = 1000
# Stores loaded per transaction.
CHUNK = 25


def fleet_store_ids(db: Database) -> list[int]:
    """The fleet's store ids, in id order."""
    with db.session() as s:
        rows = s.execute(text("SELECT id FROM stores WHERE domain LIKE :d ORDER BY id"), {"d": FLEET_LIKE})
        return [int(r[0]) for r in rows]


def seed_fleet(
    db: Database, stores: int, variants: int, days: int, today: date | None = None, *, replace: bool = True
) -> list[int]:
    """Seed a fleet of ``stores`` demo stores of ``variants`` variants and ``days`` days of history each: anew, or
    (``replace`` false) adding the stores a stopped seeding did not commit. The new stores' ids."""
    day = today or datetime.now(UTC).date()
    today_start = datetime.combine(day, datetime.min.time(), tzinfo=UTC)
    with db.engine.begin() as conn:
        # Every row of a store hangs off it through ON DELETE CASCADE.
        if replace:
            conn.execute(text("DELETE FROM stores WHERE domain LIKE :d"), {"d": FLEET_LIKE})
        have = {
            str(r[0]) for r in conn.execute(text("SELECT domain FROM stores WHERE domain LIKE :d"), {"d": FLEET_LIKE})
        }
    todo = [n for n in range(stores) if FLEET_DOMAIN.format(n) not in have]
    ids: list[int] = []
    # A transaction per chunk of stores: one for the whole fleet ran PostgreSQL's shared lock table out of room on a
    # server shared with other databases. The tables are analysed after the first chunk only: enough for the
    # planner to stop treating them as empty (the caller analyses everything at the end).
    for chunk, first in enumerate(range(0, len(todo), CHUNK)):
        with contextlib.ExitStack() as stack:
            conn = stack.enter_context(db.engine.begin())
            id_conn = stack.enter_context(db.engine.connect().execution_options(isolation_level="AUTOCOMMIT"))
            sink = demo_seed._PostgresSink(conn, id_conn)
            stack.callback(sink.close)
            loaders = []
            for n in todo[first : first + CHUNK]:
                adapter = DemoStoreAdapter(SEED_BASE + n, variants, days, day)
                info = dataclasses.replace(adapter.store_info(), domain=FLEET_DOMAIN.format(n), name=f"Fleet store {n}")
                loader = demo_seed._Loader(conn, sink, demo_seed._insert_store(conn, info), demo_seed._quiet)
                loader.load_locations(adapter)
                loader.load_suppliers(adapter)
                loader.load_catalog(adapter)
                loader.load_orders(adapter)
                loader.load_purchase_orders(adapter)
                loader.load_inventory(adapter)
                loader.load_stock_events(adapter)
                loader.load_signups(adapter)
                loader.load_stock_history(adapter)
                loaders.append(loader)
            if chunk == 0:
                sink.finish(demo_seed.TABLES)
            else:
                sink.flush()
            for loader in loaders:
                loader.update_sellable()
                write_past_results(conn, loader.store_id, today_start)
                ids.append(loader.store_id)
    return ids


def seed_single(db: Database, variants: int, days: int) -> int:
    """Replace the single large demo store (the floor's) and return its id."""
    return demo_seed.seed_demo(db, variants=variants, days=days).store_id


def vacuum_analyze(db: Database) -> None:
    """VACUUM ANALYZE the whole database (after a bulk load, so the planner sees the real row counts)."""
    with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("VACUUM ANALYZE"))
