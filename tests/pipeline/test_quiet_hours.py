"""Quiet hours: a delivery due inside a subscriber's quiet hours waits for their end, local time."""

from __future__ import annotations

import datetime as dt
import zoneinfo
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from notifier.config import ChannelConfig
from notifier.db import subscribers
from notifier.db.outbox import ClaimedDelivery
from notifier.db.tables import delivery_table
from notifier.pipeline.dispatch import quiet_until
from notifier.pipeline.poll import Runtime
from notifier.testing.simulator import ManualClock, ProviderSimulator
from notifier.testing.twilio_stub import DEFAULT_ACCOUNT_SID, DEFAULT_AUTH_TOKEN, TwilioStub
from tests.pipeline.pipeline_support import FIRST_CLINIC_DATE, poll_and_deliver, simulator_config

BOSTON = "America/New_York"
LA = "America/Los_Angeles"


def claimed(start: int | None, end: int | None, zone: str | None) -> ClaimedDelivery:
    return ClaimedDelivery(
        id=1,
        alert_id=1,
        channel="sms",
        subscriber_id=1,
        recipient="+16175550000",
        attempts=1,
        idempotency_key="k",
        expires_at=dt.datetime(2030, 1, 1, tzinfo=dt.UTC),
        wave=0,
        alert=None,  # type: ignore[arg-type]  # quiet_until never reads the alert
        time_zone=zone,
        quiet_start_hour=start,
        quiet_end_hour=end,
    )


def at(zone: str, *when: int) -> dt.datetime:
    return dt.datetime(*when, tzinfo=zoneinfo.ZoneInfo(zone)).astimezone(dt.UTC)  # type: ignore[misc]


def test_overnight_quiet_hours_end_next_morning_local_time() -> None:
    hold = quiet_until(claimed(22, 7, BOSTON), at(BOSTON, 2024, 5, 1, 23, 30))
    assert hold == at(BOSTON, 2024, 5, 2, 7, 0)
    assert quiet_until(claimed(22, 7, BOSTON), at(BOSTON, 2024, 5, 2, 3, 0)) == at(
        BOSTON, 2024, 5, 2, 7, 0
    )


def test_outside_quiet_hours_sends_now() -> None:
    for hour in (7, 12, 21):
        assert quiet_until(claimed(22, 7, BOSTON), at(BOSTON, 2024, 5, 1, hour, 0)) is None


def test_daytime_window_and_its_edges() -> None:
    window = claimed(9, 17, LA)
    assert quiet_until(window, at(LA, 2024, 5, 1, 9, 0)) == at(LA, 2024, 5, 1, 17, 0)
    assert quiet_until(window, at(LA, 2024, 5, 1, 16, 59)) == at(LA, 2024, 5, 1, 17, 0)
    assert quiet_until(window, at(LA, 2024, 5, 1, 17, 0)) is None
    assert quiet_until(window, at(LA, 2024, 5, 1, 8, 59)) is None


def test_the_subscribers_zone_decides_not_utc() -> None:
    # 03:00 UTC is 23:00 in Boston (quiet) but 20:00 in Los Angeles (not quiet).
    now = dt.datetime(2024, 5, 2, 3, 0, tzinfo=dt.UTC)
    assert quiet_until(claimed(22, 7, BOSTON), now) == at(BOSTON, 2024, 5, 2, 7, 0)
    assert quiet_until(claimed(22, 7, LA), now) is None


def test_night_of_the_spring_dst_change_ends_at_local_seven() -> None:
    # 10 March 2024: clocks in Boston jump from 02:00 to 03:00; the night is an hour shorter.
    hold = quiet_until(claimed(22, 7, BOSTON), at(BOSTON, 2024, 3, 9, 23, 0))
    assert hold == at(BOSTON, 2024, 3, 10, 7, 0)
    assert hold == dt.datetime(2024, 3, 10, 11, 0, tzinfo=dt.UTC)  # EDT, UTC-4


def test_no_window_or_an_empty_one_never_holds() -> None:
    now = at(BOSTON, 2024, 5, 1, 23, 0)
    assert quiet_until(claimed(None, 7, BOSTON), now) is None
    assert quiet_until(claimed(22, None, BOSTON), now) is None
    assert quiet_until(claimed(5, 5, BOSTON), now) is None


