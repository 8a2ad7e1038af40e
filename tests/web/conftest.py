"""Web fixtures: a migrated SQLite database and the app with the SMS channel configured."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from notifier.config import ChannelConfig, Config, OperatorConfig
from notifier.web.app import create_app
from tests.web.sms_web_support import ACCOUNT_SID, AUTH_TOKEN, OUR_NUMBER, PUBLIC_BASE

NOW = dt.datetime(2021, 2, 24, 15, 0, tzinfo=dt.UTC)


def sms_config() -> Config:
    settings = {
        "account_sid": ACCOUNT_SID,
        "auth_token": AUTH_TOKEN,
        "from_number": OUR_NUMBER,
        "base_url": PUBLIC_BASE,
    }
    return Config(
        operator=OperatorConfig(contact="ops@example.org"),
        channels={"sms": ChannelConfig(settings=settings)},
    )


@pytest.fixture
def client(sqlite_engine: Engine) -> Iterator[TestClient]:
    app = create_app(sms_config(), engine=sqlite_engine, clock=lambda: NOW)
    with TestClient(app, raise_server_exceptions=False) as test_client:
        yield test_client
