"""Web sign-ups and the manage page: many sign-ups per transaction, preference changes, counts.

``write_signups`` stores a batch of already validated sign-ups in the caller's transaction
(the web app's group-commit writer calls it once per batch). Each new or lapsed subscriber
gets a fresh confirmation token and one queued confirmation message; nothing else reaches them
until they confirm. An address that is already active is left exactly as it is: a stranger
typing someone's number must not be able to change their subscription.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, case, func, select, update

from notifier.db import notices, subscribers
from notifier.db.tables import subscriber_table
from notifier.db.types import as_utc
from notifier.geo import lookup_postal_code, normalize_postal_code

__all__ = [
    "Preferences",
    "SignupOutcome",
    "SignupRequest",
    "subscriber_counts",
    "update_preferences",
    "write_signups",
]


@dataclass(frozen=True, slots=True)
class SignupRequest:
    """One validated sign-up. ``address`` is personal data: never log it."""

    channel: str
    address: str
    postal_code: str
    country: str
    radius_miles: float
    locale: str
    filters: Mapping[str, Any] | None = None
    eligibility_group: str | None = None


@dataclass(frozen=True, slots=True)
class SignupOutcome:
    subscriber_id: int
    #: "pending": a confirmation is on its way; "active": already subscribed, nothing changed
    status: str


@dataclass(frozen=True, slots=True)
class Preferences:
    """What the manage page may change."""

    postal_code: str
    country: str
    radius_miles: float
    filters: Mapping[str, Any] | None = None
    eligibility_group: str | None = None
    digest_minutes: int | None = None
    quiet_start_hour: int | None = None
    quiet_end_hour: int | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)


def write_signups(
    conn: Connection, requests: Sequence[SignupRequest], now: dt.datetime
) -> list[SignupOutcome | ValueError]:
    """Store ``requests`` (in order) and queue their confirmations; one outcome each.

    A request the storage rules refuse gets its ``ValueError`` as its outcome; those rules
    are checked before anything is written, so its neighbours in the batch are unaffected.
    """
    outcomes: list[SignupOutcome | ValueError] = []
    for request in requests:
        found = subscribers.find_by_address(conn, request.channel, request.address)
        if found is not None and found.active:
            outcomes.append(SignupOutcome(found.id, "active"))
            continue
        try:
            subscriber_id, token = subscribers.add_subscriber(
                conn,
                channel=request.channel,
                address=request.address,
                postal_code=request.postal_code,
                country=request.country,
                radius_miles=request.radius_miles,
                locale=request.locale,
                filters=request.filters,
                eligibility_group=request.eligibility_group,
                now=now,
            )
        except ValueError as exc:
            outcomes.append(exc)
            continue
        notices.enqueue_confirm(conn, subscriber_id, request.channel, token, now)
        outcomes.append(SignupOutcome(subscriber_id, "pending"))
    return outcomes


def load_subscriber(conn: Connection, subscriber_id: int) -> subscribers.SubscriberRow | None:
    s = subscriber_table
    row = conn.execute(select(s).where(s.c.id == subscriber_id)).mappings().first()
    if row is None:
        return None
    return subscribers.SubscriberRow(**{n: row[n] for n in subscribers.SubscriberRow.__slots__})


def update_preferences(conn: Connection, subscriber_id: int, prefs: Preferences) -> bool:
    """Change area, filters, group, digest and quiet hours; False if the subscriber is gone."""
    code = normalize_postal_code(prefs.postal_code, prefs.country)
    place = lookup_postal_code(code, prefs.country)
    if place is None:
        raise ValueError(f"unknown postal code for {prefs.country}")
    s = subscriber_table
    result = conn.execute(
        update(s)
        .where(s.c.id == subscriber_id)
        .values(
            postal_code=code,
            lat=place.lat,
            lon=place.lon,
            time_zone=place.time_zone,
            radius_miles=prefs.radius_miles,
            filters=dict(prefs.filters) if prefs.filters else None,
            eligibility_group=prefs.eligibility_group,
            digest_minutes=prefs.digest_minutes,
            quiet_start_hour=prefs.quiet_start_hour,
            quiet_end_hour=prefs.quiet_end_hour,
        )
    )
    return bool(result.rowcount)


def subscriber_counts(conn: Connection) -> list[dict[str, Any]]:
    """Subscribers by region and channel, split into active, pending and left (admin API).

    The region is the named region, else the postal code's (state / Bundesland)."""
    s = subscriber_table
    active = s.c.confirmed_at.is_not(None) & s.c.opted_out_at.is_(None) & s.c.invalid_at.is_(None)
    pending = s.c.confirmed_at.is_(None) & s.c.opted_out_at.is_(None) & s.c.invalid_at.is_(None)
    rows = conn.execute(
        select(
            s.c.channel,
            s.c.region,
            s.c.postal_code,
            func.sum(case((active, 1), else_=0)),
            func.sum(case((pending, 1), else_=0)),
            func.count(),
        ).group_by(s.c.channel, s.c.region, s.c.postal_code)
    )
    totals: dict[tuple[str, str], list[int]] = {}
    for channel, region, postal_code, n_active, n_pending, n_all in rows:
        name = region or _region_of(postal_code) or "unknown"
        entry = totals.setdefault((str(channel), name), [0, 0, 0])
        entry[0] += int(n_active or 0)
        entry[1] += int(n_pending or 0)
        entry[2] += int(n_all)
    return [
        {
            "channel": channel,
            "region": region,
            "active": a,
            "pending": p,
            "left": n - a - p,
        }
        for (channel, region), (a, p, n) in sorted(totals.items())
    ]


def _region_of(postal_code: str | None) -> str | None:
    if not postal_code:
        return None
    place = lookup_postal_code(postal_code, "US") or lookup_postal_code(postal_code, "DE")
    return place.state if place is not None else None


def confirmed_since(conn: Connection, since: dt.datetime) -> int:
    s = subscriber_table
    query = select(func.count()).where(s.c.confirmed_at >= as_utc(since))
    return int(conn.execute(query).scalar_one())
