"""Typed SQLAlchemy models; importing this package registers every table on Base.metadata."""

from app.models.catalog import InventoryLevel, Location, Product, Supplier, Variant
from app.models.compliance import ComplianceRequest
from app.models.notifications import Delivery
from app.models.orders import Order, OrderLine, Refund, RefundLine
from app.models.planning import Campaign, PurchaseOrder
from app.models.stock import DirtyVariant, StockEvent, StockState, StockStateHistory
from app.models.store import AdminLoginToken, OutboundWebhookDelivery, Store, StoreSetting, SyncRun
from app.models.waitlist import ConsentRecord, Subscription
from app.models.webhooks import WebhookEvent

__all__ = [
    "AdminLoginToken",
    "Campaign",
    "ComplianceRequest",
    "ConsentRecord",
    "Delivery",
    "DirtyVariant",
    "InventoryLevel",
    "Location",
    "Order",
    "OrderLine",
    "OutboundWebhookDelivery",
    "Product",
    "PurchaseOrder",
    "Refund",
    "RefundLine",
    "StockEvent",
    "StockState",
    "StockStateHistory",
    "Store",
    "StoreSetting",
    "Subscription",
    "Supplier",
    "SyncRun",
    "Variant",
    "WebhookEvent",
]
