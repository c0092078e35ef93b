"""Stand-ins for the two store platforms around the real app, for the platform-surface journeys.

Only what the platforms themselves do is simulated here, each with the real BackSoon code that runs there:

- Shopify: the theme app extension's Liquid blocks are rendered with python-liquid; Shopify-only tags and filters
  get small shims that follow shopify.dev (``schema``, ``t``, ``json``, ``asset_url``). The shop's domain is a local
  HTTP server that serves a Dawn-like product page and forwards ``/apps/backsoon/*`` to the app's proxy URL the way
  Shopify's App Proxy does (shop, logged_in_customer_id, path_prefix, timestamp, signature added to the query).
- WooCommerce: the captured Twenty Twenty-Four product page, with the markup and scripts the companion plugin
  outputs, rendered by php-cli through the plugin's own WordPress stand-ins (its tests/bootstrap.php).
- Webhook bodies are signed the way each platform signs them.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import subprocess
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO
from urllib.parse import parse_qsl, urlencode

import requests
from liquid import Environment, FileSystemLoader
from liquid import ast as liquid_ast
from liquid.exceptions import LiquidSyntaxError
from liquid.stream import TokenStream
from liquid.tag import Tag
from liquid.token import TOKEN_EOF, TOKEN_TAG
from werkzeug.serving import BaseWSGIServer, make_server
from werkzeug.wrappers import Request, Response

ROOT = Path(__file__).resolve().parents[2]
EXTENSION = ROOT / "integrations" / "shopify" / "extensions" / "backsoon-theme"
PLUGIN = ROOT / "integrations" / "woocommerce" / "wordpress-plugin"
# Debian's libjs-jquery: the WooCommerce fixture page loads WordPress's jQuery, which the capture did not keep.
JQUERY = Path("/usr/share/javascript/jquery/jquery.min.js")
# shopify.app.toml: [app_proxy] prefix "apps", subpath "backsoon" (a merchant may change both in Shopify's admin).
PROXY_PREFIX = "/apps/backsoon"

Handler = Callable[[Request], Response]


# --- a local HTTP server standing in for the shop's domain ---------------------------------------------------------


@dataclass
class ShopServer:
    """A threaded HTTP server on 127.0.0.1; ``handler`` answers every request (set it once the origin is known)."""

    server: BaseWSGIServer
    thread: threading.Thread
    handler: Handler | None = None

    @property
    def origin(self) -> str:
        return f"http://127.0.0.1:{self.server.server_port}"

    def stop(self) -> None:
        self.server.shutdown()
        self.thread.join(timeout=10)
        self.server.server_close()


def start_shop_server() -> ShopServer:
    """Bind a free port first, so pages can be built with the shop's real origin."""

    def app(environ: dict[str, Any], start_response: Any) -> Any:
        request = Request(environ)
        handler = shop.handler
        response = handler(request) if handler is not None else Response("not ready", status=503)
        return response(environ, start_response)

    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, name=f"shop-{server.server_port}", daemon=True)
    shop = ShopServer(server, thread)
    thread.start()
    return shop


def file_response(path: Path, mimetype: str) -> Response:
    return Response(path.read_bytes(), mimetype=mimetype)


# --- Shopify App Proxy ----------------------------------------------------------------------------------------------


def proxy_signature(params: Iterable[tuple[str, str]], secret: str) -> str:
    """Shopify's App Proxy signature: hex HMAC-SHA256 of the sorted "k=v1,v2" strings, no separator.

    Written from shopify.dev ("Authenticate app proxies") independently of the app's verifier, and checked against
    the published vectors in tests/fixtures/shopify/vectors.json by the test.
    """
    grouped: dict[str, list[str]] = {}
    for key, value in params:
        if key != "signature":
            grouped.setdefault(key, []).append(value)
    message = "".join(sorted(f"{key}={','.join(values)}" for key, values in grouped.items()))
    return hmac.new(secret.encode(), message.encode(), hashlib.sha256).hexdigest()


def proxied_query(
    query: str,
    *,
    shop: str,
    secret: str,
    customer_id: str = "",
    now: float | None = None,
    prefix: str = PROXY_PREFIX,
) -> str:
    """The shopper's query plus what Shopify appends when forwarding through the App Proxy."""
    params = parse_qsl(query, keep_blank_values=True)
    params += [
        ("shop", shop),
        ("logged_in_customer_id", customer_id),
        ("path_prefix", prefix),
        ("timestamp", str(int(time.time() if now is None else now))),
    ]
    params.append(("signature", proxy_signature(params, secret)))
    return urlencode(params)


