"""The GraphQL Admin client against Shopify responses mocked from the shared fixtures: pacing, throttling, retries."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
import requests
import responses

from integrations.base import AuthRevoked, InvalidRequest, NotFound, RateLimited, TransientError
from integrations.http import DEFAULT_TIMEOUT, USER_AGENT
from integrations.shopify.graphql import GraphQLClient, ProtectedDataDenied, ThrottleStatus, is_mutation
from integrations.shopify.queries import FRESHNESS_CHECK, METAFIELDS_SET, ORDER_ACCESS_PROBE, ORDERS_PAGE, PRODUCTS_PAGE

GRAPHQL = Path(__file__).resolve().parents[1] / "fixtures" / "shopify" / "graphql"
SHOP = "backsoon-demo.myshopify.com"
URL = f"https://{SHOP}/admin/api/2026-10/graphql.json"
METAFIELDS = {
    "metafields": [
        {
            "ownerId": "gid://shopify/ProductVariant/49712345678125",
            "namespace": "$app:backsoon",
            "key": "waitlist_count",
            "type": "number_integer",
            "value": "14",
        }
    ]
}


def _fixture(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((GRAPHQL / name).read_text(encoding="utf-8"))
    return data


def _with_bucket(body: dict[str, Any], *, available: float, requested: float = 356) -> dict[str, Any]:
    body = copy.deepcopy(body)
    cost = body["extensions"]["cost"]
    cost["requestedQueryCost"] = requested
    cost["throttleStatus"]["currentlyAvailable"] = available
    return body


class FakeTime:
    """A clock that only moves when the client sleeps (or the test says so)."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds

    def clock(self) -> float:
        return self.now


@pytest.fixture
def fake() -> FakeTime:
    return FakeTime()


TOKEN = "shpat_fixture"


def _client(fake: FakeTime, **kwargs: Any) -> GraphQLClient:
    return GraphQLClient(SHOP, lambda: TOKEN, sleep=fake.sleep, clock=fake.clock, **kwargs)


def _sent(call_index: int) -> dict[str, Any]:
    body: dict[str, Any] = json.loads(responses.calls[call_index].request.body or b"{}")
    return body


# --- basics --------------------------------------------------------------------------------------------------


@responses.activate
def test_execute_posts_the_document_with_token_and_returns_data(fake: FakeTime) -> None:
    responses.post(URL, json=_fixture("products_page.json"))
    variables = {"first": 2, "after": None, "query": "updated_at:>'2026-10-14T00:00:00Z'"}

    data = _client(fake).execute(PRODUCTS_PAGE, variables)

    assert data == _fixture("products_page.json")["data"]
    request = responses.calls[0].request
    assert request.headers["X-Shopify-Access-Token"] == "shpat_fixture"
    assert request.headers["Content-Type"] == "application/json"
    assert request.headers["User-Agent"] == USER_AGENT
    assert _sent(0) == {"query": PRODUCTS_PAGE, "variables": variables}
    assert request.req_kwargs["timeout"] == DEFAULT_TIMEOUT  # type: ignore[attr-defined]
    assert fake.sleeps == []


@responses.activate
def test_token_provider_is_asked_on_every_request(fake: FakeTime) -> None:
    responses.post(URL, json=_fixture("products_page.json"))
    responses.post(URL, json=_fixture("products_page.json"))
    tokens = iter(["shpat_old", "shpat_rotated"])
    client = GraphQLClient(SHOP, lambda: next(tokens), sleep=fake.sleep, clock=fake.clock)

    client.execute(PRODUCTS_PAGE, {"first": 2})
    client.execute(PRODUCTS_PAGE, {"first": 2})

    assert [c.request.headers["X-Shopify-Access-Token"] for c in responses.calls] == ["shpat_old", "shpat_rotated"]


