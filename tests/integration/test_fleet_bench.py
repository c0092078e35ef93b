"""benchmarks/fleet.py's helpers at a tiny scale: the fleet's bulk seeding, the first runs and the dispatch count."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import text

from app.db import Database
from benchmarks import fleet, fleet_seed
from integrations.demo import generate

pytestmark = [
    pytest.mark.integration,
    pytest.mark.truncating("the fleet seed COPYs on connections of its own (a copy thread, an autocommit id one)"),
]

TODAY = date(2026, 11, 22)


def test_the_fleet_is_seeded_in_bulk_given_its_first_runs_and_its_dispatch_counted(db: Database, pg_url: str) -> None:
    ids = fleet_seed.seed_fleet(db, 3, 6, 30, TODAY)
    assert fleet_seed.fleet_store_ids(db) == ids
    assert fleet.fleet_seeded(pg_url, 3, 6)
    assert not fleet.fleet_seeded(pg_url, 4, 6)
    expected = [generate(fleet_seed.SEED_BASE + n, 6, 30, today=TODAY).summary() for n in range(3)]
    with db.engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT s.domain, (SELECT count(*) FROM variants v WHERE v.store_id = s.id),"
                " (SELECT count(*) FROM order_lines l WHERE l.store_id = s.id) FROM stores s ORDER BY s.id"
            )
        ).all()
    assert [tuple(r) for r in rows] == [(f"fleet-{n}.bench.localhost", 6, expected[n].order_lines) for n in range(3)]
    # Reseeding replaces the fleet rather than adding to it.
    again = fleet_seed.seed_fleet(db, 2, 6, 30, TODAY)
    assert fleet_seed.fleet_store_ids(db) == again
    # A seeding stopped part way is completed: only the missing store is added.
    added = fleet_seed.seed_fleet(db, 3, 6, 30, TODAY, replace=False)
    assert len(added) == 1
    assert fleet_seed.fleet_store_ids(db) == [*again, *added]
    assert fleet.fleet_seeded(pg_url, 3, 6)
    assert fleet.first_runs(pg_url, again) == 2
    assert fleet.first_runs(pg_url, again) == 0
    with db.engine.connect() as conn:
        states = conn.execute(text("SELECT store_id, count(*) FROM stock_states GROUP BY store_id ORDER BY 1")).all()
    assert [tuple(r) for r in states] == [(again[0], 6), (again[1], 6)]
    counted = fleet.count_dispatch(pg_url)
    # One recompute batch and one attribution batch for the two active stores; nothing else is due.
    assert counted.enqueues == 2
    assert counted.by_job["jobs.stock.recompute_all"][1] == 1
    assert counted.by_job["jobs.attribution.attribute_all"][1] == 1
