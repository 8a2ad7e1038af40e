"""The simulated truth: releases of appointments that appear at once and then fill up.

Availability is a pure function of elapsed time: each release puts a number of appointments on
clinics (one per site and clinic date) at ``at`` seconds, and every clinic then books up on a
tick grid until it is full. ``Timeline.advance`` materialises that function into versions: a
``PublishEvent`` is recorded for a site whenever its content changes, stamped with the exact
moment the new content became servable (not the moment someone happened to ask), so the demo
can measure detection latency as "channel hand-off minus publish time".
"""

from __future__ import annotations

import bisect
import datetime as dt
import math
import random
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

from notifier.testing.sites import MASS_VACCINATION_SITES, Site, sites_by_id

__all__ = [
    "Clinic",
    "Clock",
    "ManualClock",
    "PublishEvent",
    "Release",
    "Scenario",
    "SiteState",
    "Timeline",
    "eight_am_release",
]

EASTERN = ZoneInfo("America/New_York")
#: a monotonic clock in seconds (``time.monotonic`` or a ``ManualClock``)
Clock = Callable[[], float]
_EPSILON = 1e-9


class ManualClock:
    """A monotonic clock that only moves when told to: deterministic tests without sleeping."""

    def __init__(self, start: float = 1000.0) -> None:
        self._now = start
        self._lock = threading.Lock()

    def __call__(self) -> float:
        with self._lock:
            return self._now

    def advance(self, seconds: float) -> float:
        if seconds < 0:
            raise ValueError("a monotonic clock cannot go back")
        with self._lock:
            self._now += seconds
            return self._now


@dataclass(frozen=True, slots=True)
class Release:
    """A batch of appointments put online at once.

    ``at`` is seconds after the timeline starts (None: the moment it is added). The batch is
    spread over ``sites`` (empty: all) by their weight and over the clinic dates
    ``first clinic date + day_offsets``. Each clinic is full after ``fill_seconds`` times a
    per-clinic factor between 0.55 and 1, so sites fill at different times.
    """

    appointments: int
    fill_seconds: float
    at: float | None = None
    sites: tuple[str, ...] = ()
    day_offsets: tuple[int, ...] = (0, 1, 2, 3, 4, 5, 6)
    label: str = ""

    def __post_init__(self) -> None:
        if self.appointments < 0:
            raise ValueError("a release cannot have a negative number of appointments")
        if self.fill_seconds <= 0:
            raise ValueError("fill_seconds must be positive")
        if not self.day_offsets:
            raise ValueError("a release needs at least one clinic date")


@dataclass(frozen=True, slots=True)
class Scenario:
    """Scripted releases plus the story clock that labels compressed time ("8:00 am")."""

    releases: tuple[Release, ...]
    duration: float
    story_start: dt.time = dt.time(8, 0)
    story_seconds_per_second: float = 1.0


def eight_am_release(
    duration: float = 45.0,
    appointments: int = 70_000,
    second_release: int = 8_000,
) -> Scenario:
    """The 8 a.m. release, compressed into ``duration`` seconds.

    A quiet start (every clinic listed but full), then ``appointments`` appear at 10% of the
    duration across all sites and seven clinic dates; they book up by about 70%. A smaller
    second release at 55% adds two new dates at Gillette and Eastfield and is gone by ~90%.
    """
    if duration <= 0:
        raise ValueError("duration must be positive")
    release_at = 0.10 * duration
    story_scale = 3 * 3600 / duration  # the morning, 3 hours, in ``duration`` seconds
    releases = [
        Release(
            appointments=appointments,
            fill_seconds=0.60 * duration,
            at=release_at,
            label="8:00 am release",
        )
    ]
    if second_release:
        releases.append(
            Release(
                appointments=second_release,
                fill_seconds=0.35 * duration,
                at=0.55 * duration,
                sites=("gillette-stadium", "eastfield-mall"),
                day_offsets=(7, 8),
                label="second release",
            )
        )
    story_start = dt.datetime.combine(dt.date(2021, 2, 25), dt.time(8, 0)) - dt.timedelta(
        seconds=release_at * story_scale
    )
    return Scenario(
        releases=tuple(releases),
        duration=duration,
        story_start=story_start.time(),
        story_seconds_per_second=story_scale,
    )


