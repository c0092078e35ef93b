"""The subscriber list a page at a time: search by address and by SKU or product, the state filter, keyset pages
with exact boundaries, other stores kept out, LIKE wildcards taken literally, bad parameters refused, and a fixed
number of queries per page."""

from __future__ import annotations

import html as html_lib
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import event, func, select

from app.db import Database
from app.models import Product, Subscription
from app.web.admin.auth import session_fields
from tests.conftest import AppFactory
from tests.factories import RecordingQueue, make_store, make_variant

pytestmark = pytest.mark.integration

T0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
PAGED = [f"s{i:03d}@page.test" for i in range(120)]


@dataclass
class World:
    client: FlaskClient
    db: Database
    jobs: RecordingQueue
    variants: dict[str, int]
    subs: dict[str, int]

    def get(self, url: str) -> tuple[int, str]:
        resp = self.client.get(url)
        return resp.status_code, resp.get_data(as_text=True)


@pytest.fixture
def world(db: Database, make_app: AppFactory) -> Iterator[World]:
    with db.session() as s:
        a = make_store(s, name="Alpha Shop", platform="woocommerce", domain="alpha.example", timezone="UTC")
        b = make_store(s, name="Beta Shop", platform="woocommerce", domain="beta.example")
        shirt = Product(store_id=a.id, external_id="shirt", title="Linen Shirt")
        scarf = Product(store_id=a.id, external_id="scarf", title="Wool Scarf")
        tee = Product(store_id=a.id, external_id="tee", title="100% Cotton_Tee")
        plain = Product(store_id=a.id, external_id="plain", title="Plain Tee")
        b_shirt = Product(store_id=b.id, external_id="shirt", title="Linen Shirt")
        s.add_all([shirt, scarf, tee, plain, b_shirt])
        s.flush()
        v = {
            "red": make_variant(s, a, product=shirt, sku="LS-RED-M", title="Red / M"),
            "blue": make_variant(s, a, product=shirt, sku="LS-BLU-M", title="Blue / M"),
            "scarf": make_variant(s, a, product=scarf, sku="WS-GRY", title="Grey"),
            "tee": make_variant(s, a, product=tee, sku="CT_1%", title="White"),
            "ctx": make_variant(s, a, product=plain, sku="CTX9", title="Black"),
            "b_red": make_variant(s, b, product=b_shirt, sku="LS-RED-M", title="Red / M"),
        }
        subs: dict[str, int] = {}

        def add(store_id: int, variant: str, email: str, state: str, at: datetime, key: str | None = None) -> None:
            row = Subscription(
                store_id=store_id, variant_id=v[variant].id, email=email, state=state, created_at=at, updated_at=at
            )
            s.add(row)
            s.flush()
            subs[key or email] = row.id

        # Two signups share each minute, so a page boundary falls between rows of the same created_at.
        for i, email in enumerate(PAGED):
            add(a.id, "red", email, "active", T0 + timedelta(minutes=(i + 1) // 2))
        add(a.id, "scarf", "ann_x@shop.test", "notified", T0 + timedelta(hours=4))
        add(a.id, "scarf", "annex@shop.test", "active", T0 + timedelta(hours=4, minutes=1))
        add(a.id, "tee", "50%off@shop.test", "unsubscribed", T0 + timedelta(hours=4, minutes=2))
        add(a.id, "ctx", "50xoff@shop.test", "active", T0 + timedelta(hours=4, minutes=3))
        add(a.id, "blue", "joanna@shop.test", "pending_confirmation", T0 + timedelta(hours=4, minutes=4))
        # Another store: same SKU, same kind of addresses, newest of all.
        add(b.id, "b_red", "ann_b@shop.test", "active", T0 + timedelta(hours=5), key="b:ann_b")
        add(b.id, "b_red", "s050@page.test", "active", T0 + timedelta(hours=5), key="b:s050")
        store_id = a.id
        variant_ids = {k: x.id for k, x in v.items()}
    jobs = RecordingQueue()
    app = make_app(jobs=jobs, app_url="https://app.test", secret_key="k")
    client = app.test_client()
    with client.session_transaction() as sess:
        sess.update(session_fields(store_id, 0))
        sess["admin_csrf"] = "t" * 40
    yield World(client, db, jobs, variant_ids, subs)


def _emails(page: str) -> list[str]:
    body = re.search(r'<table id="subscribers">.*?<tbody>(.*?)</tbody>', page, re.S)
    if body is None:
        return []
    rows = re.findall(r"<tr[^>]*>\s*<td>(.*?)</td>", body.group(1), re.S)
    return [html_lib.unescape(re.sub(r"<[^>]+>", "", r).strip()) for r in rows]


def _showing(page: str) -> str | None:
    found = re.search(r'<p id="showing">(.*?)</p>', page)
    return found.group(1) if found else None


def _link(page: str, rel: str) -> str | None:
    found = re.search(rf'<a rel="{rel}" id="page-\w+" href="([^"]+)"', page)
    return html_lib.unescape(found.group(1)) if found else None


def test_email_search_is_a_case_insensitive_part_of_the_address_in_this_store_only(world: World) -> None:
    status, page = world.get("/admin/subscribers?q=ANN")
    assert status == 200
    assert _emails(page) == ["joanna@shop.test", "annex@shop.test", "ann_x@shop.test"]
    assert _showing(page) == "Showing 1–3 of 3"
    assert _link(page, "next") is None and _link(page, "prev") is None
    assert "ann_b@shop.test" not in page
    # Another store's identical address is not found either.
    assert _emails(world.get("/admin/subscribers?q=s050@")[1]) == ["s050@page.test"]


def test_wildcards_in_a_search_are_literal(world: World) -> None:
    assert _emails(world.get("/admin/subscribers?q=ann_x")[1]) == ["ann_x@shop.test"]
    assert _emails(world.get("/admin/subscribers?q=50%25")[1]) == ["50%off@shop.test"]
    assert _emails(world.get("/admin/subscribers?sku=CT_")[1]) == ["50%off@shop.test"]
    assert _emails(world.get("/admin/subscribers?sku=CT_1%25")[1]) == ["50%off@shop.test"]
    status, page = world.get("/admin/subscribers?q=%25%25")
    assert status == 200
    assert _emails(page) == []
    assert "No subscriber matches this filter." in page
    assert _emails(world.get("/admin/subscribers?q=%5C")[1]) == []


def test_sku_search_is_a_prefix_and_also_matches_the_product_title(world: World) -> None:
    assert _emails(world.get("/admin/subscribers?sku=ls-blu")[1]) == ["joanna@shop.test"]
    # A SKU matches from its start only: "BLU-M" is in the middle of LS-BLU-M.
    assert _emails(world.get("/admin/subscribers?sku=BLU-M")[1]) == []
    assert _emails(world.get("/admin/subscribers?sku=wool")[1]) == ["annex@shop.test", "ann_x@shop.test"]
    status, page = world.get("/admin/subscribers?sku=LS-")
    assert status == 200
    assert _emails(page) == ["joanna@shop.test", *reversed(PAGED[71:])]
    assert _showing(page) == "Showing 1–50 of 121"
    assert "ann_b@shop.test" not in page
    # Searches combine: the address part and the SKU must both match.
    assert _emails(world.get("/admin/subscribers?sku=LS-&q=s11")[1]) == [f"s11{i}@page.test" for i in range(9, -1, -1)]


def test_state_filter_alone_and_with_a_search(world: World) -> None:
    status, page = world.get("/admin/subscribers?state=notified")
    assert (status, _emails(page), _showing(page)) == (200, ["ann_x@shop.test"], "Showing 1–1 of 1")
    assert _emails(world.get("/admin/subscribers?state=active&q=ann")[1]) == ["annex@shop.test"]
    assert _emails(world.get("/admin/subscribers?state=unsubscribed&sku=WS")[1]) == []
    # The stats count the whole store, whatever the filter.
    counts = dict(re.findall(r'data-state="(\w+)">(\d+)<', page))
    assert counts == {
        "pending_confirmation": "1",
        "active": "122",
        "notified": "1",
        "converted": "0",
        "unsubscribed": "1",
        "redacted": "0",
    }


def test_three_pages_forward_and_back_with_exact_boundaries(world: World) -> None:
    status, first = world.get("/admin/subscribers?sku=LS-RED&state=active")
    assert status == 200
    newest_first = list(reversed(PAGED))
    assert _emails(first) == newest_first[:50]
    assert _showing(first) == "Showing 1–50 of 120"
    assert _link(first, "prev") is None
    nxt = _link(first, "next")
    assert nxt is not None and "sku=LS-RED" in nxt and "state=active" in nxt

    second = world.get(nxt)[1]
    assert _emails(second) == newest_first[50:100]
    assert _showing(second) == "Showing 51–100 of 120"
    # s070 and s069 signed up in the same minute and sit either side of the boundary.
    assert (_emails(first)[-1], _emails(second)[0]) == ("s070@page.test", "s069@page.test")

    nxt = _link(second, "next")
    assert nxt is not None
    third = world.get(nxt)[1]
    assert _emails(third) == newest_first[100:]
    assert _showing(third) == "Showing 101–120 of 120"
    assert _link(third, "next") is None
    seen = _emails(first) + _emails(second) + _emails(third)
    assert sorted(seen) == sorted(PAGED) and len(set(seen)) == 120

    prev = _link(third, "prev")
    assert prev is not None and "sku=LS-RED" in prev
    back = world.get(prev)[1]
    assert (_emails(back), _showing(back)) == (newest_first[50:100], "Showing 51–100 of 120")
    prev = _link(back, "prev")
    assert prev is not None
    top = world.get(prev)[1]
    assert (_emails(top), _showing(top)) == (newest_first[:50], "Showing 1–50 of 120")
    assert _link(top, "prev") is None


def test_a_signup_between_pages_neither_repeats_nor_hides_a_row(world: World) -> None:
    first = world.get("/admin/subscribers?sku=LS-RED")[1]
    with world.db.session() as s:
        store_id = s.scalar(select(Subscription.store_id).where(Subscription.id == world.subs["s000@page.test"]))
        s.add(
            Subscription(
                store_id=store_id,
                variant_id=world.variants["red"],
                email="late@page.test",
                state="active",
                created_at=T0 + timedelta(hours=6),
                updated_at=T0 + timedelta(hours=6),
            )
        )
    nxt = _link(first, "next")
    assert nxt is not None
    second = world.get(nxt)[1]
    assert _emails(second) == list(reversed(PAGED))[50:100]
    assert _showing(second) == "Showing 52–101 of 121"


def test_previous_after_rows_were_deleted_shows_a_full_first_page(world: World) -> None:
    first = world.get("/admin/subscribers?sku=LS-RED")[1]
    nxt = _link(first, "next")
    assert nxt is not None
    second = world.get(nxt)[1]
    with world.db.session() as s:
        gone = [world.subs[e] for e in PAGED[110:]]  # ten rows of the first page
        for row in s.scalars(select(Subscription).where(Subscription.id.in_(gone))):
            s.delete(row)
    prev = _link(second, "prev")
    assert prev is not None
    top = world.get(prev)[1]
    # Not a 40-row "first" page: the true first page, which now reaches ten rows into the old second one.
    assert _emails(top) == list(reversed(PAGED[:110]))[:50]
    assert _showing(top) == "Showing 1–50 of 110"
    assert _link(top, "prev") is None


def test_the_variant_filter_names_the_sku_and_product(world: World) -> None:
    status, page = world.get(f"/admin/subscribers?variant={world.variants['blue']}")
    assert status == 200
    assert _emails(page) == ["joanna@shop.test"]
    label = re.search(r'<p class="filter-variant" id="variant-filter">(.*?)</p>', page, re.S)
    assert label is not None
    assert re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", label.group(1))).strip() == (
        "Variant: LS-BLU-M Linen Shirt · Blue / M Show every variant"
    )
    assert f'name="variant" value="{world.variants["blue"]}"' in page
    assert "Variant id" not in page
    # Each row links to its variant's filter, and paging keeps it.
    status, page = world.get(f"/admin/subscribers?variant={world.variants['red']}")
    nxt = _link(page, "next")
    assert nxt is not None and f"variant={world.variants['red']}" in nxt
    assert _showing(page) == "Showing 1–50 of 120"


def test_remove_links_on_a_later_page_still_open_the_confirm_step(world: World) -> None:
    first = world.get("/admin/subscribers?sku=LS-RED")[1]
    nxt = _link(first, "next")
    assert nxt is not None
    second = world.get(nxt)[1]
    sid = world.subs["s069@page.test"]
    assert f'href="/admin/subscribers/{sid}/remove"' in second
    status, confirm = world.get(f"/admin/subscribers/{sid}/remove")
    assert status == 200
    assert "Erase s069@page.test from the waitlist for LS-RED-M (Linen Shirt)?" in html_lib.unescape(confirm)


@pytest.mark.parametrize(
    ("query", "field", "message"),
    [
        ("after=abc", "after", "This page link is damaged: go back to the first page."),
        ("before=12.x", "before", "This page link is damaged: go back to the first page."),
        ("after=1.0", "after", "This page link is damaged: go back to the first page."),
        ("after=99999999999999999999.1", "after", "This page link is damaged: go back to the first page."),
        ("after=1.%EF%BC%91", "after", "This page link is damaged: go back to the first page."),
        ("after=1.1&before=1.2", "before", "A page link has either a next or a previous position, not both."),
        ("sku=" + "x" * 256, "sku", "At most 255 characters."),
        ("q=" + "x" * 255, "q", "At most 254 characters."),
        ("q=a%0Ab", "q", "Enter text on one line."),
        ("sku=a%00b", "sku", "Enter text on one line."),
        ("state=gone&q=ann", "state", "Choose one of the listed states."),
        ("variant=%EF%BC%91", "variant", "Choose a variant from the list (a variant id is a whole number)."),
    ],
)
def test_bad_parameters_are_400_naming_the_field_and_nothing_else_happens(
    world: World, query: str, field: str, message: str
) -> None:
    with world.db.session() as s:
        before = s.scalar(select(func.count()).select_from(Subscription))
    status, page = world.get(f"/admin/subscribers?{query}")
    assert status == 400
    assert f'<p class="field-error" id="{field}-error">{html_lib.escape(message)}</p>' in page
    assert '<table id="subscribers">' not in page and _showing(page) is None
    assert world.jobs.specs == []
    with world.db.session() as s:
        assert s.scalar(select(func.count()).select_from(Subscription)) == before


def test_a_page_costs_two_queries_whatever_its_size(world: World) -> None:
    def statements(url: str) -> list[str]:
        seen: list[str] = []

        def record(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
            seen.append(statement)

        event.listen(world.db.engine, "before_cursor_execute", record)
        try:
            assert world.client.get(url).status_code == 200
        finally:
            event.remove(world.db.engine, "before_cursor_execute", record)
        return seen

    full = statements("/admin/subscribers?sku=LS-RED")
    short = statements(_third_url(world))
    # The aggregate (counts, total, position) and the rows with their consent and last delivery; nothing else
    # touches these tables (the rest is the admin shell: the store, its sync freshness, the badges).
    ours = [st for st in full if re.search(r"\b(subscriptions|consent_records|deliveries)\b", st)]
    assert [st.split(" AS ")[0].split(",")[0] for st in ours] == [
        "SELECT subscriptions.state",
        "SELECT subscriptions.variant_id",
    ]
    # 50 rows or 20, the same statements: nothing is fetched per row.
    assert len(full) == len(short)


def _third_url(world: World) -> str:
    page = world.get("/admin/subscribers?sku=LS-RED")[1]
    url = ""
    for _ in range(2):
        nxt = _link(page, "next")
        assert nxt is not None
        url = nxt
        page = world.get(nxt)[1]
    assert _showing(page) == "Showing 101–120 of 120"
    return url
