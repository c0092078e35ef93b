"""Soak: minutes of mixed webhooks, signups and restocks under random kill -9, then a count of what was lost.

Outside `make test`, `make bench` and CI: run it by hand (`.venv/bin/python benchmarks/soak.py --minutes 10`).

Everything is a real local process in production mode (BACKSOON_ENV=production), the Procfile's lines: gunicorn (two
workers of four threads), --workers (2) `backsoon worker` processes, one `backsoon cron`, a redis-server of the
soak's own (no persistence: a killed Redis comes back empty), PostgreSQL database backsoon_soak, and an aiosmtpd
server in a process of its own that answers each final dot after --smtp-delay-ms and writes the message down before
its 250 (tests/smtpd_proc.py), so a kill never loses an accepted message from the count. benchmarks/soak_procs.py
supervises them: kill -9 of a worker (restarted after 1 s), of one gunicorn web worker (gunicorn forks another), of
Redis (down 3-6 s) and of the SMTP server (down 2-5 s), one every --fault-every seconds on average, the four kinds
in shuffled rounds.

Traffic, from one client at --rate operations a second, for a few WooCommerce stores whose URLs are loopback
addresses (BackSoon refuses to call them, so nothing leaves the machine): signed order.created deliveries (some
followed by order.updated with the same body), product.updated deliveries that sell each product out for 10-30 s and
restock it for 5-15 s, storefront signups for sold-out products (single opt-in: active at once, each a new address),
and exact resends of one delivery in ten. A request refused by a 5xx or a dropped connection is sent again, as the
platforms and the widget do. Restocks use wave_ratio 2 and one-minute waves, so later waves go out through cron.

At the end the traffic and the faults stop; every product is sold out and then restocked with 1,000 so that each
subscriber still waiting gets a wave, and the soak waits for the backlog to drain. It counts
(benchmarks/soak_budget.py): each distinct delivery stored once and processed, orders and order lines stored as
sent, each product at the last quantity sent; every subscriber mailed, duplicates within the bound of item 4 (one
per SMTP connection a worker or SMTP kill could cut); nothing left queued; and the time to drain after the last
fault. Human-readable lines go to stderr; the last stdout line is JSON, value = messages lost + duplicated beyond
budget.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import hmac
import http.client
import json
import os
import random
import signal
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks import soak_procs as procs  # noqa: E402
from benchmarks.recompute import _ensure_db  # noqa: E402
from benchmarks.soak_budget import MailFacts, WebhookFacts, mail_verdict, webhook_problems  # noqa: E402

DEFAULT_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/backsoon_soak"
SECRET_KEY = "soak-secret-key-not-for-production-use"  # noqa: S105 - a benchmark key
# Shoppers: "soak-…@example.com" (email-validator refuses the .test names); mail only ever reaches the local sink.
SHOPPERS = "example.com"
SHOPPER_PREFIX = "soak-"
FIXTURES = ROOT / "tests" / "fixtures" / "woocommerce" / "webhooks"
EPOCH = datetime(2026, 12, 1, tzinfo=UTC)
_VARIANTS = "FROM variants v JOIN products p ON p.id = v.product_id"


def say(msg: str) -> None:
    print(f"[{datetime.now(UTC):%H:%M:%S}] {msg}", file=sys.stderr, flush=True)


def _fixture(name: str) -> dict[str, Any]:
    data = json.loads((FIXTURES / name).read_text())
    return dict(json.loads(base64.b64decode(data["body_base64"])))


@dataclass
class Product:
    """One soak product: its store, ids, the last quantity sent and accepted, and when it next changes."""

    store: int
    external_id: int
    sku: str
    variant_ref: str = ""
    qty: int = 0
    sent_qty: int | None = None
    version: int = 0
    next_change: float = 0.0
    subscribers: int = 0


@dataclass
class Tally:
    """Everything the client sent and how it was answered."""

    accepted_keys: set[str] = field(default_factory=set)
    resends: int = 0
    orders: dict[tuple[int, int], int] = field(default_factory=dict)
    subscribers: set[str] = field(default_factory=set)
    refused_in_stock: int = 0
    statuses: dict[str, int] = field(default_factory=dict)
    retries: int = 0
    gave_up: int = 0
    # Final answers other than 200 to a delivery or 202/409 to a signup (after any resends).
    unexpected: dict[str, int] = field(default_factory=dict)
    restocks: int = 0
    sellouts: int = 0

    def count(self, what: str) -> None:
        self.statuses[what] = self.statuses.get(what, 0) + 1


class Client:
    """The shoppers and the stores' WooCommerce: signed deliveries and signups over HTTP, resent on 5xx or reset."""

    def __init__(self, port: int, secrets: dict[int, str], tally: Tally, stop: threading.Event) -> None:
        self.port = port
        self.secrets = secrets
        self.tally = tally
        self.stop = stop
        self.product_tpl = _fixture("02-product-updated-simple-stock-to-5.json")
        self.order_tpl = _fixture("06-order-created.json")

    def post(self, path: str, raw: bytes, headers: dict[str, str], kind: str) -> int:
        """POST until answered below 500 (or 60 s pass); the final status, 0 when it never was."""
        deadline = time.monotonic() + 60
        while True:
            try:
                conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=15)
                conn.request("POST", path, body=raw, headers=headers)
                resp = conn.getresponse()
                resp.read()
                conn.close()
                status = resp.status
            except (OSError, http.client.HTTPException):
                status = 0
            self.tally.count(f"{kind} {status or 'reset'}")
            if 0 < status < 500 and status != 429:
                return status
            if time.monotonic() > deadline:
                self.tally.gave_up += 1
                return status
            self.tally.retries += 1
            time.sleep(0.5)

    def webhook(self, store: int, topic: str, body: dict[str, Any], resend: bool) -> bool:
        """One signed WooCommerce delivery (and, when ``resend``, the same bytes again); True when answered 200."""
        from integrations.woocommerce.webhooks import dedupe_key

        raw = json.dumps(body, separators=(",", ":")).encode()
        sig = base64.b64encode(hmac.new(self.secrets[store].encode(), raw, hashlib.sha256).digest()).decode()
        resource, event = topic.split(".")
        headers = {
            "User-Agent": "WooCommerce/9.4.3 Hookshot (WordPress/6.5.5)",
            "Content-Type": "application/json",
            "X-WC-Webhook-Source": f"https://127.0.0.{store + 1}/",
            "X-WC-Webhook-Topic": topic,
            "X-WC-Webhook-Resource": resource,
            "X-WC-Webhook-Event": event,
            "X-WC-Webhook-ID": "7",
            "X-WC-Webhook-Signature": sig,
            "X-WC-Webhook-Delivery-ID": hashlib.md5(raw).hexdigest(),  # noqa: S324 - an id, not a digest of trust
        }
        ok = False
        for _ in range(2 if resend else 1):
            status = self.post(f"/webhooks/woocommerce/{store}", raw, headers, "webhook")
            if status != 200:
                self.tally.unexpected[f"webhook {status}"] = self.tally.unexpected.get(f"webhook {status}", 0) + 1
            ok = status == 200 or ok
        if resend:
            self.tally.resends += 1
        if ok:
            self.tally.accepted_keys.add(dedupe_key(topic, raw))
        return ok

    def stock(self, p: Product, qty: int, resend: bool) -> None:
        """product.updated with this stock, modified a second after the product's previous one."""
        p.version += 1
        when = EPOCH + timedelta(seconds=p.version)
        body = {
            **self.product_tpl,
            "id": p.external_id,
            "sku": p.sku,
            "name": f"Soak product {p.external_id}",
            "slug": f"soak-{p.external_id}",
            "stock_quantity": qty,
            "stock_status": "instock" if qty > 0 else "outofstock",
            "date_modified_gmt": when.isoformat(timespec="seconds").replace("+00:00", ""),
            "date_modified": when.isoformat(timespec="seconds").replace("+00:00", ""),
            "related_ids": [],
        }
        if self.webhook(p.store, "product.updated", body, resend):
            p.sent_qty = qty
        p.qty = qty

    def order(self, store: int, order_id: int, products: list[Product], rnd: random.Random) -> None:
        """order.created (and one time in five order.updated with the same body) for 1-3 lines."""
        lines = []
        for i, p in enumerate(products):
            lines.append(
                {**self.order_tpl["line_items"][0], "id": order_id * 10 + i, "product_id": p.external_id,
                 "variation_id": 0, "sku": p.sku, "name": f"Soak product {p.external_id}",
                 "quantity": rnd.randint(1, 3), "meta_data": []}
            )  # fmt: skip
        stamp = (EPOCH + timedelta(seconds=order_id)).isoformat(timespec="seconds").replace("+00:00", "")
        body = {
            **self.order_tpl,
            "id": order_id,
            "number": str(order_id),
            "order_key": f"wc_order_soak{order_id}",
            "line_items": lines,
            "billing": {**self.order_tpl["billing"], "email": f"buyer{order_id}@buyer.soak.test"},
            "date_created": stamp, "date_created_gmt": stamp, "date_modified": stamp, "date_modified_gmt": stamp,
            "date_paid": stamp, "date_paid_gmt": stamp, "_links": {},
        }  # fmt: skip
        ok = self.webhook(store, "order.created", body, rnd.random() < 0.1)
        if rnd.random() < 0.2:
            ok = self.webhook(store, "order.updated", body, False) or ok
        if ok:
            self.tally.orders[(store, order_id)] = len(lines)

    def signup(self, p: Product, email: str, consent_version: str) -> None:
        """A storefront signup; the address is a subscriber to mail when answered 202."""
        raw = json.dumps(
            {"email": email, "variant_id": p.variant_ref, "consent": True, "consent_version": consent_version,
             "locale": "en"}
        ).encode()  # fmt: skip
        status = self.post(
            f"/storefront/v1/stores/{p.store}/subscriptions", raw, {"Content-Type": "application/json"}, "signup"
        )
        if status == 202:
            self.tally.subscribers.add(email)
            p.subscribers += 1
        elif status == 409:
            self.tally.refused_in_stock += 1
        else:
            self.tally.unexpected[f"signup {status}"] = self.tally.unexpected.get(f"signup {status}", 0) + 1


