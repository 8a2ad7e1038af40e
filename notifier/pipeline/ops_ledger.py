"""Where the ops notices keep what must hold from one notice to the next: the hourly cap and
the open incidents (a scraper marked broken).

``LocalLedger`` keeps it in this process (``notifier run``: one process is the whole
service). ``DatabaseLedger`` keeps it in the database, so in multi-node mode the cap is one
cap for the cluster and an incident is reported by one worker, once
(``notifier.db.ops_once``). Both count the cap with the same pure ``hourly_step``.

Provider outages are not here: they are the providers' stored health, and the poll that
changes it announces it (``pipeline.decide.health_transition``).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import time
from collections.abc import Callable
from typing import Protocol

from sqlalchemy import Engine

from notifier.db import ops_once
from notifier.db.engine import write_transaction

__all__ = ["HOUR_MS", "DatabaseLedger", "LocalLedger", "NoticeLedger", "hourly_step"]

log = logging.getLogger(__name__)

HOUR_MS = 3_600_000

State = tuple[float, ...]


def hourly_step(state: State | None, now_ms: int, per_hour: int) -> tuple[State, int | None]:
    """Count one notice against the last hour. ``state`` is (held back, sent at, ...) in ms.

    Returns the new state and, when the notice may go out, how many were held back since the
    last one that did (now reset); None when the hour's ``per_hour`` are spent (this one is
    counted as held back). Pure.
    """
    held = int(state[0]) if state else 0
    recent = [t for t in (state[1:] if state else ()) if now_ms - t < HOUR_MS]
    if len(recent) >= per_hour:
        return (float(held + 1), *recent), None
    return (0.0, *recent, float(now_ms)), held


class NoticeLedger(Protocol):
    async def take(self, per_hour: int) -> int | None:
        """One notice against the hourly cap: ``hourly_step``'s verdict."""
        ...

    async def open_incident(self, key: str) -> bool:
        """Open ``key``; False when it is already open (it was reported)."""
        ...

    async def close_incident(self, key: str) -> dt.timedelta | None:
        """Close ``key``; how long it was open, or None when it was not."""
        ...

    async def open_incidents(self) -> list[str]: ...


class LocalLedger:
    """The ledger of one process, in memory (``clock``: seconds, monotonic)."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._state: State | None = None
        self._open: dict[str, float] = {}

    async def take(self, per_hour: int) -> int | None:
        self._state, held = hourly_step(self._state, int(self._clock() * 1000), per_hour)
        return held

    async def open_incident(self, key: str) -> bool:
        if key in self._open:
            return False
        self._open[key] = self._clock()
        return True

    async def close_incident(self, key: str) -> dt.timedelta | None:
        started = self._open.pop(key, None)
        if started is None:
            return None
        return dt.timedelta(seconds=self._clock() - started)

    async def open_incidents(self) -> list[str]:
        return sorted(self._open)


class DatabaseLedger:
    """The ledger of a cluster, in the database every worker uses.

    If the database cannot be reached the notice goes out anyway (with a warning in the log):
    one notice too many beats a silent outage.
    """

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    async def take(self, per_hour: int) -> int | None:
        def step(state: State | None, now_ms: int) -> tuple[State, int | None]:
            return hourly_step(state, now_ms, per_hour)

        def run() -> int | None:
            with write_transaction(self.engine) as conn:
                return ops_once.take_notice(conn, step)

        try:
            return await asyncio.to_thread(run)
        except Exception:  # a notice must not be lost to the ledger
            log.warning("ops notices: the hourly cap could not be read; sending", exc_info=True)
            return 0

    async def open_incident(self, key: str) -> bool:
        def run() -> bool:
            with write_transaction(self.engine) as conn:
                return ops_once.open_incident(conn, key, dt.datetime.now(dt.UTC))

        try:
            return await asyncio.to_thread(run)
        except Exception:  # a notice must not be lost to the ledger
            log.warning("ops notices: incident %s not stored; reported", key, exc_info=True)
            return True

    async def close_incident(self, key: str) -> dt.timedelta | None:
        def run() -> dt.datetime | None:
            with write_transaction(self.engine) as conn:
                return ops_once.close_incident(conn, key)

        try:
            opened = await asyncio.to_thread(run)
        except Exception:  # good news can wait for the next start
            log.warning("ops notices: incident %s could not be closed", key, exc_info=True)
            return None
        return dt.datetime.now(dt.UTC) - opened if opened is not None else None

    async def open_incidents(self) -> list[str]:
        def run() -> list[str]:
            with self.engine.connect() as conn:
                return ops_once.open_incidents(conn)

        return await asyncio.to_thread(run)
