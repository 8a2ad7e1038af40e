"""Sign-up limits shared through PostgreSQL: two app instances (each with its own engine, as
two web processes have) enforce one limit per IP address and per phone prefix together; the
429 page still says how long to wait; SQLite keeps the in-memory limiter; an unreachable
database lets the request through to an honest 503."""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, select

from notifier.config import RateLimitConfig
from notifier.db.engine import make_engine
from notifier.db.tables import signup_limit_table, subscriber_table
from notifier.web.app import create_app
from notifier.web.signup.limits import UNCHECKED, KeyedLimiter, SharedLimiter, SharedLimits
from tests.db.conftest import pg_engine, pg_engine_session, pg_server_url
from tests.web.signup_support import WEB_SECRET, sign_up, signup_config

__all__ = ["pg_engine", "pg_engine_session", "pg_server_url"]  # fixtures used below

HTTPS = "https://testserver"  # the CSRF cookie is Secure when the public URL is https
UNREACHABLE = "postgresql+psycopg://postgres@127.0.0.1:9/nowhere"


def limit_rows(engine: Engine) -> list[tuple[str, str]]:
    with engine.connect() as conn:
        rows = conn.execute(select(signup_limit_table.c.scope, signup_limit_table.c.key))
        return sorted((r.scope, r.key) for r in rows)


def subscriber_count(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(subscriber_table)).scalar_one())


@pytest.fixture
def second_engine(pg_engine: Engine, pg_server_url: str) -> Iterator[Engine]:
    """The same database through a second engine: another web process's connections."""
    engine = make_engine(pg_server_url)
    yield engine
    engine.dispose()


@pytest.fixture
def two_apps(pg_engine: Engine, second_engine: Engine) -> Iterator[tuple[TestClient, TestClient]]:
    config = signup_config(
        per_ip=RateLimitConfig(count=4, per_seconds=600),
        per_phone_prefix=RateLimitConfig(count=2, per_seconds=3600),
    )
    with (
        TestClient(create_app(config, engine=pg_engine), base_url=HTTPS) as one,
        TestClient(create_app(config, engine=second_engine), base_url=HTTPS) as two,
    ):
        yield one, two


@pytest.mark.postgres
def test_two_apps_share_one_limit_per_ip(
    two_apps: tuple[TestClient, TestClient], pg_engine: Engine
) -> None:
    one, two = two_apps
    clients = [one, two, one, two, one, two]
    codes = [
        sign_up(c, channel="email", email=f"p{i}@example.org").status_code
        for i, c in enumerate(clients)
    ]
    last = sign_up(two, channel="email", email="late@example.org", lang="de")
    assert codes == [200, 200, 200, 200, 429, 429]  # alone, each app would have allowed 4
    assert last.status_code == 429
    # 4 per 600 s: the next attempt is due 150 s after the first
    assert 140 < int(last.headers["Retry-After"]) <= 151
    assert "Bitte warten Sie 3 Minuten" in last.text
    assert subscriber_count(pg_engine) == 4


@pytest.mark.postgres
def test_two_apps_share_one_limit_per_phone_prefix(
    two_apps: tuple[TestClient, TestClient], pg_engine: Engine
) -> None:
    one, two = two_apps
    first = sign_up(one, channel="sms", phone="+16175550101").status_code
    second = sign_up(two, channel="sms", phone="+16175550102").status_code
    refused = sign_up(one, channel="sms", phone="+16175550103")
    other_prefix = sign_up(two, channel="sms", phone="+15085550101").status_code
    assert (first, second, refused.status_code, other_prefix) == (200, 200, 429, 200)
    assert "numbers like this one" in refused.text and "sign up by email" in refused.text
    assert 1790 < int(refused.headers["Retry-After"]) <= 1801  # 2 per hour: half an hour
    assert subscriber_count(pg_engine) == 3


@pytest.mark.postgres
def test_the_table_holds_digests_not_addresses_or_prefixes(
    two_apps: tuple[TestClient, TestClient], pg_engine: Engine
) -> None:
    one, _two = two_apps
    assert sign_up(one, channel="sms", phone="+16175550101").status_code == 200
    rows = limit_rows(pg_engine)
    assert [scope for scope, _key in rows] == ["ip", "phone_prefix"]
    for _scope, key in rows:
        assert re.fullmatch(r"[0-9a-f]{32}", key)
        assert "testclient" not in key and "617555" not in key


