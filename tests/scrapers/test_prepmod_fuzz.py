"""Damaged PrepMod pages either parse or raise ``ScrapeError``; nothing else escapes."""

from __future__ import annotations

import contextlib

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from notifier.model import Status
from notifier.scraping import Response, ScrapeError, fixture_dir
from scrapers.prepmod import PrepModScraper

FIXTURES = fixture_dir(PrepModScraper)
PAGES = [
    (FIXTURES / name).read_bytes()
    for name in ("maimmunizations-2021-05.html", "maimmunizations-2021-03.html")
]
# The part of the pages that holds the clinics: mutations there exercise the block reader
# rather than the inline scripts and styles at the top.
CLINIC_REGION = [page.index(b'<div class="mt-24') for page in PAGES]


@st.composite
def damaged_pages(draw: st.DrawFn) -> bytes:
    which = draw(st.integers(0, len(PAGES) - 1))
    body = bytearray(PAGES[which])
    start = CLINIC_REGION[which]
    for _ in range(draw(st.integers(1, 6))):
        kind = draw(st.sampled_from(["flip", "delete", "insert", "truncate", "duplicate"]))
        at = draw(st.integers(min(start, len(body)), len(body)))
        if kind == "flip" and at < len(body):
            body[at] = draw(st.integers(0, 255))
        elif kind == "delete":
            del body[at : at + draw(st.integers(1, 400))]
        elif kind == "insert":
            snippet = draw(
                st.sampled_from(
                    [b"<p>", b"</div>", b"<div class=\"justify-between\">", b" on 13/45/2021",
                     b"Available Appointments: 99999999999999999999", b"<a href=\"javascript:x\">",
                     b"\xff\xfe\x00", b"<nav class=\"pagination\">", b":", b"\n"]
                )
            )  # fmt: skip
            body[at:at] = snippet
        elif kind == "truncate":
            del body[draw(st.integers(0, len(body))) :]
        elif kind == "duplicate" and at < len(body):
            body[at:at] = body[at : at + draw(st.integers(1, 2000))]
    return bytes(body)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    damaged_pages(),
    st.sampled_from(["file:///x.html", "https://clinics.maimmunizations.org/clinic/search"]),
)
def test_damaged_pages_parse_or_raise_scrape_error(body: bytes, url: str) -> None:
    scraper = PrepModScraper()
    response = Response.from_body(body, url=url)
    try:
        results = scraper.parse(response)
    except ScrapeError:
        return
    for result in results:
        assert result.status in (Status.AVAILABLE, Status.NONE)
        assert result.location.id
        link = result.location.booking_url
        assert link is None or link.startswith(("http://", "https://"))
    scraper.follow(response)  # must not raise either


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=4000))
def test_arbitrary_bytes_parse_or_raise_scrape_error(body: bytes) -> None:
    with contextlib.suppress(ScrapeError):
        PrepModScraper().parse(Response.from_body(body))
