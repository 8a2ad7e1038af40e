"""Web fixtures: a migrated SQLite database and the app with the SMS channel configured."""

from __future__ import annotations

import datetime as dt
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sms_web_support import ACCOUNT_SID, AUTH_TOKEN, OUR_NUMBER, PUBLIC_BASE
from sqlalchemy import Engine

from notifier.config import ChannelConfig, Config, OperatorConfig
from notifier.db.engine import make_engine, upgrade
from notifier.web.app import create_app

NOW = dt.datetime(2021, 2, 24, 15, 0, tzinfo=dt.UTC)


@pytest.fixture(scope="module")
def migrated_sqlite(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("web-db") / "template.db"
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