@dataclass(frozen=True, slots=True)
class Clinic:
    """One site on one date: a PrepMod clinic block, or one day of SMART slots."""

    site_id: str
    date: dt.date
    clinic_id: int


@dataclass(frozen=True, slots=True)
class PublishEvent:
    """A site's content changed: version ``version`` became servable at this instant."""

    site_id: str
    version: int
    elapsed: float
    monotonic: float
    wall: dt.datetime
    by_date: Mapping[dt.date, int]
    appointments: int


@dataclass(frozen=True, slots=True)
class SiteState:
    """What a site shows right now (the simulator's truth)."""

    site: Site
    version: int
    by_date: Mapping[dt.date, int]
    appointments: int
    published: PublishEvent


@dataclass(frozen=True, slots=True)
class _Allocation:
    site_id: str
    date: dt.date
    initial: int
    fill_seconds: float


@dataclass(slots=True)
class _ScheduledRelease:
    release: Release
    at: float
    announced_at: float
    allocations: list[_Allocation] = field(default_factory=list)


def _split(total: int, weights: Sequence[float]) -> list[int]:
    """Whole numbers proportional to ``weights`` that add up to ``total`` exactly."""
    scale = sum(weights)
    exact = [total * w / scale for w in weights]
    shares = [math.floor(x) for x in exact]
    by_remainder = sorted(range(len(exact)), key=lambda i: exact[i] - shares[i], reverse=True)
    for i in by_remainder[: total - sum(shares)]:
        shares[i] += 1
    return shares


