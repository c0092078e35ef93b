"""webhook deliveries retried with backoff and dead-lettered: when the next attempt is due, and an index of the dead

Revision ID: 0015b
Revises: 0014e
Create Date: 2026-12-07 22:20:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0015b'
down_revision: str | None = '0014e'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Apply this revision."""
    with op.batch_alter_table('webhook_events', schema=None) as batch_op:
        batch_op.add_column(sa.Column('retry_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.create_index(
            'ix_webhook_events_dead',
            ['store_id'],
            unique=False,
            postgresql_where=sa.text("status = 'failed'"),
            sqlite_where=sa.text("status = 'failed'"),
        )


def downgrade() -> None:
    """Revert this revision."""
    with op.batch_alter_table('webhook_events', schema=None) as batch_op:
        batch_op.drop_index('ix_webhook_events_dead')
        batch_op.drop_column('retry_at')
