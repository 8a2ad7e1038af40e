"""Mechanical checks behind each quality rule: a claim of "done" must survive these.

Each check returns the problems it found; an empty list means the rule holds. They read the
scraper's metadata and source, run its examples offline with the network blocked, look at
its fixture folder, and (for fuzz-safe) mutate its fixtures.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import inspect
import json
import re
import sys
from collections.abc import Callable
from pathlib import Path

from notifier.geo import region_problem
from notifier.kit.examples import ExampleRun, run_examples
from notifier.kit.fuzz import fuzz_scraper
from notifier.kit.replay import META_SUFFIX
from notifier.kit.source_scan import HTTP_LIBRARIES, NETWORK_MODULES, forbidden_imports
from notifier.model import Location, LocationAvailability
from notifier.scraping import Scraper, fixture_dir, normalize_name

__all__ = [
    "MIN_INTERVAL_FLOOR",
    "metadata_problems",
    "optional_field_names",
    "sources_problems",
    "verify_rules",
]

#: No provider is polled more often than once a minute (SMART asks the same of clients).
MIN_INTERVAL_FLOOR = 60.0
_NAME = re.compile(r"^[a-z][a-z0-9]*(-[a-z0-9]+)*$")
_PLACEHOLDER = re.compile(r"\bTODO\b|\bFIXME\b|example\.(org|com)|provider\.example", re.I)
_RATE_LIMIT_DOC = re.compile(r"rate[- ]limit", re.I)
OPTIONAL_NOTE = "optional-fields:"
_OPTIONAL_FIELDS = {
    *(f.name for f in dataclasses.fields(Location)),
    "appointments",
    "slots",
    "products",
    "age_groups",
    "valid_at",
}


def metadata_problems(cls: type[Scraper]) -> list[str]:
    """What is missing or placeholder in a scraper's metadata."""
    problems: list[str] = []
    if not _NAME.match(cls.name or ""):
        problems.append(f"name {cls.name!r} must be lower-case words joined by '-'")
    for attr in ("provider", "maintainer"):
        value = getattr(cls, attr)
        if not isinstance(value, str) or not value.strip():
            problems.append(f"{attr} is empty")
        elif _PLACEHOLDER.search(value):
            problems.append(f"{attr} is a placeholder: {value!r}")
    if not isinstance(cls.regions, tuple) or not cls.regions:
        problems.append("regions is empty: list where the provider serves, e.g. ('US-MA',)")
    else:
        problems.extend(p for p in map(region_problem, cls.regions) if p is not None)
    for attr in ("default_interval", "min_interval"):
        value = getattr(cls, attr)
        if not isinstance(value, int | float) or value <= 0:
            problems.append(f"{attr} must be a positive number of seconds, not {value!r}")
    if cls.source_format not in ("html", "api", "feed"):
        problems.append(f"source_format {cls.source_format!r} is not html, api or feed")
    return problems


def _interval_problems(cls: type[Scraper]) -> list[str]:
    problems = []
    if cls.min_interval < MIN_INTERVAL_FLOOR:
        problems.append(f"min_interval is {cls.min_interval} s; at least {MIN_INTERVAL_FLOOR:g}")
    if cls.default_interval < cls.min_interval:
        problems.append(
            f"default_interval {cls.default_interval} s is below min_interval {cls.min_interval}"
        )
    return problems


def _fixture_entries(folder: Path) -> list[str]:
    return sorted(
        p.name
        for p in folder.iterdir()
        if p.name != "SOURCES.md"
        and not p.name.endswith(META_SUFFIX)
        and not p.name.startswith(".")
    )


def sources_problems(cls: type[Scraper]) -> list[str]:
    """SOURCES.md must exist and name every file or folder in the fixture folder."""
    folder = fixture_dir(cls)
    rel = Path("scrapers/fixtures") / normalize_name(cls.name)
    if not folder.is_dir():
        return [f"{rel}/ does not exist"]
    sources = folder / "SOURCES.md"
    if not sources.is_file():
        return [f"{rel}/SOURCES.md is missing: say where each fixture came from"]
    text = sources.read_text(encoding="utf-8")
    return [
        f"{rel}/SOURCES.md does not mention {entry}"
        for entry in _fixture_entries(folder)
        if entry not in text
    ]


