"""Importing this module registers every platform's webhook topic handlers with the inbox."""

from app.services import shopify_webhooks, woo_webhooks

__all__ = ["shopify_webhooks", "woo_webhooks"]
