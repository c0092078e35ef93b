"""Benchmark: one 15-minute cron cycle over a fleet of small stores against one large store's periodic recompute.

Seeds (once, reused on later runs) into PostgreSQL a fleet of 1,000 demo stores of 100 variants each and 180 days
of orders (100,000 variants, about 2,200,000 order lines: the recompute benchmark's totals) and, beside it, the
single 100,000-variant demo store of benchmarks/recompute.py. Every store gets its first (full) recompute untimed.
Then, with real `backsoon worker` processes (RQ, forking a work horse per job, as the Procfile runs them) on a Redis
database of its own, it measures in one run, alternating:
  floor — the single store's periodic recompute as production runs it: its `recompute_store` job enqueued, timed
          until every queue is empty and every worker idle (so its follow-up jobs count too);
  cycle — what `backsoon cron` enqueues at the top of an hour: every periodic job of app.job_specs.SCHEDULE once
          (every store's recompute, attribution, reconciliation scheduling, due waves, freshness, digests, alerts,
          webhook retries, the sweeper), timed the same way, the single store left out (not active meanwhile).
The workers' peak RSS (work horses included) is read from /proc while they run and from wait4() when they stop.
Before the workers start, the cron's dispatch jobs (the ones SCHEDULE names, run in-process here) are counted
with 1/10 of the fleet active and then all of it: SQL statements, enqueues and time per active store.
Ends with one JSON line: the cycle, with the single store's run as its floor.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from statistics import median
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks import fleet_seed  # noqa: E402
from benchmarks.recompute import _ensure_db  # noqa: E402

DEFAULT_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/backsoon_bench_fleet"
DEFAULT_REDIS = "redis://127.0.0.1:6379/12"
BACKSOON = str(Path(sys.executable).with_name("backsoon"))
# How often the drained check polls Redis; the phase ends at the first of three idle polls in a row.
POLL = 0.02


def _db(url: str) -> Any:
    from app.db import Database

    return Database(url)


def _scalar(url: str, sql: str, **params: Any) -> Any:
    from sqlalchemy import text

    db = _db(url)
    with db.session() as s:
        value = s.execute(text(sql), params).scalar()
    db.dispose()
    return value


def single_store_id(url: str, variants: int) -> int | None:
    """The large demo store's id when it is seeded at this size."""
    from integrations.demo import STORE_DOMAIN

    sid = _scalar(url, "SELECT id FROM stores WHERE domain = :d", d=STORE_DOMAIN)
    if sid is None:
        return None
    n = _scalar(url, "SELECT count(*) FROM variants WHERE store_id = :s", s=sid)
    return int(sid) if n == variants else None


def fleet_seeded(url: str, stores: int, variants: int) -> bool:
    """Whether the fleet has this many stores of this many variants."""
    sql = (
        "SELECT count(DISTINCT s.id), count(v.id) FROM stores s LEFT JOIN variants v ON v.store_id = s.id"
        " WHERE s.domain LIKE :d"
    )
    from sqlalchemy import text

    db = _db(url)
    with db.session() as s:
        n_stores, n_variants = s.execute(text(sql), {"d": fleet_seed.FLEET_LIKE}).one()
    db.dispose()
    return bool(n_stores == stores and n_variants == stores * variants)


def first_runs(url: str, store_ids: list[int]) -> int:
    """Give every store that has no stock state yet its first (full) recompute, in-process; how many got one."""
    from sqlalchemy import text

    from app.services.stock.recompute import recompute

    db = _db(url)
    with db.session() as s:
        done = {int(r[0]) for r in s.execute(text("SELECT DISTINCT store_id FROM stock_states"))}
    todo = [sid for sid in store_ids if sid not in done]
    for sid in todo:
        with db.session() as s:
            recompute(s, sid)
    db.dispose()
    return len(todo)


def set_status(url: str, store_ids: list[int], status: str) -> None:
    """Set these stores' status (the cycle's recompute_all picks only active ones)."""
    from sqlalchemy import text

    db = _db(url)
    with db.session() as s:
        s.execute(text("UPDATE stores SET status = :st WHERE id = ANY(:ids)"), {"st": status, "ids": store_ids})
    db.dispose()