@pytest.mark.parametrize("domain", ["evil.example.com", "shop.myshopify.com.evil.com", "https://a.myshopify.com", ""])
def test_rejects_anything_but_a_myshopify_domain(domain: str) -> None:
    with pytest.raises(ValueError, match="myshopify"):
        GraphQLClient(domain, lambda: "t")


@pytest.mark.parametrize(
    ("document", "expected"),
    [
        (PRODUCTS_PAGE, False),
        (METAFIELDS_SET, True),
        ("{ shop { name } }", False),
        ("  \n# set badges\n  mutation { x }", True),
        ("query Mutation { mutationLog }", False),
        ("mutations { x }", False),
    ],
)
def test_is_mutation(document: str, expected: bool) -> None:
    assert is_mutation(document) is expected


# --- cost-aware pacing ---------------------------------------------------------------------------------------


def test_throttle_status_math() -> None:
    status = ThrottleStatus(maximum=2000.0, available=100.0, restore_rate=100.0, at=10.0)
    assert status.available_at(10.0) == 100.0
    assert status.available_at(12.5) == 350.0
    assert status.available_at(100.0) == 2000.0  # never above the bucket
    assert status.wait_for(356, 10.0) == 2.56
    assert status.wait_for(356, 12.0) == 0.56
    assert status.wait_for(300, 12.0) == 0.0
    assert status.wait_for(5000, 10.0) == 19.0  # a cost above the bucket waits for a full bucket, no longer


@responses.activate
def test_waits_for_the_bucket_to_hold_the_next_calls_cost(fake: FakeTime) -> None:
    page = _fixture("products_page.json")
    responses.post(URL, json=_with_bucket(page, available=106, requested=356))
    responses.post(URL, json=_with_bucket(page, available=1959, requested=356))
    responses.post(URL, json=_with_bucket(page, available=1959, requested=356))
    client = _client(fake)

    client.execute(PRODUCTS_PAGE, {"first": 2})  # first call: no estimate yet, so no wait
    assert fake.sleeps == []
    client.execute(PRODUCTS_PAGE, {"first": 2})  # bucket 106, cost 356, 100/s → (356 - 106) / 100
    assert fake.sleeps == [2.5]
    client.execute(PRODUCTS_PAGE, {"first": 2})  # bucket 1959: no wait
    assert fake.sleeps == [2.5]
    assert len(responses.calls) == 3


@responses.activate
def test_time_already_passed_counts_towards_the_refill(fake: FakeTime) -> None:
    page = _fixture("products_page.json")
    responses.post(URL, json=_with_bucket(page, available=106, requested=356))
    responses.post(URL, json=page)
    client = _client(fake)

    client.execute(PRODUCTS_PAGE, {"first": 2})
    fake.now += 2.0  # the caller spent 2 s on the page: 200 points came back
    client.execute(PRODUCTS_PAGE, {"first": 2})

    assert fake.sleeps == [0.5]


@responses.activate
def test_estimates_are_per_document(fake: FakeTime) -> None:
    responses.post(URL, json=_with_bucket(_fixture("products_page.json"), available=50, requested=356))
    responses.post(URL, json=_fixture("orders_page.json"))
    responses.post(URL, json=_fixture("orders_page.json"))
    client = _client(fake)

    client.execute(PRODUCTS_PAGE, {"first": 2})
    client.execute(ORDERS_PAGE, {"first": 2})  # no estimate for orders yet: no wait despite the low bucket
    assert fake.sleeps == []
    client.execute(ORDERS_PAGE, {"first": 2})  # orders cost 112; bucket reported 1991 by the orders call
    assert fake.sleeps == []


# --- throttling ----------------------------------------------------------------------------------------------


