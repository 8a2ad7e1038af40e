"""Subscribers: double opt-in sign-up, confirmation, opt-out/in, invalid addresses, bulk load.

A subscriber receives nothing until confirmed. Opting out or being marked invalid also
cancels that subscriber's queued (pending/held) deliveries at once. Addresses are personal
data: errors raised here never include them.
"""

from __future__ import annotations

import datetime as dt
import re
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, delete, insert, select, update

from notifier.db._sql import chunks
from notifier.db.bulk import bulk_insert_subscribers
from notifier.db.tables import DeliveryState, delivery_table, notice_table, subscriber_table
from notifier.db.types import as_utc
from notifier.geo import lookup_postal_code, normalize_postal_code

__all__ = [
    "SubscriberRow",
    "add_subscriber",
    "bulk_insert_subscribers",
    "channel_and_locale",
    "confirm",
    "confirm_token_for",
    "delete_subscriber",
    "find_by_address",
    "locale_for_confirm_token",
    "mark_invalid",
    "new_confirm_token",
    "normalize_address",
    "opt_in",
    "opt_out",
    "opt_out_ids",
    "subscriber_values",
]

FILTER_KEYS = ("products", "age_groups", "dose")
_LOCALE = re.compile(r"^[a-z]{2}(?:-[A-Z]{2})?$")
_PHONE_SEPARATORS = re.compile(r"[\s().-]")


@dataclass(frozen=True, slots=True)
class SubscriberRow:
    id: int
    channel: str
    address: str  # personal data: never log it
    locale: str
    confirmed_at: dt.datetime | None
    postal_code: str | None
    lat: float | None
    lon: float | None
    radius_miles: float | None
    region: str | None
    filters: Mapping[str, Any] | None
    opted_out_at: dt.datetime | None
    invalid_at: dt.datetime | None
    max_per_day: int | None
    quiet_start_hour: int | None
    quiet_end_hour: int | None
    time_zone: str | None
    digest_minutes: int | None
    created_at: dt.datetime
    eligibility_group: str | None = None

    @property
    def active(self) -> bool:
        return self.confirmed_at is not None and self.opted_out_at is None and not self.invalid_at


def _now(now: dt.datetime | None) -> dt.datetime:
    return as_utc(now) if now is not None else dt.datetime.now(dt.UTC)


def normalize_address(channel: str, address: str) -> str:
    """One spelling per address, so the (channel, address) uniqueness means something."""
    value = address.strip()
    if not value:
        raise ValueError("empty address")
    if "@" in value:
        return value.lower()
    if channel == "sms":
        return _PHONE_SEPARATORS.sub("", value)
    return value


def _check_filters(filters: Mapping[str, Any] | None) -> dict[str, Any] | None:
    if not filters:
        return None
    unknown = set(filters) - set(FILTER_KEYS)
    if unknown:
        raise ValueError(f"unknown filter keys: {sorted(unknown)} (allowed: {FILTER_KEYS})")
    clean: dict[str, Any] = {}
    for key in ("products", "age_groups"):
        values = filters.get(key) or []
        if isinstance(values, str) or not all(isinstance(v, str) for v in values):
            raise ValueError(f"filter {key!r} must be a list of strings")
        clean[key] = list(dict.fromkeys(values))
    if filters.get("dose") is not None:
        clean["dose"] = filters["dose"]
    return clean


def _check_hour(name: str, hour: int | None) -> None:
    if hour is not None and not 0 <= hour <= 23:
        raise ValueError(f"{name} must be an hour 0-23, got {hour}")