def forward_app_proxy(
    request: Request, *, app_url: str, proxy_url_path: str, shop: str, secret: str, prefix: str = PROXY_PREFIX
) -> Response:
    """Forward <prefix>/<rest> (the shop's App Proxy path) to <app>/<proxy path>/<rest> as Shopify does: signed
    query, body as sent.

    Shopify drops cookies, puts the shopper's address first in X-Forwarded-For and passes the answer back.
    """
    rest = request.path[len(prefix) :]
    query = proxied_query(request.query_string.decode(), shop=shop, secret=secret, prefix=prefix)
    headers = {
        name: request.headers[name]
        for name in ("Content-Type", "Accept", "Accept-Language", "User-Agent")
        if name in request.headers
    }
    headers["X-Forwarded-For"] = request.remote_addr or "127.0.0.1"
    answer = requests.request(
        request.method,
        f"{app_url}{proxy_url_path}{rest}?{query}",
        data=request.get_data(),
        headers=headers,
        allow_redirects=False,
        timeout=10,
    )
    kept = {k: v for k, v in answer.headers.items() if k.lower() in ("content-type", "location", "cache-control")}
    return Response(answer.content, status=answer.status_code, headers=kept)


def shopify_webhook_headers(fixture: Mapping[str, Any], body: bytes, secret: str, webhook_id: str) -> dict[str, str]:
    """The fixture delivery's headers for a new body: X-Shopify-Hmac-Sha256 = base64(HMAC-SHA256(secret, body))."""
    headers = dict(fixture["headers"])
    headers["X-Shopify-Hmac-Sha256"] = base64.b64encode(
        hmac.new(secret.encode(), body, hashlib.sha256).digest()
    ).decode()
    headers["X-Shopify-Webhook-Id"] = webhook_id
    return headers


@dataclass
class ShopifyAdmin:
    """Shopify's Admin GraphQL API for one shop, on ``responses``: metafieldsSet is answered with the fixture's
    success body and every metafield the app writes is kept, so the storefront renders exactly what was written.
    Any other operation fails the job that sent it (the journey needs none)."""

    shop: str
    written: dict[str, dict[str, Any]]
    calls: list[str]

    def handle(self, request: Any) -> tuple[int, dict[str, str], str]:
        payload = json.loads(request.body)
        query = str(payload.get("query", ""))
        self.calls.append(query.split("(", 1)[0].strip())
        if "metafieldsSet" not in query:
            raise AssertionError(f"unexpected Shopify Admin call: {query[:80]!r}")
        for item in payload["variables"]["metafields"]:
            self.written[f"{item['ownerId']}|{item['namespace']}.{item['key']}"] = item
        body = (ROOT / "tests" / "fixtures" / "shopify" / "graphql" / "metafields_set.success.json").read_text()
        return 200, {"Content-Type": "application/json"}, body

    def state_values(self) -> dict[str, dict[str, Any]]:
        """Variant id → the parsed value of its $app:backsoon.state metafield, as the app last wrote it."""
        prefix, suffix = "gid://shopify/ProductVariant/", "|$app:backsoon.state"
        return {
            key[len(prefix) : -len(suffix)]: json.loads(item["value"])
            for key, item in self.written.items()
            if key.startswith(prefix) and key.endswith(suffix) and item["type"] == "json"
        }


def woo_signature(body: bytes, secret: str) -> str:
    """X-WC-Webhook-Signature: base64(HMAC-SHA256(secret, raw body))."""
    return base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()


# --- Shopify theme app extension, rendered with python-liquid ------------------------------------------------------


class _SchemaNode(liquid_ast.Node):
    """``{% schema %}…{% endschema %}``: Shopify reads the JSON and renders nothing on the storefront."""

    __slots__ = ("text",)

    def __init__(self, token: Any, text: str) -> None:
        super().__init__(token)
        self.text = text

    def render_to_output(self, context: Any, buffer: TextIO) -> int:
        return 0


class SchemaTag(Tag):
    """Shopify's ``schema`` tag; its raw JSON is kept on the node for the page builder (settings, assets)."""

    name = "schema"
    end = "endschema"
    node_class = _SchemaNode

    def parse(self, stream: TokenStream) -> _SchemaNode:
        token = stream.eat(TOKEN_TAG)
        text: list[str] = []
        while not (stream.current.kind == TOKEN_TAG and stream.current.value == self.end):
            if stream.current.kind == TOKEN_EOF:
                raise LiquidSyntaxError("schema tag was never closed", token=token)
            text.append(stream.current.value)
            next(stream)
        return _SchemaNode(token, "".join(text))


def shopify_json(value: Any) -> str:
    """Shopify's ``json`` filter: compact JSON, with <, > and & as \\u escapes (Rails' HTML-safe JSON)."""
    text = json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def theme_locale(locale: str) -> dict[str, Any]:
    """The extension's translations for a storefront language, falling back to the default locale file."""
    default = next(EXTENSION.glob("locales/*.default.json"))
    chosen = EXTENSION / "locales" / f"{locale}.json"
    base: dict[str, Any] = json.loads(default.read_text())
    if chosen.is_file():
        base.update(json.loads(chosen.read_text()))
    return base