@dataclass
class DispatchCount:
    """What the cron's dispatch jobs did in-process: SQL statements, enqueues, seconds."""

    statements: int = 0
    enqueues: int = 0
    seconds: float = 0.0
    by_job: dict[str, tuple[int, int]] = field(default_factory=dict)


class _CountingQueue:
    """A job queue that counts and drops what it is given (the dispatch measure runs no job)."""

    def __init__(self) -> None:
        self.count = 0

    def enqueue(self, spec: Any) -> bool:
        """Count the job, run nothing."""
        self.count += 1
        return True

    def clear_gate(self, gate: str) -> None:
        """Nothing to clear."""


def count_dispatch(url: str) -> DispatchCount:
    """Run every periodic job of SCHEDULE once in-process, as a worker would, counting its SQL and enqueues."""
    from sqlalchemy import event

    from app.config import get_settings
    from app.job_specs import SCHEDULE
    from app.queue import resolve
    from app.runtime import Runtime, set_runtime

    settings = dataclasses.replace(get_settings(), database_url=url)
    queue = _CountingQueue()
    db = _db(url)
    rt = Runtime(settings=settings, db=db, jobs=queue)
    set_runtime(rt)
    out = DispatchCount()
    seen = [0]

    def count(*_: Any) -> None:
        seen[0] += 1

    event.listen(db.engine, "before_cursor_execute", count)
    try:
        for periodic in SCHEDULE:
            before_sql, before_jobs = seen[0], queue.count
            started = time.perf_counter()
            resolve(periodic.func)()
            out.seconds += time.perf_counter() - started
            out.by_job[periodic.func] = (seen[0] - before_sql, queue.count - before_jobs)
    finally:
        event.remove(db.engine, "before_cursor_execute", count)
        set_runtime(None)
        db.dispose()
    out.statements, out.enqueues = seen[0], queue.count
    return out


class Workers:
    """`backsoon worker` processes, their peak RSS (work horses included) sampled from /proc."""

    def __init__(self, n: int, env: dict[str, str], log_path: Path) -> None:
        self.log = log_path.open("ab")
        self.procs = [
            subprocess.Popen([BACKSOON, "worker"], env=env, stdout=self.log, stderr=subprocess.STDOUT) for _ in range(n)
        ]
        self.peak_kb: dict[int, int] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        self.exit_maxrss_kb = 0

    def pids(self) -> list[int]:
        """The workers and their live children (work horses)."""
        out = []
        for p in self.procs:
            out.append(p.pid)
            # Each thread's children: RQ may fork the work horse from any of the worker's threads.
            with contextlib.suppress(OSError):
                for task in Path(f"/proc/{p.pid}/task").iterdir():
                    out += [int(c) for c in (task / "children").read_text().split()]
        return out

    def _sample(self) -> None:
        while not self._stop.wait(0.01):
            for pid in self.pids():
                try:
                    status = Path(f"/proc/{pid}/status").read_text()
                except OSError:
                    continue
                for line in status.splitlines():
                    if line.startswith("VmHWM:"):
                        kb = int(line.split()[1])
                        self.peak_kb[pid] = max(self.peak_kb.get(pid, 0), kb)

    def peak_mb(self) -> float:
        """The highest peak RSS of any one worker or work horse seen so far (and at exit)."""
        return max([*self.peak_kb.values(), self.exit_maxrss_kb, 0]) / 1024

    def stop(self) -> None:
        """Warm-stop the workers; wait4 reports each one's peak RSS over it and its reaped work horses."""
        self._stop.set()
        for p in self.procs:
            p.send_signal(signal.SIGTERM)
        for p in self.procs:
            _, _, usage = os.wait4(p.pid, 0)
            self.exit_maxrss_kb = max(self.exit_maxrss_kb, usage.ru_maxrss)
        self.log.close()


def _drained(conn: Any) -> bool:
    from rq import Queue, Worker
    from rq.registry import StartedJobRegistry

    from app.queue import QUEUES

    for name in QUEUES:
        if Queue(name, connection=conn).count or StartedJobRegistry(name, connection=conn).count:
            return False
    return all(w.get_state() != "busy" for w in Worker.all(connection=conn))


