"""The "Buckland" wave simulation: one small clinic, a whole state of subscribers, a slow sender.

A rural clinic in Buckland, MA opens 350 appointments; a flag-only pharmacy in Greenfield
(no count) opens too. Subscribers are the synthetic statewide population of
``notifier.testing.subscribers``. Time is simulated, everything else is the real thing: every
poll goes through ``load_poll_context`` / ``decide_poll`` / ``write_poll`` (the pure decision
and the real SQL), and a 1-message-a-second sender claims and marks deliveries through the
outbox. Each text the clinic's recipients receive books a slot with probability
``1 / wave_multiple``; the clinic adds a few slots later (an "increased" alert in the same
episode) and fills part-way through. The clinic's feed refreshes its count only every few
minutes: the polls in between are "unchanged" (HTTP 304), and must release waves too.

``run`` returns what the issue asks to check: who was texted, how far away, when, whether
anyone was texted after a poll had seen the place full, and whether anyone was told twice.
``tests/pipeline/test_buckland.py`` runs it at a smaller scale; ``bench/bench_buckland.py``
at a million subscribers.
"""

from __future__ import annotations

import datetime as dt
import random
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

from sqlalchemy import Engine

from notifier.db import outbox, waves
from notifier.db import poll as db_poll
from notifier.db.fanout import ChannelPlan
from notifier.db.subscribers import bulk_insert_subscribers
from notifier.model import Location, LocationAvailability, Status
from notifier.pipeline.backoff import BackoffPolicy
from notifier.pipeline.coordinator import PollOutcome
from notifier.pipeline.decide import decide_poll
from notifier.pipeline.diff import AlertPolicy
from notifier.testing.subscribers import synthetic_subscribers

__all__ = ["CLINIC", "PHARMACY", "Scenario", "SimulationResult", "percentiles", "run"]

START = dt.datetime(2021, 3, 1, 14, 0, tzinfo=dt.UTC)
CLINIC = Location(
    id="buckland-town-hall",
    name="Buckland Town Hall Clinic",
    city="Buckland",
    state="MA",
    postal_code="01338",
    lat=42.5917,
    lon=-72.7920,
    time_zone="America/New_York",
)
PHARMACY = Location(
    id="store-1234",
    name="Pharmacy #1234",
    city="Greenfield",
    state="MA",
    postal_code="01301",
    lat=42.5876,
    lon=-72.5995,
    time_zone="America/New_York",
)
CLINIC_PROVIDER, PHARMACY_PROVIDER = "buckland", "pharmacy"


@dataclass(frozen=True, slots=True)
class Scenario:
    """One run. The defaults are the full-size case; tests shrink it in proportion."""

    subscribers: int = 1_000_000
    slots: int = 350
    #: slots the clinic adds later, and when (an "increased" alert in the same episode)
    added_slots: int = 150
    added_at_minute: int = 12
    #: the flag-only pharmacy is open (no count) until this minute
    pharmacy_full_at_minute: int = 6
    minutes: int = 60
    poll_seconds: int = 60
    #: the clinic's feed refreshes its count this often; polls in between are "unchanged"
    feed_refresh_minutes: int = 3
    send_every_seconds: float = 1.0
    wave_multiple: float = 3.0
    unknown_count_wave: int = 60
    wave_grace_seconds: float = 300.0
    seed: int = 2021


@dataclass
class SimulationResult:
    scenario: Scenario
    #: (location id, subscriber id, miles, sent at) of every text sent
    sent: list[tuple[str, int, float, dt.datetime]] = field(default_factory=list)
    #: per location, the farthest recipient of its first wave (the "first ring")
    first_ring: dict[str, float] = field(default_factory=dict)
    #: per location, when a poll first saw it full
    full_seen_at: dict[str, dt.datetime] = field(default_factory=dict)
    #: when the clinic really ran out of slots
    clinic_filled_at: dt.datetime | None = None
    alerts: int = 0
    polls: Counter[str] = field(default_factory=Counter)

    def within_first_ring(self) -> float:
        inside = sum(1 for loc, _, miles, _ in self.sent if miles <= self.first_ring[loc])
        return inside / len(self.sent) if self.sent else 1.0

    def sent_after_full(self) -> int:
        return sum(
            1
            for loc, _, _, at in self.sent
            if loc in self.full_seen_at and at >= self.full_seen_at[loc]
        )

    def told_twice(self) -> int:
        counts = Counter((loc, sub) for loc, sub, _, _ in self.sent)
        return sum(1 for n in counts.values() if n > 1)

    def distances(self) -> list[float]:
        return sorted(miles for _, _, miles, _ in self.sent)


