"""Pure text work for the X channel: X's weighted length, and alerts -> a short thread.

X limits a post to 280 *weighted* characters (twitter-text v3): every URL counts as 23 (it is
wrapped in a t.co link), characters of Latin, Greek, Cyrillic, Hebrew, Arabic, ... and common
punctuation count 1, everything else (CJK, emoji) counts 2. ``weighted_length`` follows that
rule, erring long where cheapness wins (an emoji sequence counts per code point), so a text it
accepts X accepts too.

The feed summarises, never posts slot by slot: one alert is one post; several alerts are one
post or a short reply thread listing locations; when even ``max_posts`` posts cannot list every
location, one line per region (state) summarises them, with a link to the full list.
"""

from __future__ import annotations

import dataclasses
import re
import unicodedata
from collections.abc import Callable, Sequence
from urllib.parse import quote

from channels._batch import latest_per_location, news_count
from notifier.messaging.render import AlertFacts, alert_facts, render
from notifier.model import Alert

__all__ = [
    "MAX_WEIGHTED_LENGTH",
    "URL_WEIGHT",
    "compose_posts",
    "pack_lines",
    "safe_link",
    "truncate_weighted",
    "weighted_length",
]

MAX_WEIGHTED_LENGTH = 280
URL_WEIGHT = 23  # t.co
ELLIPSIS = "…"
# twitter-text v3's weight-100 code point ranges; every other code point weighs 200 (= 2).
_LIGHT_RANGES = ((0, 4351), (8192, 8205), (8208, 8223), (8242, 8247))
_SCHEME_URL = re.compile(r"https?://\S+", re.IGNORECASE)
# Bare domains X also links ("cvs.com/vaccine"); matched so they are never counted short.
_BARE_DOMAIN = re.compile(
    r"(?<![\w@/.-])(?:[a-z0-9-]+\.)+(?:com|org|net|gov|edu|us|io|co|info|health|de|es)\b(?:/\S*)?",
    re.IGNORECASE,
)
# X does not count trailing punctuation as part of a URL.
_TRAILING = re.compile(r"[.,;:!?'\")\]]+$")


def _char_weight(char: str) -> int:
    code = ord(char)
    return 1 if any(lo <= code <= hi for lo, hi in _LIGHT_RANGES) else 2


def _plain_weight(text: str) -> int:
    return sum(_char_weight(c) for c in text)


def weighted_length(text: str) -> int:
    """The length X counts for ``text`` (NFC-normalised, URLs as 23)."""
    text = unicodedata.normalize("NFC", text)
    spans: list[tuple[int, int, bool]] = []
    for match in _SCHEME_URL.finditer(text):
        trailing = _TRAILING.search(match.group())
        end = match.end() - (len(trailing.group()) if trailing else 0)
        spans.append((match.start(), end, True))
    for match in _BARE_DOMAIN.finditer(text):
        if not any(start <= match.start() < end for start, end, _ in spans):
            trailing = _TRAILING.search(match.group())
            end = match.end() - (len(trailing.group()) if trailing else 0)
            spans.append((match.start(), end, False))
    total, position = 0, 0
    for start, end, has_scheme in sorted(spans):
        total += _plain_weight(text[position:start])
        plain = _plain_weight(text[start:end])
        # A bare domain X might not link: count whichever is longer.
        total += URL_WEIGHT if has_scheme else max(URL_WEIGHT, plain)
        position = end
    return total + _plain_weight(text[position:])


def truncate_weighted(text: str, limit: int) -> str:
    """``text`` cut (with "…") so that its weighted length is at most ``limit``."""
    if weighted_length(text) <= limit:
        return text
    cut = text
    while cut and weighted_length(cut.rstrip() + ELLIPSIS) > limit:
        cut = cut[:-1]
    return cut.rstrip() + ELLIPSIS if cut else ""


def safe_link(url: str) -> str:
    """Percent-encode spaces and other characters that would end the link early in a post."""
    return quote(url.strip(), safe=":/?#[]@!$&'()*+,;=%~")


def pack_lines(header: str, lines: Sequence[str], limit: int = MAX_WEIGHTED_LENGTH) -> list[str]:
    """Posts of ``header`` then ``lines`` (one per line), each post within ``limit``.

    Every line must fit a post on its own; the header opens the first post.
    """
    posts: list[str] = []
    current = header
    for line in lines:
        candidate = f"{current}\n{line}" if current else line
        if weighted_length(candidate) <= limit:
            current = candidate
        else:
            if current:
                posts.append(current)
            current = line
    if current:
        posts.append(current)
    return posts


