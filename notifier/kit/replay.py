"""Run a scraper over stored responses, with no network: fixtures, examples, the parse command.

A path is either one stored response body (with an optional ``<file>.meta.json`` sidecar giving
``url``, ``status``, ``headers`` and ``fetched_at``), or a directory holding a recorded feed: a
manifest plus the files it lists, found by following the scraper's own ``follow`` requests and
matching each request URL's path suffix to a file name.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from notifier.model import LocationAvailability
from notifier.scraping import (
    Example,
    FailedDocument,
    ParsedPoll,
    Request,
    Response,
    Scraper,
    UpstreamError,
    fixture_dir,
)

__all__ = [
    "MANIFEST_NAMES",
    "check_expectations",
    "load_response",
    "parse_paths",
    "parse_recorded",
    "responses_for_paths",
    "run_example",
    "summarize",
]

log = logging.getLogger(__name__)

MANIFEST_NAMES = ("$bulk-publish", "$bulk-publish.json", "manifest.json")
META_SUFFIX = ".meta.json"


def load_response(path: Path, request: Request | None = None) -> Response:
    """A stored body as a ``Response``; the sidecar, if any, restores status and headers."""
    meta: dict[str, Any] = {}
    sidecar = path.with_name(path.name + META_SUFFIX)
    if sidecar.exists():
        meta = json.loads(sidecar.read_text())
    url = meta.get("url") or (request.url if request else path.resolve().as_uri())
    fetched = meta.get("fetched_at")
    response = Response.from_body(
        path.read_bytes(),
        url=url,
        status=int(meta.get("status", 200)),
        headers=meta.get("headers") or {},
        fetched_at=dt.datetime.fromisoformat(fetched) if fetched else None,
    )
    return replace(response, request=request) if request is not None else response


def _find_by_url(directory: Path, url: str) -> Path | None:
    """The file in ``directory`` whose name is the longest suffix of the URL's path."""
    url_path = unquote(urlsplit(url).path)
    candidates = [
        p
        for p in directory.iterdir()
        if p.is_file() and not p.name.endswith(META_SUFFIX) and url_path.endswith(p.name)
    ]
    return max(candidates, key=lambda p: len(p.name), default=None)


def _leading_word(name: str) -> str:
    match = re.match(r"[a-z]+", name.lower())
    return match.group(0) if match else ""


def _match_files(
    directory: Path, requests: Sequence[Request], used: set[Path]
) -> list[tuple[Request, Path | None]]:
    """A recorded file for each request: by the URL's path suffix, else by its leading word.

    Recorded feeds are not always saved under their URL's name (``location.ndjson`` listed,
    ``locations.ndjson`` saved), so a request left unmatched falls back to the one unused file
    with the same extension whose name starts with the same word. When that is ambiguous,
    nothing is guessed: a wrong file would be worse than a skipped one.
    """
    matched = [(r, _find_by_url(directory, r.url)) for r in requests]
    used.update(path for _, path in matched if path is not None)
    result = []
    for request, path in matched:
        if path is None:
            name = Path(unquote(urlsplit(request.url).path)).name
            word = _leading_word(name)
            candidates = [
                p
                for p in sorted(directory.iterdir())
                if p.is_file()
                and p not in used
                and p.name not in MANIFEST_NAMES
                and not p.name.endswith(META_SUFFIX)
                and p.suffix == Path(name).suffix
                and word
                and _leading_word(p.name).startswith(word)
            ]
            if len(candidates) == 1:
                path = candidates[0]
                used.add(path)
        result.append((request, path))
    return result


def _replay_directory(
    scraper: Scraper, directory: Path, missing: list[FailedDocument] | None = None
) -> list[Response]:
    manifest = next((directory / n for n in MANIFEST_NAMES if (directory / n).is_file()), None)
    if manifest is None:
        raise FileNotFoundError(
            f"{directory}: no manifest found; expected one of {', '.join(MANIFEST_NAMES)}"
        )
    responses: list[Response] = []
    pending: list[tuple[Request | None, Path]] = [(None, manifest)]
    used: set[Path] = {manifest}
    while pending:
        request, path = pending.pop(0)
        response = load_response(path, request)
        responses.append(response)
        for follow, found in _match_files(directory, scraper.follow(response), used):
            if found is None:
                log.warning("%s: %s is listed but was not recorded; skipped", directory, follow.url)
                if missing is not None and follow.scope:
                    # Like a document that failed live: its scope is unknown, the rest parses.
                    error = UpstreamError(f"{follow.url.split('?', 1)[0]} was not recorded")
                    missing.append(FailedDocument(follow, error))
                continue
            pending.append((follow, found))
    return responses