@responses.activate
def test_throttled_as_http_200_waits_for_the_cost_and_retries(fake: FakeTime) -> None:
    responses.post(URL, json=_fixture("throttled.json"), status=200)
    responses.post(URL, json=_fixture("products_page.json"))

    data = _client(fake).execute(PRODUCTS_PAGE, {"first": 2})

    assert data["products"]["nodes"][0]["title"] == "Merino Crew Sweater"
    # throttled.json: requested 356, available 212, restore 100/s → (356 - 212) / 100; no second wait after it.
    assert fake.sleeps == [1.44]
    assert len(responses.calls) == 2


@responses.activate
def test_throttled_as_http_429_honours_retry_after(fake: FakeTime) -> None:
    responses.post(URL, status=429, headers={"Retry-After": "2.0"}, json={"errors": "Exceeded 2 calls per second"})
    responses.post(URL, json=_fixture("products_page.json"))

    _client(fake).execute(PRODUCTS_PAGE, {"first": 2})

    assert fake.sleeps == [2.0]
    assert len(responses.calls) == 2


@responses.activate
def test_429_without_retry_after_waits_one_second(fake: FakeTime) -> None:
    responses.post(URL, status=429)
    responses.post(URL, json=_fixture("products_page.json"))

    _client(fake).execute(PRODUCTS_PAGE, {"first": 2})

    assert fake.sleeps == [1.0]


@responses.activate
def test_throttling_that_never_ends_raises_rate_limited(fake: FakeTime) -> None:
    for _ in range(3):
        responses.post(URL, json=_fixture("throttled.json"))

    with pytest.raises(RateLimited) as caught:
        _client(fake, max_throttle_retries=2).execute(PRODUCTS_PAGE, {"first": 2})

    assert len(responses.calls) == 3
    assert fake.sleeps == [1.44, 1.44]
    assert caught.value.retry_after == 1.44
    assert caught.value.code == "rate_limited"


@responses.activate
def test_a_throttled_mutation_is_retried_because_it_never_ran(fake: FakeTime) -> None:
    responses.post(URL, json=_fixture("throttled.json"))
    responses.post(URL, json=_fixture("metafields_set.success.json"))

    data = _client(fake).execute(METAFIELDS_SET, METAFIELDS)

    assert data["metafieldsSet"]["userErrors"] == []
    assert len(responses.calls) == 2


# --- transient failures --------------------------------------------------------------------------------------


@responses.activate
def test_5xx_is_retried_with_backoff_then_succeeds(fake: FakeTime) -> None:
    responses.post(URL, status=503, body="Service Unavailable")
    responses.post(URL, status=502, body="Bad Gateway")
    responses.post(URL, json=_fixture("products_page.json"))

    data = _client(fake).execute(PRODUCTS_PAGE, {"first": 2})

    assert data["products"]["pageInfo"]["hasNextPage"] is True
    assert fake.sleeps == [1.0, 2.0]


@responses.activate
def test_5xx_retries_are_bounded(fake: FakeTime) -> None:
    for _ in range(3):
        responses.post(URL, status=500, body="oops")

    with pytest.raises(TransientError) as caught:
        _client(fake, max_retries=2).execute(PRODUCTS_PAGE, {"first": 2})

    assert caught.value.status == 500
    assert len(responses.calls) == 3
    assert fake.sleeps == [1.0, 2.0]


@responses.activate
def test_backoff_is_capped(fake: FakeTime) -> None:
    for _ in range(4):
        responses.post(URL, status=503)
    responses.post(URL, json=_fixture("products_page.json"))

    _client(fake, max_retries=4, max_backoff=3.0).execute(PRODUCTS_PAGE, {"first": 2})

    assert fake.sleeps == [1.0, 2.0, 3.0, 3.0]


@responses.activate
def test_read_timeout_and_connection_error_are_retried_for_a_query(fake: FakeTime) -> None:
    responses.post(URL, body=requests.ReadTimeout("read timed out"))
    responses.post(URL, body=requests.ConnectionError("connection reset"))
    responses.post(URL, json=_fixture("products_page.json"))

    _client(fake).execute(PRODUCTS_PAGE, {"first": 2})

    assert len(responses.calls) == 3
    assert fake.sleeps == [1.0, 2.0]


