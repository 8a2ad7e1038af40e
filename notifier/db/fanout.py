"""Fan-out: turn one alert into its outbox rows with set-based SQL.

``write_alert`` stores the alert and every delivery in one transaction (a SAVEPOINT inside the
caller's transaction; no commit of its own). Recipient channels are planned with a single
``INSERT ... SELECT`` per channel:

1. candidates: confirmed, not opted out, not invalid subscribers of the channel, inside the
   outer bounding box (sized by the largest subscriber radius, on the indexed ``lat, lon``)
   or in one of the alert's named regions, whose product / age-group filters accept the alert
   and who are under their daily cap;
2. matched: exact great-circle distance within the subscriber's OWN radius, or a region hit;
3. ranked nearest first (``row_number()``); the first ``ceil(wave_multiple × appointments)``
   are "pending", later ones "held" with their wave number, so a clinic with 10 slots does not
   send 100,000 people to it at once. ``advance_waves`` releases or cancels the held waves.

The outbox operations the dispatcher uses (claim, mark, expire) live in ``notifier.db.outbox``
and are re-exported here.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from weakref import WeakKeyDictionary

from sqlalchemy import (
    Connection,
    Engine,
    Float,
    Integer,
    String,
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
from notifier.db.matching import (
    DAILY_CAP_WINDOW,
    distance_sql,
    eligibility,
    max_radius,
    within_reach,
)
from notifier.db.outbox import (
    ClaimedDelivery,
    claim_due,
    defer,
    delivery_counts,
    expire_due,
    load_alerts,
    mark_expired,
    mark_failed,
    mark_retry,
    mark_sent,
    record_status_callback,
)
from notifier.db.store import stored_location_id
from notifier.db.tables import (
    DeliveryState,
    alert_table,
    delivery_table,
    location_table,
    subscriber_table,
)
from notifier.db.types import UtcDateTime, as_utc
from notifier.model import Alert

__all__ = [
    "DAILY_CAP_WINDOW",
    "AlertWriteResult",
    "ChannelFanout",
    "ChannelPlan",
    "ClaimedDelivery",
    "advance_waves",
    "claim_due",
    "defer",
    "delivery_counts",
    "expire_due",
    "load_alerts",
    "mark_expired",
    "mark_failed",
    "mark_retry",
    "mark_sent",
    "on_alert_written",
    "record_status_callback",
    "write_alert",
]


@dataclass(frozen=True, slots=True)
class ChannelPlan:
    """How one channel receives an alert.

    ``wave_multiple=3.0`` makes the first wave ``ceil(3 × appointments)`` recipients (nearest
    first); ``None`` sends to everyone matched at once. ``max_recipients`` caps the total.
    """

    channel: str
    audience: str  # "broadcast" | "recipient" (notifier.channel.Audience values)
    wave_multiple: float | None = None
    max_recipients: int | None = None

    @property
    def name(self) -> str:
        return self.channel


@dataclass(frozen=True, slots=True)
class ChannelFanout:
    channel: str
    matched: int
    first_wave: int
    held: int
    wave_size: int | None


@dataclass(frozen=True, slots=True)
class AlertWriteResult:
    alert_id: int
    matched: int
    first_wave: int
    held: int
    channels: Mapping[str, ChannelFanout]


def wave_size(wave_multiple: float | None, appointments: int | None) -> int | None:
    """Recipients per wave, or None for a single wave (no multiple, or unknown count)."""
    if wave_multiple is None or appointments is None or appointments <= 0:
        return None
    return max(1, math.ceil(wave_multiple * appointments))


def _alert_regions(alert: Alert, regions: Sequence[str] | None) -> list[str]:
    if regions is not None:
        return list(regions)
    # By default a named region is the location's state ("MA"): statewide subscribers.
    return [alert.location.state.upper()] if alert.location.state else []


def _recipient_select(
    conn: Connection,
    alert: Alert,
    alert_id: int,
    plan: ChannelPlan,
    regions: Sequence[str],
    now: dt.datetime,
) -> tuple[Any, int | None]:
    s = subscriber_table
    loc = alert.location
    reach: list[Any] = []
    distance: Any = cast(null(), Float)
    if loc.lat is not None and loc.lon is not None:
        distance = distance_sql(conn, s.c.lat, s.c.lon, loc.lat, loc.lon)
        largest = max_radius(conn, plan.channel)
        if largest > 0:
            reach.append(within_reach(loc.lat, loc.lon, largest))
    region_hit: Any = literal(False)
    if regions:
        region_hit = s.c.region.in_(list(regions))
        reach.append(region_hit)
    if not reach:
        return None, None
    conditions = [or_(*reach), *eligibility(conn, alert, plan.channel, now)]

    candidates = (
        select(
            s.c.id,
            s.c.address,
            s.c.radius_miles,
            case((region_hit, 1), else_=0).label("region_hit"),
            distance.label("distance"),
        )
        .where(*conditions)
        .cte("candidates")
        .prefix_with("MATERIALIZED")  # compute each distance once, not per reference
    )
    near = candidates.c.distance <= candidates.c.radius_miles
    ranked = (
        select(
            candidates.c.id,
            candidates.c.address,
            candidates.c.distance,
            func.row_number()
            .over(order_by=(candidates.c.distance.asc().nulls_last(), candidates.c.id))
            .label("rank"),
        )
        .where(or_(near, candidates.c.region_hit == 1))
        .cte("ranked")
    )
    size = wave_size(plan.wave_multiple, alert.appointments)
    rank = ranked.c.rank
    if size is None:
        state: Any = literal(DeliveryState.PENDING.value)
        wave: Any = literal(1, Integer)
        next_at: Any = literal(now, UtcDateTime)
    else:
        first = rank <= size
        state = case((first, DeliveryState.PENDING.value), else_=DeliveryState.HELD.value)
        wave = (rank - 1) // literal(size, Integer) + 1  # integer division on both dialects
        next_at = case((first, literal(now, UtcDateTime)), else_=None)
    prefix = f"{alert_id}:{plan.channel}:"
    query = select(
        literal(alert_id, Integer),
        literal(plan.channel, String),
        ranked.c.id,
        ranked.c.address,
        state,
        wave,
        ranked.c.distance,
        rank,
        literal(0, Integer),
        next_at,
        literal(prefix, String) + cast(ranked.c.id, String),
        literal(now, UtcDateTime),
    ).order_by(rank)  # ids follow rank, so claims in id order go nearest first
    if plan.max_recipients is not None:
        query = query.where(rank <= plan.max_recipients)
    return query, size


_DELIVERY_COLUMNS = (
    "alert_id",
    "channel",
    "subscriber_id",
    "recipient",
    "state",
    "wave",
    "distance_miles",
    "rank",
    "attempts",
    "next_attempt_at",
    "idempotency_key",
    "created_at",
)


def _ensure_location(conn: Connection, alert: Alert, location_id: str, now: dt.datetime) -> None:
    loc = alert.location
    row = {
        name: getattr(loc, name)
        for name in ("name", "address", "city", "state", "postal_code", "country", "lat", "lon")
    }
    row.update(time_zone=loc.time_zone, booking_url=loc.booking_url, phone=loc.phone)
    source_id = location_id.removeprefix(f"{alert.provider_id}:")
    conn.execute(
        dialect_insert(conn, location_table)
        .values(
            id=location_id,
            provider_id=alert.provider_id,
            source_id=source_id,
            first_seen_at=now,
            updated_at=now,
            **row,
        )
        .on_conflict_do_nothing(index_elements=[location_table.c.id])
    )


def _alert_location_id(alert: Alert) -> str:
    """``alert.location.id`` may be the stored id or the scraper's own id."""
    loc_id = alert.location.id
    if loc_id.startswith(f"{alert.provider_id}:"):
        return loc_id
    return stored_location_id(alert.provider_id, loc_id)


