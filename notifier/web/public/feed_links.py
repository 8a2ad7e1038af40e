"""Where each language's Atom feeds live and what they are called.

The feeds follow the pages: English at ``/feeds/atom.xml`` and ``/feeds/<region>.xml`` (the
URLs subscribers already have), German and Spanish under their pages' folder,
``/de/feeds/atom.xml``, ``/es/feeds/us-ma.xml``. ``atom.py`` writes them and ``pages.py``
links them; both take paths and titles from here, so a link cannot point beside its feed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

from notifier.messaging.render import render
from notifier.web.public.snapshot import LOCALES, locale_home, region_slug

__all__ = ["FEED_PREFIXES", "FeedLink", "feed_links", "feed_path", "feed_title"]

#: the folders (under the public folder) that hold feeds, one per language
FEED_PREFIXES = tuple(f"{locale_home(code).lstrip('/')}feeds/" for code in LOCALES)


def feed_path(locale: str, region: str | None = None) -> str:
    """The feed's file under the public folder: ``feeds/atom.xml``, ``de/feeds/us-ma.xml``."""
    name = "atom" if region is None else region_slug(region)
    return f"{locale_home(locale).lstrip('/')}feeds/{name}.xml"


@lru_cache(maxsize=1024)
def feed_title(locale: str, region: str | None = None) -> str:
    """``Freie Termine in US-MA``: the feed's title, also the title of the links to it."""
    return render("atom", locale, "feed_title.txt", region=region)


@dataclass(frozen=True, slots=True)
class FeedLink:
    region: str | None
    href: str
    title: str


def feed_links(locale: str, regions: Sequence[str]) -> list[FeedLink]:
    """The language's feeds as the pages link them: every region's after the one of all."""
    return [
        FeedLink(region, "/" + feed_path(locale, region), feed_title(locale, region))
        for region in (None, *regions)
    ]