@pytest.mark.postgres
def test_postgres_shares_and_sqlite_keeps_the_limit_in_memory(
    pg_engine: Engine, sqlite_engine: Engine
) -> None:
    config = signup_config(per_ip=RateLimitConfig(count=2, per_seconds=600))
    on_postgres = create_app(config, engine=pg_engine)
    on_sqlite = create_app(config, engine=sqlite_engine)
    assert isinstance(on_postgres.state.signup.per_ip, SharedLimiter)
    assert isinstance(on_postgres.state.signup.per_prefix, SharedLimiter)
    assert isinstance(on_sqlite.state.signup.per_ip, KeyedLimiter)
    assert isinstance(on_sqlite.state.signup.per_prefix, KeyedLimiter)
    with TestClient(on_sqlite, base_url=HTTPS) as client:
        codes = [
            sign_up(client, channel="sms", phone=f"+1617555{n:04d}").status_code for n in range(3)
        ]
    assert codes == [200, 200, 429]
    assert limit_rows(sqlite_engine) == []  # no database write for a limit on SQLite


def test_sqlite_limits_are_per_app_as_before(sqlite_engine: Engine) -> None:
    """The embedded mode is one process; two apps there keep separate buckets (unchanged)."""
    config = signup_config(per_ip=RateLimitConfig(count=1, per_seconds=600))
    with (
        TestClient(create_app(config, engine=sqlite_engine), base_url=HTTPS) as one,
        TestClient(create_app(config, engine=sqlite_engine), base_url=HTTPS) as two,
    ):
        codes = [
            sign_up(c, channel="email", email=f"s{i}@example.org").status_code
            for i, c in enumerate([one, two, one])
        ]
    assert codes == [200, 200, 429]


@pytest.mark.postgres
def test_expired_keys_are_pruned_in_the_background(pg_engine: Engine) -> None:
    async def run() -> None:
        shared = SharedLimits(pg_engine, WEB_SECRET, prune_every=0.0)
        brief = shared.limiter("ip", RateLimitConfig(count=1, per_seconds=0.2))
        lasting = shared.limiter("ip", RateLimitConfig(count=1, per_seconds=3600))
        try:
            assert await brief.take("203.0.113.1") == 0.0
            wait = await brief.take("203.0.113.1")
            assert 0.0 < wait <= 0.2
            await asyncio.sleep(wait + 0.05)  # the bucket is full again: the row decides nothing
            assert await lasting.take("203.0.113.2") == 0.0  # ...and this check prunes it
        finally:
            await shared.aclose()  # waits for the prune it started
        assert limit_rows(pg_engine) == [("ip", shared.digest("203.0.113.2"))]

    asyncio.run(run())


def test_an_unreachable_database_fails_open_and_warns_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    engine = make_engine(UNREACHABLE, connect_args={"connect_timeout": 2})
    shared = SharedLimits(engine, WEB_SECRET)
    limiter = shared.limiter("ip", RateLimitConfig(count=1, per_seconds=600))

    async def run() -> list[float]:
        try:
            return [await limiter.take("203.0.113.9") for _ in range(3)]
        finally:
            await shared.aclose()

    try:
        with caplog.at_level(logging.WARNING, logger="notifier.web.signup.limits"):
            waits = asyncio.run(run())
    finally:
        engine.dispose()
    assert waits == [0.0, 0.0, 0.0]  # let through: nothing can be stored without the database
    warnings = [r.getMessage() for r in caplog.records]
    assert warnings == [UNCHECKED % ("ip", "OperationalError")]


def test_an_unreachable_database_gets_a_503_page_not_a_500(
    caplog: pytest.LogCaptureFixture,
) -> None:
    engine = make_engine(UNREACHABLE, connect_args={"connect_timeout": 2})
    config = signup_config()
    try:
        with TestClient(create_app(config, engine=engine), base_url=HTTPS) as client:
            page = sign_up(client, channel="sms", phone="+16175550101", lang="es")
    finally:
        engine.dispose()
    assert page.status_code == 503
    assert page.headers["Retry-After"] == "30"
    assert "Vuelva a intentarlo en un minuto" in page.text
