"""The notice outbox: messages that are not slot alerts, one per subscriber.

Two kinds: ``confirm`` (the double opt-in text or email a web sign-up triggers; nothing else is
sent to an unconfirmed subscriber) and ``eligibility_opened`` (an operator opened the group a
person pre-registered in). Opening a group plans its notices with one ``INSERT ... SELECT``,
ranked nearest first from a reference point (the same haversine SQL as the alert fan-out) and
cut into waves: wave ``n`` becomes due ``(n - 1) × wave_interval`` after the opening, so the
nearest people hear first and a booking site is not flooded by a whole state at once.

Claims are leases, as in ``notifier.db.outbox``: a claimed row is "sending" with
``claimed_at``, and a lease that runs out makes it due again.

Multi-node mode hears of new notices in the transaction that writes them
(``on_notices_written``: it defers the job that sends them on the same connection) and finds
the rest, later waves and retries, with ``channels_with_due_notices``.
"""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any
from weakref import WeakKeyDictionary

from sqlalchemy import (
    Connection,
    Engine,
    Float,
    Integer,
    String,
    and_,
    case,
    cast,
    func,
    insert,
    literal,
    null,
    or_,
    select,
    update,
)

from notifier.db._sql import dialect_insert
from notifier.db.matching import distance_sql
from notifier.db.tables import (
    DeliveryState,
    eligibility_group_table,
    notice_table,
    subscriber_table,
)
from notifier.db.types import UtcDateTime, as_utc

__all__ = [
    "CONFIRM",
    "ELIGIBILITY_OPENED",
    "LEASE_SECONDS",
    "ClaimedNotice",
    "GroupOpening",
    "NoticesListener",
    "channels_with_due_notices",
    "claim_notices",
    "enqueue_confirm",
    "enqueue_confirms",
    "mark_notice_failed",
    "mark_notice_retry",
    "mark_notice_sent",
    "notice_counts",
    "on_notices_written",
    "open_group",
    "opened_groups",
]

CONFIRM = "confirm"
ELIGIBILITY_OPENED = "eligibility_opened"
_PENDING, _SENDING = DeliveryState.PENDING.value, DeliveryState.SENDING.value
#: how long a claimed notice belongs to its sender before it is due again
LEASE_SECONDS = 120.0

#: Called in the writing transaction once notices are queued (see ``on_notices_written``).
NoticesListener = Callable[[Connection], None]
_listeners: WeakKeyDictionary[Engine, list[NoticesListener]] = WeakKeyDictionary()


def on_notices_written(engine: Engine, listener: NoticesListener) -> Callable[[], None]:
    """Call ``listener(conn)`` inside every transaction that queues notices through
    ``engine`` (a sign-up's confirmation, an opened group); returns a function that removes it.

    Multi-node mode defers the job that sends them here, so the rows and their job are
    committed (or rolled back) together and the first notices go out at once.
    """
    _listeners.setdefault(engine, []).append(listener)

    def remove() -> None:
        with contextlib.suppress(KeyError, ValueError):
            _listeners[engine].remove(listener)

    return remove


def _written(conn: Connection) -> None:
    for listener in list(_listeners.get(conn.engine, ())):
        listener(conn)


@dataclass(frozen=True, slots=True)
class ClaimedNotice:
    """A leased notice with what it takes to write it. ``address`` is personal data."""

    id: int
    kind: str
    channel: str
    subscriber_id: int
    address: str
    locale: str
    attempts: int
    group_name: str | None
    confirm_token: str | None
    postal_code: str | None
    radius_miles: float | None
    #: where the postal code was geocoded, and its time zone: which country the code is in
    #: (``notifier.geo.stored_postal_country``); no column records the country itself
    lat: float | None = None
    lon: float | None = None
    time_zone: str | None = None


@dataclass(frozen=True, slots=True)
class GroupOpening:
    group: str
    newly_opened: bool
    notices: int
    waves: int