class Backend:
    """The soak's view of PostgreSQL and Redis: seeding and the counts at the end."""

    def __init__(self, url: str, redis_url: str, keys: str) -> None:
        from redis import Redis

        from app.config import Settings
        from app.db import Database

        _ensure_db(url)
        self.db = Database(url)
        self.redis_url = redis_url
        self.redis = Redis.from_url(redis_url, socket_timeout=2, socket_connect_timeout=1)
        self.settings = Settings(
            env="production", secret_key=SECRET_KEY, database_url=url, redis_url=redis_url,
            token_encryption_keys=(keys,),
        )  # fmt: skip

    def reset(self, stores: int) -> dict[int, str]:
        """Empty every table; create the WooCommerce stores (webhook secret, an API key, short waves)."""
        from sqlalchemy import text

        from app.db import Base
        from app.infra.crypto import cipher_for
        from app.models import Store, StoreSetting

        tables = ", ".join(f'"{t.name}"' for t in Base.metadata.sorted_tables)
        with self.db.engine.begin() as conn:
            conn.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
        cipher = cipher_for(self.settings)
        secrets: dict[int, str] = {}
        with self.db.session() as s:
            for i in range(stores):
                secret = f"soak-webhook-secret-{i}"
                store = Store(
                    platform="woocommerce", domain=f"https://127.0.0.{i + 2}", name=f"Soak Shop {i}",
                    timezone="UTC", country="US", status="active",
                    webhook_secret_encrypted=cipher.encrypt(secret.encode()),
                    credentials_encrypted=cipher.encrypt_json({"consumer_key": "ck_1", "consumer_secret": "cs_1"}),
                )  # fmt: skip
                s.add(store)
                s.flush()
                s.add(StoreSetting(store_id=store.id, scope="store",
                                   values={"wave_ratio": 2.0, "wave_interval_minutes": 1}))  # fmt: skip
                secrets[int(store.id)] = secret
        return secrets

    def variant_refs(self) -> dict[tuple[int, int], str]:
        """(store id, product external id) → the variant's external id, for the products stored so far."""
        from sqlalchemy import text

        with self.db.session() as s:
            rows = s.execute(text(f"SELECT p.store_id, p.external_id, v.external_id {_VARIANTS}")).all()
        return {(int(r[0]), int(r[1])): str(r[2]) for r in rows}

    def scalar(self, sql: str, **params: Any) -> Any:
        from sqlalchemy import text

        with self.db.session() as s:
            return s.execute(text(sql), params).scalar()

    def rows(self, sql: str, **params: Any) -> list[Any]:
        from sqlalchemy import text

        with self.db.session() as s:
            return list(s.execute(text(sql), params).all())

    def queued(self) -> int | None:
        """Jobs waiting in Redis, None when Redis does not answer.

        Not RQ's started registries: a job whose worker was killed stays listed there until its timeout passes
        (the work itself is redone from the database), which would hold the drain for an hour.
        """
        try:
            from rq import Queue

            return sum(Queue(name, connection=self.redis).count for name in ("high", "default", "low"))
        except Exception:
            return None

    def started(self) -> int | None:
        """Entries in RQ's started registries (stale ones of killed workers included), None when Redis is down."""
        try:
            from rq import Queue
            from rq.registry import StartedJobRegistry

            return sum(
                StartedJobRegistry(queue=Queue(n, connection=self.redis)).count for n in ("high", "default", "low")
            )
        except Exception:
            return None

    def failed_jobs(self) -> int | None:
        """Jobs in RQ's failed registries, None when Redis does not answer."""
        try:
            from rq import Queue
            from rq.registry import FailedJobRegistry

            return sum(
                FailedJobRegistry(queue=Queue(n, connection=self.redis)).count for n in ("high", "default", "low")
            )
        except Exception:
            return None

    def backlog(self) -> dict[str, int]:
        """What is still to do in the database: inbox rows, waves, active subscribers."""
        return {
            "inbox rows received": int(self.scalar("SELECT count(*) FROM webhook_events WHERE status = 'received'")),
            "waves pending or running": int(
                self.scalar("SELECT count(*) FROM stock_events WHERE fanout_status IN ('pending', 'running')")
            ),
            "deliveries claimed": int(self.scalar("SELECT count(*) FROM deliveries WHERE status = 'claimed'")),
            "subscribers still active": int(self.scalar("SELECT count(*) FROM subscriptions WHERE state = 'active'")),
        }

    def sold_out(self, variants: int) -> bool:
        """True when every variant is stored at 0 and its state says it cannot be bought."""
        n = self.scalar(
            "SELECT count(*) FROM variants v JOIN stock_states st ON st.variant_id = v.id "
            "WHERE v.sellable_quantity = 0 AND st.sellable_quantity = 0"
        )
        return int(n) >= variants and self.backlog()["inbox rows received"] == 0


