"""Helpers for the API scraper tests: load committed fixtures as the core would hand them over."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from notifier.kit.replay import load_response
from notifier.scraping import Response, Scraper, fixture_dir

__all__ = ["by_id", "fixture", "fixture_json", "response_from"]


def fixture(scraper: type[Scraper], name: str) -> Response:
    """A committed fixture with its sidecar (URL, status, headers), as one response."""
    return load_response(fixture_dir(scraper) / name)


def fixture_json(scraper: type[Scraper], name: str) -> Any:
    return json.loads((fixture_dir(scraper) / name).read_bytes())


def fixture_path(scraper: type[Scraper], name: str) -> Path:
    return fixture_dir(scraper) / name


def response_from(body: object, url: str = "https://provider.test/api", **kw: Any) -> Response:
    """A response whose body is ``body`` (bytes/str as is, anything else as JSON)."""
    raw = body if isinstance(body, bytes | str) else json.dumps(body)
    return Response.from_body(raw, url=url, **kw)


def by_id(results: list[Any]) -> dict[str, Any]:
    return {r.location.id: r for r in results}
