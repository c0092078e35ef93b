"""the storefront's first call: the connected page's next step ends once the plugin or app embed is live

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-07 19:30:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0014'
down_revision: str | None = '0013'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Apply this revision."""
    with op.batch_alter_table('stores') as batch:
        batch.add_column(sa.Column('storefront_seen_at', sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    """Revert this revision."""
    with op.batch_alter_table('stores') as batch:
        batch.drop_column('storefront_seen_at')
