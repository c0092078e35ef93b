"""Bulk operations (start, poll, download) and JSONL streaming to exact records, from the shared Shopify fixtures."""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import requests
import responses

from integrations.base import (
    InventoryRecord,
    LocationRecord,
    NotFound,
    OrderLineRecord,
    OrderRecord,
    ProductRecord,
    RefundLineRecord,
    RefundRecord,
    TransientError,
    VariantRecord,
)
from integrations.http import make_session
from integrations.shopify.bulk import (
    BulkBusy,
    BulkOperation,
    BulkRejected,
    IncompleteConnection,
    LevelsContinuation,
    ShopifyDataError,
    bulk_operation_gid,
    bulk_result_urls,
    download_lines,
    iter_bulk_orders,
    iter_bulk_records,
    map_levels_page,
    map_location_node,
    map_order_node,
    map_product_node,
    map_variant_node,
    map_variants_page,
    poll_bulk,
    start_bulk,
)
from integrations.shopify.graphql import GraphQLClient
from integrations.shopify.queries import BULK_OPERATION_RUN_QUERY, BULK_PRODUCTS_QUERY

GRAPHQL = Path(__file__).resolve().parents[1] / "fixtures" / "shopify" / "graphql"
JSONL = GRAPHQL / "bulk_products.jsonl"
SHOP = "backsoon-demo.myshopify.com"
API = f"https://{SHOP}/admin/api/2026-10/graphql.json"
OPERATION = "gid://shopify/BulkOperation/5278203822381"
HQ, OVERFLOW = "79432187993", "79432220761"

Record = ProductRecord | InventoryRecord | LocationRecord


def _fixture(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((GRAPHQL / name).read_text(encoding="utf-8"))
    return data


def _lines() -> list[dict[str, Any]]:
    return [json.loads(line) for line in JSONL.read_text(encoding="utf-8").splitlines()]


def _jsonl(objs: list[dict[str, Any]]) -> list[bytes]:
    return [json.dumps(o).encode() for o in objs]


def _utc(year: int, month: int, day: int, hour: int, minute: int, second: int) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=UTC)


class _NoSleep:
    def __init__(self) -> None:
        self.sleeps: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.sleeps.append(seconds)


def _client() -> GraphQLClient:
    return GraphQLClient(SHOP, lambda: "shpat_fixture", sleep=_NoSleep(), clock=lambda: 0.0)


def _variant(vid: str, item: str, sku: str, title: str, price: str, policy: str, updated: datetime) -> VariantRecord:
    return VariantRecord(
        external_id=vid,
        sku=sku,
        title=title,
        price=Decimal(price),
        tracked=True,
        inventory_policy=policy,
        inventory_item_id=item,
        updated_at=updated,
    )


SWEATER_VARIANTS = (
    _variant("49712345678125", "51823456789301", "MCS-S", "S", "89.00", "deny", _utc(2026, 10, 14, 14, 15, 27)),
    _variant("49712345710893", "51823456822069", "MCS-M", "M", "89.00", "deny", _utc(2026, 10, 14, 14, 42, 19)),
    _variant("49712345743661", "51823456854837", "MCS-L", "L", "94.00", "continue", _utc(2026, 10, 1, 20, 5, 44)),
)
APRON_VARIANT = _variant(
    "49712345776429", "51823456887605", "LCA-NAT", "Default Title", "24.00", "deny", _utc(2026, 10, 14, 14, 42, 18)
)
SWEATER = ProductRecord(
    external_id="9587413528877",
    title="Merino Crew Sweater",
    handle="merino-crew-sweater",
    kind="variable",
    status="active",
    updated_at=_utc(2026, 10, 14, 14, 42, 19),
    variants=SWEATER_VARIANTS,
)
APRON = ProductRecord(
    external_id="9587413594413",
    title="Linen Café Apron",
    handle="linen-cafe-apron",
    kind="simple",
    status="active",
    updated_at=_utc(2026, 10, 14, 14, 42, 18),
    variants=(APRON_VARIANT,),
)
BEANIE = ProductRecord(
    external_id="9587413627181",
    title="Wool Beanie",
    handle="wool-beanie",
    kind="variable",
    status="active",
    updated_at=_utc(2026, 10, 9, 15, 20, 31),
    variants=(
        _variant(
            "49712345809197", "51823456920373", "WB-CHR", "Charcoal", "32.00", "deny", _utc(2026, 10, 9, 15, 20, 31)
        ),
        _variant("49712345841965", "51823456953141", "WB-OAT", "Oat", "32.00", "deny", _utc(2026, 10, 7, 12, 2, 10)),
    ),
)
TOTE = ProductRecord(
    external_id="9587413659949",
    title="Canvas Tote",
    handle="canvas-tote",
    kind="simple",
    status="active",
    updated_at=_utc(2026, 9, 21, 18, 44, 9),
    variants=(
        _variant(
            "49712345874733", "51823456985909", "CT-01", "Default Title", "18.00", "deny", _utc(2026, 9, 21, 18, 44, 9)
        ),
    ),
)


