"""``notifier poll`` (a dry run) and ``notifier status`` against the simulator."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from notifier.cli.app import app
from notifier.testing.simulator import Fault, ManualClock, ProviderSimulator
from tests.pipeline.pipeline_support import FIRST_CLINIC_DATE


@pytest.fixture
def sim() -> Iterator[ProviderSimulator]:
    clock = ManualClock()
    with ProviderSimulator(quiet=True, clock=clock, first_clinic_date=FIRST_CLINIC_DATE) as s:
        s.release(1_000, sites=("fenway-park",), fill_seconds=10_000)
        clock.advance(1)
        yield s


@pytest.fixture
def config(sim: ProviderSimulator, tmp_path: Path) -> Path:
    path = tmp_path / "config.yaml"
    path.write_text(f"""\
operator: {{name: CLI test, contact: "mailto:ops@example.org"}}
database: {{url: "sqlite:///{tmp_path / "subscribers.db"}"}}
http: {{max_retries: 0, timeout_seconds: 2}}
providers:
  - id: ma-prepmod
    scraper: prepmod
    settings: {{base_url: "{sim.base_url}"}}
""")
    return path


def test_poll_is_a_dry_run_that_prints_json(config: Path, tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["poll", "ma-prepmod", "--config", str(config), "--json"])
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    assert document["outcome"] == "ok" and document["http_status"] == 200
    fenway = [loc for loc in document["locations"] if loc["name"] == "Fenway Park"]
    assert sum(loc["appointments"] for loc in fenway) == 1_000
    assert not (tmp_path / "subscribers.db").exists()  # nothing stored


def test_poll_of_a_broken_provider_exits_2_with_the_reason(
    config: Path, sim: ProviderSimulator
) -> None:
    sim.inject(Fault.WAITING_ROOM, count=1, target="prepmod")
    result = CliRunner().invoke(app, ["poll", "ma-prepmod", "--config", str(config)])
    assert result.exit_code == 2
    assert "blocked" in result.output


def test_poll_of_an_unknown_provider_names_the_known_ones(config: Path) -> None:
    result = CliRunner().invoke(app, ["poll", "nope", "--config", str(config)])
    assert result.exit_code == 2 and "known: ma-prepmod" in result.output


async def test_status_shows_each_provider_after_a_poll(config: Path) -> None:
    from notifier.config import load_config
    from notifier.pipeline.poll import Runtime, poll_provider

    runtime = Runtime.build(load_config(config))
    await poll_provider(runtime, "ma-prepmod")
    await runtime.aclose()
    result = CliRunner().invoke(app, ["status", "--config", str(config)], terminal_width=200)
    assert result.exit_code == 0, result.output
    assert "ma-prepmod" in result.output and "1,000" in result.output


async def test_status_marks_a_down_provider_and_its_stale_numbers(
    config: Path, sim: ProviderSimulator
) -> None:
    from notifier.config import load_config
    from notifier.pipeline.poll import Runtime, poll_provider

    # A second configured provider that was never polled must be listed too.
    config.write_text(
        config.read_text()
        + f"""\
  - id: ma-smart
    scraper: smart-scheduling-links
    settings: {{manifest_url: "{sim.smart_manifest_url}"}}
"""
    )
    runtime = Runtime.build(load_config(config))
    await poll_provider(runtime, "ma-prepmod")
    sim.inject(Fault.ERROR_PAGE, count=1, target="prepmod")
    await poll_provider(runtime, "ma-prepmod")
    await runtime.aclose()
    result = CliRunner().invoke(app, ["status", "--config", str(config)], env={"COLUMNS": "300"})
    assert result.exit_code == 0, result.output
    [prepmod] = [line for line in result.output.splitlines() if "ma-prepmod" in line]
    assert "DOWN since" in prepmod
    assert "1,000 (stale)" in prepmod
    [smart] = [line for line in result.output.splitlines() if "ma-smart" in line]
    assert "never polled" in smart and "1,000" not in smart


def test_provider_health_reads_up_down_and_never_polled(tmp_path: Path) -> None:
    import datetime as dt

    from notifier.db.engine import make_engine, upgrade, write_transaction
    from notifier.db.health import provider_health
    from notifier.db.store import PollRunRecord, save_poll

    engine = make_engine(f"sqlite:///{tmp_path / 'h.db'}")
    upgrade(engine)
    t0 = dt.datetime(2021, 3, 1, 8, tzinfo=dt.UTC)
    with write_transaction(engine) as conn:
        good = PollRunRecord(t0, "ok", locations=0)
        save_poll(conn, "a", "prepmod", good, [], t0)
        later = t0 + dt.timedelta(minutes=20)
        failed = PollRunRecord(later, "unreachable", http_status=500, error="HTTP 500")
        save_poll(conn, "b", "prepmod", good, [], t0)
        save_poll(conn, "b", "prepmod", failed, None, later)
    with engine.connect() as conn:
        reports = provider_health(conn, ["c", "b", "a"], later)
    engine.dispose()
    assert [(r.provider_id, r.state, r.stale) for r in reports] == [
        ("c", "never polled", True),
        ("b", "down", True),
        ("a", "up", False),
    ]
    assert reports[1].since == later and reports[1].down_for(later + dt.timedelta(minutes=5))
