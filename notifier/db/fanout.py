"""Fan-out: turn one alert into its outbox rows with set-based SQL.

``write_alert`` stores the alert and every delivery in one transaction (a SAVEPOINT inside the
caller's transaction; no commit of its own). Recipient channels are planned with a single
``INSERT ... SELECT`` per channel:

1. candidates: confirmed, not opted out, not invalid subscribers of the channel, inside the
   outer bounding box (sized by the largest subscriber radius, on the indexed ``lat, lon``)
   or in one of the alert's named regions, whose product / age-group filters accept the alert
   and who are under their daily cap;
2. matched: exact great-circle distance within the subscriber's OWN radius, or a region hit;
3. ranked nearest first (``row_number()``), equal distances in a seeded per-alert random
   order; the first wave (``ceil(wave_multiple × appointments)``, or ``unknown_count_wave``
   without a count) is "pending", the rest "held", so a clinic with 10 slots does not send
   100,000 people to it at once.

Every alert belongs to its place's wave episode (``notifier.db.waves``): a later alert in the
same episode takes over the held recipients, appends only subscribers not yet told (ranked
after them) and releases its first wave only once the previous one has been handed off.
``release_open_episode`` and ``close_episode`` move the waves after each poll.

The outbox operations the dispatcher uses (claim, mark, expire) live in ``notifier.db.outbox``
and are re-exported here.
"""

from __future__ import annotations

import contextlib
import datetime as dt
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
    and_,
    case,
    cast,
    func,
    insert,
    literal,
    not_,
    null,
    or_,
    select,
    union_all,
)

from notifier.db._sql import explain, is_postgres
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
from notifier.db.store import alert_location_id, ensure_alert_location
from notifier.db.tables import (
    DeliveryState,
    alert_table,
    delivery_table,
    subscriber_table,
)
from notifier.db.types import UtcDateTime, as_utc
from notifier.db.waves import (
    close_episode,
    join_episode,
    last_rank,
    release_next_wave,
    release_open_episode,
    take_over_held,
    tie_key,
    tie_seed,
    told_in_episode,
    wave_size,
)
from notifier.model import Alert

__all__ = [
    "DAILY_CAP_WINDOW",
    "AlertWriteResult",
    "ChannelFanout",
    "ChannelPlan",
    "ClaimedDelivery",
    "claim_due",
    "close_episode",
    "defer",
    "delivery_counts",
    "expire_due",
    "explain_recipients",
    "load_alerts",
    "mark_expired",
    "mark_failed",
    "mark_retry",
    "mark_sent",
    "on_alert_written",
    "record_status_callback",
    "release_open_episode",
    "wave_size",
    "write_alert",
]

#: recipients per open appointment in each wave, and the wave of a source without a count
DEFAULT_WAVE_MULTIPLE = 3.0
DEFAULT_UNKNOWN_COUNT_WAVE = 60
#: after a wave's last send, people get this long to book before the next poll releases more
DEFAULT_WAVE_GRACE_SECONDS = 300.0


