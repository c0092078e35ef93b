"""GraphQL Admin documents (API 2026-10) for sync, bulk operations and metafield write-back.

Selection sets follow shared/fixtures/shopify/graphql/QUERIES.graphql, plus the fields the plain records need so a
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
    "BULK_PRODUCTS_QUERY",
    "INVENTORY_ITEM_LEVELS_PAGE",
    "LOCATIONS_PAGE",
    "METAFIELDS_SET",
    "ORDERS_PAGE",
    "PRODUCTS_PAGE",
    "PRODUCT_VARIANTS_PAGE",
]

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
      variants(first: 10) {{
        nodes {{{_VARIANT_FIELDS}
          inventoryItem {{
            id
            tracked
            inventoryLevels(first: 5) {{
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
"""A page of products with variants, tracking and per-location quantities. Variables: first, after, query."""

PRODUCT_VARIANTS_PAGE = f"""query ProductVariantsPage($id: ID!, $first: Int!, $after: String) {{
  product(id: $id) {{{_PRODUCT_FIELDS}
    variants(first: $first, after: $after) {{
      nodes {{{_VARIANT_FIELDS}
        inventoryItem {{
          id
          tracked
          inventoryLevels(first: 5) {{
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
bounded by cost, not by that limit: each variant with 5 levels costs about 20 points, and one query may cost 1,000.
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
Variables: id (InventoryItem GID), first, after."""

_ORDER_FIELDS = """
      id
      legacyResourceId
      name
      email
      createdAt
      processedAt
      updatedAt
      cancelledAt
      currencyCode
      totalPriceSet { shopMoney { amount } }
      customer { id }
      displayFinancialStatus
      displayFulfillmentStatus"""

_LINE_FIELDS = "id quantity currentQuantity sku variant { id } originalUnitPriceSet { shopMoney { amount } }"

ORDERS_PAGE = f"""query OrdersPage($first: Int!, $after: String, $query: String) {{
  orders(first: $first, after: $after, query: $query, sortKey: UPDATED_AT) {{
    nodes {{{_ORDER_FIELDS}
      lineItems(first: 50) {{
        nodes {{ {_LINE_FIELDS} }}
        pageInfo {{ hasNextPage endCursor }}
      }}
      refunds(first: 20) {{
        id
        createdAt
        note
        refundLineItems(first: 50) {{
          nodes {{ lineItem {{ id }} quantity restockType }}
          pageInfo {{ hasNextPage endCursor }}
        }}
      }}
    }}
    pageInfo {{ hasNextPage endCursor }}
  }}
}}
"""
"""A page of orders (oldest change first) with lines, cancellation and refunds. Variables: first, after, query."""

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
