"""Message templates shared by every channel: one set of alert facts, rendered per language.

Two calls cover what a channel needs::

    from notifier.messaging.render import alert_facts, render

    facts = alert_facts(alerts)  # pure: counts, place, dates, products, link
    text = render("sms", recipient.locale, "alert.txt", facts=facts, link=short_link)

Template files live in ``notifier/messaging/templates/<locale>/<channel>/<name>.j2`` (Jinja2). A
language that lacks a template falls back to English, so a new channel only has to ship
``en/<channel>/...`` to work everywhere. ``shared/summary.txt`` is a one-line summary
("1,234 appointments at Fenway Park, Boston, 2/25–2/27") any channel may include with
``{% include "shared/summary.txt.j2" %}`` or render directly.

Filters available in every template (formatted for the template's language):
``number`` (1,234 / 1.234), ``date_range(first, last)`` (2/25–2/27 / 25.–27.2. / 25/2–27/2),
``day`` (2/25), ``join_list`` ("a, b and c" / "a, b und c" / "a, b y c"). HTML templates
(``*.html.j2``) are autoescaped; text templates are not. Missing context is an error, never
an empty string, so a typo cannot ship a message with a hole in it.

Radii are stored in miles and shown in the reader's unit (km in German) by ``shown_radius``,
rounded as people say them: whole numbers, a tenth under 10 ("0.6 miles" for 1 km, never
"0.621371"), with the language's decimal mark (``format_decimal``: 5.9 / 5,9). Every text
and page that shows a radius goes through it (``radius_field`` for form fields, which take a
decimal point in every language).
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Annotated, Any

import jinja2
from pydantic import AfterValidator

from notifier.model import Alert

__all__ = [
    "DEFAULT_LOCALE",
    "DEFAULT_RADIUS",
    "KM_LOCALES",
    "KM_PER_MILE",
    "MAX_RADIUS",
    "SUPPORTED_LOCALES",
    "TEMPLATE_DIR",
    "AlertFacts",
    "Locale",
    "alert_facts",
    "distance_unit",
    "format_date_range",
    "format_day",
    "format_decimal",
    "format_number",
    "join_list",
    "normalize_locale",
    "postal_country",
    "radius_field",
    "radius_value",
    "render",
    "shown_radius",
    "widest_radius",
]

DEFAULT_LOCALE = "en"
SUPPORTED_LOCALES = ("en", "de", "es")
TEMPLATE_DIR = Path(__file__).with_name("templates")
EN_DASH = "\u2013"


@dataclass(frozen=True, slots=True)
class AlertFacts:
    """What every channel says about one alert (or a small batch of them), language-free.

    ``appointments`` is the total of the known counts (``None``: open, count unknown).
    ``place`` is the first location as people name it ("Fenway Park, Boston"); ``more_places``
    counts the other locations of a batch. ``first_date``/``last_date`` span the local dates
    with openings. ``booking_url`` is the provider's own link of the first location.
    """

    alert_ids: tuple[int, ...]
    provider_id: str
    kind: str
    appointments: int | None
    increase: int | None
    place: str
    place_name: str
    city: str | None
    state: str | None
    postal_code: str | None
    address: str | None
    more_places: int
    first_date: dt.date | None
    last_date: dt.date | None
    dates: tuple[dt.date, ...]
    products: tuple[str, ...]
    age_groups: tuple[str, ...]
    booking_url: str | None
    detected_at: dt.datetime
    expires_at: dt.datetime

    @property
    def alert_id(self) -> int | None:
        """The first alert's id (what a short link points at), ``None`` before it is stored."""
        return self.alert_ids[0] if self.alert_ids else None


def place_label(name: str, city: str | None) -> str:
    """``Fenway Park, Boston``; the city is left out when the name already says it."""
    name = " ".join(name.split())
    if city and city.strip().casefold() not in name.casefold():
        return f"{name}, {city.strip()}"
    return name