def responses_for_paths(
    scraper: Scraper, paths: Iterable[Path], missing: list[FailedDocument] | None = None
) -> list[Response]:
    """Responses in fetch order: each file is one response, each directory a recorded feed.

    ``missing`` collects the scoped documents a recorded feed lists but does not hold.
    """
    responses: list[Response] = []
    for path in paths:
        if path.is_dir():
            responses.extend(_replay_directory(scraper, path, missing))
        else:
            responses.append(load_response(path))
    return responses


def parse_paths(scraper: Scraper, paths: Sequence[Path]) -> list[LocationAvailability]:
    """Parse stored responses as one poll would; raises the scraper's ``ScrapeError``.

    Like the live client, a stored error status (a sidecar recording a 503) raises before the
    scraper sees the body, with the same failure type the client would raise.
    """
    return parse_recorded(scraper, paths).results


def parse_recorded(scraper: Scraper, paths: Sequence[Path]) -> ParsedPoll:
    """Parse stored responses as one poll would, with the documents that were not recorded
    reported as unknown scopes (as if they had failed live) rather than failing the parse."""
    missing: list[FailedDocument] = []
    responses = responses_for_paths(scraper, paths, missing)
    for response in responses:
        response.raise_for_status()
    return scraper.parse_poll(responses, missing)


# --------------------------------------------------------------------------- expectations


def summarize(results: Sequence[LocationAvailability]) -> dict[str, Any]:
    """Expected values for ``Example.expect``, ready to paste into a scraper module."""
    return {
        "locations": len(results),
        "appointments": sum(r.appointments or 0 for r in results),
        "by_location": {
            r.location.id: {
                k: v
                for k, v in r.to_json().items()
                if k in ("name", "postal_code", "status", "appointments", "by_date", "products")
            }
            for r in results
        },
    }


def check_expectations(
    results: Sequence[LocationAvailability], expect: Mapping[str, Any]
) -> list[str]:
    """Every way ``results`` differ from ``expect``; an empty list means the example passes."""
    problems: list[str] = []

    def compare(what: str, got: Any, want: Any) -> None:
        if got != want:
            problems.append(f"{what}: expected {want!r}, got {got!r}")

    if "locations" in expect:
        compare("locations", len(results), expect["locations"])
    if "appointments" in expect:
        compare("appointments", sum(r.appointments or 0 for r in results), expect["appointments"])
    if "slots" in expect:
        compare("slots", sum(r.slots or 0 for r in results), expect["slots"])
    if "status" in expect:
        for r in results:
            compare(f"{r.location.id} status", r.status.value, expect["status"])
    by_id = {r.location.id: r.to_json() for r in results}
    for loc_id, fields in (expect.get("by_location") or {}).items():
        if loc_id not in by_id:
            problems.append(f"location {loc_id!r} missing; got {sorted(by_id)}")
            continue
        for key, want in fields.items():
            compare(f"{loc_id} {key}", by_id[loc_id].get(key), want)
    unknown = set(expect) - {"locations", "appointments", "slots", "status", "by_location"}
    if unknown:
        problems.append(f"unknown expectation keys: {sorted(unknown)}")
    return problems


def run_example(scraper_cls: type[Scraper], example: Example) -> list[str]:
    """Run one example offline; returns its problems (empty when it passes)."""
    scraper = scraper_cls(example.settings)
    paths = [fixture_dir(scraper_cls) / f for f in example.files]
    if example.raises is not None:
        try:
            results = parse_paths(scraper, paths)
        except example.raises:
            return []
        except Exception as exc:  # noqa: BLE001 - reported, not swallowed
            return [f"expected {example.raises.__name__}, got {type(exc).__name__}: {exc}"]
        return [f"expected {example.raises.__name__}, but it parsed {len(results)} locations"]
    results = parse_paths(scraper, paths)
    if example.expect is None:
        return ["no expected values yet; paste these:\n" + json.dumps(summarize(results), indent=2)]
    return check_expectations(results, example.expect)