def _passing_values(runs: list[ExampleRun]) -> list[ExampleRun]:
    return [r for r in runs if r.checks_values and r.passed and r.results is not None]


def _recorded_fixture(cls: type[Scraper], runs: list[ExampleRun]) -> list[str]:
    problems = [] if _passing_values(runs) else ["no example with expected values passes"]
    return problems + sources_problems(cls)


def _parse_no_io(cls: type[Scraper], runs: list[ExampleRun]) -> list[str]:
    problems = [f"{r.label}: tried to reach {', '.join(r.network)}" for r in runs if r.network]
    if not runs:
        problems.append("no examples to run")
    module = sys.modules[cls.__module__]
    problems.extend(str(i) for i in forbidden_imports(module, HTTP_LIBRARIES))
    return problems


def _core_client_only(cls: type[Scraper], runs: list[ExampleRun]) -> list[str]:
    module = sys.modules[cls.__module__]
    return [str(i) for i in forbidden_imports(module, NETWORK_MODULES)]


def _none_fixture(cls: type[Scraper], runs: list[ExampleRun]) -> list[str]:
    for run in _passing_values(runs):
        expect = run.example.expect or {}
        per_location = list((expect.get("by_location") or {}).values())
        all_listed_none = bool(per_location) and all(
            v.get("status") == "none" for v in per_location
        )
        # at least one location really is "none": an empty result would pass vacuously
        shown_none = any(r.status.value == "none" for r in run.results or [])
        if (expect.get("status") == "none" or all_listed_none) and shown_none:
            return []
    return ["no passing example expects status 'none' of its locations (a 'nothing open' page)"]


def _error_fixture(cls: type[Scraper], runs: list[ExampleRun]) -> list[str]:
    if any(r.example.raises is not None and r.passed for r in runs):
        return []
    return ["no passing example with raises=<ScrapeError subclass> (an error/changed page)"]


def optional_field_names(note: str) -> list[str] | None:
    """``"optional-fields: phone, products"`` -> ``["phone", "products"]``; None otherwise."""
    if not note.startswith(OPTIONAL_NOTE):
        return None
    return [f.strip() for f in note.removeprefix(OPTIONAL_NOTE).split(",") if f.strip()]


def _is_empty(item: LocationAvailability, name: str) -> bool:
    holder = item.location if hasattr(item.location, name) else item
    return getattr(holder, name) in (None, (), "", {})


def _optional_run_problems(run: ExampleRun, names: list[str]) -> list[str]:
    if not names:
        return [f"{run.label}: name the absent fields after '{OPTIONAL_NOTE}'"]
    unknown = [n for n in names if n not in _OPTIONAL_FIELDS]
    if unknown:
        return [f"{run.label}: unknown fields {unknown}"]
    if not (run.passed and run.checks_values and run.results):
        return [f"{run.label}: must pass and assert values"]
    return [
        f"{run.label}: every location has {n}; the example does not show it missing"
        for n in names
        if not any(_is_empty(item, n) for item in run.results)
    ]


def _optional_fields(cls: type[Scraper], runs: list[ExampleRun]) -> list[str]:
    """Holds when one example declares which optional fields its source lacks, and shows it."""
    problems: list[str] = []
    for run in runs:
        names = optional_field_names(run.example.note)
        if names is None:
            continue
        found = _optional_run_problems(run, names)
        if not found:
            return []
        problems.extend(found)
    return problems or [
        f"no example has note='{OPTIONAL_NOTE} <fields absent from its source>' (e.g. phone)"
    ]