def _level(
    variant: str, location: str, available: int | None, on_hand: int | None, incoming: int | None = 0
) -> InventoryRecord:
    return InventoryRecord(
        variant_external_id=variant,
        location_external_id=location,
        available=available,
        on_hand=on_hand,
        incoming=incoming,
    )


SWEATER_LEVELS = [
    _level("49712345678125", HQ, 0, 0),
    _level("49712345678125", OVERFLOW, 0, 0, 12),  # sold out here, 12 on their way (no date)
    _level("49712345710893", HQ, 7, 8),
    _level("49712345743661", HQ, 3, 3),
]
APRON_LEVELS = [_level("49712345776429", HQ, 10, 12)]
EXPECTED: list[Record] = [
    SWEATER,
    *SWEATER_LEVELS,
    APRON,
    *APRON_LEVELS,
    BEANIE,
    _level("49712345809197", HQ, 5, 5),
    _level("49712345841965", HQ, 0, 0, 24),
    _level("49712345841965", OVERFLOW, 0, 0),
    TOTE,
    _level("49712345874733", OVERFLOW, 40, 40),
]


# --- JSONL streaming -----------------------------------------------------------------------------------------


def test_bulk_products_fixture_maps_to_exact_records() -> None:
    with JSONL.open("rb") as handle:  # a file object: lines are read one at a time
        records = list(iter_bulk_records(handle))

    assert records == EXPECTED
    products = [r for r in records if isinstance(r, ProductRecord)]
    levels = [r for r in records if isinstance(r, InventoryRecord)]
    assert len(products) == 4
    assert sum(len(p.variants) for p in products) == 7
    assert len(levels) == 9


def test_records_stream_one_product_at_a_time() -> None:
    consumed = 0

    def lines() -> Iterator[bytes]:
        nonlocal consumed
        for line in JSONL.read_bytes().splitlines():
            consumed += 1
            yield line

    stream = iter_bulk_records(lines())
    assert next(stream) == SWEATER
    # The sweater is emitted as soon as the apron's line (line 9) shows its group is over: nothing more was read.
    assert consumed == 9


def test_str_lines_blank_lines_and_crlf_are_accepted() -> None:
    text = JSONL.read_text(encoding="utf-8").replace("\n", "\r\n\n")
    assert list(iter_bulk_records(text.splitlines())) == EXPECTED


def test_children_are_matched_by_parent_id_not_position() -> None:
    # Within a product's group the order of children is free: here each level follows its own variant, interleaved.
    lines = _lines()
    sweater_group = lines[0:8]
    reordered = [sweater_group[0], sweater_group[1], sweater_group[4], sweater_group[2], sweater_group[5]]
    reordered += [sweater_group[3], sweater_group[6], sweater_group[7], *lines[8:]]

    records = list(iter_bulk_records(_jsonl(reordered)))

    assert records[0] == SWEATER
    assert sorted(records[1:5], key=repr) == sorted(SWEATER_LEVELS, key=repr)
    assert records[5:] == EXPECTED[5:]


def test_levels_parented_by_the_inventory_item_are_accepted() -> None:
    lines = _lines()
    items = {o["id"]: o["inventoryItem"]["id"] for o in lines if o["id"].startswith("gid://shopify/ProductVariant/")}
    for obj in lines:
        if obj["id"].startswith("gid://shopify/InventoryLevel/"):
            obj["__parentId"] = items[obj["__parentId"]]

    assert list(iter_bulk_records(_jsonl(lines))) == EXPECTED


