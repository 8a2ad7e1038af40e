"""What the simulator reports: the requests it saw and the truth it published."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from notifier.testing.faults import Fault
from notifier.testing.sites import Site
from notifier.testing.timeline import PublishEvent

__all__ = ["RequestRecord", "SiteTruth"]


@dataclass(slots=True)
class RequestRecord:
    """One request as the simulator saw it (``status`` is None while it is being answered)."""

    method: str
    path: str
    query: str
    headers: dict[str, str]
    kind: str  # "prepmod" | "smart" | "booking" | "other"
    elapsed: float
    monotonic: float
    wall: dt.datetime
    status: int | None = None
    fault: Fault | None = None

    @property
    def user_agent(self) -> str | None:
        return self.headers.get("user-agent")

    @property
    def conditional(self) -> bool:
        return "if-none-match" in self.headers or "if-modified-since" in self.headers


@dataclass(frozen=True, slots=True)
class SiteTruth:
    """What a site publishes right now. ``slots`` counts free SMART slots (None for PrepMod)."""

    site: Site
    version: int
    by_date: dict[dt.date, int]
    appointments: int
    slots: int | None
    published: PublishEvent
