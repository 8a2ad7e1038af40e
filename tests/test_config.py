"""Config errors: every problem is listed with file:line, what is wrong and the fix."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from notifier.cli.app import app
from notifier.config import ConfigError, load_config

REPO = Path(__file__).resolve().parents[1]

GOOD = """\
operator:
  name: Test Department
  contact: mailto:ops@example.org
providers:
  - id: ma-prepmod
    scraper: prepmod
    interval_seconds: 120
channels:
  console:
    enabled: true
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.yaml"
    path.write_text(text)
    return path


def problems(tmp_path: Path, text: str) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        load_config(write(tmp_path, text))
    return [str(p) for p in caught.value.problems]


def test_the_example_config_in_the_repo_is_valid() -> None:
    config = load_config(REPO / "config.yaml")
    assert config.enabled_providers()
    assert "console" in config.enabled_channels()


def test_good_config_loads(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, GOOD))
    assert config.providers[0].id == "ma-prepmod"


def test_unknown_key_names_file_line_and_fix(tmp_path: Path) -> None:
    text = GOOD.replace("  name: Test Department\n", "  name: Test Department\n  nmae: typo\n")
    [problem] = problems(tmp_path, text)
    assert problem.startswith(f"{tmp_path / 'config.yaml'}:3: operator.nmae:")
    assert "Fix: remove this key" in problem


def test_every_error_is_listed_not_just_the_first(tmp_path: Path) -> None:
    text = GOOD.replace("interval_seconds: 120", "interval_seconds: soon") + "extra: 1\n"
    found = problems(tmp_path, text)
    assert len(found) == 2
    assert any(":7: providers[0].interval_seconds" in p for p in found)
    assert any(":11: extra" in p for p in found)


def test_interval_below_scraper_minimum(tmp_path: Path) -> None:
    [problem] = problems(tmp_path, GOOD.replace("interval_seconds: 120", "interval_seconds: 5"))
    assert ":7: providers[0].interval_seconds" in problem and "use at least" in problem


def test_unknown_scraper(tmp_path: Path) -> None:
    [problem] = problems(tmp_path, GOOD.replace("scraper: prepmod", "scraper: prepmood"))
    assert ":6: providers[0].scraper" in problem and "notifier scraper list" in problem


def test_yaml_syntax_error_has_a_line(tmp_path: Path) -> None:
    [problem] = problems(tmp_path, GOOD + "channels: [unclosed\n")
    assert ":11:" in problem or ":12:" in problem
    assert "not valid YAML" in problem


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read it"):
        load_config(tmp_path / "nope.yaml")


def test_secret_written_in_the_file_is_refused(tmp_path: Path) -> None:
    text = GOOD + "web:\n  secret_key: hunter2\n"
    [problem] = problems(tmp_path, text)
    assert ":12: web.secret_key" in problem and "${NOTIFIER_SECRET_KEY}" in problem


def test_env_reference_is_substituted(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NOTIFIER_SECRET_KEY", "from-env")
    config = load_config(write(tmp_path, GOOD + "web:\n  secret_key: ${NOTIFIER_SECRET_KEY}\n"))
    assert config.web.secret_key is not None
    assert config.web.secret_key.get_secret_value() == "from-env"


def test_missing_env_var_is_an_error_with_its_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("NOTIFIER_SECRET_KEY", raising=False)
    [problem] = problems(tmp_path, GOOD + "web:\n  secret_key: ${NOTIFIER_SECRET_KEY}\n")
    assert ":12:" in problem and "NOTIFIER_SECRET_KEY is not set" in problem


def test_config_check_cli_prints_problems_without_traceback(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD.replace("scraper: prepmod", "scraper: nope") + "bogus: 1\n")
    result = CliRunner().invoke(app, ["config", "check", "--config", str(path)])
    assert result.exit_code == 2
    output = result.output
    assert "2 problem(s)" in output and "Traceback" not in output
    assert f"{path}:6:" in output and f"{path}:11:" in output


def test_config_check_cli_accepts_the_example() -> None:
    result = CliRunner().invoke(app, ["config", "check", "--config", str(REPO / "config.yaml")])
    assert result.exit_code == 0, result.output
    assert "is valid" in result.output


OPS = "ops_notices:\n  failure_rate_threshold: 0.3\n  targets:\n    - {target}\n"


def test_ops_notices_section_is_read(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPS_NTFY_URL", "json://127.0.0.1:9/ops")
    config = load_config(write(tmp_path, GOOD + OPS.format(target="${OPS_NTFY_URL}")))
    assert config.ops_notices.failure_rate_threshold == 0.3
    assert config.ops_notices.targets[0].url.get_secret_value() == "json://127.0.0.1:9/ops"
    assert load_config(write(tmp_path, GOOD)).ops_notices.targets == []  # log only


def test_ops_notices_problems_name_their_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    [bad_url] = problems(tmp_path, GOOD + OPS.format(target="nosuchservice://s3cr3tvalue"))
    assert ":14: ops_notices.targets[0]" in bad_url and "Apprise cannot use this" in bad_url
    assert "s3cr3tvalue" not in bad_url  # the URL may hold a secret: never echoed
    monkeypatch.delenv("OPS_NTFY_URL", raising=False)
    unset = problems(tmp_path, GOOD + OPS.format(target="${OPS_NTFY_URL}"))
    assert any(":14: ops_notices.targets[0]" in p and "OPS_NTFY_URL is not set" in p for p in unset)
    [typo] = problems(tmp_path, GOOD + "ops_notices:\n  max_notices_per_hr: 3\n")
    assert ":12: ops_notices.max_notices_per_hr" in typo
