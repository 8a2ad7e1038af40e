"""The shared template layer: alert facts, per-language formats, rendering rules."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import jinja2
import pytest

from notifier.messaging import render as templates
from notifier.messaging.render import (
    KM_PER_MILE,
    alert_facts,
    format_date_range,
    format_decimal,
    format_number,
    join_list,
    normalize_locale,
    radius_field,
    radius_value,
    render,
    shown_radius,
    widest_radius,
)
from notifier.model import Alert, Location

NOW = dt.datetime(2021, 2, 24, 15, 0, tzinfo=dt.UTC)
D = dt.date


def alert(
    name: str = "Fenway Park",
    city: str | None = "Boston",
    appointments: int | None = 1234,
    by_date: dict[dt.date, int | None] | None = None,
    location_id: str = "fenway",
    alert_id: int | None = 5,
    products: tuple[str, ...] = ("Moderna",),
    expires_in: int = 2,
) -> Alert:
    return Alert(
        provider_id="prepmod",
        location=Location(id=location_id, name=name, city=city, booking_url="https://b.example"),
        kind="opened",
        appointments=appointments,
        increase=appointments,
        by_date=by_date if by_date is not None else {D(2021, 2, 25): 1000, D(2021, 2, 27): 234},
        products=products,
        age_groups=("65+",),
        detected_at=NOW,
        expires_at=NOW + dt.timedelta(hours=expires_in),
        id=alert_id,
    )


@pytest.mark.parametrize(
    ("value", "locale", "text"),
    [
        (1234567, "en", "1,234,567"),
        (1234, "de", "1.234"),
        (1234, "es", "1.234"),
        (999, "en", "999"),
    ],
)
def test_thousands_separators(value: int, locale: str, text: str) -> None:
    assert format_number(value, locale) == text


@pytest.mark.parametrize(
    ("value", "places", "locale", "text"),
    [
        (5.9, 1, "en", "5.9"),
        (5.9, 1, "de", "5,9"),
        (5.9, 1, "es", "5,9"),  # Spanish writes a decimal comma, like German
        (1234.56, 1, "en", "1,234.6"),
        (1234.56, 1, "es", "1.234,6"),
        (1234, 0, "de", "1.234"),
    ],
)
def test_decimals_use_the_marks_of_the_language(
    value: float, places: int, locale: str, text: str
) -> None:
    assert format_decimal(value, places, locale) == text


@pytest.mark.parametrize(
    ("miles", "locale", "text"),
    [
        # texted in km, read in miles: no "0.621371 miles" or "99.4194 miles"
        (1 / KM_PER_MILE, "en", "0.6"),
        (1 / KM_PER_MILE, "es", "0,6"),
        (15 / KM_PER_MILE, "en", "9.3"),
        (160 / KM_PER_MILE, "en", "99"),
        (160 / KM_PER_MILE, "es", "99"),
        (9.96, "en", "10"),
        (12.5, "en", "12"),  # whole numbers from 10 on
        (10, "en", "10"),
        (100, "es", "100"),
        # texted in miles, read in km: the same rule, with a decimal comma
        (1, "de", "1,6"),
        (10, "de", "16"),
        (100, "de", "161"),
        (15 / KM_PER_MILE, "de", "15"),
        (None, "en", "?"),
    ],
)
def test_radii_are_rounded_as_people_say_them(miles: float | None, locale: str, text: str) -> None:
    assert shown_radius(miles, locale) == text


def test_a_radius_in_a_form_field_keeps_a_decimal_point() -> None:
    # <input type="number"> takes "9.3" in every language; the browser shows it its own way
    assert radius_field(15 / KM_PER_MILE, "es") == "9.3"
    assert radius_field(1, "de") == "1.6"
    assert radius_field(50, "de") == "80"
    assert radius_value(160 / KM_PER_MILE, "en") == 99.0


@pytest.mark.parametrize("locale", ["en", "de", "es"])
@pytest.mark.parametrize("most_miles", [0.7, 5.0, 50.0, 100.0, 500.0])
def test_the_widest_radius_is_the_longest_any_radius_shows(locale: str, most_miles: float) -> None:
    widest = widest_radius(locale, most_miles)
    steps = [most_miles * i / 2000 for i in range(1, 2001)]
    assert len(widest) == max(len(shown_radius(m, locale)) for m in steps)


@pytest.mark.parametrize(
    ("first", "last", "locale", "text"),
    [
        (D(2021, 2, 25), D(2021, 2, 27), "en", "2/25–2/27"),
        (D(2021, 2, 25), D(2021, 2, 27), "de", "25.–27.2."),
        (D(2021, 2, 28), D(2021, 3, 2), "de", "28.2.–2.3."),
        (D(2021, 2, 25), D(2021, 2, 27), "es", "25/2–27/2"),
        (D(2021, 2, 25), D(2021, 2, 25), "en", "2/25"),
        (D(2021, 2, 25), None, "de", "25.2."),
        (D(2021, 2, 27), D(2021, 2, 25), "en", "2/25–2/27"),
        (None, None, "en", ""),
    ],
)
def test_date_ranges(first: D | None, last: D | None, locale: str, text: str) -> None:
    assert format_date_range(first, last, locale) == text


def test_join_list_and_locales() -> None:
    assert join_list(["a", "b", "c"], "en") == "a, b and c"
    assert join_list(["a", "b"], "de") == "a und b"
    assert join_list(["a"], "es") == "a"
    assert [normalize_locale(x) for x in ("de-DE", "es_MX", "EN", "fr", None, "")] == [
        "de",
        "es",
        "en",
        "en",
        "en",
        "en",
    ]


def test_alert_facts_of_one_alert() -> None:
    facts = alert_facts(
        [alert(by_date={D(2021, 2, 25): 0, D(2021, 2, 26): None, D(2021, 2, 27): 3})]
    )
    assert facts.appointments == 1234 and facts.alert_id == 5
    assert facts.place == "Fenway Park, Boston" and facts.more_places == 0
    # A day with zero openings is not part of the range; "open, count unknown" is.
    assert (facts.first_date, facts.last_date) == (D(2021, 2, 26), D(2021, 2, 27))
    assert facts.products == ("Moderna",) and facts.age_groups == ("65+",)
    assert facts.booking_url == "https://b.example"


def test_alert_facts_of_a_batch() -> None:
    facts = alert_facts(
        [
            alert(),
            alert(
                name="Gillette Stadium",
                city="Foxborough",
                location_id="gillette",
                appointments=None,
                alert_id=6,
                products=("Pfizer", "Moderna"),
                expires_in=1,
            ),
        ]
    )
    assert facts.appointments == 1234  # an unknown count adds nothing
    assert facts.alert_ids == (5, 6) and facts.more_places == 1
    assert facts.products == ("Moderna", "Pfizer")
    assert facts.expires_at == NOW + dt.timedelta(hours=1)
    with pytest.raises(ValueError):
        alert_facts([])


def test_city_is_not_repeated() -> None:
    assert alert_facts([alert(name="Boston Medical Center")]).place == "Boston Medical Center"
    assert alert_facts([alert(city=None)]).place == "Fenway Park"


@pytest.mark.parametrize(
    ("locale", "text"),
    [
        ("en", "1,234 appointments (Moderna; 65+) at Fenway Park, Boston, 2/25–2/27"),
        ("de", "1.234 Termine (Moderna; 65+) bei Fenway Park, Boston, 25.–27.2."),
        ("es", "1.234 citas (Moderna; 65+) en Fenway Park, Boston, 25/2–27/2"),
        ("fr", "1,234 appointments (Moderna; 65+) at Fenway Park, Boston, 2/25–2/27"),
    ],
)
def test_shared_summary(locale: str, text: str) -> None:
    assert render("shared", locale, "summary.txt", facts=alert_facts([alert()])) == text


def test_one_appointment_is_singular() -> None:
    facts = alert_facts([alert(appointments=1)])
    assert render("shared", "en", "summary.txt", facts=facts).startswith("1 appointment ")
    assert render("shared", "de", "summary.txt", facts=facts).startswith("1 Termin ")
    assert render("shared", "es", "summary.txt", facts=facts).startswith("1 cita ")


def test_missing_context_is_an_error() -> None:
    with pytest.raises(jinja2.UndefinedError):
        render("sms", "en", "alert.txt", facts=alert_facts([alert()]))  # no link
    with pytest.raises(jinja2.TemplateNotFound):
        render("sms", "en", "no-such-template.txt")


def test_missing_translation_falls_back_to_english_and_html_is_escaped(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "en" / "mail").mkdir(parents=True)
    (tmp_path / "de" / "mail").mkdir(parents=True)
    (tmp_path / "en" / "mail" / "hello.txt.j2").write_text("Hello {{ who }} {{ n|number }}\n")
    (tmp_path / "en" / "mail" / "hello.html.j2").write_text("<p>{{ who }}</p>")
    monkeypatch.setattr(templates, "TEMPLATE_DIR", tmp_path)
    templates._environment.cache_clear()
    try:
        assert render("mail", "de", "hello.txt", who="<b>", n=1000) == "Hello <b> 1.000"
        assert render("mail", "en", "hello.html", who="<b>") == "<p>&lt;b&gt;</p>"
    finally:
        templates._environment.cache_clear()
