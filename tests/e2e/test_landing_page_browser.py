"""The landing page of a synced Shopify product in headless Chromium, as a German shopper's browser asks for it: the
tags and structured data a social network or search engine reads, in the store's language the browser prefers."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import delete

from app.models import Store
from tests.e2e.conftest import LiveServer
from tests.integration.test_landing_share import CDN, HOME, SHARE, SWEATER, sync_dutch_shop

pytestmark = pytest.mark.e2e

READ_HEAD = """() => ({
  lang: document.documentElement.lang,
  tags: [...document.querySelectorAll('meta[property], meta[name^="twitter:"]')].map(
    m => [m.getAttribute('property') || m.getAttribute('name'), m.content]),
  canonical: document.querySelector('link[rel=canonical]').href,
  alternates: [...document.querySelectorAll('link[rel=alternate]')].map(l => [l.hreflang, l.href]),
  ld: [...document.querySelectorAll('script[type="application/ld+json"]')].map(s => s.textContent),
})"""


@pytest.fixture
def dutch_shop(live_server: LiveServer) -> Iterator[int]:
    """The Dutch Shopify shop read and synced from the fixtures into the live server's database."""
    store_id = sync_dutch_shop(live_server.db)
    yield store_id
    with live_server.db.session() as s:
        s.execute(delete(Store).where(Store.id == store_id))
        s.commit()


def test_a_german_browser_reads_the_tags_and_the_offers_of_each_variant(
    live_server: LiveServer, browser: Any, dutch_shop: int
) -> None:
    context = browser.new_context(locale="de-DE", viewport={"width": 1280, "height": 900})
    context.set_default_timeout(10_000)
    try:
        page = context.new_page()
        # The product image is on Shopify's CDN, out of reach here: the document is what matters.
        page.goto(f"{live_server.url}/p/{dutch_shop}/{SWEATER}", wait_until="domcontentloaded")
        head = page.evaluate(READ_HEAD)
        assert head["lang"] == "de"
        assert head["canonical"] == f"{HOME}/de/products/merino-crew-sweater"
        assert head["alternates"] == [
            ["nl", f"{SHARE}?lang=nl"],
            ["en", f"{SHARE}?lang=en"],
            ["de", f"{SHARE}?lang=de"],
            ["x-default", SHARE],
        ]
        image = f"{CDN}merino-crew-sweater.jpg?v=1728912139"
        assert head["tags"] == [
            ["og:type", "product"],
            ["og:title", "Merino Crew Sweater"],
            ["og:url", f"{SHARE}?lang=de"],
            ["og:site_name", "Amsterdam Linen Co"],
            ["og:description", "Soft merino crew neck with ribbed cuffs & hem."],
            ["og:image", image],
            ["og:image:alt", "Merino Crew Sweater"],
            ["product:price:amount", "89.00"],
            ["product:price:currency", "EUR"],
            ["product:availability", "in stock"],
            ["twitter:card", "summary_large_image"],
            ["twitter:title", "Merino Crew Sweater"],
            ["twitter:description", "Soft merino crew neck with ribbed cuffs & hem."],
            ["twitter:image", image],
        ]
        assert len(head["ld"]) == 1
        doc = json.loads(head["ld"][0])
        assert (doc["@type"], doc["productGroupID"], doc["variesBy"]) == (
            "ProductGroup",
            SWEATER,
            ["https://schema.org/size"],
        )
        assert [(v["sku"], v["size"], v["offers"]["price"], v["offers"]["availability"], v["offers"]["url"])
                for v in doc["hasVariant"]] == [
            ("MCS-S", "S", "89.00", "https://schema.org/OutOfStock",
             f"{HOME}/de/products/merino-crew-sweater?variant=49712345678125"),
            ("MCS-M", "M", "89.00", "https://schema.org/InStock",
             f"{HOME}/de/products/merino-crew-sweater?variant=49712345710893"),
            ("MCS-L", "L", "94.00", "https://schema.org/InStock",
             f"{HOME}/de/products/merino-crew-sweater?variant=49712345743661"),
        ]  # fmt: skip
        # People read prices as the store writes them; picking L shows its own.
        price = page.locator("#price")
        assert price.inner_text() == "€89,00"
        page.locator("#picker label", has_text="L").click()
        assert price.inner_text() == "€94,00"
        assert page.get_by_role("link", name="Zurück zu Amsterdam Linen Co").get_attribute("href") == (
            f"{HOME}/de/products/merino-crew-sweater"
        )
    finally:
        context.close()
