"""Fixtures for the public pages: a seeded database, a published folder and the app."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from notifier.config import Config, OperatorConfig, ProviderConfig, WebConfig
from notifier.web.app import create_app
from notifier.web.public.routes import PublicSite
from tests.web.public_support import NOW, seed

BASE_URL = "https://alerts.example.org"


def public_config(public_dir: Path, *, providers: list[ProviderConfig] | None = None) -> Config:
    return Config(
        operator=OperatorConfig(contact="ops@example.org"),
        web=WebConfig(public_url=BASE_URL, public_dir=public_dir),
        providers=providers or [],
    )


@dataclass
class PublicApp:
    client: TestClient
    site: PublicSite
    root: Path
    engine: Engine


@pytest.fixture
def seeded_engine(sqlite_engine: Engine) -> Engine:
    seed(sqlite_engine)
    return sqlite_engine


@pytest.fixture
def public_app(seeded_engine: Engine, tmp_path: Path) -> Iterator[PublicApp]:
    root = tmp_path / "public"
    app = create_app(public_config(root), engine=seeded_engine, clock=lambda: NOW)
    site: PublicSite = app.state.public_site
    site.publisher().publish_now()
    with TestClient(app, raise_server_exceptions=False) as client:
        yield PublicApp(client, site, root, seeded_engine)
