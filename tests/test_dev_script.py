"""``./dev`` changes into the repository; paths the caller passes still mean the caller's folder."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
DEV = REPO / "dev"
VENV = Path(sys.prefix)


def _stamp_matches() -> bool:
    want = hashlib.sha256(
        (REPO / "requirements.lock").read_bytes() + (REPO / "pyproject.toml").read_bytes()
    ).hexdigest()
    stamp = VENV / ".installed"
    return stamp.is_file() and stamp.read_text().strip() == want


pytestmark = pytest.mark.skipif(
    not _stamp_matches(),
    reason="the running virtualenv was not installed by ./dev; running it would reinstall",
)


def run_dev(cwd: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    environment = {k: v for k, v in os.environ.items() if not k.startswith("NOTIFIER_")}
    environment.update(VENV=str(VENV), **env)
    result = subprocess.run(
        [str(DEV), *args], cwd=cwd, env=environment, capture_output=True, text=True, timeout=120
    )
    assert "dev: installing" not in result.stderr and "dev: creating" not in result.stderr
    return result


@pytest.fixture
def elsewhere(tmp_path: Path) -> Path:
    """A folder outside the repository holding my.yaml, a copy of the example with a typo."""
    text = (REPO / "config.yaml").read_text().replace("  name: Example", "  nmae: Example")
    (tmp_path / "my.yaml").write_text(text)
    return tmp_path


@pytest.mark.parametrize("form", [["--config", "my.yaml"], ["--config=my.yaml"], ["-c", "my.yaml"]])
def test_relative_config_is_read_from_the_callers_folder(elsewhere: Path, form: list[str]) -> None:
    result = run_dev(elsewhere, "config", "check", *form)
    assert result.returncode == 2, result.stdout + result.stderr
    assert f"{elsewhere / 'my.yaml'}:8: operator.nmae" in result.stderr


def test_relative_config_in_a_subfolder(elsewhere: Path) -> None:
    (elsewhere / "sub").mkdir()
    (elsewhere / "my.yaml").rename(elsewhere / "sub" / "my.yaml")
    result = run_dev(elsewhere, "config", "check", "--config", "sub/my.yaml")
    assert f"{elsewhere / 'sub' / 'my.yaml'}:8:" in result.stderr


def test_relative_notifier_config_variable_too(elsewhere: Path) -> None:
    result = run_dev(elsewhere, "config", "check", NOTIFIER_CONFIG="my.yaml")
    assert f"{elsewhere / 'my.yaml'}:8: operator.nmae" in result.stderr


def test_absolute_config_is_left_alone(elsewhere: Path) -> None:
    result = run_dev(REPO, "config", "check", "--config", str(REPO / "config.yaml"))
    assert result.returncode == 0, result.stderr
    assert f"{REPO / 'config.yaml'} is valid" in result.stdout


def test_help_lists_the_commands_and_nothing_else(tmp_path: Path) -> None:
    result = run_dev(tmp_path, "help")
    assert result.stdout.splitlines()[0].startswith("One entry point")
    assert "./dev test" in result.stdout and "set -euo" not in result.stdout
