"""Command line: `backsoon <command>` (also available as `flask --app app <command>`)."""

from __future__ import annotations

import logging
import os
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import click
from flask import Flask
from flask.cli import FlaskGroup

ROOT = Path(__file__).resolve().parents[1]


def _create_app() -> Flask:
    from app import create_app

    return create_app()


@click.group(cls=FlaskGroup, create_app=_create_app, add_default_commands=True, add_version_option=False)
def cli() -> None:
    """BackSoon: the open restock engine."""


def _alembic_upgrade(url: str) -> None:
    # Alembic's plugin chatter at INFO (some of it at import) would bury the demo's URLs.
    logging.getLogger("alembic").setLevel(logging.WARNING)
    from alembic import command
    from alembic.config import Config

    cfg = Config(str(ROOT / "alembic.ini"))
    cfg.attributes["database_url"] = url
    cfg.attributes["configure_logger"] = False
    command.upgrade(cfg, "head")


@cli.command("migrate")
def migrate_cmd() -> None:
    """Apply database migrations (alembic upgrade head)."""
    from app.config import get_settings

    _alembic_upgrade(get_settings().database_url)
    click.echo("database is at the latest migration")


def _progress_bar() -> Any:
    state: dict[str, Any] = {"phase": None}

    def report(phase: str, done: int, total: int | None) -> None:
        if phase != state["phase"]:
            if state["phase"] is not None:
                click.echo("", err=True)
            state["phase"] = phase
        if total:
            width = 30
            filled = int(width * min(done, total) / total)
            click.echo(f"\r  {phase:<16} [{'#' * filled}{'.' * (width - filled)}] {done}/{total}", nl=False, err=True)
        else:
            click.echo(f"\r  {phase:<16} {done}", nl=False, err=True)

    return report


def _seed(variants: int, days: int, seed: int) -> int:
    from app.platforms.demo.seed import seed_demo
    from app.runtime import get_runtime
    from app.services.notify import attribution
    from app.services.stock.recompute import recompute

    rt = get_runtime()
    result = seed_demo(rt.db, variants=variants, days=days, seed=seed, progress=_progress_bar())
    click.echo("", err=True)
    with rt.db.session() as session:
        outcome = recompute(session, result.store_id)
    with rt.db.session() as session:
        # The seeded past restock emails meet the seeded orders the way every store's do: through attribution.
        converted = attribution.attribute_orders(session, result.store_id, datetime.now(UTC))
    click.echo(
        f"demo store {result.store_id}: {outcome.variants} variants, stock states computed, "
        f"{converted} past restock emails converted"
    )
    return result.store_id


@cli.command("seed-demo")
@click.option("--variants", default=500, show_default=True, help="How many variants to generate.")
@click.option("--days", default=180, show_default=True, help="Days of order history.")
@click.option("--seed", default=7, show_default=True, help="Random seed (the demo is deterministic).")
def seed_demo_cmd(variants: int, days: int, seed: int) -> None:
    """Create (or replace) the demo store and compute its stock states."""
    _seed(variants, days, seed)


@cli.command("recompute")
@click.option("--store", "store_id", type=int, help="Store id to recompute.")
@click.option("--all", "all_stores", is_flag=True, help="Recompute every active store.")
def recompute_cmd(store_id: int | None, all_stores: bool) -> None:
    """Recompute stock states now, in this process."""
    from app.runtime import get_runtime
    from app.services.stock.recompute import active_store_ids, recompute

    if not store_id and not all_stores:
        raise click.UsageError("give --store ID or --all")
    rt = get_runtime()
    with rt.db.session() as session:
        ids = active_store_ids(session) if all_stores else [store_id]
    for sid in ids:
        assert sid is not None
        started = datetime.now(UTC)
        with rt.db.session() as session:
            try:
                result = recompute(session, sid)
            except LookupError as exc:
                raise click.ClickException(str(exc)) from exc
        took = (datetime.now(UTC) - started).total_seconds()
        click.echo(
            f"store {sid}: {result.variants} variants, {result.changed} changed, "
            f"{result.restocks} restocks, {result.sellouts} sell-outs in {took:.2f}s"
        )


@cli.command("sweep")
def sweep_cmd() -> None:
    """Re-enqueue stalled work once (the cron does this every 30 s)."""
    from app.platforms import registry
    from app.runtime import get_runtime
    from app.services.ingest.sweeper import sweep

    rt = get_runtime()
    stale_after = timedelta(seconds=rt.settings.sweep_after_seconds)
    with rt.db.session() as session:
        specs = sweep(session, rt.jobs, datetime.now(UTC), stale_after, sync_job=registry.sync_job_for)
    click.echo(f"re-enqueued {len(specs)} job(s)")


