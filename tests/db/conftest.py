"""Database fixtures: a migrated SQLite file per test, and a throwaway PostgreSQL database per
session (``notifier_test_<random>`` on 127.0.0.1:5432, dropped afterwards).

PostgreSQL tests skip with a reason when the server is unreachable, except in CI
(``CI=true``), where an unreachable server is a failure.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest
from sqlalchemy import Engine, create_engine, text

from notifier.db.engine import make_engine, upgrade
from notifier.db.tables import metadata

PG_SERVER = os.environ.get("NOTIFIER_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432")
PG_ADMIN_DB = "postgres"


def _pg_unavailable(reason: str) -> None:
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"PostgreSQL required in CI: {reason}")
    pytest.skip(f"PostgreSQL server not reachable at 127.0.0.1:5432 ({reason})")


@pytest.fixture(scope="session")
def pg_server_url() -> Iterator[str]:
    """A fresh database on the real server; yields its URL and drops it at the end."""
    name = f"notifier_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(f"{PG_SERVER}/{PG_ADMIN_DB}", isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as error:  # noqa: BLE001 - any connection failure means "no server"
        admin.dispose()
        _pg_unavailable(type(error).__name__)
    try:
        yield f"{PG_SERVER}/{name}"
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(scope="session")
def pg_engine_session(pg_server_url: str) -> Iterator[Engine]:
    engine = make_engine(pg_server_url)
    upgrade(engine)
    yield engine
    engine.dispose()


def delete_all_rows(engine: Engine) -> None:
    # DELETE, not TRUNCATE: on the handful of rows a test leaves it is ~20x faster.
    with engine.begin() as conn:
        for table in reversed(metadata.sorted_tables):
            conn.execute(table.delete())


@pytest.fixture
def pg_engine(pg_engine_session: Engine) -> Engine:
    delete_all_rows(pg_engine_session)
    return pg_engine_session


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def engine(request: pytest.FixtureRequest) -> Engine:
    """Runs the test once on SQLite and once on PostgreSQL."""
    name = "sqlite_engine" if request.param == "sqlite" else "pg_engine"
    return request.getfixturevalue(name)
