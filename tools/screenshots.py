"""Regenerate the README's screenshots from the real demo: `python tools/screenshots.py [--out docs]`.

Runs `backsoon demo` on a fresh SQLite database and a free port (seeded Northwind Goods, in-process jobs, the demo
inbox), then drives Debian's Chromium through Playwright (the dev install has it; CHROMIUM_PATH overrides
/usr/bin/chromium):

- admin-dashboard.png: the merchant dashboard;
- shop-back-soon.png: a sold-out variant with an expected date on the demo shop, the widget's Back soon form;
- restock-email.png: that variant restocked with the demo's button, the restock email in the demo inbox;
- results-funnel.png: the Results page's restock funnel.
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

from sqlalchemy import exists, func, select

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from app.db import Database  # noqa: E402
from app.models import Product, StockState, Store, Subscription, Variant  # noqa: E402

CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
SEED_TIMEOUT = 900  # seconds: `backsoon demo` seeds 500 variants with 180 days of history first


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_until_up(base: str, server: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + SEED_TIMEOUT
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit(f"backsoon demo exited with {server.returncode}")
        try:
            with urllib.request.urlopen(f"{base}/healthz", timeout=2) as resp:  # noqa: S310 - our own http URL
                if resp.status == 200:
                    return
        except OSError:
            pass
        time.sleep(1)
    raise SystemExit(f"backsoon demo did not answer on {base} within {SEED_TIMEOUT} s")


def _sold_out_with_date(db_url: str) -> tuple[str, str]:
    """A sold-out variant of a product with several variants, with an expected date and shoppers waiting (in
    English): (product ref, variant ref)."""
    db = Database(db_url)
    several = select(Variant.product_id).group_by(Variant.product_id).having(func.count() > 1)
    try:
        with db.session() as s:
            row = s.execute(
                select(Product.external_id, Variant.external_id)
                .join(Variant, Variant.product_id == Product.id)
                .join(StockState, StockState.variant_id == Variant.id)
                .join(Store, Store.id == Variant.store_id)
                .where(
                    Store.platform == "demo",
                    Product.id.in_(several),
                    StockState.status == "out_of_stock",
                    StockState.restock_eta.is_not(None),
                    exists().where(Subscription.variant_id == Variant.id, Subscription.state == "active"),
                    # The README shows the English email: every shopper waiting for it reads English.
                    ~exists().where(
                        Subscription.variant_id == Variant.id,
                        Subscription.state == "active",
                        Subscription.locale != "en",
                    ),
                    Variant.published.is_(True),
                    Product.published.is_(True),
                )
                .order_by(Variant.id)
                .limit(1)
            ).one()
        return str(row[0]), str(row[1])
    finally:
        db.dispose()


def capture(base: str, db_url: str, out: Path) -> list[Path]:
    """Take the screenshots from the running demo at `base`; the files written."""
    from playwright.sync_api import sync_playwright

    written: list[Path] = []
    product, variant = _sold_out_with_date(db_url)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox"])
        try:
            page: Any = browser.new_page(locale="en-GB", viewport={"width": 1280, "height": 900})
            page.set_default_timeout(30_000)

            page.goto(f"{base}/admin/")
            written.append(out / "admin-dashboard.png")
            page.screenshot(path=written[-1])

            page.set_viewport_size({"width": 1280, "height": 800})
            page.goto(f"{base}/demo/shop/products/{product}?variant={variant}")
            page.wait_for_selector(".bs-panel")
            written.append(out / "shop-back-soon.png")
            page.screenshot(path=written[-1])

            # The demo's restock button: the in-process jobs recompute and send the first wave to the demo inbox.
            page.locator(f'form.demo-restock[data-variant="{variant}"] button').click()
            page.locator(".flash--success").first.wait_for()
            link = page.locator("#inbox-table a", has_text="Back in stock")
            deadline = time.monotonic() + 60
            while True:
                page.goto(f"{base}/demo/mail")
                if link.count() or time.monotonic() > deadline:
                    break
                time.sleep(1)
            if not link.count():
                raise SystemExit("no restock email reached the demo inbox within 60 s")
            link.first.click()
            page.wait_for_selector("#message-html")
            written.append(out / "restock-email.png")
            page.locator("section[aria-labelledby=html-part]").screenshot(path=written[-1])

            page.set_viewport_size({"width": 1280, "height": 900})
            page.goto(f"{base}/admin/results")
            written.append(out / "results-funnel.png")
            page.locator("section[aria-labelledby=funnel-h]").screenshot(path=written[-1])
        finally:
            browser.close()
    return written


def main() -> None:
    """Start the demo on a fresh database, take the screenshots, stop it."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs", help="where the PNG files go (default: docs)")
    args = parser.parse_args()
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    with tempfile.TemporaryDirectory(prefix="backsoon-screenshots-") as tmp:
        db_url = f"sqlite:///{tmp}/demo.db"
        env = {**os.environ, "BACKSOON_DEMO": "1", "PORT": str(port), "DATABASE_URL": db_url, "APP_URL": base}
        env.pop("SMTP_URL", None)  # the demo's own inbox catches the mail
        backsoon = Path(sys.executable).with_name("backsoon")
        server = subprocess.Popen([str(backsoon), "demo"], cwd=tmp, env=env)  # noqa: S603 - our own command
        try:
            _wait_until_up(base, server)
            for path in capture(base, db_url, args.out):
                print(path.relative_to(ROOT) if path.is_relative_to(ROOT) else path)
        finally:
            server.terminate()
            server.wait(timeout=30)


if __name__ == "__main__":
    main()
