"""The failure-rate watch judges the outbox, not one process's counters, and keeps its state
in the database: whichever process runs it, a channel that starts failing is reported once,
and once when it delivers again. ``notifier run`` runs the same task function every
``ops_notices.failure_check_seconds``."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import Engine

from notifier.db import ops_watch
from notifier.pipeline.poll import watch_failure_rates
from notifier.pipeline.runtime import Runtime
from notifier.pipeline.service import Service
from notifier.testing.waiting import eventually
from notifier.testing.webhook_stub import WebhookStub
from tests.pipeline.watch_support import (
    BACK,
    FAILING,
    failure_notices,
    finish_deliveries,
    watched_config,
)


@pytest.fixture
def ops() -> Iterator[WebhookStub]:
    with WebhookStub() as stub:
        yield stub


def database_url(engine: Engine) -> str:
    return engine.url.render_as_string(hide_password=False)


async def test_two_processes_judge_one_watch(sqlite_engine: Engine, ops: WebhookStub) -> None:
    config = watched_config(database_url(sqlite_engine), ops)
    # two "processes": each its own engine, its own ops notifier with no memory of the other
    first = Runtime.build(config, migrate=False)
    second = Runtime.build(config, migrate=False)
    try:
        finish_deliveries(sqlite_engine, sent=500, failed=500)  # history: not judged
        assert await watch_failure_rates(first) == {}
        finish_deliveries(sqlite_engine, sent=15, failed=5)
        assert await watch_failure_rates(second) == {"sms": 0.25}
        assert failure_notices(ops) == [f"{FAILING}25% of deliveries fail"]
        finish_deliveries(sqlite_engine, sent=10, failed=30)
        assert await watch_failure_rates(first) == {"sms": 0.75}  # the same incident
        assert await watch_failure_rates(second) == {}  # nothing new finished
        finish_deliveries(sqlite_engine, sent=19, failed=1)
        assert await watch_failure_rates(second) == {"sms": 0.05}
        assert failure_notices(ops) == [f"{FAILING}25% of deliveries fail", BACK]
    finally:
        await first.aclose()
        await second.aclose()


async def test_notifier_run_watches_every_failure_check_seconds(
    sqlite_engine: Engine, ops: WebhookStub
) -> None:
    runtime = Runtime.build(watched_config(database_url(sqlite_engine), ops), migrate=False)
    service = Service(runtime)
    await service.start()
    try:
        finish_deliveries(sqlite_engine, sent=1)
        # the first judgement (a second after the start) starts the watch from here on
        await eventually(lambda: _watching(sqlite_engine), timeout=30)
        finish_deliveries(sqlite_engine, sent=5, failed=25)
        await eventually(lambda: bool(failure_notices(ops)), timeout=30)
        assert failure_notices(ops) == [f"{FAILING}83% of deliveries fail"]
    finally:
        await service.stop()
        await runtime.aclose()


def _watching(engine: Engine) -> bool:
    with engine.connect() as conn:
        return "sms" in ops_watch.load_watch(conn)
