"""The engine setting: procrastinate needs PostgreSQL, and each mode has its own commands."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from notifier.cli.app import app
from notifier.config import ConfigError, load_config
from notifier.db.engine import upgrade

BASE = """\
operator:
  name: Test Department
  contact: mailto:ops@example.org
channels:
  console:
    enabled: true
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.yaml"
    path.write_text(text)
    return path


def test_engine_defaults_to_the_embedded_scheduler(tmp_path: Path) -> None:
    assert load_config(write(tmp_path, BASE)).engine == "apscheduler"


def test_procrastinate_on_sqlite_is_refused_with_a_fix(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("NOTIFIER_DATABASE_URL", raising=False)
    path = write(tmp_path, BASE + "engine: procrastinate\n")
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    message = str(caught.value)
    assert f"{path}:7: engine:" in message
    assert "needs PostgreSQL" in message
    assert "postgresql+psycopg://" in message and "engine: apscheduler" in message


def test_procrastinate_on_postgres_is_accepted(tmp_path: Path) -> None:
    text = BASE + "engine: procrastinate\ndatabase:\n  url: postgresql+psycopg://n@db/n\n"
    config = load_config(write(tmp_path, text))
    assert config.engine == "procrastinate"


def test_an_unknown_engine_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        load_config(write(tmp_path, BASE + "engine: celery\n"))
    assert "apscheduler" in str(caught.value) and "procrastinate" in str(caught.value)


def test_worker_needs_the_procrastinate_engine(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["worker", "--config", str(write(tmp_path, BASE))])
    assert result.exit_code == 2
    assert "engine: procrastinate" in result.output


def test_run_refuses_the_procrastinate_engine(tmp_path: Path) -> None:
    text = BASE + "engine: procrastinate\ndatabase:\n  url: postgresql+psycopg://n@db/n\n"
    result = CliRunner().invoke(app, ["run", "--config", str(write(tmp_path, text))])
    assert result.exit_code == 2
    assert "notifier worker" in result.output


def test_worker_rejects_unknown_queues(tmp_path: Path) -> None:
    text = BASE + "engine: procrastinate\ndatabase:\n  url: postgresql+psycopg://n@db/n\n"
    path = write(tmp_path, text)
    result = CliRunner().invoke(app, ["worker", "--config", str(path), "--queues", "poll,mail"])
    assert result.exit_code == 2
    assert "mail" in result.output


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_web_serves_the_app_until_sigterm(tmp_path: Path) -> None:
    port = _free_port()
    text = BASE + f"database:\n  url: sqlite:///{tmp_path / 'web.db'}\n"
    path = write(tmp_path, text)
    upgrade(f"sqlite:///{tmp_path / 'web.db'}")
    command = [sys.executable, "-c", "from notifier.cli.app import main; main()", "web"]
    proc = subprocess.Popen(
        [*command, "--config", str(path), "--host", "127.0.0.1", "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                response = httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2)
                break
            except httpx.TransportError:
                assert proc.poll() is None, proc.stdout.read() if proc.stdout else b""
                assert time.monotonic() < deadline, "notifier web did not start"
                time.sleep(0.2)
        assert response.status_code == 200
    finally:
        proc.send_signal(signal.SIGTERM)
        # uvicorn shuts down gracefully, then re-raises the signal it caught
        assert proc.wait(timeout=30) in (0, -signal.SIGTERM)
