"""Helpers shared by the scrapers of booking pages and small booking APIs.

The hard part of scraping a booking site is not reading the page; it is being sure that the page
*is* the booking page. A queue, a captcha, a proxy error or a PHP crash must raise, never read as
"no appointments". ``check_response`` and ``raise_unrecognised`` do that in one place, for the
HTML scrapers and for the JSON scrapers that may get an HTML interstitial instead of JSON.
"""

from __future__ import annotations

import datetime as dt
import email.utils
import re
from collections.abc import Iterable
from typing import Any, NoReturn
from urllib.parse import urlencode

from bs4 import BeautifulSoup

from notifier.scraping import (
    Blocked,
    Response,
    ScrapeError,
    Unparseable,
)

__all__ = [
    "FORM_HEADERS",
    "add_count",
    "check_response",
    "form_body",
    "html_document",
    "json_document",
    "raise_unrecognised",
    "response_date",
    "slugify",
    "squash",
]

FORM_HEADERS = {"Content-Type": "application/x-www-form-urlencoded; charset=UTF-8"}

# Markers that only a waiting room or bot wall carries: checked on every page, before parsing.
_STRONG_INTERSTITIALS: tuple[tuple[str, str], ...] = (
    ("queue-it.net", "a Queue-it waiting room"),
    ("queueit_", "a Queue-it waiting room"),
    ("cf-chl-", "a Cloudflare challenge"),
    ("cf_chl_", "a Cloudflare challenge"),
    ("cf-browser-verification", "a Cloudflare challenge"),
    ("checking your browser before accessing", "a bot check"),
    ("/cdn-cgi/challenge-platform/", "a Cloudflare challenge"),
    ("attention required! | cloudflare", "a Cloudflare block page"),
    ("_incapsula_resource", "an Incapsula bot wall"),
    ("px-captcha", "a PerimeterX captcha"),
)
# Words a real booking page may contain too (a sign-up form can embed reCAPTCHA): these only
# explain a page whose layout the scraper did not recognise.
_WEAK_INTERSTITIALS: tuple[tuple[str, str], ...] = (
    ("g-recaptcha", "a captcha"),
    ("h-captcha", "a captcha"),
    ("captcha", "a captcha"),
    ("waiting room", "a waiting room"),
    ("you are now in line", "a waiting room"),
    ("too many requests", "a rate-limit page"),
    ("access denied", "an access-denied page"),
)
# A marker is only looked for near the top: interstitials are small, real pages can be large.
_SNIFF_BYTES = 65_536


def _http_date(value: str) -> dt.datetime | None:
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    return when if when.tzinfo is not None else when.replace(tzinfo=dt.UTC)


def response_date(response: Response) -> dt.datetime | None:
    """When the server says it produced the answer (the ``Date`` header), time-zone aware."""
    value = response.header("date")
    return _http_date(value) if value else None


def _sniff(response: Response) -> str:
    return response.body[:_SNIFF_BYTES].decode("utf-8", errors="replace").lower()


def _interstitial(text: str, markers: Iterable[tuple[str, str]]) -> str | None:
    return next((what for marker, what in markers if marker in text), None)


def check_response(response: Response) -> None:
    """Raise for an HTTP error status or a waiting room, whatever the body looks like.

    The core already raises for error statuses it fetched itself; this repeats the check for
    responses replayed from disk (a sidecar may record a 503) so parsing never sees one.
    """
    response.raise_for_status()
    what = _interstitial(_sniff(response), _STRONG_INTERSTITIALS)
    if what is not None:
        raise Blocked(
            f"{response.url} answered with {what}, not the booking page",
            retry_after=response.retry_after,
        )


def raise_unrecognised(response: Response, expected: str) -> NoReturn:
    """The page is not the layout we know: say whether it looks like a bot wall or a change."""
    what = _interstitial(_sniff(response), _WEAK_INTERSTITIALS)
    if what is not None:
        raise Blocked(f"{response.url} answered with what looks like {what}, not {expected}")
    if not response.body.strip():
        raise Unparseable(f"{response.url} answered with an empty body, not {expected}")
    raise Unparseable(f"{response.url} is not {expected}: the layout changed or this is an error")


def html_document(response: Response) -> BeautifulSoup:
    """The checked response as a parsed HTML document (lxml: fast and forgiving)."""
    check_response(response)
    try:
        return BeautifulSoup(response.text(), "lxml")
    except (ValueError, TypeError, AssertionError) as exc:  # lxml on bytes it cannot repair
        raise Unparseable(f"{response.url}: cannot parse as HTML: {exc}") from exc


def json_document(response: Response, expected: str) -> Any:
    """The checked response as JSON; an HTML body in its place is an interstitial or error."""
    check_response(response)
    head = response.body.lstrip()[:1]
    if head == b"<":
        raise_unrecognised(response, expected)
    try:
        return response.json()
    except ScrapeError:
        raise
    except (ValueError, RecursionError) as exc:
        raise Unparseable(f"{response.url}: not JSON: {exc}") from exc


def form_body(fields: Iterable[tuple[str, str]]) -> bytes:
    """An ``application/x-www-form-urlencoded`` body, keeping field order and repeats."""
    return urlencode(list(fields)).encode("ascii")


def squash(text: str | None) -> str:
    """Collapse runs of white space (pages indent their text freely)."""
    return " ".join((text or "").split())


def slugify(text: str) -> str:
    """A stable id fragment: lower-case words joined by '-'."""
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def add_count(by_date: dict[dt.date, int | None], day: dt.date, count: int | None) -> None:
    """Add ``count`` to ``day``; None means "open, count unknown" and never hides a known count."""
    if day not in by_date:
        by_date[day] = count
        return
    current = by_date[day]
    if current is None or count is None:
        by_date[day] = current if count is None else count
    else:
        by_date[day] = current + count