def test_a_child_outside_its_products_group_is_refused() -> None:
    lines = _lines()
    stray = lines.pop(3)  # the sweater's L variant, moved after the apron started
    lines.insert(9, stray)

    with pytest.raises(ShopifyDataError, match="not grouped"):
        list(iter_bulk_records(_jsonl(lines)))


def test_a_level_of_another_products_variant_is_refused() -> None:
    lines = _lines()
    lines[10]["__parentId"] = "gid://shopify/ProductVariant/49712345678125"  # apron level pointing at sweater S

    with pytest.raises(ShopifyDataError, match="not grouped"):
        list(iter_bulk_records(_jsonl(lines)))


def test_a_child_before_any_parent_is_refused() -> None:
    with pytest.raises(ShopifyDataError, match="not grouped"):
        list(iter_bulk_records(_jsonl(_lines()[1:])))


@pytest.mark.parametrize(
    ("line", "message"),
    [
        (b"{not json", "bulk line 1: not JSON"),
        (b"[1, 2]", "not a JSON object"),
        (b'{"id": "9587413528877"}', "not a Shopify GID"),
        (b'{"id": "gid://shopify/Collection/1"}', "unexpected root object Collection"),
    ],
)
def test_malformed_lines_raise_shopify_data_error(line: bytes, message: str) -> None:
    with pytest.raises(ShopifyDataError, match=message):
        list(iter_bulk_records([line]))


def test_malformed_fields_raise_shopify_data_error() -> None:
    lines = _lines()
    lines[1]["inventoryPolicy"] = "SOMETIMES"
    with pytest.raises(ShopifyDataError, match=r"bulk line 2\.inventoryPolicy"):
        list(iter_bulk_records(_jsonl(lines)))

    lines = _lines()
    del lines[4]["quantities"][0]  # no "available" for a tracked item
    with pytest.raises(ShopifyDataError, match="no 'available' quantity"):
        list(iter_bulk_records(_jsonl(lines)))


def test_an_untracked_items_levels_read_as_not_tracked() -> None:
    lines = _lines()
    lines[3]["inventoryItem"]["tracked"] = False  # L (item 51823456854837) after tracking was turned off

    records = list(iter_bulk_records(_jsonl(lines)))

    sweater = records[0]
    assert isinstance(sweater, ProductRecord)
    assert [v.tracked for v in sweater.variants] == [True, True, False]
    assert records[4] == _level("49712345743661", HQ, None, 3)


def test_extra_selected_fields_map_like_webhooks() -> None:
    lines = _lines()[:8]
    lines[0].update(
        vendor="BackSoon Knits",
        productType="Sweaters",
        tags=["merino", " winter "],
        descriptionHtml="<p>Soft &amp; warm</p>",
        publishedAt=None,
        featuredMedia={"preview": {"image": {"url": "https://cdn.shopify.com/s/files/sweater.jpg"}}},
    )
    lines[1].update(position=1, selectedOptions=[{"name": "Size", "value": "S"}])
    lines[4]["updatedAt"] = "2026-10-14T14:15:27Z"

    records = list(iter_bulk_records(_jsonl(lines)))

    product = records[0]
    assert isinstance(product, ProductRecord)
    assert (product.vendor, product.product_type, product.tags) == ("BackSoon Knits", "Sweaters", ("merino", "winter"))
    assert product.description == "<p>Soft &amp; warm</p>"
    assert product.published is False
    assert product.image_url == "https://cdn.shopify.com/s/files/sweater.jpg"
    assert (product.variants[0].position, product.variants[0].options) == (1, {"Size": "S"})
    assert records[1] == InventoryRecord("49712345678125", HQ, 0, 0, _utc(2026, 10, 14, 14, 15, 27), 0)