def _worker_totals(conn: Any) -> tuple[int, float]:
    from rq import Worker

    workers = Worker.all(connection=conn)
    return sum(w.successful_job_count for w in workers), sum(w.total_working_time for w in workers)


@dataclass
class Phase:
    """One timed phase: wall seconds, jobs run, and the seconds RQ counted inside those jobs."""

    seconds: float
    jobs: int
    in_jobs: float


def timed_phase(conn: Any, enqueue: Callable[[], None]) -> Phase:
    """Time from the first enqueue until every queue is empty and every worker idle, and the jobs run meanwhile."""
    jobs_before, working_before = _worker_totals(conn)
    started = time.perf_counter()
    enqueue()
    idle_since: float | None = None
    streak = 0
    while True:
        now = time.perf_counter()
        if _drained(conn):
            idle_since = now if idle_since is None else idle_since
            streak += 1
            if streak >= 3:
                jobs_after, working_after = _worker_totals(conn)
                return Phase(idle_since - started, jobs_after - jobs_before, working_after - working_before)
        else:
            idle_since, streak = None, 0
        time.sleep(POLL)


def _failed(conn: Any) -> int:
    from rq.registry import FailedJobRegistry

    from app.queue import QUEUES

    return sum(FailedJobRegistry(name, connection=conn).count for name in QUEUES)


def _cycle_enqueue(jobs: Any) -> Callable[[], None]:
    from app.job_specs import SCHEDULE

    def enqueue() -> None:
        # As `backsoon cron` does at the top of an hour: each periodic job once, on its own queue.
        for periodic in SCHEDULE:
            jobs.enqueue_or_raise(periodic.spec())

    return enqueue


def _emit(value: float, floor: float) -> None:
    line = {"benchmark": "fleet", "metric": "cron_cycle", "value": value, "floor": floor}
    print(json.dumps({**line, "ratio": round(value / floor, 2), "unit": "s"}))


def _seed_fleet(db: Any, url: str, args: argparse.Namespace) -> int:
    """Seed the fleet (a seeding stopped part way is finished, a fleet of another size replaced); stores added."""
    from sqlalchemy.exc import OperationalError

    added = 0
    replace = args.reseed
    for attempt in range(5):
        try:
            added += len(fleet_seed.seed_fleet(db, args.stores, args.variants, args.days, replace=replace))
        except OperationalError as exc:
            # A server shared with busy test suites can run out of lock slots; the committed chunks are kept.
            print(f"seeding attempt {attempt + 1} failed, resuming: {exc.orig}", file=sys.stderr)
            continue
        if fleet_seeded(url, args.stores, args.variants):
            return added
        replace = True
    raise RuntimeError("the fleet could not be seeded")


def prepare(url: str, args: argparse.Namespace) -> tuple[int, list[int]]:
    """Seed what is missing, give every store its first run; the single store's id and the fleet's ids."""
    _ensure_db(url)
    db = _db(url)
    single = single_store_id(url, args.single_variants)
    seeded = False
    if single is None or args.reseed:
        started = time.perf_counter()
        single = fleet_seed.seed_single(db, args.single_variants, args.days)
        print(f"seeded the single store in {time.perf_counter() - started:.1f}s", file=sys.stderr)
        seeded = True
    if args.reseed or not fleet_seeded(url, args.stores, args.variants):
        started = time.perf_counter()
        added = _seed_fleet(db, url, args)
        print(f"seeded {added} stores in {time.perf_counter() - started:.1f}s", file=sys.stderr)
        seeded = True
    if seeded:
        fleet_seed.vacuum_analyze(db)
    fleet = fleet_seed.fleet_store_ids(db)
    db.dispose()
    started = time.perf_counter()
    n = first_runs(url, [single, *fleet])
    if n:
        print(f"first (full) recompute of {n} stores in {time.perf_counter() - started:.1f}s", file=sys.stderr)
        fleet_seed.vacuum_analyze(_db(url))
    return single, fleet


