"""store freshness: each store's freshness pass (running, last result, failures in a row, webhook health)

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-07 17:00:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = '0010'
down_revision: str | None = '0009'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql')
_ID = sa.BigInteger().with_variant(sa.INTEGER(), 'sqlite')


def upgrade() -> None:
    """Apply this revision."""
    op.create_table('store_freshness',
    sa.Column('store_id', _ID, nullable=False),
    sa.Column('running_since', sa.DateTime(timezone=True), nullable=True),
    sa.Column('last_started_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('last_finished_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('checked_through', sa.DateTime(timezone=True), nullable=True),
    sa.Column('failures_in_a_row', sa.Integer(), nullable=False),
    sa.Column('last_error', sa.String(length=1000), nullable=True),
    sa.Column('last_requests', sa.Integer(), nullable=True),
    sa.Column('last_duration_ms', sa.Integer(), nullable=True),
    sa.Column('webhook_actions', _JSON, nullable=False),
    sa.Column('webhooks_broken', _JSON, nullable=False),
    sa.ForeignKeyConstraint(['store_id'], ['stores.id'], name=op.f('fk_store_freshness_store_id_stores'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('store_id', name=op.f('pk_store_freshness'))
    )


def downgrade() -> None:
    """Revert this revision."""
    op.drop_table('store_freshness')