@responses.activate
def test_timeouts_are_bounded(fake: FakeTime) -> None:
    for _ in range(2):
        responses.post(URL, body=requests.ReadTimeout("read timed out"))

    with pytest.raises(TransientError, match="timeout"):
        _client(fake, max_retries=1).execute(PRODUCTS_PAGE, {"first": 2})
    assert len(responses.calls) == 2


@responses.activate
@pytest.mark.parametrize(
    "failure",
    [
        {"body": requests.ReadTimeout("read timed out")},
        {"body": requests.ConnectionError("connection reset")},
        {"status": 503},
        {"status": 500},
    ],
)
def test_a_mutation_is_not_retried_once_it_may_have_run(fake: FakeTime, failure: dict[str, Any]) -> None:
    responses.post(URL, **failure)
    responses.post(URL, json=_fixture("metafields_set.success.json"))

    with pytest.raises(TransientError, match="not idempotent"):
        _client(fake).execute(METAFIELDS_SET, METAFIELDS)

    assert len(responses.calls) == 1
    assert fake.sleeps == []


@responses.activate
def test_a_mutation_is_retried_after_a_connect_timeout(fake: FakeTime) -> None:
    responses.post(URL, body=requests.ConnectTimeout("connect timed out"))  # nothing reached Shopify
    responses.post(URL, json=_fixture("metafields_set.success.json"))

    _client(fake).execute(METAFIELDS_SET, METAFIELDS)

    assert len(responses.calls) == 2


@responses.activate
def test_a_mutation_declared_idempotent_is_retried(fake: FakeTime) -> None:
    # metafieldsSet writes the same values again: the caller may say so.
    responses.post(URL, status=503)
    responses.post(URL, json=_fixture("metafields_set.success.json"))

    _client(fake).execute(METAFIELDS_SET, METAFIELDS, idempotent=True)

    assert len(responses.calls) == 2


@responses.activate
def test_a_query_declared_non_idempotent_is_not_retried(fake: FakeTime) -> None:
    responses.post(URL, status=503)

    with pytest.raises(TransientError):
        _client(fake).execute(PRODUCTS_PAGE, {"first": 2}, idempotent=False)
    assert len(responses.calls) == 1


@responses.activate
def test_a_200_that_is_not_json_is_transient(fake: FakeTime) -> None:
    responses.post(URL, body="<html>maintenance</html>", content_type="text/html")
    responses.post(URL, json=_fixture("products_page.json"))

    _client(fake).execute(PRODUCTS_PAGE, {"first": 2})

    assert fake.sleeps == [1.0]


@responses.activate
def test_internal_server_error_in_graphql_errors_is_retried(fake: FakeTime) -> None:
    responses.post(
        URL, json={"errors": [{"message": "Internal error", "extensions": {"code": "INTERNAL_SERVER_ERROR"}}]}
    )
    responses.post(URL, json=_fixture("products_page.json"))

    _client(fake).execute(PRODUCTS_PAGE, {"first": 2})

    assert len(responses.calls) == 2


# --- permanent failures --------------------------------------------------------------------------------------


@responses.activate
@pytest.mark.parametrize("status", [401, 403])
def test_rejected_token_raises_auth_revoked_without_retry(fake: FakeTime, status: int) -> None:
    responses.post(
        URL,
        status=status,
        json={"errors": "[API] Invalid API key or access token (unrecognized login or wrong password)"},
    )

    with pytest.raises(AuthRevoked) as caught:
        _client(fake).execute(PRODUCTS_PAGE, {"first": 2})

    assert caught.value.status == status
    assert "shpat_fixture" not in str(caught.value)
    assert len(responses.calls) == 1
    assert fake.sleeps == []


