"""/metrics after a real poll and dispatch against the simulator, parsed with the Prometheus
text parser; and the sum over several processes in multiprocess mode."""

from __future__ import annotations

import subprocess
import sys
import urllib.request
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from notifier.config import RateLimitConfig
from notifier.pipeline.poll import Runtime
from notifier.pipeline.prometheus import metrics_registry, render_metrics, start_metrics_server
from notifier.testing.simulator import Fault, ManualClock, ProviderSimulator
from notifier.web.app import create_app
from tests.pipeline.metrics_support import samples, value
from tests.pipeline.pipeline_support import (
    console_records,
    poll_and_deliver,
    simulator_config,
)


@pytest.fixture
async def runtime(sim: ProviderSimulator, tmp_path: Path) -> AsyncIterator[Runtime]:
    config = simulator_config(sim, tmp_path)
    console = config.channels["console"].model_copy(
        update={"rate_limit": RateLimitConfig(count=50, per_seconds=10)}
    )
    config = config.model_copy(update={"channels": {"console": console}})
    built = Runtime.build(config)
    try:
        yield built
    finally:
        await built.aclose()


def scrape(runtime: Runtime) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    with TestClient(create_app(runtime.config, engine=runtime.engine)) as client:
        response = client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    return samples(response.text)


async def test_metrics_after_a_poll_and_its_deliveries(
    runtime: Runtime, sim: ProviderSimulator, clock: ManualClock, tmp_path: Path
) -> None:
    before = scrape(runtime)
    sim.release(600, fill_seconds=1.0)  # full clinics listed: the baseline poll
    clock.advance(5)
    baseline = await poll_and_deliver(runtime)
    assert baseline.baseline
    sim.release(4_000, sites=("fenway-park",), fill_seconds=10_000)
    clock.advance(1)
    opened = await poll_and_deliver(runtime)
    assert len(opened.alerts) == 1
    sent = len(console_records(tmp_path / "console.jsonl"))
    assert sent >= 1

    after = scrape(runtime)

    def delta(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert delta("notifier_polls_total", provider="ma-prepmod", outcome="ok") == 2
    assert delta("notifier_alerts_total", provider="ma-prepmod") == 1
    assert delta("notifier_deliveries_handled_total", channel="console", outcome="sent") == sent
    assert delta("notifier_detection_latency_seconds_count", channel="console") == sent
    # Every hand-off of this test happened well within five minutes of its detection.
    assert delta("notifier_detection_latency_seconds_bucket", channel="console", le="300.0") == sent
    # The database state, the same from any process:
    assert value(after, "notifier_database_up") == 1
    assert value(after, "notifier_deliveries", channel="console", state="sent") == sent
    assert value(after, "notifier_outbox_backlog", channel="console") == 0
    assert value(after, "notifier_alerts_open", provider="ma-prepmod") == 1
    assert value(after, "notifier_provider_down", provider="ma-prepmod") == 0
    age = after[("notifier_provider_last_success_age_seconds", (("provider", "ma-prepmod"),))]
    assert 0 <= age < 60
    assert ("notifier_provider_last_success_age_seconds", (("provider", "ma-smart"),)) not in after
    assert value(after, "notifier_send_rate_limit_per_second", channel="console") == 5.0


async def test_a_provider_whose_polls_fail_is_down(
    runtime: Runtime, sim: ProviderSimulator, clock: ManualClock
) -> None:
    sim.release(600, fill_seconds=1.0)
    clock.advance(5)
    await poll_and_deliver(runtime)
    before = scrape(runtime)
    assert value(before, "notifier_provider_down", provider="ma-prepmod") == 0
    sim.inject(Fault.UNAVAILABLE, count=1, target="prepmod")
    failed = await poll_and_deliver(runtime)
    assert failed.outcome not in {"ok", "unchanged"}
    after = scrape(runtime)
    assert value(after, "notifier_provider_down", provider="ma-prepmod") == 1
    outcome = failed.outcome
    polls = "notifier_polls_total"
    assert value(after, polls, provider="ma-prepmod", outcome=outcome) == (
        value(before, polls, provider="ma-prepmod", outcome=outcome) + 1
    )


_WORKER = """
import datetime as dt, sys
from notifier.pipeline.metrics import HandOff, Metrics
sent = int(sys.argv[1])
metrics = Metrics()
metrics.count("sms", "sent", sent)
at = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
metrics.record_hand_off(HandOff("sms", (1,), at, at + dt.timedelta(seconds=0.3)))
"""


def test_multiprocess_mode_scrapes_the_sum_of_every_process(tmp_path: Path) -> None:
    directory = tmp_path / "prometheus"
    directory.mkdir()
    env = {"PROMETHEUS_MULTIPROC_DIR": str(directory), "PATH": "/usr/bin:/bin"}
    for sent in (3, 4):
        subprocess.run([sys.executable, "-c", _WORKER, str(sent)], env=env, check=True)
    scraped = samples(render_metrics(metrics_registry(multiprocess_dir=directory)).decode())
    assert value(scraped, "notifier_deliveries_handled_total", channel="sms", outcome="sent") == 7
    assert value(scraped, "notifier_detection_latency_seconds_count", channel="sms") == 2
    assert (
        value(scraped, "notifier_detection_latency_seconds_bucket", channel="sms", le="0.25") == 0
    )
    assert value(scraped, "notifier_detection_latency_seconds_bucket", channel="sms", le="0.5") == 2


def test_a_worker_serves_metrics_on_its_own_port(sqlite_engine: Engine) -> None:
    server = start_metrics_server(0, engine=sqlite_engine)
    try:
        url = f"http://127.0.0.1:{server.port}/metrics"
        with urllib.request.urlopen(url, timeout=5) as response:
            scraped = samples(response.read().decode())
    finally:
        server.close()
    assert value(scraped, "notifier_database_up") == 1
    assert ("notifier_outbox_backlog", ()) not in scraped  # no channel configured, no series
