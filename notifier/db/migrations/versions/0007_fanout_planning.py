"""Fan-out planning: indexes that fit its two ways of reaching someone; no per-row FK check.

``ix_subscriber_reach`` replaces ``ix_subscriber_lat_lon``: it starts with the channel and the
coordinates (the fan-out's bounding-box range) and carries every other column the fan-out
reads, so choosing the recipients near a place costs no table lookup per subscriber. It holds
only confirmed subscribers who have neither left nor been found unreachable.
``ix_subscriber_channel_region`` replaces ``ix_subscriber_region`` for the statewide branch,
covering in the same way. Both start with the channel, so SQLite prefers them to the
channel-only index even in a database that has never been analysed.

``delivery.alert_id`` loses its foreign key, as ``subscriber_id`` never had one: the fan-out
inserts a hundred thousand deliveries of the alert it wrote in the same transaction, so the
check cannot fail, and on PostgreSQL its per-row trigger took a fifth of planning. Alerts are
never deleted by the service; ``ON DELETE CASCADE`` went with the key.

Revision ID: 0007_fanout_planning
Revises: 0006_signup_limit
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007_fanout_planning"
down_revision: str | None = "0006_signup_limit"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

REACHABLE = "confirmed_at IS NOT NULL AND opted_out_at IS NULL AND invalid_at IS NULL"
IN_REGION = f"region IS NOT NULL AND {REACHABLE}"
# SQLite's foreign keys have no names; batch mode reflects them under this convention.
SQLITE_NAMES = {"fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s"}
SQLITE_FK = "fk_delivery_alert_id_alert"
POSTGRES_FK = "delivery_alert_id_fkey"
READS = [
    "radius_miles",
    "max_per_day",
    "eligibility_group",
    "address",
    "filters",
    "confirmed_at",
    "opted_out_at",
    "invalid_at",
]


def upgrade() -> None:
    op.create_index(
        "ix_subscriber_reach",
        "subscriber",
        ["channel", "lat", "lon", "region", *READS],
        unique=False,
        sqlite_where=sa.text(REACHABLE),
        postgresql_where=sa.text(REACHABLE),
    )
    op.drop_index("ix_subscriber_lat_lon", table_name="subscriber")
    op.create_index(
        "ix_subscriber_channel_region",
        "subscriber",
        ["channel", "region", "lat", "lon", *READS],
        unique=False,
        sqlite_where=sa.text(IN_REGION),
        postgresql_where=sa.text(IN_REGION),
    )
    op.drop_index("ix_subscriber_region", table_name="subscriber")
    if op.get_bind().dialect.name == "postgresql":
        op.drop_constraint(POSTGRES_FK, "delivery", type_="foreignkey")
    else:
        with op.batch_alter_table("delivery", naming_convention=SQLITE_NAMES) as batch_op:
            batch_op.drop_constraint(SQLITE_FK, type_="foreignkey")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.create_foreign_key(
            POSTGRES_FK, "delivery", "alert", ["alert_id"], ["id"], ondelete="CASCADE"
        )
    else:
        with op.batch_alter_table("delivery", naming_convention=SQLITE_NAMES) as batch_op:
            batch_op.create_foreign_key(
                SQLITE_FK, "alert", ["alert_id"], ["id"], ondelete="CASCADE"
            )
    op.create_index("ix_subscriber_region", "subscriber", ["region"], unique=False)
    op.drop_index("ix_subscriber_channel_region", table_name="subscriber")
    op.create_index("ix_subscriber_lat_lon", "subscriber", ["lat", "lon"], unique=False)
    op.drop_index("ix_subscriber_reach", table_name="subscriber")
