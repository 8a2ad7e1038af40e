"""PrepMod pages that must not be read as availability, and the scraper's purity."""

from __future__ import annotations

import ast
import builtins
import socket
from dataclasses import replace
from pathlib import Path

import pytest

from notifier.geo import complete_location
from notifier.kit.replay import load_response
from notifier.model import Location
from notifier.scraping import (
    Blocked,
    Request,
    Response,
    Unparseable,
    Unreachable,
    UpstreamError,
    get_scraper,
)
from scrapers.prepmod import PrepModScraper
from tests.scrapers.prepmod_pages import FIXTURES, MAY, page, parse

# --------------------------------------------------------------------------- refusals


@pytest.mark.parametrize(
    ("name", "error"),
    [
        ("waiting-room.html", Blocked),
        ("error-page.html", UpstreamError),
        ("unrecognised-layout.html", Unparseable),
    ],
)
def test_error_fixtures_raise(name: str, error: type[Exception]) -> None:
    with pytest.raises(error):
        parse((FIXTURES / name).read_text())


def test_http_errors_raise_with_retry_after() -> None:
    response = load_response(FIXTURES / "error-page-503.html")
    with pytest.raises(Unreachable) as caught:
        PrepModScraper().parse(response)
    assert caught.value.retry_after == 300
    throttled = Response.from_body(MAY, status=429, headers={"Retry-After": "60"})
    with pytest.raises(Blocked) as blocked:
        PrepModScraper().parse(throttled)
    assert blocked.value.retry_after == 60
    # A 404 on a "next page" the site itself linked is the site's error; on the search page
    # the scraper was configured with, the site moved under us (see Response.raise_for_status).
    linked = Request(url="https://prepmod.example/clinic/search?page=2", listed=True)
    with pytest.raises(UpstreamError):
        PrepModScraper().parse(replace(Response.from_body(MAY, status=404), request=linked))
    with pytest.raises(Unparseable):
        PrepModScraper().parse(Response.from_body(MAY, status=404))


@pytest.mark.parametrize(
    "body",
    [
        "",
        "<html><body><h1>Welcome</h1><p>Sign in to continue</p></body></html>",
        '{"clinics": []}',
        # A search page with no clinics and no "no results" message.
        MAY[: MAY.index('<div class="mt-24')] + "</form></main></body></html>",
        # Cut short after the first clinic, before the pagination bar.
        MAY[: MAY.index("Citizen Center on 05/20/2021")],
    ],
    ids=["empty", "other-page", "json", "no-message", "truncated"],
)
def test_unrecognised_pages_raise_unparseable(body: str) -> None:
    with pytest.raises(Unparseable):
        parse(body)


def test_cdn_refusal_served_with_200_is_blocked() -> None:
    body = (
        "<HTML><HEAD><TITLE>ERROR: The request could not be satisfied</TITLE></HEAD>"
        "<BODY><H1>403 ERROR</H1>Request blocked.</BODY></HTML>"
    )
    with pytest.raises(Blocked):
        parse(body)


def test_captcha_page_is_blocked() -> None:
    body = (
        '<html><body><div class="g-recaptcha" data-sitekey="x"></div>'
        "Verify you are human</body></html>"
    )
    with pytest.raises(Blocked):
        parse(body)


def test_empty_search_returns_no_locations() -> None:
    assert parse((FIXTURES / "no-clinics-found.html").read_text()) == []


def test_waiting_room_words_in_clinic_notes_do_not_block_a_real_page() -> None:
    body = MAY.replace(
        "MODERNA VACCINE FOR THOSE", "Please use the waiting room. We're sorry, MODERNA"
    )
    clinics = parse(body)
    assert [c.appointments for c in clinics] == [124, 23, 79]


# --------------------------------------------------------------------------- purity


def test_parse_does_no_io(monkeypatch: pytest.MonkeyPatch) -> None:
    complete_location(Location(id="warm", name="warm", postal_code="01830"))  # loads ZIP table
    response = page(MAY)

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("parse tried to do I/O")

    monkeypatch.setattr(socket, "socket", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(builtins, "open", refuse)
    monkeypatch.setattr(Path, "open", refuse)
    clinics = PrepModScraper().parse(response)
    assert sum(c.appointments or 0 for c in clinics) == 226 and len(clinics) == 3


def test_modules_import_no_http_client() -> None:
    forbidden = {"httpx", "requests", "urllib.request", "aiohttp", "http.client", "socket"}
    for module in ("prepmod.py", "_prepmod/html.py", "_prepmod/text.py"):
        tree = ast.parse((FIXTURES.parent.parent / module).read_text())
        imported = {
            alias.name
            for node in ast.walk(tree)
            if isinstance(node, ast.Import)
            for alias in node.names
        } | {
            node.module
            for node in ast.walk(tree)
            if isinstance(node, ast.ImportFrom) and node.module
        }
        assert not imported & forbidden, module


def test_metadata() -> None:
    cls = get_scraper("prepmod")
    assert cls is PrepModScraper
    assert (cls.provider, cls.default_interval, cls.min_interval) == ("PrepMod", 120, 60)
    assert "US-MA" in cls.regions and cls.maintainer
