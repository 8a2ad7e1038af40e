"""The shared poll schedule: which providers are due, seen the same way by every worker.

Contract (multi-node mode): a provider is *due* at ``now`` when

    (last_started_at is NULL
     or last_started_at + interval_seconds + jitter_offset(last_started_at) <= now)
    and (not_before is NULL or not_before <= now)
    and (the provider is not failing or provider_state.next_poll_at <= now)
    and (provider_state.not_before is NULL or provider_state.not_before <= now)

``last_started_at`` is the *scheduled* start of the provider's last poll that a tick handed
out (not when the tick ran, nor when the poll wrote its run), so a poll still in flight keeps
its provider not due. ``not_before`` is a provider's own request to wait (Retry-After, an open
circuit breaker); ``next_poll_at`` is the shared backoff that every poll writes
(``notifier.pipeline.backoff``), so a failing provider is polled no faster in multi-node mode
than in one process.

Jitter (``providers[].jitter_seconds``) works as in the single process (APScheduler's interval
trigger): each due time gets a random offset between 0 and the jitter, so consecutive due
times are between ``interval`` and ``interval + jitter`` apart, never closer. The offset is drawn
from a hash of the provider and its last start (``jitter_offset``), so every worker's tick
sees the same due time without storing it, and each due time has exactly one offset.

A provider keeps its own schedule (``scheduled_start``): a poll handed out late, because its
tick ran late, a tick was skipped, or its previous poll was still queued, is recorded at the
time it was due, so the next one is due one interval (plus its jitter) after that and the
lateness does not carry over. Waits the provider asked for (the three above) move the
schedule to when they end.

A tick claims in one transaction: ``due_providers`` (on PostgreSQL it locks the candidate
rows), then ``mark_started``, then defers the poll jobs; two ticks racing can never hand out
the same provider twice.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import math
from collections.abc import Mapping

from sqlalchemy import Connection, and_, bindparam, delete, literal, or_, select, update

from notifier.db._sql import dialect_insert, is_postgres
from notifier.db.tables import (
    DeliveryState,
    alert_table,
    delivery_table,
    poll_schedule_table,
    provider_state_table,
)
from notifier.db.types import UtcDateTime, as_utc

__all__ = [
    "channels_with_due_deliveries",
    "due_providers",
    "jitter_offset",
    "mark_started",
    "postpone",
    "scheduled_start",
    "sync_schedule",
]

#: a poll handed out later than this share of an interval after it was due starts its
#: provider's schedule afresh: two polls of a provider are never closer than half an interval
LATEST_KEPT = 0.5


def jitter_offset(provider_id: str, last_started: dt.datetime | None, jitter: float) -> float:
    """The random offset, in ``[0, jitter)`` seconds, of the due time that follows a poll
    started at ``last_started``. Pure.

    It is uniform over the jitter and looks random across providers and due times, but it is
    a hash of ``provider_id`` and ``last_started``: every worker computes the same offset, a
    tick that looks again finds the same due time (a fresh draw per tick would favour early
    offsets), and nothing has to be stored. A provider never polled has no offset: its first
    poll starts at once, as in the single process.
    """
    if jitter <= 0 or last_started is None:
        return 0.0
    key = f"{provider_id}|{as_utc(last_started).isoformat()}".encode()
    draw = int.from_bytes(hashlib.blake2b(key, digest_size=8).digest(), "big") / 2**64
    return jitter * draw


def scheduled_start(
    *,
    interval: float,
    last_started: dt.datetime | None,
    held_until: dt.datetime | None,
    now: dt.datetime,
    offset: float = 0.0,
) -> dt.datetime | None:
    """The start that a poll handed out at ``now`` takes in its provider's schedule, or None
    when the provider is not due at ``now``. Pure.

    ``last_started`` is the scheduled start of the previous poll, ``held_until`` the latest
    end of the waits the provider asked for (Retry-After, max-age, backoff), ``offset`` the
    jitter of the next due time (``jitter_offset``). The provider is due at the later of
    ``last_started + interval + offset`` and ``held_until``; the result is the latest point
    of its schedule (that due time plus whole intervals) not after ``now``. So:

    - a tick that runs late, or a skipped tick, delays one poll, never the ones after it;
    - due times that passed while no tick ran (an outage) are not made up: one poll, then
      the schedule goes on, and the result is always later than ``now - interval``, so the
      next poll is due after ``now``: never two polls for one due time;
    - a poll more than half an interval late restarts the schedule at ``now``: the poll after
      it is a whole interval later, never a burst (``LATEST_KEPT``).
    """
    if interval <= 0:
        raise ValueError("interval must be positive")
    if offset < 0:
        raise ValueError("a jitter offset only delays a due time")
    due_times = [] if held_until is None else [as_utc(held_until)]
    if last_started is not None:
        due_times.append(as_utc(last_started) + dt.timedelta(seconds=interval + offset))
    if not due_times:
        return now  # never polled and nothing to wait for: its schedule starts now
    due_at = max(due_times)
    late = (as_utc(now) - due_at).total_seconds()
    if late < 0:
        return None
    start = due_at + dt.timedelta(seconds=math.floor(late / interval) * interval)
    if (as_utc(now) - start).total_seconds() > LATEST_KEPT * interval:
        return now
    return start


def sync_schedule(
    conn: Connection,
    intervals: Mapping[str, float],
    jitters: Mapping[str, float] | None = None,
) -> None:
    """Make the schedule list exactly these providers with these intervals and jitters (from
    the config; a provider missing from ``jitters`` has none).

    Known providers keep their last start and not-before; removed ones are dropped.
    """
    t = poll_schedule_table
    jitters = jitters or {}
    if intervals:
        stmt = dialect_insert(conn, t).values(
            [
                {
                    "provider_id": p,
                    "interval_seconds": float(s),
                    "jitter_seconds": float(jitters.get(p, 0.0)),
                }
                for p, s in intervals.items()
            ]
        )
        stmt = stmt.on_conflict_do_update(
            index_elements=[t.c.provider_id],
            set_={
                "interval_seconds": stmt.excluded.interval_seconds,
                "jitter_seconds": stmt.excluded.jitter_seconds,
            },
        )
        conn.execute(stmt)
    conn.execute(delete(t).where(t.c.provider_id.not_in(list(intervals))))


def due_providers(conn: Connection, now: dt.datetime) -> dict[str, dt.datetime]:
    """Providers due at ``now``, in id order, each with the start its poll takes in its
    schedule (``scheduled_start``; give them to ``mark_started``)."""
    t, ps = poll_schedule_table, provider_state_table
    stamp = literal(as_utc(now), UtcDateTime)
    failing = and_(ps.c.consecutive_failures.is_not(None), ps.c.consecutive_failures > 0)
    rows = (
        select(
            t.c.provider_id,
            t.c.interval_seconds,
            t.c.jitter_seconds,
            t.c.last_started_at,
            t.c.not_before,
            ps.c.not_before.label("source_not_before"),
            ps.c.next_poll_at,
            failing.label("failing"),
        )
        .outerjoin(ps, ps.c.provider_id == t.c.provider_id)
        .where(
            or_(t.c.not_before.is_(None), t.c.not_before <= stamp),
            # The provider's shared backoff, written by each poll: while it is failing, its
            # next poll waits for next_poll_at; a source's Retry-After or max-age is
            # not_before. A healthy provider keeps this schedule's own interval.
            or_(
                ps.c.consecutive_failures.is_(None),
                ps.c.consecutive_failures == 0,
                ps.c.next_poll_at <= stamp,
            ),
            or_(ps.c.not_before.is_(None), ps.c.not_before <= stamp),
        )
    )
    if is_postgres(conn):
        # Wait for, never skip, a locked row: a finishing poll updating its not-before holds
        # the row for a moment, and skipping it would skip that provider's turn. Racing ticks
        # are serialized here, and the second sees the first one's ``last_started_at``.
        rows = rows.with_for_update(of=t)
    due: dict[str, dt.datetime] = {}
    for row in conn.execute(rows.order_by(t.c.provider_id)):
        # The schedule arithmetic is done here: it is portable, and the rows are few (one
        # per provider); the lock above already covers every candidate row.
        holds = [row.not_before, row.source_not_before]
        if row.failing:
            holds.append(row.next_poll_at)
        start = scheduled_start(
            interval=row.interval_seconds,
            last_started=row.last_started_at,
            held_until=max((as_utc(h) for h in holds if h is not None), default=None),
            now=as_utc(now),
            offset=jitter_offset(row.provider_id, row.last_started_at, row.jitter_seconds),
        )
        if start is not None:
            due[row.provider_id] = start
    return due


def mark_started(conn: Connection, starts: Mapping[str, dt.datetime]) -> None:
    """Record that the polls of these providers were handed out, at these scheduled starts
    (from ``due_providers``)."""
    if not starts:
        return
    t = poll_schedule_table
    conn.execute(
        update(t)
        .where(t.c.provider_id == bindparam("provider"))
        .values(last_started_at=bindparam("start", type_=UtcDateTime)),
        [{"provider": p, "start": as_utc(s)} for p, s in starts.items()],
    )


def postpone(conn: Connection, provider_id: str, not_before: dt.datetime | None) -> None:
    """Keep ``provider_id`` from being due before ``not_before`` (None: no extra wait)."""
    t = poll_schedule_table
    conn.execute(
        update(t)
        .where(
            t.c.provider_id == provider_id,
            t.c.not_before.is_distinct_from(literal(not_before, UtcDateTime)),
        )
        .values(not_before=not_before)
    )


def channels_with_due_deliveries(
    conn: Connection, lease_seconds: Mapping[str, float], now: dt.datetime
) -> list[str]:
    """Channels (of ``lease_seconds``' keys) with a delivery a dispatcher would claim now:
    pending and due, or "sending" past its lease (its worker died)."""
    d, a = delivery_table, alert_table
    stamp = as_utc(now)
    found = []
    for channel, lease in lease_seconds.items():
        cutoff = stamp - dt.timedelta(seconds=lease)
        # "next_attempt_at IS NOT NULL" repeats the partial indexes' predicate.
        due = or_(
            and_(
                d.c.state == DeliveryState.PENDING.value,
                d.c.next_attempt_at <= literal(stamp, UtcDateTime),
            ),
            and_(
                d.c.state == DeliveryState.SENDING.value,
                d.c.next_attempt_at.is_not(None),
                d.c.claimed_at <= literal(cutoff, UtcDateTime),
            ),
        )
        live = (
            select(a.c.id)
            .where(a.c.id == d.c.alert_id, a.c.expires_at > literal(stamp, UtcDateTime))
            .exists()
        )
        query = select(d.c.id).where(d.c.channel == channel, due, live).limit(1)
        if conn.execute(query).first() is not None:
            found.append(channel)
    return found
