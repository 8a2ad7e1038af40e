"""Table models (SQLModel). The schema itself is created only by the Alembic migrations in
``notifier/db/migrations``; a test checks that the migrated schema and these models agree.

Times are aware UTC datetimes (``UtcDateTime``). State columns hold the string values of the
StrEnums below; they are validated in Python rather than by CHECK constraints so that adding a
state never needs a table rebuild on SQLite.
"""

from __future__ import annotations

import datetime as dt
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    BigInteger,
    Column,
    ForeignKey,
    Index,
    Integer,
    Table,
    UniqueConstraint,
    text,
)
from sqlmodel import Field, SQLModel

from notifier.db.types import JsonType, UtcDateTime

__all__ = [
    "Alert",
    "Availability",
    "AvailabilityEvent",
    "Delivery",
    "DeliveryState",
    "EligibilityGroup",
    "EventKind",
    "FailureRateWatch",
    "Location",
    "Notice",
    "OpsIncident",
    "PollOutcome",
    "PollRun",
    "PollSchedule",
    "ProviderState",
    "RateBucket",
    "SignupLimit",
    "Subscriber",
    "WaveEpisode",
    "alert_table",
    "availability_table",
    "delivery_table",
    "eligibility_group_table",
    "event_table",
    "failure_rate_watch_table",
    "location_table",
    "metadata",
    "notice_table",
    "ops_incident_table",
    "poll_run_table",
    "poll_schedule_table",
    "provider_state_table",
    "rate_bucket_table",
    "signup_limit_table",
    "subscriber_table",
    "wave_episode_table",
]

metadata = SQLModel.metadata


class DeliveryState(StrEnum):
    PENDING = "pending"
    HELD = "held"  # a later wave of its episode, released by ``notifier.db.waves`` while open
    SENDING = "sending"  # claimed by a worker; reclaimed after its lease expires
    SENT = "sent"
    FAILED = "failed"
    EXPIRED = "expired"
    CANCELLED = "cancelled"


class EventKind(StrEnum):
    OPENED = "opened"
    INCREASED = "increased"
    DECREASED = "decreased"
    GONE = "gone"
    HELD = "held"


class PollOutcome(StrEnum):
    OK = "ok"
    #: some documents failed: their scopes stay as they were, the rest was updated
    PARTIAL = "partial"
    UNCHANGED = "unchanged"
    UNREACHABLE = "unreachable"
    BLOCKED = "blocked"
    UNPARSEABLE = "unparseable"
    UPSTREAM_ERROR = "upstream_error"
    HELD = "held"


def _utc(*, nullable: bool = True, index: bool = False) -> Any:
    return Field(default=None, sa_type=UtcDateTime, nullable=nullable, index=index)


def _json(*, nullable: bool = False) -> Any:
    return Field(default=None, sa_column=Column(JsonType, nullable=nullable))


class Location(SQLModel, table=True):
    __tablename__ = "location"
    __table_args__ = (Index("ix_location_lat_lon", "lat", "lon"),)

    id: str = Field(primary_key=True)  # "<provider_id>:<scraper location id>"
    provider_id: str = Field(index=True)
    source_id: str
    name: str
    address: str | None = None
    city: str | None = None
    state: str | None = None
    postal_code: str | None = None
    country: str = "US"
    lat: float | None = None
    lon: float | None = None
    time_zone: str | None = None
    booking_url: str | None = None
    phone: str | None = None
    first_seen_at: dt.datetime = _utc(nullable=False)
    updated_at: dt.datetime = _utc(nullable=False)


class Availability(SQLModel, table=True):
    """The current state of one location (one row per location)."""

    __tablename__ = "availability"

    location_id: str = Field(
        sa_column=Column(ForeignKey("location.id", ondelete="CASCADE"), primary_key=True)
    )
    provider_id: str = Field(index=True)
    status: str
    appointments: int | None = None
    slots: int | None = None
    by_date: dict[str, int | None] = _json()
    products: list[str] = _json()
    age_groups: list[str] = _json()
    checked_at: dt.datetime = _utc(nullable=False)  # when we polled
    valid_at: dt.datetime | None = _utc()  # when the source says it was true
    changed_at: dt.datetime = _utc(nullable=False)  # when the content last changed
    content_hash: str


