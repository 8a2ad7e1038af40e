"""Build SMART feeds in memory and poll them the way the core does (requests, then follow)."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

from notifier.scraping import Request, Response, Scraper

__all__ = [
    "BASE",
    "MANIFEST_URL",
    "capacity",
    "location",
    "manifest",
    "ndjson",
    "poll",
    "schedule",
    "slot",
]

BASE = "https://feed.test/fhir/"
MANIFEST_URL = BASE + "$bulk-publish"
EXT = "http://fhir-registry.smarthealthit.org/StructureDefinition/"
COVID_SERVICE = [
    {
        "coding": [
            {"system": "http://terminology.hl7.org/CodeSystem/service-type", "code": "57"},
            {
                "system": "http://fhir-registry.smarthealthit.org/CodeSystem/service-type",
                "code": "covid19-immunization",
            },
        ]
    }
]


def ndjson(resources: Iterable[Mapping[str, Any]]) -> bytes:
    return b"".join(json.dumps(r).encode() + b"\n" for r in resources)


def location(loc_id: str, *, state: str = "MA", zip_code: Any = "02114", **extra: Any) -> dict:
    return {
        "resourceType": "Location",
        "id": loc_id,
        "name": f"Clinic {loc_id}",
        "telecom": [{"system": "phone", "value": "617-555-0100"}],
        "address": {"line": ["1 Main St"], "city": "Town", "state": state, "postalCode": zip_code},
        **extra,
    }


def schedule(sched_id: str, loc_id: str, *products: tuple[Any, str], **extra: Any) -> dict:
    resource: dict[str, Any] = {
        "resourceType": "Schedule",
        "id": sched_id,
        "serviceType": COVID_SERVICE,
        "actor": [{"reference": f"Location/{loc_id}"}],
        **extra,
    }
    if products:
        resource["extension"] = [
            {
                "url": EXT + "vaccine-product",
                "valueCoding": {"system": "http://hl7.org/fhir/sid/cvx", "code": c, "display": d},
            }
            for c, d in products
        ]
    return resource


def capacity(value: Any) -> dict:
    return {"url": EXT + "slot-capacity", "valueInteger": value}


def slot(
    slot_id: Any,
    sched_id: str,
    start: str,
    end: str | None = None,
    *,
    status: str = "free",
    extensions: Iterable[dict] = (),
    **extra: Any,
) -> dict:
    resource: dict[str, Any] = {
        "resourceType": "Slot",
        "id": slot_id,
        "schedule": {"reference": f"Schedule/{sched_id}"},
        "status": status,
        "start": start,
        "end": end or start,
        "extension": list(extensions),
        **extra,
    }
    return resource


def manifest(
    files: Mapping[str, str],
    *,
    states: Mapping[str, list[str]] | None = None,
    current_as_of: Mapping[str, str] | None = None,
    transaction_time: str = "2021-04-01T12:00:00Z",
) -> bytes:
    """A manifest listing ``{file name: resource type}`` under ``BASE``."""
    output = []
    for name, kind in files.items():
        entry: dict[str, Any] = {"type": kind, "url": BASE + name}
        extension: dict[str, Any] = {}
        if states and name in states:
            extension["state"] = states[name]
        if current_as_of and name in current_as_of:
            extension["currentAsOf"] = current_as_of[name]
        if extension:
            entry["extension"] = extension
        output.append(entry)
    document = {
        "transactionTime": transaction_time,
        "request": MANIFEST_URL,
        "output": output,
        "error": [],
    }
    return json.dumps(document).encode()


def _respond(request: Request, bodies: Mapping[str, bytes], headers: Mapping[str, str]) -> Response:
    body = bodies[request.url]
    return Response(
        request=request,
        url=request.url,
        status=200,
        headers={k.lower(): v for k, v in headers.items()},
        body=body,
        fetched_at=Response.from_body(b"").fetched_at,
    )


def poll(
    scraper: Scraper,
    bodies: Mapping[str, bytes],
    *,
    headers: Mapping[str, str] | None = None,
) -> list[Response]:
    """Responses of one poll: ``bodies`` maps URL -> body; unlisted URLs are not fetched."""
    pending = list(scraper.requests())
    responses: list[Response] = []
    while pending:
        request = pending.pop(0)
        if request.url not in bodies:
            continue  # as if the file were never published
        response = _respond(request, bodies, headers or {})
        responses.append(response)
        pending.extend(scraper.follow(response))
    return responses