def traffic(client: Client, products: list[Product], consent: dict[int, str], args: Any, rnd: random.Random,
            until: float) -> None:  # fmt: skip
    """The mixed traffic until ``until``: due restocks and sell-outs first, then a signup or an order."""
    order_id = 100_000
    signup_no = 0
    tally = client.tally
    pause = 1.0 / args.rate
    while time.monotonic() < until and not client.stop.is_set():
        now = time.monotonic()
        for p in products:
            if p.next_change <= now:
                if p.qty == 0:
                    client.stock(p, rnd.randint(2, 30), rnd.random() < 0.1)
                    tally.restocks += 1
                    p.next_change = now + rnd.uniform(5, 15)
                else:
                    client.stock(p, 0, rnd.random() < 0.1)
                    tally.sellouts += 1
                    p.next_change = now + rnd.uniform(10, 30)
        if rnd.random() < 0.55:
            sold_out = [p for p in products if p.qty == 0] or products
            p = rnd.choice(sold_out)
            signup_no += 1
            client.signup(p, f"{SHOPPER_PREFIX}{signup_no}-p{p.external_id}@{SHOPPERS}", consent[p.store])
        else:
            order_id += 1
            store = rnd.choice(sorted({p.store for p in products}))
            mine = [p for p in products if p.store == store]
            client.order(store, order_id, rnd.sample(mine, rnd.randint(1, min(3, len(mine)))), rnd)
        time.sleep(pause)


