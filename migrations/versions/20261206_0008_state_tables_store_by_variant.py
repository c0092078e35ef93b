"""state tables reach their store through the variant: no foreign key of their own to stores

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-06 07:15:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = '0008'
down_revision: str | None = '0007'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Apply this revision."""
    # A full recompute writes a state and a history row per variant; each row's check against stores cost as much
    # as its check against variants, which already cascades from the store.
    with op.batch_alter_table('stock_states', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_stock_states_store_id_stores'), type_='foreignkey')
        # Led by store_id, ix_stock_states_store_status serves every query this index did.
        batch_op.drop_index(batch_op.f('ix_stock_states_store_id'))
    with op.batch_alter_table('stock_state_history', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_stock_state_history_store_id_stores'), type_='foreignkey')


def downgrade() -> None:
    """Revert this revision."""
    with op.batch_alter_table('stock_state_history', schema=None) as batch_op:
        batch_op.create_foreign_key(
            batch_op.f('fk_stock_state_history_store_id_stores'), 'stores', ['store_id'], ['id'], ondelete='CASCADE'
        )
    with op.batch_alter_table('stock_states', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_stock_states_store_id'), ['store_id'], unique=False)
        batch_op.create_foreign_key(
            batch_op.f('fk_stock_states_store_id_stores'), 'stores', ['store_id'], ['id'], ondelete='CASCADE'
        )
