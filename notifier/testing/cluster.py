"""A multi-node cluster on this machine, for the multi-node test and benchmark.

Real ``notifier worker`` processes (``notifier.testing.cluster_worker``) on a throwaway
PostgreSQL database, polling PrepMod simulators and texting through the Twilio stub. A
cluster is described by a small JSON spec (URLs and sizes); each process rebuilds the same
``Config`` from it, so no secret has to travel through a serialized config.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

from notifier.config import (
    ChannelConfig,
    Config,
    DatabaseConfig,
    OperatorConfig,
    ProviderConfig,
    RateLimitConfig,
    WorkersConfig,
)
from notifier.db.scratch import scratch_postgres_database
from notifier.policies import AlertPolicy, HttpSettings
from notifier.testing.twilio_stub import DEFAULT_ACCOUNT_SID, DEFAULT_AUTH_TOKEN

REPO = Path(__file__).resolve().parents[2]
PG_SERVER = os.environ.get("NOTIFIER_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432")


@dataclass(frozen=True)
class ClusterSpec:
    database_url: str
    #: {provider id: PrepMod base URL}; each provider gets its own path on the simulator
    providers: dict[str, str]
    twilio_url: str
    workdir: str
    #: every provider is polled once per this many seconds (ticks are one second apart)
    poll_interval: int = 1
    sms_per_window: int = 10
    sms_window_seconds: float = 0.5
    send_batch: int = 50
    dispatch_batch: int = 25
    lease_seconds: float = 10.0
    concurrency: int = 8
    #: short, so that a SIGKILLed worker's jobs are recovered within the test
    heartbeat_seconds: float = 2.0
    stalled_seconds: float = 30.0

    def save(self, path: Path) -> Path:
        import json

        path.write_text(json.dumps(asdict(self)))
        return path

    @classmethod
    def load(cls, path: Path) -> ClusterSpec:
        import json

        return cls(**json.loads(path.read_text()))

    def config(self) -> Config:
        return Config(
            operator=OperatorConfig(name="tests", contact="mailto:ops@example.org"),
            engine="procrastinate",
            database=DatabaseConfig(url=self.database_url),
            workers=WorkersConfig(
                concurrency=self.concurrency,
                heartbeat_seconds=self.heartbeat_seconds,
                stalled_seconds=self.stalled_seconds,
                send_batch=self.send_batch,
            ),
            http=HttpSettings(
                contact="mailto:ops@example.org",
                timeout_seconds=20.0,
                max_retries=0,
                breaker_failures=100,
            ),
            alerts=AlertPolicy.model_validate({"cooldown_minutes": 0}),
            providers=[
                ProviderConfig(id=pid, scraper="prepmod", settings={"base_url": url})
                for pid, url in self.providers.items()
            ],
            channels={
                "sms": ChannelConfig(
                    rate_limit=RateLimitConfig(
                        count=self.sms_per_window, per_seconds=self.sms_window_seconds
                    ),
                    settings={
                        "account_sid": DEFAULT_ACCOUNT_SID,
                        "auth_token": DEFAULT_AUTH_TOKEN,
                        "from_number": "+16175550000",
                        "base_url": "https://alerts.example.org",
                        "api_base_url": self.twilio_url,
                        "messages_per_second": 1000,
                    },
                )
            },
        )


class NoServer(Exception):
    """The PostgreSQL test server cannot be reached."""


@contextlib.contextmanager
def throwaway_database() -> Iterator[str]:
    """A fresh database on the test server; its URL, dropped afterwards."""
    made = scratch_postgres_database(f"{PG_SERVER}/postgres", "notifier_cluster")
    if made is None:
        raise NoServer("the server does not answer")
    url, drop = made
    try:
        yield url
    finally:
        drop()


def start_worker(spec_path: Path, name: str, log_dir: Path) -> subprocess.Popen[bytes]:
    """A real worker process (``python -m notifier.testing.cluster_worker``)."""
    log = (log_dir / f"{name}.log").open("wb")
    return subprocess.Popen(
        [sys.executable, "-m", "notifier.testing.cluster_worker", str(spec_path), name],
        cwd=REPO,
        stdout=log,
        stderr=subprocess.STDOUT,
    )


def stop_workers(workers: list[subprocess.Popen[bytes]], timeout: float = 30.0) -> None:
    for proc in workers:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
    for proc in workers:
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
