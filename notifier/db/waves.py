"""Wave episodes: one opening of a place is one wave sequence, released as people book.

A place's first alert opens an episode (``join_episode``); every later alert about the place
joins it until a good poll shows the place full (``close_episode``). Within an episode:

* nobody is told twice: a later alert takes over the held recipients of the earlier ones and
  appends only subscribers not yet in the episode, ranked after everyone already there;
* each wave is sized to the openings that are left (``wave_size``): the latest good count
  times ``wave_multiple``, or the channel's ``unknown_count_wave`` for flag-only sources;
* the next wave is released only once the one before has been handed off (nothing of the
  episode is due or being sent on that channel) and ``wave_grace_seconds`` have passed since
  its last send, so the people told have time to book before the next poll counts again;
* ties in distance (everyone in one ZIP code) are broken by a seeded per-alert key
  (``tie_key``), not by subscriber id, so the earliest sign-ups do not win every time.

When a place is full, every held or pending delivery of its alerts is cancelled here (poll
side) and by ``notifier.db.outbox.claim_due`` (send side, before each batch).
"""

from __future__ import annotations

import datetime as dt
import math
import random
from collections.abc import Sequence
from typing import Any, Protocol

from sqlalchemy import BigInteger, Connection, String, cast, func, insert, literal, select, update

from notifier.db.tables import DeliveryState, alert_table, delivery_table, wave_episode_table
from notifier.db.types import UtcDateTime, as_utc

__all__ = [
    "TIE_MODULUS",
    "WavePlan",
    "close_episode",
    "episode_alerts",
    "first_wave_reach",
    "join_episode",
    "release_next_wave",
    "release_open_episode",
    "take_over_held",
    "tie_key",
    "tie_seed",
    "wave_size",
    "where_sent",
]

#: a prime below 2**31: (id + a) * b stays inside 64-bit integers on both dialects
TIE_MODULUS = 2_147_483_647

_HELD = DeliveryState.HELD.value
_PENDING = DeliveryState.PENDING.value
_SENDING = DeliveryState.SENDING.value
#: states that mean "this subscriber is (or will be) told in this episode"
_TOLD_OR_QUEUED = (_HELD, _PENDING, _SENDING, DeliveryState.SENT.value, DeliveryState.FAILED.value)


class WavePlan(Protocol):
    """The wave settings of a channel (``notifier.db.fanout.ChannelPlan`` has them)."""

    @property
    def channel(self) -> str: ...
    @property
    def audience(self) -> str: ...
    @property
    def wave_multiple(self) -> float | None: ...
    @property
    def unknown_count_wave(self) -> int: ...
    @property
    def wave_grace_seconds(self) -> float: ...


def wave_size(plan: WavePlan, appointments: int | None) -> int | None:
    """Recipients per wave for the openings left; None: one wave (waves switched off)."""
    if plan.wave_multiple is None:
        return None
    if appointments is None or appointments <= 0:
        # A flag-only source says "open" without a count: a fixed, configured wave.
        return max(1, plan.unknown_count_wave)
    return max(1, math.ceil(plan.wave_multiple * appointments))


def tie_seed(alert_id: int) -> tuple[int, int]:
    """The per-alert pair (a, b) of ``tie_key``: reproducible for a given alert id, and
    different from one alert to the next."""
    rng = random.Random(f"ties:{alert_id}")
    return rng.randrange(TIE_MODULUS), rng.randrange(1, TIE_MODULUS)


def tie_key(subscriber_id: Any, seed: tuple[int, int]) -> Any:
    """``(id + a) * b mod p``: a random-looking order of subscribers for equal distances.

    Different seeds give genuinely different orders (an affine map modulo a prime), not a
    rotation of one order; integers only, so both dialects compute the same key.
    """
    a, b = seed
    return ((subscriber_id + literal(a, BigInteger)) * literal(b, BigInteger)) % literal(
        TIE_MODULUS, BigInteger
    )


# --------------------------------------------------------------------------- episodes


