"""X's weighted length and the alerts -> posts planning (pure, no network)."""

from __future__ import annotations

import dataclasses
import datetime as dt
import re

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from channels._x_posts import (
    MAX_WEIGHTED_LENGTH,
    compose_posts,
    pack_lines,
    safe_link,
    truncate_weighted,
    weighted_length,
)
from notifier.model import Alert
from tests.channels.channels_support import batch, make_alert

LONG_URL = "https://clinics.maimmunizations.org/appointment/en/clinic/search?location=02215&search_radius=All&q[venue_search_name_or_venue_name_i_cont]=Fenway"


def booking_link(alert: Alert) -> str | None:
    return alert.location.booking_url


# ---------------------------------------------------------------------- weighted length


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Fenway Park, Boston", 19),
        ("Clínica Médica San José de Ñaña", 31),  # Latin-1 letters weigh 1
        ("München–Riem “Messe”", 20),  # en dash and curly quotes are in the light ranges
        ("華埠社區健康中心", 16),  # CJK weighs 2
        ("Book 💉", 7),  # an emoji weighs 2
        ("e\u0301", 1),  # NFC: e + combining acute is one é
        (f"Book: {LONG_URL}", 6 + 23),  # any URL is a t.co link: 23
        ("Book: https://b.co/1", 6 + 23),  # ... short ones too
        (f"Book: {LONG_URL}.", 6 + 23 + 1),  # trailing punctuation is not part of the URL
        ("see cvs.com/vaccine today", 4 + 23 + 6),  # a bare domain is linked as well
        ("http://a.example/x http://b.example/y", 23 + 1 + 23),
    ],
)
def test_weighted_length(text: str, expected: int) -> None:
    assert weighted_length(text) == expected


def test_truncate_weighted_respects_the_weight() -> None:
    text = "華埠社區健康中心" * 30
    cut = truncate_weighted(text, 100)
    assert cut.endswith("…") and weighted_length(cut) <= 100
    assert weighted_length(cut) >= 97  # cut no more than needed
    assert truncate_weighted("short", 100) == "short"


def test_safe_link_encodes_what_would_end_the_link() -> None:
    assert safe_link(" https://x.example/a b?c=d e ") == "https://x.example/a%20b?c=d%20e"
    assert safe_link(LONG_URL) == LONG_URL


def test_pack_lines_fills_posts_in_order() -> None:
    lines = [f"line {i} " + "x" * 80 for i in range(7)]
    posts = pack_lines("Header:", lines, 280)
    assert posts[0].startswith("Header:\nline 0")
    assert all(weighted_length(p) <= 280 for p in posts)
    assert "\n".join(posts).split("\n")[1:] == lines


# ---------------------------------------------------------------------- composing


def test_one_alert_is_one_post() -> None:
    posts = compose_posts([make_alert(0)], locale="en", link_for=booking_link, max_posts=4)
    url = make_alert(0).location.booking_url
    assert posts == [
        f"Fenway Park, Boston: 2,340 new appointments for 2/25–2/27 (Moderna, 65+). Book: {url}"
    ]


@pytest.mark.parametrize(
    ("locale", "start"),
    [
        ("de", "Fenway Park, Boston: 2.340 neue Termine für 25.–27.2. (Moderna, 65+). Buchen: "),
        ("es", "Fenway Park, Boston: 2.340 citas nuevas para 25/2–27/2 (Moderna, 65+). Reservar: "),
    ],
)
def test_one_alert_in_other_languages(locale: str, start: str) -> None:
    (post,) = compose_posts([make_alert(0)], locale=locale, link_for=booking_link, max_posts=4)
    assert post.startswith(start)


def test_a_long_name_is_shortened_but_the_link_survives() -> None:
    alert = make_alert(10)
    long_name = alert.location.name * 4
    alert = dataclasses.replace(alert, location=dataclasses.replace(alert.location, name=long_name))
    (post,) = compose_posts([alert], locale="en", link_for=booking_link, max_posts=4)
    assert weighted_length(post) <= MAX_WEIGHTED_LENGTH
    assert post.endswith(f"Book: {alert.location.booking_url}")
    assert "…" in post and "96 new appointments" in post


def test_cjk_name_counts_double() -> None:
    alert = make_alert(9)
    name = "華埠社區健康中心" * 12  # 96 CJK characters: 192 weighted
    alert = dataclasses.replace(alert, location=dataclasses.replace(alert.location, name=name))
    (post,) = compose_posts([alert], locale="en", link_for=booking_link, max_posts=4)
    assert weighted_length(post) <= MAX_WEIGHTED_LENGTH
    url = alert.location.booking_url or ""
    assert post.endswith(f"Book: {url}")
    # Counted by characters (URL as 23) the full post would fit; by weight it must lose the
    # products.
    assert len(post) - len(url) + 23 + len(" (Moderna, 65+)") < MAX_WEIGHTED_LENGTH
    assert "Moderna" not in post and "2/25–2/27" in post