def _big_product_lines(variants: int) -> Iterator[bytes]:
    """One product with ``variants`` variants and one level each, then a second product: generated lazily."""
    product = "gid://shopify/Product/9587413700000"
    yield json.dumps({"id": product, "title": "Thread Spool", "handle": "thread-spool", "status": "ACTIVE",
                      "updatedAt": "2026-10-14T13:00:00Z"}).encode()  # fmt: skip
    for i in range(variants):
        yield json.dumps(
            {
                "id": f"gid://shopify/ProductVariant/{49800000000000 + i}",
                "title": f"Colour {i}",
                "sku": f"TS-{i:04d}",
                "price": "3.50",
                "inventoryPolicy": "DENY",
                "inventoryQuantity": i % 7,
                "updatedAt": "2026-10-14T13:00:00Z",
                "inventoryItem": {"id": f"gid://shopify/InventoryItem/{51900000000000 + i}", "tracked": True},
                "__parentId": product,
            }
        ).encode()
    for i in range(variants):
        yield json.dumps(
            {
                "id": f"gid://shopify/InventoryLevel/{HQ}?inventory_item_id={51900000000000 + i}",
                "location": {"id": f"gid://shopify/Location/{HQ}"},
                "quantities": [{"name": "available", "quantity": i % 7}, {"name": "on_hand", "quantity": i % 7 + 1}],
                "__parentId": f"gid://shopify/ProductVariant/{49800000000000 + i}",
            }
        ).encode()
    yield JSONL.read_bytes().splitlines()[0]  # the sweater closes the big product


def test_a_2000_variant_product_streams_without_truncation() -> None:
    records = list(iter_bulk_records(_big_product_lines(2000)))

    big = records[0]
    assert isinstance(big, ProductRecord)
    assert big.kind == "variable"
    assert len(big.variants) == 2000
    assert [v.external_id for v in big.variants] == [str(49800000000000 + i) for i in range(2000)]
    assert big.variants[-1] == VariantRecord(
        external_id="49800000001999",
        sku="TS-1999",
        title="Colour 1999",
        price=Decimal("3.50"),
        tracked=True,
        inventory_policy="deny",
        inventory_item_id="51900000001999",
        updated_at=_utc(2026, 10, 14, 13, 0, 0),
    )
    levels = records[1:2001]
    assert all(isinstance(r, InventoryRecord) for r in levels)
    assert levels[1999] == _level("49800000001999", HQ, 1999 % 7, 1999 % 7 + 1, None)  # no incoming selected
    assert records[2001] == ProductRecord(
        external_id="9587413528877",
        title="Merino Crew Sweater",
        handle="merino-crew-sweater",
        status="active",
        updated_at=_utc(2026, 10, 14, 14, 42, 19),
    )  # no variants seen for it: a product-only record, which deletes nothing downstream
    assert len(records) == 2002


@responses.activate
def test_a_2000_variant_product_downloads_in_small_chunks_without_truncation() -> None:
    body = b"\n".join(_big_product_lines(2000)) + b"\n"
    url = "https://storage.googleapis.com/bulk/big.jsonl?Signature=x"
    responses.get(url, body=body)

    lines = download_lines(make_session(), url, chunk_size=777, expected_size=len(body))
    records = list(iter_bulk_records(lines))

    product = records[0]
    assert isinstance(product, ProductRecord)
    assert len(product.variants) == 2000
    assert sum(isinstance(r, InventoryRecord) for r in records) == 2000


# --- download ------------------------------------------------------------------------------------------------

RESULT_URL = _fixture("bulk_operation.completed.json")["data"]["bulkOperation"]["url"]


@responses.activate
@pytest.mark.parametrize("chunk_size", [1, 7, 100, 5930, 1 << 16])
def test_download_lines_yields_each_line_whatever_the_chunking(chunk_size: int) -> None:
    responses.get(RESULT_URL, body=JSONL.read_bytes())

    lines = list(download_lines(make_session(), RESULT_URL, chunk_size, expected_size=5930))

    assert lines == JSONL.read_bytes().splitlines()
    assert list(iter_bulk_records(lines)) == EXPECTED


@responses.activate
def test_download_sends_no_shopify_token_and_streams() -> None:
    responses.get(RESULT_URL, body=JSONL.read_bytes())

    assert len(list(download_lines(make_session(), RESULT_URL))) == 20
    request = responses.calls[0].request
    assert "X-Shopify-Access-Token" not in request.headers
    assert request.req_kwargs["stream"] is True  # type: ignore[attr-defined]


@responses.activate
def test_download_shorter_than_file_size_is_transient() -> None:
    responses.get(RESULT_URL, body=JSONL.read_bytes()[:4000])

    with pytest.raises(TransientError, match="expected 5930"):
        list(download_lines(make_session(), RESULT_URL, expected_size=5930))


