"""known history: the store's order horizon and the days of sales each velocity is based on

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-07 17:00:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from alembic import op

revision: str = '0011'
down_revision: str | None = '0010'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Shopify shows an app without read_all_orders the last 60 days of orders: a store synced before this revision
# saw orders back to 60 days before its first sync (or, never synced, its install).
SHOPIFY_VISIBLE_DAYS = 60


# A tracked variant sold out now with a state and no stock event at all has been sold out since BackSoon first saw
# it, without a span (the recompute recorded edges only). It gets the span the recompute now records for a variant
# found sold out (app.domain.history.sold_out_start, restated here so the revision never changes with the code):
# from its last sale, else its stock level's last update, else its creation - each no later than its creation.
FOUND = """
SELECT v.id, v.store_id, v.sellable_quantity, v.created_at,
  (SELECT MAX(ol.ordered_at) FROM order_lines ol
    WHERE ol.variant_id = v.id AND ol.cancelled = :false AND ol.quantity > 0 AND ol.ordered_at <= v.created_at),
  (SELECT MAX(l.external_updated_at) FROM inventory_levels l JOIN locations loc ON loc.id = l.location_id
    WHERE l.variant_id = v.id AND loc.active = :true AND loc.fulfills_online = :true
    AND l.external_updated_at <= v.created_at)
FROM variants v
WHERE v.tracked = :true AND v.deleted_at IS NULL AND v.sellable_quantity <= 0
  AND EXISTS (SELECT 1 FROM stock_states st WHERE st.variant_id = v.id)
  AND NOT EXISTS (SELECT 1 FROM stock_events e WHERE e.variant_id = v.id)
ORDER BY v.id
"""

_EVENTS = sa.table(
    'stock_events',
    sa.column('store_id', sa.BigInteger),
    sa.column('variant_id', sa.BigInteger),
    sa.column('kind', sa.String),
    sa.column('quantity_before', sa.Integer),
    sa.column('quantity_after', sa.Integer),
    sa.column('occurred_at', sa.DateTime(timezone=True)),
    sa.column('source', sa.String),
    sa.column('waves_sent', sa.Integer),
    sa.column('details', sa.JSON),
)


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
    spans = []
    for vid, sid, qty, created, last_sale, level_updated in conn.execute(
        sa.text(FOUND), {"true": True, "false": False}
    ):
        if last_sale is not None:
            at, since = last_sale, 'last_sale'
        elif level_updated is not None:
            at, since = level_updated, 'inventory_update'
        else:
            at, since = created, 'connect'
        spans.append(
            {
                'store_id': sid,
                'variant_id': vid,
                'kind': 'sellout',
                'quantity_before': qty,
                'quantity_after': qty,
                'occurred_at': _aware(at),
                'source': 'found',
                'waves_sent': 0,
                'details': {'since': since},
            }
        )
    if spans:
        op.bulk_insert(_EVENTS, spans)


def downgrade() -> None:
    """Revert this revision (the spans it recorded stay: they are true history, and 0009 reads them alike)."""
    with op.batch_alter_table('stock_states', schema=None) as batch_op:
        batch_op.drop_column('sales_days')
    with op.batch_alter_table('stores', schema=None) as batch_op:
        batch_op.drop_column('orders_history_from')