def _fit_place(draw: Callable[[AlertFacts], str], facts: AlertFacts, limit: int) -> str:
    """``draw(facts)``, with the place name shortened until the text fits ``limit``."""
    text = draw(facts)
    place = facts.place
    while weighted_length(text) > limit and len(place) > 1:
        over = weighted_length(text) - limit
        place = place[: max(1, len(place) - max(1, over // 2))].rstrip(" ,")
        text = draw(dataclasses.replace(facts, place=place + ELLIPSIS))
    return text if weighted_length(text) <= limit else truncate_weighted(text, limit)


# Ever shorter single posts: drop products, then dates; the place name is shortened last.
_SINGLE_FALLBACKS: tuple[dict[str, bool], ...] = (
    {},
    {"with_products": False},
    {"with_products": False, "with_dates": False},
)


def _single_post(alert: Alert, locale: str, link: str | None, limit: int) -> str:
    facts = alert_facts([alert])
    for flags in _SINGLE_FALLBACKS:
        text = render("x", locale, "alert.txt", facts=facts, link=link, **flags)
        if weighted_length(text) <= limit:
            return text
    flags = _SINGLE_FALLBACKS[-1]
    return _fit_place(
        lambda f: render("x", locale, "alert.txt", facts=f, link=link, **flags), facts, limit
    )


def _location_line(alert: Alert, locale: str, link: str | None, limit: int) -> str:
    return _fit_place(
        lambda f: render("x", locale, "line.txt", facts=f, link=link), alert_facts([alert]), limit
    )


def _region_lines(alerts: Sequence[Alert], locale: str, limit: int) -> list[str]:
    regions: dict[str | None, list[Alert]] = {}
    for alert in alerts:
        state = (alert.location.state or "").strip().upper() or None
        regions.setdefault(state, []).append(alert)
    lines: list[tuple[int, str]] = []
    for region, members in regions.items():
        counts = [news_count(a) for a in members if news_count(a) >= 0]
        cities = list(dict.fromkeys(a.location.city.strip() for a in members if a.location.city))
        text = render(
            "x",
            locale,
            "region.txt",
            region=region,
            appointments=sum(counts) if counts else None,
            locations=len(members),
            cities=cities[:3],
            more_cities=max(0, len(cities) - 3),
        )
        lines.append((sum(counts), truncate_weighted(text, limit)))
    # Biggest regions first: when the thread is capped, the news that helps most stays in.
    lines.sort(key=lambda item: -item[0])
    return [text for _, text in lines]


def compose_posts(
    alerts: Sequence[Alert],
    *,
    locale: str,
    link_for: Callable[[Alert], str | None],
    max_posts: int,
    details_link: str | None = None,
    limit: int = MAX_WEIGHTED_LENGTH,
) -> list[str]:
    """The posts for ``alerts``: one post, a thread of location lines, or a region summary.

    At most ``max_posts`` posts, each within ``limit`` weighted characters. Pure.
    """
    if not alerts:
        raise ValueError("compose_posts needs at least one alert")
    ordered = sorted(latest_per_location(alerts), key=news_count, reverse=True)
    if len(ordered) == 1:
        return [_single_post(ordered[0], locale, link_for(ordered[0]), limit)]
    counts = [news_count(a) for a in ordered if news_count(a) >= 0]
    header = render(
        "x",
        locale,
        "header.txt",
        locations=len(ordered),
        total=sum(counts) if counts else None,
    )
    header = truncate_weighted(header, limit)
    lines = [_location_line(alert, locale, link_for(alert), limit) for alert in ordered]
    posts = pack_lines(header, lines, limit)
    if len(posts) <= max_posts:
        return posts
    # Too many locations for the thread: one line per region instead.
    regions = _region_lines(ordered, locale, limit)
    details = (
        [truncate_weighted(render("x", locale, "details.txt", link=details_link), limit)]
        if details_link
        else []
    )
    for shown in range(len(regions), 0, -1):
        hidden = len(regions) - shown
        more = [render("x", locale, "more.txt", hidden=hidden, link=None)] if hidden else []
        summary = [*regions[:shown], *more]
        posts = pack_lines(header, [*summary, *details], limit)
        if len(posts) <= max_posts:
            # Room left: the biggest openings follow with their own booking links.
            for line in lines:
                bigger = pack_lines(header, [*summary, line, *details], limit)
                if len(bigger) > max_posts:
                    break
                summary, posts = [*summary, line], bigger
            return posts
    more = [render("x", locale, "more.txt", hidden=len(regions), link=details_link)]
    return pack_lines(header, more, limit)[:max_posts]
