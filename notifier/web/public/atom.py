"""Atom feeds (RFC 4287) of alerts, in every language of the pages. Pure: bytes out.

Per language, one feed of every alert and one per region, where ``feed_links.py`` says
(``/feeds/atom.xml`` for English, ``/de/feeds/us-ma.xml``, ...). The words come from the
message templates (``notifier/messaging/templates/<locale>/atom/``): an entry's title is the
one-line summary every alert channel sends, its summary says what the pages say about a
place (their strings, their day and number formats).

Cost: a publication follows every poll, and the newest alerts rarely change between two. An
alert's entry is rendered once per language and then kept in the ``RenderCache`` under
everything it shows, so a publication renders only the entries of new alerts; what the
languages share (the alert's facts, times, days, region) is worked out once per alert, and
a language's feed of every region and its regional feeds share the same entry bytes.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from xml.sax.saxutils import escape

from notifier.db.public import AlertRow
from notifier.messaging.render import AlertFacts, alert_facts, render
from notifier.model import Alert, Location
from notifier.web.public.feed_links import feed_path, feed_title
from notifier.web.public.pages import Formatter, strings
from notifier.web.public.render_cache import RenderCache
from notifier.web.public.snapshot import LOCALES, Snapshot, locale_home, region_of

__all__ = ["ATOM_NS", "entry_id", "render_feeds"]

ATOM_NS = "http://www.w3.org/2005/Atom"
AUTHOR = "Appointment Notifier"

#: characters XML 1.0 cannot carry at all; a provider's page may still send them in a name
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def _text(value: str) -> str:
    return escape(_NOT_XML.sub("", value))


def _attr(value: str) -> str:
    return escape(_NOT_XML.sub("", value), {'"': "&quot;"})


def _stamp(at: dt.datetime) -> str:
    return at.astimezone(dt.UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def entry_id(base_url: str, locale: str, alert_id: int) -> str:
    """The permanent ``atom:id`` of an alert's entry in one language.

    Not the same across languages, on purpose. RFC 4287 (4.1.1) says entries with one
    ``atom:id`` *are the same entry*: a reader subscribed to the English and the German feed,
    or an aggregator merging them, would keep one and drop the other as an older version of
    it. A translation is its own entry (other text, its own ``xml:lang``), so each language has
    its own ids; within a language the feed of every region and the regional feed carry the
    same entry with the same id, so a reader of both sees it once. Ids must never change
    (4.2.6): the English ones are the ones the English feed always had.
    """
    return f"{base_url.rstrip('/')}{locale_home(locale)}alerts/{alert_id}"


@dataclass(frozen=True, slots=True)
class _Shared:
    """What an alert's entry says alike in every language: worked out once per alert."""

    alert: AlertRow
    region: str
    stamp: str
    facts: AlertFacts
    address: str
    #: days with openings (``None``: open, count not given), oldest first; full days left out
    open_days: tuple[tuple[dt.date, int | None], ...]


def _shared(row: AlertRow) -> _Shared:
    by_date = {dt.date.fromisoformat(day): n for day, n in row.by_date.items()}
    alert = Alert(
        provider_id=row.provider_id,
        location=Location(
            id=row.location_id,
            name=row.name,
            address=row.address,
            city=row.city,
            state=row.state,
            postal_code=row.postal_code,
            country=row.country,
            booking_url=row.booking_url,
        ),
        kind=row.kind,
        appointments=row.appointments,
        increase=row.increase,
        by_date=by_date,
        products=row.products,
        age_groups=row.age_groups,
        detected_at=row.detected_at,
        expires_at=row.expires_at,
        id=row.id,
    )
    return _Shared(
        alert=row,
        region=region_of(row.country, row.state),
        stamp=_stamp(row.detected_at),
        facts=alert_facts([alert]),
        # the address line exactly as the pages print it
        address=", ".join(p for p in (row.address, row.city, row.state, row.postal_code) if p),
        open_days=tuple(sorted((d, n) for d, n in by_date.items() if n is None or n > 0)),
    )


def _entry_key(row: AlertRow) -> tuple[Hashable, ...]:
    """Everything an alert's entry shows (``AlertRow`` holds a dict, so it is no key itself)."""
    return (
        row.id,
        row.location_id,
        row.provider_id,
        row.name,
        row.address,
        row.city,
        row.state,
        row.postal_code,
        row.country,
        row.booking_url,
        row.kind,
        row.appointments,
        row.increase,
        tuple(sorted(row.by_date.items())),
        row.products,
        row.age_groups,
        row.detected_at,
    )


