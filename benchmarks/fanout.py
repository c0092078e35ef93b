"""Benchmark: restock fan-out of N emails to a local SMTP server vs a plain smtplib loop (the floor).

A local aiosmtpd server (its Sink handler, in its own process) receives both runs. The floor sends the same
pre-built messages (the fan-out's own bytes for the same recipients) with `smtplib.SMTP.sendmail` over ONE
connection: pure SMTP, no database. The app run is `app.services.notify.fanout.run_fanout` on PostgreSQL
(database backsoon_bench_fanout): lease, claim N delivery rows, build every message, commit each row 'sent'
inside DATA (before the final dot), mark the subscribers notified, over --connections SMTP connections
(Settings.fanout_connections / FANOUT_CONNECTIONS; default: the setting's default, 1). With more than one, the
wave is sent by that many forked sender processes, each with its own SMTP and database connection: the floor
is defined over one connection, so that parallelism is an advantage the app run has and the floor has not —
say so next to any figure taken with --connections > 1. Human-readable lines go to stderr; the last stdout
line is JSON.
"""

from __future__ import annotations

import argparse
import json
import smtplib
import socket
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sqlalchemy import insert, text  # noqa: E402

from app.config import Settings  # noqa: E402
from app.db import Base, Database  # noqa: E402
from app.infra import links  # noqa: E402
from app.models import Product, StockEvent, Store, Subscription, Variant  # noqa: E402
from app.services.notify import emails, fanout  # noqa: E402

DEFAULT_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/backsoon_bench_fanout"
MAIL_FROM = "Bench Shop <restock@bench.test>"


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_smtp() -> tuple[subprocess.Popen[bytes], int]:
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "aiosmtpd", "-n", "-c", "aiosmtpd.handlers.Sink", "-l", f"127.0.0.1:{port}"]
    )
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return proc, port
        except OSError:
            time.sleep(0.05)
    proc.kill()
    raise RuntimeError("aiosmtpd did not start")


def prepare_db(url: str) -> Database:
    """The benchmark database, created and migrated like the other benchmarks'."""
    from benchmarks.recompute import _ensure_db

    _ensure_db(url)
    return Database(url)


def seed(db: Database, n: int) -> tuple[int, list[tuple[int, str, str]]]:
    tables = ", ".join(f'"{t.name}"' for t in Base.metadata.sorted_tables)
    with db.engine.begin() as conn:
        conn.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
    with db.session() as s:
        store = Store(platform="demo", domain="bench.example.test", name="Bench Shop", timezone="UTC")
        s.add(store)
        s.flush()
        product = Product(
            store_id=store.id, external_id="p1", title="Linen Shirt", image_url="https://cdn.example.test/p1.jpg"
        )
        s.add(product)
        s.flush()
        variant = Variant(
            store_id=store.id, product_id=product.id, external_id="v1", title="Blue / M", sellable_quantity=n
        )
        s.add(variant)
        s.flush()
        created = datetime.now(UTC) - timedelta(days=1)
        locales = ("en", "nl", "fr", "de")
        s.execute(
            insert(Subscription),
            [
                {
                    "store_id": store.id,
                    "variant_id": variant.id,
                    "email": f"shopper{i}@example.test",
                    "state": "active",
                    "locale": locales[i % 4],
                    "created_at": created + timedelta(milliseconds=i),
                    "updated_at": created,
                }
                for i in range(n)
            ],
        )
        ev = StockEvent(
            store_id=store.id,
            variant_id=variant.id,
            kind="restock",
            quantity_before=0,
            quantity_after=n,
            fanout_status="pending",
        )
        s.add(ev)
        s.flush()
        subs = [(i + 1, f"shopper{i}@example.test", locales[i % 4]) for i in range(n)]
        return ev.id, subs


