"""What the public pages, API and feeds show, read in one call: ``load_public_data``.

The publisher re-renders every public file from one consistent read (a single transaction),
so a page never mixes two polls. Reads only; nothing here writes.
"""

from __future__ import annotations

import datetime as dt
import json
from contextlib import nullcontext
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from sqlalchemy import Connection, String, select, type_coerce

from notifier.db.tables import (
    alert_table,
    availability_table,
    event_table,
    location_table,
    provider_state_table,
)
from notifier.db.types import as_utc

__all__ = [
    "AlertRow",
    "HistoryPoint",
    "LocationRow",
    "ProviderRow",
    "PublicData",
    "load_provider_rows",
    "load_public_data",
]

#: the newest alerts the Atom feeds carry
ALERT_LIMIT = 200


@dataclass(frozen=True, slots=True)
class LocationRow:
    id: str
    provider_id: str
    name: str
    address: str | None
    city: str | None
    state: str | None
    postal_code: str | None
    country: str
    lat: float | None
    lon: float | None
    time_zone: str | None
    booking_url: str | None
    status: str
    appointments: int | None
    by_date: dict[str, int | None]
    products: tuple[str, ...]
    checked_at: dt.datetime
    changed_at: dt.datetime


@dataclass(frozen=True, slots=True)
class ProviderRow:
    provider_id: str
    last_success_at: dt.datetime | None
    last_error_at: dt.datetime | None
    last_error_kind: str | None
    down_since: dt.datetime | None


@dataclass(frozen=True, slots=True)
class HistoryPoint:
    location_id: str
    at: dt.datetime
    appointments: int


@dataclass(frozen=True, slots=True)
class AlertRow:
    """One stored alert with its place as it is now (the Atom feeds render these)."""

    id: int
    location_id: str
    name: str
    city: str | None
    state: str | None
    country: str
    booking_url: str | None
    kind: str
    appointments: int | None
    by_date: dict[str, int | None]
    products: tuple[str, ...]
    detected_at: dt.datetime
    provider_id: str
    address: str | None
    postal_code: str | None
    increase: int | None
    age_groups: tuple[str, ...]
    expires_at: dt.datetime


@dataclass(frozen=True, slots=True)
class PublicData:
    locations: tuple[LocationRow, ...]
    providers: tuple[ProviderRow, ...]
    history: tuple[HistoryPoint, ...]
    alerts: tuple[AlertRow, ...]


def _optional_utc(value: dt.datetime | None) -> dt.datetime | None:
    return as_utc(value) if value is not None else None


def load_provider_rows(conn: Connection) -> tuple[ProviderRow, ...]:
    """Health of every provider that was ever polled (readiness reads only this)."""
    p = provider_state_table
    rows = conn.execute(
        select(
            p.c.provider_id,
            p.c.last_success_at,
            p.c.last_error_at,
            p.c.last_error_kind,
            p.c.down_since,
        ).order_by(p.c.provider_id)
    ).all()
    return tuple(
        ProviderRow(
            provider_id=r.provider_id,
            last_success_at=_optional_utc(r.last_success_at),
            last_error_at=_optional_utc(r.last_error_at),
            last_error_kind=r.last_error_kind,
            down_since=_optional_utc(r.down_since),
        )
        for r in rows
    )


@lru_cache(maxsize=4096)
def _json_text(text: str) -> Any:
    return json.loads(text)


@lru_cache(maxsize=4096)
def _time_text(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text).replace(tzinfo=dt.UTC)


def _json(value: Any) -> Any:
    return _json_text(value) if isinstance(value, str) else value


def _time(value: Any) -> dt.datetime:
    return _time_text(value) if isinstance(value, str) else as_utc(value)


