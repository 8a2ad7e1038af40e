"""What ops notices must say once per cluster: open incidents (``ops_incident``) and the
hourly cap on notices (a ``rate_bucket`` row).

In multi-node mode every worker has its own ``OpsNotifier``; what they must agree on lives
here (``notifier.pipeline.ops_ledger.DatabaseLedger``). An incident is opened by exactly one
caller (the insert that wins) and closed by exactly one (the delete that finds it), so it is
reported once and its end once, however many workers try.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

from sqlalchemy import Connection, delete, select

from notifier.db import rate_buckets
from notifier.db._sql import dialect_insert
from notifier.db.tables import ops_incident_table
from notifier.db.types import as_utc

__all__ = [
    "NOTICE_BUCKET",
    "close_incident",
    "open_incident",
    "open_incidents",
    "take_notice",
]

#: the ``rate_bucket`` row of the hourly cap on ops notices (channels' rows are "channel:*")
NOTICE_BUCKET = "ops_notices"

#: (stored state, database time in ms) -> (state to store, result); ``pipeline.ops_ledger``
NoticeStep = Callable[[tuple[float, ...] | None, int], tuple[tuple[float, ...], int | None]]


def open_incident(conn: Connection, key: str, now: dt.datetime) -> bool:
    """Open incident ``key``; False when it is already open (someone reported it)."""
    t = ops_incident_table
    inserted = conn.execute(
        dialect_insert(conn, t)
        .values(key=key, opened_at=as_utc(now))
        .on_conflict_do_nothing(index_elements=[t.c.key])
        .returning(t.c.key)
    ).first()
    return inserted is not None


def close_incident(conn: Connection, key: str) -> dt.datetime | None:
    """Close incident ``key``; when it was opened, or None when it was not open."""
    t = ops_incident_table
    opened = conn.execute(delete(t).where(t.c.key == key).returning(t.c.opened_at)).scalar()
    return as_utc(opened) if opened is not None else None


def open_incidents(conn: Connection) -> list[str]:
    t = ops_incident_table
    return list(conn.execute(select(t.c.key).order_by(t.c.key)).scalars())


def take_notice(conn: Connection, step: NoticeStep) -> int | None:
    """Step the hourly cap's state under its row lock, with the database's clock (call
    inside a transaction); returns what ``step`` decided."""
    result = rate_buckets.step_bucket(conn, NOTICE_BUCKET, step)
    assert result is None or isinstance(result, int)
    return result
