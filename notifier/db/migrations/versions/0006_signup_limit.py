"""Sign-up rate limits shared by every web process (``signup_limit``).

One row per limited key (a keyed digest of a client IP address or a phone-number prefix), on
every database so the schema stays the same everywhere; only PostgreSQL deployments use it
(the embedded SQLite default keeps its buckets in the one process's memory). Rows expire on
their own (``full_at``) and are pruned by the web processes; there is nothing to migrate.

No index on ``full_at`` on purpose: every check rewrites it, and with only the primary key
indexed PostgreSQL can update the row in place (a HOT update); the prune scans the table,
which holds only the keys of the last window, once a minute.

Revision ID: 0006_signup_limit
Revises: 0005_procrastinate
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006_signup_limit"
down_revision: str | None = "0005_procrastinate"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UTC_DATETIME = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "signup_limit",
        sa.Column("scope", sa.String(), nullable=False),
        sa.Column("key", sa.String(), nullable=False),
        sa.Column("full_at", UTC_DATETIME, nullable=False),
        sa.Column("allowed", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("scope", "key"),
    )


def downgrade() -> None:
    op.drop_table("signup_limit")