def main() -> None:
    """Run the benchmark and print its JSON line."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--stores", type=int, default=1000)
    parser.add_argument("--variants", type=int, default=100, help="variants per fleet store")
    parser.add_argument("--single-variants", type=int, default=100_000)
    parser.add_argument("--days", type=int, default=180)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--reseed", action="store_true")
    parser.add_argument("--active", type=int, help="stores of the fleet active in the cycle (default: all)")
    parser.add_argument("--no-warmup", action="store_true", help="time the first cycle too (right after the seed)")
    args = parser.parse_args()
    url = os.environ.get("BENCH_DATABASE_URL", DEFAULT_URL)
    redis_url = os.environ.get("BENCH_REDIS_URL", DEFAULT_REDIS)

    single, fleet = prepare(url, args)
    n_lines = _scalar(url, "SELECT count(*) FROM order_lines WHERE store_id = ANY(:ids)", ids=fleet)
    print(f"fleet: {len(fleet)} stores, {n_lines} order lines; single store {single}", file=sys.stderr)

    # The cron's dispatch work per active store, at a tenth of the active fleet and at all of it.
    active = fleet[: args.active or len(fleet)]
    tenth = active[: max(1, len(active) // 10)]
    set_status(url, [single, *fleet[len(tenth) :]], "disconnected")
    count_dispatch(url)  # untimed: imports the job modules, as the worker does before it forks
    small = count_dispatch(url)
    set_status(url, active, "active")
    full = count_dispatch(url)
    for n, d in ((len(tenth), small), (len(active), full)):
        print(
            f"dispatch with {n} active stores: {d.statements} SQL statements ({d.statements / n:.2f}/store), "
            f"{d.enqueues} enqueues ({d.enqueues / n:.2f}/store), {d.seconds:.3f}s "
            f"({1000 * d.seconds / n:.2f} ms/store)",
            file=sys.stderr,
        )
    print(f"dispatch by job (statements, enqueues) at {len(active)} stores: {full.by_job}", file=sys.stderr)

    from redis import Redis

    from app.infra.mailsink import start_sink
    from app.queue import RedisJobQueue

    conn = Redis.from_url(redis_url)
    conn.flushdb()
    sink = start_sink("127.0.0.1")
    env = {**os.environ, "DATABASE_URL": url, "REDIS_URL": redis_url, "SMTP_URL": sink.url, "LOG_LEVEL": "WARNING"}
    log_path = Path(tempfile.gettempdir()) / "backsoon-bench-fleet-workers.log"
    print(f"worker output: {log_path}", file=sys.stderr)
    workers = Workers(args.workers, env, log_path)
    jobs = RedisJobQueue(redis_url)
    from rq import Worker

    from app import job_specs

    while len(Worker.all(connection=conn)) < args.workers:
        time.sleep(0.1)
    floors: list[float] = []
    cycles: list[float] = []
    try:
        # Untimed: one of each, so PostgreSQL's caches and the stores' last run are where a running deployment's are.
        for timed in ([] if args.no_warmup else [False]) + [True] * args.repeat:
            set_status(url, [single], "active")
            f = timed_phase(conn, lambda: jobs.enqueue_or_raise(job_specs.recompute_store(single)))
            set_status(url, [single], "disconnected")
            c = timed_phase(conn, _cycle_enqueue(jobs))
            print(
                f"{'timed' if timed else 'warm-up'}: floor {f.seconds:.2f}s ({f.jobs} jobs, {f.in_jobs:.2f}s in them), "
                f"cycle {c.seconds:.2f}s ({c.jobs} jobs, {c.in_jobs:.2f}s in them); peak RSS so far "
                f"{workers.peak_mb():.1f} MB",
                file=sys.stderr,
                flush=True,
            )
            if timed:
                floors.append(f.seconds)
                cycles.append(c.seconds)
    finally:
        set_status(url, [single, *fleet], "active")
        workers.stop()
        sink.stop()
    failed = _failed(conn)
    print(
        f"workers: {args.workers}; peak RSS of a worker or work horse {workers.peak_mb():.1f} MB; failed jobs {failed}",
        file=sys.stderr,
    )
    print(f"floors {[round(x, 2) for x in floors]}, cycles {[round(x, 2) for x in cycles]}", file=sys.stderr)
    _emit(round(median(cycles), 2), round(median(floors), 2))


if __name__ == "__main__":
    main()