def alert_facts(alerts: Sequence[Alert]) -> AlertFacts:
    """Collect the facts of ``alerts`` (the first one leads). Pure; raises on an empty batch."""
    if not alerts:
        raise ValueError("alert_facts needs at least one alert")
    first = alerts[0]
    location = first.location
    counts = [a.appointments for a in alerts if a.appointments is not None]
    increases = [a.increase for a in alerts if a.increase is not None]
    # A date counts when it has openings: a positive count, or "open, count unknown" (None).
    dates = sorted({day for a in alerts for day, n in a.by_date.items() if n is None or n > 0})
    return AlertFacts(
        alert_ids=tuple(a.id for a in alerts if a.id is not None),
        provider_id=first.provider_id,
        kind=first.kind,
        appointments=sum(counts) if counts else None,
        increase=sum(increases) if increases else None,
        place=place_label(location.name, location.city),
        place_name=" ".join(location.name.split()),
        city=location.city,
        state=location.state,
        postal_code=location.postal_code,
        address=location.address,
        more_places=len({a.location.id for a in alerts} - {location.id}),
        first_date=dates[0] if dates else None,
        last_date=dates[-1] if dates else None,
        dates=tuple(dates),
        products=_unique(p for a in alerts for p in a.products),
        age_groups=_unique(g for a in alerts for g in a.age_groups),
        booking_url=location.booking_url,
        detected_at=first.detected_at,
        expires_at=min(a.expires_at for a in alerts),
    )


