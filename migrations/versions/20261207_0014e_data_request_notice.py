"""a data request reaches the merchant: when its link was emailed, and a hash of the customer id to erase it by

Revision ID: 0014e
Revises: 0014c
Create Date: 2026-12-07 19:20:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0014e'
down_revision: str | None = '0014c'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Apply this revision."""
    with op.batch_alter_table('compliance_requests', schema=None) as batch_op:
        batch_op.add_column(sa.Column('customer_id_hash', sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column('notified_at', sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    """Revert this revision."""
    with op.batch_alter_table('compliance_requests', schema=None) as batch_op:
        batch_op.drop_column('notified_at')
        batch_op.drop_column('customer_id_hash')
