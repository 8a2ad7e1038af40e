"""A small, realistic public state: two Massachusetts clinics open, one full, a German
centre whose provider is down, events over the last hours and two alerts."""

from __future__ import annotations

import datetime as dt
from dataclasses import replace

from sqlalchemy import Engine

from notifier.db import fanout, store
from notifier.model import Alert, Location, LocationAvailability, Status

NOW = dt.datetime(2021, 2, 25, 13, 0, tzinfo=dt.UTC)
DAY1, DAY2 = dt.date(2021, 2, 25), dt.date(2021, 2, 26)

FENWAY = Location(
    id="fenway",
    name="Fenway Park",
    address="4 Jersey Street",
    city="Boston",
    state="MA",
    postal_code="02215",
    lat=42.3467,
    lon=-71.0972,
    time_zone="America/New_York",
    booking_url="https://clinics.example.org/fenway",
)
GILLETTE = Location(
    id="gillette",
    name="Gillette Stadium",
    address="1 Patriot Place",
    city="Foxborough",
    state="MA",
    postal_code="02035",
    lat=42.0909,
    lon=-71.2643,
    time_zone="America/New_York",
    booking_url="https://clinics.example.org/gillette",
)
SPRINGFIELD = Location(
    id="eastfield",
    name="Eastfield Mall",
    city="Springfield",
    state="MA",
    postal_code="01129",
    lat=42.1487,
    lon=-72.4951,
    time_zone="America/New_York",
)
MESSE = Location(
    id="messe",
    name="Impfzentrum Messe",
    city="München",
    state="BY",
    postal_code="81829",
    country="DE",
    lat=48.1351,
    lon=11.6951,
    time_zone="Europe/Berlin",
    booking_url="https://impfen.example.de/messe",
)


def open_at(location: Location, day1: int, day2: int | None) -> LocationAvailability:
    counts: dict[dt.date, int | None] = {DAY1: day1, DAY2: day2}
    return LocationAvailability.from_counts(location, counts, products=("Moderna",))


def seed(engine: Engine) -> None:
    """Polls, events and alerts as the pipeline writes them."""
    earlier = NOW - dt.timedelta(hours=2)
    ok = store.PollRunRecord(started_at=earlier, outcome="ok")
    with engine.begin() as conn:
        ma = [
            ("ma:fenway", open_at(FENWAY, 120, 30)),
            ("ma:gillette", open_at(GILLETTE, 5, None)),
            ("ma:eastfield", LocationAvailability(SPRINGFIELD, Status.NONE, appointments=0)),
        ]
        store.save_poll(conn, "ma", "prepmod", ok, ma, earlier)
        store.save_poll(conn, "ma", "prepmod", ok, ma, NOW - dt.timedelta(minutes=1))
        store.save_poll(conn, "de", "smart", ok, [("de:messe", open_at(MESSE, 40, 0))], earlier)
        failed = store.PollRunRecord(
            started_at=NOW - dt.timedelta(minutes=20), outcome="unreachable", error="timeout"
        )
        store.save_poll(conn, "de", "smart", failed, None, NOW - dt.timedelta(minutes=20))
        store.record_events(
            conn,
            [
                store.EventRecord("ma:fenway", "ma", "opened", 40, NOW - dt.timedelta(hours=3)),
                store.EventRecord("ma:fenway", "ma", "increased", 150, NOW - dt.timedelta(hours=1)),
                store.EventRecord("ma:gillette", "ma", "opened", 5, NOW - dt.timedelta(minutes=30)),
            ],
        )
        for loc, item in (("ma:fenway", ma[0][1]), ("ma:gillette", ma[1][1])):
            alert = Alert(
                provider_id="ma",
                location=replace(item.location, id=loc),
                kind="opened",
                appointments=item.appointments,
                increase=item.appointments,
                by_date=dict(item.by_date),
                products=item.products,
                age_groups=(),
                detected_at=NOW - dt.timedelta(minutes=30),
                expires_at=NOW + dt.timedelta(hours=1),
            )
            fanout.write_alert(conn, alert, channels=[])
