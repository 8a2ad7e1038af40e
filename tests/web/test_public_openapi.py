"""The public API is documented by a valid OpenAPI document, and a property-based run of
schemathesis over every public operation finds no server error and no undocumented answer."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import schemathesis
from fastapi import FastAPI
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode
from schemathesis.specs.openapi.checks import positive_data_acceptance
from sqlalchemy import Engine

from notifier.web.app import create_app
from tests.web.public_fixtures import public_config
from tests.web.public_support import NOW, seed

PUBLIC_PATHS = r"^/(api/v1/|search)"


@pytest.fixture
def public_api(sqlite_engine: Engine, tmp_path: Path) -> Iterator[FastAPI]:
    seed(sqlite_engine)
    app = create_app(public_config(tmp_path / "public"), engine=sqlite_engine, clock=lambda: NOW)
    app.state.public_site.publisher().publish_now()
    yield app


@pytest.fixture
def api_schema(public_api: FastAPI) -> schemathesis.BaseSchema:
    return schemathesis.openapi.from_asgi("/openapi.json", public_api).include(
        path_regex=PUBLIC_PATHS
    )


def test_the_openapi_document_is_valid_and_has_real_schemas(public_api: FastAPI) -> None:
    with TestClient(public_api) as client:
        document = client.get("/openapi.json").json()
    schemathesis.openapi.from_dict(document).validate()  # the OpenAPI 3.1 meta-schema
    paths = document["paths"]
    for path in ("/api/v1/locations", "/api/v1/availability", "/search"):
        assert "get" in paths[path], path
    availability = paths["/api/v1/availability"]["get"]
    ok = availability["responses"]["200"]["content"]["application/json"]["schema"]
    assert ok == {"$ref": "#/components/schemas/AvailabilityDocument"}
    assert {"400", "404"} <= set(availability["responses"])
    location = document["components"]["schemas"]["LocationOut"]
    assert {"status", "appointments", "by_date", "status_unknown_since"} <= set(
        location["properties"]
    )


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_no_public_operation_fails(
    api_schema: schemathesis.BaseSchema, mode: GenerationMode
) -> None:
    operations = [result.ok() for result in api_schema.get_all_operations()]
    assert {op.path for op in operations} == {
        "/api/v1/locations",
        "/api/v1/availability",
        "/search",
    }
    for operation in operations:
        if mode is GenerationMode.NEGATIVE and operation.path == "/api/v1/locations":
            continue  # no parameters: there is no invalid request to make

        @given(case=operation.as_strategy(generation_mode=mode))
        @settings(
            max_examples=60,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        def check(case: schemathesis.Case) -> None:
            # A schema-valid string can still be no postal code of that country ("zzzzz"):
            # such input gets a documented, readable 400, so "valid data accepted" is not
            # a property of these operations. Every other check runs (no 5xx, documented
            # status codes and content types, response bodies matching their schemas).
            case.call_and_validate(excluded_checks=[positive_data_acceptance])

        check()