def _entry(shared: _Shared, locale: str, base: str) -> bytes:
    row, facts, fmt = shared.alert, shared.facts, Formatter(locale)
    title = render("atom", locale, "entry_title.txt", facts=facts)
    summary = render(
        "atom",
        locale,
        "summary.txt",
        t=strings(locale),
        place=facts.place_name,
        address=shared.address,
        count=row.appointments,
        days=[(fmt.day(day), n) for day, n in shared.open_days],
        products=facts.products,
        booking_url=row.booking_url,
    )
    link = row.booking_url or f"{base}{locale_home(locale)}"
    return (
        "<entry>"
        f"<id>{_text(entry_id(base, locale, row.id))}</id>"
        f"<title>{_text(title)}</title>"
        f"<updated>{shared.stamp}</updated>"
        f"<published>{shared.stamp}</published>"
        f'<link rel="alternate" href="{_attr(link)}"/>'
        f"<summary>{_text(summary)}</summary>"
        f'<category term="{_attr(shared.region)}"/>'
        "</entry>\n"
    ).encode()


def _feed(
    locale: str, region: str | None, entries: Sequence[bytes], updated: str, base: str
) -> bytes:
    self_url = f"{base}/{feed_path(locale, region)}"
    translations = [
        f'<link rel="alternate" href="{_attr(f"{base}/{feed_path(other, region)}")}" '
        f'type="application/atom+xml" hreflang="{other}"/>'
        for other in LOCALES
        if other != locale
    ]
    head = "\n".join(
        [
            "<?xml version='1.0' encoding='utf-8'?>",
            f'<feed xmlns="{ATOM_NS}" xml:lang="{locale}">',
            f"<id>{_text(self_url)}</id>",
            f"<title>{_text(feed_title(locale, region))}</title>",
            f"<updated>{updated}</updated>",
            f'<link rel="self" href="{_attr(self_url)}" type="application/atom+xml"/>',
            f'<link rel="alternate" href="{_attr(base + locale_home(locale))}" '
            f'type="text/html" hreflang="{locale}"/>',
            # the same feed in the other languages (RFC 4287 allows one alternate per type
            # and hreflang)
            *translations,
            f"<author><name>{AUTHOR}</name></author>",
            "",
        ]
    )
    return head.encode() + b"".join(entries) + b"</feed>\n"


def render_feeds(
    snapshot: Snapshot,
    base_url: str,
    cache: RenderCache | None = None,
    *,
    regions: Sequence[str] | None = None,
) -> dict[str, bytes]:
    """Every language's feed of all alerts and one per region (``regions``, default: every
    region the snapshot knows), keyed by path under the public folder."""
    base = base_url.rstrip("/")
    regions = snapshot.all_regions() if regions is None else regions
    alerts = snapshot.alerts
    keys = [_entry_key(row) for row in alerts]
    shared: dict[int, _Shared] = {}  # by position, worked out on the first language to need it

    def entry(i: int, locale: str) -> bytes:
        def build() -> bytes:
            if i not in shared:
                shared[i] = _shared(alerts[i])
            return _entry(shared[i], locale, base)

        if cache is None:
            return build()
        return cache.get(("atom-entry", locale, base, keys[i]), build)

    by_region: dict[str, list[int]] = {}
    for i, row in enumerate(alerts):
        by_region.setdefault(region_of(row.country, row.state), []).append(i)
    # A feed is "updated" when its newest entry came. A feed without entries changed last when
    # the window of newest alerts moved, not at every publication: its bytes (and with them
    # its ETag and Last-Modified) stay put, so readers get their 304 and nothing is rewritten.
    newest = max((row.detected_at for row in alerts), default=snapshot.generated_at)
    files: dict[str, bytes] = {}
    for locale in LOCALES:
        entries = [entry(i, locale) for i in range(len(alerts))]
        files[feed_path(locale)] = _feed(locale, None, entries, _stamp(newest), base)
        for region in regions:
            picked = by_region.get(region, [])
            updated = max((alerts[i].detected_at for i in picked), default=newest)
            files[feed_path(locale, region)] = _feed(
                locale, region, [entries[i] for i in picked], _stamp(updated), base
            )
    return files
