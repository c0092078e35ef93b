"""Seed the demo store: Northwind Goods' catalog, history and end state, bulk-loaded in one transaction.

PostgreSQL gets COPY; SQLite gets executemany. Parent rows take their ids up front (from the
table's sequence on PostgreSQL, after the current maximum on SQLite) so children reference
them without a round trip per row. Stock states are not computed here: the stock service
does that after seeding, from the rows loaded here.
"""

from __future__ import annotations

import contextlib
import json
import queue
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from itertools import islice
from typing import Any, Protocol, TypeVar, cast

import psycopg
from psycopg import sql
from sqlalchemy import Connection, delete, insert, select, text

from app.db import Base, Database, utcnow
from app.domain.stock import Signal, Status
from app.models import OrderStatus, PurchaseOrderStatus, Store, StoreStatus, SubscriptionState
from app.platforms.demo.past_results import PastResults, write_past_results
from app.platforms.demo.platform import DEMO
from integrations.base import StoreInfo
from integrations.demo import STORE_DOMAIN, DemoStoreAdapter

Progress = Callable[[str, int, int | None], None]
T = TypeVar("T")

PLATFORM = DEMO.name
CONSENT_TEXT = "Email me once when this item is back in stock. I can unsubscribe at any time."
CONSENT_VERSION = "demo-v1"
PRODUCT_BATCH = 2000
ORDER_BATCH = 5000
ROW_BATCH = 20000
# Tables the loader fills, in load order; SeedResult.counts has one entry for each.
TABLES = (
    "locations",
    "suppliers",
    "products",
    "variants",
    "orders",
    "order_lines",
    "refunds",
    "refund_lines",
    "purchase_orders",
    "inventory_levels",
    "stock_events",
    "subscriptions",
    "consent_records",
    "stock_state_history",
)


@dataclass(frozen=True, slots=True)
class SeedResult:
    """The demo store's id, the rows loaded per table and how long it took."""

    store_id: int
    counts: dict[str, int]
    seconds: float
    past: PastResults | None = None


class _Sink(Protocol):
    def ids(self, table: str, n: int) -> Sequence[int]: ...

    def json(self, value: Any) -> Any: ...

    def write(self, table: str, columns: Sequence[str], rows: Sequence[tuple[Any, ...]]) -> None: ...

    def finish(self, tables: Iterable[str]) -> None: ...

    def close(self) -> None: ...


class _PostgresSink:
    """COPY on the seeding transaction from a writer thread, so the server ingests one batch while
    Python generates the next; ids come from each table's sequence on a second, autocommit
    connection, so concurrent writers never collide and the generator never waits for a COPY."""

    def __init__(self, conn: Connection, id_conn: Connection) -> None:
        self.cur = cast(psycopg.Connection[Any], conn.connection.driver_connection).cursor()
        self.id_cur = cast(psycopg.Connection[Any], id_conn.connection.driver_connection).cursor()
        self.sequences: dict[str, str] = {}
        self.queue: queue.Queue[tuple[str, Sequence[str], Sequence[tuple[Any, ...]]] | None] = queue.Queue(4)
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._copy_loop, name="demo-seed-copy", daemon=True)
        self.thread.start()

    def ids(self, table: str, n: int) -> Sequence[int]:
        if n == 0:
            return ()
        seq = self.sequences.get(table)
        if seq is None:
            self.id_cur.execute("SELECT pg_get_serial_sequence(%s, 'id')", (table,))
            row = self.id_cur.fetchone()
            if row is None or row[0] is None:
                raise RuntimeError(f"{table}.id has no sequence")
            seq = self.sequences[table] = str(row[0])
        self.id_cur.execute("SELECT nextval(%s::regclass) FROM generate_series(1, %s)", (seq, n))
        return [int(r[0]) for r in self.id_cur.fetchall()]

    def json(self, value: Any) -> Any:
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False)

    def write(self, table: str, columns: Sequence[str], rows: Sequence[tuple[Any, ...]]) -> None:
        if self.error is not None:
            raise self.error
        if rows:
            self.queue.put((table, columns, rows))

    def _copy_loop(self) -> None:
        while (item := self.queue.get()) is not None:
            if self.error is not None:
                continue  # keep draining so the producer never blocks on a dead writer
            table, columns, rows = item
            stmt = sql.SQL("COPY {} ({}) FROM STDIN").format(
                sql.Identifier(table), sql.SQL(", ").join(sql.Identifier(c) for c in columns)
            )
            try:
                with self.cur.copy(stmt) as copy:
                    for row in rows:
                        copy.write_row(row)
            except BaseException as exc:
                self.error = exc

    def flush(self) -> None:
        if self.thread.is_alive():
            self.queue.put(None)
            self.thread.join()
        if self.error is not None:
            raise self.error

    def finish(self, tables: Iterable[str]) -> None:
        self.flush()
        # Without statistics the planner treats the freshly loaded tables as empty and picks nested
        # loops: the sellable-quantity update alone then takes minutes instead of a second.
        for table in tables:
            self.cur.execute(sql.SQL("ANALYZE {}").format(sql.Identifier(table)))

    def close(self) -> None:
        with contextlib.suppress(BaseException):
            self.flush()


