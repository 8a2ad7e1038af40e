"""Reading Acuity Scheduling calendar fragments: which template, what is open, any error.

Kept apart from ``scrapers.acuity`` (requests, paging, settings) so the page rules read on their
own. See that module's docstring for the three templates.
"""

from __future__ import annotations

import datetime as dt
import re
from collections import Counter
from typing import Literal

from bs4 import BeautifulSoup, Tag

from notifier.scraping import Unparseable
from scrapers._html import add_count, squash

__all__ = [
    "Counts",
    "Template",
    "attr",
    "count_openings",
    "detect_template",
    "error_flash",
    "iso_day",
]

Template = Literal["weekly", "class", "monthly"]
Counts = tuple[dict[dt.date, int | None], int | None]
_LONG_DATE = re.compile(r"([A-Z][a-z]+ \d{1,2}, \d{4})")


def iso_day(text: str | None) -> dt.date | None:
    """``2021-04-14`` or ``2021-04-14 13:15`` -> date; None when absent or malformed."""
    try:
        return dt.date.fromisoformat((text or "").strip()[:10])
    except ValueError:
        return None


def _long_day(text: str | None) -> dt.date | None:
    """``Wednesday, April 14, 2021`` or ``April 14, 2021`` -> date."""
    match = _LONG_DATE.search(text or "")
    if match is None:
        return None
    try:
        return dt.datetime.strptime(match.group(1), "%B %d, %Y").date()
    except ValueError:
        return None


def _classes(tag: Tag) -> list[str]:
    value = tag.get("class")
    return value if isinstance(value, list) else []


def attr(tag: Tag, name: str) -> str | None:
    value = tag.get(name)
    return value if isinstance(value, str) else None


def detect_template(doc: BeautifulSoup) -> Template | None:
    """Which calendar template a fragment is; None when it is none of them."""
    # Weekly first: its day boxes are also marked "activeday", like the monthly grid's days.
    if doc.select_one("input.time-selection, #no-times-available-message"):
        return "weekly"
    if doc.select_one("td.class-signup-container, table.class-list"):
        return "class"
    if doc.select_one(".no-dates-available, td.scheduleday, #chooseMonthSched"):
        return "monthly"
    return None


def error_flash(doc: BeautifulSoup) -> str | None:
    for alert in doc.select(".alert-danger, #alert-danger"):
        hidden = "hidden" in _classes(alert) or "none" in (attr(alert, "style") or "")
        if hidden or alert.find_parent("noscript") is not None:
            continue
        text = squash(alert.get_text(" "))
        if text and "javascript must be enabled" not in text.lower():
            return text
    return None


def _weekly(doc: BeautifulSoup) -> Counts:
    days: Counter[dt.date] = Counter()
    for slot in doc.select("input.time-selection"):
        day = iso_day(attr(slot, "data-readable-date")) or iso_day(attr(slot, "value"))
        if day is None:
            raise Unparseable("an Acuity time slot has neither data-readable-date nor a value")
        days[day] += 1
    return dict(days), sum(days.values())


def _class_spots(container: Tag) -> int | None:
    spots = container.select_one(".num-slots-available-container .babel-ignore")
    text = squash(spots.get_text()) if spots else ""
    return int(text) if text.isdigit() and len(text) < 7 else None


def _class_list(doc: BeautifulSoup) -> Counts:
    by_date: dict[dt.date, int | None] = {}
    open_classes = 0
    current: dt.date | None = None
    for row in doc.select("tr"):
        if "class-date-row" in _classes(row):
            current = _long_day(row.get_text(" ")) or current
            continue
        for container in row.select("td.class-signup-container"):
            if "hidden-xs" in _classes(container):
                continue  # the desktop copy of a row already counted in its phone layout
            link = container.select_one("a.btn-class-signup")
            if link is None:  # no sign-up button: the class is full
                if current is not None:
                    add_count(by_date, current, 0)
                continue
            day = (
                iso_day(attr(link, "data-time"))
                or _long_day(attr(link, "data-readable-date"))
                or current
            )
            if day is None:
                raise Unparseable("an Acuity class with a sign-up link has no date")
            open_classes += 1
            add_count(by_date, day, _class_spots(container))
    return by_date, open_classes


def _monthly(doc: BeautifulSoup) -> Counts:
    by_date: dict[dt.date, int | None] = {}
    if doc.select_one(".no-dates-available"):
        return by_date, None
    for cell in doc.select(".activeday"):
        day = iso_day(attr(cell, "day"))
        if day is None:
            raise Unparseable("an Acuity active day has no 'day' attribute")
        by_date[day] = None  # the month grid says "open" but not how many
    return by_date, None


_PARSERS = {"weekly": _weekly, "class": _class_list, "monthly": _monthly}


def count_openings(doc: BeautifulSoup, template: Template) -> Counts:
    """Open appointments per day, and open slot records (None when the page has no count)."""
    return _PARSERS[template](doc)
