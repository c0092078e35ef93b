"""admin sessions revocable server-side, sign-in links mailed by a job

Revision ID: 0014h
Revises: 0014
Create Date: 2026-12-07 19:30:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0014h'
down_revision: str | None = '0014'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ID = sa.BigInteger().with_variant(sa.INTEGER(), 'sqlite')


def upgrade() -> None:
    """Apply this revision."""
    # A plain ADD COLUMN (see 0013): a batch copy of stores on SQLite would cascade-delete every store's rows.
    op.add_column(
        'stores', sa.Column('admin_session_generation', sa.Integer(), nullable=False, server_default='0')
    )
    op.create_table(
        'admin_login_requests',
        sa.Column('email', sa.String(length=320), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('id', _ID, autoincrement=True, nullable=False),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_admin_login_requests')),
    )


def downgrade() -> None:
    """Revert this revision."""
    op.drop_table('admin_login_requests')
    with op.batch_alter_table('stores', schema=None) as batch_op:
        batch_op.drop_column('admin_session_generation')