def subscriber_values(
    *,
    postal_code: str | None = None,
    country: str = "US",
    radius_miles: float | None = None,
    region: str | None = None,
    locale: str = "en",
    filters: Mapping[str, Any] | None = None,
    max_per_day: int | None = None,
    quiet_start_hour: int | None = None,
    quiet_end_hour: int | None = None,
    time_zone: str | None = None,
    digest_minutes: int | None = None,
    eligibility_group: str | None = None,
) -> dict[str, Any]:
    """The checked, geocoded preference columns of a sign-up (pure; ValueError if invalid).

    The postal code is geocoded offline (centroid and time zone)."""
    if not _LOCALE.match(locale):
        raise ValueError(f"bad locale {locale!r}")
    if radius_miles is not None and radius_miles <= 0:
        raise ValueError("radius_miles must be positive")
    if max_per_day is not None and max_per_day < 1:
        raise ValueError("max_per_day must be at least 1")
    _check_hour("quiet_start_hour", quiet_start_hour)
    _check_hour("quiet_end_hour", quiet_end_hour)
    lat = lon = None
    code = normalize_postal_code(postal_code, country) if postal_code else None
    if postal_code:
        place = lookup_postal_code(code, country)
        if place is None:
            raise ValueError(f"unknown postal code {postal_code!r} for {country}")
        lat, lon, time_zone = place.lat, place.lon, time_zone or place.time_zone
    if radius_miles is not None and lat is None:
        raise ValueError("a radius needs a postal code to measure from")
    if radius_miles is None and region is None:
        raise ValueError("give a postal code with a radius, or a region")
    return {
        "locale": locale,
        "postal_code": code,
        "lat": lat,
        "lon": lon,
        "radius_miles": radius_miles,
        "region": region.upper() if region else None,
        "filters": _check_filters(filters),
        "max_per_day": max_per_day,
        "quiet_start_hour": quiet_start_hour,
        "quiet_end_hour": quiet_end_hour,
        "time_zone": time_zone,
        "digest_minutes": digest_minutes,
        "eligibility_group": eligibility_group,
    }


def add_subscriber(
    conn: Connection,
    *,
    channel: str,
    address: str,
    now: dt.datetime | None = None,
    **preferences: Any,
) -> tuple[int, str]:
    """Sign up (or update) a subscriber; returns ``(id, confirm_token)``.

    ``preferences`` are those of ``subscriber_values``. A new or lapsed (opted-out, invalid)
    subscriber must confirm with the token before anything is sent; an already confirmed
    subscriber keeps receiving alerts with the updated preferences.
    """
    stamp = _now(now)
    address = normalize_address(channel, address)
    values = subscriber_values(**preferences)
    existing = find_by_address(conn, channel, address)
    token = new_confirm_token()
    s = subscriber_table
    if existing is None:
        new_id = conn.execute(
            insert(s)
            .values(
                channel=channel, address=address, created_at=stamp, confirm_token=token, **values
            )
            .returning(s.c.id)
        ).scalar_one()
        return int(new_id), token
    if not existing.active:  # lapsed or never confirmed: confirm (again) before sending
        values.update(confirmed_at=None, opted_out_at=None, invalid_at=None)
    conn.execute(update(s).where(s.c.id == existing.id).values(confirm_token=token, **values))
    return existing.id, token


def new_confirm_token() -> str:
    return secrets.token_urlsafe(18)


def confirm(conn: Connection, token: str, now: dt.datetime | None = None) -> int | None:
    """Confirm the subscription holding ``token``; returns its id, or None if unknown."""
    s = subscriber_table
    found = conn.execute(
        update(s)
        .where(s.c.confirm_token == token)
        .values(confirmed_at=_now(now), confirm_token=None, opted_out_at=None)
        .returning(s.c.id)
    ).scalar_one_or_none()
    return int(found) if found is not None else None


def _cancel_queued(conn: Connection, subscriber_ids: Sequence[int]) -> None:
    d = delivery_table
    queued = (DeliveryState.PENDING.value, DeliveryState.HELD.value)
    for part in chunks(list(subscriber_ids)):
        conn.execute(
            update(d)
            .where(d.c.subscriber_id.in_(part), d.c.state.in_(queued))
            .values(state=DeliveryState.CANCELLED.value)
        )


