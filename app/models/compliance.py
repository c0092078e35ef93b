"""Privacy requests: what a shopper or a shop asked us to export or erase, and when we did."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from app.db import Base, BigId, JsonDoc, utcnow
from app.models.base import IdMixin


class ComplianceStatus(StrEnum):
    """A privacy request's progress (compliance_requests.status): each is carried out when it is recorded."""

    DONE = "done"


class ComplianceRequest(IdMixin, Base):
    """One data request or redaction; kept (without personal data once redacted) as the audit trail."""

    __tablename__ = "compliance_requests"
    __table_args__ = (UniqueConstraint("platform", "kind", "external_id"),)

    # Null after shop/redact deleted the store: the audit row outlives the tenant.
    store_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("stores.id", ondelete="SET NULL"), index=True)
    platform: Mapped[str] = mapped_column(String(20))
    shop_domain: Mapped[str] = mapped_column(String(255), default="")
    kind: Mapped[str] = mapped_column(String(40))  # customers/data_request | customers/redact | shop/redact
    external_id: Mapped[str] = mapped_column(String(64))
    # sha256 of the normalised email: enough to prove what was erased without keeping it.
    customer_email_hash: Mapped[str | None] = mapped_column(String(64))
    # sha256 of the platform's customer id, so a later customers/redact that names only the id finds the export.
    customer_id_hash: Mapped[str | None] = mapped_column(String(64))
    # A customers/data_request's document for the merchant; erased with the shopper (customers/redact, shop/redact).
    export: Mapped[dict[str, Any] | None] = mapped_column(JsonDoc)
    counts: Mapped[dict[str, Any]] = mapped_column(JsonDoc, default=dict)
    status: Mapped[str] = mapped_column(String(12), default=ComplianceStatus.DONE)  # ComplianceStatus
    received_at: Mapped[datetime] = mapped_column(default=utcnow)
    completed_at: Mapped[datetime | None]
    # When the store's admin was emailed the link to the export (claimed before sending, released if it fails).
    notified_at: Mapped[datetime | None]
