"""The operator's first hour: what the commands say when a person runs them for the first time."""

from __future__ import annotations

import os
import re
import selectors
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from notifier import __version__
from notifier.cli.app import app
from notifier.db.engine import SchemaChange, upgrade

REPO = Path(__file__).resolve().parents[2]


def write_config(tmp_path: Path, port: int = 8080) -> Path:
    path = tmp_path / "config.yaml"
    path.write_text(f"""\
operator: {{name: First hour, contact: "mailto:ops@example.org"}}
database: {{url: "sqlite:///{tmp_path / "subscribers.db"}"}}
channels:
  console: {{enabled: true}}
web:
  host: 127.0.0.1
  port: {port}
  public_url: https://alerts.example.org
""")
    return path


def test_db_upgrade_says_created_then_up_to_date(tmp_path: Path) -> None:
    config = write_config(tmp_path)
    first = CliRunner().invoke(app, ["db", "upgrade", "--config", str(config)])
    assert first.exit_code == 0, first.output
    assert "created the database schema" in first.output
    second = CliRunner().invoke(app, ["db", "upgrade", "--config", str(config)])
    assert second.exit_code == 0, second.output
    assert "already up to date" in second.output and "created the" not in second.output


def test_upgrade_reports_the_revisions_it_moved_between(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    created = upgrade(url)
    assert created.before is None and created.after is not None
    again = upgrade(url)
    assert again == SchemaChange(created.after, created.after)
    assert again.describe() == f"the database schema is already up to date (revision {again.after})"


def test_schema_change_wording_for_a_migration() -> None:
    text = SchemaChange("0001", "0002").describe()
    assert text == "migrated the database schema from revision 0001 to 0002"


def test_version_option_prints_the_package_version() -> None:
    result = CliRunner().invoke(app, ["--version"])
    assert result.exit_code == 0
    assert result.output.strip() == f"notifier {__version__}"


def _every_command_path(group: Any, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    """Every command and group under ``group`` (typer ships its own copy of click)."""
    paths = [prefix]
    ctx = group.context_class(group)
    for name in group.list_commands(ctx):
        command = group.get_command(ctx, name)
        if hasattr(command, "list_commands"):
            paths += _every_command_path(command, (*prefix, name))
        else:
            paths.append((*prefix, name))
    return paths


def test_no_help_page_labels_a_flag_with_a_type() -> None:
    paths = _every_command_path(typer.main.get_group(app))
    assert ("db", "upgrade") in paths and ("scraper", "list") in paths and len(paths) > 15
    for path in paths:
        result = CliRunner().invoke(app, [*path, "--help"], terminal_width=120)
        assert result.exit_code == 0, (path, result.output)
        assert "--help" in result.output
        labels = re.findall(r"<bool>|<boolean>|\bBOOLEAN\b", result.output)
        assert not labels, f"`notifier {' '.join(path)} --help` shows {labels}"


def test_help_of_run_lists_its_flags_plainly() -> None:
    result = CliRunner().invoke(app, ["run", "--help"], terminal_width=120)
    line = next(x for x in result.output.splitlines() if "--verbose" in x)
    assert re.fullmatch(r"\s*-v, --verbose\s+Log debug details\.", line), line


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def test_run_logs_where_the_web_app_listens(tmp_path: Path) -> None:
    port = _free_port()
    config = write_config(tmp_path, port)
    env = {k: v for k, v in os.environ.items() if not k.startswith("NOTIFIER_")}
    process = subprocess.Popen(
        [sys.executable, "-m", "notifier.cli.app", "run", "--config", str(config)],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stderr is not None
    seen: list[str] = []
    try:
        with selectors.DefaultSelector() as selector:
            selector.register(process.stderr, selectors.EVENT_READ)
            deadline = time.monotonic() + 60
            while not any("web app listening" in line for line in seen):
                if process.poll() is not None or time.monotonic() > deadline:
                    pytest.fail("no 'web app listening' line:\n" + "".join(seen))
                if selector.select(timeout=1):
                    seen.append(process.stderr.readline())
    finally:
        process.send_signal(signal.SIGTERM)
        process.communicate(timeout=60)
    line = next(x for x in seen if "web app listening" in x)
    assert f"http://127.0.0.1:{port}" in line
    assert "public URL https://alerts.example.org" in line