@responses.activate
def test_a_token_rotated_meanwhile_is_tried_once_before_auth_revoked(fake: FakeTime) -> None:
    responses.post(URL, status=401, json={"errors": "[API] Invalid API key or access token"})
    responses.post(URL, json=_fixture("products_page.json"))
    tokens = iter(["shpat_expired", "shpat_refreshed", "shpat_refreshed"])
    client = GraphQLClient(SHOP, lambda: next(tokens), sleep=fake.sleep, clock=fake.clock)

    client.execute(PRODUCTS_PAGE, {"first": 2})

    sent = [c.request.headers["X-Shopify-Access-Token"] for c in responses.calls]
    assert sent == ["shpat_expired", "shpat_refreshed"]


@responses.activate
def test_a_provider_rotating_forever_still_ends_in_auth_revoked(fake: FakeTime) -> None:
    for _ in range(3):
        responses.post(URL, status=401)
    counter = iter(range(100))
    client = GraphQLClient(SHOP, lambda: f"shpat_{next(counter)}", sleep=fake.sleep, clock=fake.clock)

    with pytest.raises(AuthRevoked):
        client.execute(PRODUCTS_PAGE, {"first": 2})
    assert len(responses.calls) == 2


@responses.activate
def test_graphql_errors_raise_invalid_request_with_messages(fake: FakeTime) -> None:
    responses.post(
        URL,
        json={
            "errors": [
                {
                    "message": "Field 'colour' doesn't exist on type 'Product'",
                    "locations": [{"line": 3, "column": 5}],
                    "extensions": {"code": "undefinedField", "typeName": "Product", "fieldName": "colour"},
                }
            ]
        },
    )

    with pytest.raises(InvalidRequest, match="Field 'colour' doesn't exist") as caught:
        _client(fake).execute(PRODUCTS_PAGE, {"first": 2})

    assert caught.value.code == "undefinedField"
    assert len(responses.calls) == 1


@responses.activate
def test_partial_data_with_errors_is_refused(fake: FakeTime) -> None:
    body = _fixture("products_page.json")
    body["errors"] = [{"message": "Access denied for inventoryLevels field.", "extensions": {"code": "ACCESS_DENIED"}}]
    responses.post(URL, json=body)

    with pytest.raises(InvalidRequest, match="Access denied") as caught:
        _client(fake).execute(PRODUCTS_PAGE, {"first": 2})
    assert caught.value.code == "ACCESS_DENIED"


@responses.activate
def test_other_4xx_raise_invalid_request_and_404_not_found(fake: FakeTime) -> None:
    responses.post(URL, status=400, json={"errors": {"query": "Required parameter missing or invalid"}})
    responses.post(URL, status=404, body="Not Found")
    client = _client(fake)

    with pytest.raises(InvalidRequest, match="HTTP 400"):
        client.execute(PRODUCTS_PAGE, {"first": 2})
    with pytest.raises(NotFound):
        client.execute(PRODUCTS_PAGE, {"first": 2})


@responses.activate
def test_user_errors_are_returned_not_raised(fake: FakeTime) -> None:
    responses.post(URL, json=_fixture("metafields_set.user_errors.json"))

    data = _client(fake).execute(METAFIELDS_SET, METAFIELDS)

    assert data["metafieldsSet"]["userErrors"] == [
        {
            "field": ["metafields", "1", "value"],
            "message": "Value must be an integer.",
            "code": "INVALID_VALUE",
            "elementIndex": 1,
        }
    ]


# --- pagination ----------------------------------------------------------------------------------------------


