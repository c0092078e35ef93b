"""GraphQL Admin documents (API 2026-10) for sync, bulk operations and metafield write-back.

Selection sets follow tests/fixtures/shopify/graphql/QUERIES.graphql, plus the fields the plain records need so a
GraphQL sync writes the same product/variant/order values a webhook does (vendor, productType, tags,
descriptionHtml, publishedAt, featured image, selectedOptions, position, level updatedAt, order money/email/refunds).
The mappers in ``integrations.shopify.bulk`` treat every such extra field as optional, so the fixture responses
(which lack them) still map.
"""

from __future__ import annotations

__all__ = [
    "BULK_OPERATION_BY_ID",
    "BULK_OPERATION_NODE",
    "BULK_OPERATION_RUN_QUERY",
    "BULK_ORDERS_QUERY",
    "BULK_ORDERS_QUERY_WITHOUT_EMAIL",
    "BULK_PRODUCTS_QUERY",
    "CHANGED_LEVELS_PAGE",
    "CHANGED_ORDERS_PAGE",
    "CHANGED_PRODUCTS_PAGE",
    "DELETED_PRODUCTS_PAGE",
    "FRESHNESS_CHECK",
    "INVENTORY_ITEM_LEVELS_PAGE",
    "LOCATIONS_PAGE",
    "METAFIELDS_SET",
    "ORDERS_PAGE",
    "ORDERS_PAGE_LINE_ITEMS",
    "ORDERS_PAGE_REFUNDS",
    "ORDERS_PAGE_REFUND_LINES",
    "ORDER_ACCESS_PROBE",
    "ORDER_BY_ID",
    "ORDER_LINE_ITEMS_PAGE",
    "ORDER_REFUNDS",
    "PRODUCTS_PAGE",
    "PRODUCTS_PAGE_LEVELS",
    "PRODUCTS_PAGE_VARIANTS",
    "PRODUCT_VARIANTS_PAGE",
    "REFUND_LINES_PAGE",
    "SHOP_IDENTITY",
]

# Nested page sizes of the paged documents. Shopify refuses any query whose *requested* cost exceeds 1,000 points,
# and nested connections multiply (integrations.shopify.cost; tests/unit/test_shopify_query_cost.py checks every
# paged document at the page sizes app.platforms.shopify.sync sends). A node whose nested list continues past these
# is completed by the per-product / per-order follow-up documents below, never cut.
PRODUCTS_PAGE_VARIANTS = 10
"""variants(first:) per product in PRODUCTS_PAGE (a product node then costs 206 points)."""
PRODUCTS_PAGE_LEVELS = 5
"""inventoryLevels(first:) per variant in PRODUCTS_PAGE and PRODUCT_VARIANTS_PAGE (locations per variant)."""
ORDERS_PAGE_LINE_ITEMS = 10
"""lineItems(first:) per order in ORDERS_PAGE; more come from ORDER_LINE_ITEMS_PAGE."""
ORDERS_PAGE_REFUNDS = 2
"""refunds(first:) per order in ORDERS_PAGE; an order returning this many is re-listed with ORDER_REFUNDS."""
ORDERS_PAGE_REFUND_LINES = 10
"""refundLineItems(first:) per refund in ORDERS_PAGE; more come from REFUND_LINES_PAGE."""

# Shared field lists. Connections are spelled per document: paged queries use `nodes` with explicit page sizes;
# bulk queries must use `edges { node }` without `first` (Shopify's bulk query rules).
_PRODUCT_FIELDS = """
      id
      legacyResourceId
      title
      handle
      status
      updatedAt
      vendor
      productType
      tags
      descriptionHtml
      publishedAt
      featuredMedia { preview { image { url } } }"""

_VARIANT_FIELDS = """
          id
          title
          sku
          price
          position
          inventoryPolicy
          inventoryQuantity
          updatedAt
          selectedOptions { name value }"""

_LEVEL_FIELDS = """
                id
                updatedAt
                location { id }
                quantities(names: ["available", "on_hand", "committed", "incoming"]) { name quantity }"""