class AvailabilityEvent(SQLModel, table=True):
    """The public feed of changes, including locations that disappeared ("gone")."""

    __tablename__ = "availability_event"
    __table_args__ = (Index("ix_availability_event_location_at", "location_id", "at"),)

    id: int | None = Field(default=None, primary_key=True)
    location_id: str = Field(foreign_key="location.id", ondelete="CASCADE")
    provider_id: str = Field(index=True)
    kind: str
    appointments: int | None = None
    at: dt.datetime = _utc(nullable=False, index=True)


class ProviderState(SQLModel, table=True):
    __tablename__ = "provider_state"

    provider_id: str = Field(primary_key=True)
    scraper: str
    last_success_at: dt.datetime | None = _utc()
    last_error_at: dt.datetime | None = _utc()
    last_error: str | None = None
    last_error_kind: str | None = None
    down_since: dt.datetime | None = _utc()
    baseline_at: dt.datetime | None = _utc()  # first good poll: sets state, raises no alerts
    held_since: dt.datetime | None = _utc()
    held_reason: str | None = None
    # The per-provider backoff (notifier/pipeline/backoff.py), shared by every node.
    consecutive_failures: int = Field(default=0, sa_column_kwargs={"server_default": "0"})
    next_poll_at: dt.datetime | None = _utc(index=True)  # the earliest start of the next poll
    not_before: dt.datetime | None = _utc()  # what the source asked for (Retry-After, max-age)


class PollRun(SQLModel, table=True):
    __tablename__ = "poll_run"
    __table_args__ = (Index("ix_poll_run_provider_started", "provider_id", "started_at"),)

    id: int | None = Field(default=None, primary_key=True)
    provider_id: str  # indexed by ix_poll_run_provider_started
    started_at: dt.datetime = _utc(nullable=False)
    duration_ms: int | None = None
    http_status: int | None = None
    bytes: int | None = None
    outcome: str
    error: str | None = None
    locations: int | None = None


class WaveEpisode(SQLModel, table=True):
    """One opening of a place, from the first alert until a good poll shows it full.

    Every alert of an episode continues one wave sequence: a later alert appends only the
    subscribers not yet told, ranked after them (``notifier.db.waves``).
    """

    __tablename__ = "wave_episode"
    __table_args__ = (Index("ix_wave_episode_location_closed", "location_id", "closed_at"),)

    id: int | None = Field(default=None, primary_key=True)
    location_id: str = Field(foreign_key="location.id", ondelete="CASCADE")
    opened_at: dt.datetime = _utc(nullable=False)
    closed_at: dt.datetime | None = _utc()  # NULL while the place is open


class PollSchedule(SQLModel, table=True):
    """When each provider may be polled next, shared by every worker in multi-node mode.

    A provider is due when ``last_started_at + interval_seconds`` plus its jitter offset (up
    to ``jitter_seconds``) and ``not_before`` (a Retry-After or an open breaker) have both
    passed; see ``notifier.db.schedule``. ``last_started_at`` is when the last poll handed out
    was *due* in the provider's schedule, which a late tick does not move.
    """

    __tablename__ = "poll_schedule"

    provider_id: str = Field(primary_key=True)
    interval_seconds: float
    jitter_seconds: float = Field(default=0.0, sa_column_kwargs={"server_default": "0"})
    last_started_at: dt.datetime | None = _utc()
    not_before: dt.datetime | None = _utc()


class RateBucket(SQLModel, table=True):
    """One shared rate limit's state (a token bucket's theoretical arrival times)."""

    __tablename__ = "rate_bucket"

    name: str = Field(primary_key=True)
    state: list[float] = _json()
    updated_at: dt.datetime = _utc(nullable=False)


