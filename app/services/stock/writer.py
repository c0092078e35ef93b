"""Writes the recompute's state and history rows; on PostgreSQL a writer thread writes each batch while the engine
assesses the next.

The writer thread earns its place in the recompute benchmark (benchmarks/recompute.py): a full recompute's writes
overlap its Python work (14.7 s → 11.6 s when it landed)."""

from __future__ import annotations

import json
import queue
import threading
from collections.abc import Sequence
from datetime import date
from typing import Any

from sqlalchemy import text
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from app.infra.sql import PgArray, bind_ids, dialect, id_in
from app.models import (
    StockState,
)

WRITE_BATCH = 10_000


HISTORY_IN_LIST_MAX = 5000


class BatchWriter:
    """Writes batches of changed states with today's history rows for them: inline, or from a thread on the
    session's connection so the database writes one batch while the engine assesses the next.

    Threaded, the caller must not use the session between the first write() and close(): the thread owns it.
    """

    def __init__(self, session: Session, store_id: int, today: date, *, threaded: bool) -> None:
        self.session, self.store_id, self.today = session, store_id, today
        # One batch waiting at most: memory stays at three batches (building, waiting, being written).
        self.batches: queue.Queue[list[dict[str, Any]] | None] = queue.Queue(maxsize=1)
        self.error: BaseException | None = None
        self.thread: threading.Thread | None = None
        if threaded:
            self.thread = threading.Thread(target=self._run, name=f"recompute-writer-{store_id}", daemon=True)
            self.thread.start()

    def write(self, rows: list[dict[str, Any]]) -> None:
        """Write a batch, or queue it for the thread (blocking while the previous one waits)."""
        if not rows:
            return
        if self.thread is None:
            self._write(rows)
        else:
            self.batches.put(rows)

    def close(self, *, raise_error: bool = True) -> None:
        """Wait for every batch to be written (or skipped after a failure); raise what failed."""
        if self.thread is None:
            return
        self.batches.put(None)
        self.thread.join()
        if self.error is not None and raise_error:
            raise self.error

    def _write(self, rows: list[dict[str, Any]]) -> None:
        write_states(self.session, rows)
        write_history(self.session, self.store_id, self.today, [r["variant_id"] for r in rows])

    def _run(self) -> None:
        while (rows := self.batches.get()) is not None:
            if self.error is not None:
                continue  # keep taking batches so the engine never blocks on a dead writer
            try:
                self._write(rows)
            except BaseException as exc:  # re-raised by close() on the caller's thread
                self.error = exc


STATE_COLUMNS = (
    "variant_id",
    "store_id",
    "sellable_quantity",
    "velocity",
    "velocity_windows",
    "sales_days",
    "days_on_hand",
    "stockout_on",
    "reorder_by",
    "suggested_reorder_qty",
    "status",
    "badge_kind",
    "badge_quantity",
    "signal",
    "signal_reason",
    "restock_eta",
    "eta_source",
    "priority",
    "waitlist_open",
    "incoming_quantity",
    "on_its_way",
    "lead_time_days",
    "campaign_id",
    "campaign_stockout_on",
    "reasons",
    "fingerprint",
    "input_fingerprint",
    "published_fingerprint",
    "computed_at",
    "changed_at",
)


_JSON_COLUMNS = frozenset({"velocity_windows", "reasons"})


def write_states(session: Session, rows: list[dict[str, Any]]) -> None:
    """Upsert changed states: COPY into a temp table and one INSERT … ON CONFLICT on PostgreSQL."""
    if not rows:
        return
    if dialect(session) != "postgresql":
        ins = sqlite_insert(StockState)
        stmt = ins.on_conflict_do_update(
            index_elements=[StockState.variant_id],
            set_={c: getattr(ins.excluded, c) for c in STATE_COLUMNS if c not in ("variant_id", "store_id")},
        )
        for start in range(0, len(rows), WRITE_BATCH):
            session.execute(stmt, rows[start : start + WRITE_BATCH])
        return
    # Delete-and-COPY: one pass of row versions with no temp table and no per-row conflict check;
    # readers keep seeing the old rows until commit, and published_fingerprint is carried over.
    ids = [row["variant_id"] for row in rows]
    session.execute(
        text("DELETE FROM stock_states WHERE variant_id = ANY(CAST(:ids AS bigint[]))"),
        {"ids": PgArray(ids)},
    )
    raw = session.connection().connection.driver_connection
    assert raw is not None
    json_idx = [i for i, c in enumerate(STATE_COLUMNS) if c in _JSON_COLUMNS]
    with raw.cursor() as cur, cur.copy(f"COPY stock_states ({', '.join(STATE_COLUMNS)}) FROM STDIN") as copy:
        for row in rows:
            values = [row[c] for c in STATE_COLUMNS]
            for i in json_idx:
                values[i] = json.dumps(values[i])
            copy.write_row(values)


_HISTORY_SQL = (
    "INSERT INTO stock_state_history"
    " (store_id, variant_id, day, sellable_quantity, velocity, days_on_hand, status, signal)"
    " SELECT store_id, variant_id, :day, sellable_quantity, velocity, days_on_hand, status, signal"
    " FROM stock_states WHERE store_id = :sid{scope}"
    " ON CONFLICT (variant_id, day) DO {action}"
)


_HISTORY_UPDATE = (
    "UPDATE SET sellable_quantity = excluded.sellable_quantity, velocity = excluded.velocity,"
    " days_on_hand = excluded.days_on_hand, status = excluded.status, signal = excluded.signal"
)


def write_history(session: Session, store_id: int, today: date, variant_ids: Sequence[int]) -> None:
    # One history row per variant per store-local day: a changed state overwrites today's row.
    scope = f" AND {id_in(session, 'variant_id', 'vids')}"
    upsert = text(_HISTORY_SQL.format(scope=scope, action=_HISTORY_UPDATE))
    # One array on PostgreSQL; SQLite's statements take a bounded number of variables.
    size = len(variant_ids) if dialect(session) == "postgresql" else HISTORY_IN_LIST_MAX
    for start in range(0, len(variant_ids), size):
        sql, vids = bind_ids(session, upsert, "vids", variant_ids[start : start + size])
        session.execute(sql, {"sid": store_id, "day": today, "vids": vids})


def fill_history(session: Session, store_id: int, today: date) -> None:
    # The day's first full recompute records today's row of the variants whose state did not change, too.
    session.execute(text(_HISTORY_SQL.format(scope="", action="NOTHING")), {"sid": store_id, "day": today})
