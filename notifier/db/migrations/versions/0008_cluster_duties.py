"""Multi-node duties that a single process kept in memory.

``poll_schedule.jitter_seconds``: each provider's ``jitter_seconds`` from the config, so every
worker's tick puts the same random offset on a provider's due time (``notifier.db.schedule``).
Existing rows get 0 (no jitter) until a worker starts and syncs the schedule with its config.

``failure_rate_watch``: one row per channel, the failure-rate watch's state (the finished
deliveries at its last judgement, and since when the channel has been reported failing), so
the watch can run on any worker, once a minute for the whole cluster, and an incident is
reported once however many workers there are (``notifier.db.ops_watch``).

Revision ID: 0008_cluster_duties
Revises: 0007_fanout_planning
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008_cluster_duties"
down_revision: str | None = "0007_fanout_planning"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UTC_DATETIME = sa.DateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("poll_schedule") as batch_op:
        batch_op.add_column(
            sa.Column("jitter_seconds", sa.Float(), nullable=False, server_default="0")
        )
    op.create_table(
        "failure_rate_watch",
        sa.Column("channel", sa.String(), nullable=False),
        sa.Column("sent", sa.BigInteger(), nullable=False),
        sa.Column("failed", sa.BigInteger(), nullable=False),
        sa.Column("failing_since", UTC_DATETIME, nullable=True),
        sa.Column("judged_at", UTC_DATETIME, nullable=False),
        sa.PrimaryKeyConstraint("channel"),
    )


def downgrade() -> None:
    op.drop_table("failure_rate_watch")
    with op.batch_alter_table("poll_schedule") as batch_op:
        batch_op.drop_column("jitter_seconds")
