"""sell-out span ends: each sell-out event knows when its variant's next event ended it

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-06 07:00:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0007'
down_revision: str | None = '0006'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The end of a sell-out span is the variant's next event, as the recompute used to derive it every run.
BACKFILL = """
UPDATE stock_events SET ended_at = nxt.next_at
FROM (
  SELECT id, LEAD(occurred_at) OVER (PARTITION BY variant_id ORDER BY occurred_at, id) AS next_at
  FROM stock_events
) AS nxt
WHERE nxt.id = stock_events.id AND stock_events.kind = 'sellout' AND nxt.next_at IS NOT NULL
"""


def upgrade() -> None:
    """Apply this revision."""
    with op.batch_alter_table('stock_events', schema=None) as batch_op:
        batch_op.add_column(sa.Column('ended_at', sa.DateTime(timezone=True), nullable=True))
    op.execute(BACKFILL)
    op.create_index(
        'ix_stock_events_sellout_spans',
        'stock_events',
        ['store_id', 'variant_id'],
        unique=False,
        postgresql_include=['occurred_at', 'ended_at'],
        postgresql_where=sa.text("kind = 'sellout'"),
        sqlite_where=sa.text("kind = 'sellout'"),
    )


def downgrade() -> None:
    """Revert this revision."""
    op.drop_index('ix_stock_events_sellout_spans', table_name='stock_events')
    with op.batch_alter_table('stock_events', schema=None) as batch_op:
        batch_op.drop_column('ended_at')
