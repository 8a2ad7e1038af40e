"""Builders shared by the storage tests (module name unique across the test tree)."""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, select

from notifier.db.subscribers import bulk_insert_subscribers
from notifier.db.tables import subscriber_table
from notifier.model import Alert, Location

NOW = dt.datetime(2024, 3, 1, 15, 0, tzinfo=dt.UTC)
CAMBRIDGE = (42.3736, -71.1097)  # the clinic in most tests
_counter = itertools.count(1)


def make_location(
    lat: float | None = CAMBRIDGE[0],
    lon: float | None = CAMBRIDGE[1],
    *,
    source_id: str = "clinic-1",
    state: str | None = "MA",
) -> Location:
    return Location(
        id=source_id,
        name="Test Clinic",
        address="1 Main St",
        city="Cambridge",
        state=state,
        postal_code="02139",
        lat=lat,
        lon=lon,
        time_zone="America/New_York",
        booking_url="https://clinic.example/book",
    )


def make_alert(
    *,
    lat: float | None = CAMBRIDGE[0],
    lon: float | None = CAMBRIDGE[1],
    appointments: int | None = 5,
    products: Sequence[str] = (),
    age_groups: Sequence[str] = (),
    state: str | None = "MA",
    detected_at: dt.datetime = NOW,
    ttl: dt.timedelta = dt.timedelta(hours=1),
    source_id: str = "clinic-1",
    provider_id: str = "prov",
) -> Alert:
    return Alert(
        provider_id=provider_id,
        location=make_location(lat, lon, source_id=source_id, state=state),
        kind="opened",
        appointments=appointments,
        increase=appointments,
        by_date={dt.date(2024, 3, 2): appointments},
        products=tuple(products),
        age_groups=tuple(age_groups),
        detected_at=detected_at,
        expires_at=detected_at + ttl,
    )


def add_sub(
    conn: Connection,
    lat: float | None = CAMBRIDGE[0],
    lon: float | None = CAMBRIDGE[1],
    radius: float | None = 10.0,
    *,
    channel: str = "sms",
    confirmed: bool = True,
    **extra: Any,
) -> int:
    """Insert one subscriber directly (no geocoding) and return its id."""
    address = extra.pop("address", f"+1617555{next(_counter):04d}")
    row = {
        "channel": channel,
        "address": address,
        "lat": lat,
        "lon": lon,
        "radius_miles": radius,
        "confirmed_at": NOW - dt.timedelta(days=1) if confirmed else None,
        **extra,
    }
    bulk_insert_subscribers(conn, [row], now=NOW - dt.timedelta(days=2))
    found = conn.execute(
        select(subscriber_table.c.id).where(
            subscriber_table.c.channel == channel, subscriber_table.c.address == address
        )
    ).scalar_one()
    return int(found)


def offset(
    lat: float, lon: float, north_miles: float = 0.0, east_miles: float = 0.0
) -> tuple[float, float]:
    """A point roughly ``north_miles`` / ``east_miles`` away (small distances)."""
    import math

    dlat = north_miles / 69.093
    dlon = east_miles / (69.093 * math.cos(math.radians(lat)))
    return lat + dlat, lon + dlon