@dataclass(frozen=True, slots=True)
class ChannelPlan:
    """How one channel receives an alert.

    ``wave_multiple=3.0`` makes each wave ``ceil(3 × appointments left)`` recipients (nearest
    first), ``unknown_count_wave`` when the source gives no count; ``None`` sends to everyone
    matched at once (the configuration defaults to waves). ``max_recipients`` caps the total.
    """

    channel: str
    audience: str  # "broadcast" | "recipient" (notifier.channel.Audience values)
    wave_multiple: float | None = None
    max_recipients: int | None = None
    unknown_count_wave: int = DEFAULT_UNKNOWN_COUNT_WAVE
    wave_grace_seconds: float = DEFAULT_WAVE_GRACE_SECONDS

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
    *,
    seed: tuple[int, int] | None = None,
    episode: tuple[int, int] | None = None,
) -> tuple[Any, int | None]:
    """The recipients of one channel as an INSERT source. ``episode`` = (id, last rank):
    continue that episode (skip whoever it has told, rank after them, hold everyone)."""
    s = subscriber_table
    loc = alert.location
    box: Any = None
    distance: Any = cast(null(), Float)
    if loc.lat is not None and loc.lon is not None:
        distance = distance_sql(conn, s.c.lat, s.c.lon, loc.lat, loc.lon)
        largest = max_radius(conn, plan.channel)
        if largest > 0:
            box = within_reach(loc.lat, loc.lon, largest)
    in_region: Any = None
    if regions:
        # IS NOT NULL spelled out: ix_subscriber_channel_region holds only such subscribers.
        in_region = and_(s.c.region.is_not(None), s.c.region.in_(list(regions)))
    if box is None and in_region is None:
        return None, None
    conditions = eligibility(conn, alert, plan.channel, now)
    offset = 0
    if episode is not None:
        episode_id, offset = episode
        conditions.append(s.c.id.not_in(told_in_episode(episode_id, plan.channel)))

    # Near the place (the box, then the exact distance below) or in one of its regions, read
    # from ix_subscriber_reach and ix_subscriber_channel_region. PostgreSQL combines the two
    # indexes for an OR (a BitmapOr, then the table in physical order). SQLite cannot use any
    # index for an OR of conditions on different columns and walks every subscriber of the
    # channel instead, so there the two are separate SELECTs, someone both near and in a
    # region coming from the first only (the box test is never NULL, so NOT is exact). Each
    # way measured faster on its own database (docs/performance.md).
    columns = (s.c.id, s.c.address, s.c.radius_miles, distance.label("distance"))
    hit = literal(0) if in_region is None else case((in_region, 1), else_=0)
    source: Any
    if box is None or in_region is None or is_postgres(conn):
        reach = or_(*(term for term in (box, in_region) if term is not None))
        source = select(*columns, hit.label("region_hit")).where(reach, *conditions)
    else:
        near_place = select(*columns, hit.label("region_hit")).where(box, *conditions)
        elsewhere_in_region = select(*columns, literal(1).label("region_hit")).where(
            in_region, not_(box), *conditions
        )
        source = union_all(near_place, elsewhere_in_region)
    # MATERIALIZED: compute each distance once, not once per reference below.
    candidates = source.cte("candidates").prefix_with("MATERIALIZED")
    near = candidates.c.distance <= candidates.c.radius_miles
    ranked = (
        select(
            candidates.c.id,
            candidates.c.address,
            candidates.c.distance,
            func.row_number()
            .over(
                order_by=(
                    candidates.c.distance.asc().nulls_last(),
                    tie_key(candidates.c.id, seed or tie_seed(alert_id)),
                )
            )
            .label("rank"),
        )
        .where(or_(near, candidates.c.region_hit == 1))
        .cte("ranked")
    )
    size = wave_size(plan, alert.appointments)
    rank = ranked.c.rank + offset if offset else ranked.c.rank
    if size is None and episode is None:
        state: Any = literal(DeliveryState.PENDING.value)
        wave: Any = literal(1, Integer)
        next_at: Any = literal(now, UtcDateTime)
    elif size is None or episode is not None:
        # A continued episode holds everyone: its next wave is released (nearest first,
        # those held before ahead of these) once the last one has been handed off.
        state = literal(DeliveryState.HELD.value)
        wave = literal(0, Integer)
        next_at = cast(null(), UtcDateTime)
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
        query = query.where(ranked.c.rank <= plan.max_recipients)
    return query, size


def explain_recipients(
    conn: Connection,
    alert: Alert,
    plan: ChannelPlan,
    *,
    regions: Sequence[str] | None = None,
    now: dt.datetime | None = None,
) -> list[str]:
    """How the database would choose ``plan``'s recipients of ``alert``: its query plan, a
    line per step (for ``bench_fanout.py --explain`` and the test that keeps the fan-out on
    its indexes). Empty when the alert can reach nobody."""
    query, _ = _recipient_select(
        conn, alert, 0, plan, _alert_regions(alert, regions), as_utc(now or alert.detected_at)
    )
    return [] if query is None else explain(conn, query)


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


