"""The HTML pages: pure functions from a snapshot to bytes (Jinja2, autoescaped).

``render_index`` makes ``/`` and ``/de/``, ``/es/``; ``render_search`` the dynamic
``/search`` answer. Templates live in ``notifier/web/templates`` (``base.html.j2`` is the
shell every resident-facing page extends), strings in ``templates/strings/<locale>.json``.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from jinja2 import Environment, FileSystemLoader, select_autoescape
from markupsafe import Markup, escape

from notifier.messaging.render import KM_PER_MILE, distance_unit, format_decimal, format_number
from notifier.web.public.chart import sparkline
from notifier.web.public.feed_links import feed_links
from notifier.web.public.render_cache import RenderCache, content_key
from notifier.web.public.search import SearchError, radius_rule
from notifier.web.public.snapshot import LOCALES, Place, Snapshot, locale_home

__all__ = [
    "TEMPLATES",
    "Formatter",
    "environment",
    "locale_home",
    "pick_locale",
    "render_index",
    "render_search",
    "search_problem",
    "strings",
]

TEMPLATES = Path(__file__).resolve().parent.parent / "templates"
_DAY_FORMATS = {"en": "%a %b %d", "de": "%d.%m.", "es": "%d/%m"}
_WEEKDAYS = {
    "de": ("Mo", "Di", "Mi", "Do", "Fr", "Sa", "So"),
    "es": ("lun", "mar", "mié", "jue", "vie", "sáb", "dom"),
}


@lru_cache(maxsize=1)
def environment() -> Environment:
    return Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=select_autoescape(("html", "j2")),
        trim_blocks=False,
        lstrip_blocks=False,
    )


@lru_cache(maxsize=len(LOCALES))
def strings(locale: str) -> dict[str, str]:
    data: dict[str, str] = json.loads((TEMPLATES / "strings" / f"{locale}.json").read_text())
    return data


def search_problem(problem: SearchError, locale: str) -> str:
    """What is wrong with a search, in the words of ``locale``'s pages."""
    return strings(locale)[f"error_{problem.reason}"].format(**problem.fields)


def pick_locale(value: str | None) -> str:
    """One of ``LOCALES`` from a ``lang`` parameter or an Accept-Language header."""
    for part in (value or "").split(","):
        code = part.split(";", 1)[0].strip().lower()[:2]
        if code in LOCALES:
            return code
    return "en"


@lru_cache(maxsize=256)
def _zone(name: str | None) -> ZoneInfo | None:
    if not name:
        return None
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return None


@dataclass(frozen=True, slots=True)
class Formatter:
    """Numbers, days and moments in the reader's language; moments in the place's zone."""

    locale: str

    def number(self, value: int) -> str:
        return format_number(value, self.locale)

    def distance(self, miles: float) -> str:
        """A distance in the reader's unit (``t.distance_unit``), to a tenth, with the
        language's decimal mark: ``2.9`` miles, ``4,7`` km, ``5,9`` millas."""
        unit_per_mile = KM_PER_MILE if distance_unit(self.locale) == "km" else 1.0
        return format_decimal(miles * unit_per_mile, 1, self.locale)

    def day(self, day: dt.date) -> str:
        text = day.strftime(_DAY_FORMATS[self.locale])
        names = _WEEKDAYS.get(self.locale)
        return f"{names[day.weekday()]} {text}" if names else text

    def moment(self, at: dt.datetime, zone_name: str | None) -> str:
        return _moment(self.locale, at, zone_name)

    def chart(self, points: Sequence[tuple[dt.datetime, int]], label: str) -> Markup:
        return Markup(_chart(tuple(points), label))


@lru_cache(maxsize=4096)
def _moment(locale: str, at: dt.datetime, zone_name: str | None) -> str:
    zone = _zone(zone_name)
    local = at.astimezone(zone) if zone else at.astimezone(dt.UTC)
    label = local.tzname() or "UTC"
    if locale == "en":
        return f"{local:%b %d, %H:%M} {label}"
    if locale == "de":
        return f"{local:%d.%m. %H:%M} {label}"
    return f"{local:%d/%m %H:%M} {label}"


@lru_cache(maxsize=65536)
def _chart(points: tuple[tuple[dt.datetime, int], ...], label: str) -> str:
    return sparkline(points, label)


_CHECKED = "\x00checked\x00"
_CHART = "\x00chart\x00"


@lru_cache(maxsize=4096)
def _checked_html(locale: str, at: dt.datetime, zone_name: str | None) -> str:
    return str(escape(_moment(locale, at, zone_name)))


def _entry(place: Place, locale: str, fmt: Formatter, cache: RenderCache | None) -> str:
    """One place's entry of the front page (HTML); the cached part leaves two tokens to fill."""
    t = strings(locale)

    def build() -> str:
        macro = environment().get_template("public/_macros.html.j2").module.place_entry  # type: ignore[attr-defined]
        return str(macro(place, t, fmt, "h4", _CHECKED, Markup(_CHART)))

    html = cache.get(("entry", locale, content_key(place)), build) if cache else build()
    checked = _checked_html(locale, place.row.checked_at, place.row.time_zone)
    chart = _chart(place.history, t["chart_label"])
    return html.replace(_CHECKED, checked, 1).replace(_CHART, chart, 1)


def _common(locale: str, generated_at: dt.datetime) -> dict[str, Any]:
    return {
        "locale": locale,
        "t": strings(locale),
        "fmt": Formatter(locale),
        "home": locale_home(locale),
        "generated_at": generated_at,
        "radius_rule": radius_rule(locale),
    }


def render_index(
    snapshot: Snapshot,
    locale: str,
    *,
    base_url: str,
    signup_url: str | None = None,
    cache: RenderCache | None = None,
    feed_regions: Sequence[str] | None = None,
) -> bytes:
    """The front page of ``locale``; it links that language's feeds, of every region and of
    each one in ``feed_regions`` (default: every region the snapshot knows)."""
    base = base_url.rstrip("/")
    alternates = [(code, f"{base}{locale_home(code)}") for code in LOCALES]
    alternates.append(("x-default", f"{base}/"))
    languages = [(code, strings(code)["language_name"], locale_home(code)) for code in LOCALES]
    fmt = Formatter(locale)
    feeds = feed_links(locale, snapshot.all_regions() if feed_regions is None else feed_regions)
    html = (
        environment()
        .get_template("public/index.html.j2")
        .render(
            **_common(locale, snapshot.generated_at),
            regions=[
                (region, Markup("".join(_entry(p, locale, fmt, cache) for p in places)))
                for region, places in snapshot.regions()
            ],
            alternates=alternates,
            languages=languages,
            feeds=feeds,
            region_feeds={feed.region: feed for feed in feeds},
            signup_url=signup_url,
        )
    )
    return html.encode()


def render_search(
    snapshot: Snapshot,
    locale: str,
    *,
    postal_code: str,
    radius: int | None,
    places: Sequence[Place],
    error: str | None = None,
) -> bytes:
    """The search page; ``radius`` as the reader gave it, in their unit (None: the default)."""
    html = (
        environment()
        .get_template("public/search.html.j2")
        .render(
            **_common(locale, snapshot.generated_at),
            postal_code=postal_code,
            radius=radius,
            places=places,
            error=error,
            feed=feed_links(locale, ())[0],
        )
    )
    return html.encode()
