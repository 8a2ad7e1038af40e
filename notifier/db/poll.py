"""One poll in two calls: read everything the decision needs, then write everything it decided.

``record_poll`` (notifier/pipeline/poll.py) opens one write transaction and makes exactly one
``load_poll_context`` and one ``write_poll`` call in it, with a pure decision in between. The
provider's polling health (the shared backoff) is read and written in the same two calls, so
every node that polls sees the same schedule (``notifier.db.schedule.due_providers`` reads
it for the multi-node tick), and the health before and after the poll tells whether this poll
took the provider down or brought it back (``pipeline.decide.health_transition``).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from sqlalchemy import Connection, RowMapping, func, select, text, update

from notifier.db import fanout, store, waves
from notifier.db._sql import is_postgres
from notifier.db.fanout import ChannelPlan
from notifier.db.tables import (
    alert_table,
    location_table,
    provider_state_table,
    wave_episode_table,
)
from notifier.model import Alert, LocationAvailability, Status

__all__ = [
    "KnownLocation",
    "PollContext",
    "PollWrite",
    "ProviderHealth",
    "WaveMove",
    "load_health",
    "load_poll_context",
    "save_health",
    "write_poll",
]


@dataclass(frozen=True, slots=True)
class KnownLocation:
    """What we last knew for sure about a location (never ``unknown``), and its last alert."""

    status: Status
    appointments: int | None
    last_alert_at: dt.datetime | None


@dataclass(frozen=True, slots=True)
class ProviderHealth:
    """A provider's polling health: the backoff columns of ``provider_state``.

    ``pipeline.backoff.next_health`` computes the next one from the last and a poll's outcome.
    """

    consecutive_failures: int = 0
    #: the earliest moment the next poll may start
    next_poll_at: dt.datetime | None = None
    #: what the source itself asked for (Retry-After, max-age)
    not_before: dt.datetime | None = None
    down_since: dt.datetime | None = None
    last_failure_kind: str | None = None

    @property
    def failing(self) -> bool:
        return self.consecutive_failures > 0


@dataclass(frozen=True, slots=True)
class PollContext:
    """Everything the poll decision reads, taken in one call."""

    provider_id: str
    baseline_at: dt.datetime | None = None
    held_since: dt.datetime | None = None
    known: Mapping[str, KnownLocation] = field(default_factory=dict)
    #: locations in an opening episode (their waves move, or stop, with every poll)
    open_episodes: frozenset[str] = frozenset()
    health: ProviderHealth = ProviderHealth()


@dataclass(frozen=True, slots=True)
class WaveMove:
    """Release the next wave of a location's episode (still open, ``appointments`` left;
    None: the source gives no count), or cancel its waves and end the episode (full)."""

    location_id: str
    still_open: bool
    appointments: int | None = None


@dataclass(frozen=True, slots=True)
class PollWrite:
    """Everything one poll writes, as data (built by ``pipeline.decide``)."""

    provider_id: str
    scraper: str
    run: store.PollRunRecord
    now: dt.datetime
    #: the state to store; None leaves the last good state standing (unknown, unchanged, held)
    accepted: Sequence[tuple[str, LocationAvailability]] | None = None
    clear_held: bool = False
    wave_moves: Sequence[WaveMove] = ()
    alerts: Sequence[Alert] = ()
    events: Sequence[store.EventRecord] = ()
    health: ProviderHealth | None = None


# --------------------------------------------------------------------------- read

#: the first key of the transaction lock ``load_poll_context`` takes on PostgreSQL ("poll")
_POLL_LOCK_SPACE = 0x706F6C6C


def load_poll_context(conn: Connection, provider_id: str) -> PollContext:
    """The provider's state, its known locations, their last alerts and open episodes.

    Call it in the write transaction that ends with ``write_poll``. On PostgreSQL it first
    takes a transaction lock on the provider (also when it has no row yet), so two polls of
    one provider are recorded one after the other and each sees what the other committed:
    an outage starts, and ends, in exactly one of them. (The multi-node queue already keeps
    a provider's polls apart; this holds even when a stalled worker's poll overlaps the
    next. SQLite's ``BEGIN IMMEDIATE`` serializes every write transaction anyway.)
    """
    if is_postgres(conn):
        conn.execute(
            text("SELECT pg_advisory_xact_lock(:space, hashtext(:provider))"),
            {"space": _POLL_LOCK_SPACE, "provider": provider_id},
        )
    ps = provider_state_table
    state = conn.execute(select(ps).where(ps.c.provider_id == provider_id)).mappings().first()
    a, e, loc = alert_table, wave_episode_table, location_table
    last_alerts = dict(
        conn.execute(
            select(a.c.location_id, func.max(a.c.detected_at))
            .where(a.c.provider_id == provider_id)
            .group_by(a.c.location_id)
        ).all()
    )
    known = {
        loc_id: KnownLocation(stored.status, stored.appointments, last_alerts.get(loc_id))
        for loc_id, stored in store.load_current(conn, provider_id).items()
        if stored.status is not Status.UNKNOWN
    }
    episodes = frozenset(
        conn.execute(
            select(e.c.location_id)
            .distinct()
            .join(loc, loc.c.id == e.c.location_id)
            .where(loc.c.provider_id == provider_id, e.c.closed_at.is_(None))
        ).scalars()
    )
    if state is None:
        return PollContext(provider_id, known=known, open_episodes=episodes)
    return PollContext(
        provider_id,
        baseline_at=state["baseline_at"],
        held_since=state["held_since"],
        known=known,
        open_episodes=episodes,
        health=_health_of(state),
    )


def _health_of(row: RowMapping) -> ProviderHealth:
    return ProviderHealth(
        consecutive_failures=int(row["consecutive_failures"] or 0),
        next_poll_at=row["next_poll_at"],
        not_before=row["not_before"],
        down_since=row["down_since"],
        last_failure_kind=row["last_error_kind"],
    )


def load_health(conn: Connection, provider_id: str) -> ProviderHealth | None:
    """The stored backoff of one provider (None: never polled)."""
    ps = provider_state_table
    row = conn.execute(select(ps).where(ps.c.provider_id == provider_id)).mappings().first()
    return _health_of(row) if row is not None else None


# --------------------------------------------------------------------------- write


def save_health(conn: Connection, provider_id: str, health: ProviderHealth) -> None:
    """Store the backoff of a provider whose ``provider_state`` row exists."""
    ps = provider_state_table
    conn.execute(
        update(ps)
        .where(ps.c.provider_id == provider_id)
        .values(
            consecutive_failures=health.consecutive_failures,
            next_poll_at=health.next_poll_at,
            not_before=health.not_before,
            down_since=health.down_since,
        )
    )


def write_poll(conn: Connection, poll: PollWrite, plans: Sequence[ChannelPlan]) -> list[int]:
    """Write one poll's decision in the caller's transaction; returns the new alert ids.

    Order matters: the state first, then the waves of earlier alerts move (released, or
    cancelled with their episode for a place now full, so a place that reopens starts a new
    episode), then the alerts with their outbox, then the events.
    """
    store.save_poll(conn, poll.provider_id, poll.scraper, poll.run, poll.accepted, poll.now)
    if poll.clear_held:
        store.clear_held(conn, poll.provider_id)  # save_poll recorded the baseline, if it was
    if poll.health is not None:
        save_health(conn, poll.provider_id, poll.health)
    for move in poll.wave_moves:
        if move.still_open:
            waves.release_open_episode(conn, move.location_id, move.appointments, plans, poll.now)
        else:
            waves.close_episode(conn, move.location_id, poll.now)
    ids = [
        fanout.write_alert(conn, alert, channels=plans, published_at=alert.valid_at).alert_id
        for alert in poll.alerts
    ]
    if poll.events:
        store.record_events(conn, poll.events)
    return ids
