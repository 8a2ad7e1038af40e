"""The public state of the world at one moment: a pure, immutable snapshot.

Built from one ``notifier.db.public.load_public_data`` read; every public page, JSON file and
feed is a pure function of it. A place whose provider is down keeps its last known numbers
but is shown as "status unknown since ...", never as zero.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Hashable, Iterable
from dataclasses import dataclass, field, replace

from notifier.db.public import AlertRow, LocationRow, ProviderRow, PublicData
from notifier.geo import distance_miles

__all__ = [
    "LOCALES",
    "Place",
    "Snapshot",
    "build_snapshot",
    "locale_home",
    "region_of",
    "region_slug",
]

LOCALES = ("en", "de", "es")
#: how far back the small charts look
HISTORY_HOURS = 6


def locale_home(locale: str) -> str:
    """Where a language's pages (and feeds) live: ``/`` for English, ``/de/``, ``/es/``."""
    return "/" if locale == "en" else f"/{locale}/"


def region_of(country: str | None, state: str | None) -> str:
    """``US-MA``, ``DE-BY``; the country alone when the state is unknown."""
    country = (country or "US").upper()
    return f"{country}-{state.upper()}" if state else country


def region_slug(region: str) -> str:
    return region.lower()


@dataclass(frozen=True, slots=True)
class Place:
    row: LocationRow
    region: str
    #: the provider is down since then: the numbers are the last known, not the current
    unknown_since: dt.datetime | None
    #: (time, open appointments) over the last hours, oldest first, ending now
    history: tuple[tuple[dt.datetime, int], ...]
    distance_miles: float | None = None
    #: what the renderings show apart from the checked time and the chart (a cache key)
    content: tuple[Hashable, ...] = field(default=(), compare=False)

    def __post_init__(self) -> None:
        if not self.content:
            object.__setattr__(self, "content", _content(self))

    @property
    def is_open(self) -> bool:
        return self.row.status == "available"

    @property
    def dates(self) -> list[tuple[dt.date, int | None]]:
        return sorted((dt.date.fromisoformat(k), n) for k, n in self.row.by_date.items())

    @property
    def open_dates(self) -> list[tuple[dt.date, int | None]]:
        """Days with openings (``None``: open, count not given); full days left out."""
        return [(day, n) for day, n in self.dates if n is None or n > 0]


@dataclass(frozen=True, slots=True)
class Snapshot:
    generated_at: dt.datetime
    places: tuple[Place, ...]
    providers: tuple[ProviderRow, ...]
    alerts: tuple[AlertRow, ...]

    def openings(self) -> list[Place]:
        """Places with openings (as last known), by region then name."""
        return sorted(
            (p for p in self.places if p.is_open), key=lambda p: (p.region, p.row.name, p.row.id)
        )

    def regions(self) -> list[tuple[str, list[Place]]]:
        grouped: dict[str, list[Place]] = {}
        for place in self.openings():
            grouped.setdefault(place.region, []).append(place)
        return list(grouped.items())

    def all_regions(self) -> list[str]:
        return sorted(
            {p.region for p in self.places} | {region_of(a.country, a.state) for a in self.alerts}
        )

    def near(self, lat: float, lon: float, radius_miles: float) -> list[Place]:
        """Places with coordinates within ``radius_miles``, nearest first (open or not).

        ``distance_miles`` is exact: the API and the pages round it as they show it (a page
        in km converts first, so a distance is rounded once)."""
        found = []
        for place in self.places:
            if place.row.lat is None or place.row.lon is None:
                continue
            miles = distance_miles(lat, lon, place.row.lat, place.row.lon)
            if miles <= radius_miles:
                found.append(replace(place, distance_miles=miles, content=()))
        return sorted(found, key=lambda p: (p.distance_miles or 0.0, p.row.name))


def _content(place: Place) -> tuple[Hashable, ...]:
    row = place.row
    return (
        row.id,
        row.provider_id,
        row.name,
        row.address,
        row.city,
        row.state,
        row.postal_code,
        row.country,
        row.lat,
        row.lon,
        row.time_zone,
        row.booking_url,
        row.status,
        row.appointments,
        tuple(sorted(row.by_date.items())),
        row.products,
        row.changed_at,
        place.unknown_since,
        place.distance_miles,
    )


def _history_by_location(
    data: PublicData, now: dt.datetime
) -> dict[str, tuple[tuple[dt.datetime, int], ...]]:
    points: dict[str, list[tuple[dt.datetime, int]]] = {}
    for point in data.history:
        points.setdefault(point.location_id, []).append((point.at, point.appointments))
    return {key: tuple(value) for key, value in points.items()}


def _with_current(
    history: Iterable[tuple[dt.datetime, int]], row: LocationRow, now: dt.datetime
) -> tuple[tuple[dt.datetime, int], ...]:
    current = row.appointments or 0 if row.status == "available" else 0
    # The chart's "now" moves by whole minutes, so a chart is redrawn at most once a minute.
    return (*history, (now.replace(second=0, microsecond=0), current))


def build_snapshot(data: PublicData, now: dt.datetime) -> Snapshot:
    down = {p.provider_id: p.down_since for p in data.providers if p.down_since is not None}
    history = _history_by_location(data, now)
    places = tuple(
        Place(
            row=row,
            region=region_of(row.country, row.state),
            unknown_since=down.get(row.provider_id),
            history=_with_current(history.get(row.id, ()), row, now),
        )
        for row in data.locations
    )
    return Snapshot(generated_at=now, places=places, providers=data.providers, alerts=data.alerts)
