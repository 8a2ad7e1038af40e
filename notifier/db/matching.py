"""The SQL that decides who an alert reaches: eligibility, filters, caps and geometry.

Everything here builds SQLAlchemy expressions over the ``subscriber`` table for
``notifier.db.fanout``; nothing executes except ``max_radius``. Distances are great-circle
(haversine) miles computed in SQL: SQLite's math functions (registered from Python by
``make_engine`` on builds without them) and PostgreSQL's.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, and_, bindparam, case, func, literal, or_, select, text

from notifier.db._sql import is_postgres
from notifier.db.tables import (
    DeliveryState,
    delivery_table,
    eligibility_group_table,
    subscriber_table,
)
from notifier.db.types import UtcDateTime
from notifier.geo import EARTH_RADIUS_MILES
from notifier.model import Alert

__all__ = [
    "DAILY_CAP_WINDOW",
    "distance_sql",
    "eligibility",
    "filter_sql",
    "max_radius",
    "open_group_sql",
    "outer_box",
    "within_reach",
]

# "Per day" is a rolling 24 hours: no per-subscriber time zone arithmetic inside the SQL.
DAILY_CAP_WINDOW = dt.timedelta(hours=24)
# Deliveries that count against a subscriber's daily cap (held ones may never be sent).
_CAP_STATES = (DeliveryState.PENDING.value, DeliveryState.SENDING.value, DeliveryState.SENT.value)
_MILES_PER_DEGREE_LAT = math.pi * EARTH_RADIUS_MILES / 180.0
_BOX_MARGIN = 1.001  # a hair of slack so float rounding never drops a subscriber on the edge


def _sin_squared(angle: Any) -> Any:
    # PostgreSQL raises "value out of range: underflow" instead of rounding to 0 when squaring
    # a tiny sine (coordinates that differ by ~1e-160 degrees); such terms are 0 for us.
    return case((func.abs(angle) < 1e-12, 0.0), else_=func.sin(angle) * func.sin(angle))


def distance_sql(conn: Connection, lat: Any, lon: Any, lat0: float, lon0: float) -> Any:
    """Haversine miles from (lat0, lon0) to the columns, in SQL (SQLite math functions are
    registered by ``make_engine`` when the build lacks them)."""
    lat0_rad, lon0_rad = math.radians(lat0), math.radians(lon0)
    a = _sin_squared((func.radians(lat) - lat0_rad) / 2.0) + math.cos(lat0_rad) * func.cos(
        func.radians(lat)
    ) * _sin_squared((func.radians(lon) - lon0_rad) / 2.0)
    # Rounding can push ``a`` a hair above 1, outside asin's domain.
    clamped = func.least(a, 1.0) if is_postgres(conn) else func.min(a, 1.0)
    miles = 2.0 * EARTH_RADIUS_MILES * func.asin(func.sqrt(clamped))
    # No coordinates, no distance. PostgreSQL's LEAST skips NULLs (LEAST(NULL, 1) is 1), which
    # would place a subscriber without coordinates 12,437 miles away; say NULL outright.
    return case((or_(lat.is_(None), lon.is_(None)), None), else_=miles)


def outer_box(lat0: float, lon0: float, radius: float) -> tuple[float, float, float, float]:
    """(lat_min, lat_max, lon_min, lon_max) containing every point within ``radius`` miles;
    the longitude span is the full circle near the poles or across the antimeridian."""
    radius *= _BOX_MARGIN
    dlat = radius / _MILES_PER_DEGREE_LAT
    angular = radius / EARTH_RADIUS_MILES
    ratio = math.sin(min(angular, math.pi / 2)) / max(math.cos(math.radians(lat0)), 1e-12)
    if ratio >= 1.0 or angular >= math.pi / 2:
        return (lat0 - dlat, lat0 + dlat, -180.0, 180.0)
    dlon = math.degrees(math.asin(ratio)) * _BOX_MARGIN
    if lon0 - dlon < -180.0 or lon0 + dlon > 180.0:
        return (lat0 - dlat, lat0 + dlat, -180.0, 180.0)
    return (lat0 - dlat, lat0 + dlat, lon0 - dlon, lon0 + dlon)


def filter_sql(conn: Connection, key: str, values: Sequence[str]) -> Any:
    """Subscriber filter ``key`` accepts the alert: no filter, an empty list, or an overlap.

    An alert that does not name any value (source gives no products) matches everyone:
    telling someone about a clinic that may have their product beats silence.
    """
    if not values:
        return None
    param = f"filter_{key}"
    if is_postgres(conn):
        # A value that is not a list counts as "no filter" (as json_array_length does on
        # SQLite) instead of failing the whole fan-out on one bad row.
        sql = (
            f"(subscriber.filters IS NULL"
            f" OR jsonb_typeof(subscriber.filters -> '{key}') IS DISTINCT FROM 'array'"
            f" OR subscriber.filters -> '{key}' = '[]'::jsonb"
            f" OR (subscriber.filters -> '{key}') ?| CAST(:{param} AS TEXT[]))"
        )
        return text(sql).bindparams(bindparam(param, list(values)))
    sql = (
        f"(subscriber.filters IS NULL"
        f" OR coalesce(json_array_length(subscriber.filters, '$.{key}'), 0) = 0"
        f" OR EXISTS (SELECT 1 FROM json_each(subscriber.filters, '$.{key}') AS f"
        f" WHERE f.value IN :{param}))"
    )
    return text(sql).bindparams(bindparam(param, list(values), expanding=True))


def max_radius(conn: Connection, channel: str) -> float:
    s = subscriber_table
    found = conn.execute(
        select(func.max(s.c.radius_miles)).where(s.c.channel == channel)
    ).scalar_one()
    return float(found or 0.0)


def eligibility(conn: Connection, alert: Alert, channel: str, now: dt.datetime) -> list[Any]:
    """Who may get this alert at all (cheap column tests first, JSON and the cap last)."""
    s, d = subscriber_table, delivery_table
    conditions: list[Any] = [
        s.c.channel == channel,
        s.c.confirmed_at.is_not(None),
        s.c.opted_out_at.is_(None),
        s.c.invalid_at.is_(None),
        open_group_sql(),
    ]
    for key, values in (("products", alert.products), ("age_groups", alert.age_groups)):
        clause = filter_sql(conn, key, values)
        if clause is not None:
            conditions.append(clause)
    sent_recently = (
        select(func.count())
        .where(
            d.c.subscriber_id == s.c.id,
            d.c.next_attempt_at.is_not(None),  # the partial index predicate; held rows skip
            d.c.state.in_(_CAP_STATES),
            d.c.created_at >= literal(now - DAILY_CAP_WINDOW, UtcDateTime),
        )
        .correlate(s)
        .scalar_subquery()
    )
    conditions.append(or_(s.c.max_per_day.is_(None), sent_recently < s.c.max_per_day))
    return conditions


def open_group_sql() -> Any:
    """The subscriber pre-registered in no group, or in one an operator has opened."""
    s, g = subscriber_table, eligibility_group_table
    opened = select(g.c.name).where(g.c.opened_at.is_not(None))
    return or_(s.c.eligibility_group.is_(None), s.c.eligibility_group.in_(opened))


def within_reach(lat0: float, lon0: float, max_radius: float) -> Any:
    """Outer box on the indexed lat/lon, then each subscriber's own (radius-sized) box.

    Both boxes contain the whole circle, so they only save work: the exact distance test
    follows. The per-subscriber longitude bound uses asin(x) <= x / sqrt(1 - x^2). The test is
    never NULL (a missing coordinate or radius makes it false), so the fan-out can negate it.
    """
    s = subscriber_table
    lat_min, lat_max, lon_min, lon_max = outer_box(lat0, lon0, max_radius)
    terms: list[Any] = [
        s.c.lat.is_not(None),
        s.c.lon.is_not(None),
        s.c.lat.between(lat_min, lat_max),
        s.c.lon.between(lon_min, lon_max),
        s.c.radius_miles.is_not(None),
        func.abs(s.c.lat - lat0) <= s.c.radius_miles * (_BOX_MARGIN / _MILES_PER_DEGREE_LAT),
    ]
    cos_lat = math.cos(math.radians(lat0))
    x_max = math.sin(min(max_radius * _BOX_MARGIN / EARTH_RADIUS_MILES, 1.0)) / max(cos_lat, 1e-12)
    if x_max < 0.5 and lon_max - lon_min < 360.0:  # away from poles and the antimeridian
        per_mile = _BOX_MARGIN / (_MILES_PER_DEGREE_LAT * cos_lat * math.sqrt(1 - x_max**2))
        terms.append(func.abs(s.c.lon - lon0) <= s.c.radius_miles * per_mile)
    return and_(*terms)
