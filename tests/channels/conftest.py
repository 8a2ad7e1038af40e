"""SMS channel fixtures: the Twilio stub (one per module, reset per test), a channel aimed at
it, and a migrated SQLite database for the end-to-end tests."""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from sms_support import sms_settings
from sqlalchemy import Engine

from channels.sms import SmsChannel
from notifier.db.engine import make_engine, upgrade
from notifier.testing.twilio_stub import TwilioStub


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


@pytest.fixture(scope="module")
def migrated_sqlite(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("sms-db") / "template.db"
    engine = make_engine(f"sqlite:///{path}")
    upgrade(engine)
    with engine.connect() as conn:
        conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    engine.dispose()
    return path


@pytest.fixture
def sqlite_engine(migrated_sqlite: Path, tmp_path: Path) -> Iterator[Engine]:
    path = tmp_path / "notifier.db"
    shutil.copyfile(migrated_sqlite, path)
    engine = make_engine(f"sqlite:///{path}")
    yield engine
    engine.dispose()
