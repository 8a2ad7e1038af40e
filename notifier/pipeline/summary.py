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