def join_episode(conn: Connection, location_id: str, now: dt.datetime) -> tuple[int, bool]:
    """The place's open episode, or a new one; True when it already has alerts."""
    e = wave_episode_table
    found = conn.execute(
        select(e.c.id)
        .where(e.c.location_id == location_id, e.c.closed_at.is_(None))
        .order_by(e.c.id.desc())
        .limit(1)
    ).scalar_one_or_none()
    if found is not None:
        return int(found), True
    new_id = conn.execute(
        insert(e).values(location_id=location_id, opened_at=as_utc(now)).returning(e.c.id)
    ).scalar_one()
    return int(new_id), False


def episode_alerts(episode_id: int, *, live_at: dt.datetime | None = None) -> Any:
    """The ids of the episode's alerts (only those not expired at ``live_at``, if given)."""
    a = alert_table
    query = select(a.c.id).where(a.c.episode_id == episode_id)
    if live_at is not None:
        query = query.where(a.c.expires_at > literal(as_utc(live_at), UtcDateTime))
    return query.scalar_subquery()


def told_in_episode(episode_id: int, channel: str) -> Any:
    """Subscribers the episode has told, is telling or holds for a later wave on ``channel``."""
    d = delivery_table
    return select(d.c.subscriber_id).where(
        d.c.alert_id.in_(episode_alerts(episode_id)),
        d.c.channel == channel,
        d.c.state.in_(_TOLD_OR_QUEUED),
        d.c.subscriber_id.is_not(None),
    )


def last_rank(conn: Connection, episode_id: int, channel: str) -> int:
    """The highest rank the episode has given on ``channel`` (0 for none)."""
    d = delivery_table
    found = conn.execute(
        select(func.max(d.c.rank)).where(
            d.c.alert_id.in_(episode_alerts(episode_id)), d.c.channel == channel
        )
    ).scalar_one()
    return int(found or 0)


def take_over_held(conn: Connection, episode_id: int, alert_id: int, channel: str) -> int:
    """Move the held recipients of the episode's earlier alerts to its new alert.

    They keep their rank (they are nearer than anyone the new alert appends) and will hear
    the newest news when their wave comes, instead of expiring with an old alert.
    """
    d = delivery_table
    prefix = f"{alert_id}:{channel}:"
    stmt = (
        update(d)
        .where(
            d.c.alert_id.in_(episode_alerts(episode_id)),
            d.c.alert_id != alert_id,
            d.c.channel == channel,
            d.c.state == _HELD,
        )
        .values(
            alert_id=alert_id, idempotency_key=literal(prefix) + cast(d.c.subscriber_id, String)
        )
    )
    return int(conn.execute(stmt).rowcount)


def close_episode(conn: Connection, location_id: str, now: dt.datetime) -> int:
    """The place is full (or gone): cancel every held or pending delivery of its alerts and
    end its episode, so its next opening starts a new one. Returns the deliveries cancelled."""
    a, d, e = alert_table, delivery_table, wave_episode_table
    alerts = select(a.c.id).where(a.c.location_id == location_id).scalar_subquery()
    cancelled = conn.execute(
        update(d)
        .where(d.c.alert_id.in_(alerts), d.c.state.in_((_HELD, _PENDING)))
        .values(state=DeliveryState.CANCELLED.value, claimed_at=None)
    ).rowcount
    conn.execute(
        update(e)
        .where(e.c.location_id == location_id, e.c.closed_at.is_(None))
        .values(closed_at=as_utc(now))
    )
    return int(cancelled)


# --------------------------------------------------------------------------- releasing