class FailureRateWatch(SQLModel, table=True):
    """The failure-rate watch of one channel (``notifier.db.ops_watch``), shared by every
    process: the channel's finished deliveries (sent, failed) at its last judgement, and since
    when its failure rate has been reported over the threshold (NULL: it is not)."""

    __tablename__ = "failure_rate_watch"

    channel: str = Field(primary_key=True)
    sent: int = Field(sa_column=Column(BigInteger, nullable=False))
    failed: int = Field(sa_column=Column(BigInteger, nullable=False))
    failing_since: dt.datetime | None = _utc()
    judged_at: dt.datetime = _utc(nullable=False)


class OpsIncident(SQLModel, table=True):
    """An ops incident reported to the operator and not yet over (``notifier.db.ops_once``),
    such as ``scraper:prepmod`` for a scraper marked broken: in multi-node mode the first
    worker to open it reports it, the others find it open and say nothing."""

    __tablename__ = "ops_incident"

    key: str = Field(primary_key=True)
    opened_at: dt.datetime = _utc(nullable=False)


class SignupLimit(SQLModel, table=True):
    """One sign-up rate limit's state for one key, shared by every web process (PostgreSQL).

    A GCRA token bucket in one timestamp: ``full_at`` is when the bucket is full again, so a
    row whose ``full_at`` has passed means the same as no row (and is pruned). ``key`` is a
    keyed digest, never the IP address or phone prefix itself; see ``notifier.db.signup_limits``.
    """

    __tablename__ = "signup_limit"

    scope: str = Field(primary_key=True)  # "ip" or "phone_prefix"
    key: str = Field(primary_key=True)
    full_at: dt.datetime = _utc(nullable=False)
    #: the latest check's outcome (an upsert's RETURNING sees only the row it wrote)
    allowed: bool


class Alert(SQLModel, table=True):
    __tablename__ = "alert"
    __table_args__ = (Index("ix_alert_location_detected", "location_id", "detected_at"),)

    id: int | None = Field(default=None, primary_key=True)
    provider_id: str = Field(index=True)
    location_id: str = Field(foreign_key="location.id", ondelete="CASCADE")
    kind: str
    appointments: int | None = None
    increase: int | None = None
    by_date: dict[str, int | None] = _json()
    products: list[str] = _json()
    age_groups: list[str] = _json()
    detected_at: dt.datetime = _utc(nullable=False)
    valid_at: dt.datetime | None = _utc()
    published_at: dt.datetime | None = _utc()  # when the source published it (for latency)
    expires_at: dt.datetime = _utc(nullable=False, index=True)
    # No foreign key: SQLite would have to rebuild the alert table (which delivery references)
    # to add one; an episode is only ever deleted with its location, and so are its alerts.
    episode_id: int | None = Field(default=None, index=True)


#: the subscribers the fan-out may send to (``notifier.db.matching.eligibility`` repeats it)
_REACHABLE = "confirmed_at IS NOT NULL AND opted_out_at IS NULL AND invalid_at IS NULL"
#: what the fan-out reads besides the columns it searches by. The last three are fixed by
#: ``_REACHABLE``, but SQLite counts an index as covering only when it holds every column the
#: query names, and the fan-out repeats the predicate.
_FANOUT_READS = (
    "radius_miles",
    "max_per_day",
    "eligibility_group",
    "address",
    "filters",
    "confirmed_at",
    "opted_out_at",
    "invalid_at",
)


