"""A worker killed halfway through a recompute loses nothing: the sweeper re-drives it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from app import job_specs
from app.config import Settings
from app.db import Database
from app.models import DirtyVariant, StockEvent, StockState
from app.platforms import registry
from app.queue import InProcessJobQueue
from app.runtime import Runtime, set_runtime
from app.services.ingest import sweeper
from app.services.stock import dirty
from app.services.stock import recompute as stock
from tests.conftest import ROOT
from tests.factories import RecordingQueue, make_store, make_variant

pytestmark = [
    pytest.mark.integration,
    pytest.mark.truncating("a worker subprocess recomputes on connections of its own"),
]

CHILD = textwrap.dedent(
    """
    import sys, time
    from app.config import Settings
    from app.db import Database
    from app.queue import InProcessJobQueue
    from app.runtime import Runtime, set_runtime
    from app.services.stock import recompute as stock

    real = stock.recompute

    def slow(session, store_id, variant_ids=None, **kw):
        result = real(session, store_id, variant_ids, **kw)
        session.flush()
        print("computed", flush=True)
        time.sleep(60)  # killed here, before commit
        return result

    stock.recompute = slow
    set_runtime(Runtime(Settings(env="test"), Database(sys.argv[1]), InProcessJobQueue(eager=True)))
    from jobs.stock import recompute_dirty
    recompute_dirty(int(sys.argv[2]))
    """
)


def test_killed_mid_recompute_then_swept_and_finished_once(db: Database) -> None:
    with db.session() as s:
        store = make_store(s)
        v = make_variant(s, store, qty=5)
        sid, vid = store.id, v.id
    with db.session() as s:
        stock.recompute(s, sid)  # baseline: 5 units
        s.execute(stock.Variant.__table__.update().where(stock.Variant.id == vid).values(sellable_quantity=0))
    with db.session() as s:
        stock.recompute(s, sid)  # sold out
        s.execute(stock.Variant.__table__.update().where(stock.Variant.id == vid).values(sellable_quantity=9))
        dirty.mark_dirty(s, RecordingQueue(), sid, [vid], "webhook")

    proc = subprocess.Popen(
        [sys.executable, "-c", CHILD, db.url, str(sid)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == b"computed"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=10)
    time.sleep(0.2)  # PostgreSQL notices the dropped connection and rolls its transaction back

    with db.session() as s:
        assert s.scalars(select(DirtyVariant.variant_id)).all() == [vid]
        assert s.execute(select(StockState.sellable_quantity).where(StockState.variant_id == vid)).scalar_one() == 0
        assert s.scalar(select(func.count()).select_from(StockEvent).where(StockEvent.kind == "restock")) == 0

    jobs = InProcessJobQueue(eager=True)
    set_runtime(Runtime(Settings(env="test"), db, jobs))
    with db.session() as s:
        specs = sweeper.sweep(
            s, jobs, datetime.now(UTC) + timedelta(seconds=61), timedelta(seconds=60), sync_job=registry.sync_job_for
        )
    assert [sp.func for sp in specs] == [job_specs.RECOMPUTE_DIRTY]
    assert jobs.errors == []
    with db.session() as s:
        assert s.scalar(select(func.count()).select_from(DirtyVariant)) == 0
        assert s.execute(select(StockState.sellable_quantity).where(StockState.variant_id == vid)).scalar_one() == 9
        restocks = s.execute(
            select(StockEvent.quantity_before, StockEvent.quantity_after).where(StockEvent.kind == "restock")
        ).all()
    assert [tuple(r) for r in restocks] == [(0, 9)]
    # A second run (a duplicate job) records nothing more.
    from jobs.stock import recompute_dirty

    assert recompute_dirty(sid) == {"variants": 0}
    with db.session() as s:
        assert s.scalar(select(func.count()).select_from(StockEvent).where(StockEvent.kind == "restock")) == 1