def _sending(smtp_log: Path) -> bool:
    """True when the SMTP server wrote a message down in the last 60 ms: a wave is being sent."""

    def size() -> int:
        try:
            return smtp_log.stat().st_size
        except OSError:
            return 0

    before = size()
    time.sleep(0.06)
    return size() > before


def faults(sup: procs.Supervisor, smtp_log: Path, args: Any, rnd: random.Random, until: float,
           stop: threading.Event, log: list[str]) -> None:  # fmt: skip
    """kill -9 one service every ``--fault-every`` seconds on average, the four kinds in shuffled rounds."""
    kinds: list[str] = []
    while not stop.is_set():
        wait = rnd.uniform(0.5, 1.5) * args.fault_every
        if stop.wait(wait) or time.monotonic() + 8 > until:
            return
        if not kinds:
            kinds = ["worker", "web", "redis", "smtp"]
            rnd.shuffle(kinds)
        kind = kinds.pop()
        if kind in ("worker", "smtp"):
            # Aimed at a wave being sent (up to 15 s of waiting): the cut SMTP connection is what item 4 bounds.
            aim = min(time.monotonic() + 15, until - 3)
            while time.monotonic() < aim and not (sending := _sending(smtp_log)):
                pass
        else:
            sending = _sending(smtp_log)
        waves = "yes" if sending else "no"
        if sending:
            sup.kills_in_waves[kind] = sup.kills_in_waves.get(kind, 0) + 1
        if kind == "web":
            ok = sup.kill_web_worker(rnd.randrange(2))
            log.append(f"kill -9 web worker ({'done' if ok else 'none found'}), mail being sent: {waves}")
        elif kind == "worker":
            sup.kill(rnd.choice([n for n in sup.services if n.startswith("worker")]), 1.0)
            log.append(f"kill -9 worker, restarted after 1 s, mail being sent: {waves}")
        else:
            down = rnd.uniform(3, 6) if kind == "redis" else rnd.uniform(2, 5)
            sup.kill(kind, down)
            log.append(f"kill -9 {kind}, down {down:.1f} s, mail being sent: {waves}")
        say(log[-1])


