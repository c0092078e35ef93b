"""mail faults: per-store suppressions, fan-out run failures, confirmation email retries

Revision ID: 0014g
Revises: 0014h
Create Date: 2026-12-07 20:00:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0014g"
down_revision: str | None = "0014h"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    """Apply this revision."""
    op.create_table(
        "suppressions",
        sa.Column("email", sa.String(length=320), nullable=False),
        sa.Column("reason", sa.String(length=1000), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("id", _ID, autoincrement=True, nullable=False),
        sa.Column("store_id", _ID, nullable=False),
        sa.ForeignKeyConstraint(
            ["store_id"], ["stores.id"], name=op.f("fk_suppressions_store_id_stores"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_suppressions")),
        sa.UniqueConstraint("store_id", "email", name=op.f("uq_suppressions_store_id_email")),
    )
    with op.batch_alter_table("suppressions") as batch_op:
        batch_op.create_index(batch_op.f("ix_suppressions_store_id"), ["store_id"], unique=False)
    # Plain ADD COLUMNs (no batch): on SQLite a batch would copy each whole table for nothing.
    op.add_column("stock_events", sa.Column("run_failures", sa.Integer(), nullable=False, server_default="0"))
    op.add_column("stock_events", sa.Column("last_error", sa.String(length=1000), nullable=True))
    op.add_column("subscriptions", sa.Column("confirm_attempts", sa.Integer(), nullable=False, server_default="0"))
    op.add_column("subscriptions", sa.Column("confirm_retry_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column("subscriptions", sa.Column("confirm_error", sa.String(length=1000), nullable=True))


def downgrade() -> None:
    """Revert this revision."""
    with op.batch_alter_table("subscriptions") as batch_op:
        batch_op.drop_column("confirm_error")
        batch_op.drop_column("confirm_retry_at")
        batch_op.drop_column("confirm_attempts")
    with op.batch_alter_table("stock_events") as batch_op:
        batch_op.drop_column("last_error")
        batch_op.drop_column("run_failures")
    with op.batch_alter_table("suppressions") as batch_op:
        batch_op.drop_index(batch_op.f("ix_suppressions_store_id"))
    op.drop_table("suppressions")
