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
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, case, func, insert, select, update

from notifier.db import notices, subscribers
from notifier.db._sql import chunks
from notifier.db.tables import subscriber_table
from notifier.db.types import as_utc
from notifier.geo import lookup_postal_code, normalize_postal_code, stored_postal_country

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


def write_signups(
    conn: Connection, requests: Sequence[SignupRequest], now: dt.datetime
) -> list[SignupOutcome | ValueError]:
    """Store ``requests`` (in order) and queue their confirmations; one outcome each.

    A request the storage rules refuse gets its ``ValueError`` as its outcome; those rules
    are checked before anything is written, so its neighbours in the batch are unaffected.
    New addresses (the usual case in a rush) are written with one multi-row INSERT for the
    subscribers and one for their confirmations; an address seen before takes the careful
    one-row path of ``subscribers.add_subscriber``.
    """
    stamp = as_utc(now)
    outcomes: list[SignupOutcome | ValueError | None] = [None] * len(requests)
    keys = [(r.channel, subscribers.normalize_address(r.channel, r.address)) for r in requests]
    known = _known_addresses(conn, keys)
    fresh: list[tuple[int, dict[str, Any]]] = []
    later: list[int] = []
    seen: set[tuple[str, str]] = set()
    for index, (request, key) in enumerate(zip(requests, keys, strict=True)):
        if key in known or key in seen:
            later.append(index)
            continue
        try:
            values = subscribers.subscriber_values(**_preferences(request))
        except ValueError as exc:
            outcomes[index] = exc
            continue
        seen.add(key)
        row = {
            "channel": key[0],
            "address": key[1],
            "created_at": stamp,
            "confirm_token": subscribers.new_confirm_token(),
            **values,
        }
        fresh.append((index, row))
    if fresh:
        s = subscriber_table
        inserted = conn.execute(
            insert(s).returning(s.c.id, sort_by_parameter_order=True), [row for _, row in fresh]
        ).scalars()
        ids = [int(i) for i in inserted]
        notices.enqueue_confirms(
            conn,
            [
                (sid, row["channel"], row["confirm_token"])
                for sid, (_, row) in zip(ids, fresh, strict=True)
            ],
            stamp,
        )
        for sid, (index, _) in zip(ids, fresh, strict=True):
            outcomes[index] = SignupOutcome(sid, "pending")
    for index in later:
        outcomes[index] = _write_one(conn, requests[index], known.get(keys[index]), stamp)
    return [o if o is not None else ValueError("not written") for o in outcomes]


def _preferences(request: SignupRequest) -> dict[str, Any]:
    return {
        "postal_code": request.postal_code,
        "country": request.country,
        "radius_miles": request.radius_miles,
        "locale": request.locale,
        "filters": request.filters,
        "eligibility_group": request.eligibility_group,
    }


def _known_addresses(
    conn: Connection, keys: Sequence[tuple[str, str]]
) -> dict[tuple[str, str], bool]:
    """(channel, address) -> whether that subscriber is active, for those already stored."""
    s = subscriber_table
    active = s.c.confirmed_at.is_not(None) & s.c.opted_out_at.is_(None) & s.c.invalid_at.is_(None)
    found: dict[tuple[str, str], bool] = {}
    for channel in sorted({c for c, _ in keys}):
        addresses = sorted({a for c, a in keys if c == channel})
        for part in chunks(addresses):
            query = select(s.c.address, active).where(s.c.channel == channel, s.c.address.in_(part))
            for address, is_active in conn.execute(query):
                found[(channel, str(address))] = bool(is_active)
    return found


def _write_one(
    conn: Connection, request: SignupRequest, was_active: bool | None, now: dt.datetime
) -> SignupOutcome | ValueError:
    found = subscribers.find_by_address(conn, request.channel, request.address)
    if found is not None and found.active:
        # A stranger typing someone's address must not change their subscription.
        return SignupOutcome(found.id, "active")
    try:
        subscriber_id, token = subscribers.add_subscriber(
            conn,
            channel=request.channel,
            address=request.address,
            now=now,
            **_preferences(request),
        )
    except ValueError as exc:
        return exc
    notices.enqueue_confirm(conn, subscriber_id, request.channel, token, now)
    return SignupOutcome(subscriber_id, "pending")


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
            s.c.lat,
            s.c.lon,
            func.sum(case((active, 1), else_=0)),
            func.sum(case((pending, 1), else_=0)),
            func.count(),
        ).group_by(s.c.channel, s.c.region, s.c.postal_code, s.c.lat, s.c.lon)
    )
    totals: dict[tuple[str, str], list[int]] = {}
    for channel, region, postal_code, lat, lon, n_active, n_pending, n_all in rows:
        name = region or _region_of(postal_code, lat, lon) or "unknown"
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


def _region_of(postal_code: str | None, lat: float | None, lon: float | None) -> str | None:
    """The state of a stored postal code, read in the country it was geocoded in (the same
    digits are a ZIP and a PLZ: 50667 is Iowa, or Nordrhein-Westfalen)."""
    if not postal_code:
        return None
    country = stored_postal_country(postal_code, lat=lat, lon=lon)
    place = lookup_postal_code(postal_code, country)
    return place.state if place is not None else None