PRODUCTS_PAGE = f"""query ProductsPage($first: Int!, $after: String, $query: String) {{
  products(first: $first, after: $after, query: $query) {{
    nodes {{{_PRODUCT_FIELDS}
      variants(first: {PRODUCTS_PAGE_VARIANTS}) {{
        nodes {{{_VARIANT_FIELDS}
          inventoryItem {{
            id
            tracked
            inventoryLevels(first: {PRODUCTS_PAGE_LEVELS}) {{
              nodes {{{_LEVEL_FIELDS}
              }}
              pageInfo {{ hasNextPage endCursor }}
            }}
          }}
        }}
        pageInfo {{ hasNextPage endCursor }}
      }}
    }}
    pageInfo {{ hasNextPage endCursor }}
  }}
}}
"""
"""A page of products with variants, tracking and per-location quantities. Variables: first, after, query.

Cost: 2 + first × 206 (a product: 1 + featuredMedia 3 + variants 2 + 10 × (variant 1 + selectedOptions 1 +
inventoryItem 1 + levels 2 + 5 × (level 1 + location 1 + quantities 1))), so at most 4 products per page.
"""

PRODUCT_VARIANTS_PAGE = f"""query ProductVariantsPage($id: ID!, $first: Int!, $after: String) {{
  product(id: $id) {{{_PRODUCT_FIELDS}
    variants(first: $first, after: $after) {{
      nodes {{{_VARIANT_FIELDS}
        inventoryItem {{
          id
          tracked
          inventoryLevels(first: {PRODUCTS_PAGE_LEVELS}) {{
            nodes {{{_LEVEL_FIELDS}
            }}
            pageInfo {{ hasNextPage endCursor }}
          }}
        }}
      }}
      pageInfo {{ hasNextPage endCursor }}
    }}
  }}
}}
"""
"""One product with a page of its variants (same fields as PRODUCTS_PAGE). Variables: id (Product GID), first, after.

For products whose variants do not fit PRODUCTS_PAGE's first page (Shopify allows 2,048 variants; a single-product
query may ask up to 2,000 per page since 2025-01). ``product`` is null when the product is gone. The page size is
bounded by cost, not by that limit: each variant with 5 levels costs 20 points, and one query may cost 1,000
(6 + 20 × first: 806 at 40).
"""

INVENTORY_ITEM_LEVELS_PAGE = f"""query InventoryItemLevelsPage($id: ID!, $first: Int!, $after: String) {{
  inventoryItem(id: $id) {{
    id
    tracked
    inventoryLevels(first: $first, after: $after) {{
      nodes {{{_LEVEL_FIELDS}
      }}
      pageInfo {{ hasNextPage endCursor }}
    }}
  }}
}}
"""
"""The rest of one inventory item's levels, when a variant is stocked at more locations than a variant page asks for.
Variables: id (InventoryItem GID), first, after. Cost: 3 + 3 × first (303 at 100)."""

# No `customer { id }`: Customer needs read_customers, which BackSoon does not ask for; compliance requests name
# the orders to redact and the shopper's email, and attribution matches by email. `email` is protected customer
# data (app_config.PROTECTED_FIELDS): a store whose app is not approved for it answers ACCESS_DENIED on the field,
# which the paged read tolerates and the bulk read avoids (BULK_ORDERS_QUERY_WITHOUT_EMAIL).
_ORDER_FIELDS_WITHOUT_EMAIL = """
      id
      legacyResourceId
      name
      createdAt
      processedAt
      updatedAt
      cancelledAt
      currencyCode
      totalPriceSet { shopMoney { amount } }
      displayFinancialStatus
      displayFulfillmentStatus"""
_ORDER_FIELDS = f"""{_ORDER_FIELDS_WITHOUT_EMAIL}
      email"""

_LINE_FIELDS = "id quantity currentQuantity sku variant { id } originalUnitPriceSet { shopMoney { amount } }"

_REFUND_LINE_FIELDS = "lineItem { id } quantity restockType"

_ORDER_NODE = f"""{_ORDER_FIELDS}
      lineItems(first: {ORDERS_PAGE_LINE_ITEMS}) {{
        nodes {{ {_LINE_FIELDS} }}
        pageInfo {{ hasNextPage endCursor }}
      }}
      refunds(first: {ORDERS_PAGE_REFUNDS}) {{
        id
        createdAt
        note
        refundLineItems(first: {ORDERS_PAGE_REFUND_LINES}) {{
          nodes {{ {_REFUND_LINE_FIELDS} }}
          pageInfo {{ hasNextPage endCursor }}
        }}
      }}"""

