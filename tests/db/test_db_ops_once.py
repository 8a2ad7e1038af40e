"""Ops incidents and the ops notices' hourly bucket: opened once, closed once, on SQLite and
PostgreSQL."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Engine

from notifier.db import ops_once
from notifier.db.engine import write_transaction

T0 = dt.datetime(2026, 3, 1, 8, 0, tzinfo=dt.UTC)


def test_an_incident_is_opened_once_and_closed_once(engine: Engine) -> None:
    with write_transaction(engine) as conn:
        assert ops_once.open_incident(conn, "scraper:prepmod", T0)
        assert not ops_once.open_incident(conn, "scraper:prepmod", T0 + dt.timedelta(hours=1))
        assert ops_once.open_incident(conn, "scraper:smart", T0)
    with engine.connect() as conn:
        assert ops_once.open_incidents(conn) == ["scraper:prepmod", "scraper:smart"]
    with write_transaction(engine) as conn:
        assert ops_once.close_incident(conn, "scraper:prepmod") == T0  # when it was first opened
        assert ops_once.close_incident(conn, "scraper:prepmod") is None
        assert ops_once.close_incident(conn, "scraper:never") is None
        assert ops_once.open_incident(conn, "scraper:prepmod", T0)  # a new incident
    with engine.connect() as conn:
        assert ops_once.open_incidents(conn) == ["scraper:prepmod", "scraper:smart"]


def test_the_notice_bucket_keeps_what_the_step_stores(engine: Engine) -> None:
    seen: list[tuple[float, ...] | None] = []

    def step(state: tuple[float, ...] | None, now_ms: int) -> tuple[tuple[float, ...], int | None]:
        seen.append(state)
        return (float(len(seen)), float(now_ms)), len(seen)

    with write_transaction(engine) as conn:
        assert ops_once.take_notice(conn, step) == 1
    with write_transaction(engine) as conn:
        assert ops_once.take_notice(conn, step) == 2
    assert seen[0] is None
    assert seen[1] is not None and seen[1][0] == 1.0
    # the database's clock, in ms: within a minute of this machine's
    now_ms = dt.datetime.now(dt.UTC).timestamp() * 1000
    assert abs(seen[1][1] - now_ms) < 60_000
