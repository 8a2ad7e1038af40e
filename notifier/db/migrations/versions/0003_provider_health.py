"""Provider health for the shared backoff: consecutive failures and when to poll next.

Revision ID: 0003_provider_health
Revises: 0002_signup
Create Date: 2026-11-30
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003_provider_health"
down_revision: str | None = "0002_signup"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UTC_DATETIME = sa.DateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("provider_state") as batch_op:
        batch_op.add_column(
            sa.Column("consecutive_failures", sa.Integer(), nullable=False, server_default="0")
        )
        batch_op.add_column(sa.Column("next_poll_at", UTC_DATETIME, nullable=True))
        batch_op.add_column(sa.Column("not_before", UTC_DATETIME, nullable=True))
        batch_op.create_index("ix_provider_state_next_poll_at", ["next_poll_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("provider_state") as batch_op:
        batch_op.drop_index("ix_provider_state_next_poll_at")
        batch_op.drop_column("not_before")
        batch_op.drop_column("next_poll_at")
        batch_op.drop_column("consecutive_failures")