@responses.activate
def test_download_interrupted_is_transient() -> None:
    responses.get(RESULT_URL, body=requests.exceptions.ChunkedEncodingError("connection broken"))

    with pytest.raises(TransientError, match="interrupted"):
        list(download_lines(make_session(retries=0), RESULT_URL))


@responses.activate
@pytest.mark.parametrize(
    ("status", "error"), [(403, NotFound), (404, NotFound), (400, NotFound), (503, TransientError)]
)
def test_download_http_errors(status: int, error: type[Exception]) -> None:
    responses.get(RESULT_URL, status=status, body="<Error><Code>ExpiredToken</Code></Error>")

    with pytest.raises(error):
        list(download_lines(make_session(retries=0), RESULT_URL))


# --- start, poll, result URLs --------------------------------------------------------------------------------


@responses.activate
def test_start_bulk_returns_the_created_operation() -> None:
    responses.post(API, json=_fixture("bulk_operation_run_query.success.json"))

    operation = start_bulk(_client(), BULK_PRODUCTS_QUERY)

    assert operation == BulkOperation(id=OPERATION, status="CREATED", created_at=_utc(2026, 10, 14, 13, 30, 2))
    assert not operation.finished
    sent = json.loads(responses.calls[0].request.body or b"")
    assert sent == {
        "query": BULK_OPERATION_RUN_QUERY,
        "variables": {"query": BULK_PRODUCTS_QUERY, "groupObjects": True},
    }


@responses.activate
def test_start_bulk_limit_reached_is_busy() -> None:
    responses.post(API, json=_fixture("bulk_operation_run_query.user_errors.json"))

    with pytest.raises(BulkBusy) as caught:
        start_bulk(_client(), BULK_PRODUCTS_QUERY)

    assert isinstance(caught.value, TransientError)
    assert caught.value.code == "LIMIT_REACHED"
    assert caught.value.user_errors[0].message == "Bulk operations limit reached. Please try again later."
    assert "LIMIT_REACHED" in str(caught.value)


@responses.activate
@pytest.mark.parametrize(("code", "error"), [("OPERATION_IN_PROGRESS", BulkBusy), ("INVALID", BulkRejected)])
def test_start_bulk_other_user_errors(code: str, error: type[Exception]) -> None:
    body = _fixture("bulk_operation_run_query.user_errors.json")
    body["data"]["bulkOperationRunQuery"]["userErrors"] = [{"field": ["query"], "message": "nope", "code": code}]
    responses.post(API, json=body)

    with pytest.raises(error) as caught:
        start_bulk(_client(), BULK_PRODUCTS_QUERY)
    assert getattr(caught.value, "code", None) == code


@responses.activate
def test_start_bulk_is_not_retried_after_a_5xx() -> None:
    # Starting twice could run two operations: the mutation is not retried once it may have reached Shopify.
    responses.post(API, status=503)
    responses.post(API, json=_fixture("bulk_operation_run_query.success.json"))

    with pytest.raises(TransientError):
        start_bulk(_client(), BULK_PRODUCTS_QUERY)
    assert len(responses.calls) == 1


@responses.activate
@pytest.mark.parametrize("operation_id", [OPERATION, "5278203822381"])
def test_poll_bulk_completed(operation_id: str) -> None:
    responses.post(API, json=_fixture("bulk_operation.completed.json"))

    operation = poll_bulk(_client(), operation_id)

    assert operation == BulkOperation(
        id=OPERATION,
        status="COMPLETED",
        error_code=None,
        created_at=_utc(2026, 10, 14, 13, 30, 2),
        completed_at=_utc(2026, 10, 14, 13, 31, 10),
        object_count=20,
        root_object_count=4,
        file_size=5930,
        url=RESULT_URL,
        partial_data_url=None,
    )
    assert operation.finished and operation.succeeded
    assert json.loads(responses.calls[0].request.body or b"")["variables"] == {"id": OPERATION}


@responses.activate
def test_poll_bulk_unknown_operation_is_not_found() -> None:
    body = _fixture("bulk_operation.completed.json")
    body["data"]["bulkOperation"] = None
    responses.post(API, json=body)

    with pytest.raises(NotFound):
        poll_bulk(_client(), OPERATION)


def test_bulk_operation_gid_refuses_other_ids() -> None:
    assert bulk_operation_gid("5278203822381") == OPERATION
    with pytest.raises(ShopifyDataError):
        bulk_operation_gid("gid://shopify/Product/9587413528877")