def enqueue_confirm(
    conn: Connection, subscriber_id: int, channel: str, confirm_token: str, now: dt.datetime
) -> None:
    """Queue the confirmation message of one sign-up (one per token: a repeated sign-up gets
    a new token, and the old, unsent request is superseded by the new one)."""
    stamp = as_utc(now)
    n = notice_table
    conn.execute(
        update(n)
        .where(n.c.subscriber_id == subscriber_id, n.c.kind == CONFIRM, n.c.state == _PENDING)
        .values(state=DeliveryState.CANCELLED.value)
    )
    conn.execute(
        insert(n).values(
            channel=channel,
            subscriber_id=subscriber_id,
            kind=CONFIRM,
            state=_PENDING,
            wave=1,
            rank=1,
            attempts=0,
            next_attempt_at=stamp,
            idempotency_key=f"confirm:{subscriber_id}:{confirm_token}",
            created_at=stamp,
        )
    )
    _written(conn)


def enqueue_confirms(
    conn: Connection, items: Sequence[tuple[int, str, str]], now: dt.datetime
) -> None:
    """Queue confirmations of brand-new subscribers: (subscriber id, channel, token) each,
    in one multi-row INSERT (nothing earlier can be pending for a new subscriber)."""
    if not items:
        return
    stamp = as_utc(now)
    rows = [
        {
            "channel": channel,
            "subscriber_id": subscriber_id,
            "kind": CONFIRM,
            "state": _PENDING,
            "wave": 1,
            "rank": 1,
            "attempts": 0,
            "next_attempt_at": stamp,
            "idempotency_key": f"confirm:{subscriber_id}:{token}",
            "created_at": stamp,
        }
        for subscriber_id, channel, token in items
    ]
    conn.execute(insert(notice_table), rows)
    _written(conn)


def opened_groups(conn: Connection) -> dict[str, dt.datetime]:
    g = eligibility_group_table
    rows = conn.execute(select(g.c.name, g.c.opened_at).where(g.c.opened_at.is_not(None)))
    return {str(name): as_utc(at) for name, at in rows}


def open_group(
    conn: Connection,
    group: str,
    *,
    now: dt.datetime,
    reference: tuple[float, float] | None = None,
    regions: Sequence[str] = (),
    wave_size: int = 500,
    wave_interval: dt.timedelta = dt.timedelta(minutes=10),
) -> GroupOpening:
    """Open ``group``: from now on its members receive slot alerts, and each active member
    gets one "eligibility opened" notice, nearest to ``reference`` first, in waves.

    With ``regions`` only members in those regions (or with a postal code whose region is not
    known) are told now; opening again for another region tells the rest. A member is never
    told twice (the idempotency key is per group and subscriber).
    """
    if wave_size < 1:
        raise ValueError("wave_size must be at least 1")
    stamp = as_utc(now)
    g, s, n = eligibility_group_table, subscriber_table, notice_table
    already = conn.execute(select(g.c.opened_at).where(g.c.name == group)).first()
    newly = already is None or already.opened_at is None
    conn.execute(
        dialect_insert(conn, g)
        .values(name=group, opened_at=stamp)
        .on_conflict_do_update(
            index_elements=[g.c.name], set_={"opened_at": func.coalesce(g.c.opened_at, stamp)}
        )
    )
    distance: Any = cast(null(), Float)
    if reference is not None:
        distance = distance_sql(conn, s.c.lat, s.c.lon, reference[0], reference[1])
    conditions: list[Any] = [
        s.c.eligibility_group == group,
        s.c.confirmed_at.is_not(None),
        s.c.opted_out_at.is_(None),
        s.c.invalid_at.is_(None),
    ]
    if regions:
        conditions.append(s.c.region.in_([r.upper() for r in regions]))
    told = select(n.c.subscriber_id).where(n.c.kind == ELIGIBILITY_OPENED, n.c.group_name == group)
    conditions.append(s.c.id.not_in(told))
    ranked = (
        select(
            s.c.id,
            s.c.channel,
            distance.label("distance"),
            func.row_number().over(order_by=(distance.asc().nulls_last(), s.c.id)).label("rank"),
        )
        .where(and_(*conditions))
        .cte("ranked")
    )
    wave = (ranked.c.rank - 1) // literal(wave_size, Integer) + 1
    seconds = wave_interval.total_seconds()
    due = _due_at(conn, stamp, seconds, wave)
    query = select(
        ranked.c.channel,
        ranked.c.id,
        literal(ELIGIBILITY_OPENED, String),
        literal(group, String),
        literal(_PENDING, String),
        wave,
        ranked.c.rank,
        ranked.c.distance,
        literal(0, Integer),
        due,
        literal(f"{ELIGIBILITY_OPENED}:{group}:", String) + cast(ranked.c.id, String),
        literal(stamp, UtcDateTime),
    ).order_by(ranked.c.rank)
    columns = [
        "channel",
        "subscriber_id",
        "kind",
        "group_name",
        "state",
        "wave",
        "rank",
        "distance_miles",
        "attempts",
        "next_attempt_at",
        "idempotency_key",
        "created_at",
    ]
    conn.execute(insert(n).from_select(columns, query))
    planned = conn.execute(
        select(func.count(), func.max(n.c.wave)).where(
            n.c.kind == ELIGIBILITY_OPENED, n.c.group_name == group, n.c.created_at == stamp
        )
    ).one()
    if planned[0]:
        _written(conn)
    return GroupOpening(
        group=group, newly_opened=newly, notices=int(planned[0]), waves=int(planned[1] or 0)
    )


