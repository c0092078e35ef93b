"""Shopify protected customer data and optional scopes: what Shopify answered for the order email, declined scopes

Revision ID: 0014c
Revises: 0014g
Create Date: 2026-12-07 19:30:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0014c'
down_revision: str | None = '0014g'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Apply this revision."""
    # Plain ADD COLUMNs (see 0013): a batch copy of stores on SQLite would cascade-delete what references it.
    # Nothing is known yet for existing stores: the next order read of each Shopify store sets order_email_access.
    op.add_column('stores', sa.Column('order_email_access', sa.String(length=10), nullable=True))
    op.add_column('stores', sa.Column('order_email_checked_at', sa.DateTime(timezone=True), nullable=True))
    op.add_column('stores', sa.Column('all_orders_declined_at', sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    """Revert this revision."""
    with op.batch_alter_table('stores', schema=None) as batch_op:
        batch_op.drop_column('all_orders_declined_at')
        batch_op.drop_column('order_email_checked_at')
        batch_op.drop_column('order_email_access')
