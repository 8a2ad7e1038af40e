"""``notifier run`` as a real process: it polls, serves the web app, and stops cleanly."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
from sqlalchemy import create_engine, func, select

from notifier.db.tables import delivery_table, poll_run_table
from notifier.testing.simulator import ProviderSimulator

REPO = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def write_config(tmp_path: Path, sim: ProviderSimulator, port: int) -> Path:
    config = tmp_path / "config.yaml"
    config.write_text(f"""\
operator:
  name: Service test
  contact: mailto:ops@example.org
database:
  url: sqlite:///{tmp_path / "subscribers.db"}
providers:
  - id: ma-prepmod
    scraper: prepmod
    interval_seconds: 60
    jitter_seconds: 0
    settings:
      base_url: {sim.base_url}
channels:
  console:
    settings:
      path: {tmp_path / "console.jsonl"}
web:
  host: 127.0.0.1
  port: {port}
""")
    return config


def wait_for(predicate: object, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():  # type: ignore[operator]
            return
        time.sleep(0.2)
    raise AssertionError("condition not met in time")


def test_run_polls_serves_and_stops_cleanly_on_sigterm(tmp_path: Path) -> None:
    port = free_port()
    with ProviderSimulator(duration=20.0) as sim:
        config = write_config(tmp_path, sim, port)
        process = subprocess.Popen(
            [sys.executable, "-m", "notifier.cli.app", "run", "--config", str(config)],
            cwd=REPO,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        try:
            engine = create_engine(f"sqlite:///{tmp_path / 'subscribers.db'}")

            def polled() -> bool:
                try:
                    with engine.connect() as conn:
                        count = select(func.count()).select_from(poll_run_table)
                        return bool(conn.execute(count).scalar_one())
                except Exception:  # noqa: BLE001 - the schema may not exist yet
                    return False

            wait_for(polled)
            health = httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=5)
            assert health.status_code == 200 and health.json()["status"] == "ok"
            process.send_signal(signal.SIGTERM)
            output, _ = process.communicate(timeout=60)
        finally:
            if process.poll() is None:
                process.kill()
    assert process.returncode == 0, output
    assert "service stopped cleanly" in output
    with engine.connect() as conn:
        states = set(conn.execute(select(delivery_table.c.state)).scalars())
    assert states <= {"sent"}  # nothing was left claimed half-way