def analyze_now_and_then(backend: Backend, stop: threading.Event, every: float = 30.0) -> None:
    """Stand in for autovacuum's ANALYZE where the server runs without it (this machine's PostgreSQL does).

    Without statistics the planner takes the soak's tables for empty and the attribution query nests loops for
    minutes; production servers run autovacuum, which analyzes tables that grew like these within a minute.
    """
    from sqlalchemy import text

    with backend.db.engine.connect() as conn:
        if conn.execute(text("SHOW autovacuum")).scalar() == "on":
            return
    say(f"PostgreSQL runs with autovacuum off here: ANALYZE every {every:g} s instead, as autovacuum would")
    while not stop.wait(every):
        try:
            with backend.db.engine.connect() as conn:
                conn.execute(text("ANALYZE"))
                conn.commit()
        except Exception as exc:  # the next round tries again; the soak goes on
            say(f"ANALYZE failed: {exc}")


def drain(client: Client, backend: Backend, products: list[Product], smtp_log: Path, timeout: float) -> bool:
    """Sell every product out, restock it with 1,000, and wait until everything is done; True when it was."""
    from tests.smtpd_proc import received

    for p in products:
        if p.qty != 0:
            client.stock(p, 0, False)
    deadline = time.monotonic() + timeout
    while not backend.sold_out(len(products)):
        if time.monotonic() > deadline:
            return False
        time.sleep(1)
    for p in products:
        client.stock(p, 1000, False)
    while time.monotonic() < deadline:
        got = received(str(smtp_log))
        waiting = [a for a in client.tally.subscribers if not got.get(a)]
        backlog = backend.backlog()
        if not waiting and not any(backlog.values()) and backend.queued() == 0:
            return True
        time.sleep(1)
    return False


