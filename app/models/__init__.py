"""Typed SQLAlchemy models; importing this package registers every table on Base.metadata."""

from app.models.catalog import InventoryLevel, Location, Product, ProductStatus, Supplier, Variant
from app.models.compliance import ComplianceRequest, ComplianceStatus
from app.models.notifications import AlertKind, AlertLog, Delivery, DeliveryStatus, Suppression
from app.models.orders import Order, OrderLine, OrderStatus, Refund, RefundLine
from app.models.planning import Campaign, CampaignStatus, PurchaseOrder, PurchaseOrderStatus
from app.models.stock import (
    DirtyVariant,
    FanoutStatus,
    ProductListing,
    StockEvent,
    StockState,
    StockStateHistory,
)
from app.models.store import (
    AdminEmailConfirmation,
    AdminLoginRequest,
    AdminLoginToken,
    OrderEmailAccess,
    OutboundWebhookDelivery,
    OutboundWebhookStatus,
    Store,
    StoreFreshness,
    StoreSetting,
    StoreStatus,
    SyncRun,
    SyncRunStatus,
    WooConnectAttempt,
)
from app.models.waitlist import ConsentRecord, Subscription, SubscriptionState
from app.models.webhooks import WebhookEvent, WebhookEventStatus

__all__ = [
    "AdminEmailConfirmation",
    "AdminLoginRequest",
    "AdminLoginToken",
    "AlertKind",
    "AlertLog",
    "Campaign",
    "CampaignStatus",
    "ComplianceRequest",
    "ComplianceStatus",
    "ConsentRecord",
    "Delivery",
    "DeliveryStatus",
    "DirtyVariant",
    "FanoutStatus",
    "InventoryLevel",
    "Location",
    "Order",
    "OrderEmailAccess",
    "OrderLine",
    "OrderStatus",
    "OutboundWebhookDelivery",
    "OutboundWebhookStatus",
    "Product",
    "ProductListing",
    "ProductStatus",
    "PurchaseOrder",
    "PurchaseOrderStatus",
    "Refund",
    "RefundLine",
    "StockEvent",
    "StockState",
    "StockStateHistory",
    "Store",
    "StoreFreshness",
    "StoreSetting",
    "StoreStatus",
    "Subscription",
    "SubscriptionState",
    "Supplier",
    "Suppression",
    "SyncRun",
    "SyncRunStatus",
    "Variant",
    "WebhookEvent",
    "WebhookEventStatus",
    "WooConnectAttempt",
]