ORDERS_PAGE = f"""query OrdersPage($first: Int!, $after: String, $query: String) {{
  orders(first: $first, after: $after, query: $query, sortKey: UPDATED_AT) {{
    nodes {{{_ORDER_NODE}
    }}
    pageInfo {{ hasNextPage endCursor }}
  }}
}}
"""
"""A page of orders (oldest change first) with lines, cancellation and refunds. Variables: first, after, query.

Cost: 2 + first × 93 (an order: 1 + totalPriceSet 2 + lineItems 2 + 10 × 4 + refunds 2 + 2 × (refund 1 +
refundLineItems 2 + 10 × 2)), so at most 10 orders per page. An order whose lines, refunds or refund lines continue
past this page is completed with ORDER_LINE_ITEMS_PAGE, ORDER_REFUNDS and REFUND_LINES_PAGE.
"""

ORDER_ACCESS_PROBE = """query OrderAccessProbe {
  orders(first: 1) {
    nodes { id }
  }
}
"""
"""Whether Shopify lets the app read this store's orders at all (cost 3). An app not approved for protected customer
data is refused the Order object: ACCESS_DENIED on ``orders`` (integrations.shopify.graphql.ProtectedDataDenied). A
failed bulk order read is checked with it, as Shopify's BulkOperationErrorCode.ACCESS_DENIED says to ("execute the
query as a normal non-bulk GraphQL request to see more details"), and a store refused is asked again with it."""

ORDER_BY_ID = f"""query OrderById($id: ID!) {{
  order(id: $id) {{{_ORDER_NODE}
  }}
}}
"""
"""One order as ORDERS_PAGE holds it (the freshness pass found it changed). Variables: id (Order GID). Cost: 94, one
order of ORDERS_PAGE; completed like one with ORDER_LINE_ITEMS_PAGE, ORDER_REFUNDS and REFUND_LINES_PAGE. ``order``
is null when the order is gone."""

ORDER_LINE_ITEMS_PAGE = f"""query OrderLineItemsPage($id: ID!, $first: Int!, $after: String) {{
  order(id: $id) {{
    id
    lineItems(first: $first, after: $after) {{
      nodes {{ {_LINE_FIELDS} }}
      pageInfo {{ hasNextPage endCursor }}
    }}
  }}
}}
"""
"""A page of one order's line items (same fields as ORDERS_PAGE). Variables: id (Order GID), first, after.
Cost: 3 + 4 × first (803 at 200). ``order`` is null when the order is gone."""

ORDER_REFUNDS = """query OrderRefunds($id: ID!, $first: Int!) {
  order(id: $id) {
    id
    refunds(first: $first) { id createdAt note }
  }
}
"""
"""Every refund of one order, without lines (``refunds`` is a list, not a connection: it has no cursor). Variables:
id (Order GID), first. Cost: 3 + first (253 at 250). ``order`` is null when the order is gone."""

REFUND_LINES_PAGE = f"""query RefundLinesPage($id: ID!, $first: Int!, $after: String) {{
  refund(id: $id) {{
    id
    createdAt
    note
    refundLineItems(first: $first, after: $after) {{
      nodes {{ {_REFUND_LINE_FIELDS} }}
      pageInfo {{ hasNextPage endCursor }}
    }}
  }}
}}
"""
"""One refund with a page of its refund line items. Variables: id (Refund GID), first, after.
Cost: 3 + 2 × first (503 at 250)."""

LOCATIONS_PAGE = """query LocationsPage($first: Int!, $after: String) {
  locations(first: $first, after: $after, includeInactive: true) {
    nodes { id name isActive }
    pageInfo { hasNextPage endCursor }
  }
}
"""
"""A page of stock locations, inactive ones included (their levels still exist). Variables: first, after."""

BULK_PRODUCTS_QUERY = f"""{{
  products {{
    edges {{
      node {{{_PRODUCT_FIELDS}
        variants {{
          edges {{
            node {{{_VARIANT_FIELDS}
              inventoryItem {{
                id
                tracked
                inventoryLevels {{
                  edges {{
                    node {{{_LEVEL_FIELDS}
                    }}
                  }}
                }}
              }}
            }}
          }}
        }}
      }}
    }}
  }}
}}
"""
"""The inner query of the catalog bulk operation: products > variants > inventoryLevels (2 nested levels)."""

