"""known history: the store's order horizon and the days of sales each velocity is based on

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-07 17:00:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from alembic import op

revision: str = '0010'
down_revision: str | None = '0009'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Shopify shows an app without read_all_orders the last 60 days of orders: a store synced before this revision
# saw orders back to 60 days before its first sync (or, never synced, its install).
SHOPIFY_VISIBLE_DAYS = 60


def _aware(value: datetime | str) -> datetime:
    moment = datetime.fromisoformat(value) if isinstance(value, str) else value
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def upgrade() -> None:
    """Apply this revision."""
    with op.batch_alter_table('stores', schema=None) as batch_op:
        batch_op.add_column(sa.Column('orders_history_from', sa.DateTime(timezone=True), nullable=True))
    with op.batch_alter_table('stock_states', schema=None) as batch_op:
        batch_op.add_column(sa.Column('sales_days', sa.Integer(), nullable=True))
    conn = op.get_bind()
    rows = conn.execute(
        sa.text(
            "SELECT s.id, s.scopes, s.installed_at, MIN(r.started_at) FROM stores s LEFT JOIN sync_runs r"
            " ON r.store_id = s.id AND r.kind = 'initial' AND r.started_at IS NOT NULL"
            " WHERE s.platform = 'shopify' GROUP BY s.id, s.scopes, s.installed_at"
        )
    ).all()
    for store_id, scopes, installed_at, first_sync in rows:
        if 'read_all_orders' in (scopes or '').split(','):
            continue
        read_at = _aware(first_sync if first_sync is not None else installed_at)
        conn.execute(
            sa.text("UPDATE stores SET orders_history_from = :h WHERE id = :i"),
            {"h": read_at - timedelta(days=SHOPIFY_VISIBLE_DAYS), "i": store_id},
        )


def downgrade() -> None:
    """Revert this revision."""
    with op.batch_alter_table('stock_states', schema=None) as batch_op:
        batch_op.drop_column('sales_days')
    with op.batch_alter_table('stores', schema=None) as batch_op:
        batch_op.drop_column('orders_history_from')
