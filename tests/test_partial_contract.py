"""The scraper contract for partial polls: ``Scraper.parse_poll`` and document scopes."""

from __future__ import annotations

import pytest

from notifier.model import Location, LocationAvailability
from notifier.scraping import (
    FailedDocument,
    NoSettings,
    Request,
    Response,
    Scraper,
    Unreachable,
)


class PerState(Scraper[NoSettings]):
    """Not registered (no ``name``): one page per state, each with a count."""

    def requests(self) -> list[Request]:
        return [Request("https://example.org/index")]

    def parse(self, response: Response) -> list[LocationAvailability]:
        state = response.text().strip()
        location = Location(id=state, name=state, state=state)
        return [LocationAvailability.from_counts(location, {})]


def page(state: str) -> Response:
    return Response.from_body(state, url=f"https://example.org/{state}")


def failed(scope: str) -> FailedDocument:
    return FailedDocument(Request(f"https://example.org/{scope}", scope=scope), Unreachable("x"))


def test_a_failed_scoped_document_is_an_unknown_scope() -> None:
    parsed = PerState().parse_poll([page("MA"), page("RI")], [failed("NH"), failed("CT")])
    assert parsed.partial and parsed.unknown_scopes == ("CT", "NH")
    assert [r.location.id for r in parsed.results] == ["MA", "RI"]


def test_a_complete_poll_is_not_partial() -> None:
    parsed = PerState().parse_poll([page("MA")])
    assert not parsed.partial and parsed.unknown_scopes == ()


def test_a_failed_document_without_a_scope_fails_the_whole_poll() -> None:
    with pytest.raises(Unreachable):
        PerState().parse_poll([page("MA")], [failed("")])


def test_nothing_arrived_is_a_failure_not_an_empty_partial_poll() -> None:
    with pytest.raises(Unreachable):
        PerState().parse_poll([], [failed("MA")])
