"""What a Shopify store's admin says about access Shopify decides: the order email (protected customer data) and
the optional read_all_orders scope."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from app.models import OrderEmailAccess, Store, StoreStatus
from integrations.shopify.auth import ALL_ORDERS_SCOPE, visible_order_days

__all__ = ["ORDER_EMAIL_DENIED_NOTICE", "AllOrdersPrompt", "all_orders_prompt", "attribution_notice"]


ORDER_EMAIL_DENIED_NOTICE = (
    "Restock-email conversions are off: Shopify has not approved BackSoon to read the email address on orders "
    "(protected customer data), so no order can be matched to a shopper BackSoon emailed. Sync, stock figures and "
    "restock emails are not affected. Once Shopify approves the app's request, the next sync reads order emails "
    "and new orders count again."
)


def attribution_notice(store: Store) -> str | None:
    """Why restock-email attribution finds nothing on this store, when Shopify said it may not read order emails."""
    if store.platform != "shopify" or store.order_email_access != OrderEmailAccess.DENIED:
        return None
    return ORDER_EMAIL_DENIED_NOTICE


@dataclass(frozen=True, slots=True)
class AllOrdersPrompt:
    """The admin's prompt to grant the optional read_all_orders scope, and what declining it meant."""

    scope: str
    days: int  # how many days of orders Shopify shows without it
    declined_at: datetime | None  # when the merchant last declined it here


def all_orders_prompt(store: Store) -> AllOrdersPrompt | None:
    """The read_all_orders prompt for a Shopify store that has not granted it; None once it has (or elsewhere)."""
    if store.platform != "shopify" or store.status != StoreStatus.ACTIVE:
        return None
    days = visible_order_days(store.scopes)
    if days is None:
        return None
    return AllOrdersPrompt(scope=ALL_ORDERS_SCOPE, days=days, declined_at=store.all_orders_declined_at)
