"""Reuse what did not change since the last publication.

A poll re-confirms thousands of places and changes a few. Rendering is pure, so a place's
rendered pieces (its HTML entry per language, its JSON object, its SMART resources) depend only
on its displayed content; ``RenderCache`` keeps the pieces of the previous publication keyed by
that content and hands them back. Values that change on every poll for every place (the
"checked" time, the chart) are left as tokens in the cached piece and filled in per
publication, so they do not invalidate it. The Atom feeds keep each alert's entry per
language here too (``atom.py``): alerts do not change, so only a new alert's are rendered.

The cache keeps two generations (this publication's and the last one's), so it never grows
beyond what two publications used.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from typing import TypeVar

from notifier.web.public.snapshot import Place

__all__ = ["RenderCache", "content_key"]

T = TypeVar("T")


def content_key(place: Place) -> tuple[Hashable, ...]:
    """Everything a place's rendering shows, except the checked time and the chart."""
    return place.content


class RenderCache:
    def __init__(self) -> None:
        self._previous: dict[Hashable, object] = {}
        self._current: dict[Hashable, object] = {}
        self.hits = 0
        self.misses = 0

    def get(self, key: Hashable, build: Callable[[], T]) -> T:
        if key in self._current:
            self.hits += 1
            return self._current[key]  # type: ignore[return-value]
        if key in self._previous:
            self.hits += 1
            value = self._previous[key]
        else:
            self.misses += 1
            value = build()
        self._current[key] = value
        return value  # type: ignore[return-value]

    def next_generation(self) -> None:
        """Call after each publication: what was not used in it is dropped at the next."""
        self._previous, self._current = self._current, {}
