"""SMS waves through the real pipeline: the next wave goes out only while openings remain."""

from __future__ import annotations

from collections import Counter
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from notifier.config import ChannelConfig
from notifier.db import subscribers
from notifier.db.tables import delivery_table
from notifier.pipeline.poll import Runtime
from notifier.testing.simulator import ManualClock, ProviderSimulator
from notifier.testing.twilio_stub import DEFAULT_ACCOUNT_SID, DEFAULT_AUTH_TOKEN, TwilioStub
from tests.pipeline.pipeline_support import FIRST_CLINIC_DATE, poll_and_deliver, simulator_config

FENWAY_ZIP = "02215"


@pytest.fixture
def twilio() -> Iterator[TwilioStub]:
    with TwilioStub() as stub:
        yield stub


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
async def runtime(
    clock: ManualClock, twilio: TwilioStub, tmp_path: Path
) -> AsyncIterator[tuple[Runtime, ProviderSimulator]]:
    async with ProviderSimulator(
        quiet=True, clock=clock, first_clinic_date=FIRST_CLINIC_DATE
    ) as sim:
        config = simulator_config(sim, tmp_path)
        config.channels["sms"] = ChannelConfig(
            wave_multiple=0.001,  # 4,000 open appointments -> waves of 4 people
            wave_grace_seconds=0,  # the next poll may release as soon as a wave is out
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
        with built.engine.begin() as conn:
            for n in range(10):
                _, token = subscribers.add_subscriber(
                    conn,
                    channel="sms",
                    address=f"+1617555{n:04d}",
                    postal_code=FENWAY_ZIP,
                    radius_miles=25,
                )
                subscribers.confirm(conn, token)
        try:
            yield built, sim
        finally:
            await built.aclose()


def sms_states(runtime: Runtime) -> Counter[str]:
    d = delivery_table
    with runtime.engine.connect() as conn:
        return Counter(conn.execute(select(d.c.state).where(d.c.channel == "sms")).scalars())


async def test_waves_release_while_open_and_cancel_when_full(
    runtime: tuple[Runtime, ProviderSimulator], clock: ManualClock, twilio: TwilioStub
) -> None:
    built, sim = runtime
    sim.release(600, fill_seconds=1.0)
    clock.advance(5)
    await poll_and_deliver(built)  # baseline: every clinic full

    sim.release(4_000, sites=("fenway-park",), fill_seconds=100)
    clock.advance(1)
    opened = await poll_and_deliver(built)
    assert len(opened.alerts) == 1
    assert sms_states(built) == {"sent": 4, "held": 6}  # only the nearest first wave

    clock.advance(1)  # still open at the next poll: the next wave goes out
    await poll_and_deliver(built)
    assert sms_states(built) == {"sent": 8, "held": 2}

    clock.advance(200)  # every clinic has filled: the rest of the waves are called off
    await poll_and_deliver(built)
    assert sms_states(built) == {"sent": 8, "cancelled": 2}
    assert len(twilio.requests) == 8
