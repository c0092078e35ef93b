"""stock on its way: a sold-out variant's state says whether the platform reports undated incoming stock

Revision ID: 0013
Revises: 0009
Create Date: 2026-12-07 17:00:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0013'
down_revision: str | None = '0009'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Apply this revision."""
    with op.batch_alter_table('stock_states', schema=None) as batch_op:
        batch_op.add_column(sa.Column('on_its_way', sa.Boolean(), nullable=False, server_default=sa.false()))


def downgrade() -> None:
    """Revert this revision."""
    with op.batch_alter_table('stock_states', schema=None) as batch_op:
        batch_op.drop_column('on_its_way')
