"""The Atom feeds as pure functions of a snapshot: formats per language, hostile text, and
the render cache doing only the work of new alerts."""

from __future__ import annotations

import datetime as dt
from dataclasses import replace

import feedparser

from notifier.db.public import AlertRow
from notifier.web.public.atom import render_feeds
from notifier.web.public.render_cache import RenderCache
from notifier.web.public.snapshot import LOCALES, Snapshot

NOW = dt.datetime(2021, 3, 1, 14, 0, tzinfo=dt.UTC)
BASE = "https://alerts.example.org"


def alert(alert_id: int, **changes: object) -> AlertRow:
    row = AlertRow(
        id=alert_id,
        location_id=f"de:zentrum-{alert_id}",
        name="Impfzentrum Riem",
        city="München",
        state="BY",
        country="DE",
        booking_url="https://impfen.example.de/riem?a=1&b=2",
        kind="opened",
        appointments=1234,
        by_date={"2021-03-02": 1000, "2021-03-01": 0, "2021-03-03": None},
        products=("BioNTech", "Moderna"),
        detected_at=NOW - dt.timedelta(minutes=alert_id),
        provider_id="de",
        address="Am Messesee 2",
        postal_code="81829",
        increase=1234,
        age_groups=(),
        expires_at=NOW + dt.timedelta(hours=1),
    )
    return replace(row, **changes)  # type: ignore[arg-type]


def snapshot(*alerts: AlertRow, at: dt.datetime = NOW) -> Snapshot:
    return Snapshot(generated_at=at, places=(), providers=(), alerts=alerts)


def parsed(files: dict[str, bytes], path: str) -> feedparser.FeedParserDict:
    feed = feedparser.parse(files[path])
    assert not feed.bozo, (path, feed.get("bozo_exception"))
    return feed


def test_numbers_and_days_are_written_as_the_pages_of_each_language_write_them() -> None:
    files = render_feeds(snapshot(alert(1)), BASE)
    en, de, es = (
        parsed(files, path).entries[0]
        for path in ("feeds/de-by.xml", "de/feeds/de-by.xml", "es/feeds/de-by.xml")
    )
    assert en.title == "1,234 appointments at Impfzentrum Riem, München"
    assert de.title == "1.234 Termine bei Impfzentrum Riem, München"
    assert es.title == "1.234 citas en Impfzentrum Riem, München"
    # the full day (0) is left out, the day with an unknown count is listed without one
    assert "Dates: Tue Mar 02 (1,000), Wed Mar 03." in en.summary
    assert "Tage: Di 02.03. (1.000), Mi 03.03." in de.summary
    assert "Fechas: mar 02/03 (1.000), mié 03/03." in es.summary
    assert "Impfstoffe: BioNTech, Moderna." in de.summary
    assert en.link == "https://impfen.example.de/riem?a=1&b=2"


def test_an_unknown_count_and_a_place_without_a_link() -> None:
    row = alert(1, appointments=None, increase=None, booking_url=None, by_date={})
    files = render_feeds(snapshot(row), BASE)
    de = parsed(files, "de/feeds/atom.xml").entries[0]
    assert de.title == "Freie Termine bei Impfzentrum Riem, München"
    assert de.summary.splitlines() == [
        "Impfzentrum Riem: freie Termine, Anzahl unbekannt.",
        "Am Messesee 2, München, BY, 81829.",
        "Impfstoffe: BioNTech, Moderna.",
    ]
    assert de.link == f"{BASE}/de/"  # no booking link: the pages of the feed's language


def test_text_a_provider_sends_cannot_break_the_xml() -> None:
    row = alert(1, name="Zentrum <Süd> & \x0bNord\x00", city='"Ost"')
    files = render_feeds(snapshot(row), BASE)
    for locale_path in ("feeds/atom.xml", "de/feeds/atom.xml", "es/feeds/atom.xml"):
        entry = parsed(files, locale_path).entries[0]
        assert "Zentrum <Süd> & Nord" in entry.title and '"Ost"' in entry.title


def test_the_cache_renders_each_new_alert_once_per_language_and_nothing_else() -> None:
    cache = RenderCache()
    older = [alert(i) for i in range(2, 40)]
    first = snapshot(*older)
    assert render_feeds(first, BASE, cache) == render_feeds(first, BASE)
    assert cache.misses == len(older) * len(LOCALES)
    cache.next_generation()
    misses = cache.misses
    # a later publication with one new alert: only its entries are rendered
    later = snapshot(alert(1), *older, at=NOW + dt.timedelta(minutes=2))
    cached = render_feeds(later, BASE, cache)
    assert cache.misses - misses == len(LOCALES)
    assert cached == render_feeds(later, BASE)  # the cache changes the work, never the bytes
    # an alert whose place was renamed since is rendered again, in every language
    cache.next_generation()
    misses = cache.misses
    renamed = snapshot(alert(1), alert(2, name="Impfzentrum Nord"), *older[1:])
    assert b"Impfzentrum Nord" in render_feeds(renamed, BASE, cache)["es/feeds/atom.xml"]
    assert cache.misses - misses == len(LOCALES)


def test_an_empty_feed_is_dated_by_the_newest_alert_not_by_the_clock() -> None:
    row = alert(1, state="BE")
    early = render_feeds(snapshot(row), BASE, regions=["DE-BE", "DE-BY"])
    late = render_feeds(snapshot(row, at=NOW + dt.timedelta(hours=1)), BASE, regions=["DE-BY"])
    assert early["de/feeds/de-by.xml"] == late["de/feeds/de-by.xml"]
    bavaria = parsed(early, "de/feeds/de-by.xml")
    assert bavaria.entries == [] and bavaria.feed.updated_parsed[:5] == (2021, 3, 1, 13, 59)
    nothing = parsed(render_feeds(snapshot(), BASE, regions=["DE-BY"]), "es/feeds/de-by.xml")
    assert nothing.feed.updated_parsed[:5] == (2021, 3, 1, 14, 0)  # no alert at all: now
