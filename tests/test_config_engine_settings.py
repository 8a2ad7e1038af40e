"""The engine's settings in the config (``workers:``, ``delivery:``, the database pool): their
ranges and the rules between them, reported with file, line and fix like every config error,
and the commented examples in config.yaml, which must be the defaults."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from notifier.cli.app import app
from notifier.config import ConfigError, DatabaseConfig, WorkersConfig, load_config
from notifier.policies import DispatchSettings

REPO = Path(__file__).resolve().parents[1]

CLUSTER = """\
operator:
  name: Test Department
  contact: mailto:ops@example.org
engine: procrastinate
database:
  url: postgresql+psycopg://notifier@db.internal/notifier
"""


@pytest.fixture(autouse=True)
def _no_database_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NOTIFIER_DATABASE_URL", raising=False)


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.yaml"
    path.write_text(text)
    return path


def problems(tmp_path: Path, text: str) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        load_config(write(tmp_path, text))
    return [str(p) for p in caught.value.problems]


def commented_section(name: str) -> str:
    """The commented-out ``name:`` example of the shipped config.yaml, uncommented."""
    lines = (REPO / "config.yaml").read_text().splitlines()
    start = lines.index(f"# {name}:")
    block = [lines[start][2:]]
    for line in lines[start + 1 :]:
        if not line.startswith("#   "):
            break
        block.append(line[2:])
    return "\n".join(block) + "\n"


def test_the_shipped_config_stays_the_embedded_sqlite_default() -> None:
    config = load_config(REPO / "config.yaml")
    assert config.engine == "apscheduler"
    assert config.database.url.startswith("sqlite:")
    assert config.workers == WorkersConfig()
    assert config.delivery == DispatchSettings()


@pytest.mark.parametrize(("name", "model"), [("workers", WorkersConfig), ("delivery", None)])
def test_the_commented_examples_are_valid_and_are_the_defaults(
    tmp_path: Path, name: str, model: type[WorkersConfig] | None
) -> None:
    example = commented_section(name)
    assert len(example.splitlines()) >= 8  # the whole section, not a stray line
    config = load_config(write(tmp_path, CLUSTER + example))
    if name == "workers":
        assert config.workers == WorkersConfig()
        assert set(WorkersConfig.model_fields) <= set(example.replace(":", " ").split())
    else:
        assert config.delivery == DispatchSettings()
        assert set(DispatchSettings.model_fields) <= set(example.replace(":", " ").split())


def test_the_settings_are_read(tmp_path: Path) -> None:
    text = CLUSTER + (
        "  pool_size: 8\n  max_overflow: 4\n"
        "workers:\n  concurrency: 12\n  tick_seconds: 5\n  heartbeat_seconds: 5\n"
        "  stalled_seconds: 20\n  shutdown_seconds: 30\n  send_batch: 1000\n"
        "delivery:\n  lease_seconds: 300\n  batch_size: 50\n"
    )
    config = load_config(write(tmp_path, text))
    assert config.workers.concurrency == 12 and config.workers.tick_seconds == 5
    assert config.workers.stalled_seconds == 20 and config.workers.shutdown_seconds == 30
    assert config.workers.send_batch == 1000
    assert config.delivery.lease_seconds == 300 and config.delivery.batch_size == 50
    assert config.database.engine_options() == {"pool_size": 8, "max_overflow": 4}


def test_sqlite_keeps_its_own_pool() -> None:
    assert DatabaseConfig().engine_options() == {}
    assert DatabaseConfig(pool_size=9).engine_options("postgresql+psycopg://n@db/n") == {
        "pool_size": 9,
        "max_overflow": 10,
    }


def test_a_stall_timeout_of_too_few_heartbeats_names_its_line_and_the_fix(
    tmp_path: Path,
) -> None:
    text = CLUSTER + "workers:\n  heartbeat_seconds: 30\n  stalled_seconds: 60\n"
    [problem] = problems(tmp_path, text)
    assert problem.startswith(f"{tmp_path / 'config.yaml'}:9: workers.stalled_seconds:")
    assert "3 heartbeats" in problem and "second poll of the same provider" in problem
    assert "Fix: raise stalled_seconds to at least 90, or lower heartbeat_seconds" in problem


def test_cadences_must_divide_a_minute(tmp_path: Path) -> None:
    text = CLUSTER + "workers:\n  tick_seconds: 7\n  recover_seconds: 25\n"
    found = problems(tmp_path, text)
    assert [p.split(": ")[0:2] for p in found] == [
        [f"{tmp_path / 'config.yaml'}:8", "workers.tick_seconds"],
        [f"{tmp_path / 'config.yaml'}:9", "workers.recover_seconds"],
    ]
    assert "does not divide a minute" in found[0] and "(e.g. 6)" in found[0]
    assert "(e.g. 20)" in found[1]


def test_out_of_range_values_are_refused_with_their_lines(tmp_path: Path) -> None:
    text = CLUSTER + (
        "workers:\n  concurrency: 0\n  heartbeat_seconds: 0\n  queue_pool_size: 1\n"
        "delivery:\n  lease_seconds: -1\n"
    )
    found = problems(tmp_path, text)
    assert [p.split(": ")[1] for p in found] == [
        "workers.concurrency",
        "workers.heartbeat_seconds",
        "workers.queue_pool_size",
        "delivery.lease_seconds",
    ]
    assert [int(p.split(": ")[0].rsplit(":", 1)[1]) for p in found] == [8, 9, 10, 12]
    assert all("Fix: use a value inside the allowed range" in p for p in found)


def test_a_lease_shorter_than_two_send_timeouts_is_refused(tmp_path: Path) -> None:
    text = CLUSTER + "delivery:\n  send_timeout_seconds: 45\n  lease_seconds: 60\n"
    [problem] = problems(tmp_path, text)
    assert ":9: delivery.lease_seconds:" in problem and "go out twice" in problem
    assert "Fix: raise lease_seconds to at least 90, or lower send_timeout_seconds" in problem
    # the rule is the operator's: a test may still shorten a lease in code
    assert DispatchSettings(lease_seconds=1.0).lease_seconds == 1.0


def test_the_backoff_must_grow(tmp_path: Path) -> None:
    text = CLUSTER + "delivery:\n  backoff_base_seconds: 60\n  backoff_max_seconds: 30\n"
    [problem] = problems(tmp_path, text)
    assert ":9: delivery.backoff_max_seconds:" in problem


def test_concurrency_needs_a_database_connection_per_job(tmp_path: Path) -> None:
    text = CLUSTER + "  max_overflow: 0\nworkers:\n  concurrency: 12\n"
    [problem] = problems(tmp_path, text)
    assert ":9: workers.concurrency:" in problem and "(5)" in problem.replace("= 5)", "(5)")
    assert "Fix: lower workers.concurrency to 5, or raise database.max_overflow" in problem
    # the embedded mode has no workers: the same numbers are fine there
    embedded = text.replace("engine: procrastinate", "engine: apscheduler")
    assert load_config(write(tmp_path, embedded)).workers.concurrency == 12


def test_config_check_prints_every_rule_with_its_line(tmp_path: Path) -> None:
    text = CLUSTER + "workers:\n  tick_seconds: 7\n  heartbeat_seconds: 30\n"
    path = write(tmp_path, text)
    result = CliRunner().invoke(app, ["config", "check", "--config", str(path)])
    assert result.exit_code == 2
    assert "2 problem(s)" in result.output and "Traceback" not in result.output
    assert f"{path}:8: workers.tick_seconds" in result.output
    assert f"{path}:7: workers.stalled_seconds" in result.output  # not in the file: its section


def test_worker_concurrency_flag_is_held_to_the_same_rules(tmp_path: Path) -> None:
    path = write(tmp_path, CLUSTER)
    result = CliRunner().invoke(app, ["worker", "--config", str(path), "--concurrency", "40"])
    assert result.exit_code == 2
    assert "--concurrency 40" in result.output and "database.max_overflow" in result.output
    too_many = CliRunner().invoke(app, ["worker", "--config", str(path), "--concurrency", "999"])
    assert too_many.exit_code == 2 and "less than or equal to 256" in too_many.output