def _locations(conn: Connection) -> tuple[LocationRow, ...]:
    """Every place with its availability.

    On SQLite the JSON and time columns come back as text and are decoded through small
    memos: thousands of places share a handful of distinct values (the poll's time, the same
    dates), and decoding each row one by one was most of the publication's read time.
    """
    loc, av = location_table, availability_table
    raw = conn.dialect.name == "sqlite"
    by_date, products, checked_at, changed_at = (
        (type_coerce(col, String) if raw else col).label(col.name)
        for col in (av.c.by_date, av.c.products, av.c.checked_at, av.c.changed_at)
    )
    rows = conn.execute(
        select(
            loc.c.id,
            loc.c.provider_id,
            loc.c.name,
            loc.c.address,
            loc.c.city,
            loc.c.state,
            loc.c.postal_code,
            loc.c.country,
            loc.c.lat,
            loc.c.lon,
            loc.c.time_zone,
            loc.c.booking_url,
            av.c.status,
            av.c.appointments,
            by_date,
            products,
            checked_at,
            changed_at,
        )
        .join(av, av.c.location_id == loc.c.id)
        .order_by(loc.c.id)
    ).all()
    return tuple(
        LocationRow(
            id=r.id,
            provider_id=r.provider_id,
            name=r.name,
            address=r.address,
            city=r.city,
            state=r.state,
            postal_code=r.postal_code,
            country=r.country,
            lat=r.lat,
            lon=r.lon,
            time_zone=r.time_zone,
            booking_url=r.booking_url,
            status=r.status,
            appointments=r.appointments,
            by_date=dict(_json(r.by_date) or {}),
            products=tuple(_json(r.products) or ()),
            checked_at=_time(r.checked_at),
            changed_at=_time(r.changed_at),
        )
        for r in rows
    )


def _history(conn: Connection, since: dt.datetime) -> tuple[HistoryPoint, ...]:
    ev = event_table
    at = type_coerce(ev.c.at, String) if conn.dialect.name == "sqlite" else ev.c.at
    rows = conn.execute(
        select(ev.c.location_id, at.label("at"), ev.c.appointments)
        .where(ev.c.at >= since)
        .order_by(ev.c.location_id, ev.c.at, ev.c.id)
    ).all()
    return tuple(HistoryPoint(r.location_id, _time(r.at), r.appointments or 0) for r in rows)


def _alerts(conn: Connection, limit: int) -> tuple[AlertRow, ...]:
    a, loc = alert_table, location_table
    rows = conn.execute(
        select(
            a.c.id,
            a.c.location_id,
            loc.c.name,
            loc.c.city,
            loc.c.state,
            loc.c.country,
            loc.c.booking_url,
            a.c.kind,
            a.c.appointments,
            a.c.by_date,
            a.c.products,
            a.c.detected_at,
            a.c.provider_id,
            loc.c.address,
            loc.c.postal_code,
            a.c.increase,
            a.c.age_groups,
            a.c.expires_at,
        )
        .join(loc, loc.c.id == a.c.location_id)
        .order_by(a.c.detected_at.desc(), a.c.id.desc())
        .limit(limit)
    ).all()
    return tuple(
        AlertRow(
            id=r.id,
            location_id=r.location_id,
            name=r.name,
            city=r.city,
            state=r.state,
            country=r.country,
            booking_url=r.booking_url,
            kind=r.kind,
            appointments=r.appointments,
            by_date=dict(r.by_date or {}),
            products=tuple(r.products or ()),
            detected_at=as_utc(r.detected_at),
            provider_id=r.provider_id,
            address=r.address,
            postal_code=r.postal_code,
            increase=r.increase,
            age_groups=tuple(r.age_groups or ()),
            expires_at=as_utc(r.expires_at),
        )
        for r in rows
    )


def load_public_data(
    conn: Connection, *, history_since: dt.datetime, alert_limit: int = ALERT_LIMIT
) -> PublicData:
    """Everything public, from one transaction: current state, health, history, alerts."""
    with conn.begin() if not conn.in_transaction() else nullcontext():
        return PublicData(
            locations=_locations(conn),
            providers=load_provider_rows(conn),
            history=_history(conn, as_utc(history_since)),
            alerts=_alerts(conn, alert_limit),
        )