def write_alert(
    conn: Connection,
    alert: Alert,
    *,
    channels: Sequence[ChannelPlan],
    published_at: dt.datetime | None = None,
    regions: Sequence[str] | None = None,
    now: dt.datetime | None = None,
) -> AlertWriteResult:
    """Store ``alert`` and all its deliveries atomically; returns the alert id and counts.

    ``regions`` are the named regions the alert belongs to (default: the location's state).
    ``now`` (default: ``alert.detected_at``) stamps the deliveries and anchors daily caps.
    """
    stamp = as_utc(now or alert.detected_at)
    location_id = _alert_location_id(alert)
    region_names = _alert_regions(alert, regions)
    results: dict[str, ChannelFanout] = {}
    with conn.begin_nested():
        _ensure_location(conn, alert, location_id, stamp)
        alert_id = conn.execute(
            insert(alert_table)
            .values(
                provider_id=alert.provider_id,
                location_id=location_id,
                kind=alert.kind,
                appointments=alert.appointments,
                increase=alert.increase,
                by_date={day.isoformat(): n for day, n in sorted(alert.by_date.items())},
                products=list(alert.products),
                age_groups=list(alert.age_groups),
                detected_at=as_utc(alert.detected_at),
                valid_at=alert.valid_at,
                published_at=published_at,
                expires_at=as_utc(alert.expires_at),
            )
            .returning(alert_table.c.id)
        ).scalar_one()
        for plan in channels:
            results[plan.channel] = _plan_channel(conn, alert, alert_id, plan, region_names, stamp)
    written = AlertWriteResult(
        alert_id=int(alert_id),
        matched=sum(r.matched for r in results.values()),
        first_wave=sum(r.first_wave for r in results.values()),
        held=sum(r.held for r in results.values()),
        channels=results,
    )
    for listener in list(_listeners.get(conn.engine, ())):
        listener(conn, written)
    return written