class Timeline:
    """Releases over sites, materialised into per-site versions as time passes. Thread-safe."""

    def __init__(
        self,
        sites: Iterable[Site] = MASS_VACCINATION_SITES,
        releases: Iterable[Release] = (),
        *,
        seed: int = 2021,
        tick: float = 0.5,
        first_clinic_date: dt.date | None = None,
        clock: Clock = time.monotonic,
        story_start: dt.time = dt.time(8, 0),
        story_seconds_per_second: float = 1.0,
    ) -> None:
        if tick <= 0:
            raise ValueError("tick must be positive")
        self.sites = sites_by_id(sites)
        self.seed = seed
        self.tick = tick
        self.clock = clock
        self.origin_monotonic = clock()
        self.origin_wall = dt.datetime.now(dt.UTC)
        today = self.origin_wall.astimezone(EASTERN).date()
        self.first_clinic_date = first_clinic_date or today + dt.timedelta(days=1)
        self._story_origin = dt.datetime.combine(today, story_start, EASTERN)
        self._story_scale = story_seconds_per_second
        self._lock = threading.RLock()
        self._releases: list[_ScheduledRelease] = []
        self._clinic_ids: dict[tuple[str, dt.date], int] = {}
        self._points: list[float] = [0.0]
        self._next_point = 0
        self._done_until = -1.0
        self._events: dict[str, list[PublishEvent]] = {site_id: [] for site_id in self.sites}
        for release in releases:
            if release.at is None:
                raise ValueError("a scripted release needs ``at``")
            self._schedule(release, at=release.at, announced_at=0.0)
        self.advance()

    # ------------------------------------------------------------------ time

    def elapsed(self) -> float:
        return self.clock() - self.origin_monotonic

    def story_time(self, elapsed: float | None = None) -> dt.datetime:
        """The compressed time as a story clock ("8:00 am on release day")."""
        seconds = self.elapsed() if elapsed is None else elapsed
        return self._story_origin + dt.timedelta(seconds=seconds * self._story_scale)

    # ------------------------------------------------------------------ releases

    def add_release(self, release: Release) -> float:
        """Schedule a release (now, unless ``release.at`` is later); returns its start time."""
        with self._lock:
            now = self.elapsed()
            self.advance()
            at = now if release.at is None else release.at
            if at < now - _EPSILON:
                raise ValueError(f"cannot release in the past (at={at:.3f}s, now={now:.3f}s)")
            self._schedule(release, at=at, announced_at=at)
            self.advance()
            return at

    def _schedule(self, release: Release, *, at: float, announced_at: float) -> None:
        unknown = [s for s in release.sites if s not in self.sites]
        if unknown:
            raise ValueError(f"unknown site ids {unknown}; known: {sorted(self.sites)}")
        index = len(self._releases)
        rng = random.Random(f"{self.seed}:{index}")
        site_ids = list(release.sites or self.sites)
        dates = [self.first_clinic_date + dt.timedelta(days=d) for d in release.day_offsets]
        cells = [(s, d) for s in site_ids for d in dates]
        weights = [self.sites[s].weight * rng.uniform(0.7, 1.3) for s, _ in cells]
        scheduled = _ScheduledRelease(release, at=at, announced_at=announced_at)
        for (site_id, date), initial in zip(
            cells, _split(release.appointments, weights), strict=True
        ):
            fill = release.fill_seconds * rng.uniform(0.55, 1.0)
            scheduled.allocations.append(_Allocation(site_id, date, initial, fill))
            self._clinic_ids.setdefault((site_id, date), 6000 + len(self._clinic_ids))
        self._releases.append(scheduled)
        longest = max(a.fill_seconds for a in scheduled.allocations)
        for k in range(math.ceil(longest / self.tick) + 2):
            bisect.insort(self._points, at + k * self.tick)
        bisect.insort(self._points, announced_at)

    # ------------------------------------------------------------------ the pure function

    def _remaining(self, scheduled: _ScheduledRelease, alloc: _Allocation, t: float) -> int:
        if t < scheduled.at - _EPSILON:
            return 0
        ticks = math.floor((t - scheduled.at) / self.tick + _EPSILON)
        booked_fraction = ticks * self.tick / alloc.fill_seconds
        if booked_fraction >= 1:
            return 0
        # Most people book in the first minutes: the remainder falls fast, then trickles out.
        return round(alloc.initial * (1 - booked_fraction) ** 2)

    def _state_at(self, t: float) -> dict[str, dict[dt.date, int]]:
        state: dict[str, dict[dt.date, int]] = {site_id: {} for site_id in self.sites}
        for scheduled in self._releases:
            if t < scheduled.announced_at - _EPSILON:
                continue
            for alloc in scheduled.allocations:
                days = state[alloc.site_id]
                days[alloc.date] = days.get(alloc.date, 0) + self._remaining(scheduled, alloc, t)
        return {site_id: dict(sorted(days.items())) for site_id, days in state.items()}

    # ------------------------------------------------------------------ materialisation

    def advance(self) -> None:
        """Record a version for every change that has become servable by now."""
        with self._lock:
            now = self.elapsed()
            while (
                self._next_point < len(self._points)
                and self._points[self._next_point] <= now + _EPSILON
            ):
                point = self._points[self._next_point]
                self._next_point += 1
                if point < self._done_until - _EPSILON:
                    continue
                self._publish(point)
                self._done_until = point

    def _publish(self, t: float) -> None:
        for site_id, by_date in self._state_at(t).items():
            history = self._events[site_id]
            if history and history[-1].by_date == by_date:
                continue
            history.append(
                PublishEvent(
                    site_id=site_id,
                    version=len(history) + 1,
                    elapsed=t,
                    monotonic=self.origin_monotonic + t,
                    wall=self.origin_wall + dt.timedelta(seconds=t),
                    by_date=by_date,
                    appointments=sum(by_date.values()),
                )
            )

    # ------------------------------------------------------------------ truth

    def _latest(self, site_id: str) -> SiteState:
        latest = self._events[site_id][-1]
        return SiteState(
            site=self.sites[site_id],
            version=latest.version,
            by_date=latest.by_date,
            appointments=latest.appointments,
            published=latest,
        )

    def state(self, site_id: str) -> SiteState:
        with self._lock:
            self.advance()
            return self._latest(site_id)

    def states(self) -> dict[str, SiteState]:
        """Every site at one instant (a page built from this never mixes two moments)."""
        with self._lock:
            self.advance()
            return {site_id: self._latest(site_id) for site_id in self.sites}

    def events(self, site_id: str | None = None) -> list[PublishEvent]:
        """Every version published so far, in publish order."""
        with self._lock:
            self.advance()
            ids = [site_id] if site_id is not None else list(self.sites)
            found = [e for i in ids for e in self._events[i]]
            return sorted(found, key=lambda e: (e.elapsed, e.site_id))

    def published_at(self, site_id: str, version: int) -> PublishEvent:
        with self._lock:
            self.advance()
            history = self._events[site_id]
            if not 1 <= version <= len(history):
                raise KeyError(f"{site_id} has no version {version} (latest {len(history)})")
            return history[version - 1]

    def clinic_id(self, site_id: str, date: dt.date) -> int:
        return self._clinic_ids[(site_id, date)]
