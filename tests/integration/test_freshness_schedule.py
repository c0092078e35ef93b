"""The freshness pass's scheduler (jobs.freshness.pass_due): which stores get a pass, one job per store at a time."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from app import job_specs
from app.config import Settings
from app.db import Database
from app.domain import freshness as rules
from app.models import StoreFreshness
from app.queue import InProcessJobQueue, JobQueue
from app.runtime import Runtime, set_runtime
from jobs import freshness as freshness_jobs
from tests.factories import RecordingQueue, make_store

pytestmark = pytest.mark.integration

SYNCED = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)
EVERY = Settings().fresh_pass_seconds


@pytest.fixture
def ids(db: Database, monkeypatch: pytest.MonkeyPatch) -> dict[str, int]:
    """One store of each kind; the scheduler's clock 100 s past the slot of the store whose pass just ran."""
    with db.session() as s:
        found = {
            "woo": make_store(s, platform="woocommerce", last_synced_at=SYNCED).id,
            "woo_unsynced": make_store(s, platform="woocommerce").id,
            "woo_disconnected": make_store(s, platform="woocommerce", last_synced_at=SYNCED, status="disconnected").id,
            "shopify": make_store(s, platform="shopify", last_synced_at=SYNCED).id,
            "demo": make_store(s, platform="demo", last_synced_at=SYNCED).id,
            "woo_just_ran": make_store(s, platform="woocommerce", last_synced_at=SYNCED).id,
        }
        now = datetime.fromtimestamp(EVERY * 7_400_000 + rules.slot(found["woo_just_ran"], EVERY) + 100, UTC)
        started = now - timedelta(seconds=60)
        s.add(
            StoreFreshness(
                store_id=found["woo_just_ran"],
                last_started_at=started,
                last_finished_at=started,
                checked_through=started,
                failures_in_a_row=0,
                webhook_actions=[],
                webhooks_broken=[],
            )
        )
    clock = iter([now, now + timedelta(seconds=60), now + timedelta(seconds=EVERY)])
    monkeypatch.setattr(freshness_jobs, "utcnow", lambda: next(clock))
    return found


def _tick(db: Database, jobs: JobQueue) -> int:
    set_runtime(Runtime(Settings(env="test"), db, jobs))
    try:
        return freshness_jobs.pass_due()
    finally:
        set_runtime(None)


def test_each_due_store_gets_its_platforms_pass_and_no_other_store_does(db: Database, ids: dict[str, int]) -> None:
    jobs = RecordingQueue()
    assert _tick(db, jobs) == 2
    assert [(spec.func, spec.args, spec.job_id, spec.timeout) for spec in jobs.specs] == [
        (job_specs.WOO_FRESHNESS, (ids["woo"],), f"fresh-{ids['woo']}", 300),
        (job_specs.SHOPIFY_FRESHNESS, (ids["shopify"],), f"fresh-{ids['shopify']}", 300),
    ]


def test_a_pass_still_waiting_absorbs_the_next_one(
    db: Database, ids: dict[str, int], parked_jobs: InProcessJobQueue
) -> None:
    _tick(db, parked_jobs)
    _tick(db, parked_jobs)  # a minute later, the first jobs not picked up yet
    assert parked_jobs._pending == {f"fresh-{ids['woo']}", f"fresh-{ids['shopify']}"}
    assert parked_jobs._items.qsize() == 2


def test_a_store_is_due_again_at_its_slot_one_interval_later(db: Database, ids: dict[str, int]) -> None:
    for _ in range(2):
        jobs = RecordingQueue()
        _tick(db, jobs)
        assert f"fresh-{ids['woo_just_ran']}" not in {spec.job_id for spec in jobs.specs}
    jobs = RecordingQueue()
    _tick(db, jobs)  # one interval after the first tick: its next slot has come
    assert f"fresh-{ids['woo_just_ran']}" in {spec.job_id for spec in jobs.specs}
