"""The database state that ``/metrics`` reports, read at scrape time.

Each query is cheap on a large outbox: the backlog walks the partial claim index
(``next_attempt_at IS NOT NULL``), open alerts use the ``expires_at`` index, and provider
health is one row per provider. Every process (web, workers, several machines) reports the same
numbers, because they come from the shared database rather than from process memory.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import Connection, func, literal, select

from notifier.db.outbox import delivery_counts
from notifier.db.tables import DeliveryState, alert_table, delivery_table, provider_state_table
from notifier.db.types import UtcDateTime, as_utc

__all__ = [
    "Backlog",
    "ProviderHealth",
    "delivery_counts",
    "open_alerts",
    "outbox_backlog",
    "provider_health",
]


@dataclass(frozen=True, slots=True)
class ProviderHealth:
    provider_id: str
    last_success_at: dt.datetime | None
    down_since: dt.datetime | None


@dataclass(frozen=True, slots=True)
class Backlog:
    """Deliveries of one channel that are due now and not yet sent."""

    due: int
    oldest_due_at: dt.datetime | None


def provider_health(conn: Connection) -> list[ProviderHealth]:
    ps = provider_state_table
    query = select(ps.c.provider_id, ps.c.last_success_at, ps.c.down_since).order_by(
        ps.c.provider_id
    )
    return [
        ProviderHealth(
            provider_id,
            as_utc(last) if last is not None else None,
            as_utc(down) if down is not None else None,
        )
        for provider_id, last, down in conn.execute(query)
    ]


def outbox_backlog(conn: Connection, now: dt.datetime) -> dict[str, Backlog]:
    """Pending deliveries whose time has come, and claimed ones still being sent, per channel.

    Held waves and deliveries deferred into the future are not backlog: nobody may send them yet.
    """
    d = delivery_table
    due = (
        d.c.state.in_((DeliveryState.PENDING.value, DeliveryState.SENDING.value)),
        d.c.next_attempt_at.is_not(None),
        d.c.next_attempt_at <= literal(as_utc(now), UtcDateTime),
    )
    query = (
        select(d.c.channel, func.count(), func.min(d.c.next_attempt_at))
        .where(*due)
        .group_by(d.c.channel)
    )
    return {
        channel: Backlog(int(n), as_utc(oldest) if oldest is not None else None)
        for channel, n, oldest in conn.execute(query)
    }


def open_alerts(conn: Connection, now: dt.datetime) -> dict[str, int]:
    """Alerts not yet expired, per provider."""
    a = alert_table
    query = (
        select(a.c.provider_id, func.count())
        .where(a.c.expires_at > literal(as_utc(now), UtcDateTime))
        .group_by(a.c.provider_id)
    )
    return {provider_id: int(n) for provider_id, n in conn.execute(query)}