@responses.activate
def test_bulk_result_urls_after_the_finish_webhook() -> None:
    responses.post(API, json=_fixture("bulk_operation_node.completed.json"))

    assert bulk_result_urls(_client(), OPERATION) == (RESULT_URL, None)


@responses.activate
def test_poll_then_download_then_stream_end_to_end() -> None:
    responses.post(API, json=_fixture("bulk_operation.completed.json"))
    responses.get(RESULT_URL, body=JSONL.read_bytes())

    operation = poll_bulk(_client(), OPERATION)
    assert operation.url is not None
    lines = download_lines(make_session(), operation.url, expected_size=operation.file_size)
    records = list(iter_bulk_records(lines))

    assert records == EXPECTED
    assert sum(1 for r in records if isinstance(r, ProductRecord)) == operation.root_object_count


# --- paged nodes map like bulk lines -------------------------------------------------------------------------


def test_products_page_nodes_map_to_the_same_records_as_bulk() -> None:
    nodes = _fixture("products_page.json")["data"]["products"]["nodes"]

    mapped = [map_product_node(node) for node in nodes]

    assert mapped == [(SWEATER, SWEATER_LEVELS), (APRON, APRON_LEVELS)]


def test_products_page_node_with_more_variants_than_fetched_is_refused() -> None:
    node = copy.deepcopy(_fixture("products_page.json")["data"]["products"]["nodes"][0])
    node["variants"]["pageInfo"]["hasNextPage"] = True

    with pytest.raises(IncompleteConnection, match=r"product\.variants"):
        map_product_node(node)


def test_variants_page_of_a_complete_node_maps_like_the_whole_node() -> None:
    node = _fixture("products_page.json")["data"]["products"]["nodes"][0]

    page = map_variants_page(node)

    assert page.variants == SWEATER.variants
    assert list(page.levels) == SWEATER_LEVELS
    assert page.after is None
    assert page.more_levels == ()


def test_variants_page_with_more_variants_says_where_to_continue_instead_of_refusing() -> None:
    node = copy.deepcopy(_fixture("products_page.json")["data"]["products"]["nodes"][0])
    node["variants"]["pageInfo"] = {"hasNextPage": True, "endCursor": "cursor-after-L"}

    page = map_variants_page(node)

    assert page.after == "cursor-after-L"
    assert page.variants == SWEATER.variants  # what the page holds, nothing dropped


def test_variant_with_more_levels_than_fetched_returns_a_continuation() -> None:
    node = copy.deepcopy(_fixture("products_page.json")["data"]["products"]["nodes"][0])
    small = node["variants"]["nodes"][0]
    small["inventoryItem"]["inventoryLevels"]["pageInfo"] = {"hasNextPage": True, "endCursor": "lv-2"}

    variant, levels, more = map_variant_node(small)

    assert variant == SWEATER_VARIANTS[0]
    assert levels == SWEATER_LEVELS[:2]
    assert more == LevelsContinuation(
        variant_external_id="49712345678125",
        tracked=True,
        inventory_item_gid="gid://shopify/InventoryItem/51823456789301",
        after="lv-2",
    )
    assert map_variants_page(node).more_levels == (more,)
    # the strict whole-node mapper still refuses the cut connection
    with pytest.raises(IncompleteConnection, match=r"inventoryLevels"):
        map_product_node(node)


def test_levels_page_maps_an_inventory_item_node() -> None:
    node = _fixture("products_page.json")["data"]["products"]["nodes"][0]
    item = node["variants"]["nodes"][0]["inventoryItem"]

    levels, after = map_levels_page(item, "49712345678125", tracked=True)

    assert levels == SWEATER_LEVELS[:2]
    assert after is None


def test_a_page_that_has_more_but_no_cursor_is_refused() -> None:
    node = copy.deepcopy(_fixture("products_page.json")["data"]["products"]["nodes"][0])
    node["variants"]["pageInfo"] = {"hasNextPage": True, "endCursor": None}

    with pytest.raises(ShopifyDataError, match="endCursor"):
        map_variants_page(node)