def floor_messages(settings: Settings, subs: list[tuple[int, str, str]]) -> list[tuple[str, bytes]]:
    """The same messages the fan-out sends, built up front (not timed)."""
    templates: dict[str, emails.RestockTemplate] = {}
    out = []
    for sid, email, locale in subs:
        tpl = templates.get(locale)
        if tpl is None:
            tpl = templates[locale] = emails.RestockTemplate(
                emails.RestockContext(
                    to="x@example.invalid", locale=locale, store_name="Bench Shop", product_title="Linen Shirt",
                    variant_title="Blue / M", image_url="https://cdn.example.test/p1.jpg", buy_url="",
                    unsubscribe_url="", unsubscribe_mailto="", message_id="", mail_from=MAIL_FROM,
                )
            )  # fmt: skip
        out.append(
            (
                email,
                tpl.render(
                    to=email,
                    message_id=emails.restock_message_id(sid, MAIL_FROM),
                    buy_url=links.buy_url(settings.app_url, settings.secret_key, sid),
                    unsubscribe_url=links.unsubscribe_url(settings.app_url, settings.secret_key, sid),
                    unsubscribe_mailto=links.unsubscribe_mailto("restock@bench.test", settings.secret_key, sid),
                ),
            )
        )
    return out


def run_floor(port: int, messages: list[tuple[str, bytes]]) -> float:
    start = time.perf_counter()
    with smtplib.SMTP("127.0.0.1", port) as smtp:
        for rcpt, data in messages:
            smtp.sendmail("restock@bench.test", [rcpt], data)
    return time.perf_counter() - start


def run_app(db: Database, settings: Settings, event_id: int, n: int) -> float:
    start = time.perf_counter()
    result = fanout.run_fanout(db, settings, event_id)
    elapsed = time.perf_counter() - start
    if (result.status, result.sent) != ("done", n):
        raise RuntimeError(f"fan-out did not finish: {result}")
    return elapsed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--messages", type=int, default=10_000)
    parser.add_argument("--database-url", default=DEFAULT_URL)
    parser.add_argument("--connections", type=int, default=Settings().fanout_connections)
    parser.add_argument("--rounds", type=int, default=3, help="interleaved floor/app rounds; each keeps its best")
    args = parser.parse_args()
    n = args.messages
    db = prepare_db(args.database_url)
    proc, port = start_smtp()
    try:
        settings = Settings(
            env="test", smtp_url=f"smtp://127.0.0.1:{port}", app_url="https://app.bench.test",
            secret_key="bench-secret", mail_from=MAIL_FROM, fanout_connections=args.connections,  # noqa: S106
        )  # fmt: skip
        floors: list[float] = []
        apps: list[float] = []
        # Rounds interleave floor and app on a fresh seed each time, and each side keeps its best: a single
        # pair of runs on a 2-core machine swings by ±20 % with whatever else the machine did meanwhile.
        for r in range(1, args.rounds + 1):
            event_id, subs = seed(db, n)
            messages = floor_messages(settings, subs)
            floor_s = run_floor(port, messages)
            floors.append(floor_s)
            log(
                f"round {r} floor (smtplib loop, one connection): {n} messages in {floor_s:.2f} s = {n / floor_s:.0f}/s"
            )
            app_s = run_app(db, settings, event_id, n)
            apps.append(app_s)
            log(
                f"round {r} fanout (claim + build + commit + SMTP, {args.connections} connection(s)): {n} messages "
                f"in {app_s:.2f} s = {n / app_s:.0f}/s"
            )
        floor_s, app_s = min(floors), min(apps)
    finally:
        proc.terminate()
        proc.wait(10)
        db.dispose()
    value, floor = n / app_s, n / floor_s
    print(
        json.dumps(
            {
                "benchmark": "fanout",
                "metric": f"restock emails per second ({args.connections} SMTP connection(s); floor: one)",
                "value": round(value, 1),
                "floor": round(floor, 1),
                "ratio": round(value / floor, 3),
                "unit": "messages/s",
            }
        )
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