def liquid_environment(locale: str, asset_base: str) -> Environment:
    """A Liquid environment with the Shopify tags and filters the BackSoon blocks use, for one storefront language."""
    # The blocks {% render %} the extension's snippets (snippets/<name>.liquid), as Shopify does.
    env = Environment(loader=FileSystemLoader(EXTENSION / "snippets", ext=".liquid"))
    env.add_tag(SchemaTag)
    strings = theme_locale(locale)

    def translate(key: str, **_: Any) -> str:
        # Missing keys render Shopify's "translation missing" text, so a typo is visible in the page.
        node: Any = strings
        for part in str(key).split("."):
            node = node.get(part) if isinstance(node, dict) else None
        return node if isinstance(node, str) else f"translation missing: {locale}.{key}"

    env.add_filter("t", translate)
    env.add_filter("json", shopify_json)
    env.add_filter("asset_url", lambda name: f"{asset_base}/{name}")
    return env


@dataclass(frozen=True)
class RenderedBlock:
    html: str
    schema: dict[str, Any]


def render_block(env: Environment, name: str, context: Mapping[str, Any], settings: Mapping[str, Any]) -> RenderedBlock:
    """Render blocks/<name>.liquid with ``block.settings`` = the schema's defaults overridden by ``settings``."""
    template = env.from_string((EXTENSION / "blocks" / f"{name}.liquid").read_text())
    schema_nodes = [n for n in template.nodes if isinstance(n, _SchemaNode)]
    assert len(schema_nodes) == 1, f"{name}: expected one schema tag"
    schema: dict[str, Any] = json.loads(schema_nodes[0].text)
    values = {s["id"]: s.get("default") for s in schema.get("settings", [])}
    values.update(settings)
    block = {"id": f"AbsBlock{name.replace('-', '')}", "settings": values, "shopify_attributes": ""}
    return RenderedBlock(template.render(**context, block=block), schema)


def shopify_product_page(
    *,
    locale: str,
    product: Mapping[str, Any],
    selected_variant_id: str,
    states: Mapping[str, dict[str, Any]],
    asset_base: str,
    embed_settings: Mapping[str, Any],
    block_settings: Mapping[str, Any] | None = None,
    with_block: bool = True,
    root_url: str = "/",
) -> str:
    """A Dawn-like product page with the app embed and, when ``with_block``, the "Back soon" app block in the
    product section (a merchant who only turned the embed on has no block).

    ``states`` maps variant ids to their app-owned metafield value (``$app:backsoon.state``, parsed as Liquid's
    ``metafield.value`` of a json metafield is). Shopify adds each rendered block's schema ``stylesheet`` to <head>
    and its ``javascript`` as a deferred script, once per file.
    """
    variants = [
        {**v, "metafields": {"$app:backsoon": {"state": {"value": states[str(v["id"])]}}}} for v in product["variants"]
    ]
    selected = next(v for v in variants if str(v["id"]) == selected_variant_id)
    liquid_product = {**product, "variants": variants, "selected_or_first_available_variant": selected}
    env = liquid_environment(locale, asset_base)
    context = {
        "product": liquid_product,
        "template": {"name": "product"},
        "request": {"locale": {"iso_code": locale}},
        # Dutch is an alternate language of the shop, served under its subfolder (the page is /nl/products/…).
        "routes": {"root_url": root_url},
    }
    block = render_block(env, "back-soon", context, block_settings or {}) if with_block else None
    embed = render_block(env, "app-embed", context, embed_settings)
    styles: list[str] = []
    scripts: list[str] = []
    for rendered in (block, embed) if block else (embed,):
        for key, seen in (("stylesheet", styles), ("javascript", scripts)):
            asset = rendered.schema.get(key)
            if asset and asset not in seen:
                seen.append(asset)
    head = "".join(f'<link rel="stylesheet" href="{asset_base}/{a}">' for a in styles)
    tail = "".join(f'<script src="{asset_base}/{a}" defer></script>' for a in scripts)
    options = "".join(
        f'<option value="{v["id"]}"{" selected" if v is selected else ""}>{v["title"]}</option>' for v in variants
    )
    return f"""<!doctype html>
<html lang="{locale}">
<head><meta charset="utf-8"><title>{product["title"]}</title>{head}</head>
<body class="template-product">
<main id="MainContent">
<section class="shopify-section section" id="shopify-section-template--main">
<div class="product__info-container">
<h1>{product["title"]}</h1>
<variant-selects><select name="options[Size]" class="select__select">{options}</select></variant-selects>
<product-form class="product-form">
<form method="post" action="/cart/add" id="product-form-template--main" accept-charset="UTF-8"
  class="form" enctype="multipart/form-data" novalidate="novalidate" data-type="add-to-cart-form">
<input type="hidden" name="form_type" value="product"><input type="hidden" name="utf8" value="✓">
<input type="hidden" name="id" value="{selected["id"]}" class="product-variant-id">
<div class="product-form__buttons">
<button type="submit" name="add" class="product-form__submit button">Add to cart</button></div>
<input type="hidden" name="product-id" value="{product["id"]}">
</form>
</product-form>
{f'<div id="shopify-block-back-soon" class="shopify-app-block">{block.html}</div>' if block else ""}
</div>
</section>
</main>
<div id="shopify-block-app-embed" class="shopify-app-block">{embed.html}</div>
{tail}
</body>
</html>
"""


