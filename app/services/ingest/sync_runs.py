"""Sync-run bookkeeping shared by every platform: open a run, describe its progress, fail it."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from app.db import Database
from app.models import Store, SyncRun, SyncRunStatus
from app.queue import JobQueue, JobSpec, enqueue_after_commit

# A step that raises is retried (the sweeper re-drives the run once its heartbeat is a minute old), but not
# forever: after this many failures in a row at the same point (same phase, same progress) the run stops with
# the last error, so a store whose sync can never get past a record shows a failed sync, not an endless one.
MAX_FAILED_STEPS = 30
# A worker killed in the middle of a step (out of memory on a huge page, say) raises nothing: its run keeps a
# stale heartbeat and the sweeper re-drives it from the same point, where it may be killed again. The step begun
# at the same point this many times without ending (no progress, no error, no wait) stops the run instead.
MAX_INTERRUPTED_STEPS = 5


def running_run(session: Session, store_id: int) -> SyncRun | None:
    """The store's sync run in progress, if any (a store has at most one)."""
    return session.execute(
        select(SyncRun)
        .where(SyncRun.store_id == store_id, SyncRun.status == SyncRunStatus.RUNNING)
        .order_by(SyncRun.id)
    ).scalar_one_or_none()


def open_run(
    session: Session, jobs: JobQueue, store_id: int, kind: str, first_phase: str, job: Callable[[int], JobSpec]
) -> SyncRun:
    """Create a run (or return the one already running for the store) and enqueue its job after commit."""
    running = running_run(session, store_id)
    if running is not None:
        return running
    now = datetime.now(UTC)
    run = SyncRun(
        store_id=store_id,
        kind=kind,
        status=SyncRunStatus.RUNNING,
        phase=first_phase,
        done=0,
        counts={},
        cursor={},
        started_at=now,
        heartbeat_at=now,
    )
    session.add(run)
    session.flush()
    enqueue_after_commit(session, jobs, job(run.id))
    return run


def describe(run: SyncRun, phases: Sequence[str]) -> dict[str, Any]:
    """What the admin API and the CLI show of a run, its percentage spread evenly over its phases."""
    index = phases.index(run.phase) if run.phase in phases else len(phases)
    within = (run.done / run.total) if run.total else 0.0
    percent = 100.0 if run.status == SyncRunStatus.DONE else round(100.0 * (index + min(within, 1.0)) / len(phases), 1)
    return {
        "id": run.id,
        "kind": run.kind,
        "status": run.status,
        "phase": run.phase,
        "done": run.done,
        "total": run.total,
        "percent": percent,
        "counts": run.counts,
        "error": run.error,
        # A running run that failed where it stands now (and is being retried), with that failure.
        "retrying": run.error if run.status == SyncRunStatus.RUNNING and _stuck(run) else None,
        "started_at": run.started_at.isoformat() if run.started_at else None,
        "finished_at": run.finished_at.isoformat() if run.finished_at else None,
    }


def _stuck(run: SyncRun) -> bool:
    cursor = run.cursor or {}
    return bool(cursor.get("failed_steps")) and cursor.get("failed_at") == [run.phase, run.done]


def begin_step(session: Session, run: SyncRun) -> bool:
    """Note, in the caller's session, that a step of this running run starts where the run stands; False (and the
    run stopped) when steps begun at this very point were interrupted MAX_INTERRUPTED_STEPS times in a row."""
    cursor = dict(run.cursor or {})
    here = [run.phase, run.done]
    starts = int(cursor.get("step_starts") or 0) + 1 if cursor.get("step_open") == here else 1
    if starts > MAX_INTERRUPTED_STEPS:
        stopped = f"stopped: its worker stopped without finishing {starts - 1} times in a row at {run.phase}"
        mark_failed(session, run.id, f"{stopped}, {run.done} done (killed? out of memory?)")
        return False
    run.cursor = {**cursor, "step_open": here, "step_starts": starts}
    return True


def end_step(db: Database, run_id: int) -> None:
    """A step ended normally (the run waits for Shopify, say): the next start at this point is no interruption."""
    with db.session() as s:
        run = s.get(SyncRun, run_id)
        if run is not None and (run.cursor or {}).get("step_open") is not None:
            run.cursor = {**(run.cursor or {}), "step_open": None, "step_starts": 0}


def failed_step(db: Database, run_id: int, exc: BaseException) -> bool:
    """Record that a step of a running run raised; True when that made MAX_FAILED_STEPS failures in a row at the
    same point and the run was stopped (the caller then returns instead of raising for a retry)."""
    reason = f"{exc.__class__.__name__}: {exc}"
    with db.session() as s:
        run = s.get(SyncRun, run_id)
        if run is None or run.status != SyncRunStatus.RUNNING:
            return False
        cursor = dict(run.cursor or {})
        here = [run.phase, run.done]
        failures = int(cursor.get("failed_steps") or 0) + 1 if cursor.get("failed_at") == here else 1
        # A step that raised was not interrupted: it is counted here, against MAX_FAILED_STEPS.
        run.cursor = {**cursor, "failed_steps": failures, "failed_at": here, "step_open": None, "step_starts": 0}
        if failures >= MAX_FAILED_STEPS:
            mark_failed(s, run_id, f"stopped after {failures} failed attempts in a row; the last: {reason}")
            return True
        run.error = f"attempt {failures} failed: {reason}"[:2000]
        return False


def mark_failed(session: Session, run_id: int, error: str) -> None:
    """Stop a run with its reason, in the caller's transaction."""
    run = session.get(SyncRun, run_id)
    if run is not None:
        run.status, run.error, run.finished_at = SyncRunStatus.FAILED, error[:2000], datetime.now(UTC)


def fail_run(db: Database, run_id: int, error: str) -> None:
    """Stop a run with its reason, in a transaction of its own."""
    with db.session() as s:
        mark_failed(s, run_id, error)


CATALOG_TABLES = ("products", "variants", "locations", "inventory_levels")
# Re-plan once a large initial load is well under way: a table analysed while (nearly) empty gets plans
# that degrade badly as it fills (a 100k-product sync slowed from ~2 ms to over 10 ms per product).
ANALYZE_AFTER_ROWS = (2_000, 20_000)


def analyze_if_due(db: Database, before: int, after: int, tables: Sequence[str] = CATALOG_TABLES) -> bool:
    """ANALYZE the catalog tables when a load crosses one of ANALYZE_AFTER_ROWS (PostgreSQL only)."""
    if not any(before < mark <= after for mark in ANALYZE_AFTER_ROWS):
        return False
    with db.engine.connect() as conn:
        if conn.dialect.name != "postgresql":
            return False
        for table in tables:
            conn.execute(text(f"ANALYZE {table}"))
        conn.commit()
    return True


def advance(db: Database, run_id: int, store_id: int, phases: Sequence[str], phase: str) -> bool:
    """Move a run past a finished phase; True when that was the last one (run done, store's last sync set)."""
    next_index = phases.index(phase) + 1
    with db.session() as s:
        run = s.get(SyncRun, run_id)
        assert run is not None
        if next_index >= len(phases):
            run.status, run.finished_at = SyncRunStatus.DONE, datetime.now(UTC)
            store = s.get(Store, store_id)
            # A history run reads old orders only: changes since the last sync are still the next one's to read.
            if store is not None and run.kind != "history":
                store.last_synced_at = run.started_at
            return True
        run.phase, run.done, run.total = phases[next_index], 0, None
        return False
