"""Text of the Albertsons sources: brand names, product names, and mHealth's name+address field.

Pure string functions, kept apart from ``scrapers.albertsons`` so each module stays small.
"""

from __future__ import annotations

import re

from scrapers._api_common import opt_str

__all__ = ["BRANDS", "mhealth_product", "rxie_product", "split_address"]

#: ``storeName`` in the booking API -> the brand as people know it (UNIVAF's brand list).
BRANDS = {
    "ACME": "Acme", "ALBERTSONS": "Albertsons", "ALBERTSONS MARKET": "Albertsons Market",
    "CARRS": "Carrs", "HAGGEN": "Haggen", "JEWEL-OSCO": "Jewel-Osco", "LUCKY'S": "Lucky",
    "MARKET STREET": "Market Street", "PAK N SAVE": "Pak 'n Save", "PAVILIONS": "Pavilions",
    "RANDALLS": "Randalls", "SAFEWAY": "Safeway", "SHAWS": "Shaw's",
    "STAR MARKET": "Star Market", "TOM THUMB": "Tom Thumb", "UNITED": "United Supermarkets",
    "VONS": "Vons",
}  # fmt: skip

_MAKERS = (
    ("Pfizer", ("pfizer",)),
    ("Moderna", ("moderna",)),
    ("Janssen", ("janssen", "johnson", "j&j", "jnj")),
    ("Novavax", ("novavax",)),
)
#: The booking API's "Child" service types (UNIVAF: Pfizer 5-11, Moderna 6-11).
_RXIE_CHILD = {"Pfizer": "Pfizer (5-11)", "Moderna": "Moderna (6-11)"}
#: mHealth ``drugName`` values; ModernaChild and ModernaToddler both booked ages under 6.
_MHEALTH_DRUGS = {
    "pfizer": "Pfizer",
    "pfizerchild": "Pfizer (5-11)",
    "pfizertoddler": "Pfizer (6m-4y)",
    "moderna": "Moderna",
    "modernachild": "Moderna (6m-5y)",
    "modernatoddler": "Moderna (6m-5y)",
    "jnj": "Janssen",
    "janssen": "Janssen",
    "novavax": "Novavax",
}
# ", City, ST, 12345" ends every mHealth address; the state is sometimes blank.
_ADDRESS_TAIL = re.compile(
    r",\s*(?P<city>[^,]*?)\s*,\s*(?P<state>[A-Za-z]{2})?\s*,\s*(?P<zip>\d{3,5}(?:-\d{4})?)\s*$"
)
_SECTION_BREAK = re.compile(r"\s*-\s+")
_AGE_RANGE = re.compile(r"(\d+) - (\d+ year)", re.I)
_STREET_START = re.compile(r"^\d+(\s+\w+)?$")
_REPEATED_BRAND = re.compile(r"^(?P<brand>\D+?)\s+(?P<number>#?\d+)\s+(?P=brand)$", re.I)


def _brand_of(text: str) -> str | None:
    lowered = text.lower()
    return next((name for name, keys in _MAKERS if any(k in lowered for k in keys)), None)


def rxie_product(service_type: str) -> str | None:
    """``"COVID-19 Dose 1 Pfizer Child"`` -> ``"Pfizer (5-11)"``; None when no product is said
    (``"COVID-19 Unknown"``) or the service is not a COVID-19 vaccine."""
    if not service_type.lower().startswith("covid-19"):
        return None
    brand = _brand_of(service_type)
    if brand is not None and re.search(r"\bchild\b", service_type, re.I):
        return _RXIE_CHILD.get(brand, brand)
    return brand


def mhealth_product(drug: str) -> str:
    """``"PfizerChild"`` -> ``"Pfizer (5-11)"``; an unknown name keeps its own words."""
    key = re.sub(r"[^a-z]", "", drug.lower())
    return _MHEALTH_DRUGS.get(key) or " ".join(drug.split())


def _meaningful(text: str | None) -> str | None:
    """None for blanks and placeholders such as ``"."`` (a street or city with no letters)."""
    text = opt_str(text)
    return text if text and re.search(r"[A-Za-z0-9]", text) else None


def split_address(text: str) -> tuple[str | None, str | None, str | None, str | None, str | None]:
    """An mHealth ``address`` as (name, street, city, state, ZIP).

    ``"Safeway 0502 Safeway - 5702 Summitview Ave, Yakima, WA, 98908"`` gives ``("Safeway
    0502", "5702 Summitview Ave", "Yakima", "WA", "98908")``. Parts are joined by `` - ``,
    and the street comes last, though it may hold a `` - `` of its own (``"2300 - 16th
    Street"``, ``"515 Berlin - Cross Keys Road"``).
    """
    # an age range ("5 - 11 year old") is not a break between parts
    text = _AGE_RANGE.sub("\\1\u2013\\2", " ".join(text.split()))
    tail = _ADDRESS_TAIL.search(text)
    if tail is None:
        return _meaningful(text), None, None, None, None
    sections = [s.strip() for s in _SECTION_BREAK.split(text[: tail.start()]) if s.strip()]
    street = sections.pop() if sections else None
    while street and sections and _STREET_START.match(sections[-1]):
        # "2300 - 16th Street" is a number apart; "515 Berlin - Cross Keys Road" a hyphen
        start = sections.pop()
        street = f"{start} {street}" if start.isdigit() else f"{start}-{street}"
    # URLs and parts repeated inside another part ("Safeway 2729 Clinic - Safeway") add nothing
    parts = [s for s in sections if not s.lower().startswith("http")]
    kept = [
        part
        for i, part in enumerate(parts)
        if not any(
            part.lower() in other.lower() and (part.lower() != other.lower() or j < i)
            for j, other in enumerate(parts)
            if j != i
        )
    ]
    name = " - ".join(kept) or None
    repeated = _REPEATED_BRAND.match(name or "")
    if repeated:
        name = f"{repeated['brand']} {repeated['number']}"
    state = tail["state"].upper() if tail["state"] else None
    return name, _meaningful(street), _meaningful(tail["city"]), state, tail["zip"]
