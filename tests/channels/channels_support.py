"""Realistic alerts for the channel tests (X, Apprise, ops notices, CLI, meta-test).

Places from the 2021 Massachusetts mass-vaccination sites and a few neighbours, with the kind
of names that stress a formatter: long ones, accents, CJK, a name that already holds the city.
"""

from __future__ import annotations

import datetime as dt

from notifier.model import Alert, Location

NOW = dt.datetime(2021, 2, 24, 15, 0, tzinfo=dt.UTC)
D = dt.date

# (id, name, city, state, ZIP, appointments)
PLACES: tuple[tuple[str, str, str, str, str, int], ...] = (
    ("fenway", "Fenway Park", "Boston", "MA", "02215", 2340),
    ("gillette", "Gillette Stadium", "Foxborough", "MA", "02035", 5120),
    ("reggie", "Reggie Lewis Center", "Boston", "MA", "02120", 880),
    ("hynes", "Hynes Convention Center", "Boston", "MA", "02115", 1500),
    ("dcu", "DCU Center", "Worcester", "MA", "01608", 1200),
    ("eastfield", "Eastfield Mall", "Springfield", "MA", "01129", 640),
    ("danvers", "Doubletree Hotel", "Danvers", "MA", "01923", 300),
    ("natick", "Natick Mall", "Natick", "MA", "01760", 410),
    ("dartmouth", "Circuit City", "Dartmouth", "MA", "02747", 220),
    (
        "chinatown",
        "South Cove Community Health Center 華埠社區健康中心",
        "Boston",
        "MA",
        "02111",
        35,
    ),
    (
        "lowell",
        "Lowell General Hospital – Saints Campus Vaccination Clinic at the Former Sears Store",
        "Lowell",
        "MA",
        "01852",
        96,
    ),
    ("nashua", "Nashua Clinic", "Nashua", "NH", "03060", 75),
    ("manchester", "Manchester Health Department", "Manchester", "NH", "03103", 150),
    ("portsmouth", "Pease Tradeport", "Portsmouth", "NH", "03801", 260),
    ("providence", "Dunkin' Donuts Center", "Providence", "RI", "02903", 1900),
    ("cranston", "Sockanosset Cross Road", "Cranston", "RI", "02920", 700),
    (
        "hartford",
        "Pratt & Whitney Stadium at Rentschler Field",
        "East Hartford",
        "CT",
        "06108",
        800,
    ),
    ("burlington", "University of Vermont Medical Center", "Burlington", "VT", "05401", 90),
    ("portland", "Portland Expo", "Portland", "ME", "04101", 330),
    ("san-juan", "Clínica Médica San José de Ñaña", "Lawrence", "MA", "01840", 44),
    ("munich", "Impfzentrum München-Riem (Messe)", "München", None, "81829", 512),
)


def make_alert(
    index: int = 0,
    *,
    alert_id: int | None = None,
    appointments: int | None = -1,
    booking_url: str | None = "",
    products: tuple[str, ...] = ("Moderna",),
    age_groups: tuple[str, ...] = ("65+",),
    dates: tuple[dt.date, ...] = (D(2021, 2, 25), D(2021, 2, 26), D(2021, 2, 27)),
) -> Alert:
    """The alert for ``PLACES[index]`` (its count unless ``appointments`` is given)."""
    place_id, name, city, state, postal, count = PLACES[index % len(PLACES)]
    n = count if appointments == -1 else appointments
    by_date: dict[dt.date, int | None] = {}
    if dates:
        share = None if n is None else n // len(dates)
        for day in dates:
            by_date[day] = share
        if n is not None:
            by_date[dates[0]] = n - (share or 0) * (len(dates) - 1)
    url = f"https://clinics.example.org/appointment/en/clinic/{place_id}?ref=notifier"
    return Alert(
        provider_id="ma-prepmod",
        location=Location(
            id=place_id,
            name=name,
            address="4 Jersey St" if place_id == "fenway" else None,
            city=city,
            state=state,
            postal_code=postal,
            country="DE" if place_id == "munich" else "US",
            booking_url=url if booking_url == "" else booking_url,
        ),
        kind="opened",
        appointments=n,
        increase=n,
        by_date=by_date,
        products=products,
        age_groups=age_groups,
        detected_at=NOW,
        expires_at=NOW + dt.timedelta(minutes=30),
        id=alert_id,
    )


def batch(count: int, *, first_id: int = 100) -> list[Alert]:
    """``count`` alerts for different places, with stored ids."""
    return [make_alert(i, alert_id=first_id + i) for i in range(count)]
