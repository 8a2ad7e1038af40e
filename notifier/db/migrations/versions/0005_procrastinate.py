"""Multi-node mode: the shared poll schedule, shared rate buckets, procrastinate's queue.

``poll_schedule`` and ``rate_bucket`` are created on every database (they are tiny, and the
schema stays the same everywhere). procrastinate's own schema (its job table, functions and
triggers) is applied on PostgreSQL only, and only if it is not there yet, so a database whose
operator already ran ``procrastinate schema --apply`` upgrades cleanly. SQLite has no job
queue: the embedded default schedules in-process.

Downgrading leaves procrastinate's schema in place on purpose: it holds queued jobs, and
dropping a queue should be a deliberate act (``DROP TABLE procrastinate_jobs CASCADE`` ...).

Revision ID: 0005_procrastinate
Revises: 0004_wave_episodes
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0005_procrastinate"
down_revision: str | None = "0004_wave_episodes"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UTC_DATETIME = sa.DateTime(timezone=True)
JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    op.create_table(
        "poll_schedule",
        sa.Column("provider_id", sa.String(), nullable=False),
        sa.Column("interval_seconds", sa.Float(), nullable=False),
        sa.Column("last_started_at", UTC_DATETIME, nullable=True),
        sa.Column("not_before", UTC_DATETIME, nullable=True),
        sa.PrimaryKeyConstraint("provider_id"),
    )
    op.create_table(
        "rate_bucket",
        sa.Column("name", sa.String(), nullable=False),
        sa.Column("state", JSON, nullable=False),
        sa.Column("updated_at", UTC_DATETIME, nullable=False),
        sa.PrimaryKeyConstraint("name"),
    )
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        from notifier.db.queue_schema import apply_queue_schema

        apply_queue_schema(bind)


def downgrade() -> None:
    op.drop_table("rate_bucket")
    op.drop_table("poll_schedule")
