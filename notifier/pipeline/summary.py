"""What one poll did, as the listeners of the runtime see it (metrics, the public pages)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from notifier.pipeline.diff import Change

__all__ = ["PollSummary"]


@dataclass(frozen=True, slots=True)
class PollSummary:
    provider_id: str
    outcome: str
    locations: int
    alerts: tuple[int, ...]
    changes: tuple[Change, ...] = ()
    held: str | None = None
    baseline: bool = False
    #: the earliest start of this provider's next poll (the shared backoff)
    next_poll_at: dt.datetime | None = None
    #: "down" or "recovered" when this poll committed a change of the provider's health
    transition: str | None = None
    #: since when the provider is down (after the poll; None: it is not)
    down_since: dt.datetime | None = None
    #: how long the outage this poll ended lasted ("recovered" only)
    down_for: dt.timedelta | None = None
