"""What a Shopify store's admin says about access Shopify decides: orders and their email (protected customer data)
and the optional read_all_orders scope."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from app.models import OrderEmailAccess, Store, StoreStatus
from integrations.shopify.auth import ALL_ORDERS_SCOPE, visible_order_days

__all__ = [
    "ORDERS_DENIED_NOTICE",
    "ORDER_EMAIL_DENIED_NOTICE",
    "AllOrdersPrompt",
    "all_orders_prompt",
    "attribution_notice",
    "orders_refused",
]


ORDER_EMAIL_DENIED_NOTICE = (
    "Restock-email conversions are off: Shopify has not approved BackSoon to read the email address on orders "
    "(protected customer data), so no order can be matched to a shopper BackSoon emailed. Sync, stock figures and "
    "restock emails are not affected. Once Shopify approves the app's request, the next sync reads order emails "
    "and new orders count again."
)


ORDERS_DENIED_NOTICE = (
    "BackSoon cannot read this store's orders: Shopify has not approved the app for protected customer data, so "
    "Shopify refuses it the orders and sends it no order webhooks. Products, stock levels, badges, waitlists and "
    "restock emails work; stock status runs from inventory only, without sales velocity or stockout dates, and "
    "restock-email conversions are off. To turn orders on, the app's developer requests access to protected customer "
    "data in the Shopify Partner Dashboard (API access requests: protected customer data, and the Email field for "
    "conversions). BackSoon asks Shopify again every day and loads the order history by itself once it is approved."
)


def orders_refused(store: Store) -> bool:
    """True when Shopify refuses this store's orders altogether (no protected customer data approval)."""
    return store.platform == "shopify" and store.order_email_access == OrderEmailAccess.NO_ORDERS


def attribution_notice(store: Store) -> str | None:
    """Why restock-email attribution finds nothing on this store, when Shopify said it may not read order emails,
    or no order at all."""
    if store.platform != "shopify":
        return None
    if store.order_email_access == OrderEmailAccess.NO_ORDERS:
        return ORDERS_DENIED_NOTICE
    if store.order_email_access == OrderEmailAccess.DENIED:
        return ORDER_EMAIL_DENIED_NOTICE
    return None


@dataclass(frozen=True, slots=True)
class AllOrdersPrompt:
    """The admin's prompt to grant the optional read_all_orders scope, and what declining it meant."""

    scope: str
    days: int  # how many days of orders Shopify shows without it
    declined_at: datetime | None  # when the merchant last declined it here


def all_orders_prompt(store: Store) -> AllOrdersPrompt | None:
    """The read_all_orders prompt for a Shopify store that has not granted it; None once it has (or elsewhere)."""
    # While Shopify refuses the store's orders altogether, older orders are not the question.
    if store.platform != "shopify" or store.status != StoreStatus.ACTIVE or orders_refused(store):
        return None
    days = visible_order_days(store.scopes)
    if days is None:
        return None
    return AllOrdersPrompt(scope=ALL_ORDERS_SCOPE, days=days, declined_at=store.all_orders_declined_at)