def test_several_alerts_make_a_thread_biggest_first() -> None:
    alerts = batch(6)
    posts = compose_posts(alerts, locale="en", link_for=booking_link, max_posts=4)
    assert 1 < len(posts) <= 4
    assert posts[0].startswith("New appointments at 6 locations (11,680 in all):\n")
    assert all(weighted_length(p) <= MAX_WEIGHTED_LENGTH for p in posts)
    lines = "\n".join(posts).split("\n")[1:]
    assert len(lines) == 6  # one line per location, none dropped
    assert lines[0].startswith("Gillette Stadium, Foxborough: 5,120 (2/25–2/27) https://")
    counts = [int(re.search(r": ([\d,]+) ", line).group(1).replace(",", "")) for line in lines]  # type: ignore[union-attr]
    assert counts == sorted(counts, reverse=True)


def test_many_alerts_become_a_region_summary_within_the_cap() -> None:
    alerts = batch(25)
    posts = compose_posts(
        alerts,
        locale="en",
        link_for=booking_link,
        max_posts=4,
        details_link="https://alerts.example.org",
    )
    assert len(posts) <= 4
    assert all(weighted_length(p) <= MAX_WEIGHTED_LENGTH for p in posts)
    text = "\n".join(posts)
    # 25 alerts, 21 places: a place alerted twice counts once, with its latest numbers.
    assert text.startswith("New appointments at 21 locations (17,602 in all):\n")
    assert "\nMA: 12,785 at 12 locations (Foxborough, Boston, Worcester +6)\n" in text
    for state in ("NH", "RI", "CT", "VT", "ME"):
        assert re.search(rf"^{state}: ", text, re.M)
    assert "Other: 512 at 1 location (München)" in text  # no state: its own line
    assert text.rstrip().endswith("All locations: https://alerts.example.org")
    # The room left after the regions goes to the biggest openings, with their links.
    assert "Gillette Stadium, Foxborough: 5,120" in text


def test_a_place_alerted_twice_is_listed_once_with_its_latest_count() -> None:
    first = make_alert(0, alert_id=1, appointments=100)
    later = dataclasses.replace(
        make_alert(0, alert_id=2, appointments=250),
        detected_at=first.detected_at + dt.timedelta(minutes=5),
    )
    posts = compose_posts(
        [first, make_alert(1, alert_id=3), later], locale="en", link_for=booking_link, max_posts=4
    )
    text = "\n".join(posts)
    assert text.startswith("New appointments at 2 locations (5,370 in all):")
    assert text.count("Fenway Park") == 1 and "Fenway Park, Boston: 250 " in text


def test_free_tier_single_post_summary() -> None:
    posts = compose_posts(batch(25), locale="de", link_for=booking_link, max_posts=1)
    assert len(posts) == 1 and weighted_length(posts[0]) <= MAX_WEIGHTED_LENGTH
    assert posts[0].startswith("Neue Termine an 21 Orten")
    assert "\nMA: " in posts[0]


@pytest.mark.parametrize(
    ("locale", "more", "details"),
    [
        ("en", r"\+(\d) more regions", "All locations: "),
        ("de", r"\+(\d) weitere Regionen", "Alle Orte: "),
        ("es", r"\+(\d) regiones más", "Todos los lugares: "),
    ],
)
def test_capped_summary_says_what_is_left_out(locale: str, more: str, details: str) -> None:
    (post,) = compose_posts(
        batch(25),
        locale=locale,
        link_for=booking_link,
        max_posts=1,
        details_link="https://a.example",
    )
    assert weighted_length(post) <= MAX_WEIGHTED_LENGTH
    *regions, hidden, link = post.splitlines()[1:]
    assert link == f"{details}https://a.example"
    match = re.fullmatch(more, hidden)
    assert match and len(regions) + int(match.group(1)) == 7  # MA RI CT NH ME VT + no state


def test_empty_batch_is_an_error() -> None:
    with pytest.raises(ValueError, match="at least one alert"):
        compose_posts([], locale="en", link_for=booking_link, max_posts=4)


_names = st.text(
    alphabet=st.characters(blacklist_categories=("Cs", "Cc")), min_size=1, max_size=150
).filter(str.strip)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    names=st.lists(_names, min_size=1, max_size=25),
    counts=st.lists(st.one_of(st.none(), st.integers(0, 10**6)), min_size=25, max_size=25),
    max_posts=st.integers(1, 5),
    locale=st.sampled_from(["en", "de", "es"]),
)
def test_any_batch_fits(
    names: list[str], counts: list[int | None], max_posts: int, locale: str
) -> None:
    alerts = []
    for i, name in enumerate(names):
        alert = make_alert(i, alert_id=i + 1, appointments=counts[i])
        location = dataclasses.replace(alert.location, id=f"loc{i}", name=name)
        alerts.append(dataclasses.replace(alert, location=location))
    posts = compose_posts(
        alerts,
        locale=locale,
        link_for=booking_link,
        max_posts=max_posts,
        details_link="https://alerts.example.org",
    )
    assert 1 <= len(posts) <= max_posts
    for post in posts:
        assert post.strip()
        assert weighted_length(post) <= MAX_WEIGHTED_LENGTH
