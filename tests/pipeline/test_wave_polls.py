"""Polls move the waves: a 304 releases like an open page, a full page ends the episode."""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, select

from notifier.db import outbox
from notifier.db import poll as db_poll
from notifier.db.engine import make_engine, upgrade
from notifier.db.fanout import ChannelPlan
from notifier.db.tables import delivery_table
from notifier.model import LocationAvailability, Status
from notifier.pipeline.backoff import BackoffPolicy
from notifier.pipeline.coordinator import PollOutcome
from notifier.pipeline.decide import decide_poll
from notifier.pipeline.diff import AlertPolicy
from tests.db.db_support import CAMBRIDGE, NOW, add_sub, make_location, offset

PLAN = ChannelPlan("sms", "recipient", wave_multiple=1.0, wave_grace_seconds=120)
POLICY = AlertPolicy(ttl_minutes=60)
LOCATION_ID = "prov:clinic-1"


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    url = f"sqlite:///{tmp_path / 'waves.db'}"
    upgrade(url)
    built = make_engine(url)
    with built.begin() as conn:
        for miles in range(1, 8):
            add_sub(conn, *offset(*CAMBRIDGE, north_miles=miles))
    yield built
    built.dispose()


def poll(engine: Engine, at: dt.datetime, open_slots: int | None) -> int:
    """One poll of the clinic: ``open_slots`` open (0: full), None: unchanged (304)."""
    pairs = None
    if open_slots is not None:
        status = Status.AVAILABLE if open_slots else Status.NONE
        item = LocationAvailability(make_location(), status, appointments=open_slots)
        pairs = [(LOCATION_ID, item)]
    kind = "ok" if pairs is not None else "unchanged"
    results = [item for _, item in pairs] if pairs is not None else None
    outcome = PollOutcome("prov", at, 10, results, kind, 200 if pairs else 304)
    with engine.begin() as conn:
        context = db_poll.load_poll_context(conn, "prov")
        decision = decide_poll(
            context,
            outcome,
            pairs,
            scraper="test",
            alerts=POLICY,
            backoff=BackoffPolicy(interval=60),
            now=at,
        )
        return len(db_poll.write_poll(conn, decision.write, [PLAN]))


def send_all(engine: Engine, at: dt.datetime) -> int:
    with engine.begin() as conn:
        claimed = outbox.claim_due(conn, "sms", limit=100, now=at, lease_seconds=60)
        outbox.mark_sent(conn, [c.id for c in claimed], "SM1", at)
    return len(claimed)


def states(engine: Engine) -> Counter[str]:
    with engine.connect() as conn:
        return Counter(conn.execute(select(delivery_table.c.state)).scalars())


def test_unchanged_polls_release_after_hand_off_and_grace(engine: Engine) -> None:
    minute = dt.timedelta(minutes=1)
    assert poll(engine, NOW, 0) == 0  # baseline: full
    assert poll(engine, NOW + minute, 2) == 1  # opened: a first wave of 2
    assert states(engine) == {"pending": 2, "held": 5}
    # Not handed off yet: a 304 releases nothing.
    assert poll(engine, NOW + 2 * minute, None) == 0
    assert states(engine) == {"pending": 2, "held": 5}
    assert send_all(engine, NOW + 2 * minute) == 2
    # Handed off, but the 2-minute grace for booking is not over.
    poll(engine, NOW + 3 * minute, None)
    assert states(engine) == {"sent": 2, "held": 5}
    # Unchanged page, grace over: the stored count (2) sizes the next wave.
    poll(engine, NOW + 4 * minute, None)
    assert states(engine) == {"sent": 2, "pending": 2, "held": 3}
    # The next good poll shows the place full: released and held texts are called off.
    poll(engine, NOW + 5 * minute, 0)
    assert states(engine) == {"sent": 2, "cancelled": 5}
    assert send_all(engine, NOW + 5 * minute) == 0
    # It reopens: a new episode, and the people already told may hear of the new opening.
    assert poll(engine, NOW + 20 * minute, 1) == 1
    assert states(engine) == {"sent": 2, "cancelled": 5, "pending": 1, "held": 6}
