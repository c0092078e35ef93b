"""Shopify adapter: request verification, webhook payload mapping, and (later) auth, GraphQL and sync."""