ORDER_1042 = OrderRecord(
    external_id="6104827363421",
    ordered_at=_utc(2026, 10, 14, 14, 42, 17),
    name="#1042",
    financial_status="paid",
    updated_at=_utc(2026, 10, 14, 15, 5, 9),
    lines=(
        OrderLineRecord(external_id="15234567890125", variant_external_id="49712345710893", quantity=1, sku="MCS-M"),
        OrderLineRecord(external_id="15234567922893", variant_external_id="49712345776429", quantity=2, sku="LCA-NAT"),
    ),
)
ORDER_1043 = OrderRecord(
    external_id="6104827396189",
    ordered_at=_utc(2026, 10, 13, 22, 3, 11),
    name="#1043",
    financial_status="voided",
    cancelled_at=_utc(2026, 10, 14, 15, 20, 44),
    updated_at=_utc(2026, 10, 14, 15, 20, 45),
    lines=(
        OrderLineRecord(external_id="15234567955661", variant_external_id="49712345743661", quantity=1, sku="MCS-L"),
    ),
)


def test_orders_page_nodes_map_to_order_records() -> None:
    nodes = _fixture("orders_page.json")["data"]["orders"]["nodes"]

    assert [map_order_node(node) for node in nodes] == [ORDER_1042, ORDER_1043]


def test_order_money_email_and_refunds_map_like_webhooks() -> None:
    node = copy.deepcopy(_fixture("orders_page.json")["data"]["orders"]["nodes"][0])
    refund_lines = [
        {"lineItem": {"id": "gid://shopify/LineItem/15234567890125"}, "quantity": 1, "restockType": "CANCEL"},
        {"lineItem": {"id": "gid://shopify/LineItem/15234567922893"}, "quantity": 1, "restockType": "NO_RESTOCK"},
    ]
    node.update(
        email=" Maya.Chen@Example.com ",
        processedAt="2026-10-14T10:42:17-04:00",
        currencyCode="USD",
        totalPriceSet={"shopMoney": {"amount": "137.00"}},
        refunds=[
            {
                "id": "gid://shopify/Refund/1012345678901",
                "createdAt": "2026-10-14T16:02:11Z",
                "note": "Wrong size",
                "refundLineItems": {"nodes": refund_lines, "pageInfo": {"hasNextPage": False, "endCursor": None}},
            }
        ],
    )
    node["lineItems"]["nodes"][0]["originalUnitPriceSet"] = {"shopMoney": {"amount": "89.00"}}

    order = map_order_node(node)

    assert order.email == "maya.chen@example.com"
    assert order.ordered_at == _utc(2026, 10, 14, 14, 42, 17)
    # The order queries do not select the customer (it would need read_customers).
    assert (order.currency, order.total, order.customer_external_id) == ("USD", Decimal("137.00"), None)
    assert order.lines[0].price == Decimal("89.00")
    assert order.refunds == (
        RefundRecord(
            external_id="1012345678901",
            refunded_at=_utc(2026, 10, 14, 16, 2, 11),
            note="Wrong size",
            lines=(
                RefundLineRecord(line_external_id="15234567890125", quantity=1, restock=True),
                RefundLineRecord(line_external_id="15234567922893", quantity=1, restock=False),
            ),
        ),
    )


def _orders_as_bulk_lines() -> list[dict[str, Any]]:
    lines: list[dict[str, Any]] = []
    for node in _fixture("orders_page.json")["data"]["orders"]["nodes"]:
        items = node.pop("lineItems")["nodes"]
        lines.append(node)
        lines.extend({**item, "__parentId": node["id"]} for item in items)
    return lines


def test_bulk_orders_stream_to_the_same_records_as_paged() -> None:
    assert list(iter_bulk_orders(_jsonl(_orders_as_bulk_lines()))) == [ORDER_1042, ORDER_1043]


def test_bulk_orders_refuse_ungrouped_lines() -> None:
    lines = _orders_as_bulk_lines()
    lines.append(lines.pop(1))  # #1042's first line after #1043

    with pytest.raises(ShopifyDataError, match="not grouped"):
        list(iter_bulk_orders(_jsonl(lines)))


def test_locations_map_from_pages_and_bulk_roots() -> None:
    node = {"id": f"gid://shopify/Location/{OVERFLOW}", "name": "Overflow", "isActive": False}

    assert map_location_node(node) == LocationRecord(external_id=OVERFLOW, name="Overflow", active=False)
    assert list(iter_bulk_records(_jsonl([node]))) == [LocationRecord(OVERFLOW, "Overflow", False)]