def report(backend: Backend, tally: Tally, products: list[Product], sup: procs.Supervisor, smtp_log: Path,
           fanout_connections: int) -> tuple[int, list[str], dict[str, Any]]:  # fmt: skip
    """Count; returns (JSON value, webhook problems, figures for the summary)."""
    from tests.smtpd_proc import received

    got = {a: n for a, n in received(str(smtp_log)).items() if a.startswith(SHOPPER_PREFIX) and a.endswith(SHOPPERS)}
    sent_rows = {
        str(r[0]): int(r[1])
        for r in backend.rows(
            "SELECT s.email, count(*) FROM deliveries d JOIN subscriptions s ON s.id = d.subscription_id "
            "WHERE d.status = 'sent' GROUP BY s.email"
        )
    }
    svc = sup.services
    worker_kills = sum(s.kills for n, s in svc.items() if n.startswith("worker"))
    verdict = mail_verdict(
        MailFacts(frozenset(tally.subscribers), got, sent_rows, worker_kills, svc["smtp"].kills,
                  fanout_connections)
    )  # fmt: skip
    by_status = {str(r[0]): int(r[1]) for r in backend.rows("SELECT status, count(*) FROM webhook_events GROUP BY 1")}
    stored = {
        (int(r[0]), int(r[1])): int(r[2])
        for r in backend.rows(f"SELECT p.store_id, p.external_id, v.sellable_quantity {_VARIANTS}")
    }
    mismatches = sum(
        1 for p in products if p.sent_qty is not None and stored.get((p.store, p.external_id)) != p.sent_qty
    )
    problems = webhook_problems(
        WebhookFacts(
            accepted=len(tally.accepted_keys), rows_by_status=by_status, orders_sent=len(tally.orders),
            orders_in_db=int(backend.scalar("SELECT count(*) FROM orders")),
            order_lines_sent=sum(tally.orders.values()),
            order_lines_in_db=int(backend.scalar("SELECT count(*) FROM order_lines")),
            stock_mismatches=mismatches,
        )
    )  # fmt: skip
    figures = {
        "verdict": verdict,
        "inbox": by_status,
        "deliveries": {
            str(r[0]): int(r[1]) for r in backend.rows("SELECT status, count(*) FROM deliveries GROUP BY 1")
        },
        "waves": {
            str(r[0]): int(r[1])
            for r in backend.rows("SELECT coalesce(fanout_status, 'sell-out'), count(*) FROM stock_events GROUP BY 1")
        },
        "backlog": backend.backlog(),
        "queued": backend.queued(),
        "started": backend.started(),
        "failed_jobs": backend.failed_jobs(),
    }
    return verdict.over_budget, problems, figures