def _unique(items: Iterable[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(i.strip() for i in items if i and i.strip()))


def normalize_locale(locale: str | None) -> str:
    """``de-DE``/``de_AT``/``DE`` -> ``de``; anything unsupported -> ``en``."""
    if not locale:
        return DEFAULT_LOCALE
    language = locale.replace("_", "-").split("-", 1)[0].strip().lower()
    return language if language in SUPPORTED_LOCALES else DEFAULT_LOCALE


#: languages whose readers measure distance in kilometres; everyone else reads miles
KM_LOCALES = frozenset({"de"})
KM_PER_MILE = 1.609344
#: the radius people give (by text, on the public search), in the unit of their language:
#: about the same distances in either unit (160 km is 99.4 miles)
DEFAULT_RADIUS = {"mi": 10, "km": 15}
MAX_RADIUS = {"mi": 100, "km": 160}
#: the country a postal code typed in a language is read in when nothing else tells
#: (a German page or text reads a PLZ; English and Spanish read US ZIP codes)
_POSTAL_COUNTRY = {"de": "DE"}


def distance_unit(locale: str | None) -> str:
    """``"km"`` or ``"mi"``: the unit distances are given and shown in for ``locale``."""
    return "km" if normalize_locale(locale) in KM_LOCALES else "mi"


def postal_country(locale: str | None) -> str:
    """The country of a postal code typed by a reader of ``locale``: ``DE`` for German, else
    ``US`` (a phone number's country, or a country chosen on a form, wins over this)."""
    return _POSTAL_COUNTRY.get(normalize_locale(locale), "US")


def radius_value(miles: float, locale: str | None) -> float:
    """A stored radius (miles) in the reader's unit, rounded as people say it: whole numbers,
    a tenth under 10 (1 km is ``0.6`` miles, 160 km ``99`` miles, 10 miles ``16`` km)."""
    value = float(miles) * (KM_PER_MILE if distance_unit(locale) == "km" else 1.0)
    tenth = round(value, 1)
    return tenth if tenth < 10 else float(round(value))


def shown_radius(miles: float | None, locale: str | None) -> str:
    """A stored radius (miles) as text for a reader: ``10`` mi, ``16`` km, ``0.6`` mi,
    ``1,6`` km (the language's decimal mark); ``?`` when there is none."""
    if miles is None:
        return "?"
    value = radius_value(miles, locale)
    return format_decimal(value, 0 if value.is_integer() else 1, locale)


def radius_field(miles: float, locale: str | None) -> str:
    """The same rounded radius for an HTML ``<input type="number">``: always a decimal point,
    which the browser shows in the reader's own way and sends back as it is."""
    return f"{radius_value(miles, locale):g}"


def widest_radius(locale: str | None, most_miles: float) -> str:
    """The longest radius text a reader of ``locale`` can be shown for radii up to
    ``most_miles``: the largest whole number, or a tenth under 10 (``9.9``, ``4.9``)."""
    unit_per_mile = KM_PER_MILE if distance_unit(locale) == "km" else 1.0
    candidates = [shown_radius(most_miles, locale)]
    tenth = math.floor(min(most_miles * unit_per_mile, 10.0) * 10 - 1) / 10
    if tenth > 0:
        candidates.append(shown_radius(tenth / unit_per_mile, locale))
    return max(candidates, key=len)


def _supported_locale(value: str) -> str:
    language = value.replace("_", "-").split("-", 1)[0].strip().lower()
    if language not in SUPPORTED_LOCALES:
        raise ValueError(f"use one of {', '.join(SUPPORTED_LOCALES)}")
    return language


#: a settings field for a message language: "de-DE" is stored as "de"; unsupported is an error
Locale = Annotated[str, AfterValidator(_supported_locale)]


#: languages that write ``1.234,5`` (a decimal comma); English writes ``1,234.5``
_DECIMAL_COMMA = frozenset({"de", "es"})
_SWAP_MARKS = str.maketrans(",.", ".,")


def format_number(value: int | None, locale: str = DEFAULT_LOCALE) -> str:
    """Thousands separators: ``1,234`` (en), ``1.234`` (de, es)."""
    if value is None:
        return ""
    return format_decimal(value, 0, locale)


def format_decimal(value: float, places: int, locale: str | None = DEFAULT_LOCALE) -> str:
    """``value`` to ``places`` decimals with the language's marks: ``1,234.5`` (en),
    ``1.234,5`` (de, es)."""
    text = f"{value:,.{places}f}"
    if normalize_locale(locale) not in _DECIMAL_COMMA:
        return text
    return text.translate(_SWAP_MARKS)


def format_day(day: dt.date, locale: str = DEFAULT_LOCALE) -> str:
    """``2/25`` (en), ``25.2.`` (de), ``25/2`` (es)."""
    lang = normalize_locale(locale)
    if lang == "de":
        return f"{day.day}.{day.month}."
    if lang == "es":
        return f"{day.day}/{day.month}"
    return f"{day.month}/{day.day}"


def format_date_range(
    first: dt.date | None, last: dt.date | None, locale: str = DEFAULT_LOCALE
) -> str:
    """``2/25–2/27`` (en), ``25.–27.2.`` (de, same month) or ``28.2.–2.3.``, ``25/2–27/2`` (es).

    One day is written alone; no dates gives an empty string. The dash is an en dash; channels
    with a narrow character set (SMS) transliterate it.
    """
    if first is None:
        return ""
    last = last or first
    if last < first:
        first, last = last, first
    if first == last:
        return format_day(first, locale)
    if normalize_locale(locale) == "de" and (first.year, first.month) == (last.year, last.month):
        return f"{first.day}.{EN_DASH}{format_day(last, locale)}"
    return f"{format_day(first, locale)}{EN_DASH}{format_day(last, locale)}"


_AND = {"en": "and", "de": "und", "es": "y"}


def join_list(items: Iterable[str], locale: str = DEFAULT_LOCALE) -> str:
    """``a``, ``a and b``, ``a, b and c`` in the language of ``locale``."""
    words = [str(i) for i in items]
    if len(words) <= 1:
        return "".join(words)
    return f"{', '.join(words[:-1])} {_AND[normalize_locale(locale)]} {words[-1]}"


def _bind(func: Callable[..., str], locale: str) -> Callable[..., str]:
    def bound(*args: Any) -> str:
        return func(*args, locale)

    return bound


@cache
def _environment(locale: str) -> jinja2.Environment:
    # The locale's own directory first, English second: a missing translation falls back.
    search_path = [str(TEMPLATE_DIR / locale)]
    if locale != DEFAULT_LOCALE:
        search_path.append(str(TEMPLATE_DIR / DEFAULT_LOCALE))
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(search_path),
        autoescape=jinja2.select_autoescape(
            enabled_extensions=("html", "htm", "xml", "html.j2", "htm.j2", "xml.j2"),
            default_for_string=False,
        ),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=False,
    )
    env.filters.update(
        number=_bind(format_number, locale),
        day=_bind(format_day, locale),
        date_range=_bind(format_date_range, locale),
        join_list=_bind(join_list, locale),
    )
    env.globals["locale"] = locale
    return env


def render(channel: str, locale: str | None, name: str, **context: Any) -> str:
    """Render ``<locale>/<channel>/<name>.j2`` (English when the locale lacks it).

    ``channel`` is a template folder (a channel name, or ``shared``); ``name`` is the file
    name without ``.j2`` (``alert.txt``, ``alert.html``). Text results lose surrounding
    blank lines. Raises ``jinja2.TemplateNotFound`` / ``jinja2.UndefinedError`` on mistakes.
    """
    env = _environment(normalize_locale(locale))
    text = env.get_template(f"{channel}/{name}.j2").render(**context)
    return text.strip() if not name.endswith((".html", ".htm", ".xml")) else text