class Subscriber(SQLModel, table=True):
    __tablename__ = "subscriber"
    __table_args__ = (
        UniqueConstraint("channel", "address", name="uq_subscriber_channel_address"),
        # Fan-out sizes its outer bounding box by the channel's largest radius: an index
        # lookup instead of a scan of a million rows per alert.
        Index("ix_subscriber_channel_radius", "channel", "radius_miles"),
        # The fan-out's two ways to reach someone, each a range of its own covering index
        # (docs/performance.md): near the place (the channel, then the box on lat and lon)
        # and in one of its regions ("MA"). Covering: a million subscribers near a place cost
        # no table lookup each (those lookups were a third of planning). Both hold only
        # subscribers who can be sent to, which the fan-out's own conditions imply, and
        # start with the channel, so SQLite prefers them to ix_subscriber_channel_radius even
        # in a database that has never been analysed.
        Index(
            "ix_subscriber_reach",
            "channel",
            "lat",
            "lon",
            "region",
            *_FANOUT_READS,
            sqlite_where=text(_REACHABLE),
            postgresql_where=text(_REACHABLE),
        ),
        Index(
            "ix_subscriber_channel_region",
            "channel",
            "region",
            "lat",
            "lon",
            *_FANOUT_READS,
            sqlite_where=text(f"region IS NOT NULL AND {_REACHABLE}"),
            postgresql_where=text(f"region IS NOT NULL AND {_REACHABLE}"),
        ),
    )

    id: int | None = Field(default=None, primary_key=True)
    channel: str
    address: str  # personal data: never log it (see notifier.privacy)
    locale: str = "en"
    confirmed_at: dt.datetime | None = _utc()
    confirm_token: str | None = Field(default=None, unique=True)
    postal_code: str | None = None
    lat: float | None = None
    lon: float | None = None
    radius_miles: float | None = None
    region: str | None = None  # indexed by ix_subscriber_channel_region
    filters: dict[str, Any] | None = _json(nullable=True)  # products, age_groups, dose
    opted_out_at: dt.datetime | None = _utc()
    invalid_at: dt.datetime | None = _utc()
    max_per_day: int | None = None
    quiet_start_hour: int | None = None
    quiet_end_hour: int | None = None
    time_zone: str | None = None
    digest_minutes: int | None = None
    created_at: dt.datetime = _utc(nullable=False)
    #: pre-registration: alerts start once an operator opens this group (None: no group)
    eligibility_group: str | None = Field(default=None, index=True)


class EligibilityGroup(SQLModel, table=True):
    """An eligibility group people pre-register in; ``opened_at`` is set when it opens."""

    __tablename__ = "eligibility_group"

    name: str = Field(primary_key=True)
    opened_at: dt.datetime | None = _utc()


class Notice(SQLModel, table=True):
    """The outbox of messages that are not slot alerts: sign-up confirmations and "your
    eligibility group is open" notices, each to one subscriber through their own channel.
    Eligibility notices go out in waves, nearest first (``rank``, ``wave``), like alerts."""

    __tablename__ = "notice"
    __table_args__ = (Index("ix_notice_channel_state_next", "channel", "state", "next_attempt_at"),)

    id: int | None = Field(default=None, primary_key=True)
    channel: str
    subscriber_id: int  # no foreign key, like ``delivery``; deleted with the subscriber
    kind: str  # "confirm" | "eligibility_opened"
    group_name: str | None = None
    state: str
    wave: int = 1
    rank: int = 1
    distance_miles: float | None = None
    attempts: int = 0
    next_attempt_at: dt.datetime | None = _utc()
    claimed_at: dt.datetime | None = _utc()
    idempotency_key: str = Field(unique=True)
    provider_message_id: str | None = None
    last_error: str | None = None
    created_at: dt.datetime = _utc(nullable=False)
    sent_at: dt.datetime | None = _utc()


