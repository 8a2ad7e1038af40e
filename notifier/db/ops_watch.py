"""The failure-rate watch's state (``failure_rate_watch``), one row per channel.

The watch (``notifier.pipeline.poll.watch_failure_rates``) judges the deliveries a channel
finished since its last judgement. Keeping that baseline, and whether the channel is
currently reported failing, in the database lets any process run the watch (in multi-node
mode a different worker each minute) and still report one incident once.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass

from sqlalchemy import Connection, select

from notifier.db._sql import dialect_insert, is_postgres
from notifier.db.tables import failure_rate_watch_table
from notifier.db.types import as_utc

__all__ = ["ChannelWatch", "load_watch", "save_watch"]


@dataclass(frozen=True, slots=True)
class ChannelWatch:
    """A channel's finished deliveries at its last judgement, and since when it has been
    reported failing (None: it is not)."""

    sent: int
    failed: int
    failing_since: dt.datetime | None
    judged_at: dt.datetime


def load_watch(conn: Connection) -> dict[str, ChannelWatch]:
    """Every channel's watch state; on PostgreSQL the rows stay locked until the transaction
    ends, so two judgements never overlap (``save_watch`` in the same transaction)."""
    t = failure_rate_watch_table
    query = select(t.c.channel, t.c.sent, t.c.failed, t.c.failing_since, t.c.judged_at)
    if is_postgres(conn):
        query = query.with_for_update()
    return {
        str(channel): ChannelWatch(
            int(sent),
            int(failed),
            as_utc(failing) if failing is not None else None,
            as_utc(judged),
        )
        for channel, sent, failed, failing, judged in conn.execute(query)
    }


def save_watch(conn: Connection, watched: Mapping[str, ChannelWatch]) -> None:
    """Store these channels' watch states (others are left as they are)."""
    if not watched:
        return
    t = failure_rate_watch_table
    stmt = dialect_insert(conn, t).values(
        [
            {
                "channel": channel,
                "sent": w.sent,
                "failed": w.failed,
                "failing_since": w.failing_since,
                "judged_at": w.judged_at,
            }
            for channel, w in watched.items()
        ]
    )
    stmt = stmt.on_conflict_do_update(
        index_elements=[t.c.channel],
        set_={
            "sent": stmt.excluded.sent,
            "failed": stmt.excluded.failed,
            "failing_since": stmt.excluded.failing_since,
            "judged_at": stmt.excluded.judged_at,
        },
    )
    conn.execute(stmt)
