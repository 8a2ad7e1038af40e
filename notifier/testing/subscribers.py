"""Synthetic subscribers for the demo, tests and benchmarks: fake people in real MA ZIP codes.

Rows use the ``subscriber`` table's column names, ready for
``notifier.db.subscribers.bulk_insert_subscribers``. Addresses are fictional by construction:
phone numbers use the 555 exchange (+1 AAA 555 XXXX) and email addresses ``example.org``
(RFC 2606), so a misrouted demo message cannot reach a real person. The same ``n`` and
``seed`` always give the same rows.
"""

from __future__ import annotations

import datetime as dt
import itertools
import random
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

__all__ = ["SUPPORTED_CHANNELS", "ZipArea", "ma_zip_areas", "synthetic_subscribers"]

SUPPORTED_CHANNELS = ("sms", "email")
MA_AREA_CODES = ("617", "857", "781", "339", "508", "774", "978", "351", "413")
RADIUS_CHOICES = ((5.0, 0.20), (10.0, 0.35), (25.0, 0.30), (50.0, 0.15))
LOCALE_CHOICES = (("en", 0.88), ("es", 0.12))
REGION_ONLY_SHARE = 0.05  # statewide subscribers: no radius, region "MA"
FILTERED_SHARE = 0.12
#: as the scrapers name products (``notifier`` filters compare names exactly)
PRODUCTS = ("Pfizer", "Moderna")
AGE_GROUPS = ("Adults", "Seniors")
FIRST_NAMES = ("alex", "maria", "sam", "jose", "lin", "pat", "ana", "chris", "kim", "luis")
LAST_NAMES = ("silva", "nguyen", "murphy", "garcia", "oconnor", "santos", "chen", "pereira")
_LINES_PER_CODE = 10_000
_LINE_STRIDE = 7919  # coprime with 10 000: counter -> line number is a bijection
_GRID = 10  # density cells of 0.1 degree (about 7 miles)


@dataclass(frozen=True, slots=True)
class ZipArea:
    postal_code: str
    lat: float
    lon: float
    time_zone: str
    area_codes: tuple[str, ...]
    weight: float


@lru_cache(maxsize=1)
def ma_zip_areas() -> tuple[ZipArea, ...]:
    """Active standard MA ZIPs, weighted by how many ZIPs crowd around them.

    ZIP codes are drawn smaller where people live closer together, so ZIP density is a
    cheap, offline stand-in for population: Boston outweighs the Berkshires.
    """
    import zipcodes  # loading its table takes a few tenths of a second

    rows = [
        z
        for z in zipcodes.filter_by(state="MA")
        if z["zip_code_type"] == "STANDARD" and z["active"] and z["lat"] and z["long"]
    ]

    def cell(row: dict[str, Any]) -> tuple[int, int]:
        return round(float(row["lat"]) * _GRID), round(float(row["long"]) * _GRID)

    per_cell = Counter(cell(r) for r in rows)
    areas = []
    for row in rows:
        x, y = cell(row)
        crowd = sum(per_cell[(x + dx, y + dy)] for dx in (-1, 0, 1) for dy in (-1, 0, 1))
        local = tuple(c for c in row["area_codes"] if c in MA_AREA_CODES)
        areas.append(
            ZipArea(
                postal_code=row["zip_code"],
                lat=float(row["lat"]),
                lon=float(row["long"]),
                time_zone=row["timezone"] or "America/New_York",
                area_codes=local or tuple(row["area_codes"]) or MA_AREA_CODES[:1],
                weight=float(crowd) ** 1.5,
            )
        )
    return tuple(areas)


def _all_area_codes() -> list[str]:
    """MA codes, then others, for when one is used up (a million subscribers need ~100)."""
    others = [
        str(code)
        for code in range(201, 990)
        # skip N11 service codes and the N9X codes reserved for expansion
        if code % 100 != 11 and (code // 10) % 10 != 9 and str(code) not in MA_AREA_CODES
    ]
    return [*MA_AREA_CODES, *others]


class _PhoneBook:
    """Unique fictional numbers: +1 AAA 555 XXXX, 10 000 per area code."""

    def __init__(self, offset: int) -> None:
        self._used: dict[str, int] = {}
        self._offset = offset
        self._spare = _all_area_codes()
        self._spare_index = 0

    def _room(self, code: str) -> bool:
        return self._used.get(code, 0) < _LINES_PER_CODE

    def number(self, preferred: Sequence[str], rng: random.Random) -> str:
        candidates = [c for c in preferred if self._room(c)]
        if candidates:
            code = rng.choice(candidates)
        else:
            while self._spare_index < len(self._spare) and not self._room(
                self._spare[self._spare_index]
            ):
                self._spare_index += 1
            if self._spare_index == len(self._spare):
                raise ValueError("ran out of fictional phone numbers")
            code = self._spare[self._spare_index]
        counter = self._used.get(code, 0)
        self._used[code] = counter + 1
        line = (counter * _LINE_STRIDE + self._offset) % _LINES_PER_CODE
        return f"+1{code}555{line:04d}"


def _pick(rng: random.Random, choices: Sequence[tuple[Any, float]]) -> Any:
    values, weights = zip(*choices, strict=True)
    return rng.choices(values, weights)[0]


def synthetic_subscribers(
    n: int, seed: int = 0, channels: Sequence[str] = SUPPORTED_CHANNELS
) -> list[dict[str, Any]]:
    """``n`` confirmed subscribers spread over Massachusetts, deterministic by ``seed``."""
    if n < 0:
        raise ValueError("n must be >= 0")
    unknown = [c for c in channels if c not in SUPPORTED_CHANNELS]
    if unknown or not channels:
        raise ValueError(f"channels must be among {SUPPORTED_CHANNELS}, got {list(channels)}")
    rng = random.Random(seed)
    areas = ma_zip_areas()
    cumulative = list(itertools.accumulate(a.weight for a in areas))
    phones = _PhoneBook(offset=rng.randrange(_LINES_PER_CODE))
    signed_up = dt.datetime(2021, 2, 18, 12, 0, tzinfo=dt.UTC)
    rows: list[dict[str, Any]] = []
    for index in range(n):
        area = rng.choices(areas, cum_weights=cumulative)[0]
        channel = rng.choice(channels)
        if channel == "sms":
            address = phones.number(area.area_codes, rng)
        else:
            name = f"{rng.choice(FIRST_NAMES)}.{rng.choice(LAST_NAMES)}"
            address = f"{name}.{index}@example.org"
        statewide = rng.random() < REGION_ONLY_SHARE
        filters: dict[str, list[str]] | None = None
        if rng.random() < FILTERED_SHARE:
            filters = {"products": [rng.choice(PRODUCTS)]}
            if rng.random() < 0.3:
                filters["age_groups"] = [rng.choice(AGE_GROUPS)]
        rows.append(
            {
                "channel": channel,
                "address": address,
                "locale": _pick(rng, LOCALE_CHOICES),
                "postal_code": area.postal_code,
                "lat": area.lat,
                "lon": area.lon,
                "radius_miles": None if statewide else _pick(rng, RADIUS_CHOICES),
                "region": "MA" if statewide else None,
                "filters": filters,
                "time_zone": area.time_zone,
                "confirmed_at": signed_up + dt.timedelta(minutes=rng.randrange(7 * 24 * 60)),
            }
        )
    return rows
