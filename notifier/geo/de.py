"""German postal codes (Postleitzahlen): offline centroids for deployments in Germany.

The table ``notifier/data/de_postal_codes.tsv`` ships with the package; nothing downloads at
run time. It is built from GeoNames' postal code export for DE (CC BY 4.0, attribution in
``notifier/data/NOTICE-geonames.md`` and ``docs/regions.md``): GeoNames lists one line per
place name under a code, so a code's centroid is the mean of its places and its city is the
place named most often. Rebuild it with::

    python -m notifier.geo.de GEONAMES_DE.txt > notifier/data/de_postal_codes.tsv

All of Germany is one time zone, Europe/Berlin. ``notifier.geo`` registers this module for
country ``DE`` and only loads the table on the first German lookup.
"""

from __future__ import annotations

import re
import sys
from collections import Counter
from collections.abc import Iterable
from functools import lru_cache
from pathlib import Path

from notifier.geo.places import PostalPlace

__all__ = ["DATA_FILE", "TIME_ZONE", "build_table", "lookup", "normalize"]

TIME_ZONE = "Europe/Berlin"
DATA_FILE = Path(__file__).parents[1] / "data" / "de_postal_codes.tsv"
HEADER = "postal_code\tplace\tstate\tlat\tlon"
# "50667", "D-50667", "DE 50667"; a 4-digit code lost its leading zero as a number (1067)
_PLZ = re.compile(r"^\s*(?:D(?:E)?[-\s]?)?([0-9]{4,5})\s*$", re.IGNORECASE)


def normalize(code: str) -> str | None:
    """The 5-digit PLZ, or None when ``code`` cannot be one."""
    match = _PLZ.match(code)
    return match.group(1).zfill(5) if match else None


@lru_cache(maxsize=1)
def _index() -> dict[str, PostalPlace]:
    index: dict[str, PostalPlace] = {}
    with DATA_FILE.open(encoding="utf-8") as table:
        for line in table:
            fields = line.rstrip("\n").split("\t")
            if len(fields) != 5 or fields[0] == "postal_code":
                continue
            code, place, state, lat, lon = fields
            index[code] = PostalPlace(
                country="DE",
                postal_code=code,
                city=place or None,
                state=state or None,
                lat=float(lat),
                lon=float(lon),
                time_zone=TIME_ZONE,
            )
    return index


def lookup(code: str) -> PostalPlace | None:
    """The centroid, city and state (two-letter code, e.g. NW) of a normalized PLZ."""
    return _index().get(code)


def build_table(geonames_lines: Iterable[str]) -> list[str]:
    """Our table (header first) from the lines of GeoNames' DE postal code export.

    GeoNames columns: country, postal code, place, state name, state code, ..., lat, lon,
    accuracy (tab-separated).
    """
    places: dict[str, list[tuple[str, str, float, float]]] = {}
    for line in geonames_lines:
        fields = line.rstrip("\n").split("\t")
        if len(fields) < 11 or fields[0] != "DE" or not re.fullmatch(r"\d{5}", fields[1]):
            continue
        try:
            lat, lon = float(fields[9]), float(fields[10])
        except ValueError:
            continue
        places.setdefault(fields[1], []).append((fields[2].strip(), fields[4].strip(), lat, lon))
    rows = [HEADER]
    for code in sorted(places):
        entries = places[code]
        # most_common keeps first-seen order among ties: the export's own first place wins
        place = Counter(e[0] for e in entries).most_common(1)[0][0]
        states = Counter(e[1] for e in entries if e[1])
        state = states.most_common(1)[0][0] if states else ""
        lat = sum(e[2] for e in entries) / len(entries)
        lon = sum(e[3] for e in entries) / len(entries)
        rows.append(f"{code}\t{place}\t{state}\t{lat:.4f}\t{lon:.4f}")
    return rows


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print(
            "usage: python -m notifier.geo.de GEONAMES_DE.txt > de_postal_codes.tsv",
            file=sys.stderr,
        )
        return 2
    with open(argv[0], encoding="utf-8") as source:
        sys.stdout.write("\n".join(build_table(source)) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
