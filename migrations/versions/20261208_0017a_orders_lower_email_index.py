"""orders: an index on (store_id, lower(email)), which attribution matches subscribers by

Revision ID: 0017a
Revises: 0016k
Create Date: 2026-12-08 02:55:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0017a"
down_revision: str | None = "0016k"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Apply this revision."""
    op.create_index("ix_orders_store_lower_email", "orders", ["store_id", sa.text("lower(email)")], unique=False)


def downgrade() -> None:
    """Revert this revision."""
    op.drop_index("ix_orders_store_lower_email", table_name="orders")
