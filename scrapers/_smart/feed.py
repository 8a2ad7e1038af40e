"""The SMART feed engine: join Location -> Schedule -> Slot and count per location.

``FeedBuilder`` takes resources one at a time (Locations and Schedules first, then Slots) and
keeps only running totals per location, so a national feed of 150,000 slots is never held as
parsed JSON all at once.

Counting rules (why they are what they are):
* A ``free`` slot is an opening; ``busy*`` marks its local day as known-and-full (0).
* The count of a free slot is its ``slot-capacity`` (strings such as ``"5"`` included). When the
  publisher's capacity is only a yes/no flag (CVS "0"/"1", Walgreens 0/5), or the slot is coarse
  (hours long) and has no capacity, the day is open with an unknown count (``None``).
* Days are the LOCATION's local dates (time zone from its ZIP code), unless the publisher
  writes local opening hours with a wrong offset (``dates_as_written``).
* A slot listed twice (same schedule, id, start and end) counts once. Ids alone are not a key:
  publishers reuse them across schedules (Walgreens uses the store number for every slot).
"""

from __future__ import annotations

import datetime as dt
import logging
from collections import Counter
from dataclasses import dataclass, field, replace
from typing import Any
from urllib.parse import urljoin
from zoneinfo import ZoneInfo

from notifier.model import Location, LocationAvailability, Status
from notifier.scraping import Unparseable, UpstreamError
from scrapers._smart.fhir import (
    ABSENT,
    CAPACITY_INVALID,
    EXT_BOOKING_LINK,
    EXT_BOOKING_PHONE,
    ScheduleInfo,
    classify_schedule,
    last_source_sync,
    parse_capacity,
    parse_instant,
    reference_id,
    slot_extensions,
)
from scrapers._smart.location import read_location, telecom, text, zone

__all__ = ["FeedBuilder", "FeedOptions", "FileSource"]

log = logging.getLogger("scrapers.smart_scheduling_links")


@dataclass(frozen=True, slots=True)
class FeedOptions:
    states: frozenset[str] | None = None
    covid_only: bool = True
    capacity_is_flag: bool = False
    dates_as_written: bool = False
    coarse_seconds: float = 2 * 3600
    #: the publisher's site: the booking link of last resort
    base_url: str | None = None
    #: what relative booking links are relative to (the manifest URL, or ``base_url`` when
    #: the feed was read from a file:// URL)
    link_base: str | None = None
    #: the manifest's transactionTime: when the whole feed was true
    valid_at: dt.datetime | None = None


@dataclass(frozen=True, slots=True)
class FileSource:
    """The file a resource came from."""

    url: str
    #: ``extension.currentAsOf`` of the file's manifest entry
    current_as_of: dt.datetime | None = None
    #: the resource type the manifest says the file holds (None: not listed)
    declared: str | None = None


@dataclass(slots=True)
class _Tally:
    """Running totals for one location."""

    location: Location
    tz: ZoneInfo | None
    link: str | None = None
    phone: str | None = None
    telecom_url: str | None = None
    telecom_phone: str | None = None
    by_date: dict[dt.date, int | None] = field(default_factory=dict)
    free_slots: int = 0
    seen_slots: bool = False
    slot_link: str | None = None
    slot_phone: str | None = None
    open_schedules: set[str] = field(default_factory=set)
    valid_at: dt.datetime | None = None


@dataclass(frozen=True, slots=True)
class _Schedule:
    info: ScheduleInfo
    counted: bool


