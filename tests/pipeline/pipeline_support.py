"""Shared set-up for pipeline tests: a config aimed at the simulator, and helpers."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

from notifier.config import ChannelConfig, Config, DatabaseConfig, OperatorConfig, ProviderConfig
from notifier.pipeline.poll import PollSummary, Runtime, dispatch_channel, poll_provider
from notifier.policies import AlertPolicy, HttpSettings
from notifier.testing.simulator import ProviderSimulator

FIRST_CLINIC_DATE = dt.date.today() + dt.timedelta(days=1)


def simulator_config(sim: ProviderSimulator, tmp_path: Path, **alerts: Any) -> Config:
    return Config(
        operator=OperatorConfig(name="tests", contact="mailto:ops@example.org"),
        database=DatabaseConfig(url=f"sqlite:///{tmp_path / 'subscribers.db'}"),
        http=HttpSettings(
            contact="mailto:ops@example.org",
            timeout_seconds=1.0,
            max_retries=0,
            breaker_failures=100,
        ),
        alerts=AlertPolicy.model_validate({"cooldown_minutes": 0, **alerts}),
        providers=[
            ProviderConfig(id="ma-prepmod", scraper="prepmod", settings={"base_url": sim.base_url}),
            ProviderConfig(
                id="ma-smart",
                scraper="smart-scheduling-links",
                settings={"manifest_url": sim.smart_manifest_url},
            ),
        ],
        channels={"console": ChannelConfig(settings={"path": str(tmp_path / "console.jsonl")})},
    )


async def poll_and_deliver(runtime: Runtime, provider: str = "ma-prepmod") -> PollSummary:
    summary = await poll_provider(runtime, provider)
    for channel in runtime.dispatchers:
        while await dispatch_channel(runtime, channel):
            pass
    return summary


def console_records(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines()]
