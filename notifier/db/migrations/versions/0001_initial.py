"""Initial schema: locations, availability, events, provider state, poll runs, alerts,
subscribers and the delivery outbox.

Written to run unchanged on SQLite and PostgreSQL. Column types are spelled out here (not
imported from the models) so this revision stays frozen when the models evolve.

Revision ID: 0001
Revises:
Create Date: 2026-11-23
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Aware timestamps: timestamptz on PostgreSQL, ISO text (naive UTC) on SQLite.
UTC_DATETIME = sa.DateTime(timezone=True)
# JSONB on PostgreSQL for the ?| operator used by the fan-out filter match.
JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def _where(condition: str) -> dict[str, sa.TextClause]:
    """A partial-index predicate for both dialects."""
    return {"sqlite_where": sa.text(condition), "postgresql_where": sa.text(condition)}


def upgrade() -> None:
    op.create_table(
        "location",
        sa.Column("id", sa.String(), nullable=False),
        sa.Column("provider_id", sa.String(), nullable=False),
        sa.Column("source_id", sa.String(), nullable=False),
        sa.Column("name", sa.String(), nullable=False),
        sa.Column("address", sa.String(), nullable=True),
        sa.Column("city", sa.String(), nullable=True),
        sa.Column("state", sa.String(), nullable=True),
        sa.Column("postal_code", sa.String(), nullable=True),
        sa.Column("country", sa.String(), nullable=False),
        sa.Column("lat", sa.Float(), nullable=True),
        sa.Column("lon", sa.Float(), nullable=True),
        sa.Column("time_zone", sa.String(), nullable=True),
        sa.Column("booking_url", sa.String(), nullable=True),
        sa.Column("phone", sa.String(), nullable=True),
        sa.Column("first_seen_at", UTC_DATETIME, nullable=False),
        sa.Column("updated_at", UTC_DATETIME, nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("location", schema=None) as batch_op:
        batch_op.create_index("ix_location_lat_lon", ["lat", "lon"], unique=False)
        batch_op.create_index(batch_op.f("ix_location_provider_id"), ["provider_id"], unique=False)

    op.create_table(
        "poll_run",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("provider_id", sa.String(), nullable=False),
        sa.Column("started_at", UTC_DATETIME, nullable=False),
        sa.Column("duration_ms", sa.Integer(), nullable=True),
        sa.Column("http_status", sa.Integer(), nullable=True),
        sa.Column("bytes", sa.Integer(), nullable=True),
        sa.Column("outcome", sa.String(), nullable=False),
        sa.Column("error", sa.String(), nullable=True),
        sa.Column("locations", sa.Integer(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("poll_run", schema=None) as batch_op:
        batch_op.create_index(
            "ix_poll_run_provider_started", ["provider_id", "started_at"], unique=False
        )

    op.create_table(
        "provider_state",
        sa.Column("provider_id", sa.String(), nullable=False),
        sa.Column("scraper", sa.String(), nullable=False),
        sa.Column("last_success_at", UTC_DATETIME, nullable=True),
        sa.Column("last_error_at", UTC_DATETIME, nullable=True),
        sa.Column("last_error", sa.String(), nullable=True),
        sa.Column("last_error_kind", sa.String(), nullable=True),
        sa.Column("down_since", UTC_DATETIME, nullable=True),
        sa.Column("baseline_at", UTC_DATETIME, nullable=True),
        sa.Column("held_since", UTC_DATETIME, nullable=True),
        sa.Column("held_reason", sa.String(), nullable=True),
        sa.PrimaryKeyConstraint("provider_id"),
    )
    op.create_table(
        "subscriber",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("channel", sa.String(), nullable=False),
        sa.Column("address", sa.String(), nullable=False),
        sa.Column("locale", sa.String(), nullable=False),
        sa.Column("confirmed_at", UTC_DATETIME, nullable=True),
        sa.Column("confirm_token", sa.String(), nullable=True),
        sa.Column("postal_code", sa.String(), nullable=True),
        sa.Column("lat", sa.Float(), nullable=True),
        sa.Column("lon", sa.Float(), nullable=True),
        sa.Column("radius_miles", sa.Float(), nullable=True),
        sa.Column("region", sa.String(), nullable=True),
        sa.Column("filters", JSON, nullable=True),
        sa.Column("opted_out_at", UTC_DATETIME, nullable=True),
        sa.Column("invalid_at", UTC_DATETIME, nullable=True),
        sa.Column("max_per_day", sa.Integer(), nullable=True),
        sa.Column("quiet_start_hour", sa.Integer(), nullable=True),
        sa.Column("quiet_end_hour", sa.Integer(), nullable=True),
        sa.Column("time_zone", sa.String(), nullable=True),
        sa.Column("digest_minutes", sa.Integer(), nullable=True),
        sa.Column("created_at", UTC_DATETIME, nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("channel", "address", name="uq_subscriber_channel_address"),
        sa.UniqueConstraint("confirm_token"),
    )
    with op.batch_alter_table("subscriber", schema=None) as batch_op:
        batch_op.create_index("ix_subscriber_lat_lon", ["lat", "lon"], unique=False)
        batch_op.create_index(
            "ix_subscriber_channel_radius", ["channel", "radius_miles"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_subscriber_region"), ["region"], unique=False)

    op.create_table(
        "alert",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("provider_id", sa.String(), nullable=False),
        sa.Column("location_id", sa.String(), nullable=False),
        sa.Column("kind", sa.String(), nullable=False),
        sa.Column("appointments", sa.Integer(), nullable=True),
        sa.Column("increase", sa.Integer(), nullable=True),
        sa.Column("by_date", JSON, nullable=False),
        sa.Column("products", JSON, nullable=False),
        sa.Column("age_groups", JSON, nullable=False),
        sa.Column("detected_at", UTC_DATETIME, nullable=False),
        sa.Column("valid_at", UTC_DATETIME, nullable=True),
        sa.Column("published_at", UTC_DATETIME, nullable=True),
        sa.Column("expires_at", UTC_DATETIME, nullable=False),
        sa.ForeignKeyConstraint(["location_id"], ["location.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("alert", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_alert_expires_at"), ["expires_at"], unique=False)
        batch_op.create_index(
            "ix_alert_location_detected", ["location_id", "detected_at"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_alert_provider_id"), ["provider_id"], unique=False)

    op.create_table(
        "availability",
        sa.Column("location_id", sa.String(), nullable=False),
        sa.Column("provider_id", sa.String(), nullable=False),
        sa.Column("status", sa.String(), nullable=False),
        sa.Column("appointments", sa.Integer(), nullable=True),
        sa.Column("slots", sa.Integer(), nullable=True),
        sa.Column("by_date", JSON, nullable=False),
        sa.Column("products", JSON, nullable=False),
        sa.Column("age_groups", JSON, nullable=False),
        sa.Column("checked_at", UTC_DATETIME, nullable=False),
        sa.Column("valid_at", UTC_DATETIME, nullable=True),
        sa.Column("changed_at", UTC_DATETIME, nullable=False),
        sa.Column("content_hash", sa.String(), nullable=False),
        sa.ForeignKeyConstraint(["location_id"], ["location.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("location_id"),
    )
    with op.batch_alter_table("availability", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_availability_provider_id"), ["provider_id"], unique=False
        )

    op.create_table(
        "availability_event",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("location_id", sa.String(), nullable=False),
        sa.Column("provider_id", sa.String(), nullable=False),
        sa.Column("kind", sa.String(), nullable=False),
        sa.Column("appointments", sa.Integer(), nullable=True),
        sa.Column("at", UTC_DATETIME, nullable=False),
        sa.ForeignKeyConstraint(["location_id"], ["location.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("availability_event", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_availability_event_at"), ["at"], unique=False)
        batch_op.create_index(
            "ix_availability_event_location_at", ["location_id", "at"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_availability_event_provider_id"), ["provider_id"], unique=False
        )

    op.create_table(
        "delivery",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("alert_id", sa.Integer(), nullable=False),
        sa.Column("channel", sa.String(), nullable=False),
        sa.Column("subscriber_id", sa.Integer(), nullable=True),
        sa.Column("recipient", sa.String(), nullable=True),
        sa.Column("state", sa.String(), nullable=False),
        sa.Column("wave", sa.Integer(), nullable=False),
        sa.Column("distance_miles", sa.Float(), nullable=True),
        sa.Column("rank", sa.Integer(), nullable=False, server_default="1"),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", UTC_DATETIME, nullable=True),
        sa.Column("claimed_at", UTC_DATETIME, nullable=True),
        sa.Column("idempotency_key", sa.String(), nullable=False),
        sa.Column("provider_message_id", sa.String(), nullable=True),
        sa.Column("last_error", sa.String(), nullable=True),
        sa.Column("created_at", UTC_DATETIME, nullable=False),
        sa.Column("sent_at", UTC_DATETIME, nullable=True),
        sa.Column("status_callback", sa.String(), nullable=True),
        sa.ForeignKeyConstraint(["alert_id"], ["alert.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("idempotency_key"),
    )
    with op.batch_alter_table("delivery", schema=None) as batch_op:
        batch_op.create_index(
            "ix_delivery_alert_state_wave", ["alert_id", "state", "wave"], unique=False
        )
        # Partial: held rows (next_attempt_at NULL) are neither claimable nor capped.
        batch_op.create_index(
            "ix_delivery_channel_state_next",
            ["channel", "state", "next_attempt_at", "id"],
            unique=False,
            **_where("next_attempt_at IS NOT NULL"),
        )
        batch_op.create_index(
            "ix_delivery_channel_state_rank",
            ["channel", "state", "rank", "id"],
            unique=False,
            **_where("next_attempt_at IS NOT NULL"),
        )
        batch_op.create_index(
            "ix_delivery_provider_message",
            ["provider_message_id"],
            unique=False,
            **_where("provider_message_id IS NOT NULL"),
        )
        batch_op.create_index(
            "ix_delivery_subscriber_created",
            ["subscriber_id", "created_at"],
            unique=False,
            **_where("next_attempt_at IS NOT NULL"),
        )


def downgrade() -> None:
    with op.batch_alter_table("delivery", schema=None) as batch_op:
        batch_op.drop_index("ix_delivery_subscriber_created")
        batch_op.drop_index("ix_delivery_provider_message")
        batch_op.drop_index("ix_delivery_channel_state_rank")
        batch_op.drop_index("ix_delivery_channel_state_next")
        batch_op.drop_index("ix_delivery_alert_state_wave")

    op.drop_table("delivery")
    with op.batch_alter_table("availability_event", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_availability_event_provider_id"))
        batch_op.drop_index("ix_availability_event_location_at")
        batch_op.drop_index(batch_op.f("ix_availability_event_at"))

    op.drop_table("availability_event")
    with op.batch_alter_table("availability", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_availability_provider_id"))

    op.drop_table("availability")
    with op.batch_alter_table("alert", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_alert_provider_id"))
        batch_op.drop_index("ix_alert_location_detected")
        batch_op.drop_index(batch_op.f("ix_alert_expires_at"))

    op.drop_table("alert")
    with op.batch_alter_table("subscriber", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_subscriber_region"))
        batch_op.drop_index("ix_subscriber_lat_lon")
        batch_op.drop_index("ix_subscriber_channel_radius")

    op.drop_table("subscriber")
    op.drop_table("provider_state")
    with op.batch_alter_table("poll_run", schema=None) as batch_op:
        batch_op.drop_index("ix_poll_run_provider_started")

    op.drop_table("poll_run")
    with op.batch_alter_table("location", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_location_provider_id"))
        batch_op.drop_index("ix_location_lat_lon")

    op.drop_table("location")
