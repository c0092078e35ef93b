"""stock on its way and product listings: a sold-out variant's state says whether the platform reports undated
incoming stock; each product's status and badge over its published variants, for listing and collection cards

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-07 17:00:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0012'
down_revision: str | None = '0011'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Apply this revision."""
    with op.batch_alter_table('stock_states', schema=None) as batch_op:
        batch_op.add_column(sa.Column('on_its_way', sa.Boolean(), nullable=False, server_default=sa.false()))
    big = sa.BigInteger().with_variant(sa.INTEGER(), 'sqlite')
    op.create_table('product_listings',
    sa.Column('product_id', big, nullable=False),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('badge_kind', sa.String(length=20), nullable=False),
    sa.Column('badge_quantity', sa.Integer(), nullable=True),
    sa.Column('fingerprint', sa.String(length=32), nullable=False),
    sa.Column('published_fingerprint', sa.String(length=32), nullable=True),
    sa.Column('computed_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('store_id', big, nullable=False),
    sa.ForeignKeyConstraint(['product_id'], ['products.id'], name=op.f('fk_product_listings_product_id_products'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['store_id'], ['stores.id'], name=op.f('fk_product_listings_store_id_stores'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('product_id', name=op.f('pk_product_listings'))
    )
    with op.batch_alter_table('product_listings', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_product_listings_store_id'), ['store_id'], unique=False)


def downgrade() -> None:
    """Revert this revision."""
    with op.batch_alter_table('product_listings', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_product_listings_store_id'))
    op.drop_table('product_listings')
    with op.batch_alter_table('stock_states', schema=None) as batch_op:
        batch_op.drop_column('on_its_way')
