"""Wave episodes: one opening of a place is one wave sequence, whatever its alerts.

Revision ID: 0004_wave_episodes
Revises: 0003_provider_health
Create Date: 2026-12-05
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004_wave_episodes"
down_revision: str | None = "0003_provider_health"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UTC_DATETIME = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "wave_episode",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("location_id", sa.String(), nullable=False),
        sa.Column("opened_at", UTC_DATETIME, nullable=False),
        sa.Column("closed_at", UTC_DATETIME, nullable=True),
        sa.ForeignKeyConstraint(["location_id"], ["location.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("wave_episode") as batch_op:
        batch_op.create_index(
            "ix_wave_episode_location_closed", ["location_id", "closed_at"], unique=False
        )
    with op.batch_alter_table("alert") as batch_op:
        batch_op.add_column(sa.Column("episode_id", sa.Integer(), nullable=True))
        batch_op.create_index("ix_alert_episode_id", ["episode_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("alert") as batch_op:
        batch_op.drop_index("ix_alert_episode_id")
        batch_op.drop_column("episode_id")
    with op.batch_alter_table("wave_episode") as batch_op:
        batch_op.drop_index("ix_wave_episode_location_closed")
    op.drop_table("wave_episode")
