"""The status enums beside the models: the strings they stand for are stored data, and each fits its column."""

from __future__ import annotations

from enum import StrEnum

import pytest
from sqlalchemy import String
from sqlalchemy.orm import InstrumentedAttribute

from app.domain.stock import BadgeKind, Signal, Status
from app.models import (
    Campaign,
    CampaignStatus,
    ComplianceRequest,
    ComplianceStatus,
    Delivery,
    DeliveryStatus,
    FanoutStatus,
    Order,
    OrderStatus,
    OutboundWebhookDelivery,
    OutboundWebhookStatus,
    Product,
    ProductStatus,
    PurchaseOrder,
    PurchaseOrderStatus,
    StockEvent,
    StockState,
    StockStateHistory,
    Store,
    StoreStatus,
    Subscription,
    SubscriptionState,
    SyncRun,
    SyncRunStatus,
    WebhookEvent,
    WebhookEventStatus,
)

# Each column with the enum of its values, and those values as stored: renaming one is a data migration.
COLUMNS: list[tuple[InstrumentedAttribute[str] | InstrumentedAttribute[str | None], type[StrEnum], set[str]]] = [
    (Store.status, StoreStatus, {"pending", "active", "disconnected", "uninstalled"}),
    (SyncRun.status, SyncRunStatus, {"pending", "running", "done", "failed"}),
    (OutboundWebhookDelivery.status, OutboundWebhookStatus, {"pending", "sent", "failed"}),
    (Product.status, ProductStatus, {"active", "draft", "archived"}),
    (ComplianceRequest.status, ComplianceStatus, {"done"}),
    (Delivery.status, DeliveryStatus, {"claimed", "sent", "skipped", "deferred", "failed"}),
    (Order.status, OrderStatus, {"open", "cancelled", "deleted"}),
    (PurchaseOrder.status, PurchaseOrderStatus, {"open", "received", "cancelled"}),
    (Campaign.status, CampaignStatus, {"planned", "cancelled"}),
    (StockEvent.fanout_status, FanoutStatus, {"pending", "running", "done", "stopped", "failed"}),
    (
        Subscription.state,
        SubscriptionState,
        {"pending_confirmation", "active", "notified", "converted", "unsubscribed", "redacted"},
    ),
    (WebhookEvent.status, WebhookEventStatus, {"received", "processed", "ignored", "echo", "failed"}),
    (StockState.status, Status, {"in_stock", "low_stock", "out_of_stock", "backorder", "untracked"}),
    (StockStateHistory.status, Status, {"in_stock", "low_stock", "out_of_stock", "backorder", "untracked"}),
    (StockState.signal, Signal, {"ok", "throttle", "pause"}),
    (StockStateHistory.signal, Signal, {"ok", "throttle", "pause"}),
    (StockState.badge_kind, BadgeKind, {"none", "only_n_left", "selling_fast"}),
]


@pytest.mark.parametrize(("column", "enum", "stored"), COLUMNS, ids=lambda c: getattr(c, "key", None))
def test_enum_values_are_the_stored_strings_and_fit_the_column(
    column: InstrumentedAttribute[str], enum: type[StrEnum], stored: set[str]
) -> None:
    assert {member.value for member in enum} == stored
    col = column.property.columns[0]
    # A plain string column, as the migrations create it: the enum lives in the code only.
    assert type(col.type) is String
    assert col.type.length is not None
    assert max(len(v) for v in stored) <= col.type.length
    if col.default is not None:
        assert col.default.arg in set(enum)
