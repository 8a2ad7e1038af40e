"""Plain-text pieces of a PrepMod clinic block: addresses, venue names, vaccines, age groups.

PrepMod prints everything as free text ("10 Welcome Street, Haverhill MA, 01830",
"Moderna COVID-19 Vaccine, Janssen COVID-19 Vaccine"), so these small pure functions turn that
text into fields. They know nothing about HTML; ``scrapers._prepmod.html`` calls them. They are
cached because the same strings repeat on every block of a site and on every poll.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache

__all__ = [
    "PostalAddress",
    "canonical_products",
    "clean_venue_name",
    "parse_address",
    "slugify",
    "split_list",
]

# Full state names seen in PrepMod addresses ("Haverhill Massachusetts, 01830"). Two-letter
# codes are matched generically; a name is needed only where a venue spelled the state out.
_STATE_NAMES = {
    "alabama": "AL", "alaska": "AK", "arizona": "AZ", "arkansas": "AR", "california": "CA",
    "colorado": "CO", "connecticut": "CT", "delaware": "DE", "district of columbia": "DC",
    "florida": "FL", "georgia": "GA", "hawaii": "HI", "idaho": "ID", "illinois": "IL",
    "indiana": "IN", "iowa": "IA", "kansas": "KS", "kentucky": "KY", "louisiana": "LA",
    "maine": "ME", "maryland": "MD", "massachusetts": "MA", "michigan": "MI",
    "minnesota": "MN", "mississippi": "MS", "missouri": "MO", "montana": "MT",
    "nebraska": "NE", "nevada": "NV", "new hampshire": "NH", "new jersey": "NJ",
    "new mexico": "NM", "new york": "NY", "north carolina": "NC", "north dakota": "ND",
    "ohio": "OH", "oklahoma": "OK", "oregon": "OR", "pennsylvania": "PA", "puerto rico": "PR",
    "rhode island": "RI", "south carolina": "SC", "south dakota": "SD", "tennessee": "TN",
    "texas": "TX", "utah": "UT", "vermont": "VT", "virginia": "VA", "washington": "WA",
    "west virginia": "WV", "wisconsin": "WI", "wyoming": "WY",
}  # fmt: skip

_NAMES_OF_STATE: dict[str, tuple[str, ...]] = {}
for _name, _code in _STATE_NAMES.items():
    _NAMES_OF_STATE[_code] = (*_NAMES_OF_STATE.get(_code, ()), _name)

_STATE = "|".join(sorted(_STATE_NAMES, key=len, reverse=True)) + r"|[A-Za-z]{2}"
# "<street>, <city>[,] <state>[.][,] <zip>": the city is lazy so "North Andover MA" keeps
# "North Andover" whole and leaves "MA" to the state.
_ADDRESS = re.compile(
    rf"^(?P<street>.+?),\s*(?P<city>[^,]+?),?\s+(?P<state>{_STATE})\.?,?\s+"
    r"(?P<zip>\d{3,5}(?:-\d{4})?)$",
    re.IGNORECASE,
)
# Last resort: "<street>, ... <zip>" without a recognisable state; the ZIP fills the rest.
_TRAILING_ZIP = re.compile(r"^(?P<street>[^,]+),.*?\b(?P<zip>\d{3,5}(?:-\d{4})?)$")
_COUNTRIES = {"usa", "us", "u.s.", "u.s.a.", "united states", "united states of america"}


@dataclass(frozen=True, slots=True)
class PostalAddress:
    street: str | None
    city: str | None
    state: str | None
    postal_code: str | None


@lru_cache(maxsize=4096)
def parse_address(line: str) -> PostalAddress:
    """Split a PrepMod address line; parts it cannot find are None (the ZIP fills them later)."""
    text = line.strip().rstrip(",")
    match = _ADDRESS.match(text)
    if match:
        state = match["state"].strip()
        code = _STATE_NAMES.get(state.lower(), state.upper() if len(state) == 2 else None)
        return PostalAddress(
            street=match["street"].strip(),
            city=match["city"].strip(),
            state=code,
            postal_code=match["zip"],
        )
    match = _TRAILING_ZIP.match(text)
    if match:
        return PostalAddress(match["street"].strip(), None, None, match["zip"])
    return PostalAddress(text or None, None, None, None)


@lru_cache(maxsize=4096)
def clean_venue_name(name: str, address: PostalAddress) -> str:
    """The venue name without the address tail some venues carry.

    Venues picked from a map search are named like "Reggie Lewis State Track Athletic Ctr,
    Tremont Street, Boston, MA, USA". Trailing parts that repeat the country, state, city, ZIP
    or street are dropped; the first part always stays, so a name is never emptied.
    """
    parts = [p.strip() for p in name.split(",")]
    redundant = {c for c in (address.city, address.state, address.postal_code) if c}
    redundant_lower = {r.lower() for r in redundant} | _COUNTRIES
    state_names = _NAMES_OF_STATE.get(address.state or "", ())
    street = (address.street or "").lower()
    while len(parts) > 1:
        tail = parts[-1].lower()
        if tail in redundant_lower or tail in state_names or (tail and tail in street):
            parts.pop()
        else:
            break
    return ", ".join(p for p in parts if p)


def slugify(text: str) -> str:
    """A stable, readable id: ASCII letters and digits joined by single hyphens."""
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]+", "-", ascii_text.lower()).strip("-")


@lru_cache(maxsize=4096)
def split_list(value: str) -> tuple[str, ...]:
    """``"Children, Adults, Seniors"`` -> ``("Children", "Adults", "Seniors")``."""
    return tuple(dict.fromkeys(p.strip() for p in value.split(",") if p.strip()))


# --------------------------------------------------------------------------- vaccines

_BRANDS = (
    ("Pfizer", ("pfizer", "biontech", "comirnaty")),
    ("Moderna", ("moderna", "spikevax")),
    ("Janssen", ("janssen", "johnson", "j&j", "j & j")),
    ("Novavax", ("novavax", "nuvaxovid")),
)
# Age bands of the children's formulations, as PrepMod clinics wrote them:
# "Pfizer-BioNTech COVID-19 Vaccine (Ages 5-11)", "Pfizer Pediatric (6 months - 4 years)".
_UNDER_FIVE = re.compile(r"\b6\s*(?:months?|mos?|m)\b|\b[0-4]\s*(?:-|–|to|through)\s*[45]\b")
_FIVE_TO_ELEVEN = re.compile(r"\b5\s*(?:-|–|to|through)\s*11\b")
_SIX_TO_ELEVEN = re.compile(r"\b6\s*(?:-|–|to|through)\s*11\b")
_PEDIATRIC = re.compile(r"pediatric|paediatric|children|kids|\bpeds?\b")
_KIDS_VARIANTS = {
    ("Pfizer", "under5"): "Pfizer (6m-4y)",
    ("Pfizer", "school"): "Pfizer (5-11)",
    ("Moderna", "under5"): "Moderna (6m-5y)",
    ("Moderna", "school"): "Moderna (6-11)",
}


def _canonical_product(text: str) -> str | None:
    """One vaccine string as a canonical product; None for a vaccine that is not for COVID-19."""
    lowered = text.lower()
    brand = next((name for name, keys in _BRANDS if any(k in lowered for k in keys)), None)
    if brand is None:
        # An unknown COVID-19 product keeps its own words rather than being dropped.
        return " ".join(text.split()) if "covid" in lowered else None
    if _UNDER_FIVE.search(lowered):
        return _KIDS_VARIANTS.get((brand, "under5"), brand)
    if (
        _FIVE_TO_ELEVEN.search(lowered)
        or _SIX_TO_ELEVEN.search(lowered)
        or _PEDIATRIC.search(lowered)
    ):
        return _KIDS_VARIANTS.get((brand, "school"), brand)
    return brand


@lru_cache(maxsize=4096)
def canonical_products(value: str) -> tuple[tuple[str, ...], bool]:
    """The COVID-19 products a "Vaccinations offered" value lists, and whether it lists only
    other vaccines (flu, shingles...), which are not COVID-19 availability."""
    pieces = [p for p in value.split(",") if p.strip()]
    products = [p for p in map(_canonical_product, pieces) if p is not None]
    only_other = bool(pieces) and not products
    return tuple(dict.fromkeys(products)), only_other
