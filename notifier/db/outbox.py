"""The outbox operations the dispatcher runs: claim, mark, defer, expire, count.

Claims are leases: a claimed row is "sending" with ``claimed_at``; a worker that crashes
leaves it there, and once the lease runs out the row is due again (``attempts`` counts every
claim). On PostgreSQL the claim locks rows with ``FOR UPDATE SKIP LOCKED`` so concurrent workers
never take the same row; SQLite serializes writers, so a single ``UPDATE ... RETURNING`` is
atomic there. A delivery whose alert has expired is never claimed: stale news stays unsent.
Nor is one about a place whose latest good poll shows it full: before each claim those are
cancelled, so texts already released stop the moment a poll sees the place fill up.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, and_, func, literal, or_, select, update
from sqlalchemy.sql.elements import ColumnElement

from notifier.db._sql import chunks, is_postgres
from notifier.db.tables import (
    DeliveryState,
    alert_table,
    availability_table,
    delivery_table,
    location_table,
    subscriber_table,
)
from notifier.db.types import UtcDateTime, as_utc
from notifier.model import Alert, Location, Status
from notifier.privacy import mask_text

__all__ = [
    "ClaimedDelivery",
    "cancel_full",
    "claim_due",
    "defer",
    "delivery_counts",
    "expire_due",
    "finished_deliveries",
    "last_sent_at",
    "load_alerts",
    "mark_failed",
    "mark_retry",
    "mark_sent",
    "record_status_callback",
    "subscribers_of_message",
]

_SENDING = DeliveryState.SENDING.value
_PENDING = DeliveryState.PENDING.value


@dataclass(frozen=True, slots=True)
class ClaimedDelivery:
    """A delivery leased to one worker, with what it needs to render and schedule it."""

    id: int
    alert_id: int
    channel: str
    subscriber_id: int | None  # None for a broadcast
    recipient: str | None  # personal data: never log it
    attempts: int
    idempotency_key: str
    expires_at: dt.datetime
    wave: int
    alert: Alert
    locale: str = "en"
    time_zone: str | None = None
    quiet_start_hour: int | None = None
    quiet_end_hour: int | None = None
    digest_minutes: int | None = None


def _location(row: dict[str, Any]) -> Location:
    return Location(
        id=row["location_id"],
        name=row["name"],
        address=row["address"],
        city=row["city"],
        state=row["state"],
        postal_code=row["postal_code"],
        country=row["country"],
        lat=row["lat"],
        lon=row["lon"],
        time_zone=row["time_zone"],
        booking_url=row["booking_url"],
        phone=row["phone"],
    )


def load_alerts(conn: Connection, ids: Iterable[int]) -> dict[int, Alert]:
    """The stored alerts ``ids`` as ``notifier.model.Alert`` (location id = stored id)."""
    a, loc = alert_table, location_table
    wanted = sorted(set(ids))
    alerts: dict[int, Alert] = {}
    location_columns = [c for c in loc.c if c.name not in ("id", "provider_id", "source_id")]
    for part in chunks(wanted):
        query = (
            select(a, *location_columns)
            .join_from(a, loc, loc.c.id == a.c.location_id)
            .where(a.c.id.in_(part))
        )
        for row in conn.execute(query).mappings():
            data = dict(row)
            alerts[int(data["id"])] = Alert(
                provider_id=data["provider_id"],
                location=_location(data),
                kind=data["kind"],
                appointments=data["appointments"],
                increase=data["increase"],
                by_date={dt.date.fromisoformat(k): v for k, v in (data["by_date"] or {}).items()},
                products=tuple(data["products"] or ()),
                age_groups=tuple(data["age_groups"] or ()),
                detected_at=data["detected_at"],
                expires_at=data["expires_at"],
                valid_at=data["valid_at"],
                id=int(data["id"]),
            )
    return alerts


def _claim(
    conn: Connection, channel: str, due: ColumnElement[bool], limit: int, now: dt.datetime
) -> list[int]:
    d, a = delivery_table, alert_table
    live = (
        select(a.c.id)
        .where(a.c.id == d.c.alert_id, a.c.expires_at > literal(now, UtcDateTime))
        .exists()
    )
    # Round-robin across every due alert, each nearest first: a new alert's closest
    # subscribers must not wait behind the far end of an older wave, nor behind the many
    # close neighbours of a clinic in a denser town.
    pick = (
        select(d.c.id)
        .where(d.c.channel == channel, due, live)
        .order_by(d.c.rank, d.c.id)
        .limit(limit)
    )
    if is_postgres(conn):
        pick = pick.with_for_update(skip_locked=True, of=d)
    stmt = (
        update(d)
        .where(d.c.id.in_(pick.scalar_subquery()))
        .values(state=_SENDING, claimed_at=now, attempts=d.c.attempts + 1)
        .returning(d.c.id)
    )
    return [int(i) for i in conn.execute(stmt).scalars()]


def cancel_full(
    conn: Connection, channel: str, now: dt.datetime, *, abandoned_before: dt.datetime | None = None
) -> int:
    """Cancel the due and held deliveries of ``channel`` about places now full, and the
    abandoned claims (lease older than ``abandoned_before``) that would be claimed again.

    "Full" is the latest good poll's word (``availability.status``): an unknown poll never
    overwrites it, so a broken page cannot silence a place that is still open. Only live
    alerts are looked at, so this walks a handful of alerts, not the outbox.
    """
    d, a, av = delivery_table, alert_table, availability_table
    full = (
        select(a.c.id)
        .join(av, av.c.location_id == a.c.location_id)
        .where(
            a.c.expires_at > literal(as_utc(now), UtcDateTime),
            av.c.status == Status.NONE.value,
        )
        .scalar_subquery()
    )
    waiting: ColumnElement[bool] = d.c.state.in_((_PENDING, DeliveryState.HELD.value))
    if abandoned_before is not None:
        stale = literal(as_utc(abandoned_before), UtcDateTime)
        waiting = or_(waiting, and_(d.c.state == _SENDING, d.c.claimed_at <= stale))
    stmt = (
        update(d)
        .where(d.c.alert_id.in_(full), d.c.channel == channel, waiting)
        .values(state=DeliveryState.CANCELLED.value, claimed_at=None)
    )
    return int(conn.execute(stmt).rowcount)


def claim_due(
    conn: Connection, channel: str, *, limit: int, now: dt.datetime, lease_seconds: float
) -> list[ClaimedDelivery]:
    """Lease up to ``limit`` due deliveries of ``channel``: pending ones whose time has come,
    and "sending" ones whose lease expired (their worker died); round-robin across the due
    alerts, each alert's nearest recipients first."""
    d = delivery_table
    stamp = as_utc(now)
    cutoff = stamp - dt.timedelta(seconds=lease_seconds)
    cancel_full(conn, channel, stamp, abandoned_before=cutoff)
    # Two statements so each walks the (channel, state, rank, id) index in order.
    # "next_attempt_at IS NOT NULL" repeats the partial index predicate (always true here).
    abandoned = and_(
        d.c.state == _SENDING,
        d.c.next_attempt_at.is_not(None),
        d.c.claimed_at <= literal(cutoff, UtcDateTime),
    )
    ids = _claim(conn, channel, abandoned, limit, stamp)
    if len(ids) < limit:
        pending = and_(d.c.state == _PENDING, d.c.next_attempt_at <= literal(stamp, UtcDateTime))
        ids += _claim(conn, channel, pending, limit - len(ids), stamp)
    return _claimed_rows(conn, ids)


