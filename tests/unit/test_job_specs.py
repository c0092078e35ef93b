"""The one table of job names: every name is a function of jobs/, and both schedulers run the same table."""

from __future__ import annotations

import importlib
import inspect
from types import SimpleNamespace

import pytest

from app import job_specs
from app import scheduler as scheduler_module
from app.queue import JobSpec, resolve
from app.scheduler import InProcessScheduler
from tests.factories import RecordingQueue


def test_every_named_job_is_a_function_of_jobs() -> None:
    for name in job_specs.ALL_JOBS:
        fn = resolve(name)
        assert inspect.isfunction(fn), name
        assert fn.__module__ + "." + fn.__name__ == name
    assert len(set(job_specs.ALL_JOBS)) == len(job_specs.ALL_JOBS) == 39


def test_every_job_function_of_jobs_is_named_once() -> None:
    """A job function added to jobs/ without a name here would be unreachable from the services."""
    public = set()
    for module_name in job_specs.job_modules():
        module = importlib.import_module(module_name)
        public |= {
            f"{module_name}.{name}"
            for name, fn in inspect.getmembers(module, inspect.isfunction)
            if fn.__module__ == module_name and not name.startswith("_")
        }
    # clients_for is a helper of the Shopify jobs; recompute_dirty_now the dirty recompute the inbox drain runs itself;
    # process_webhook is the single-delivery job kept for replays.
    assert public - set(job_specs.ALL_JOBS) == {
        "jobs.shopify.clients_for",
        "jobs.stock.recompute_dirty_now",
        "jobs.webhooks.process_webhook",
    }


def test_the_worker_preloads_exactly_the_modules_that_hold_jobs() -> None:
    assert job_specs.job_modules() == (
        "jobs.admin",
        "jobs.attribution",
        "jobs.freshness",
        "jobs.maintenance",
        "jobs.notify",
        "jobs.shopify",
        "jobs.stock",
        "jobs.webhooks",
        "jobs.woocommerce",
    )


def test_periodic_jobs_take_no_arguments_and_collapse_by_name() -> None:
    for periodic in job_specs.SCHEDULE:
        fn = resolve(periodic.func)
        assert [p for p in inspect.signature(fn).parameters.values() if p.default is inspect.Parameter.empty] == []
    sweep = next(p for p in job_specs.SCHEDULE if p.func == job_specs.SWEEP)
    assert sweep.spec() == JobSpec(job_specs.SWEEP, (), job_id="jobs_maintenance_sweep", queue="high", timeout=120)


def test_in_process_scheduler_enqueues_each_periodic_job_when_due(monkeypatch: pytest.MonkeyPatch) -> None:
    queue = RecordingQueue()
    scheduler = InProcessScheduler(queue)
    # Started at 1000 s; two ticks: 30.5 s later, then 900.5 s after the start.
    monkeypatch.setattr(scheduler_module, "time", SimpleNamespace(monotonic=iter([1000.0, 1030.5, 1900.5]).__next__))
    stops = iter([False, False, True])
    monkeypatch.setattr(scheduler, "_stop", SimpleNamespace(wait=lambda _timeout: next(stops)))
    scheduler._loop()
    assert [s.func for s in queue.specs] == [
        job_specs.SWEEP,
        job_specs.RUN_DUE_WAVES,
        job_specs.SWEEP,
        job_specs.RUN_DUE_WAVES,
        job_specs.RECOMPUTE_ALL,
        job_specs.FRESHNESS_DUE,
        job_specs.ATTRIBUTE_ALL,
        job_specs.DELIVER_ALL_WEBHOOKS,
        job_specs.DIGEST_ALL,
        job_specs.DATA_REQUESTS_ALL,
        job_specs.INSTANT_ALERTS_ALL,
    ]
    assert queue.specs[0] == job_specs.SCHEDULE[0].spec()
