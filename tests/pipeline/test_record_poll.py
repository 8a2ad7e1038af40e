"""record_poll is one straight pass: one read call, one write call, one transaction.

Also: the provider's backoff lives in the database, so a restart (a new Runtime on the same
database) keeps it, and ``due_providers`` answers a multi-node scheduler.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event

from notifier.db import poll as db_poll
from notifier.db import schedule
from notifier.model import Location, LocationAvailability
from notifier.pipeline.coordinator import PollOutcome
from notifier.pipeline.poll import Runtime, record_poll
from notifier.testing.simulator import ProviderSimulator
from tests.pipeline.pipeline_support import simulator_config

DAY = dt.date(2021, 2, 25)
T0 = dt.datetime(2021, 2, 25, 8, 0, tzinfo=dt.UTC)


@pytest.fixture
async def runtime(tmp_path: Path) -> AsyncIterator[Runtime]:
    async with ProviderSimulator(quiet=True) as sim:
        built = Runtime.build(simulator_config(sim, tmp_path))
        try:
            yield built
        finally:
            await built.aclose()


def outcome(counts: list[int] | None, kind: str = "ok", **extra: Any) -> PollOutcome:
    results = (
        [
            LocationAvailability.from_counts(Location(id=f"site-{i}", name=f"S {i}"), {DAY: n})
            for i, n in enumerate(counts)
        ]
        if counts is not None
        else None
    )
    return PollOutcome("ma-prepmod", T0, 10, results, kind, 200, requests=1, attempts=1, **extra)


class Spy:
    """Counts calls of the db functions and checks every statement runs inside one of them."""

    def __init__(self, runtime: Runtime, monkeypatch: pytest.MonkeyPatch) -> None:
        self.calls: list[str] = []
        self.inside = False
        self.begins = 0
        self.outside: list[str] = []
        for name in ("load_poll_context", "write_poll"):
            monkeypatch.setattr(db_poll, name, self._wrap(name, getattr(db_poll, name)))
        event.listen(runtime.engine, "begin", self._on_begin)
        event.listen(runtime.engine, "before_cursor_execute", self._on_statement)

    def _wrap(self, name: str, function: Callable[..., Any]) -> Callable[..., Any]:
        def spy(*args: Any, **kwargs: Any) -> Any:
            self.calls.append(name)
            self.inside = True
            try:
                return function(*args, **kwargs)
            finally:
                self.inside = False

        return spy

    def _on_begin(self, _conn: Any) -> None:
        self.begins += 1

    def _on_statement(self, _conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        if not self.inside and not statement.lstrip().upper().startswith(("BEGIN", "PRAGMA")):
            self.outside.append(statement)


@pytest.mark.parametrize(
    "polls",
    [
        [outcome([5, 0, 7])],  # the baseline
        [outcome([5, 0, 7]), outcome([5, 30, 7])],  # an opening: alert, outbox, event
        [outcome([40, 50, 60]), outcome([0, 0, 0])],  # held
        [outcome(None, "unreachable", error="down")],  # unknown
        [outcome(None, "blocked", retry_after=600.0)],  # Retry-After
    ],
)
async def test_one_read_one_write_in_one_transaction(
    runtime: Runtime, monkeypatch: pytest.MonkeyPatch, polls: list[PollOutcome]
) -> None:
    coordinator = runtime.coordinators["ma-prepmod"]
    for earlier in polls[:-1]:
        record_poll(runtime, coordinator, earlier, now=T0)
    spy = Spy(runtime, monkeypatch)
    summary = record_poll(runtime, coordinator, polls[-1], now=T0 + dt.timedelta(minutes=1))
    assert spy.calls == ["load_poll_context", "write_poll"]
    assert spy.begins == 1
    assert spy.outside == []
    assert summary.next_poll_at is not None


async def test_the_opening_is_written_by_that_one_call(
    runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    coordinator = runtime.coordinators["ma-prepmod"]
    record_poll(runtime, coordinator, outcome([5, 0, 7]), now=T0)
    spy = Spy(runtime, monkeypatch)
    opened = record_poll(runtime, coordinator, outcome([5, 30, 7]), now=T0)
    assert len(opened.alerts) == 1 and [c.kind for c in opened.changes] == ["opened"]
    assert spy.calls == ["load_poll_context", "write_poll"] and spy.outside == []


async def test_backoff_is_stored_survives_a_restart_and_answers_due_providers(
    runtime: Runtime, tmp_path: Path
) -> None:
    coordinator = runtime.coordinators["ma-prepmod"]
    interval = dt.timedelta(seconds=coordinator.interval)
    for _ in range(3):
        summary = record_poll(runtime, coordinator, outcome(None, "unparseable"), now=T0)
    assert summary.next_poll_at == T0 + 4 * interval  # the third failure waits the whole cap
    with runtime.engine.connect() as conn:
        health = db_poll.load_health(conn, "ma-prepmod")
        assert health is not None and health.consecutive_failures == 3
        assert health.down_since == T0 and health.last_failure_kind == "unparseable"
    with runtime.engine.begin() as conn:
        # the multi-node tick sees the same backoff
        schedule.sync_schedule(conn, {"ma-prepmod": coordinator.interval})
        assert list(schedule.due_providers(conn, T0 + interval)) == []
        assert list(schedule.due_providers(conn, T0 + 4 * interval)) == ["ma-prepmod"]

    async with ProviderSimulator(quiet=True) as sim:
        restarted = Runtime.build(simulator_config(sim, tmp_path), engine=runtime.engine)
        again = record_poll(
            restarted, restarted.coordinators["ma-prepmod"], outcome(None, "unreachable"), now=T0
        )
    assert again.next_poll_at == T0 + 4 * interval  # the count went on: 4 failures, at the cap
    with runtime.engine.connect() as conn:
        health = db_poll.load_health(conn, "ma-prepmod")
    assert health is not None and health.consecutive_failures == 4
    recovered = record_poll(runtime, coordinator, outcome([1, 2, 3]), now=T0)
    assert recovered.next_poll_at == T0 + interval
    with runtime.engine.connect() as conn:
        health = db_poll.load_health(conn, "ma-prepmod")
    assert health is not None and health.consecutive_failures == 0 and health.down_since is None
