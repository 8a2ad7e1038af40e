"""Availability state, poll runs and provider health.

``save_poll`` writes one poll's outcome in a handful of set-based statements (bulk upserts,
never a per-location ORM loop). Rules it enforces:

* ``changed_at`` moves only when the content (status, counts, dates, products, age groups)
  changes, so "open since" and "last change" stay honest across identical polls.
* ``Status.UNKNOWN`` never overwrites a good state: an unknown location keeps its last known
  row (a row is created only for a location never seen before).
* A failed poll (``results is None``) records the run and the provider's error state only.
* After a good poll, locations the provider no longer lists lose their current-state row
  (their ``Location`` row and history stay); the coordinator records a "gone" event for them.
* A partial poll (some documents failed) updates what it lists and drops nothing: a location
  it does not list may belong to the failed part, so its last good state stands.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from sqlalchemy import Connection, case, delete, insert, or_, select, update

from notifier.db._sql import chunks, dialect_insert
from notifier.db.providers import (
    ProviderStatusRow,
    clear_held,
    provider_status,
    record_poll_outcome,
    set_held,
)
from notifier.db.tables import (
    PollOutcome,
    availability_table,
    event_table,
    location_table,
    poll_run_table,
)
from notifier.db.types import as_utc
from notifier.model import Alert, LocationAvailability, Status
from notifier.privacy import mask_text

__all__ = [
    "EventLike",
    "EventRecord",
    "PollRunRecord",
    "ProviderStatusRow",
    "StoredAvailability",
    "alert_location_id",
    "clear_held",
    "content_hash",
    "ensure_alert_location",
    "load_current",
    "provider_status",
    "record_events",
    "save_poll",
    "set_held",
    "stored_location_id",
]

_LOCATION_FIELDS = (
    "name",
    "address",
    "city",
    "state",
    "postal_code",
    "country",
    "lat",
    "lon",
    "time_zone",
    "booking_url",
    "phone",
)


def stored_location_id(provider_id: str, source_id: str) -> str:
    """The storage key of a scraper location: ``"<provider_id>:<scraper location id>"``."""
    return f"{provider_id}:{source_id}"


@dataclass(frozen=True, slots=True)
class StoredAvailability:
    status: Status
    appointments: int | None
    slots: int | None
    by_date: Mapping[dt.date, int | None]
    products: tuple[str, ...]
    age_groups: tuple[str, ...]
    content_hash: str
    changed_at: dt.datetime
    checked_at: dt.datetime
    valid_at: dt.datetime | None


@dataclass(frozen=True, slots=True)
class PollRunRecord:
    """One poll as the scheduler saw it. ``locations`` defaults to the number of results."""

    started_at: dt.datetime
    outcome: str  # a PollOutcome value
    duration_ms: int | None = None
    http_status: int | None = None
    bytes: int | None = None
    error: str | None = None
    locations: int | None = None


class EventLike(Protocol):
    @property
    def location_id(self) -> str: ...
    @property
    def provider_id(self) -> str: ...
    @property
    def kind(self) -> str: ...
    @property
    def appointments(self) -> int | None: ...
    @property
    def at(self) -> dt.datetime: ...


@dataclass(frozen=True, slots=True)
class EventRecord:
    location_id: str
    provider_id: str
    kind: str  # an EventKind value
    appointments: int | None
    at: dt.datetime


def _by_date_json(by_date: Mapping[dt.date, int | None]) -> dict[str, int | None]:
    return {day.isoformat(): n for day, n in sorted(by_date.items())}


def content_hash(availability: LocationAvailability) -> str:
    """A digest of what an alert could be about; equal hashes mean "nothing changed"."""
    content = {
        "status": availability.status.value,
        "appointments": availability.appointments,
        "slots": availability.slots,
        "by_date": _by_date_json(availability.by_date),
        "products": sorted(availability.products),
        "age_groups": sorted(availability.age_groups),
    }
    encoded = json.dumps(content, sort_keys=True, separators=(",", ":")).encode()
    return hashlib.sha256(encoded).hexdigest()[:32]


def load_current(conn: Connection, provider_id: str) -> dict[str, StoredAvailability]:
    """The current state of every location of ``provider_id``, keyed by stored location id."""
    table = availability_table
    rows = conn.execute(select(table).where(table.c.provider_id == provider_id)).mappings()
    return {
        row["location_id"]: StoredAvailability(
            status=Status(row["status"]),
            appointments=row["appointments"],
            slots=row["slots"],
            by_date={dt.date.fromisoformat(k): v for k, v in (row["by_date"] or {}).items()},
            products=tuple(row["products"] or ()),
            age_groups=tuple(row["age_groups"] or ()),
            content_hash=row["content_hash"],
            changed_at=row["changed_at"],
            checked_at=row["checked_at"],
            valid_at=row["valid_at"],
        )
        for row in rows
    }


def _location_row(
    provider_id: str, key: str, item: LocationAvailability, now: dt.datetime
) -> dict[str, Any]:
    loc = item.location
    row: dict[str, Any] = {name: getattr(loc, name) for name in _LOCATION_FIELDS}
    row.update(id=key, provider_id=provider_id, source_id=loc.id, first_seen_at=now, updated_at=now)
    return row


def _availability_row(
    provider_id: str, key: str, item: LocationAvailability, now: dt.datetime
) -> dict[str, Any]:
    return {
        "location_id": key,
        "provider_id": provider_id,
        "status": item.status.value,
        "appointments": item.appointments,
        "slots": item.slots,
        "by_date": _by_date_json(item.by_date),
        "products": list(item.products),
        "age_groups": list(item.age_groups),
        "checked_at": now,
        "valid_at": item.valid_at,
        "changed_at": now,
        "content_hash": content_hash(item),
    }


def _upsert_locations(conn: Connection, rows: list[dict[str, Any]], *, refresh: bool) -> None:
    if not rows:
        return
    stmt = dialect_insert(conn, location_table)
    if refresh:
        # Only rewrite rows whose metadata really changed: keeps updated_at meaningful and the
        # write-ahead log small when thousands of unchanged locations are polled every minute.
        changed = [location_table.c[n].is_distinct_from(stmt.excluded[n]) for n in _LOCATION_FIELDS]
        set_ = {n: stmt.excluded[n] for n in (*_LOCATION_FIELDS, "updated_at")}
        stmt = stmt.on_conflict_do_update(
            index_elements=[location_table.c.id],
            set_=set_,
            where=or_(*changed),
        )
    else:
        stmt = stmt.on_conflict_do_nothing(index_elements=[location_table.c.id])
    conn.execute(stmt, rows)


def _upsert_availability(conn: Connection, rows: list[dict[str, Any]], *, known: bool) -> None:
    if not rows:
        return
    table = availability_table
    stmt = dialect_insert(conn, table)
    if not known:  # UNKNOWN: only a first-ever row; never overwrite a known state
        conn.execute(stmt.on_conflict_do_nothing(index_elements=[table.c.location_id]), rows)
        return
    copied = (
        "provider_id",
        "status",
        "appointments",
        "slots",
        "by_date",
        "products",
        "age_groups",
        "checked_at",
        "valid_at",
        "content_hash",
    )
    set_ = {name: stmt.excluded[name] for name in copied}
    set_["changed_at"] = case(
        (table.c.content_hash == stmt.excluded.content_hash, table.c.changed_at),
        else_=stmt.excluded.changed_at,
    )
    conn.execute(stmt.on_conflict_do_update(index_elements=[table.c.location_id], set_=set_), rows)


def _drop_vanished(conn: Connection, provider_id: str, keep: set[str]) -> int:
    table = availability_table
    existing = conn.execute(
        select(table.c.location_id).where(table.c.provider_id == provider_id)
    ).scalars()
    vanished = sorted(set(existing) - keep)
    for part in chunks(vanished):
        conn.execute(delete(table).where(table.c.location_id.in_(part)))
    return len(vanished)


def save_poll(
    conn: Connection,
    provider_id: str,
    scraper: str,
    run: PollRunRecord,
    results: Sequence[tuple[str, LocationAvailability]] | None,
    checked_at: dt.datetime,
) -> int:
    """Record one poll: run row, provider state and (for a good poll) the current state.

    ``results`` pairs each stored location id with its availability. They are applied only
    when ``run.outcome`` is "ok"; a "held" poll (suspicious change the coordinator will not
    trust yet) is recorded without touching the current state. Returns the poll run id.
    """
    now = as_utc(checked_at)
    outcome = PollOutcome(run.outcome)
    applied = (PollOutcome.OK, PollOutcome.PARTIAL)
    if results is not None and outcome not in (*applied, PollOutcome.HELD):
        raise ValueError(f"results given for a poll with outcome {outcome.value!r}")
    if outcome in applied and results is None:
        raise ValueError("a poll with outcome 'ok' needs results (use 'unchanged' for a 304)")

    locations = run.locations if run.locations is not None else (len(results or ()) or None)
    run_id = conn.execute(
        insert(poll_run_table)
        .values(
            provider_id=provider_id,
            started_at=as_utc(run.started_at),
            duration_ms=run.duration_ms,
            http_status=run.http_status,
            bytes=run.bytes,
            outcome=outcome.value,
            error=mask_text(run.error) if run.error else None,
            locations=locations,
        )
        .returning(poll_run_table.c.id)
    ).scalar_one()
    record_poll_outcome(conn, provider_id, scraper, outcome, run.error, now)

    if outcome == PollOutcome.UNCHANGED:  # 304: everything we hold was re-confirmed now
        conn.execute(
            update(availability_table)
            .where(availability_table.c.provider_id == provider_id)
            .values(checked_at=now)
        )
    if outcome not in applied or results is None:
        return int(run_id)

    known = [(k, a) for k, a in results if a.status != Status.UNKNOWN]
    unknown = [(k, a) for k, a in results if a.status == Status.UNKNOWN]
    _upsert_locations(conn, [_location_row(provider_id, k, a, now) for k, a in known], refresh=True)
    _upsert_locations(
        conn, [_location_row(provider_id, k, a, now) for k, a in unknown], refresh=False
    )
    _upsert_availability(
        conn, [_availability_row(provider_id, k, a, now) for k, a in known], known=True
    )
    _upsert_availability(
        conn, [_availability_row(provider_id, k, a, now) for k, a in unknown], known=False
    )
    if outcome == PollOutcome.OK:
        _drop_vanished(conn, provider_id, {k for k, _ in results})
    return int(run_id)


def _event_row(event: EventLike | Mapping[str, Any]) -> dict[str, Any]:
    def get(name: str) -> Any:
        return event[name] if isinstance(event, Mapping) else getattr(event, name)

    return {
        "location_id": get("location_id"),
        "provider_id": get("provider_id"),
        "kind": str(get("kind")),  # a StrEnum member or its value
        "appointments": get("appointments"),
        "at": as_utc(get("at")),
    }


def record_events(conn: Connection, events: Iterable[EventLike | Mapping[str, Any]]) -> int:
    """Append availability events (objects with the ``EventRecord`` fields, or mappings)."""
    rows = [_event_row(event) for event in events]
    if rows:
        conn.execute(insert(event_table), rows)
    return len(rows)


def ensure_alert_location(
    conn: Connection, alert: Alert, location_id: str, now: dt.datetime
) -> None:
    """Store the alert's location if it is new (an alert may come before any poll)."""
    loc = alert.location
    row = {
        name: getattr(loc, name)
        for name in ("name", "address", "city", "state", "postal_code", "country", "lat", "lon")
    }
    row.update(time_zone=loc.time_zone, booking_url=loc.booking_url, phone=loc.phone)
    source_id = location_id.removeprefix(f"{alert.provider_id}:")
    conn.execute(
        dialect_insert(conn, location_table)
        .values(
            id=location_id,
            provider_id=alert.provider_id,
            source_id=source_id,
            first_seen_at=now,
            updated_at=now,
            **row,
        )
        .on_conflict_do_nothing(index_elements=[location_table.c.id])
    )


def alert_location_id(alert: Alert) -> str:
    """``alert.location.id`` may be the stored id or the scraper's own id."""
    loc_id = alert.location.id
    if loc_id.startswith(f"{alert.provider_id}:"):
        return loc_id
    return stored_location_id(alert.provider_id, loc_id)