def _due_at(conn: Connection, stamp: dt.datetime, seconds: float, wave: Any) -> Any:
    """``stamp + (wave - 1) × seconds`` as a timestamp expression of the dialect."""
    if seconds <= 0:
        return literal(stamp, UtcDateTime)
    if conn.dialect.name == "postgresql":
        offset = func.make_interval(0, 0, 0, 0, 0, 0, (wave - 1) * seconds)
        return cast(literal(stamp, UtcDateTime) + offset, UtcDateTime)
    # SQLite stores UtcDateTime as naive text with six fractional digits; keep that shape.
    base = stamp.replace(tzinfo=None).isoformat(sep=" ", timespec="seconds")
    shift = cast(cast((wave - 1) * seconds, Integer), String) + literal(" seconds")
    later = func.strftime("%Y-%m-%d %H:%M:%S", literal(base), shift) + literal(".000000")
    return case((wave == 1, literal(stamp, UtcDateTime)), else_=later)


def channels_with_due_notices(
    conn: Connection,
    channels: Sequence[str],
    now: dt.datetime,
    lease_seconds: float = LEASE_SECONDS,
) -> list[str]:
    """Those of ``channels`` with a notice a sender would claim now: pending and due, or
    "sending" past its lease (its sender died). Two index probes per channel."""
    stamp = as_utc(now)
    n = notice_table
    cutoff = literal(stamp - dt.timedelta(seconds=lease_seconds), UtcDateTime)
    found = []
    for channel in channels:
        pending = and_(
            n.c.channel == channel,
            n.c.state == _PENDING,
            n.c.next_attempt_at <= literal(stamp, UtcDateTime),
        )
        abandoned = and_(n.c.channel == channel, n.c.state == _SENDING, n.c.claimed_at < cutoff)
        for due in (pending, abandoned):
            if conn.execute(select(n.c.id).where(due).limit(1)).first() is not None:
                found.append(channel)
                break
    return found