def _claimed_rows(conn: Connection, ids: Sequence[int]) -> list[ClaimedDelivery]:
    d, s, a = delivery_table, subscriber_table, alert_table
    rows: list[Any] = []
    for part in chunks(ids):
        query = (
            select(
                d,
                a.c.expires_at,
                s.c.locale,
                s.c.time_zone,
                s.c.quiet_start_hour,
                s.c.quiet_end_hour,
                s.c.digest_minutes,
            )
            .join_from(d, a, a.c.id == d.c.alert_id)
            .outerjoin(s, s.c.id == d.c.subscriber_id)
            .where(d.c.id.in_(part))
        )
        rows.extend(conn.execute(query).mappings())
    alerts = load_alerts(conn, {int(r["alert_id"]) for r in rows})
    rows.sort(key=lambda r: (r["next_attempt_at"] is None, r["next_attempt_at"], r["id"]))
    return [
        ClaimedDelivery(
            id=int(r["id"]),
            alert_id=int(r["alert_id"]),
            channel=r["channel"],
            subscriber_id=r["subscriber_id"],
            recipient=r["recipient"],
            attempts=int(r["attempts"]),
            idempotency_key=r["idempotency_key"],
            expires_at=r["expires_at"],
            wave=int(r["wave"]),
            alert=alerts[int(r["alert_id"])],
            locale=r["locale"] or "en",
            time_zone=r["time_zone"],
            quiet_start_hour=r["quiet_start_hour"],
            quiet_end_hour=r["quiet_end_hour"],
            digest_minutes=r["digest_minutes"],
        )
        for r in rows
    ]


def _update_ids(
    conn: Connection, ids: Sequence[int], states: tuple[str, ...], **values: object
) -> int:
    d = delivery_table
    changed = 0
    for part in chunks(list(ids)):
        stmt = update(d).where(d.c.id.in_(part), d.c.state.in_(states)).values(**values)
        changed += int(conn.execute(stmt).rowcount)
    return changed


def mark_sent(
    conn: Connection, ids: Sequence[int], provider_message_id: str | None, now: dt.datetime
) -> int:
    """Record a successful send (a batch send may share one provider message id)."""
    return _update_ids(
        conn,
        ids,
        (_SENDING, _PENDING),
        state=DeliveryState.SENT.value,
        sent_at=as_utc(now),
        provider_message_id=provider_message_id,
        last_error=None,
    )