def main() -> int:
    from cryptography.fernet import Fernet

    from app.domain import waitlist as rules

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, default=10.0, help="traffic and faults (the drain comes after)")
    parser.add_argument("--seed", type=int, default=16)
    parser.add_argument("--stores", type=int, default=3)
    parser.add_argument("--products", type=int, default=4, help="per store")
    parser.add_argument("--rate", type=float, default=6.0, help="signups and orders a second")
    parser.add_argument("--fault-every", type=float, default=30.0, help="mean seconds between two kills")
    parser.add_argument("--drain-timeout", type=float, default=600.0)
    parser.add_argument("--fanout-connections", type=int, default=1)
    parser.add_argument(
        "--workers", type=int, default=2, help="`backsoon worker` processes (the Procfile's worker, scaled)"
    )
    parser.add_argument("--smtp-delay-ms", type=int, default=20, help="the SMTP server's reply to each final dot")
    parser.add_argument("--database-url", default=os.environ.get("SOAK_DATABASE_URL", DEFAULT_URL))
    parser.add_argument("--redis-port", type=int, default=6395)
    parser.add_argument("--smtp-port", type=int, default=2525)
    parser.add_argument("--web-port", type=int, default=8095)
    args = parser.parse_args()
    rnd = random.Random(args.seed)

    redis_url = f"redis://127.0.0.1:{args.redis_port}/0"
    keys = Fernet.generate_key().decode()
    backend = Backend(args.database_url, redis_url, keys)
    secrets = backend.reset(args.stores)
    tmp = Path(tempfile.mkdtemp(prefix="backsoon-soak-"))
    smtp_log = tmp / "received.log"
    env = {k: v for k, v in os.environ.items() if k not in ("GUNICORN_CMD_ARGS", "WEB_CONCURRENCY")}
    env.update({
        "BACKSOON_ENV": "production", "DATABASE_URL": args.database_url, "REDIS_URL": redis_url,
        "SECRET_KEY": SECRET_KEY, "TOKEN_ENCRYPTION_KEYS": keys, "APP_URL": "https://app.soak.test",
        "SMTP_URL": f"smtp://127.0.0.1:{args.smtp_port}?timeout=5", "MAIL_FROM": "Soak <restock@soak.test>",
        "LOG_LEVEL": "WARNING", "FANOUT_CONNECTIONS": str(args.fanout_connections), "PYTHONPATH": str(ROOT),
        # One client address signs everybody up: the per-IP and per-address limits are not what is soaked.
        "RATE_LIMIT_SIGNUP_IP": "1000000/minute", "RATE_LIMIT_SIGNUP_EMAIL": "1000/hour",
    })  # fmt: skip
    logs = {n: open(tmp / f"{n}.log", "ab") for n in ("redis", "smtp", "web", "worker", "cron")}  # noqa: SIM115
    services = {
        "redis": procs.Service("redis", procs.redis_argv(args.redis_port, tmp), env, logs["redis"]),
        "smtp": procs.Service("smtp", procs.smtp_argv(args.smtp_port, smtp_log, args.smtp_delay_ms), env, logs["smtp"]),
        "web": procs.Service("web", procs.web_argv(args.web_port), env, logs["web"]),
        **{
            f"worker{i}": procs.Service(f"worker{i}", procs.worker_argv(), env, logs["worker"])
            for i in range(1, args.workers + 1)
        },
        "cron": procs.Service("cron", procs.cron_argv(), env, logs["cron"]),
    }
    sup = procs.Supervisor(services)
    tally = Tally()
    stop = threading.Event()
    client = Client(args.web_port, secrets, tally, stop)
    fault_log: list[str] = []
    say(f"logs in {tmp}")
    # A SIGTERM (Ctrl-C's sibling) unwinds through the finally below, so no service outlives the soak.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    sup.start()
    analyzed = threading.Event()
    threading.Thread(target=analyze_now_and_then, args=(backend, analyzed), daemon=True).start()
    try:
        deadline = time.monotonic() + 60
        while not procs.http_ready(args.web_port):
            if time.monotonic() > deadline:
                raise RuntimeError("gunicorn did not answer")
            time.sleep(0.5)
        products = [
            Product(store=s, external_id=1000 * s + i, sku=f"SOAK-{s}-{i}")
            for s in sorted(secrets)
            for i in range(args.products)
        ]
        for p in products:
            client.stock(p, 0, False)
        deadline = time.monotonic() + 120
        while len(refs := backend.variant_refs()) < len(products) or not backend.sold_out(len(products)):
            if time.monotonic() > deadline:
                raise RuntimeError("the catalog was not stored")
            time.sleep(0.5)
        for p in products:
            p.variant_ref = refs[(p.store, p.external_id)]
            p.next_change = time.monotonic() + rnd.uniform(10, 30)
        consent = {s: rules.consent("en", f"Soak Shop {s - 1}").version for s in secrets}
        say(f"{len(products)} products in {len(secrets)} stores, sold out; traffic for {args.minutes:g} min")
        started = time.monotonic()
        until = started + args.minutes * 60
        fault_thread = threading.Thread(
            target=faults, args=(sup, smtp_log, args, rnd, until, stop, fault_log), daemon=True
        )
        fault_thread.start()
        traffic(client, products, consent, args, random.Random(args.seed + 1), until)
        stop.set()
        fault_thread.join()
        client.stop = threading.Event()
        say(f"traffic done ({len(tally.subscribers)} subscribers, {len(tally.orders)} orders); draining")
        drained = drain(client, backend, products, smtp_log, args.drain_timeout)
        drain_seconds = time.monotonic() - sup.last_fault_end
        value, problems, fig = report(backend, tally, products, sup, smtp_log, args.fanout_connections)
        if tally.unexpected:
            problems.append(f"final answers other than 200 (delivery) or 202/409 (signup): {tally.unexpected}")
    finally:
        analyzed.set()
        sup.stop()
        for f in logs.values():
            f.close()
        backend.db.dispose()
    v = fig["verdict"]
    worker_kills = sum(s.kills for n, s in services.items() if n.startswith("worker"))
    exits = {n: s.exits for n, s in services.items() if s.exits}
    say("--- soak summary ---")
    say(f"faults: {len(fault_log)} (worker {worker_kills}, web worker {sup.web_worker_kills}, "
        f"redis {services['redis'].kills}, smtp {services['smtp'].kills})")  # fmt: skip
    say(f"kills while a wave was being sent: {sup.kills_in_waves or 'none'}")
    say(f"restarts after exiting by themselves (not killed): {exits or 'none'}")
    for line in sup.events:
        say(f"  {line}")
    say(f"webhooks: {len(tally.accepted_keys)} distinct accepted, {tally.resends} resent; inbox {fig['inbox']}")
    say(f"orders: {len(tally.orders)} sent, lines {sum(tally.orders.values())}; restocks {tally.restocks}, "
        f"sell-outs {tally.sellouts}")  # fmt: skip
    say(f"webhooks processed exactly once: {'yes' if not problems else 'NO: ' + '; '.join(problems)}")
    say(f"signups: {len(tally.subscribers)} accepted, {tally.refused_in_stock} refused in stock")
    say(f"HTTP answers {tally.statuses}; retries {tally.retries}, gave up {tally.gave_up}")
    if v.duplicated:
        say(f"  duplicated: {dict(list(v.duplicated.items())[:5])}")
    say(f"mail: {v.mailed}/{v.subscribers} subscribers mailed, missed {len(v.missed)}, lost {len(v.lost)}, "
        f"duplicates {v.duplicates} (bound {v.duplicate_bound}), over budget {v.over_budget}")  # fmt: skip
    if v.missed:
        say(f"  missed: {list(v.missed)[:10]}")
    say(f"deliveries {fig['deliveries']}; waves {fig['waves']}")
    say(f"left unprocessed: {fig['backlog']}, jobs queued {fig['queued']}")
    say(f"RQ: started-registry entries {fig['started']}, failed jobs {fig['failed_jobs']}")
    say(f"drained: {'yes' if drained else 'NO'}; time to drain after the last fault: {drain_seconds:.1f} s "
        "(includes the final sell-out and restock of every product)")  # fmt: skip
    print(
        json.dumps(
            {
                "benchmark": "soak",
                "metric": f"restock messages lost + duplicated beyond budget ({args.minutes:g} min, kill -9 faults)",
                "value": value,
                "floor": 0,
                "ratio": None,
                "unit": "messages",
            }
        )
    )
    return 0 if value == 0 and not problems and drained else 1


if __name__ == "__main__":
    raise SystemExit(main())