def write_alert(
    conn: Connection,
    alert: Alert,
    *,
    channels: Sequence[ChannelPlan],
    published_at: dt.datetime | None = None,
    regions: Sequence[str] | None = None,
    now: dt.datetime | None = None,
    ties: tuple[int, int] | None = None,
) -> AlertWriteResult:
    """Store ``alert`` and all its deliveries atomically; returns the alert id and counts.

    ``regions`` are the named regions the alert belongs to (default: the location's state).
    ``now`` (default: ``alert.detected_at``) stamps the deliveries and anchors daily caps.
    ``ties`` seeds the order of equal distances (default: derived from the alert id).
    """
    stamp = as_utc(now or alert.detected_at)
    location_id = alert_location_id(alert)
    region_names = _alert_regions(alert, regions)
    results: dict[str, ChannelFanout] = {}
    if is_postgres(conn):
        _tune_postgres_for_fanout(conn)
    with conn.begin_nested():
        ensure_alert_location(conn, alert, location_id, stamp)
        episode_id, continuing = join_episode(conn, location_id, stamp)
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
                episode_id=episode_id,
            )
            .returning(alert_table.c.id)
        ).scalar_one()
        episode = _Episode(int(episode_id), continuing, ties)
        for plan in channels:
            results[plan.channel] = _plan_channel(
                conn, alert, alert_id, plan, region_names, stamp, episode
            )
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


def _tune_postgres_for_fanout(conn: Connection) -> None:
    """Settings for the rest of this transaction (``SET LOCAL``), measured on 100,000 rows.

    The planner's row estimate for the candidates is far above the JIT threshold, and
    compiling the distance expressions cost about 1.5 s, more than running them; ranking
    100,000 recipients needs about 25 MB of sort memory, and the default 4 MB spilled both
    sorts to disk.
    """
    conn.exec_driver_sql("SET LOCAL jit = off")
    conn.exec_driver_sql("SET LOCAL work_mem = '64MB'")


@dataclass(frozen=True, slots=True)
class _Episode:
    id: int
    continuing: bool  # it has earlier alerts: append to their wave sequence
    ties: tuple[int, int] | None


def _plan_channel(
    conn: Connection,
    alert: Alert,
    alert_id: int,
    plan: ChannelPlan,
    regions: Sequence[str],
    now: dt.datetime,
    episode: _Episode,
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
    continued: tuple[int, int] | None = None
    if episode.continuing:
        take_over_held(conn, episode.id, alert_id, plan.channel)
        continued = (episode.id, last_rank(conn, episode.id, plan.channel))
    query, size = _recipient_select(
        conn, alert, alert_id, plan, regions, now, seed=episode.ties, episode=continued
    )
    if query is None:  # the alert has neither coordinates nor a region: nobody to reach
        return ChannelFanout(plan.channel, matched=0, first_wave=0, held=0, wave_size=size)
    stmt = insert(delivery_table).from_select(list(_DELIVERY_COLUMNS), query)
    inserted = conn.execute(stmt.execution_options(preserve_rowcount=True)).rowcount
    if inserted < 0 and conn.dialect.name == "sqlite":
        # Python < 3.12 sqlite3 reports -1 for a statement that starts with WITH.
        inserted = conn.exec_driver_sql("SELECT changes()").scalar_one()
    if continued is not None:
        first = release_next_wave(conn, episode.id, plan, size, now)
        held = conn.execute(
            select(func.count()).where(
                delivery_table.c.alert_id == alert_id,
                delivery_table.c.channel == plan.channel,
                delivery_table.c.state == DeliveryState.HELD.value,
            )
        ).scalar_one()
        return ChannelFanout(
            plan.channel, matched=inserted, first_wave=first, held=int(held), wave_size=size
        )
    first = inserted if size is None else min(inserted, size)
    return ChannelFanout(
        plan.channel, matched=inserted, first_wave=first, held=inserted - first, wave_size=size
    )