# Refunds are left out: `refunds` is a list holding a connection (refundLineItems), which bulk output cannot
# flatten by __parentId. Refunds come from ORDERS_PAGE and refunds/create webhooks.
BULK_ORDERS_QUERY = f"""{{
  orders(sortKey: UPDATED_AT) {{
    edges {{
      node {{{_ORDER_FIELDS}
        lineItems {{
          edges {{
            node {{ {_LINE_FIELDS} }}
          }}
        }}
      }}
    }}
  }}
}}
"""
"""The inner query of the order-history bulk operation: orders > lineItems."""

BULK_ORDERS_QUERY_WITHOUT_EMAIL = f"""{{
  orders(sortKey: UPDATED_AT) {{
    edges {{
      node {{{_ORDER_FIELDS_WITHOUT_EMAIL}
        lineItems {{
          edges {{
            node {{ {_LINE_FIELDS} }}
          }}
        }}
      }}
    }}
  }}
}}
"""
"""BULK_ORDERS_QUERY without the order email, for a store whose app Shopify has not approved for it: a bulk operation
fails as a whole (errorCode ACCESS_DENIED) where a paged query answers null for the one field."""

BULK_OPERATION_RUN_QUERY = """mutation BulkOperationRunQuery($query: String!, $groupObjects: Boolean!) {
  bulkOperationRunQuery(query: $query, groupObjects: $groupObjects) {
    bulkOperation { id status createdAt }
    userErrors { field message code }
  }
}
"""
"""Start a bulk query. Variables: query (an inner query above), groupObjects."""

_BULK_OPERATION_FIELDS = (
    "id status errorCode createdAt completedAt objectCount rootObjectCount fileSize url partialDataUrl"
)

BULK_OPERATION_BY_ID = f"""query BulkOperationById($id: ID!) {{
  bulkOperation(id: $id) {{ {_BULK_OPERATION_FIELDS} }}
}}
"""
"""Poll one bulk operation (the 2026-01+ way; currentBulkOperation is deprecated). Variables: id."""

BULK_OPERATION_NODE = """query BulkOperationNode($id: ID!) {
  node(id: $id) {
    ... on BulkOperation { url partialDataUrl }
  }
}
"""
"""The result URLs of a finished bulk operation, after a bulk_operations/finish webhook. Variables: id."""

METAFIELDS_SET = """mutation SetBadges($metafields: [MetafieldsSetInput!]!) {
  metafieldsSet(metafields: $metafields) {
    metafields { id namespace key type value ownerType createdAt updatedAt }
    userErrors { field message code elementIndex }
  }
}
"""
"""Write app-owned metafields atomically (up to 25 per call). Variables: metafields."""

SHOP_IDENTITY = """query ShopIdentity($withLocales: Boolean!) {
  shop {
    id
    name
    email
    contactEmail
    ianaTimezone
    currencyCode
    myshopifyDomain
    primaryDomain { host url }
    shopAddress { countryCodeV2 }
    currencyFormats { moneyInEmailsFormat }
  }
  shopLocales(published: true) @include(if: $withLocales) { locale primary }
}
"""
"""The shop's own settings: name, owner email, IANA timezone, currency, country and primary language.

Variables: withLocales. ``shopLocales`` needs ``read_locales`` (or ``read_markets_home``), which stores installed
before BackSoon asked for it have not granted until the merchant approves the new scope; asking for it without the
scope gets an access-denied error, and GraphQLClient refuses any answer with errors, so such stores read everything
but the language. ``email`` is the
owner's address (Shopify writes to it); ``contactEmail`` is the one shown to customers. ``shopAddress`` replaces the
deprecated ``billingAddress``. ``currencyFormats.moneyInEmailsFormat`` is how the shop writes amounts, as plain text
(``moneyFormat`` is the same in HTML). Cost: shop 1 + primaryDomain 1 + shopAddress 1 + currencyFormats 1 +
shopLocales 1 (a plain list of objects, costed once) = 5.
"""

