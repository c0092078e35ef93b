"""Importing this module registers every platform's webhook topic handlers with the inbox."""

from app.platforms.shopify import webhooks as shopify_webhooks
from app.platforms.woocommerce import webhooks as woo_webhooks

__all__ = ["shopify_webhooks", "woo_webhooks"]