def _handed_off(conn: Connection, episode_id: int, plan: WavePlan, now: dt.datetime) -> bool:
    """The episode's last wave on this channel is out, and its grace period has passed."""
    d = delivery_table
    stamp = literal(as_utc(now), UtcDateTime)
    mine = (d.c.alert_id.in_(episode_alerts(episode_id)), d.c.channel == plan.channel)
    # Pending rows deferred to later (quiet hours, retry back-off) do not hold the queue up.
    # "state IN" keeps both lookups on the (alert_id, state, ...) index.
    busy = conn.execute(
        select(d.c.id)
        .where(
            *mine,
            d.c.state.in_((_SENDING, _PENDING)),
            (d.c.state == _SENDING) | (d.c.next_attempt_at <= stamp),
        )
        .limit(1)
    ).first()
    if busy is not None:
        return False
    last_sent = conn.execute(
        select(func.max(d.c.sent_at)).where(*mine, d.c.state == DeliveryState.SENT.value)
    ).scalar_one_or_none()
    if last_sent is None:
        return True
    grace = dt.timedelta(seconds=plan.wave_grace_seconds)
    return as_utc(last_sent) + grace <= as_utc(now)


def release_next_wave(
    conn: Connection, episode_id: int, plan: WavePlan, size: int | None, now: dt.datetime
) -> int:
    """Make the next ``size`` held recipients (by rank) of the episode's live alerts pending,
    if the wave before has been handed off. Returns how many were released."""
    if not _handed_off(conn, episode_id, plan, now):
        return 0
    d = delivery_table
    held = delivery_table.alias("held")
    live = episode_alerts(episode_id, live_at=now)
    pick = (
        select(held.c.id)
        .where(held.c.alert_id.in_(live), held.c.channel == plan.channel, held.c.state == _HELD)
        .order_by(held.c.rank)
    )
    if size is not None:
        pick = pick.limit(size)
    released_waves = (
        select(func.coalesce(func.max(held.c.wave), 0))
        .where(
            held.c.alert_id.in_(episode_alerts(episode_id)),
            held.c.channel == plan.channel,
            held.c.next_attempt_at.is_not(None),  # released at some point
        )
        .scalar_subquery()
    )
    stmt = (
        update(d)
        .where(d.c.id.in_(pick.scalar_subquery()))
        .values(state=_PENDING, next_attempt_at=as_utc(now), wave=released_waves + 1)
    )
    return int(conn.execute(stmt).rowcount)


def release_open_episode(
    conn: Connection,
    location_id: str,
    appointments: int | None,
    plans: Sequence[WavePlan],
    now: dt.datetime,
) -> int:
    """A poll (fresh or unchanged) shows the place still open with ``appointments`` left
    (None: unknown count): release the next wave of its open episode on every channel."""
    e = wave_episode_table
    episode = conn.execute(
        select(e.c.id).where(e.c.location_id == location_id, e.c.closed_at.is_(None)).limit(1)
    ).scalar_one_or_none()
    if episode is None:
        return 0
    released = 0
    for plan in plans:
        if plan.audience != "recipient":
            continue
        released += release_next_wave(conn, int(episode), plan, wave_size(plan, appointments), now)
    return released


# --------------------------------------------------------------------------- reports


def where_sent(conn: Connection, ids: Sequence[int]) -> list[tuple[str, int, float | None]]:
    """(location id, subscriber id, miles) of the deliveries ``ids`` (subscriber rows only)."""
    d, a = delivery_table, alert_table
    rows = conn.execute(
        select(a.c.location_id, d.c.subscriber_id, d.c.distance_miles)
        .join_from(d, a, a.c.id == d.c.alert_id)
        .where(d.c.id.in_(list(ids)), d.c.subscriber_id.is_not(None))
    ).all()
    return [(loc, int(sub), miles) for loc, sub, miles in rows]


def first_wave_reach(conn: Connection) -> dict[str, float]:
    """Per location, the distance of the farthest recipient ever released in a first wave:
    the "first ring" a fair wave sequence should mostly stay inside."""
    d, a = delivery_table, alert_table
    rows = conn.execute(
        select(a.c.location_id, func.max(d.c.distance_miles))
        .join_from(d, a, a.c.id == d.c.alert_id)
        .where(d.c.wave == 1, d.c.next_attempt_at.is_not(None))
        .group_by(a.c.location_id)
    ).all()
    return {loc: float(miles) for loc, miles in rows if miles is not None}
