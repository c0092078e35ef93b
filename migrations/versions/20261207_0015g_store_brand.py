"""the store's brand for the shopper pages: the merchant's primary colour and logo

Revision ID: 0015g
Revises: 0015b
Create Date: 2026-12-07 22:30:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = '0015g'
down_revision: str | None = "0015b"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Apply this revision."""
    # A plain ADD COLUMN (see 0013): a batch copy of stores on SQLite would cascade-delete every store's rows.
    op.add_column('stores', sa.Column('brand', sa.JSON().with_variant(postgresql.JSONB(), 'postgresql'), nullable=True))


def downgrade() -> None:
    """Revert this revision."""
    with op.batch_alter_table('stores', schema=None) as batch_op:
        batch_op.drop_column('brand')