def mark_retry(
    conn: Connection, ids: Sequence[int], error: str, next_attempt_at: dt.datetime
) -> int:
    """A transient failure: back to pending, due again at ``next_attempt_at``."""
    return _update_ids(
        conn,
        ids,
        (_SENDING,),
        state=_PENDING,
        next_attempt_at=as_utc(next_attempt_at),
        claimed_at=None,
        last_error=mask_text(error),
    )


def mark_expired(conn: Connection, ids: Sequence[int]) -> int:
    """Claimed deliveries whose alert expired before they could be sent: dropped, not sent."""
    return _update_ids(
        conn, ids, (_SENDING, _PENDING), state=DeliveryState.EXPIRED.value, claimed_at=None
    )


def mark_failed(conn: Connection, ids: Sequence[int], error: str) -> int:
    """A permanent failure: never retried."""
    return _update_ids(
        conn,
        ids,
        (_SENDING, _PENDING),
        state=DeliveryState.FAILED.value,
        claimed_at=None,
        last_error=mask_text(error),
    )


def defer(conn: Connection, ids: Sequence[int], until: dt.datetime) -> int:
    """Put claimed deliveries back until ``until`` (quiet hours) without using up an attempt."""
    d = delivery_table
    return _update_ids(
        conn,
        ids,
        (_SENDING, _PENDING),
        state=_PENDING,
        next_attempt_at=as_utc(until),
        claimed_at=None,
        attempts=func.max(d.c.attempts - 1, 0)
        if conn.dialect.name == "sqlite"
        else func.greatest(d.c.attempts - 1, 0),
    )


def last_sent_at(conn: Connection, channel: str, subscriber_id: int) -> dt.datetime | None:
    """When ``channel`` last sent this subscriber something (for digests), or None."""
    d = delivery_table
    query = select(func.max(d.c.sent_at)).where(
        d.c.subscriber_id == subscriber_id,
        d.c.channel == channel,
        d.c.state == DeliveryState.SENT.value,
    )
    found = conn.execute(query).scalar_one_or_none()
    return as_utc(found) if found is not None else None


def expire_due(conn: Connection, now: dt.datetime) -> int:
    """Pending and held deliveries of expired alerts become "expired" (never sent late)."""
    d, a = delivery_table, alert_table
    expired = select(a.c.id).where(a.c.expires_at <= literal(as_utc(now), UtcDateTime))
    stmt = (
        update(d)
        .where(
            d.c.state.in_((_PENDING, DeliveryState.HELD.value)),
            d.c.alert_id.in_(expired.scalar_subquery()),
        )
        .values(state=DeliveryState.EXPIRED.value, claimed_at=None)
    )
    return int(conn.execute(stmt).rowcount)


def record_status_callback(
    conn: Connection, channel: str, provider_message_id: str, status: str
) -> int:
    """Store a provider's delivery report (e.g. Twilio "delivered" / "undelivered")."""
    d = delivery_table
    stmt = (
        update(d)
        .where(d.c.channel == channel, d.c.provider_message_id == provider_message_id)
        .values(status_callback=status)
    )
    return int(conn.execute(stmt).rowcount)


def delivery_counts(
    conn: Connection, since: dt.datetime | None = None
) -> dict[tuple[str, str], int]:
    """Number of deliveries per (channel, state), of those created since ``since`` if given."""
    d = delivery_table
    query = select(d.c.channel, d.c.state, func.count()).group_by(d.c.channel, d.c.state)
    if since is not None:
        query = query.where(d.c.created_at >= as_utc(since))
    return {(channel, state): int(n) for channel, state, n in conn.execute(query)}


def finished_deliveries(conn: Connection) -> dict[str, tuple[int, int]]:
    """channel -> (sent, failed): every delivery that ever finished, for the failure-rate
    watch. "next_attempt_at IS NOT NULL" (always true of a finished delivery) lets both
    databases count along the partial (channel, state) claim index."""
    d = delivery_table
    finished = (DeliveryState.SENT.value, DeliveryState.FAILED.value)
    query = (
        select(d.c.channel, d.c.state, func.count())
        .where(d.c.state.in_(finished), d.c.next_attempt_at.is_not(None))
        .group_by(d.c.channel, d.c.state)
    )
    totals: dict[str, tuple[int, int]] = {}
    for channel, state, count in conn.execute(query):
        sent, failed = totals.get(channel, (0, 0))
        if state == DeliveryState.SENT.value:
            sent = int(count)
        else:
            failed = int(count)
        totals[channel] = (sent, failed)
    return totals


def subscribers_of_message(conn: Connection, channel: str, provider_message_id: str) -> list[int]:
    """The subscribers a provider's message id was sent to (for its delivery reports)."""
    d = delivery_table
    query = select(d.c.subscriber_id).where(
        d.c.channel == channel,
        d.c.provider_message_id == provider_message_id,
        d.c.subscriber_id.is_not(None),
    )
    return sorted({int(i) for i in conn.execute(query).scalars()})
