"""Every route of the web app, driven by schemathesis from its own ``/openapi.json``, on
SQLite and on PostgreSQL: no 5xx, and every answer is one the schema declares.

Twilio's webhooks get generated forms that are signed like Twilio's, so the fields reach
the validation behind the signature check instead of stopping at 403.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from fastapi import FastAPI
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from sqlalchemy import Engine
from twilio.request_validator import RequestValidator

from notifier.config import ChannelConfig, Config
from notifier.web.app import create_app
from tests.db.conftest import pg_engine, pg_engine_session, pg_server_url
from tests.web.conftest import NOW, sms_config
from tests.web.sms_web_support import AUTH_TOKEN, PUBLIC_BASE

__all__ = ["pg_engine", "pg_engine_session", "pg_server_url"]  # fixtures used below

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    response_headers_conformance,
]


def full_config() -> Config:
    """SMS and email both enabled, so every route exists."""
    config = sms_config()
    email = {
        "host": "127.0.0.1",
        "port": 2525,
        "security": "none",
        "from_address": "Alerts <alerts@example.org>",
        "base_url": PUBLIC_BASE,
        "secret": "schemathesis-secret-0123456789",
    }
    channels = {**config.channels, "email": ChannelConfig(settings=email)}
    return config.model_copy(update={"channels": channels})


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def web_app(request: pytest.FixtureRequest) -> Iterator[FastAPI]:
    name = "sqlite_engine" if request.param == "sqlite" else "pg_engine"
    engine: Engine = request.getfixturevalue(name)
    yield create_app(full_config(), engine=engine, clock=lambda: NOW)


def twilio_signature(case: Any) -> dict[str, str]:
    """The X-Twilio-Signature Twilio would send with this generated form."""
    if not case.path.startswith("/sms/") or not isinstance(case.body, dict):
        return {}
    form = {str(k): v if isinstance(v, str) else str(v) for k, v in case.body.items()}
    signature = RequestValidator(AUTH_TOKEN).compute_signature(PUBLIC_BASE + case.path, form)
    return {"X-Twilio-Signature": signature}


def fuzz(operation: Any, mode: GenerationMode, statuses: set[int]) -> Any:
    """A hypothesis test calling ``operation`` with generated cases, recording statuses."""

    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(
        max_examples=30,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    def run(case: Any) -> None:
        response = case.call_and_validate(headers=twilio_signature(case), checks=CHECKS)
        statuses.add(response.status_code)

    return run


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_every_route_answers_as_documented_and_never_5xx(
    web_app: FastAPI, mode: GenerationMode
) -> None:
    schema = schemathesis.openapi.from_asgi("/openapi.json", web_app)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 9  # every route and method, as test_the_schema_covers_every_route
    seen: dict[str, set[int]] = {}

    for operation in operations:
        run = fuzz(operation, mode, seen.setdefault(operation.label, set()))
        try:
            run()
        except Unsatisfiable:
            # Nothing of this operation can be made invalid (no parameters, or only free
            # strings in the path); its positive run covers it.
            assert mode is GenerationMode.NEGATIVE

    if mode is GenerationMode.POSITIVE:
        # The signed forms got past the signature check to the validation behind it.
        assert seen["POST /sms/inbound"] - {403}, seen["POST /sms/inbound"]
        assert seen["POST /sms/status"] - {403}, seen["POST /sms/status"]
    else:
        assert any(status >= 400 for statuses in seen.values() for status in statuses)


def test_the_schema_covers_every_route(web_app: FastAPI) -> None:
    documented = set(web_app.openapi()["paths"])
    assert documented >= {"/healthz", "/b/{alert_id}", "/sms/status", "/sms/inbound"}
    assert documented >= {"/u/{token}", "/confirm/{token}"}
    with TestClient(web_app) as client:
        assert client.get("/openapi.json").status_code == 200
