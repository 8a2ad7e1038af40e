"""The one mapping from an HTTP status to a failure type (``Response.raise_for_status``)."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given
from hypothesis import strategies as st

from notifier.scraping import (
    Blocked,
    Request,
    Response,
    ScrapeError,
    Unparseable,
    Unreachable,
    UpstreamError,
)

FETCHED = dt.datetime(2021, 2, 18, 13, 0, tzinfo=dt.UTC)
OWN = Request(url="https://clinic.example/search?token=s3cret")
LISTED = Request(url="https://clinic.example/feed/slots-1.ndjson", listed=True)


def answer(
    status: int,
    request: Request = OWN,
    body: bytes = b"x",
    headers: dict[str, str] | None = None,
    *,
    not_modified: bool = False,
) -> Response:
    return Response(
        request, request.url, status, headers or {}, body, FETCHED, not_modified=not_modified
    )


@pytest.mark.parametrize("status", [200, 201, 203, 204, 206, 299])
def test_success_is_usable(status: int) -> None:
    answer(status).raise_for_status()


def test_304_with_our_copy_is_usable_and_without_it_is_not() -> None:
    answer(304, body=b"", not_modified=True).raise_for_status()
    answer(304, body=b"the copy stored beside a recorded 304").raise_for_status()
    with pytest.raises(Unparseable, match="without the cached copy"):
        answer(304, body=b"").raise_for_status()


@pytest.mark.parametrize(
    ("status", "request_", "error"),
    [
        (401, OWN, Blocked),
        (403, OWN, Blocked),
        (407, OWN, Blocked),
        (429, OWN, Blocked),
        (451, OWN, Blocked),
        (403, LISTED, Blocked),
        (408, OWN, Unreachable),
        (500, OWN, Unreachable),
        (502, LISTED, Unreachable),
        (503, OWN, Unreachable),
        (504, OWN, Unreachable),
        (599, OWN, Unreachable),
        (404, OWN, Unparseable),  # the page the scraper knows is gone: fix the scraper
        (410, OWN, Unparseable),
        (404, LISTED, UpstreamError),  # the publisher lists what it does not serve
        (410, LISTED, UpstreamError),
        (400, OWN, UpstreamError),
        (405, OWN, UpstreamError),
        (418, OWN, UpstreamError),
        (422, LISTED, UpstreamError),
        (100, OWN, UpstreamError),
        (301, OWN, UpstreamError),
        (302, OWN, UpstreamError),
    ],
)
def test_each_error_status_has_one_failure_type(
    status: int, request_: Request, error: type[ScrapeError]
) -> None:
    with pytest.raises(ScrapeError) as caught:
        answer(status, request_).raise_for_status()
    assert type(caught.value) is error
    message = str(caught.value)
    assert str(status) in message
    assert "s3cret" not in message  # the query may carry a key: never in a log line


@pytest.mark.parametrize(
    ("status", "error"), [(429, Blocked), (503, Unreachable), (403, Blocked), (500, Unreachable)]
)
@pytest.mark.parametrize(
    ("header", "seconds"),
    [("120", 120.0), ("Thu, 18 Feb 2021 13:01:00 GMT", 60.0), ("later", None), (None, None)],
)
def test_retry_after_travels_with_the_failure(
    status: int, error: type[ScrapeError], header: str | None, seconds: float | None
) -> None:
    headers = {"retry-after": header} if header is not None else {}
    with pytest.raises(error) as caught:
        answer(status, headers=headers).raise_for_status()
    assert caught.value.retry_after == seconds  # a date counts from when we fetched it


@given(
    status=st.integers(min_value=100, max_value=599),
    listed=st.booleans(),
    body=st.binary(max_size=4),
    retry_after=st.one_of(st.none(), st.text(max_size=12)),
)
def test_every_status_is_usable_or_a_typed_failure(
    status: int, listed: bool, body: bytes, retry_after: str | None
) -> None:
    headers = {"retry-after": retry_after} if retry_after is not None else {}
    response = answer(status, LISTED if listed else OWN, body, headers)
    try:
        response.raise_for_status()
    except ScrapeError as error:
        assert type(error) in (Blocked, Unreachable, Unparseable, UpstreamError)
        assert error.retry_after is None or error.retry_after >= 0
        assert not 200 <= status < 300
    else:  # never an error status read as data
        assert 200 <= status < 300 or (status == 304 and body)