class _SqliteSink:
    """executemany through SQLAlchemy Core (it converts datetimes, decimals and JSON); explicit ids."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self.next_id: dict[str, int] = {}

    def ids(self, table: str, n: int) -> Sequence[int]:
        start = self.next_id.get(table)
        if start is None:
            # Inserting the store row took SQLite's write lock: nobody else inserts until we commit.
            t = Base.metadata.tables[table]
            start = int(self.conn.execute(select(t.c.id).order_by(t.c.id.desc()).limit(1)).scalar() or 0) + 1
        self.next_id[table] = start + n
        return range(start, start + n)

    def json(self, value: Any) -> Any:
        return value

    def write(self, table: str, columns: Sequence[str], rows: Sequence[tuple[Any, ...]]) -> None:
        if not rows:
            return
        t = Base.metadata.tables[table]
        self.conn.execute(insert(t), [dict(zip(columns, row, strict=True)) for row in rows])

    def finish(self, tables: Iterable[str]) -> None:
        return None

    def close(self) -> None:
        return None


def _batches(items: Iterable[T], size: int) -> Iterator[list[T]]:
    it = iter(items)
    while batch := list(islice(it, size)):
        yield batch


def _quiet(phase: str, done: int, total: int | None) -> None:
    return None


def seed_demo(
    db: Database,
    *,
    variants: int = 500,
    days: int = 180,
    seed: int = 7,
    today: date | None = None,
    progress: Progress | None = None,
) -> SeedResult:
    """Create or replace the demo store and bulk-load its generated catalog, history and end state."""
    started = time.perf_counter()
    day = today or datetime.now(UTC).date()
    adapter = DemoStoreAdapter(seed, variants, days, day)
    report = progress or _quiet
    with contextlib.ExitStack() as stack:
        conn = stack.enter_context(db.engine.begin())
        report("store", 0, 1)
        _delete_demo_store(conn)
        store_id = _insert_store(conn, adapter.store_info())
        report("store", 1, 1)
        sink: _Sink
        if db.dialect == "postgresql":
            id_conn = stack.enter_context(db.engine.connect().execution_options(isolation_level="AUTOCOMMIT"))
            sink = _PostgresSink(conn, id_conn)
        else:
            sink = _SqliteSink(conn)
        # Closed before the transaction ends, so a failure never rolls back under a running COPY.
        stack.callback(sink.close)
        loader = _Loader(conn, sink, store_id, report)
        counts = loader.load(adapter, datetime.combine(day, datetime.min.time(), tzinfo=UTC))
    return SeedResult(store_id=store_id, counts=counts, seconds=time.perf_counter() - started, past=loader.past)


def _delete_demo_store(conn: Connection) -> None:
    # Every demo row hangs off the store row through ON DELETE CASCADE.
    conn.execute(delete(Store).where(Store.platform == PLATFORM, Store.domain == STORE_DOMAIN))


def _insert_store(conn: Connection, info: StoreInfo) -> int:
    now = utcnow()
    return int(
        conn.execute(
            insert(Store)
            .values(
                platform=PLATFORM,
                domain=info.domain,
                name=info.name,
                timezone=info.timezone,
                currency=info.currency,
                locale=info.locale,
                country=info.country,
                reported_identity=info.identity(),
                identity_read_at=now,
                scopes="",
                status=StoreStatus.ACTIVE,
                installed_at=now,
                created_at=now,
                updated_at=now,
            )
            .returning(Store.id)
        ).scalar_one()
    )


def _day_status(quantity: int, rate: float) -> tuple[str, str]:
    # The stock engine's own thresholds in brief: sold out pauses ads, two weeks or less of stock throttles them.
    if quantity <= 0:
        return Status.OUT_OF_STOCK, Signal.PAUSE
    if quantity <= max(3.0, rate * 14):
        return Status.LOW_STOCK, Signal.THROTTLE
    return Status.IN_STOCK, Signal.OK


class _Loader:
    """Streams the adapter's records into the sink, table by table, parents before children."""

    def __init__(self, conn: Connection, sink: _Sink, store_id: int, report: Progress) -> None:
        self.conn = conn
        self.sink = sink
        self.store_id = store_id
        self.report = report
        self.now = utcnow()
        self.counts = dict.fromkeys(TABLES, 0)
        self.locations: dict[str, int] = {}
        self.suppliers: dict[str, int] = {}
        self.variants: dict[str, int] = {}
        self.variant_supplier: dict[str, int | None] = {}
        self.incoming: dict[str, int] = {}
        self.past: PastResults | None = None

    def write(self, table: str, columns: Sequence[str], rows: Sequence[tuple[Any, ...]]) -> None:
        self.sink.write(table, columns, rows)
        self.counts[table] += len(rows)

    def load(self, adapter: DemoStoreAdapter, today_start: datetime) -> dict[str, int]:
        self.load_locations(adapter)
        self.load_suppliers(adapter)
        self.load_catalog(adapter)
        self.load_orders(adapter)
        self.load_purchase_orders(adapter)
        self.load_inventory(adapter)
        self.load_stock_events(adapter)
        self.load_signups(adapter)
        self.load_stock_history(adapter)
        self.report("analyze", 0, 1)
        self.sink.finish(TABLES)
        self.report("analyze", 1, 1)
        self.update_sellable()
        self.past = write_past_results(self.conn, self.store_id, today_start)
        self.counts["subscriptions"] += self.past.subscriptions
        self.counts["consent_records"] += self.past.subscriptions
        return dict(self.counts)

    def load_locations(self, adapter: DemoStoreAdapter) -> None:
        locations = list(adapter.iter_locations())
        ids = self.sink.ids("locations", len(locations))
        rows = []
        for lid, loc in zip(ids, locations, strict=True):
            self.locations[loc.external_id] = lid
            rows.append((lid, self.store_id, loc.external_id, loc.name, loc.active, True, self.now, self.now))
        cols = ("id", "store_id", "external_id", "name", "active", "fulfills_online", "created_at", "updated_at")
        self.write("locations", cols, rows)
        self.report("locations", len(rows), len(rows))

    def load_suppliers(self, adapter: DemoStoreAdapter) -> None:
        suppliers = list(adapter.iter_suppliers())
        ids = self.sink.ids("suppliers", len(suppliers))
        rows = []
        for sid, sup in zip(ids, suppliers, strict=True):
            self.suppliers[sup.name] = sid
            rows.append((sid, self.store_id, sup.name, sup.lead_time_days, sup.email, self.now, self.now))
        cols = ("id", "store_id", "name", "lead_time_days", "email", "created_at", "updated_at")
        self.write("suppliers", cols, rows)
        self.report("suppliers", len(rows), len(rows))

    def load_catalog(self, adapter: DemoStoreAdapter) -> None:
        total = adapter.catalog.variants
        product_cols = (
            "id", "store_id", "external_id", "title", "handle", "description", "vendor", "product_type", "kind",
            "image_url", "url", "status", "published", "collections", "tags", "supplier_id",
            "external_updated_at", "created_at", "updated_at",
        )  # fmt: skip
        variant_cols = (
            "id", "store_id", "product_id", "external_id", "inventory_item_external_id", "sku", "title", "options",
            "price", "tracked", "inventory_policy", "backorder", "stock_from_parent", "published", "position",
            "image_url", "sellable_quantity", "supplier_id", "external_updated_at", "created_at", "updated_at",
        )  # fmt: skip
        sid, now, to_json = self.store_id, self.now, self.sink.json
        self.report("products", 0, total)
        for batch in _batches(adapter.iter_products(), PRODUCT_BATCH):
            product_ids = self.sink.ids("products", len(batch))
            variant_ids = iter(self.sink.ids("variants", sum(len(p.variants) for p in batch)))
            products, variants = [], []
            for pid, p in zip(product_ids, batch, strict=True):
                supplier_id = self.suppliers.get(p.supplier) if p.supplier else None
                products.append((
                    pid, sid, p.external_id, p.title, p.handle, p.description, p.vendor, p.product_type, p.kind,
                    p.image_url, p.url, p.status, p.published, to_json(list(p.collections)), to_json(list(p.tags)),
                    supplier_id, p.updated_at, now, now,
                ))  # fmt: skip
                for v in p.variants:
                    vid = next(variant_ids)
                    self.variants[v.external_id] = vid
                    self.variant_supplier[v.external_id] = supplier_id
                    variants.append((
                        vid, sid, pid, v.external_id, v.inventory_item_id, v.sku, v.title, to_json(v.options),
                        v.price, v.tracked, v.inventory_policy, v.backorder, v.stock_from_parent,
                        v.published and p.published, v.position, v.image_url, 0, supplier_id, v.updated_at, now, now,
                    ))  # fmt: skip
            self.write("products", product_cols, products)
            self.write("variants", variant_cols, variants)
            self.report("products", self.counts["variants"], total)

    def load_orders(self, adapter: DemoStoreAdapter) -> None:
        order_cols = (
            "id", "store_id", "external_id", "name", "email", "customer_external_id", "currency", "total",
            "financial_status", "status", "ordered_at", "cancelled_at", "external_updated_at", "created_at",
            "updated_at",
        )  # fmt: skip
        line_cols = (
            "id", "store_id", "order_id", "variant_id", "external_id", "sku", "quantity", "refunded_quantity",
            "price", "ordered_at", "cancelled",
        )  # fmt: skip
        refund_cols = ("id", "store_id", "order_id", "external_id", "refunded_at", "note", "created_at", "updated_at")
        refund_line_cols = ("store_id", "refund_id", "order_line_id", "quantity", "restock")
        sid, now, variant_ids = self.store_id, self.now, self.variants
        self.report("orders", 0, None)
        for batch in _batches(adapter.iter_orders(), ORDER_BATCH):
            order_ids = self.sink.ids("orders", len(batch))
            line_ids = iter(self.sink.ids("order_lines", sum(len(o.lines) for o in batch)))
            refund_ids = iter(self.sink.ids("refunds", sum(len(o.refunds) for o in batch)))
            orders: list[tuple[Any, ...]] = []
            lines: list[tuple[Any, ...]] = []
            refunds: list[tuple[Any, ...]] = []
            refund_lines: list[tuple[Any, ...]] = []
            for oid, o in zip(order_ids, batch, strict=True):
                cancelled = o.cancelled_at is not None
                orders.append((
                    oid, sid, o.external_id, o.name, o.email, o.customer_external_id, o.currency, o.total,
                    o.financial_status, OrderStatus.CANCELLED if cancelled else OrderStatus.OPEN, o.ordered_at,
                    o.cancelled_at, o.updated_at, now, now,
                ))  # fmt: skip
                if not o.refunds:
                    for line in o.lines:
                        ext = line.variant_external_id
                        lines.append((
                            next(line_ids), sid, oid, variant_ids.get(ext) if ext else None, line.external_id,
                            line.sku, line.quantity, 0, line.price, o.ordered_at, cancelled,
                        ))  # fmt: skip
                    continue
                refunded: dict[str, int] = {}
                for refund in o.refunds:
                    for rl in refund.lines:
                        refunded[rl.line_external_id] = refunded.get(rl.line_external_id, 0) + rl.quantity
                by_external: dict[str, int] = {}
                for line in o.lines:
                    lid = by_external[line.external_id] = next(line_ids)
                    ext = line.variant_external_id
                    lines.append((
                        lid, sid, oid, variant_ids.get(ext) if ext else None, line.external_id, line.sku,
                        line.quantity, refunded.get(line.external_id, 0), line.price, o.ordered_at, cancelled,
                    ))  # fmt: skip
                for refund in o.refunds:
                    rid = next(refund_ids)
                    refunds.append((rid, sid, oid, refund.external_id, refund.refunded_at, refund.note, now, now))
                    for rl in refund.lines:
                        refund_lines.append((sid, rid, by_external[rl.line_external_id], rl.quantity, rl.restock))
            self.write("orders", order_cols, orders)
            self.write("order_lines", line_cols, lines)
            self.write("refunds", refund_cols, refunds)
            self.write("refund_lines", refund_line_cols, refund_lines)
            self.report("orders", self.counts["orders"], None)

    def load_purchase_orders(self, adapter: DemoStoreAdapter) -> None:
        cols = (
            "store_id", "variant_id", "supplier_id", "reference", "quantity", "received_quantity", "expected_on",
            "status", "created_at", "updated_at",
        )  # fmt: skip
        total = adapter.summary().open_purchase_orders
        self.report("purchase_orders", 0, total)
        for batch in _batches(adapter.iter_purchase_orders(), ROW_BATCH):
            rows = []
            for po in batch:
                supplier_id = self.suppliers.get(po.supplier) if po.supplier else None
                self.incoming[po.variant_external_id] = self.incoming.get(po.variant_external_id, 0) + po.quantity
                rows.append((
                    self.store_id, self.variants[po.variant_external_id], supplier_id, po.reference, po.quantity, 0,
                    po.expected_on, PurchaseOrderStatus.OPEN, self.now, self.now,
                ))  # fmt: skip
            self.write("purchase_orders", cols, rows)
            self.report("purchase_orders", self.counts["purchase_orders"], total)

    def load_inventory(self, adapter: DemoStoreAdapter) -> None:
        cols = (
            "store_id", "variant_id", "location_id", "available", "on_hand", "incoming", "external_updated_at",
            "updated_at",
        )  # fmt: skip
        total = adapter.summary().inventory_levels
        # Incoming stock is booked into the first location, where purchase orders are delivered.
        receiving = next(iter(self.locations.values()))
        self.report("inventory", 0, total)
        for batch in _batches(adapter.iter_inventory(), ROW_BATCH):
            rows = []
            for level in batch:
                location_id = self.locations[level.location_external_id]
                incoming: int | None = None
                if level.available is not None:
                    incoming = self.incoming.get(level.variant_external_id, 0) if location_id == receiving else 0
                rows.append((
                    self.store_id, self.variants[level.variant_external_id], location_id, level.available,
                    level.on_hand, incoming, level.updated_at, self.now,
                ))  # fmt: skip
            self.write("inventory_levels", cols, rows)
            self.report("inventory", self.counts["inventory_levels"], total)

    def load_stock_events(self, adapter: DemoStoreAdapter) -> None:
        cols = (
            "store_id", "variant_id", "kind", "quantity_before", "quantity_after", "occurred_at", "ended_at", "source",
            "fanout_status", "waves_sent", "details",
        )  # fmt: skip
        total = adapter.summary().stock_changes
        no_details = self.sink.json({})
        self.report("stock_events", 0, total)
        # Held until all are read (a few per variant): a sell-out's span ends at its variant's next event.
        rows: list[list[Any]] = []
        open_sellout: dict[int, list[Any]] = {}
        for c in adapter.iter_stock_changes():
            vid = self.variants[c.variant_external_id]
            if (ended := open_sellout.pop(vid, None)) is not None:
                ended[6] = c.occurred_at
            row = [
                self.store_id, vid, c.kind, c.quantity_before, c.quantity_after, c.occurred_at, None, "demo", None, 0,
                no_details,
            ]  # fmt: skip
            if c.kind == "sellout":
                open_sellout[vid] = row
            rows.append(row)
        # Inserted in time order, so id order agrees with occurred_at for equal timestamps.
        for start in range(0, len(rows), ROW_BATCH):
            self.write("stock_events", cols, [tuple(r) for r in rows[start : start + ROW_BATCH]])
            self.report("stock_events", self.counts["stock_events"], total)

    def load_signups(self, adapter: DemoStoreAdapter) -> None:
        sub_cols = ("id", "store_id", "variant_id", "email", "locale", "state", "source", "created_at", "updated_at")
        consent_cols = ("store_id", "subscription_id", "kind", "text_version", "text", "given_at")
        total = adapter.summary().signups
        self.report("subscriptions", 0, total)
        for batch in _batches(adapter.iter_signups(), ROW_BATCH):
            ids = self.sink.ids("subscriptions", len(batch))
            subs, consents = [], []
            for sub_id, s in zip(ids, batch, strict=True):
                subs.append((
                    sub_id, self.store_id, self.variants[s.variant_external_id], s.email, s.locale,
                    SubscriptionState.ACTIVE, "widget", s.created_at, s.created_at,
                ))  # fmt: skip
                consents.append((self.store_id, sub_id, "signup", CONSENT_VERSION, CONSENT_TEXT, s.created_at))
            self.write("subscriptions", sub_cols, subs)
            self.write("consent_records", consent_cols, consents)
            self.report("subscriptions", self.counts["subscriptions"], total)

    def load_stock_history(self, adapter: DemoStoreAdapter) -> None:
        cols = ("store_id", "variant_id", "day", "sellable_quantity", "velocity", "days_on_hand", "status", "signal")
        self.report("stock_history", 0, None)
        for batch in _batches(adapter.iter_stock_history(), ROW_BATCH):
            rows = []
            for h in batch:
                status, signal = _day_status(h.quantity, h.rate)
                on_hand = None if h.rate <= 0 else round(max(h.quantity, 0) / h.rate, 1)
                rows.append((
                    self.store_id, self.variants[h.variant_external_id], h.day, h.quantity, round(h.rate, 3),
                    on_hand, status, signal,
                ))  # fmt: skip
            self.write("stock_state_history", cols, rows)
            self.report("stock_history", self.counts["stock_state_history"], None)

    def update_sellable(self) -> None:
        self.report("sellable", 0, 1)
        self.conn.execute(
            text(
                "UPDATE variants SET sellable_quantity = s.quantity"
                " FROM (SELECT il.variant_id, SUM(COALESCE(il.available, 0)) AS quantity"
                "       FROM inventory_levels il JOIN locations l ON l.id = il.location_id"
                "       WHERE il.store_id = :sid AND l.active GROUP BY il.variant_id) AS s"
                " WHERE variants.id = s.variant_id AND variants.store_id = :sid"
            ),
            {"sid": self.store_id},
        )
        self.report("sellable", 1, 1)
