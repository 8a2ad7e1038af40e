"""Shared sign-up limits on the real PostgreSQL server: one atomic upsert per check holds the
limit for racing connections, tells how long to wait, and its expired keys are pruned."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import psycopg
import pytest
from sqlalchemy import Engine, select

from notifier.db import signup_limits
from notifier.db.engine import make_engine
from notifier.db.tables import signup_limit_table


@pytest.fixture
def limit_engine(pg_engine: Engine) -> Iterator[Engine]:
    engine = signup_limits.limit_engine(pg_engine)
    yield engine
    engine.dispose()


def take(engine: Engine, key: str, count: int, per_seconds: float, scope: str = "ip") -> float:
    with engine.connect() as conn:
        return signup_limits.take(conn, scope, key, count, per_seconds)


def stored(engine: Engine) -> list[tuple[str, str]]:
    with engine.connect() as conn:
        rows = conn.execute(select(signup_limit_table.c.scope, signup_limit_table.c.key))
        return sorted((r.scope, r.key) for r in rows)


@pytest.mark.postgres
def test_count_attempts_pass_then_the_wait_is_one_refill(limit_engine: Engine) -> None:
    waits = [take(limit_engine, "k", 3, 600.0) for _ in range(5)]
    assert waits[:3] == [0.0, 0.0, 0.0]
    # 3 per 600 s: one attempt comes back every 200 s, the first of them 200 s after the start
    assert 199.0 < waits[3] <= 200.0
    assert waits[3] >= waits[4] > 198.0  # a refusal spends nothing: the wait only shrinks


@pytest.mark.postgres
def test_keys_and_scopes_are_separate(limit_engine: Engine) -> None:
    assert take(limit_engine, "a", 1, 600.0) == 0.0
    assert take(limit_engine, "a", 1, 600.0) > 0
    assert take(limit_engine, "b", 1, 600.0) == 0.0
    assert take(limit_engine, "a", 1, 600.0, scope="phone_prefix") == 0.0


@pytest.mark.postgres
def test_after_the_wait_it_says_the_next_attempt_passes(limit_engine: Engine) -> None:
    assert take(limit_engine, "k", 2, 0.6) == 0.0
    assert take(limit_engine, "k", 2, 0.6) == 0.0
    wait = take(limit_engine, "k", 2, 0.6)
    assert 0.0 < wait <= 0.3
    time.sleep(wait)  # exactly the wait the refusal named (the Retry-After of the page)
    assert take(limit_engine, "k", 2, 0.6) == 0.0
    assert take(limit_engine, "k", 2, 0.6) > 0


@pytest.mark.postgres
def test_prune_deletes_only_the_keys_whose_bucket_is_full_again(limit_engine: Engine) -> None:
    assert take(limit_engine, "short", 1, 0.2) == 0.0
    assert take(limit_engine, "long", 1, 3600.0) == 0.0
    assert take(limit_engine, "short", 1, 0.2) > 0  # still limited: not prunable yet
    with limit_engine.connect() as conn:
        assert signup_limits.prune(conn) == 0
    time.sleep(0.25)
    with limit_engine.connect() as conn:
        assert signup_limits.prune(conn) == 1
    assert stored(limit_engine) == [("ip", "long")]
    assert take(limit_engine, "long", 1, 3600.0) > 3590  # pruning changed no decision
    assert take(limit_engine, "short", 1, 0.2) == 0.0


@pytest.mark.postgres
@pytest.mark.parametrize("count", [1, 7])
def test_connections_racing_on_one_key_never_exceed_the_limit(
    pg_engine: Engine, count: int
) -> None:
    """Three pools (as three web processes would have), six threads each, one burst."""
    engines = [signup_limits.limit_engine(pg_engine) for _ in range(3)]
    threads_per_engine, attempts = 6, 4
    start = threading.Barrier(len(engines) * threads_per_engine)
    waits: list[float] = []
    lock = threading.Lock()

    def burst(engine: Engine) -> None:
        with engine.connect() as conn:  # connected before the barrier: the race is the checks
            start.wait()
            mine = [signup_limits.take(conn, "ip", "racer", count, 3600.0) for _ in range(attempts)]
        with lock:
            waits.extend(mine)

    threads = [
        threading.Thread(target=burst, args=(engine,))
        for engine in engines
        for _ in range(threads_per_engine)
    ]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
    finally:
        for engine in engines:
            engine.dispose()
    assert len(waits) == len(threads) * attempts
    assert waits.count(0.0) == count
    assert all(w > 3600.0 / count - 60 for w in waits if w)


@pytest.mark.postgres
def test_a_check_is_one_autocommit_statement(limit_engine: Engine) -> None:
    """No BEGIN before the upsert and no COMMIT after it: the driver is in autocommit and no
    transaction is left open (one round trip per check)."""
    with limit_engine.connect() as conn:
        driver = conn.connection.dbapi_connection
        assert driver is not None and driver.autocommit is True  # type: ignore[attr-defined]
        signup_limits.take(conn, "ip", "k", 1, 60.0)
        status = driver.info.transaction_status  # type: ignore[attr-defined]
        assert status == psycopg.pq.TransactionStatus.IDLE


def test_sqlite_is_refused_with_a_reason() -> None:
    engine = make_engine("sqlite://")
    try:
        with engine.connect() as conn, pytest.raises(NotImplementedError, match="in memory"):
            signup_limits.take(conn, "ip", "k", 1, 60.0)
    finally:
        engine.dispose()
