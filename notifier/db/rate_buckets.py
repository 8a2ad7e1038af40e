"""Shared rate limits: one row of token-bucket state per limit, updated under a row lock.

Every worker on every machine takes its tokens from the same row, so N workers together send
at the configured rate, not N times it. The clock is the database's: machines whose clocks
drift still agree on when a token is due.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

from sqlalchemy import Connection, select, text, update

from notifier.db._sql import dialect_insert
from notifier.db.tables import rate_bucket_table

__all__ = ["BucketStep", "step_bucket"]

#: (stored state or None, database time in ms) -> (state to store, or None to keep it; result)
BucketStep = Callable[[tuple[float, ...] | None, int], tuple[tuple[float, ...] | None, object]]


def _database_ms(conn: Connection) -> int:
    if conn.dialect.name == "postgresql":
        query = text("SELECT (extract(epoch FROM clock_timestamp()) * 1000)::bigint")
    else:
        query = text("SELECT CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER)")
    return int(conn.execute(query).scalar_one())


def step_bucket(conn: Connection, name: str, step: BucketStep) -> object:
    """Run ``step`` on bucket ``name``'s state atomically (call inside a transaction)."""
    t = rate_bucket_table
    conn.execute(
        dialect_insert(conn, t)
        .values(name=name, state=[], updated_at=dt.datetime.now(dt.UTC))
        .on_conflict_do_nothing(index_elements=[t.c.name])
    )
    query = select(t.c.state).where(t.c.name == name)
    if conn.dialect.name == "postgresql":
        query = query.with_for_update()
    stored = conn.execute(query).scalar_one()
    # The clock is read only once the row is ours: a step that waited for the lock must not
    # be dated back to when it started waiting (that would hand out tokens twice).
    now_ms = _database_ms(conn)
    state = tuple(float(v) for v in stored) if stored else None
    new_state, result = step(state, now_ms)
    if new_state is not None:
        conn.execute(
            update(t)
            .where(t.c.name == name)
            .values(state=list(new_state), updated_at=dt.datetime.now(dt.UTC))
        )
    return result