def _second_products_page() -> dict[str, Any]:
    """Page 2 after products_page.json: the beanie and the tote (as in bulk_products.jsonl), and no next page."""
    page = copy.deepcopy(_fixture("products_page.json"))
    apron = page["data"]["products"]["nodes"][1]
    beanie = copy.deepcopy(apron)
    beanie.update(
        id="gid://shopify/Product/9587413627181",
        legacyResourceId="9587413627181",
        title="Wool Beanie",
        handle="wool-beanie",
    )
    tote = copy.deepcopy(apron)
    tote.update(
        id="gid://shopify/Product/9587413659949",
        legacyResourceId="9587413659949",
        title="Canvas Tote",
        handle="canvas-tote",
    )
    page["data"]["products"]["nodes"] = [beanie, tote]
    page["data"]["products"]["pageInfo"] = {"hasNextPage": False, "endCursor": "eyJwYWdlIjoyfQ=="}
    return page


@responses.activate
def test_paginate_follows_end_cursor_across_pages(fake: FakeTime) -> None:
    first = _fixture("products_page.json")
    responses.post(URL, json=first)
    responses.post(URL, json=_second_products_page())
    variables = {"first": 2, "query": "updated_at:>'2026-10-14T00:00:00Z'"}

    nodes = list(_client(fake).paginate(PRODUCTS_PAGE, variables, path=("products",)))

    assert [n["title"] for n in nodes] == ["Merino Crew Sweater", "Linen Café Apron", "Wool Beanie", "Canvas Tote"]
    assert len(responses.calls) == 2
    assert "after" not in _sent(0)["variables"]
    assert _sent(1)["variables"] == {**variables, "after": first["data"]["products"]["pageInfo"]["endCursor"]}
    assert variables == {"first": 2, "query": "updated_at:>'2026-10-14T00:00:00Z'"}  # the caller's dict untouched
    assert fake.sleeps == []  # 1959 points left, page costs 356


@responses.activate
def test_paginate_paces_between_pages(fake: FakeTime) -> None:
    responses.post(URL, json=_with_bucket(_fixture("products_page.json"), available=6, requested=356))
    responses.post(URL, json=_second_products_page())

    assert len(list(_client(fake).paginate(PRODUCTS_PAGE, {"first": 2}))) == 4
    assert fake.sleeps == [3.5]


@responses.activate
def test_paginate_reads_edges_and_nested_paths(fake: FakeTime) -> None:
    responses.post(
        URL,
        json={
            "data": {
                "shop": {
                    "locations": {
                        "edges": [{"node": {"id": "gid://shopify/Location/79432187993"}}],
                        "pageInfo": {"hasNextPage": False, "endCursor": None},
                    }
                }
            }
        },
    )

    nodes = list(_client(fake).paginate("{ shop { locations { edges { node { id } } } } }", path=("shop", "locations")))

    assert nodes == [{"id": "gid://shopify/Location/79432187993"}]


@responses.activate
def test_paginate_refuses_a_repeated_cursor(fake: FakeTime) -> None:
    responses.post(URL, json=_fixture("products_page.json"))
    responses.post(URL, json=_fixture("products_page.json"))

    with pytest.raises(InvalidRequest, match="endCursor"):
        list(_client(fake).paginate(PRODUCTS_PAGE, {"first": 2}))
    assert len(responses.calls) == 2


@responses.activate
def test_paginate_refuses_a_missing_connection(fake: FakeTime) -> None:
    responses.post(URL, json=_fixture("orders_page.json"))

    with pytest.raises(InvalidRequest, match="products"):
        list(_client(fake).paginate(ORDERS_PAGE, {"first": 2}, path=("products",)))


# --- protected customer data ---------------------------------------------------------------------------------


@responses.activate
def test_a_denied_protected_field_the_caller_tolerates_returns_the_data(fake: FakeTime) -> None:
    denied = _fixture("orders_page.email_access_denied.json")
    responses.post(URL, json=denied)
    client = _client(fake)

    data = client.execute(ORDERS_PAGE, {"first": 10}, tolerate_denied={"email"})

    assert data == denied["data"]
    assert [node["email"] for node in data["orders"]["nodes"]] == [None, None]
    assert client.denied_fields == {"email"}
    assert len(responses.calls) == 1 and fake.sleeps == []  # not retried: the answer is final


