"""SMS channel fixtures: the Twilio stub (one per module, reset per test), a channel aimed at
it, and a migrated SQLite database for the end-to-end tests."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest

from channels.sms import SmsChannel
from notifier.testing.twilio_stub import TwilioStub
from tests.channels.sms_support import sms_settings


@pytest.fixture(scope="module")
def twilio_stub_server() -> Iterator[TwilioStub]:
    with TwilioStub() as stub:
        yield stub


@pytest.fixture
def twilio_stub(twilio_stub_server: TwilioStub) -> TwilioStub:
    twilio_stub_server.reset()
    return twilio_stub_server


@pytest.fixture
async def sms(twilio_stub: TwilioStub) -> AsyncIterator[SmsChannel]:
    channel = SmsChannel(sms_settings(twilio_stub))
    yield channel
    await channel.aclose()
