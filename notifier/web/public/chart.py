"""A tiny inline SVG step chart of one place's open appointments over the last hours.

Pure: points in, markup out. No script, no external file; screen readers get a label that
says what the chart shows (first and last value).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from html import escape

__all__ = ["sparkline"]

WIDTH, HEIGHT, PAD = 240, 48, 3


def sparkline(points: Sequence[tuple[dt.datetime, int]], label: str) -> str:
    """An SVG step line; empty string when there is nothing to draw."""
    if not points:
        return ""
    start, end = points[0][0], points[-1][0]
    span = max((end - start).total_seconds(), 1.0)
    top = max(max(n for _, n in points), 1)

    def xy(at: dt.datetime, n: int) -> tuple[float, float]:
        x = PAD + (WIDTH - 2 * PAD) * (at - start).total_seconds() / span
        y = HEIGHT - PAD - (HEIGHT - 2 * PAD) * n / top
        return round(x, 1), round(y, 1)

    coords: list[tuple[float, float]] = []
    for index, (at, n) in enumerate(points):
        x, y = xy(at, n)
        if index:
            coords.append((x, coords[-1][1]))  # hold the previous value until this change
        coords.append((x, y))
    if len(coords) == 1:
        coords.append((WIDTH - PAD, coords[0][1]))
    path = " ".join(f"{x},{y}" for x, y in coords)
    text = escape(f"{label}: {points[0][1]} → {points[-1][1]}")
    return (
        f'<svg class="chart" role="img" aria-label="{text}" viewBox="0 0 {WIDTH} {HEIGHT}" '
        f'preserveAspectRatio="none" xmlns="http://www.w3.org/2000/svg">'
        f'<title>{text}</title><polyline points="{path}"/></svg>'
    )
