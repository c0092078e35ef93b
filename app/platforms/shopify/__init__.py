"""Shopify: install and tokens, bulk and paged sync, webhook topics, metafield write-back."""