# The freshness pass (app.platforms.shopify.freshness). A lost products/update is found by the product's updatedAt;
# a lost inventory_levels/update by the level's own updatedAt, through Location.inventoryLevels(query:
# "updated_at:>…") (InventoryItem.inventoryLevels has the filter too, but per item). A level names its inventory
# item only: InventoryItem.variant is deprecated, and the item's variant is known from the sync anyway. A lost
# orders/* or refunds/create is found by the order's updatedAt (a refund, a cancellation or a payment updates its
# order); a lost products/delete by the product's "destroy" event (QueryRoot.events: deletionEvents is deprecated
# in 2026-10, "Use `events` instead"; BasicEvent.subjectId is the product's GID).
FRESHNESS_PRODUCTS = 50
"""products(first:) in FRESHNESS_CHECK: changed products listed per page."""
FRESHNESS_LOCATIONS = 10
"""locations(first:) in FRESHNESS_CHECK."""
FRESHNESS_LEVELS = 40
"""inventoryLevels(first:) per location in FRESHNESS_CHECK."""
FRESHNESS_ORDERS = 50
"""orders(first:) in FRESHNESS_CHECK: changed orders listed per page."""
FRESHNESS_DELETIONS = 10
"""events(first:) in FRESHNESS_CHECK: product deletions listed per page (rare: a few points kept for them)."""

FRESHNESS_CHECK = """query FreshnessCheck(
  $query: String!,
  $deleted: String!,
  $products: Int!,
  $locations: Int!,
  $levels: Int!,
  $orders: Int!,
  $deletions: Int!,
  $withOrders: Boolean!,
  $after: String
) {
  products(first: $products, query: $query) {
    nodes { id }
    pageInfo { hasNextPage endCursor }
  }
  orders(first: $orders, query: $query) @include(if: $withOrders) {
    nodes { id }
    pageInfo { hasNextPage endCursor }
  }
  events(first: $deletions, query: $deleted) {
    nodes { ... on BasicEvent { subjectId createdAt } }
    pageInfo { hasNextPage endCursor }
  }
  locations(first: $locations, after: $after) {
    nodes {
      id
      inventoryLevels(first: $levels, query: $query) {
        nodes { item { id } }
        pageInfo { hasNextPage endCursor }
      }
    }
    pageInfo { hasNextPage endCursor }
  }
}
"""
"""Products, orders and inventory levels updated after a time, and products deleted after it, in one request for a
store with up to 10 locations.

Variables: query (``updated_at:>'<UTC time>'``), deleted (``subject_type:PRODUCT AND action:destroy AND
created_at:>'<UTC time>'``), products, locations, levels, orders, deletions, withOrders, after (further locations).
Cost: products 2 + 50 = 52; orders 2 + 50 = 52; events 2 + 10 × 1 = 12; locations 2 + 10 × (1 + 2 + 40 × (level 1 +
item 1)) = 832; 948 in all (896 with ``withOrders`` false: a store whose app Shopify has not approved for protected
customer data is refused ``orders``, and the rest is asked without it).
"""

CHANGED_PRODUCTS_PAGE = """query ChangedProductsPage($query: String!, $first: Int!, $after: String) {
  products(first: $first, after: $after, query: $query) {
    nodes { id }
    pageInfo { hasNextPage endCursor }
  }
}
"""
"""The changed products after FRESHNESS_CHECK's first page. Variables: query, first, after."""

CHANGED_ORDERS_PAGE = """query ChangedOrdersPage($query: String!, $first: Int!, $after: String) {
  orders(first: $first, after: $after, query: $query) {
    nodes { id }
    pageInfo { hasNextPage endCursor }
  }
}
"""
"""The changed orders after FRESHNESS_CHECK's first page. Variables: query, first, after."""

DELETED_PRODUCTS_PAGE = """query DeletedProductsPage($query: String!, $first: Int!, $after: String) {
  events(first: $first, after: $after, query: $query) {
    nodes { ... on BasicEvent { subjectId createdAt } }
    pageInfo { hasNextPage endCursor }
  }
}
"""
"""The product deletions after FRESHNESS_CHECK's first page. Variables: query, first, after."""

CHANGED_LEVELS_PAGE = """query ChangedLevelsPage($id: ID!, $query: String!, $first: Int!, $after: String) {
  location(id: $id) {
    inventoryLevels(first: $first, after: $after, query: $query) {
      nodes { item { id } }
      pageInfo { hasNextPage endCursor }
    }
  }
}
"""
"""One location's changed levels after FRESHNESS_CHECK's first page of them. Variables: id, query, first, after."""