def percentiles(
    values: Sequence[float], points: Sequence[int] = (50, 90, 99, 100)
) -> dict[int, float]:
    """Nearest-rank percentiles of sorted ``values``."""
    if not values:
        return {}
    return {p: values[min(len(values) - 1, max(0, -(-p * len(values) // 100) - 1))] for p in points}


def load_subscribers(engine: Engine, scenario: Scenario) -> int:
    rows = synthetic_subscribers(scenario.subscribers, seed=scenario.seed, channels=("sms",))
    with engine.begin() as conn:
        return bulk_insert_subscribers(conn, rows, now=START)


class _Clinic:
    """The clinic's real slots, and what its (cached) feed says."""

    def __init__(self, scenario: Scenario) -> None:
        self.open = False
        self.left = scenario.slots
        self.feed: int | None = None  # the count the feed shows; None: not published yet
        self.refresh = dt.timedelta(minutes=scenario.feed_refresh_minutes)
        self.refreshed_at: dt.datetime | None = None

    def page(self, now: dt.datetime) -> int | None:
        """The feed's count, or None for an unchanged page (304)."""
        stale = self.refreshed_at is None or now - self.refreshed_at >= self.refresh
        if stale and (self.feed != self.left if self.open else self.feed != 0):
            self.feed = self.left if self.open else 0
            self.refreshed_at = now
            return self.feed
        return None


def run(engine: Engine, scenario: Scenario) -> SimulationResult:
    """Simulate ``scenario.minutes`` of polling and sending on ``engine`` (subscribers loaded)."""
    plan = ChannelPlan(
        "sms",
        "recipient",
        wave_multiple=scenario.wave_multiple,
        unknown_count_wave=scenario.unknown_count_wave,
        wave_grace_seconds=scenario.wave_grace_seconds,
    )
    # Any rise is news here, so the added slots make an "increased" alert at every scale.
    policy = AlertPolicy(min_increase=1, cooldown_minutes=5, ttl_minutes=60)
    result = SimulationResult(scenario)
    rng = random.Random(scenario.seed)
    clinic = _Clinic(scenario)
    books = 1.0 / scenario.wave_multiple
    poll_every = dt.timedelta(seconds=scenario.poll_seconds)
    send_every = dt.timedelta(seconds=scenario.send_every_seconds)
    end = START + dt.timedelta(minutes=scenario.minutes)
    opens_at = START + poll_every  # the first poll is the baseline: everything full
    added_at = opens_at + dt.timedelta(minutes=scenario.added_at_minute)
    pharmacy_until = opens_at + dt.timedelta(minutes=scenario.pharmacy_full_at_minute)
    next_poll, next_send = START, opens_at
    pharmacy_shown: bool | None = None
    while min(next_poll, next_send) < end:
        now = min(next_poll, next_send)
        if now == next_poll:
            if now >= opens_at and not clinic.open and clinic.left > 0:
                clinic.open = True
            if now >= added_at and scenario.added_slots:
                clinic.left += scenario.added_slots
                clinic.open = True
                added_at = end + poll_every  # only once
            count = clinic.page(now)
            _poll(engine, CLINIC_PROVIDER, CLINIC, count, now, plan, policy, result)
            pharmacy_open = opens_at <= now < pharmacy_until
            flag = pharmacy_open if pharmacy_open != pharmacy_shown else None
            pharmacy_shown = pharmacy_open
            _poll_flag(engine, flag, now, plan, policy, result)
            next_poll = now + poll_every
        if now == next_send:
            for location_id in _send_one(engine, now, result):
                if location_id.endswith(CLINIC.id) and clinic.left > 0 and rng.random() < books:
                    clinic.left -= 1
                    if clinic.left == 0:
                        clinic.open = False
                        result.clinic_filled_at = now
            next_send = now + send_every
    result.first_ring = _first_rings(engine)
    return result


def _poll(
    engine: Engine,
    provider_id: str,
    location: Location,
    count: int | None,
    now: dt.datetime,
    plan: ChannelPlan,
    policy: AlertPolicy,
    result: SimulationResult,
) -> None:
    """A counted source: ``count`` open (0: full), or None for an unchanged page."""
    if count is None:
        _record(engine, provider_id, None, now, plan, policy, result)
        return
    status = Status.AVAILABLE if count > 0 else Status.NONE
    item = LocationAvailability(location, status, appointments=count)
    _record(engine, provider_id, [item], now, plan, policy, result)


def _poll_flag(
    engine: Engine,
    is_open: bool | None,
    now: dt.datetime,
    plan: ChannelPlan,
    policy: AlertPolicy,
    result: SimulationResult,
) -> None:
    """The flag-only source: open or not, never a count; None for an unchanged page."""
    if is_open is None:
        _record(engine, PHARMACY_PROVIDER, None, now, plan, policy, result)
        return
    item = LocationAvailability(PHARMACY, Status.AVAILABLE if is_open else Status.NONE)
    _record(engine, PHARMACY_PROVIDER, [item], now, plan, policy, result)


def _record(
    engine: Engine,
    provider_id: str,
    results: list[LocationAvailability] | None,
    now: dt.datetime,
    plan: ChannelPlan,
    policy: AlertPolicy,
    result: SimulationResult,
) -> None:
    kind = "ok" if results is not None else "unchanged"
    outcome = PollOutcome(provider_id, now, 100, results, kind, 200 if results else 304)
    pairs = (
        [(f"{provider_id}:{item.location.id}", item) for item in results]
        if results is not None
        else None
    )
    with engine.begin() as conn:
        context = db_poll.load_poll_context(conn, provider_id)
        decision = decide_poll(
            context,
            outcome,
            pairs,
            scraper=provider_id,
            alerts=policy,
            backoff=BackoffPolicy(interval=60),
            now=now,
        )
        result.alerts += len(db_poll.write_poll(conn, decision.write, [plan]))
    result.polls[kind] += 1
    for loc_id, item in pairs or ():
        if item.status is Status.NONE and loc_id not in result.full_seen_at and result.alerts:
            result.full_seen_at[loc_id] = now


def _send_one(engine: Engine, now: dt.datetime, result: SimulationResult) -> list[str]:
    """The sender's next message (at one a second): claim, "send", mark sent. Returns the
    locations the texts were about."""
    with engine.begin() as conn:
        claimed = outbox.claim_due(conn, "sms", limit=1, now=now, lease_seconds=60)
        if not claimed:
            return []
        ids = [c.id for c in claimed]
        outbox.mark_sent(conn, ids, "SM-sim", now)
        rows = waves.where_sent(conn, ids)
    for location_id, subscriber_id, miles in rows:
        result.sent.append((location_id, subscriber_id, float(miles or 0.0), now))
    return [location_id for location_id, _, _ in rows]


def _first_rings(engine: Engine) -> dict[str, float]:
    with engine.connect() as conn:
        return waves.first_wave_reach(conn)
