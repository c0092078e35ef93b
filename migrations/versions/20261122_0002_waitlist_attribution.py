"""waitlist confirmation send time and delivery attribution

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22 04:50:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0002'
down_revision: str | None = '0001'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_BIGID = sa.BigInteger().with_variant(sa.INTEGER(), 'sqlite')


def upgrade() -> None:
    """Apply this revision."""
    with op.batch_alter_table('subscriptions', schema=None) as batch_op:
        batch_op.add_column(sa.Column('confirm_sent_at', sa.DateTime(timezone=True), nullable=True))
    with op.batch_alter_table('deliveries', schema=None) as batch_op:
        batch_op.add_column(sa.Column('clicks', sa.Integer(), nullable=False, server_default='0'))
        batch_op.add_column(sa.Column('converted_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('converted_order_id', _BIGID, nullable=True))
        batch_op.add_column(sa.Column('conversion_kind', sa.String(length=10), nullable=True))
        batch_op.add_column(sa.Column('revenue', sa.Numeric(precision=12, scale=2), nullable=True))
    with op.batch_alter_table('deliveries', schema=None) as batch_op:
        batch_op.alter_column('clicks', server_default=None)


def downgrade() -> None:
    """Revert this revision."""
    with op.batch_alter_table('deliveries', schema=None) as batch_op:
        batch_op.drop_column('revenue')
        batch_op.drop_column('conversion_kind')
        batch_op.drop_column('converted_order_id')
        batch_op.drop_column('converted_at')
        batch_op.drop_column('clicks')
    with op.batch_alter_table('subscriptions', schema=None) as batch_op:
        batch_op.drop_column('confirm_sent_at')
