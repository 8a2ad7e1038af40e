"""Pages and helpers shared by the PrepMod scraper tests (a helper module, not a test)."""

from __future__ import annotations

import datetime as dt
import re

from notifier.model import LocationAvailability
from notifier.scraping import Response, fixture_dir
from scrapers.prepmod import PrepModScraper

__all__ = [
    "FIXTURES",
    "HAVERHILL",
    "MARCH",
    "MAY",
    "REGGIE",
    "SEARCH_URL",
    "clinic_id",
    "page",
    "pagy_nav",
    "parse",
    "with_nav",
]

FIXTURES = fixture_dir(PrepModScraper)
MAY = (FIXTURES / "maimmunizations-2021-05.html").read_text(encoding="utf-8")
MARCH = (FIXTURES / "maimmunizations-2021-03.html").read_text(encoding="utf-8")
#: site slugs; a clinic's location id is "<site slug>@<YYYY-MM-DD>"
HAVERHILL = "citizen-center-10-welcome-street-01830"
REGGIE = "reggie-lewis-state-track-athletic-ctr-1350-tremont-street-02120"
SEARCH_URL = "https://clinics.maimmunizations.org/clinic/search?commit=Search"
_LAST_PAGE_NAV = re.compile(r'<nav class="pagy-nav pagination".*?</nav>', re.S)


def clinic_id(site: str, day: dt.date | str) -> str:
    """The location id of ``site``'s clinic on ``day``."""
    return f"{site}@{day if isinstance(day, str) else day.isoformat()}"


def page(body: str, url: str = "file:///fixture.html", status: int = 200) -> Response:
    return Response.from_body(body, url=url, status=status)


def parse(
    body: str, url: str = "file:///fixture.html", **settings: object
) -> list[LocationAvailability]:
    return PrepModScraper(settings).parse(page(body, url))


def pagy_nav(next_href: str | None) -> str:
    """pagy's real pagination bar; "Next" is a link unless this is the last page."""
    if next_href is None:
        nxt = '<span class="page next disabled">Next&nbsp;›</span>'
    else:
        link = f'<a href="{next_href}" rel="next" aria-label="next">Next&nbsp;›</a>'
        nxt = f'<span class="page next">{link}</span>'
    return (
        '<nav class="pagy-nav pagination" role="navigation" aria-label="pager">'
        '<span class="page prev disabled">‹&nbsp;Prev</span> <span class="page active">1</span> '
        f"{nxt}</nav>"
    )


def with_nav(body: str, next_href: str | None) -> str:
    """The page with its (last-page) pagination bar replaced."""
    return _LAST_PAGE_NAV.sub(lambda _: pagy_nav(next_href), body, count=1)