@cli.command("create-api-key")
@click.option("--store", "store_id", type=int, required=True)
def create_api_key_cmd(store_id: int) -> None:
    """Issue a new admin API key for a store (replaces the previous one)."""
    from app.models import Store
    from app.runtime import get_runtime
    from app.services.merchant.api_keys import issue_api_key

    with get_runtime().db.session() as session:
        store = session.get(Store, store_id)
        if store is None:
            raise click.ClickException(f"store {store_id} not found")
        key = issue_api_key(store)
    click.echo(key)


class _Foreground:
    """A job queue that runs nothing: the command drives the sync itself, in the foreground."""

    def enqueue(self, spec: Any) -> bool:
        """Do not hand the run to a worker."""
        return False

    def clear_gate(self, gate: str) -> None:
        """Nothing to reopen."""


@cli.command("sync")
@click.option("--store", "store_id", type=int, required=True, help="Store id.")
@click.option("--reconcile", is_flag=True, help="Only re-read what changed since the last sync.")
@click.option("--poll", default=2.0, show_default=True, help="Seconds between steps of a run that waits on its store.")
def sync_cmd(store_id: int, reconcile: bool, poll: float) -> None:
    """Run a store's catalog sync in the foreground with a progress bar (resumes a running one), on any platform."""
    import time

    from app.models import Store, SyncRun, SyncRunStatus
    from app.platforms import registry
    from app.queue import resolve
    from app.runtime import get_runtime

    rt = get_runtime()
    with rt.db.session() as session:
        store = session.get(Store, store_id)
        if store is None:
            raise click.ClickException(f"store {store_id} not found")
        platform = registry.of(store)
        # Opened without a worker: this command advances the run itself, with the platform's own sync job.
        run = platform.start_sync(session, _Foreground(), store_id, "reconcile" if reconcile else "initial")
        job = platform.sync_job(run.id) if run is not None else None
        if run is None or job is None:
            raise click.ClickException(f"store {store_id}: nothing to sync for {platform.label}")
        run_id = run.id
    advance = resolve(job.func)
    report = _progress_bar()
    while True:
        # A job answers "waiting" while its store prepares data (a Shopify bulk operation), else the run's end.
        outcome = str(advance(*job.args))
        with rt.db.session() as session:
            found = session.get(SyncRun, run_id)
            assert found is not None
            info = platform.sync_progress(found)
        report(f"{info['phase']} {info['percent']:.0f}%", int(info["done"]), info["total"])
        if outcome != "waiting":
            break
        time.sleep(poll)
    click.echo("", err=True)
    click.echo(f"sync {run_id}: {outcome} {info['counts']}" + (f" ({info['error']})" if info["error"] else ""))
    if outcome != SyncRunStatus.DONE:
        raise SystemExit(1)


@cli.command("shopify-app-toml")
@click.option(
    "--out", type=click.Path(dir_okay=False), default="-", show_default=True, help="File to write, or - for stdout."
)
@click.option(
    "--without-order-topics",
    is_flag=True,
    help="Leave out the orders/* and refunds/create webhooks (deployable before Shopify approves protected customer "
    "data).",
)
def shopify_app_toml_cmd(out: str, without_order_topics: bool) -> None:
    """Render shopify.app.toml from APP_URL and SHOPIFY_API_KEY (then run `shopify app deploy`)."""
    from app.config import get_settings
    from integrations.shopify.app_config import AppUrlError, render_app_toml

    settings = get_settings()
    if not settings.shopify_api_key:
        raise click.ClickException("set SHOPIFY_API_KEY (the app's client id) first")
    try:
        text = render_app_toml(settings.app_url, settings.shopify_api_key, order_topics=not without_order_topics)
    except AppUrlError as exc:
        raise click.ClickException(str(exc)) from exc
    if out == "-":
        click.echo(text, nl=False)
    else:
        Path(out).write_text(text)
        click.echo(f"wrote {out}")


@cli.command("worker", with_appcontext=False)
@click.option("--queues", default="high,default,low", show_default=True, help="Comma-separated, in priority order.")
@click.option("--burst", is_flag=True, help="Quit once the queues are empty.")
def worker_cmd(queues: str, burst: bool) -> None:
    """Run an RQ worker with every job module preloaded (the Procfile's worker)."""
    import importlib

    from redis import Redis
    from rq import Queue
    from sqlalchemy.orm import configure_mappers

    from app import job_specs
    from app.config import get_settings
    from app.infra.procs import children_die_with_this_process
    from app.infra.redis_outage import OutageTolerantWorker, run_worker

    settings = get_settings()
    if not settings.redis_url:
        raise click.ClickException("REDIS_URL is not set: without it jobs run in-process and need no worker.")
    # Every module a job can name, imported once before the worker forks: RQ forks a fresh work horse per job,
    # and without this each job re-imported the app (about 1 s), three times between a restock webhook and its
    # first email (drain, recompute, fan-out).
    for module in ("app.platforms.registry", *job_specs.job_modules()):
        importlib.import_module(module)
    # The ORM's mappers are configured once here too, not on each work horse's first query (~50 ms of every job).
    configure_mappers()
    # No database engine or runtime is built here: each forked work horse builds its own, so no pooled
    # connection is ever shared across a fork.
    connection = Redis.from_url(settings.redis_url)
    names = [q.strip() for q in queues.split(",") if q.strip()]

    # Killing the worker (even -9) stops its work horse and scheduler process, and through the senders' own
    # PR_SET_PDEATHSIG every sender forked under the horse: no email leaves after the worker is gone.
    children_die_with_this_process()
    # A Redis outage ends RQ's worker loop: a new worker starts in this same process once Redis answers again.
    run_worker(
        lambda: OutageTolerantWorker([Queue(n, connection=connection) for n in names], connection=connection),
        connection.ping,
        burst=burst,
    )


