"""Pure helpers for SMART Scheduling Links FHIR resources (Location, Schedule, Slot).

Everything here is a function from decoded JSON to plain values, with no I/O, so that the feed
engine (``_smart_feed``) and the tests can use it directly. Publishers differ in small ways
(extension URLs with http or https, capacities sent as strings, references written as full
URLs, product codes left null), so every reader here is lenient about shape and strict about
meaning.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

__all__ = [
    "ABSENT",
    "CAPACITY_INVALID",
    "COVID_CVX",
    "NON_COVID_CVX",
    "ScheduleInfo",
    "aware",
    "classify_product",
    "classify_schedule",
    "extension_values",
    "last_source_sync",
    "parse_capacity",
    "parse_instant",
    "reference_id",
    "slot_extensions",
]

# Extension URLs end with these names; the host part varies between publishers.
EXT_CAPACITY: Final = "slot-capacity"
EXT_BOOKING_LINK: Final = "booking-deep-link"
EXT_BOOKING_PHONE: Final = "booking-phone"
EXT_PRODUCT: Final = "vaccine-product"
EXT_LAST_SOURCE_SYNC: Final = "lastSourceSync"

#: CVX codes of COVID-19 vaccines (CDC "COVID-19 related codes"), with our product label.
COVID_CVX: Final[Mapping[str, str]] = {
    "207": "Moderna",
    "208": "Pfizer",
    "210": "AstraZeneca",
    "211": "Novavax",
    "212": "Janssen",
    "213": "COVID-19",
    "217": "Pfizer",
    "218": "Pfizer (5-11)",
    "219": "Pfizer (6m-4y)",
    "221": "Moderna",
    "225": "Sanofi",
    "227": "Moderna (6-11)",
    "228": "Moderna (6m-5y)",
    "229": "Moderna bivalent",
    "230": "Moderna bivalent (6m-5y)",
    "300": "Pfizer bivalent",
    "301": "Pfizer bivalent (5-11)",
    "302": "Pfizer bivalent (6m-4y)",
}

#: CVX codes of vaccines that public-health feeds list beside COVID ones (never COVID):
#: zoster, mpox/smallpox, influenza, pneumococcal, Tdap, HPV.
NON_COVID_CVX: Final[frozenset[str]] = frozenset(
    {"121", "187", "206", "88", "135", "140", "141", "150", "153", "155", "158", "161"}
    | {"166", "168", "171", "185", "186", "197", "205", "33", "133", "215", "216"}
    | {"115", "165"}
)

_COVID_TEXT = re.compile(r"covid|sars-?cov|corona\s*virus|comirnaty|spikevax|nuvaxovid", re.I)
_NON_COVID_TEXT = re.compile(
    r"influenza|\bflu\b|zoster|shingl|monkeypox|\bmpox\b|jynneos|smallpox|\brsv\b|arexvy|"
    r"abrysvo|pneumo|prevnar|\bpcv\d*\b|\bppsv\d*\b|\btdap\b|\bdtap\b|\bhpv\b|gardasil|"
    r"hepatitis|varicella|chickenpox|\bmmrv?\b|measles|rotavirus|\bmenb\b|\bmenacwy\b|"
    r"meningococcal|\bhib\b|polio|tetanus|typhoid|rabies",
    re.I,
)
_VENDORS: Final = (
    (re.compile(r"moderna", re.I), "Moderna"),
    (re.compile(r"pfizer|biontech", re.I), "Pfizer"),
    (re.compile(r"janssen|johnson|\bj\s*&\s*j\b", re.I), "Janssen"),
    (re.compile(r"novavax", re.I), "Novavax"),
    (re.compile(r"astra\s*zeneca", re.I), "AstraZeneca"),
)
#: serviceType codes that say "COVID-19 immunization" (any code system: CVS files it under
#: a vaccine-dose system).
_COVID_SERVICE_CODES: Final = frozenset({"covid19-immunization"})
#: HL7 service-type 57 is plain "Immunization": it names no vaccine.
_GENERIC_SERVICE_CODES: Final = frozenset({"57"})


#: A Slot without a slot-capacity extension (not the same as a capacity of null).
ABSENT: Final = object()


class _Invalid:
    """A capacity that is present but unreadable (negative, text, fraction)."""

    def __repr__(self) -> str:
        return "CAPACITY_INVALID"


CAPACITY_INVALID: Final = _Invalid()


def extension_values(resource: Mapping[str, Any]) -> dict[str, Any]:
    """Extension values keyed by the last path segment of their URL (first one wins).

    ``valueInteger``, ``valueString``, ``valueUrl``, ``valueCoding``... are all read: the
    value key is whichever ``value*`` key is present.
    """
    found: dict[str, Any] = {}
    extensions = resource.get("extension")
    if not isinstance(extensions, list):
        return found
    for ext in extensions:
        if not isinstance(ext, dict):
            continue
        url = ext.get("url")
        if not isinstance(url, str):
            continue
        name = url.rstrip("/").rsplit("/", 1)[-1]
        if name in found:
            continue
        for key, value in ext.items():
            if key.startswith("value"):
                found[name] = value
                break
    return found


def extension_list(resource: Mapping[str, Any], name: str) -> list[Any]:
    """Every value of a repeatable extension (``vaccine-product`` may appear several times)."""
    values: list[Any] = []
    extensions = resource.get("extension")
    if not isinstance(extensions, list):
        return values
    for ext in extensions:
        if isinstance(ext, dict) and str(ext.get("url", "")).rstrip("/").endswith("/" + name):
            values.extend(v for k, v in ext.items() if k.startswith("value"))
    return values


def parse_capacity(value: Any) -> int | _Invalid:
    """A slot-capacity value as a count. Strings like ``"5"`` are counts too (CVS, Rite Aid)."""
    if isinstance(value, bool):
        return CAPACITY_INVALID
    if isinstance(value, int):
        return value if value >= 0 else CAPACITY_INVALID
    if isinstance(value, float):
        return int(value) if value >= 0 and value.is_integer() else CAPACITY_INVALID
    if isinstance(value, str):
        text = value.strip()
        if text.isdigit():
            return int(text)
        try:
            number = float(text)
        except ValueError:
            return CAPACITY_INVALID
        return int(number) if number >= 0 and number.is_integer() else CAPACITY_INVALID
    return CAPACITY_INVALID


def reference_id(reference: Any, resource_type: str) -> str | None:
    """``"Schedule/123"`` (or a full URL ending so, or a bare id) -> ``"123"``."""
    if isinstance(reference, dict):
        reference = reference.get("reference")
    if isinstance(reference, int):
        return str(reference)
    if not isinstance(reference, str) or not reference.strip():
        return None
    text = reference.strip()
    marker = resource_type + "/"
    if marker in text:
        text = text.rsplit(marker, 1)[1]
    elif "/" in text:
        return None  # a reference to some other resource type
    text = text.split("/_history/", 1)[0].strip("/")
    return text or None


def parse_instant(value: Any) -> dt.datetime | None:
    """An ISO 8601 timestamp; a value without an offset stays naive (it is local time)."""
    if not isinstance(value, str) or len(value) < 10:
        return None
    try:
        return dt.datetime.fromisoformat(value.strip())
    except ValueError:
        return None


def classify_product(code: Any, display: Any) -> tuple[str, str | None]:
    """``("covid", label)``, ``("other", display)`` or ``("unknown", display)``.

    A CVX code decides when it is one we know; otherwise the display text does (PrepMod
    sends ``"code": null`` with only a display name).
    """
    code_text = str(code).strip() if code is not None else ""
    text = display.strip() if isinstance(display, str) else ""
    if code_text in COVID_CVX:
        return "covid", COVID_CVX[code_text]
    if code_text in NON_COVID_CVX:
        return "other", text or f"CVX {code_text}"
    vendor = next((label for pattern, label in _VENDORS if pattern.search(text)), None)
    if _COVID_TEXT.search(text):
        return "covid", vendor or "COVID-19"
    if _NON_COVID_TEXT.search(text):
        return "other", text
    if vendor is not None:
        # In these feeds a bare maker name (no other disease named) is its COVID vaccine.
        return "covid", vendor
    return "unknown", text or None


@dataclass(frozen=True, slots=True)
class ScheduleInfo:
    """What the parser needs from one Schedule."""

    location_id: str | None
    is_covid: bool
    products: tuple[str, ...]
    other_products: tuple[str, ...]
    booking_url: str | None
    booking_phone: str | None


def _service_verdict(schedule: Mapping[str, Any]) -> bool:
    """COVID or not from ``serviceType`` alone (used when products do not decide)."""
    specific_other = False
    service_types = schedule.get("serviceType")
    if not isinstance(service_types, list):
        return True  # no service named: these feeds publish COVID vaccination
    for concept in service_types:
        if not isinstance(concept, dict):
            continue
        coding_list = concept.get("coding")
        codings: list[Any] = coding_list if isinstance(coding_list, list) else []
        texts = [concept.get("text")]
        for coding in codings:
            if not isinstance(coding, dict):
                continue
            code = str(coding.get("code") or "")
            if code in _COVID_SERVICE_CODES:
                return True
            texts.append(coding.get("display"))
            if code and code not in _GENERIC_SERVICE_CODES:
                specific_other = True
        if any(isinstance(t, str) and _COVID_TEXT.search(t) for t in texts):
            return True
    # Only the generic "Immunization" code: every publisher of this format lists COVID
    # vaccination that way; a specific non-COVID service code means something else.
    return not specific_other


def classify_schedule(schedule: Mapping[str, Any]) -> ScheduleInfo:
    """Read a Schedule: its location, whether it offers COVID vaccine, and which products.

    Products decide first, because PrepMod files flu, shingles and monkeypox clinics under a
    COVID ``serviceType``: a schedule whose products are all known non-COVID vaccines is not
    COVID availability. Without a recognisable product, ``serviceType`` decides.
    """
    covid: list[str] = []
    other: list[str] = []
    for coding in extension_list(schedule, EXT_PRODUCT):
        if not isinstance(coding, dict):
            continue
        kind, label = classify_product(coding.get("code"), coding.get("display"))
        if kind == "covid" and label:
            covid.append(label)
        elif kind == "other" and label:
            other.append(label)
    if covid:
        is_covid = True
    elif other:
        is_covid = False
    else:
        is_covid = _service_verdict(schedule)
    location_id = None
    actors = schedule.get("actor")
    for actor in actors if isinstance(actors, list) else [actors]:
        location_id = reference_id(actor, "Location")
        if location_id:
            break
    values = extension_values(schedule)
    return ScheduleInfo(
        location_id=location_id,
        is_covid=is_covid,
        products=tuple(dict.fromkeys(covid)),
        other_products=tuple(dict.fromkeys(other)),
        booking_url=_text(values.get(EXT_BOOKING_LINK)),
        booking_phone=_text(values.get(EXT_BOOKING_PHONE)),
    )


def _text(value: Any) -> str | None:
    if isinstance(value, str) and value.strip():
        return value.strip()
    return None


def aware(value: dt.datetime | None) -> dt.datetime | None:
    """A timestamp without an offset in a manifest is UTC (FHIR instants must carry one)."""
    if value is not None and value.tzinfo is None:
        return value.replace(tzinfo=dt.UTC)
    return value


def _value(extension: dict[str, Any], usual: str) -> Any:
    if usual in extension:
        return extension[usual]
    return next((v for k, v in extension.items() if k.startswith("value")), None)


def slot_extensions(resource: dict[str, Any]) -> tuple[Any, Any, Any]:
    """(capacity or ``ABSENT``, booking link, booking phone) of a Slot; first of each wins."""
    capacity: Any = ABSENT
    link = phone = None
    extensions = resource.get("extension")
    if type(extensions) is not list:
        return capacity, link, phone
    for extension in extensions:
        if type(extension) is not dict:
            continue
        url = extension.get("url")
        if type(url) is not str:
            continue
        if url.endswith(EXT_CAPACITY):
            if capacity is ABSENT:
                capacity = _value(extension, "valueInteger")
        elif url.endswith(EXT_BOOKING_LINK):
            link = link if link is not None else _value(extension, "valueUrl")
        elif url.endswith(EXT_BOOKING_PHONE):
            phone = phone if phone is not None else _value(extension, "valueString")
    return capacity, link, phone


def last_source_sync(resource: dict[str, Any]) -> dt.datetime | None:
    meta = resource.get("meta")
    if not isinstance(meta, dict):
        return None
    value = extension_values(meta).get(EXT_LAST_SOURCE_SYNC)
    return aware(parse_instant(value))