def opt_out_ids(conn: Connection, subscriber_ids: Sequence[int], now: dt.datetime) -> int:
    """Opt out by id (a channel reported the recipient unsubscribed); cancels queued sends."""
    s = subscriber_table
    changed = 0
    for part in chunks(list(subscriber_ids)):
        stmt = update(s).where(s.c.id.in_(part), s.c.opted_out_at.is_(None))
        changed += int(conn.execute(stmt.values(opted_out_at=as_utc(now))).rowcount)
    _cancel_queued(conn, subscriber_ids)
    return changed


def opt_out(conn: Connection, channel: str, address: str, now: dt.datetime) -> bool:
    """STOP / unsubscribe link. Returns False if no such subscriber."""
    found = find_by_address(conn, channel, address)
    if found is None:
        return False
    opt_out_ids(conn, [found.id], now)
    return True


def opt_in(conn: Connection, channel: str, address: str, now: dt.datetime) -> bool:
    """START after STOP: resumes a subscriber who had confirmed before. Returns True if the
    subscriber is active afterwards (an unconfirmed one still needs its confirmation)."""
    found = find_by_address(conn, channel, address)
    if found is None or found.confirmed_at is None:
        return False
    s = subscriber_table
    conn.execute(update(s).where(s.c.id == found.id).values(opted_out_at=None))
    return found.invalid_at is None


def mark_invalid(conn: Connection, subscriber_ids: Sequence[int], now: dt.datetime) -> int:
    """The channel says the address cannot receive (bounced, not a mobile number)."""
    s = subscriber_table
    changed = 0
    for part in chunks(list(subscriber_ids)):
        stmt = update(s).where(s.c.id.in_(part), s.c.invalid_at.is_(None))
        changed += int(conn.execute(stmt.values(invalid_at=as_utc(now))).rowcount)
    _cancel_queued(conn, subscriber_ids)
    return changed


def delete_subscriber(conn: Connection, subscriber_id: int) -> bool:
    """Erase a subscriber and every delivery addressed to them (their copy of the address)."""
    d, s = delivery_table, subscriber_table
    conn.execute(delete(d).where(d.c.subscriber_id == subscriber_id))
    conn.execute(delete(notice_table).where(notice_table.c.subscriber_id == subscriber_id))
    return bool(conn.execute(delete(s).where(s.c.id == subscriber_id)).rowcount)


def find_by_address(conn: Connection, channel: str, address: str) -> SubscriberRow | None:
    s = subscriber_table
    address = normalize_address(channel, address)
    row = (
        conn.execute(select(s).where(s.c.channel == channel, s.c.address == address))
        .mappings()
        .first()
    )
    if row is None:
        return None
    fields = {name: row[name] for name in SubscriberRow.__slots__}
    return SubscriberRow(**fields)


def channel_and_locale(conn: Connection, subscriber_id: int) -> tuple[str, str | None] | None:
    """A subscriber's channel and language, or None when there is no such subscriber."""
    s = subscriber_table
    row = conn.execute(select(s.c.channel, s.c.locale).where(s.c.id == subscriber_id)).first()
    return (str(row.channel), row.locale) if row is not None else None


def locale_for_confirm_token(conn: Connection, token: str) -> str | None:
    """The language of the sign-up this confirmation token belongs to (None: unknown token)."""
    s = subscriber_table
    found = conn.execute(select(s.c.locale).where(s.c.confirm_token == token)).scalar()
    return str(found) if found is not None else None


def confirm_token_for(conn: Connection, channel: str, address: str) -> str | None:
    """The confirmation token of an address's sign-up (``SubscriberRow`` does not carry it)."""
    s = subscriber_table
    query = select(s.c.confirm_token).where(
        s.c.channel == channel, s.c.address == normalize_address(channel, address)
    )
    token = conn.execute(query).scalar_one_or_none()
    return str(token) if token else None