class Delivery(SQLModel, table=True):
    """The outbox: one row per (alert, channel, subscriber); broadcast rows have no subscriber."""

    __tablename__ = "delivery"
    # Invariant: ``next_attempt_at`` is NULL exactly for rows that were never due (held, or
    # held and then cancelled/expired). The claim and daily-cap indexes are partial on it, so
    # planning 100,000 held deliveries does not pay for index entries nobody queries; the
    # queries repeat the predicate verbatim so SQLite and PostgreSQL both use the indexes.
    __table_args__ = (
        # id last: claims walk this index in (next_attempt_at, id) order without a sort.
        Index(
            "ix_delivery_channel_state_next",
            "channel",
            "state",
            "next_attempt_at",
            "id",
            sqlite_where=text("next_attempt_at IS NOT NULL"),
            postgresql_where=text("next_attempt_at IS NOT NULL"),
        ),
        # Claims go round-robin across due alerts (every alert's nearest recipient, then every
        # alert's second...): walk this in (rank, id) order.
        Index(
            "ix_delivery_channel_state_rank",
            "channel",
            "state",
            "rank",
            "id",
            sqlite_where=text("next_attempt_at IS NOT NULL"),
            postgresql_where=text("next_attempt_at IS NOT NULL"),
        ),
        Index("ix_delivery_alert_state_wave", "alert_id", "state", "wave"),
        Index(
            "ix_delivery_subscriber_created",
            "subscriber_id",
            "created_at",
            sqlite_where=text("next_attempt_at IS NOT NULL"),
            postgresql_where=text("next_attempt_at IS NOT NULL"),
        ),
        Index(
            "ix_delivery_provider_message",
            "provider_message_id",
            sqlite_where=text("provider_message_id IS NOT NULL"),
            postgresql_where=text("provider_message_id IS NOT NULL"),
        ),
    )

    # BIGINT on PostgreSQL: a million subscribers times thousands of alerts outgrows INTEGER.
    # SQLite keeps INTEGER so the column stays the auto-incrementing rowid alias.
    id: int | None = Field(
        default=None,
        sa_column=Column(BigInteger().with_variant(Integer(), "sqlite"), primary_key=True),
    )
    # No foreign keys on purpose: the fan-out inserts these rows for the alert it wrote in the
    # same transaction and FROM the subscriber table (valid by construction), and on PostgreSQL
    # each key's per-row trigger cost 0.5 to 1.3 s per 100,000 rows. Alerts are never deleted;
    # ``subscribers.delete_subscriber`` removes a subscriber's deliveries with it.
    alert_id: int = Field(sa_column=Column(Integer, nullable=False))
    channel: str
    subscriber_id: int | None = None
    recipient: str | None = None  # address copied at planning time; never log it
    state: str
    wave: int = 1
    distance_miles: float | None = None
    #: position in the alert's recipient list, nearest first (1 for a broadcast)
    rank: int = Field(default=1, sa_column_kwargs={"server_default": "1"})
    attempts: int = 0
    next_attempt_at: dt.datetime | None = _utc()
    claimed_at: dt.datetime | None = _utc()
    idempotency_key: str = Field(unique=True)
    provider_message_id: str | None = None
    last_error: str | None = None
    created_at: dt.datetime = _utc(nullable=False)
    sent_at: dt.datetime | None = _utc()
    status_callback: str | None = None  # delivered / undelivered / failed, from the provider


def _table(model: type[SQLModel]) -> Table:
    table = getattr(model, "__table__", None)
    if not isinstance(table, Table):  # pragma: no cover - only if a model loses table=True
        raise TypeError(f"{model.__name__} is not a table model")
    return table


# Core tables for set-based statements (the ORM classes are for reading and small writes).
location_table = _table(Location)
availability_table = _table(Availability)
event_table = _table(AvailabilityEvent)
provider_state_table = _table(ProviderState)
poll_run_table = _table(PollRun)
poll_schedule_table = _table(PollSchedule)
rate_bucket_table = _table(RateBucket)
signup_limit_table = _table(SignupLimit)
failure_rate_watch_table = _table(FailureRateWatch)
ops_incident_table = _table(OpsIncident)
alert_table = _table(Alert)
wave_episode_table = _table(WaveEpisode)
subscriber_table = _table(Subscriber)
delivery_table = _table(Delivery)
eligibility_group_table = _table(EligibilityGroup)
notice_table = _table(Notice)
