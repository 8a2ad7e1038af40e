"""A rate limit every worker shares: pyrate-limiter's token bucket with its state in the
database (``notifier.db.rate_buckets``) instead of in this process.

``make_limiter(rate, store=DatabaseStateStore(engine, "sms"))`` gives the dispatcher the same
``Limiter`` it uses in local mode; only where the bucket keeps its numbers differs.
"""

from __future__ import annotations

import asyncio
from typing import Any

from pyrate_limiter import Rate
from pyrate_limiter.abstracts.algorithm import Decision, StateAlgorithm
from pyrate_limiter.abstracts.store import StateStore
from pyrate_limiter.clocks import AbstractClock, MonotonicClock
from sqlalchemy import Engine

from notifier.db import rate_buckets
from notifier.db.engine import write_transaction

__all__ = ["DatabaseStateStore"]

State = tuple[float, ...]


class DatabaseStateStore(StateStore):
    """Token-bucket state in one ``rate_bucket`` row, stepped under a row lock.

    The arrival time is the database's clock (the ``now`` pyrate passes in is this process's
    and is ignored): every machine measures the bucket against the same time.
    """

    is_async = True
    default_clock: AbstractClock = MonotonicClock()

    def __init__(self, engine: Engine, name: str) -> None:
        self.engine = engine
        self.name = name

    async def check(
        self, algorithm: StateAlgorithm, rates: list[Rate], now: int, weight: int
    ) -> Decision:
        return await asyncio.to_thread(self._check, algorithm, rates, weight)

    def _check(self, algorithm: StateAlgorithm, rates: list[Rate], weight: int) -> Decision:
        def step(state: State | None, now_ms: int) -> tuple[State | None, object]:
            current = state if state and len(state) == len(rates) else algorithm.initial(rates)
            new_state, decision = algorithm.step(rates, current, now_ms, weight)
            return (tuple(new_state) if decision.allowed else None), decision

        with write_transaction(self.engine) as conn:
            result = rate_buckets.step_bucket(conn, self.name, step)
        assert isinstance(result, Decision)
        return result

    async def read(self, algorithm: StateAlgorithm, rates: list[Rate]) -> Any:
        def step(state: State | None, _now_ms: int) -> tuple[State | None, object]:
            current = state if state and len(state) == len(rates) else algorithm.initial(rates)
            return None, current

        def run() -> object:
            with write_transaction(self.engine) as conn:
                return rate_buckets.step_bucket(conn, self.name, step)

        return await asyncio.to_thread(run)

    async def reset(self) -> None:
        def clear(_state: State | None, _now_ms: int) -> tuple[State | None, object]:
            return (), None

        def run() -> None:
            with write_transaction(self.engine) as conn:
                rate_buckets.step_bucket(conn, self.name, clear)

        await asyncio.to_thread(run)
