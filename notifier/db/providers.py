"""Provider health: last success and error, outage start, held state, and the status table.

``save_poll`` updates it after every poll; ``notifier status`` reads ``provider_status``.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, case, func, select, update

from notifier.db._sql import dialect_insert
from notifier.db.tables import PollOutcome, availability_table, provider_state_table
from notifier.db.types import as_utc
from notifier.model import Status
from notifier.privacy import mask_text

__all__ = [
    "ERROR_OUTCOMES",
    "SUCCESS_OUTCOMES",
    "ProviderStatusRow",
    "clear_held",
    "provider_status",
    "record_poll_outcome",
    "set_held",
]

SUCCESS_OUTCOMES = frozenset({PollOutcome.OK, PollOutcome.PARTIAL, PollOutcome.UNCHANGED})
ERROR_OUTCOMES = frozenset(
    {
        PollOutcome.UNREACHABLE,
        PollOutcome.BLOCKED,
        PollOutcome.UNPARSEABLE,
        PollOutcome.UPSTREAM_ERROR,
    }
)


@dataclass(frozen=True, slots=True)
class ProviderStatusRow:
    provider_id: str
    scraper: str
    last_success_at: dt.datetime | None
    last_error_at: dt.datetime | None
    last_error: str | None
    last_error_kind: str | None
    down_since: dt.datetime | None
    held_since: dt.datetime | None
    held_reason: str | None
    locations: int
    available_locations: int
    open_appointments: int


def record_poll_outcome(
    conn: Connection,
    provider_id: str,
    scraper: str,
    outcome: str,
    error: str | None,
    now: dt.datetime,
) -> None:
    """Upsert the provider's health after a poll with ``outcome`` (a PollOutcome value)."""
    table = provider_state_table
    conn.execute(
        dialect_insert(conn, table)
        .values(provider_id=provider_id, scraper=scraper)
        .on_conflict_do_nothing(index_elements=[table.c.provider_id])
    )
    values: dict[str, Any] = {"scraper": scraper}
    if outcome in SUCCESS_OUTCOMES:
        values.update(
            last_success_at=now,
            down_since=None,
            baseline_at=func.coalesce(table.c.baseline_at, now),
        )
    elif outcome in ERROR_OUTCOMES:
        values.update(
            last_error_at=now,
            last_error=mask_text(error) if error else outcome,
            last_error_kind=outcome,
            down_since=func.coalesce(table.c.down_since, now),
        )
    elif outcome == PollOutcome.HELD:
        values.update(
            held_since=func.coalesce(table.c.held_since, now),
            held_reason=mask_text(error) if error else None,
        )
    conn.execute(update(table).where(table.c.provider_id == provider_id).values(values))


def set_held(conn: Connection, provider_id: str, reason: str, since: dt.datetime) -> None:
    """Mark a provider as held (alerts paused until an operator or a later poll clears it)."""
    table = provider_state_table
    conn.execute(
        update(table)
        .where(table.c.provider_id == provider_id)
        .values(held_since=func.coalesce(table.c.held_since, as_utc(since)), held_reason=reason)
    )


def clear_held(conn: Connection, provider_id: str) -> None:
    table = provider_state_table
    conn.execute(
        update(table)
        .where(table.c.provider_id == provider_id)
        .values(held_since=None, held_reason=None)
    )


def provider_status(conn: Connection) -> list[ProviderStatusRow]:
    """One row per provider for ``notifier status``, with location and appointment totals."""
    av = availability_table
    is_open = av.c.status == Status.AVAILABLE.value
    totals = (
        select(
            av.c.provider_id,
            func.count().label("locations"),
            func.sum(case((is_open, 1), else_=0)).label("available"),
            func.sum(case((is_open, func.coalesce(av.c.appointments, 0)), else_=0)).label("open"),
        )
        .group_by(av.c.provider_id)
        .subquery()
    )
    ps = provider_state_table
    query = (
        select(
            ps,
            func.coalesce(totals.c.locations, 0).label("locations"),
            func.coalesce(totals.c.available, 0).label("available"),
            func.coalesce(totals.c.open, 0).label("open"),
        )
        .select_from(ps.outerjoin(totals, totals.c.provider_id == ps.c.provider_id))
        .order_by(ps.c.provider_id)
    )
    return [
        ProviderStatusRow(
            provider_id=row["provider_id"],
            scraper=row["scraper"],
            last_success_at=row["last_success_at"],
            last_error_at=row["last_error_at"],
            last_error=row["last_error"],
            last_error_kind=row["last_error_kind"],
            down_since=row["down_since"],
            held_since=row["held_since"],
            held_reason=row["held_reason"],
            locations=int(row["locations"]),
            available_locations=int(row["available"]),
            open_appointments=int(row["open"]),
        )
        for row in conn.execute(query).mappings()
    ]