@responses.activate
def test_a_denied_field_is_an_error_unless_the_caller_tolerates_that_field(fake: FakeTime) -> None:
    denied = _fixture("orders_page.email_access_denied.json")
    responses.post(URL, json=denied)
    client = _client(fake)
    with pytest.raises(InvalidRequest) as info:
        client.execute(ORDERS_PAGE, {"first": 10})
    assert info.value.code == "ACCESS_DENIED"
    with pytest.raises(InvalidRequest):
        client.execute(ORDERS_PAGE, {"first": 10}, tolerate_denied={"phone"})
    assert client.denied_fields == set()


@pytest.mark.parametrize(
    "errors",
    [
        # The Order object itself (no approval for protected customer data at all): nothing was read.
        [
            {
                "message": "This app is not approved to access the Order object.",
                "path": ["orders"],
                "extensions": {"code": "ACCESS_DENIED"},
            }
        ],
        # Another error next to the denied email.
        [
            {"message": "denied", "path": ["orders", "nodes", 0, "email"], "extensions": {"code": "ACCESS_DENIED"}},
            {"message": "Internal error", "path": ["orders", "nodes", 1, "name"], "extensions": {"code": "BAD"}},
        ],
        # The same path with another code, or no path.
        [{"message": "x", "path": ["orders", "nodes", 0, "email"], "extensions": {"code": "NOT_FOUND"}}],
        [{"message": "x", "extensions": {"code": "ACCESS_DENIED"}}],
    ],
)
@responses.activate
def test_only_access_denied_on_a_tolerated_field_inside_a_node_is_tolerated(
    fake: FakeTime, errors: list[dict[str, Any]]
) -> None:
    body = _fixture("orders_page.email_access_denied.json")
    body["errors"] = errors
    responses.post(URL, json=body)
    client = _client(fake)
    with pytest.raises(InvalidRequest):
        client.execute(ORDERS_PAGE, {"first": 10}, tolerate_denied={"email"})
    assert client.denied_fields == set()


@responses.activate
def test_a_refused_order_object_is_raised_as_protected_data_naming_the_root(fake: FakeTime) -> None:
    refused = _fixture("order_access_probe.order_object_denied.json")
    responses.post(URL, json=refused)
    client = _client(fake)
    for query in (ORDER_ACCESS_PROBE, ORDERS_PAGE, FRESHNESS_CHECK):
        with pytest.raises(ProtectedDataDenied) as info:
            client.execute(query, {"first": 1}, tolerate_denied={"email"})
        assert (info.value.roots, info.value.code) == (frozenset({"orders"}), "ACCESS_DENIED")
        assert isinstance(info.value, InvalidRequest)  # a caller that does not expect it fails as before
    assert len(responses.calls) == 3 and fake.sleeps == []  # final answers: never retried
    assert client.denied_fields == set()


@pytest.mark.parametrize(
    "errors",
    [
        # A missing scope is an ACCESS_DENIED on the same root, but not protected customer data.
        _fixture("order_access_probe.scope_denied.json")["errors"],
        # The protected-data message on a field inside a node, without the caller tolerating it.
        _fixture("orders_page.email_access_denied.json")["errors"],
        # Another error beside the refusal.
        [
            _fixture("order_access_probe.order_object_denied.json")["errors"][0],
            {"message": "Internal error", "path": ["products"], "extensions": {"code": "BAD"}},
        ],
    ],
)
@responses.activate
def test_other_access_errors_are_plain_invalid_requests(fake: FakeTime, errors: list[dict[str, Any]]) -> None:
    body = _fixture("order_access_probe.order_object_denied.json")
    body["errors"] = errors
    responses.post(URL, json=body)
    with pytest.raises(InvalidRequest) as info:
        _client(fake).execute(ORDER_ACCESS_PROBE)
    assert not isinstance(info.value, ProtectedDataDenied)