#: Called in the writing transaction once an alert's outbox rows are planned.
FanoutListener = Callable[[Connection, AlertWriteResult], None]
_listeners: WeakKeyDictionary[Engine, list[FanoutListener]] = WeakKeyDictionary()


def on_alert_written(engine: Engine, listener: FanoutListener) -> Callable[[], None]:
    """Call ``listener(conn, result)`` inside the transaction of every alert written through
    ``engine``; returns a function that removes it.

    Multi-node mode defers the alert's send jobs here, so the outbox rows and their jobs are
    committed (or rolled back) together.
    """
    _listeners.setdefault(engine, []).append(listener)

    def remove() -> None:
        with contextlib.suppress(KeyError, ValueError):
            _listeners[engine].remove(listener)

    return remove


def _plan_channel(
    conn: Connection,
    alert: Alert,
    alert_id: int,
    plan: ChannelPlan,
    regions: Sequence[str],
    now: dt.datetime,
) -> ChannelFanout:
    if plan.audience == "broadcast":
        conn.execute(
            insert(delivery_table).values(
                alert_id=alert_id,
                channel=plan.channel,
                state=DeliveryState.PENDING.value,
                wave=1,
                attempts=0,
                next_attempt_at=now,
                idempotency_key=f"{alert_id}:{plan.channel}:broadcast",
                created_at=now,
            )
        )
        return ChannelFanout(plan.channel, matched=1, first_wave=1, held=0, wave_size=None)
    if plan.audience != "recipient":
        raise ValueError(f"channel {plan.channel!r}: unknown audience {plan.audience!r}")
    query, size = _recipient_select(conn, alert, alert_id, plan, regions, now)
    if query is None:  # the alert has neither coordinates nor a region: nobody to reach
        return ChannelFanout(plan.channel, matched=0, first_wave=0, held=0, wave_size=size)
    stmt = insert(delivery_table).from_select(list(_DELIVERY_COLUMNS), query)
    inserted = conn.execute(stmt.execution_options(preserve_rowcount=True)).rowcount
    if inserted < 0 and conn.dialect.name == "sqlite":
        # Python < 3.12 sqlite3 reports -1 for a statement that starts with WITH.
        inserted = conn.exec_driver_sql("SELECT changes()").scalar_one()
    first = inserted if size is None else min(inserted, size)
    return ChannelFanout(
        plan.channel, matched=inserted, first_wave=first, held=inserted - first, wave_size=size
    )


def advance_waves(conn: Connection, location_id: str, *, still_open: bool, now: dt.datetime) -> int:
    """Release the next held wave of the location's newest live alert, or cancel held waves.

    Called after a re-poll: if the location ``still_open``, the next wave (lowest held wave
    number of the newest non-expired alert) becomes pending now; otherwise every held delivery
    of the location's alerts is cancelled. Returns the number of deliveries changed.
    """
    a, d = alert_table, delivery_table
    stamp = as_utc(now)
    if not still_open:
        alerts = select(a.c.id).where(a.c.location_id == location_id).scalar_subquery()
        stmt = (
            update(d)
            .where(d.c.state == DeliveryState.HELD.value, d.c.alert_id.in_(alerts))
            .values(state=DeliveryState.CANCELLED.value)
        )
        return int(conn.execute(stmt).rowcount)
    newest = (
        select(a.c.id)
        .where(a.c.location_id == location_id, a.c.expires_at > literal(stamp, UtcDateTime))
        .order_by(a.c.detected_at.desc(), a.c.id.desc())
        .limit(1)
        .scalar_subquery()
    )
    held = delivery_table.alias("held")
    next_wave = (
        select(func.min(held.c.wave))
        .where(held.c.alert_id == newest, held.c.state == DeliveryState.HELD.value)
        .scalar_subquery()
    )
    stmt = (
        update(d)
        .where(d.c.alert_id == newest, d.c.state == DeliveryState.HELD.value, d.c.wave == next_wave)
        .values(state=DeliveryState.PENDING.value, next_attempt_at=stamp)
    )
    return int(conn.execute(stmt).rowcount)
