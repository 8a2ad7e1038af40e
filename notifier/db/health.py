"""Each configured provider's health as people should read it: up, partial, down, never polled.

``notifier status`` prints it and ``/healthz`` readiness can answer from it. The rule that
matters: a provider that is down says since when, and its numbers are marked *stale*: they are
the last ones we knew, not what the provider shows now. A provider that is configured but was
never polled is listed too (no row in ``provider_state`` yet), with no numbers at all.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import Connection, func, select

from notifier.db.store import provider_status
from notifier.db.tables import PollOutcome, poll_run_table, provider_state_table
from notifier.db.types import as_utc

__all__ = ["ProviderHealthReport", "provider_health"]


@dataclass(frozen=True, slots=True)
class ProviderHealthReport:
    provider_id: str
    #: "up", "partial" (the last poll could not read some scopes), "held", "down", "never polled"
    state: str
    #: since when the provider is down or held; None otherwise
    since: dt.datetime | None
    #: True when the numbers are not what the provider shows now (down, or never read)
    stale: bool
    last_success_at: dt.datetime | None = None
    last_error: str | None = None
    locations: int = 0
    available_locations: int = 0
    open_appointments: int = 0
    #: the earliest start of the next poll (the backoff), when known
    next_poll_at: dt.datetime | None = None

    @property
    def down(self) -> bool:
        return self.state == "down"

    def down_for(self, now: dt.datetime) -> dt.timedelta | None:
        return as_utc(now) - as_utc(self.since) if self.down and self.since else None


def _last_outcomes(conn: Connection) -> dict[str, tuple[str, str | None]]:
    """The outcome and error of each provider's latest poll run."""
    pr = poll_run_table
    latest = select(func.max(pr.c.id)).group_by(pr.c.provider_id).scalar_subquery()
    rows = conn.execute(
        select(pr.c.provider_id, pr.c.outcome, pr.c.error).where(pr.c.id.in_(latest))
    )
    return {row.provider_id: (row.outcome, row.error) for row in rows}


def provider_health(
    conn: Connection, provider_ids: Iterable[str], now: dt.datetime
) -> list[ProviderHealthReport]:
    """One report per configured provider, in the given order (stored unconfigured ones last)."""
    del now  # the reports carry moments; callers compute durations with ``down_for(now)``
    stored = {row.provider_id: row for row in provider_status(conn)}
    last = _last_outcomes(conn)
    ps = provider_state_table
    next_polls = dict(conn.execute(select(ps.c.provider_id, ps.c.next_poll_at)).all())
    reports = []
    wanted = list(dict.fromkeys(provider_ids))
    for provider_id in [*wanted, *sorted(set(stored) - set(wanted))]:
        row = stored.get(provider_id)
        if row is None:
            reports.append(ProviderHealthReport(provider_id, "never polled", None, stale=True))
            continue
        outcome, run_error = last.get(provider_id, (None, None))
        if row.down_since is not None:
            state, since, error = "down", row.down_since, row.last_error
        elif row.held_since is not None:
            state, since, error = "held", row.held_since, row.held_reason
        elif outcome == PollOutcome.PARTIAL:
            state, since, error = "partial", None, run_error
        else:
            state, since, error = "up", None, None
        reports.append(
            ProviderHealthReport(
                provider_id,
                state,
                since,
                stale=state == "down" or row.last_success_at is None,
                last_success_at=row.last_success_at,
                last_error=error,
                locations=row.locations,
                available_locations=row.available_locations,
                open_appointments=row.open_appointments,
                next_poll_at=next_polls.get(provider_id),
            )
        )
    return reports
