"""connect ends in a working admin: wc-auth attempts, confirmed admin emails, replaced keys, variation links

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-07 17:00:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = '0013'
down_revision: str | None = '0012'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_JSON = sa.JSON().with_variant(postgresql.JSONB(), 'postgresql')
_ID = sa.BigInteger().with_variant(sa.INTEGER(), 'sqlite')


def upgrade() -> None:
    """Apply this revision."""
    op.create_table(
        'woo_connect_attempts',
        sa.Column('token_hash', sa.String(length=64), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('invalidated_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('key_id', sa.String(length=32), nullable=True),
        sa.Column('consumer_key_hash', sa.String(length=64), nullable=True),
        sa.Column('keys_bound_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('signed_in_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('id', _ID, autoincrement=True, nullable=False),
        sa.Column('store_id', _ID, nullable=False),
        sa.ForeignKeyConstraint(
            ['store_id'], ['stores.id'], name=op.f('fk_woo_connect_attempts_store_id_stores'), ondelete='CASCADE'
        ),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_woo_connect_attempts')),
        sa.UniqueConstraint('token_hash', name=op.f('uq_woo_connect_attempts_token_hash')),
    )
    with op.batch_alter_table('woo_connect_attempts', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_woo_connect_attempts_store_id'), ['store_id'], unique=False)
    op.create_table(
        'admin_email_confirmations',
        sa.Column('token_hash', sa.String(length=64), nullable=False),
        sa.Column('email', sa.String(length=320), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('confirmed_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('superseded_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('id', _ID, autoincrement=True, nullable=False),
        sa.Column('store_id', _ID, nullable=False),
        sa.ForeignKeyConstraint(
            ['store_id'], ['stores.id'], name=op.f('fk_admin_email_confirmations_store_id_stores'), ondelete='CASCADE'
        ),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_admin_email_confirmations')),
        sa.UniqueConstraint('token_hash', name=op.f('uq_admin_email_confirmations_token_hash')),
    )
    with op.batch_alter_table('admin_email_confirmations', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_admin_email_confirmations_store_id'), ['store_id'], unique=False)
    # Plain ADD COLUMNs: a batch (copy-and-move) of variants on SQLite would drop the table its stock events and
    # subscriptions reference, and their ON DELETE CASCADE would take them with it.
    op.add_column('stores', sa.Column('replaced_key_suffix', sa.String(length=7), nullable=True))
    # Filled by the next sync of each WooCommerce variation; other platforms keep it empty.
    op.add_column('variants', sa.Column('link_params', _JSON, nullable=False, server_default=sa.text("'{}'")))


def downgrade() -> None:
    """Revert this revision."""
    with op.batch_alter_table('variants', schema=None) as batch_op:
        batch_op.drop_column('link_params')
    with op.batch_alter_table('stores', schema=None) as batch_op:
        batch_op.drop_column('replaced_key_suffix')
    with op.batch_alter_table('admin_email_confirmations', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_admin_email_confirmations_store_id'))
    op.drop_table('admin_email_confirmations')
    with op.batch_alter_table('woo_connect_attempts', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_woo_connect_attempts_store_id'))
    op.drop_table('woo_connect_attempts')
