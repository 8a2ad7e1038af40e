"""Ops notices once per cluster.

``ops_incident``: one row per incident reported to the operator and not yet over (a scraper
marked broken: ``scraper:<name>``), so that in multi-node mode the first worker to start
reports it and the others, and later restarts, do not (``notifier.db.ops_once``). The hourly
cap on ops notices needs no table: it is a ``rate_bucket`` row (``ops_notices``).

Revision ID: 0009_ops_once
Revises: 0008_cluster_duties
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009_ops_once"
down_revision: str | None = "0008_cluster_duties"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UTC_DATETIME = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "ops_incident",
        sa.Column("key", sa.String(), nullable=False),
        sa.Column("opened_at", UTC_DATETIME, nullable=False),
        sa.PrimaryKeyConstraint("key"),
    )


def downgrade() -> None:
    op.drop_table("ops_incident")