class FeedBuilder:
    """Accumulates one poll's resources; ``results()`` gives one availability per location."""

    def __init__(self, options: FeedOptions) -> None:
        self.options = options
        self.stats: Counter[str] = Counter()
        self._tallies: dict[str, _Tally] = {}
        self._excluded: set[str] = set()
        self._schedules: dict[str, _Schedule] = {}
        self._seen: set[str] = set()
        self._days: dict[tuple[str, ZoneInfo | None], dt.date | None] = {}
        #: hot counters kept out of ``stats`` for speed: slots seen, and joined to a Schedule
        self.slot_count = 0
        self.joined_count = 0

    # ------------------------------------------------------------------ resources

    def add(self, resource: dict[str, Any], source: FileSource) -> None:
        kind = resource.get("resourceType")
        if kind == "Slot":
            self.add_slot(resource, source)
        elif kind == "Location":
            self.add_location(resource, source)
        elif kind == "Schedule":
            self.add_schedule(resource, source)
        elif kind == "OperationOutcome":
            raise UpstreamError(f"{_where(source)}: the file is an error report")
        elif not isinstance(kind, str):
            raise Unparseable(f"{_where(source)}: a resource without resourceType")
        elif source.declared is not None:
            raise Unparseable(f"{_where(source)}: a {kind[:40]!r} in a {source.declared} file")
        else:
            self.stats["other resources"] += 1  # e.g. HealthcareService: not ours to read

    def add_location(self, resource: dict[str, Any], source: FileSource) -> None:
        self.stats["locations"] += 1
        read = read_location(resource)
        if read is None:
            raise Unparseable(f"{_where(source)}: a Location without id")
        location, extensions = read
        if location.id in self._tallies or location.id in self._excluded:
            self.stats["duplicate locations"] += 1
            return
        states = self.options.states
        if states and (location.state or "") not in states:
            self._excluded.add(location.id)
            return
        self._tallies[location.id] = _Tally(
            location=location,
            tz=zone(location.time_zone),
            link=text(extensions.get(EXT_BOOKING_LINK)),
            phone=text(extensions.get(EXT_BOOKING_PHONE)),
            telecom_url=telecom(resource, "url"),
            telecom_phone=telecom(resource, "phone"),
        )

    def add_schedule(self, resource: dict[str, Any], source: FileSource) -> None:
        self.stats["schedules"] += 1
        schedule_id = text(resource.get("id"))
        if schedule_id is None:
            raise Unparseable(f"{_where(source)}: a Schedule without id")
        info = classify_schedule(resource)
        counted = info.is_covid or not self.options.covid_only
        self._schedules.setdefault(schedule_id, _Schedule(info, counted))

    def add_slot(self, resource: dict[str, Any], source: FileSource) -> None:
        # The hot path of a national feed (150,000 calls): plain lookups, no helpers unless a
        # value has an unusual shape.
        self.slot_count += 1
        reference = resource.get("schedule")
        if type(reference) is dict:
            reference = reference.get("reference")
        if type(reference) is str and reference.startswith("Schedule/"):
            schedule_id: str | None = reference[9:]
            if "/" in reference[9:] or not schedule_id:
                schedule_id = reference_id(reference, "Schedule")
        else:
            schedule_id = reference_id(reference, "Schedule")
        if schedule_id is None:
            raise Unparseable(f"{_where(source)}: a Slot without a schedule reference")
        schedule = self._schedules.get(schedule_id)
        stats = self.stats
        if schedule is None:
            stats["slots of unknown schedules"] += 1  # real feeds have a few; see results()
            return
        self.joined_count += 1
        if not schedule.counted:
            stats["slots of unrelated services"] += 1
            return
        location_id = schedule.info.location_id
        tally = self._tallies.get(location_id) if location_id else None
        if tally is None:
            if location_id not in self._excluded:
                stats["slots of unknown locations"] += 1
            return
        status = resource.get("status")
        if status == "free":
            free = True
        elif type(status) is str and status.startswith("busy"):
            free = False
        else:
            stats["slots with other status"] += 1  # entered-in-error, or garbage
            return
        start = resource.get("start")
        if type(start) is not str:
            raise Unparseable(f"{_where(source)}: a Slot without start")
        end = resource.get("end")
        if type(end) is not str:
            end = None
        slot_id = resource.get("id")
        if type(slot_id) is int:
            slot_id = str(slot_id)
        if type(slot_id) is str:
            # One string, not a tuple: 150,000 tuples kept alive make every GC pass slower.
            key = f"{schedule_id}\x1f{slot_id}\x1f{start}\x1f{end}"
            if key in self._seen:
                stats["duplicate slots"] += 1
                return
            self._seen.add(key)
        day = self._local_date(start, tally.tz)
        if day is None:
            raise Unparseable(f"{_where(source)}: a Slot start that is not a timestamp")
        tally.seen_slots = True
        if not free:
            tally.by_date.setdefault(day, 0)
            return
        capacity, link, phone = slot_extensions(resource)
        count = self._open_count(capacity, start, end)
        if count == 0:
            tally.by_date.setdefault(day, 0)
            return
        tally.free_slots += 1
        before = tally.by_date.get(day, 0)
        tally.by_date[day] = None if before is None or count is None else before + count
        tally.open_schedules.add(schedule_id)
        if tally.slot_link is None:
            tally.slot_link = text(link)
        if tally.slot_phone is None:
            tally.slot_phone = text(phone)
        valid = source.current_as_of
        if "meta" in resource:
            valid = last_source_sync(resource) or valid
        if valid is not None and (tally.valid_at is None or valid < tally.valid_at):
            tally.valid_at = valid

    # ------------------------------------------------------------------ counting

    def _local_date(self, start: str, tz: ZoneInfo | None) -> dt.date | None:
        key = (start, None if self.options.dates_as_written else tz)
        if key in self._days:
            return self._days[key]
        instant = parse_instant(start)
        if instant is None:
            day = None
        elif key[1] is None or instant.tzinfo is None:
            day = instant.date()  # as written: the publisher's own (local) calendar day
        else:
            try:
                day = instant.astimezone(key[1]).date()
            except (OverflowError, ValueError):  # a year-1 or year-9999 instant
                day = None
        self._days[key] = day
        return day

    def _open_count(self, capacity: Any, start: str, end: str | None) -> int | None:
        """Open appointments of one free slot; None = open, count unknown."""
        if capacity is ABSENT:
            if self.options.capacity_is_flag or self._coarse(start, end):
                return None
            return 1  # a fine-grained slot without capacity is one appointment
        value = parse_capacity(capacity)
        if value is CAPACITY_INVALID or not isinstance(value, int):
            self.stats["slots with bad capacity"] += 1
            return None
        if self.options.capacity_is_flag:
            return 0 if value == 0 else None
        return value

    def _coarse(self, start: str, end: str | None) -> bool:
        begin, finish = parse_instant(start), parse_instant(end)
        if begin is None or finish is None:
            return True
        try:
            return (finish - begin).total_seconds() >= self.options.coarse_seconds
        except TypeError:  # one naive, one aware: the length is unknown
            return True

    # ------------------------------------------------------------------ results

    def check_joins(self) -> None:
        """Raise when nothing joins up: a changed reference format must not read as zero."""
        if self.stats["locations"] == 0:
            raise Unparseable("the feed has no Location resources")
        if self.slot_count and not self.joined_count:
            raise Unparseable(
                f"none of {self.slot_count} slots references a known Schedule "
                "(changed reference format?)"
            )
        known = set(self._tallies) | self._excluded
        if self._schedules and not any(
            s.info.location_id in known for s in self._schedules.values()
        ):
            raise Unparseable(
                f"none of {len(self._schedules)} schedules references a known Location"
            )

    def results(
        self,
        missing_states: frozenset[str],
        missing_unscoped: bool,
        unknown_states: frozenset[str] = frozenset(),
    ) -> list[LocationAvailability]:
        """One availability per location with a counted (COVID) schedule or no schedule.

        A location whose schedules are all for unrelated services (shingles, monkeypox...) is
        left out: it is not a place offering the product we watch. A location without slots
        is ``unknown``, not ``none``, when its Slot file was listed but not fetched, or when it
        has no Schedule while some slots lead to a Schedule or Location the feed lacks.
        """
        self.check_joins()
        by_location: dict[str, list[_Schedule]] = {}
        for schedule in self._schedules.values():
            if schedule.info.location_id:
                by_location.setdefault(schedule.info.location_id, []).append(schedule)
        results: list[LocationAvailability] = []
        for loc_id, tally in self._tallies.items():
            schedules = by_location.get(loc_id, [])
            counted = [s for s in schedules if s.counted]
            if schedules and not counted:
                self.stats["locations with only unrelated services"] += 1
                continue
            location = self._finish_location(tally, counted)
            state = location.state or ""
            # Slots whose Schedule or Location we never saw may be this one's: cannot tell.
            orphans = not schedules and (
                self.stats["slots of unknown schedules"] + self.stats["slots of unknown locations"]
            )
            # A state whose Location or Schedule file is missing cannot be joined: unknown.
            if state in unknown_states or (
                not tally.seen_slots and (missing_unscoped or state in missing_states or orphans)
            ):
                results.append(LocationAvailability(location=location, status=Status.UNKNOWN))
                continue
            results.append(self._availability(tally, location))
        self._log_stats()
        return results

    def _availability(self, tally: _Tally, location: Location) -> LocationAvailability:
        by_date = dict(sorted(tally.by_date.items()))
        unknown_count = any(n is None for n in by_date.values())
        products: dict[str, None] = {}
        for schedule_id in sorted(tally.open_schedules):
            info = self._schedules[schedule_id].info
            extra = () if self.options.covid_only else info.other_products
            products.update(dict.fromkeys(info.products + extra))
        return LocationAvailability(
            location=location,
            status=Status.AVAILABLE if tally.free_slots else Status.NONE,
            appointments=None if unknown_count else sum(n or 0 for n in by_date.values()),
            slots=tally.free_slots,
            by_date=by_date,
            products=tuple(products),
            valid_at=tally.valid_at or self.options.valid_at,
        )

    def _finish_location(self, tally: _Tally, schedules: list[_Schedule]) -> Location:
        links = [s.info.booking_url for s in schedules] + [tally.link, tally.slot_link]
        phones = [s.info.booking_phone for s in schedules] + [tally.phone, tally.slot_phone]
        link = next((u for u in links if u), None) or tally.telecom_url
        return replace(
            tally.location,
            booking_url=self._absolute(link) or self.options.base_url,
            phone=next((p for p in phones if p), None) or tally.telecom_phone,
        )

    def _absolute(self, url: str | None) -> str | None:
        if not url:
            return None
        if url.startswith(("https://", "http://")):
            return url
        base = self.options.link_base
        try:
            return urljoin(base, url) if base else None
        except ValueError:
            return None

    def _log_stats(self) -> None:
        # Counts only: never a resource's content (names, phone numbers).
        expected = {"slots of unrelated services", "locations with only unrelated services"}
        normal = ("locations", "schedules", *expected)
        counts = {"slots": self.slot_count, "slots joined": self.joined_count, **self.stats}
        log.debug("SMART feed: %s", ", ".join(f"{k}={v}" for k, v in counts.items()))
        oddities = {k: v for k, v in self.stats.items() if v and k not in normal}
        if oddities:
            log.warning(
                "SMART feed oddities: %s", ", ".join(f"{k}={v}" for k, v in oddities.items())
            )


def _where(source: FileSource) -> str:
    return source.url.split("?", 1)[0]