# --- WooCommerce companion plugin, rendered by php-cli -------------------------------------------------------------


def _balanced_div(html: str, start: int) -> int:
    """The index just past the </div> closing the <div> that opens at ``start``."""
    depth = 0
    for match in re.finditer(r"<div\b|</div>", html[start:]):
        depth += 1 if match.group(0) == "<div" else -1
        if depth == 0:
            return start + match.end()
    raise ValueError("unbalanced <div>")


def woo_product_page(
    fixture_html: str,
    *,
    shop_origin: str,
    fixture_origin: str,
    html_lang: str,
    backend_url: str,
    store_key: str,
    meta: Mapping[str, str],
) -> str:
    """The captured product page as the shop serves it with the plugin active.

    The plugin's ``render_block_woocommerce/add-to-cart-form`` filter gets the page's own block HTML (the mount point
    follows it), and its enqueued scripts are printed before </body> as WordPress prints footer scripts. The
    variations and their stock come from the page's own ``data-product_variations``; ``meta`` is each item's
    ``_backsoon_state`` as the app writes it. ``html_lang`` is what language_attributes() prints for the site.
    """
    html = fixture_html.replace(fixture_origin, shop_origin)
    html = re.sub(r'<html lang="[^"]*"', f'<html lang="{html_lang}"', html, count=1)
    form = re.search(
        r'<form class="variations_form cart"[^>]*data-product_id="(\d+)" data-product_variations="([^"]*)"', html
    )
    assert form is not None, "no variations form in the fixture"
    variations = json.loads(form.group(2).replace("&quot;", '"').replace("&amp;", "&"))
    children = [
        {
            "id": v["variation_id"],
            "stock_status": "instock" if v["is_in_stock"] else "outofstock",
            "attributes": v["attributes"],
        }
        for v in variations
    ]
    start = html.index('<div data-block-name="woocommerce/add-to-cart-form"')
    end = _balanced_div(html, start)
    request = {
        "backend_url": backend_url,
        "store_key": store_key,
        "product_id": int(form.group(1)),
        "product_type": "variable",
        "product_stock_status": "instock",
        "children": children,
        "meta": dict(meta),
        "block_html": html[start:end],
        # What the plugin's wp_remote_get of the backend's manifest gets: the live backend's own answer.
        "manifest": requests.get(f"{backend_url}/static/manifest.json", timeout=10).text,
    }
    done = subprocess.run(
        ["php", str(Path(__file__).with_name("woo_render.php"))],
        input=json.dumps(request),
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    rendered = json.loads(done.stdout)
    footer = "".join(
        # As WordPress prints them: ?ver= only when the script has a version (the hashed widget has none).
        f'<script src="{s["src"]}{"" if s["ver"] is None else "?ver=" + s["ver"]}" id="{handle}-js"></script>\n'
        for handle, s in rendered["scripts"].items()
        if s["in_footer"]
    ).replace("http://shop.test", shop_origin)  # the stand-in plugins_url()'s host is the shop's
    html = html[:start] + rendered["html"] + html[end:]
    at = html.rindex("</body>")
    return html[:at] + footer + html[at:]


# What wc-add-to-cart-variation does when the shopper picks attribute values (its script is not in the capture):
# find the variation in data-product_variations and trigger found_variation / show_variation with it on the form,
# or reset_data when no complete choice is made.
WC_VARIATION_STANDIN = """
jQuery(function ($) {
  $('form.variations_form').each(function () {
    var $form = $(this);
    var variations = JSON.parse($form.attr('data-product_variations') || '[]');
    $form.on('change', 'select', function () {
      var chosen = {};
      $form.find('select[name^="attribute_"]').each(function () { chosen[this.name] = $(this).val() || ''; });
      var match = variations.filter(function (v) {
        return Object.keys(v.attributes).every(function (k) { return chosen[k] && chosen[k] === v.attributes[k]; });
      })[0];
      $form.find('input[name="variation_id"]').val(match ? match.variation_id : '');
      if (match) { $form.trigger('found_variation', [match]); $form.trigger('show_variation', [match, true]); }
      else { $form.trigger('reset_data'); }
    });
  });
});
"""
