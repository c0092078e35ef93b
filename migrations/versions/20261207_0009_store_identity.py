"""store identity: what the platform reports about the store, and what the merchant set here instead

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-07 14:30:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = '0009'
down_revision: str | None = '0008'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_JSON = sa.JSON().with_variant(postgresql.JSONB(), 'postgresql')


def upgrade() -> None:
    """Apply this revision."""
    with op.batch_alter_table('stores', schema=None) as batch_op:
        batch_op.add_column(sa.Column('reported_identity', _JSON, nullable=True))
        batch_op.add_column(sa.Column('identity_overrides', _JSON, nullable=True))
        batch_op.add_column(sa.Column('identity_read_at', sa.DateTime(timezone=True), nullable=True))
    # Until now an admin email got there only by being typed (the WooCommerce paste-keys form): it is the merchant's
    # own value, so a platform that reports another address later must not replace it.
    build = 'jsonb_build_object' if op.get_bind().dialect.name == 'postgresql' else 'json_object'
    op.execute(
        f"UPDATE stores SET identity_overrides = {build}('admin_email', admin_email) WHERE admin_email IS NOT NULL"
    )


def downgrade() -> None:
    """Revert this revision."""
    with op.batch_alter_table('stores', schema=None) as batch_op:
        batch_op.drop_column('identity_read_at')
        batch_op.drop_column('identity_overrides')
        batch_op.drop_column('reported_identity')
