"""axe-core on every admin and shopper page of the seeded demo, desktop and phone: 0 serious or critical findings.

axe-core comes from npm, pinned by package-lock.json (``make test`` runs ``npm ci`` first); Playwright injects its
axe.min.js into each page. Missing, the test fails: an accessibility gate that skips is no gate.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import delete, select, update

from app.infra.links import new_confirm_token, unsubscribe_token
from app.models import Campaign, Store
from app.models.waitlist import ConsentRecord, Subscription
from tests.e2e.conftest import LiveServer, sold_out_variant

pytestmark = [pytest.mark.integration, pytest.mark.e2e]

AXE = Path(__file__).resolve().parents[2] / "node_modules" / "axe-core" / "axe.min.js"
BLOCKING = ("serious", "critical")
VIEWPORTS = {
    "desktop": {"viewport": {"width": 1366, "height": 900}},
    "phone": {"viewport": {"width": 375, "height": 667}, "is_mobile": True, "has_touch": True},
}
CAMPAIGN = "Axe check sale"
EMAILS = ("axe.pending@example.com", "axe.active@example.com")


@dataclass(frozen=True)
class Demo:
    """What the pages need from the seeded demo: a sold-out variant with its product, a campaign, shopper links."""

    store_id: int
    variant_id: int
    variant_ext: str
    product_id: int
    product_ext: str
    campaign_id: int
    confirm_token: str
    unsubscribe_token: str


@pytest.fixture
def demo(live_server: LiveServer, demo_store_id: int) -> Iterator[Demo]:
    """A sold-out demo variant with one pending and one active subscription, and a planned campaign on its product."""
    raw, digest = new_confirm_token()
    now = datetime.now(UTC)
    with live_server.db.session() as s:
        key_hash = s.scalar(select(Store.api_key_hash).where(Store.id == demo_store_id))
        variant_id, variant_ext, product_id, product_ext = sold_out_variant(s, demo_store_id)
        s.execute(delete(Subscription).where(Subscription.store_id == demo_store_id, Subscription.email.in_(EMAILS)))
        s.execute(delete(Campaign).where(Campaign.store_id == demo_store_id, Campaign.name == CAMPAIGN))
        pending = Subscription(
            store_id=demo_store_id,
            variant_id=variant_id,
            email=EMAILS[0],
            state="pending_confirmation",
            confirm_token_hash=digest,
            confirm_expires_at=now + timedelta(hours=48),
            confirm_sent_at=now,
        )
        active = Subscription(store_id=demo_store_id, variant_id=variant_id, email=EMAILS[1])
        s.add_all([pending, active])
        s.flush()
        s.add(
            ConsentRecord(
                store_id=demo_store_id,
                subscription_id=pending.id,
                kind="signup",
                text_version="v1",
                text="Email me once when this item is back in stock.",
                given_at=now,
            )
        )
        today = date.today()
        campaign = Campaign(
            store_id=demo_store_id,
            name=CAMPAIGN,
            starts_on=today + timedelta(days=7),
            ends_on=today + timedelta(days=14),
            uplift_pct=Decimal("30"),
            product_ids=[product_id],
        )
        s.add(campaign)
        s.flush()
        found = Demo(
            store_id=demo_store_id,
            variant_id=variant_id,
            variant_ext=variant_ext,
            product_id=product_id,
            product_ext=product_ext,
            campaign_id=campaign.id,
            confirm_token=raw,
            unsubscribe_token=unsubscribe_token(live_server.runtime.settings.secret_key, active.id),
        )
    try:
        yield found
    finally:
        with live_server.db.session() as s:
            s.execute(
                delete(Subscription).where(Subscription.store_id == demo_store_id, Subscription.email.in_(EMAILS))
            )
            s.execute(delete(Campaign).where(Campaign.id == found.campaign_id))
            s.execute(update(Store).where(Store.id == demo_store_id).values(api_key_hash=key_hash))


Step = Callable[[Any, str, Demo], None]


def _path(build: Callable[[Demo], str]) -> Step:
    """A page reached by its address alone."""

    def go(page: Any, base: str, d: Demo) -> None:
        page.goto(f"{base}{build(d)}")

    return go


def _confirmed(page: Any, base: str, d: Demo) -> None:
    """The "you're on the list" page: the one a shopper sees after pressing Confirm."""
    page.goto(f"{base}/c/{d.confirm_token}")
    page.get_by_role("button", name="Confirm").click()
    page.wait_for_load_state()


def _post(page: Any, base: str, path: str) -> None:
    """POST an admin form the way the page would, with the CSRF token of an admin page."""
    page.goto(f"{base}/admin/settings")
    token = page.locator('input[name="csrf_token"]').first.get_attribute("value")
    with page.expect_navigation():
        page.evaluate(
            """([action, token]) => {
                const form = document.createElement('form');
                form.method = 'post';
                form.action = action;
                form.innerHTML = '<input type="hidden" name="csrf_token">';
                form.firstChild.value = token;
                document.body.appendChild(form);
                form.submit();
            }""",
            [f"{base}{path}", token],
        )


def _new_api_key(page: Any, base: str, d: Demo) -> None:
    """The page that shows a new API key once (the demo store has none: its key is removed again afterwards)."""
    _post(page, base, "/admin/api-key")


def _replace_api_key(page: Any, base: str, d: Demo) -> None:
    """The confirm step before a store's API key is replaced."""
    _post(page, base, "/admin/api-key")
    page.goto(f"{base}/admin/api-key")