@cli.command("cron", with_appcontext=False)
def cron_cmd() -> None:
    """Enqueue the periodic jobs (the Procfile's cron; run exactly one), through any Redis outage."""
    import signal
    import threading
    import time

    from redis import Redis
    from rq.cron import CronScheduler

    from app import job_specs
    from app.config import get_settings
    from app.infra.redis_outage import run_cron
    from app.logs import configure_logging
    from app.queue import RedisJobQueue

    settings = get_settings()
    if not settings.redis_url:
        raise click.ClickException("REDIS_URL is not set: without it jobs run in-process and need no cron.")
    configure_logging(settings.log_level, json_lines=settings.log_json)
    # Short timeouts: a Redis that stops answering is an outage to wait out, not a call to hang in.
    connection = Redis.from_url(settings.redis_url, socket_connect_timeout=2, socket_timeout=10)
    scheduler = CronScheduler(connection=connection)
    scheduler.load_config_from_file("jobs.cron")
    jobs = RedisJobQueue(settings.redis_url)
    stop = threading.Event()

    def request_stop(signum: int, frame: object) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)

    def after_outage() -> None:
        jobs.enqueue_or_raise(job_specs.sweep_after_outage(int(time.time())))

    run_cron(scheduler, connection.ping, stop, after_outage=after_outage)


@cli.command("demo")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--reseed", is_flag=True, help="Regenerate the demo store even if it exists.")
def demo_cmd(host: str, reseed: bool) -> None:
    """Migrate, seed the demo store, and serve the app with in-process jobs."""

    from app import create_app
    from app.config import get_settings
    from app.platforms.demo.platform import demo_store
    from app.runtime import get_runtime
    from app.scheduler import InProcessScheduler

    settings = get_settings()
    _alembic_upgrade(settings.database_url)
    with get_runtime().db.session() as session:
        existing = demo_store(session)
        existing_id = existing.id if existing is not None else None
    store_id = _seed(500, 180, 7) if existing_id is None or reseed else existing_id
    sink = None
    if not settings.smtp_url:
        import dataclasses

        from app.infra.mailsink import start_sink

        # No mail server configured: catch every email in-process and show it at /demo/mail.
        sink = start_sink("127.0.0.1")
        os.environ["SMTP_URL"] = sink.url
        get_settings.cache_clear()
        settings = dataclasses.replace(settings, smtp_url=sink.url)
    # The app builds and installs a fresh runtime from these settings, so jobs see the sink's SMTP_URL.
    app = create_app(settings)
    if settings.in_process_jobs:
        InProcessScheduler(get_runtime().jobs).start()
    base = f"http://{host}:{settings.port}"
    click.echo(
        "\n  BackSoon demo is running\n"
        f"    Demo overview      {base}/demo/\n"
        f"    Demo shop          {base}/demo/shop/   (badges, back-soon form, simulated restock)\n"
        f"    Merchant admin     {base}/admin/\n"
        f"    Stock API (JSON)   {base}/api/v1/stores/{store_id}/variants\n"
        f"    OpenAPI document   {base}/openapi.json\n"
        f"    Health             {base}/healthz\n"
        f"    Demo inbox         {base}/demo/mail"
        + (f"   (SMTP sink on {sink.url})\n" if sink is not None else f"   (mail goes to {settings.smtp_url})\n")
        + f"  Database: {settings.database_url}   Jobs: {'in-process' if settings.in_process_jobs else 'RQ'}\n"
        "  Press Ctrl+C to stop.\n"
    )
    from werkzeug.serving import run_simple

    run_simple(host, settings.port, app, threaded=True, use_reloader=False)


def _register_platform_commands() -> None:
    from app.cli_inbox import inbox_cmd
    from app.cli_woo import connect_woocommerce_cmd

    cli.add_command(connect_woocommerce_cmd)
    cli.add_command(inbox_cmd)


_register_platform_commands()


def main() -> None:
    """Entry point of the `backsoon` console script."""
    if len(sys.argv) > 1 and sys.argv[1] == "demo":
        # The demo store is public while demo mode is on; set before settings are first read.
        os.environ.setdefault("BACKSOON_DEMO", "1")
    cli.main(prog_name="backsoon")


if __name__ == "__main__":
    main()
