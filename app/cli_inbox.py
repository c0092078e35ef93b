"""`backsoon inbox …`: the operator's view of dead letters (app.services.ingest.dead_letters): list, show, replay."""

from __future__ import annotations

from datetime import datetime

import click

KIND_CHOICES = ("webhook", "restock_event", "job")


def _when(at: datetime | None) -> str:
    return at.strftime("%Y-%m-%dT%H:%M:%SZ") if at is not None else "-"


def _one_line(text: str, width: int = 160) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= width else flat[: width - 1] + "…"


@click.group("inbox")
def inbox_cmd() -> None:
    """Dead letters: webhook deliveries and restock fan-outs given up on, and failed jobs."""


@inbox_cmd.command("list")
@click.option("--store", "store_id", type=int, help="Only this store's dead letters.")
@click.option("--kind", "kinds", type=click.Choice(KIND_CHOICES), multiple=True, help="Only these kinds (repeatable).")
def list_cmd(store_id: int | None, kinds: tuple[str, ...]) -> None:
    """List dead letters, newest first: kind, id, store, what, when, attempts, last error."""
    from app.runtime import get_runtime
    from app.services.ingest import dead_letters

    rt = get_runtime()
    wanted = kinds or KIND_CHOICES
    with rt.db.session() as session:
        rows = dead_letters.list_dead(session, store_id=store_id, kinds=tuple(k for k in wanted if k != "job"))
    for row in rows:
        click.echo(
            f"{row.kind} {row.id} store={row.store_id if row.store_id is not None else '-'} {row.what} "
            f"at={_when(row.at)} attempts={row.attempts} error={_one_line(row.error)}"
        )
    failed = dead_letters.failed_jobs(rt.jobs) if "job" in wanted and store_id is None else []
    for job in failed:
        click.echo(
            f"job {job.id} queue={job.queue} {job.func}{job.args} at={_when(job.ended_at)} error={_one_line(job.error)}"
        )
    click.echo(f"{len(rows) + len(failed)} dead letter(s)")


@inbox_cmd.command("show")
@click.argument("dead_id", type=int)
@click.option("--kind", type=click.Choice(KIND_CHOICES[:2]), default="webhook", show_default=True)
@click.option("--body", "with_body", is_flag=True, help="Also print a webhook's raw body (it may hold personal data).")
def show_cmd(dead_id: int, kind: str, with_body: bool) -> None:
    """Show one dead letter in full."""
    from app.models import WebhookEvent
    from app.runtime import get_runtime
    from app.services.ingest import dead_letters

    rt = get_runtime()
    with rt.db.session() as session:
        row = dead_letters.get(session, kind, dead_id)
        if row is None:
            raise click.ClickException(f"{kind} {dead_id} is not a dead letter")
        click.echo(f"{row.kind} {row.id}")
        click.echo(f"  store:    {row.store_id if row.store_id is not None else '-'}")
        click.echo(f"  what:     {row.what}")
        click.echo(f"  at:       {_when(row.at)}")
        click.echo(f"  attempts: {row.attempts}")
        click.echo(f"  error:    {row.error}")
        if kind == dead_letters.WEBHOOK:
            event = session.get(WebhookEvent, dead_id)
            assert event is not None
            click.echo(f"  key:      {event.dedupe_key}")
            click.echo(f"  resource: {event.resource_id or '-'}")
            click.echo(f"  body:     {len(event.body)} bytes")
            if with_body:
                click.echo(event.body.decode("utf-8", errors="replace"))
    click.echo(f"replay with: backsoon inbox replay --kind {kind} {dead_id}")


@inbox_cmd.command("replay")
@click.argument("ids", type=int, nargs=-1)
@click.option("--all", "replay_all", is_flag=True, help="Every dead letter of the kind (of --store, when given).")
@click.option("--store", "store_id", type=int, help="Only this store's dead letters.")
@click.option("--kind", type=click.Choice(KIND_CHOICES[:2]), default="webhook", show_default=True)
def replay_cmd(ids: tuple[int, ...], replay_all: bool, store_id: int | None, kind: str) -> None:
    """Replay dead letters: back to the start with their attempts at zero, processed by the workers."""
    from app.runtime import get_runtime
    from app.services.ingest import dead_letters

    if bool(ids) == replay_all:
        raise click.UsageError("give dead-letter ids or --all, not both")
    rt = get_runtime()
    with rt.db.session() as session:
        if ids:
            found = {r.id for r in dead_letters.list_dead(session, store_id=store_id, kinds=(kind,), ids=list(ids))}
            missing = [i for i in ids if i not in found]
            if missing:
                # All or nothing: a typo must not leave half of a batch replayed.
                listed = ", ".join(str(i) for i in missing)
                raise click.ClickException(f"not a dead letter ({kind}): {listed}; nothing replayed")
        replayed = dead_letters.replay(session, rt.jobs, kind, list(ids) if ids else None, store_id=store_id)
    for event_id in replayed:
        click.echo(f"replayed {kind} {event_id}")
    click.echo(f"{len(replayed)} replayed")
