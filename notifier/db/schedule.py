"""The shared poll schedule: which providers are due, seen the same way by every worker.

Contract (multi-node mode): a provider is *due* at ``now`` when

    (last_started_at is NULL or last_started_at + interval_seconds <= now)
    and (not_before is NULL or not_before <= now)
    and (the provider is not failing or provider_state.next_poll_at <= now)
    and (provider_state.not_before is NULL or provider_state.not_before <= now)

``last_started_at`` is when a tick last handed the provider's poll out (not when the poll
wrote its run), so a poll still in flight keeps its provider not due. ``not_before`` is a
provider's own request to wait (Retry-After, an open circuit breaker); ``next_poll_at`` is the
shared backoff that every poll writes (``notifier.pipeline.backoff``), so a failing provider is
polled no faster in multi-node mode than in one process.

A tick claims in one transaction: ``due_providers`` (on PostgreSQL it locks the candidate
rows), then ``mark_started``, then defers the poll jobs; two ticks racing can never hand out
the same provider twice.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence

from sqlalchemy import Connection, and_, delete, literal, or_, select, update

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
    "mark_started",
    "postpone",
    "sync_schedule",
]


def sync_schedule(conn: Connection, intervals: Mapping[str, float]) -> None:
    """Make the schedule list exactly these providers with these intervals (from the config).

    Known providers keep their last start and not-before; removed ones are dropped.
    """
    t = poll_schedule_table
    if intervals:
        stmt = dialect_insert(conn, t).values(
            [{"provider_id": p, "interval_seconds": float(s)} for p, s in intervals.items()]
        )
        stmt = stmt.on_conflict_do_update(
            index_elements=[t.c.provider_id],
            set_={"interval_seconds": stmt.excluded.interval_seconds},
        )
        conn.execute(stmt)
    conn.execute(delete(t).where(t.c.provider_id.not_in(list(intervals))))


def due_providers(conn: Connection, now: dt.datetime) -> list[str]:
    """Providers due at ``now``, in id order (see the module contract)."""
    t, ps = poll_schedule_table, provider_state_table
    stamp = literal(as_utc(now), UtcDateTime)
    rows = (
        select(t.c.provider_id, t.c.interval_seconds, t.c.last_started_at)
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
    due = []
    for provider_id, interval, last in conn.execute(rows.order_by(t.c.provider_id)):
        # The interval arithmetic is done here: it is portable, and the rows are few
        # (one per provider); the lock above already covers every candidate row.
        if last is None or as_utc(last) + dt.timedelta(seconds=interval) <= as_utc(now):
            due.append(provider_id)
    return due


def mark_started(conn: Connection, provider_ids: Sequence[str], now: dt.datetime) -> None:
    """Record that the polls of ``provider_ids`` were handed out at ``now``."""
    if not provider_ids:
        return
    t = poll_schedule_table
    conn.execute(
        update(t).where(t.c.provider_id.in_(list(provider_ids))).values(last_started_at=now)
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