def _widget(page: Any, base: str, d: Demo) -> None:
    """The demo shop's product page with the widget's back-soon form in place of the buy button."""
    page.goto(f"{base}/demo/shop/products/{d.product_ext}?variant={d.variant_ext}")
    page.wait_for_selector(".bs-panel")


# Every admin page and every page a shopper can reach, by name: a path, or steps that end on the page.
PAGES: dict[str, Step] = {
    "admin dashboard": _path(lambda d: "/admin/"),
    "admin at risk": _path(lambda d: "/admin/at-risk"),
    "admin waitlist demand": _path(lambda d: "/admin/demand"),
    "admin incoming stock": _path(lambda d: "/admin/incoming"),
    "admin overstock": _path(lambda d: "/admin/overstock"),
    "admin results": _path(lambda d: "/admin/results"),
    "admin campaigns": _path(lambda d: "/admin/campaigns"),
    "admin campaign": _path(lambda d: f"/admin/campaigns/{d.campaign_id}"),
    "admin subscribers": _path(lambda d: "/admin/subscribers"),
    "admin subscriber log": _path(lambda d: f"/admin/subscribers/log?email={EMAILS[1]}"),
    "admin variant": _path(lambda d: f"/admin/variants/{d.variant_id}"),
    "admin settings": _path(lambda d: "/admin/settings"),
    "admin product override": _path(lambda d: f"/admin/settings/products/{d.product_id}"),
    "admin variant override": _path(lambda d: f"/admin/settings/variants/{d.variant_id}"),
    "admin emails": _path(lambda d: "/admin/emails"),
    "admin email preview restock": _path(lambda d: "/admin/emails/restock/preview"),
    "admin email preview confirmation": _path(lambda d: "/admin/emails/confirmation/preview"),
    "admin email preview digest": _path(lambda d: "/admin/emails/digest/preview"),
    "admin email preview instant": _path(lambda d: "/admin/emails/instant/preview"),
    "admin alerts": _path(lambda d: "/admin/alerts"),
    "admin exports": _path(lambda d: "/admin/exports"),
    "admin data requests": _path(lambda d: "/admin/data-requests"),
    "admin failed updates": _path(lambda d: "/admin/failed"),
    "admin api key": _new_api_key,
    "admin replace api key": _replace_api_key,
    "admin login": _path(lambda d: "/admin/login"),
    "admin unknown page (404)": _path(lambda d: "/admin/no-such-page"),
    "shopper confirm": _path(lambda d: f"/c/{d.confirm_token}"),
    "shopper on the list": _confirmed,
    "shopper unsubscribe": _path(lambda d: f"/u/{d.unsubscribe_token}"),
    "shopper landing": _path(lambda d: f"/p/{d.store_id}/{d.product_ext}?variant={d.variant_ext}"),
    "demo shop": _path(lambda d: "/demo/shop/"),
    "demo tour": _path(lambda d: "/demo/"),
    "demo mailbox": _path(lambda d: "/demo/mail"),
    "demo shop product with widget": _widget,
}


def _report(violations: list[dict[str, Any]]) -> str:
    lines = []
    for v in violations:
        lines.append(f"[{v['impact']}] {v['id']}: {v['help']} ({v['helpUrl']})")
        for node in v["nodes"][:10]:
            lines.append(f"    {', '.join(map(str, node['target']))}: {node.get('failureSummary', '').strip()}")
            lines.append(f"      {node['html'][:200]}")
    return "\n".join(lines)


@pytest.fixture(scope="session")
def axe_script() -> Path:
    """axe.min.js from node_modules, installed by ``npm ci`` (``make test`` does it)."""
    if not AXE.is_file():
        pytest.fail(f"axe-core is missing ({AXE}): run `npm ci` (make test does) before the tests", pytrace=False)
    return AXE


@pytest.mark.parametrize("viewport", VIEWPORTS)
@pytest.mark.parametrize("name", PAGES)
def test_no_serious_or_critical_axe_findings(
    live_server: LiveServer, browser: Any, demo: Demo, axe_script: Path, name: str, viewport: str
) -> None:
    # The email previews' policy lets no script run (rightly); axe must, so the test context bypasses it.
    context = browser.new_context(locale="en-GB", bypass_csp=True, **VIEWPORTS[viewport])
    context.set_default_timeout(15_000)
    try:
        page = context.new_page()
        PAGES[name](page, live_server.url, demo)
        page.wait_for_load_state("load")
        page.add_script_tag(path=str(axe_script))
        result = page.evaluate("() => axe.run(document, {resultTypes: ['violations']})")
    finally:
        context.close()
    assert result["url"].startswith(live_server.url), result["url"]
    blocking = [v for v in result["violations"] if v["impact"] in BLOCKING]
    if blocking:
        others = sorted(v["id"] for v in result["violations"] if v["impact"] not in BLOCKING)
        pytest.fail(f"{name} ({viewport}), {result['url']}:\n{_report(blocking)}\nminor: {others}", pytrace=False)
