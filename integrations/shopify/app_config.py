"""shopify.app.toml, rendered from the app's public URL so one template serves every deployment."""

from __future__ import annotations

from urllib.parse import urlencode, urlsplit

API_VERSION = "2026-10"
# The one scope list (tests/unit/test_shopify_schema.py proves every GraphQL document BackSoon sends is covered by it):
# write_products: metafieldsSet on a variant needs write access to its owner, even in our own $app namespace;
#   it also covers read_products (products, variants, inventory items).
# read_inventory: inventory levels and their quantities.
# read_locations: a location's name and active flag, and its inventory levels (the freshness pass).
# read_orders: orders, line items and refunds (the last 60 days; see OPTIONAL_SCOPES).
# write_app_proxy: the storefront App Proxy (the signup form); no GraphQL field names it.
# read_locales: the shop's primary language (shopLocales), the default language of its restock emails.
REQUIRED_SCOPES = (
    "write_products",
    "read_inventory",
    "read_locations",
    "read_orders",
    "write_app_proxy",
    "read_locales",
)
# Asked for at run time from the admin (App Bridge shopify.scopes.request), never at install: Shopify grants
# read_all_orders to an app only after approving its request in the Partner or Dev Dashboard, and a merchant may
# decline it. Without it Order shows the last 60 days (integrations.shopify.auth.visible_order_days).
OPTIONAL_SCOPES = ("read_all_orders",)
# Protected customer data (https://shopify.dev/docs/apps/launch/protected-customer-data) BackSoon selects in GraphQL,
# each with why. Only these may appear in a document (the schema test fails on any other protected field), and the
# app works without them: a store whose app is not approved for them answers ACCESS_DENIED on the field, and
# BackSoon records that and carries on (app.platforms.shopify.sync).
PROTECTED_FIELDS: dict[tuple[str, str], str] = {
    ("Order", "email"): "attribution: an order whose email is a waitlist address that was mailed a restock alert "
    "counts as a sale the alert brought back",
}
# Topics whose bodies are orders (customer data): Shopify delivers them only to apps approved for protected customer
# data (level 1; the order email needs level 2), and `shopify app deploy` refuses to subscribe them before that.
PROTECTED_DATA_TOPICS = ("orders/cancelled", "orders/create", "orders/paid", "orders/updated", "refunds/create")
WEBHOOK_TOPICS = (
    "app/scopes_update",
    "app/uninstalled",
    "bulk_operations/finish",
    "inventory_items/update",
    "inventory_levels/update",
    "orders/cancelled",
    "orders/create",
    "orders/paid",
    "orders/updated",
    "products/create",
    "products/delete",
    "products/update",
    "refunds/create",
    "shop/update",
)
COMPLIANCE_TOPICS = ("customers/data_request", "customers/redact", "shop/redact")
# The theme app extension's app embed block (extensions/backsoon-theme/blocks/app-embed.liquid): its file name.
APP_EMBED_HANDLE = "app-embed"
PROXY_PREFIX = "apps"
PROXY_SUBPATH = "backsoon"


def app_embed_editor_url(shop: str, api_key: str, handle: str = APP_EMBED_HANDLE) -> str:
    """The theme editor of the shop's live theme, opened on App embeds with BackSoon's embed ready to switch on.

    Shopify's documented deep link for app embed blocks:
    ``https://<myshopify domain>/admin/themes/current/editor?context=apps&activateAppId=<api key>/<embed handle>``.
    """
    return f"https://{shop}/admin/themes/current/editor?" + urlencode(
        {"context": "apps", "activateAppId": f"{api_key}/{handle}"}, safe="/"
    )


def _list(items: tuple[str, ...]) -> str:
    return "[ " + ", ".join(f'"{i}"' for i in items) + " ]"


class AppUrlError(ValueError):
    """APP_URL cannot be the base of a Shopify app configuration."""


def https_base(app_url: str) -> str:
    """app_url without its trailing slash; AppUrlError unless it is an https URL with a host.

    Shopify CLI refuses webhook URIs and the App Proxy URL that are not https, and Shopify only sends webhooks,
    proxied requests and the embedded admin to https.
    """
    parts = urlsplit(app_url.strip())
    if parts.scheme != "https" or not parts.hostname:
        raise AppUrlError(
            f"APP_URL must be the app's public https URL (https://your-host), not {app_url!r}: Shopify CLI rejects "
            "http webhook and App Proxy URLs. In development, put an https tunnel in front of the app and use its URL."
        )
    if parts.query or parts.fragment:
        raise AppUrlError(f"APP_URL must not carry a query or fragment: {app_url!r}")
    return app_url.strip().rstrip("/")


def render_app_toml(app_url: str, client_id: str, name: str = "BackSoon", *, order_topics: bool = True) -> str:
    """The app configuration Shopify CLI deploys (`shopify app deploy`), with every URL under app_url.

    Only keys Shopify CLI 4 keeps: it deletes ``build.include_config_on_deploy`` (configuration is always deployed).
    ``order_topics=False`` leaves out PROTECTED_DATA_TOPICS: `shopify app deploy` refuses the whole version of an app
    not approved for protected customer data that subscribes them ("This app is not approved to subscribe to webhook
    topics containing protected customer data"), so such an app can still be deployed and installed; the freshness
    pass finds changed orders by their updatedAt once Shopify approves, until the full configuration is deployed.
    """
    base = https_base(app_url)
    topics = WEBHOOK_TOPICS if order_topics else tuple(t for t in WEBHOOK_TOPICS if t not in PROTECTED_DATA_TOPICS)
    return f"""# Generated by `backsoon shopify-app-toml` from APP_URL and SHOPIFY_API_KEY.
# Edit integrations/shopify/app_config.py, not this file.
client_id = "{client_id}"
name = "{name}"
handle = "backsoon"
application_url = "{base}/shopify/app"
embedded = true

[access_scopes]
scopes = "{",".join(REQUIRED_SCOPES)}"
# Requested from the merchant at run time (the admin's "Read all orders" prompt), after Shopify approves the app.
optional_scopes = {_list(OPTIONAL_SCOPES)}
# Managed installation: Shopify installs with these scopes, then the app exchanges session tokens.
use_legacy_install_flow = false

[auth]
redirect_urls = [ "{base}/shopify/callback" ]

[webhooks]
api_version = "{API_VERSION}"

[[webhooks.subscriptions]]
topics = {_list(topics)}
uri = "{base}/webhooks/shopify"

[[webhooks.subscriptions]]
compliance_topics = {_list(COMPLIANCE_TOPICS)}
uri = "{base}/webhooks/shopify"

[app_proxy]
url = "{base}/storefront/proxy"
prefix = "{PROXY_PREFIX}"
subpath = "{PROXY_SUBPATH}"

[pos]
embedded = false
"""