def test_unknown_zone_falls_back_to_utc() -> None:
    now = dt.datetime(2024, 5, 1, 23, 0, tzinfo=dt.UTC)
    expected = dt.datetime(2024, 5, 2, 7, 0, tzinfo=dt.UTC)
    assert quiet_until(claimed(22, 7, "Mars/Olympus_Mons"), now) == expected
    assert quiet_until(claimed(22, 7, None), now) == expected


# --------------------------------------------------------------------------- through the pipeline


@pytest.fixture
def twilio() -> Iterator[TwilioStub]:
    with TwilioStub() as stub:
        yield stub


@pytest.fixture
async def runtime(
    twilio: TwilioStub, tmp_path: Path
) -> AsyncIterator[tuple[Runtime, ProviderSimulator, ManualClock, int, int]]:
    """Two confirmed SMS subscribers near Fenway Park; the first is inside its quiet hours now."""
    clock = ManualClock()
    async with ProviderSimulator(
        quiet=True, clock=clock, first_clinic_date=FIRST_CLINIC_DATE
    ) as sim:
        config = simulator_config(sim, tmp_path)
        config.channels["sms"] = ChannelConfig(
            settings={
                "account_sid": DEFAULT_ACCOUNT_SID,
                "auth_token": DEFAULT_AUTH_TOKEN,
                "from_number": "+16175550000",
                "base_url": "https://alerts.example.org",
                "api_base_url": twilio.url,
                "messages_per_second": 100,
            },
        )
        built = Runtime.build(config)
        # A three-hour window around this hour in LA: "now" is inside it whatever the time.
        local_hour = dt.datetime.now(zoneinfo.ZoneInfo(LA)).hour
        ids = []
        with built.engine.begin() as conn:
            for n, quiet in enumerate([((local_hour - 1) % 24, (local_hour + 2) % 24), None]):
                subscriber_id, token = subscribers.add_subscriber(
                    conn,
                    channel="sms",
                    address=f"+1617555{n:04d}",
                    postal_code="02215",
                    radius_miles=25,
                    time_zone=LA,
                    quiet_start_hour=quiet[0] if quiet else None,
                    quiet_end_hour=quiet[1] if quiet else None,
                )
                subscribers.confirm(conn, token)
                ids.append(subscriber_id)
        try:
            yield built, sim, clock, ids[0], ids[1]
        finally:
            await built.aclose()


async def test_delivery_in_quiet_hours_is_held_until_their_end(
    runtime: tuple[Runtime, ProviderSimulator, ManualClock, int, int], twilio: TwilioStub
) -> None:
    built, sim, clock, quiet_id, awake_id = runtime
    sim.release(600, fill_seconds=1.0)
    clock.advance(5)
    await poll_and_deliver(built)  # the baseline: every clinic full
    sim.release(1_000, sites=("fenway-park",), fill_seconds=10_000)
    clock.advance(1)
    before = dt.datetime.now(dt.UTC)
    await poll_and_deliver(built)
    d = delivery_table
    with built.engine.connect() as conn:
        rows = {
            r.subscriber_id: r
            for r in conn.execute(select(d).where(d.c.channel == "sms")).mappings()
        }
    assert rows.keys() == {quiet_id, awake_id}, rows
    assert rows[awake_id]["state"] == "sent"
    held = rows[quiet_id]
    assert held["state"] == "pending" and held["sent_at"] is None
    assert held["attempts"] == 0  # holding is not a failed attempt
    wake = held["next_attempt_at"].replace(tzinfo=dt.UTC).astimezone(zoneinfo.ZoneInfo(LA))
    expected_hour = (before.astimezone(zoneinfo.ZoneInfo(LA)).hour + 2) % 24
    assert (wake.hour, wake.minute) == (expected_hour, 0)
    assert dt.timedelta(0) < wake - before <= dt.timedelta(hours=2)
    assert [r.to for r in twilio.requests] == ["+16175550001"]  # the awake one only
