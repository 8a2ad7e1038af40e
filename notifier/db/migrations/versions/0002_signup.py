"""Web sign-up: eligibility pre-registration and the notice outbox.

* ``subscriber.eligibility_group``: the group a person pre-registered in; slot alerts reach
  them only once that group is open.
* ``eligibility_group``: the groups an operator has opened (``opened_at``).
* ``notice``: messages that are not slot alerts (sign-up confirmations, "your group is open"),
  one per subscriber, with waves nearest first like the delivery outbox.

Revision ID: 0002_signup
Revises: 0001
Create Date: 2026-12-05
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002_signup"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UTC_DATETIME = sa.DateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("subscriber", schema=None) as batch_op:
        batch_op.add_column(sa.Column("eligibility_group", sa.String(), nullable=True))
        batch_op.create_index(
            batch_op.f("ix_subscriber_eligibility_group"), ["eligibility_group"], unique=False
        )

    op.create_table(
        "eligibility_group",
        sa.Column("name", sa.String(), nullable=False),
        sa.Column("opened_at", UTC_DATETIME, nullable=True),
        sa.PrimaryKeyConstraint("name"),
    )

    op.create_table(
        "notice",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("channel", sa.String(), nullable=False),
        sa.Column("subscriber_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(), nullable=False),
        sa.Column("group_name", sa.String(), nullable=True),
        sa.Column("state", sa.String(), nullable=False),
        sa.Column("wave", sa.Integer(), nullable=False),
        sa.Column("rank", sa.Integer(), nullable=False),
        sa.Column("distance_miles", sa.Float(), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", UTC_DATETIME, nullable=True),
        sa.Column("claimed_at", UTC_DATETIME, nullable=True),
        sa.Column("idempotency_key", sa.String(), nullable=False),
        sa.Column("provider_message_id", sa.String(), nullable=True),
        sa.Column("last_error", sa.String(), nullable=True),
        sa.Column("created_at", UTC_DATETIME, nullable=False),
        sa.Column("sent_at", UTC_DATETIME, nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("idempotency_key"),
    )
    with op.batch_alter_table("notice", schema=None) as batch_op:
        batch_op.create_index(
            "ix_notice_channel_state_next", ["channel", "state", "next_attempt_at"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("notice", schema=None) as batch_op:
        batch_op.drop_index("ix_notice_channel_state_next")
    op.drop_table("notice")
    op.drop_table("eligibility_group")
    with op.batch_alter_table("subscriber", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_subscriber_eligibility_group"))
        batch_op.drop_column("eligibility_group")
