"""Helpers for the tests of the acuity, signupgenius, mercy, southcoast, zocdoc and mychart
scrapers: committed fixtures as responses, the offline parse command, and damaged bodies."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from hypothesis import strategies as st
from typer.testing import CliRunner

from notifier.cli.scraper import app
from notifier.kit.replay import load_response, parse_paths
from notifier.model import LocationAvailability
from notifier.scraping import Request, Response, ScrapeError, Scraper, fixture_dir

__all__ = [
    "DATE_HEADER",
    "cli_parse",
    "damaged",
    "days",
    "fixture_path",
    "fixture_response",
    "parse_fixtures",
    "raises_only_scrape_errors",
    "response",
]

#: A ``Date`` header and the instant it names, for valid_at tests.
DATE_HEADER = ("Wed, 14 Apr 2021 13:05:00 GMT", dt.datetime(2021, 4, 14, 13, 5, tzinfo=dt.UTC))


def fixture_path(scraper: type[Scraper], name: str) -> Path:
    return fixture_dir(scraper) / name


def fixture_response(scraper: type[Scraper], name: str, request: Request | None = None) -> Response:
    return load_response(fixture_path(scraper, name), request)


def parse_fixtures(
    scraper: type[Scraper], *names: str, settings: dict[str, Any] | None = None
) -> list[LocationAvailability]:
    return parse_paths(scraper(settings), [fixture_path(scraper, n) for n in names])


def response(
    body: bytes | str,
    *,
    url: str = "https://provider.test/page",
    status: int = 200,
    headers: dict[str, str] | None = None,
    request: Request | None = None,
) -> Response:
    made = Response.from_body(body, url=url, status=status, headers=headers)
    if request is None:
        return made
    return Response(request, made.url, made.status, made.headers, made.body, made.fetched_at)


def days(result: LocationAvailability) -> dict[str, int | None]:
    return {day.isoformat(): n for day, n in result.by_date.items()}


def cli_parse(name: str, *paths: Path) -> tuple[int, Any, str]:
    """Run ``notifier scraper parse NAME PATHS --json``: exit code, JSON document, stderr."""
    result = CliRunner().invoke(app, ["parse", name, *map(str, paths), "--json"])
    document = json.loads(result.stdout) if result.exit_code == 0 else None
    return result.exit_code, document, result.stderr


_SNIPPETS = [
    b"<",
    b">",
    b"</tr>",
    b"</table>",
    b'<td class="',
    b'"',
    b"{",
    b"}",
    b"[",
    b"]",
    b":",
    b",",
    b"null",
    b"-1",
    b"99999999999999999999999",
    b"\x00",
    b"\xff\xfe",
    b"2021-13-45",
    b"13/45/2021",
    b"NaN",
]


@st.composite
def damaged(draw: st.DrawFn, bodies: Sequence[bytes]) -> tuple[int, bytes]:
    """One of ``bodies`` (its index) with a few random edits: flips, cuts, inserts, dupes."""
    which = draw(st.integers(0, len(bodies) - 1))
    body = bytearray(bodies[which])
    for _ in range(draw(st.integers(1, 5))):
        kind = draw(st.sampled_from(["flip", "delete", "insert", "truncate", "duplicate"]))
        at = draw(st.integers(0, len(body)))
        if kind == "flip" and at < len(body):
            body[at] = draw(st.integers(0, 255))
        elif kind == "delete":
            del body[at : at + draw(st.integers(1, 300))]
        elif kind == "insert":
            body[at:at] = draw(st.sampled_from(_SNIPPETS))
        elif kind == "truncate":
            del body[at:]
        elif kind == "duplicate":
            body[at:at] = body[at : at + draw(st.integers(1, 300))]
    return which, bytes(body)


def raises_only_scrape_errors(attempt: Callable[[], object]) -> None:
    """Run ``attempt``; a ``ScrapeError`` is a fine answer to a damaged body, nothing else is."""
    try:
        attempt()
    except ScrapeError:
        return