def claim_notices(
    conn: Connection,
    channel: str,
    *,
    limit: int,
    now: dt.datetime,
    lease_seconds: float = LEASE_SECONDS,
) -> list[ClaimedNotice]:
    """Lease up to ``limit`` due notices of ``channel``, nearest (lowest rank) first."""
    stamp = as_utc(now)
    n, s = notice_table, subscriber_table
    lease_over = literal(stamp - dt.timedelta(seconds=lease_seconds), UtcDateTime)
    due = or_(
        and_(n.c.state == _PENDING, n.c.next_attempt_at <= literal(stamp, UtcDateTime)),
        and_(n.c.state == _SENDING, n.c.claimed_at < lease_over),
    )
    picked = select(n.c.id).where(n.c.channel == channel, due).order_by(n.c.wave, n.c.rank, n.c.id)
    if conn.dialect.name == "postgresql":
        picked = picked.with_for_update(skip_locked=True)
    ids = [int(i) for i in conn.execute(picked.limit(limit)).scalars()]
    if not ids:
        return []
    conn.execute(
        update(n)
        .where(n.c.id.in_(ids))
        .values(state=_SENDING, claimed_at=stamp, attempts=n.c.attempts + 1)
    )
    query = (
        select(
            n.c.id,
            n.c.kind,
            n.c.channel,
            n.c.subscriber_id,
            n.c.attempts,
            n.c.group_name,
            s.c.address,
            s.c.locale,
            s.c.confirm_token,
            s.c.postal_code,
            s.c.radius_miles,
            s.c.lat,
            s.c.lon,
            s.c.time_zone,
            s.c.confirmed_at,
            s.c.opted_out_at,
            s.c.invalid_at,
        )
        .select_from(n.join(s, s.c.id == n.c.subscriber_id))
        .where(n.c.id.in_(ids))
        .order_by(n.c.wave, n.c.rank, n.c.id)
    )
    claimed: list[ClaimedNotice] = []
    stale: list[int] = []
    for row in conn.execute(query).mappings():
        # A confirmation whose token is gone (confirmed or superseded), or a notice to someone
        # who left in the meantime, is no longer news.
        gone = row["opted_out_at"] is not None or row["invalid_at"] is not None
        if row["kind"] == CONFIRM and not row["confirm_token"]:
            gone = True
        if gone:
            stale.append(int(row["id"]))
            continue
        claimed.append(
            ClaimedNotice(
                id=int(row["id"]),
                kind=str(row["kind"]),
                channel=str(row["channel"]),
                subscriber_id=int(row["subscriber_id"]),
                address=str(row["address"]),
                locale=str(row["locale"]),
                attempts=int(row["attempts"]),
                group_name=row["group_name"],
                confirm_token=row["confirm_token"],
                postal_code=row["postal_code"],
                radius_miles=row["radius_miles"],
                lat=row["lat"],
                lon=row["lon"],
                time_zone=row["time_zone"],
            )
        )
    missing = set(ids) - {c.id for c in claimed} - set(stale)
    stale.extend(missing)  # the subscriber was deleted
    if stale:
        conn.execute(update(n).where(n.c.id.in_(stale)).values(state=DeliveryState.CANCELLED.value))
    return claimed


def mark_notice_sent(
    conn: Connection, ids: Sequence[int], provider_message_id: str | None, now: dt.datetime
) -> None:
    n = notice_table
    conn.execute(
        update(n)
        .where(n.c.id.in_(list(ids)))
        .values(
            state=DeliveryState.SENT.value,
            sent_at=as_utc(now),
            provider_message_id=provider_message_id,
        )
    )


def mark_notice_retry(
    conn: Connection, ids: Sequence[int], error: str | None, retry_at: dt.datetime
) -> None:
    n = notice_table
    conn.execute(
        update(n)
        .where(n.c.id.in_(list(ids)))
        .values(state=_PENDING, next_attempt_at=as_utc(retry_at), last_error=error)
    )


def mark_notice_failed(conn: Connection, ids: Sequence[int], error: str | None) -> None:
    n = notice_table
    conn.execute(
        update(n)
        .where(n.c.id.in_(list(ids)))
        .values(state=DeliveryState.FAILED.value, last_error=error)
    )


def notice_counts(conn: Connection) -> dict[tuple[str, str, str], int]:
    """(kind, channel, state) -> count."""
    n = notice_table
    rows = conn.execute(
        select(n.c.kind, n.c.channel, n.c.state, func.count()).group_by(
            n.c.kind, n.c.channel, n.c.state
        )
    )
    return {(str(k), str(c), str(st)): int(count) for k, c, st, count in rows}
