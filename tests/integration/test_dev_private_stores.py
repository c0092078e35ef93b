"""BACKSOON_ALLOW_PRIVATE_STORES: a development store on loopback or a private network can be connected and synced.

Without the setting, the same addresses are refused before any request is made (the SSRF guard); production refuses
the setting itself at startup (tests/unit/test_config.py).
"""

from __future__ import annotations

import json
from typing import Any

import pytest
import responses
from sqlalchemy import func, select

from app.config import Settings
from app.db import Database
from app.infra.crypto import cipher_for
from app.models import Store
from app.platforms.woocommerce import connect as woo_connect
from app.platforms.woocommerce import sync as woo_sync
from app.platforms.woocommerce.connect import ConnectError
from integrations.base import InvalidRequest
from tests.conftest import FIXTURES

pytestmark = pytest.mark.integration

LOCAL = "http://127.0.0.1:8881"
PRIVATE = "https://10.0.0.5"
KEY = "ck_" + "a1" * 20
SECRET = "cs_" + "b2" * 20
DEV = Settings(env="development", app_url="https://backsoon.localhost", allow_private_stores=True)
STRICT = Settings(env="development", app_url="https://backsoon.localhost")


def _products_page() -> list[dict[str, Any]]:
    data: dict[str, Any] = json.loads(
        (FIXTURES / "woocommerce" / "rest" / "products-list-orderby-id-page1.json").read_text()
    )
    return list(data["body"][:1])


@responses.activate
def test_a_private_store_is_refused_without_the_setting_and_nothing_is_called_or_stored(db: Database) -> None:
    for url in (LOCAL, PRIVATE):
        with db.session() as s, pytest.raises(ConnectError) as info:
            woo_connect.connect_with_keys(s, STRICT, url, KEY, SECRET)
        assert (info.value.code, info.value.field) == ("private_address", "url")
    assert len(responses.calls) == 0
    with db.session() as s:
        assert s.scalar(select(func.count()).select_from(Store)) == 0


@responses.activate
def test_a_private_store_connects_with_the_development_setting(db: Database) -> None:
    responses.add(responses.GET, f"{PRIVATE}/wp-json/wc/v3/products", json=_products_page())
    with db.session() as s:
        store = woo_connect.connect_with_keys(s, DEV, PRIVATE + "/", KEY, SECRET)
        store_id = store.id
    assert responses.calls[0].request.url == f"{PRIVATE}/wp-json/wc/v3/products?per_page=1"
    with db.session() as s:
        row = s.get(Store, store_id)
        assert row is not None
        assert (row.domain, row.status) == (PRIVATE, "active")


def test_the_sync_client_honours_the_setting(db: Database) -> None:
    with db.session() as s:
        store = Store(
            platform="woocommerce",
            domain=LOCAL,
            name="Local shop",
            credentials_encrypted=cipher_for(DEV).encrypt_json({"consumer_key": KEY, "consumer_secret": SECRET}),
        )
        s.add(store)
        s.flush()
        with pytest.raises(InvalidRequest) as info:
            woo_sync.client_for(STRICT, store)
        assert str(info.value) == "store host '127.0.0.1' resolves to non-public address 127.0.0.1"
        assert woo_sync.client_for(DEV, store).store_url == LOCAL