def _tz_aware(cls: type[Scraper], runs: list[ExampleRun]) -> list[str]:
    parsed = [r for r in runs if r.results]
    problems = [] if parsed else ["no example parses any location"]
    for run in parsed:
        for item in run.results or []:
            if item.valid_at is not None and item.valid_at.utcoffset() is None:
                problems.append(f"{run.label}: {item.location.id} valid_at is naive")
            bad = [d for d in item.by_date if isinstance(d, dt.datetime) or type(d) is not dt.date]
            if bad:
                problems.append(f"{run.label}: {item.location.id} by_date keys {bad} not dates")
    return problems


def _sidecars(folder: Path) -> list[tuple[Path, dict[str, object]]]:
    found = []
    for path in sorted(folder.rglob(f"*{META_SUFFIX}")):
        try:
            found.append((path, json.loads(path.read_text(encoding="utf-8"))))
        except (OSError, ValueError):
            continue
    return found


def _conditional_requests(cls: type[Scraper], runs: list[ExampleRun]) -> list[str]:
    folder = fixture_dir(cls)
    if not folder.is_dir():
        return ["no fixture folder"]
    sidecars = _sidecars(folder)
    for path, meta in sidecars:
        if meta.get("status") != 304:
            continue
        for other, other_meta in sidecars:
            headers = {str(k).lower() for k in dict(other_meta.get("headers") or {})}  # type: ignore[call-overload]
            if (
                other.parent == path.parent
                and other_meta.get("status", 200) == 200
                and headers & {"etag", "last-modified"}
            ):
                return []
    return ["no *.meta.json with status 304 next to a 200 sidecar carrying ETag or Last-Modified"]


def _rate_limits(cls: type[Scraper], runs: list[ExampleRun]) -> list[str]:
    problems = _interval_problems(cls)
    docs = (inspect.getdoc(cls) or "") + (sys.modules[cls.__module__].__doc__ or "")
    if not _RATE_LIMIT_DOC.search(docs):
        problems.append("the class or module docstring does not say 'Rate limit: ...'")
    return problems


def _full_location_metadata(cls: type[Scraper], runs: list[ExampleRun]) -> list[str]:
    items = [(r.label, i) for r in _passing_values(runs) for i in r.results or []]
    problems = [] if items else ["no passing example with locations"]
    for label, item in items:
        loc = item.location
        lacks = [f for f in ("postal_code", "lat", "lon", "time_zone") if getattr(loc, f) is None]
        if not (loc.booking_url or loc.phone):
            lacks.append("booking_url or phone")
        if lacks:
            problems.append(f"{label}: {loc.id} lacks {', '.join(lacks)}")
    return problems


def _structured_source(cls: type[Scraper], runs: list[ExampleRun]) -> list[str]:
    return [] if cls.source_format != "html" else ["source_format is html"]


Check = Callable[[type[Scraper], list[ExampleRun]], list[str]]
_CHECKS: dict[str, Check] = {
    "metadata-complete": lambda cls, runs: metadata_problems(cls),
    "recorded-fixture": _recorded_fixture,
    "parse-no-io": _parse_no_io,
    "core-client-only": _core_client_only,
    "min-interval": lambda cls, runs: _interval_problems(cls),
    "none-fixture": _none_fixture,
    "error-fixture": _error_fixture,
    "optional-fields": _optional_fields,
    "tz-aware": _tz_aware,
    "conditional-requests": _conditional_requests,
    "rate-limits": _rate_limits,
    "full-location-metadata": _full_location_metadata,
    "structured-source": _structured_source,
}


def verify_rules(
    cls: type[Scraper], *, fuzz: bool = True, runs: list[ExampleRun] | None = None
) -> dict[str, list[str]]:
    """Problems per rule id; fuzz-safe is only run (and only present) when ``fuzz``."""
    runs = run_examples(cls) if runs is None else runs
    evidence = {rule: check(cls, runs) for rule, check in _CHECKS.items()}
    if fuzz:
        examples = [r for r in runs if not r.problems or r.example.raises is not None]
        evidence["fuzz-safe"] = (
            [str(f) for f in fuzz_scraper(cls)] if examples else ["no passing example to fuzz"]
        )
    else:
        evidence["fuzz-safe"] = ["not run (pass fuzz=True)"]
    return evidence
