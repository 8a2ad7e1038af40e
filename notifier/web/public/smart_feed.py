"""Our aggregated availability, republished as a SMART Scheduling Links feed.

``smart/$bulk-publish`` (the manifest; stored as ``$bulk-publish.json``) lists one Location,
one Schedule and one Slot NDJSON file. We only know counts per day, so each open day is one
``free`` Slot carrying the day's count as ``slot-capacity`` and the booking link; a day whose
count the provider did not give is one long slot without capacity (readers treat it as "open,
count unknown"). Places whose provider is down are left out: SMART has no "unknown", and
listing them without slots would tell every reader "none".
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
from collections.abc import Iterable
from functools import partial
from typing import Any

from notifier.web.public.pages import _zone
from notifier.web.public.render_cache import RenderCache, content_key
from notifier.web.public.snapshot import Place, Snapshot

__all__ = ["MANIFEST_FILE", "fhir_id", "render_smart_feed"]

MANIFEST_FILE = "smart/$bulk-publish.json"
_REGISTRY = "http://fhir-registry.smarthealthit.org"
_ID_SAFE = re.compile(r"[^A-Za-z0-9.-]")
_SERVICE_TYPE = [
    {
        "coding": [
            {
                "system": "http://terminology.hl7.org/CodeSystem/service-type",
                "code": "57",
                "display": "Immunization",
            },
            {
                "system": f"{_REGISTRY}/CodeSystem/service-type",
                "code": "covid19-immunization",
                "display": "COVID-19 Immunization Appointment",
            },
        ]
    }
]


def fhir_id(location_id: str) -> str:
    """A FHIR id (``[A-Za-z0-9.-]{1,64}``) that stays readable and unique."""
    digest = hashlib.sha1(location_id.encode()).hexdigest()[:10]
    return f"{_ID_SAFE.sub('-', location_id)[:50]}-{digest}"


def _instant(at: dt.datetime) -> str:
    return at.astimezone(dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _location(place: Place) -> dict[str, Any]:
    row = place.row
    resource: dict[str, Any] = {
        "resourceType": "Location",
        "id": fhir_id(row.id),
        "name": row.name,
        "identifier": [{"system": "urn:appointment-notifier:location", "value": row.id}],
        "address": {
            key: value
            for key, value in (
                ("line", [row.address] if row.address else None),
                ("city", row.city),
                ("state", row.state),
                ("postalCode", row.postal_code),
                ("country", row.country),
            )
            if value
        },
    }
    if row.lat is not None and row.lon is not None:
        resource["position"] = {"latitude": row.lat, "longitude": row.lon}
    if row.booking_url:
        resource["telecom"] = [{"system": "url", "value": row.booking_url}]
    return resource


def _schedule(place: Place) -> dict[str, Any]:
    location = fhir_id(place.row.id)
    return {
        "resourceType": "Schedule",
        "id": location,
        "actor": [{"reference": f"Location/{location}"}],
        "serviceType": _SERVICE_TYPE,
    }


def _slots(place: Place) -> Iterable[dict[str, Any]]:
    if not place.is_open:
        return
    row = place.row
    zone = _zone(row.time_zone) or dt.UTC
    schedule = fhir_id(row.id)
    for day, count in place.dates:
        # Noon local time: the day stays the same day in any reader's time zone arithmetic.
        start = dt.datetime.combine(day, dt.time(12), zone)
        end = start + (dt.timedelta(hours=1) if count is not None else dt.timedelta(hours=6))
        extensions: list[dict[str, Any]] = []
        if row.booking_url:
            extensions.append(
                {
                    "url": f"{_REGISTRY}/StructureDefinition/booking-deep-link",
                    "valueUrl": row.booking_url,
                }
            )
        if count is not None:
            extensions.append(
                {"url": f"{_REGISTRY}/StructureDefinition/slot-capacity", "valueInteger": count}
            )
        slot: dict[str, Any] = {
            "resourceType": "Slot",
            "id": f"{schedule[:53]}-{day:%Y%m%d}",
            "schedule": {"reference": f"Schedule/{schedule}"},
            "status": "free" if count is None or count > 0 else "busy",
            "start": start.isoformat(timespec="seconds"),
            "end": end.isoformat(timespec="seconds"),
        }
        if extensions:
            slot["extension"] = extensions
        yield slot


def _ndjson(resources: Iterable[dict[str, Any]]) -> bytes:
    return "".join(json.dumps(r, separators=(",", ":")) + "\n" for r in resources).encode()


def _place_lines(place: Place) -> tuple[str, str, str]:
    return (
        _ndjson([_location(place)]).decode(),
        _ndjson([_schedule(place)]).decode(),
        _ndjson(_slots(place)).decode(),
    )


def render_smart_feed(
    snapshot: Snapshot, base_url: str, cache: RenderCache | None = None
) -> dict[str, bytes]:
    base = base_url.rstrip("/")
    places = [p for p in snapshot.places if p.unknown_since is None and p.row.status != "unknown"]
    states = sorted({p.row.state for p in places if p.row.state})
    lines = [
        cache.get(("smart", content_key(p)), partial(_place_lines, p)) if cache else _place_lines(p)
        for p in places
    ]
    manifest = {
        "transactionTime": _instant(snapshot.generated_at),
        "request": f"{base}/smart/$bulk-publish",
        "output": [
            {"type": "Location", "url": f"{base}/smart/locations.ndjson"},
            {"type": "Schedule", "url": f"{base}/smart/schedules.ndjson"},
            {"type": "Slot", "url": f"{base}/smart/slots.ndjson"}
            | ({"extension": {"state": states}} if states else {}),
        ],
        "error": [],
    }
    return {
        MANIFEST_FILE: json.dumps(manifest, indent=1).encode(),
        "smart/locations.ndjson": "".join(line[0] for line in lines).encode(),
        "smart/schedules.ndjson": "".join(line[1] for line in lines).encode(),
        "smart/slots.ndjson": "".join(line[2] for line in lines).encode(),
    }
