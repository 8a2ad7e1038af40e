"""/healthz tells the truth about providers; /healthz/live stays cheap."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from fastapi.testclient import TestClient
from sqlalchemy import Engine

from notifier.config import ProviderConfig
from notifier.db.public import ProviderRow
from notifier.web.app import create_app
from notifier.web.public.health import provider_health
from tests.web.public_fixtures import public_config, seeded_engine
from tests.web.public_support import NOW

__all__ = ["seeded_engine"]  # fixture, used by name


def _providers() -> list[ProviderConfig]:
    return [
        ProviderConfig(id="ma", scraper="prepmod", interval_seconds=60),
        ProviderConfig(id="de", scraper="smart-scheduling-links", interval_seconds=60),
        ProviderConfig(id="new", scraper="smart-scheduling-links", interval_seconds=60),
    ]


def test_a_down_provider_makes_readiness_fail_and_says_which(
    seeded_engine: Engine, tmp_path: Path
) -> None:
    config = public_config(tmp_path / "public", providers=_providers())
    app = create_app(config, engine=seeded_engine, clock=lambda: NOW)
    with TestClient(app) as client:
        response = client.get("/healthz")
        live = client.get("/healthz/live")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "degraded" and body["failing"] == ["de"]
    assert body["providers"]["de"]["state"] == "down"
    assert body["providers"]["de"]["down_since"].startswith("2021-02-25T12:40")
    assert body["providers"]["ma"]["state"] == "ok"
    assert body["providers"]["new"]["state"] == "never polled"
    assert response.headers["cache-control"] == "no-store"
    assert live.status_code == 200 and live.json() == {"status": "ok"}


def test_a_provider_silent_for_too_long_is_stale() -> None:
    last = NOW - dt.timedelta(minutes=20)
    rows = [ProviderRow("ma", last, None, None, None)]
    assert provider_health(rows, {"ma": 60.0}, NOW)["ma"]["state"] == "stale"
    assert provider_health(rows, {"ma": 600.0}, NOW)["ma"]["state"] == "ok"
    fresh = [ProviderRow("ma", NOW - dt.timedelta(seconds=90), None, None, None)]
    report = provider_health(fresh, {"ma": 60.0}, NOW)["ma"]
    assert report["state"] == "ok" and report["age_seconds"] == 90.0


def test_all_fresh_is_ready(seeded_engine: Engine, tmp_path: Path) -> None:
    config = public_config(tmp_path / "public", providers=_providers()[:1])
    app = create_app(config, engine=seeded_engine, clock=lambda: NOW)
    with TestClient(app) as client:
        response = client.get("/healthz")  # "de" is down but no longer configured
    assert response.status_code == 200
    assert response.json()["providers"] == {
        "ma": {"state": "ok", "last_success_at": "2021-02-25T12:59:00+00:00", "age_seconds": 60.0}
    }
