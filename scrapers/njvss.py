"""New Jersey Vaccine Scheduling System (NJVSS): the state's export of open appointments.

A process inside NJVSS writes ``njvss-available-appointments.csv`` to S3 continuously::

    res_id,provider_id,name,statuscodename,vras_provideraddress,vras_latitude,vras_longitude,
    vras_typetext,vras_allowschedulingforcountyresidentsonly,county,available

``available`` is the number of open appointments (no dates). ``vras_typetext`` is HTML that
lists the vaccines (``<li>Novavax (12 and older)</li>``). Addresses end in ZIP codes that may
have lost their leading zero (``Dunellen, NJ 8812``). The CSV carries no time of its own: the
data is valid as of the object's HTTP ``Last-Modified``. A location without coordinates is
one NJVSS hides from the public, so it is skipped (as the state's own site does).

Rate limit: S3 has no practical limit for one object, but the export is rewritten only every
few minutes, so we poll every 5 minutes by default and at most once a minute; the object has an
ETag and Last-Modified, so an unchanged export costs a 304.
"""

from __future__ import annotations

import csv
import datetime as dt
import email.utils
import io
import re

from pydantic import BaseModel, ConfigDict, Field

from notifier.model import Location, LocationAvailability, Status
from notifier.scraping import (
    Blocked,
    Example,
    Request,
    Response,
    Scraper,
    Unparseable,
    UpstreamError,
)
from scrapers._api_common import finish_location, opt_float, opt_str

__all__ = ["Njvss", "NjvssSettings", "parse_njvss_csv"]

CSV_URL = (
    "https://njvss-pinpoint-reports.s3.us-east-1.amazonaws.com/njvss-available-appointments.csv"
)
REQUIRED = ("name", "vras_provideraddress", "available")
_ADDRESS = re.compile(
    r"^(?P<street>.+),\s*(?P<city>[^,]+),\s*(?:NJ|New Jersey)\s+(?P<zip>\d{3,5})(?:-\d{4})?\s*$",
    re.IGNORECASE,
)
_VACCINE = re.compile(r"<li>\s*(?P<name>[^<(]+?)\s*(?:\((?P<what>[^)]*)\)\s*)*</li>", re.I)
_AGES = re.compile(r"\((?P<ages>[^)]*(?:older|years|months)[^)]*)\)", re.I)
_MAKERS = (
    ("moderna", "Moderna"),
    ("pfizer", "Pfizer"),
    ("janssen", "Johnson & Johnson"),
    ("novavax", "Novavax"),
)


class NjvssSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    csv_url: str = Field(
        CSV_URL,
        description="The export's URL; the bucket is private, so give a pre-signed S3 URL.",
    )
    booking_url: str = "https://covidvaccine.nj.gov/"


def _rows(text: str) -> list[dict[str, str]]:
    reader = csv.DictReader(io.StringIO(text, newline=""), strict=True)
    header = reader.fieldnames or []
    missing = [c for c in REQUIRED if c not in header]
    if missing:
        raise Unparseable(f"NJVSS CSV lacks the columns {missing}; header is {header[:12]}")
    rows = []
    for row in reader:
        if None in row or any(v is None for v in row.values()):
            raise Unparseable(f"NJVSS CSV line {reader.line_num} has the wrong number of fields")
        rows.append(row)
    return rows


def parse_njvss_csv(text: str) -> list[dict[str, str]]:
    """Rows by column name. Unescaped quotes inside quoted fields (seen in 2021) are repaired."""
    try:
        return _rows(text)
    except (csv.Error, Unparseable) as first:
        if not re.search(r'[^,"\n]"[^,"\r\n]', text):
            raise Unparseable(f"NJVSS CSV: {first}") from first
    repaired = re.sub(
        r'(^|,)"(.*?)"(?=,|\r?$)',
        lambda m: f'{m[1]}"{m[2].replace(chr(34), chr(34) * 2)}"',
        text,
        flags=re.MULTILINE,
    )
    try:
        return _rows(repaired)
    except csv.Error as exc:
        raise Unparseable(f"NJVSS CSV: {exc}") from exc


def _products(html: str) -> tuple[list[str], list[str]]:
    products: list[str] = []
    ages: list[str] = []
    for match in _VACCINE.finditer(html):
        item = match.group(0)
        lowered = match["name"].lower()
        products.extend(name for key, name in _MAKERS if lowered.startswith(key))
        ages.extend(a["ages"].strip() for a in _AGES.finditer(item))
    return products, ages


def _valid_at(response: Response) -> dt.datetime | None:
    header = response.header("last-modified")
    if not header:
        return None
    try:
        when = email.utils.parsedate_to_datetime(header)
    except (TypeError, ValueError, IndexError):
        return None
    return when if when.tzinfo else when.replace(tzinfo=dt.UTC)


class Njvss(Scraper[NjvssSettings]):
    """Every NJVSS location with open appointments, and how many."""

    name = "njvss"
    provider = "New Jersey Vaccine Scheduling System"
    regions = ("US-NJ",)
    maintainer = "Appointment Notifier maintainers"
    default_interval = 300.0
    min_interval = 60.0
    source_format = "api"
    none_when = ("a row with no open appointments (njvss-none.csv)",)
    unknown_when = (
        "S3 errors or an HTML page instead of the CSV",
        "an empty export or a CSV missing its columns",
        "HTTP errors, timeouts",
    )
    examples = (
        Example(
            files=("njvss-available-appointments.csv",),
            expect={
                "locations": 9,
                "appointments": 4978,
                "status": "available",
                "by_location": {
                    "d591d023-b457-eb11-a812-001dd8018866": {
                        "name": "Ray Pharmacy",
                        "address": "187 North Ave",
                        "city": "Dunellen",
                        "state": "NJ",
                        "postal_code": "08812",
                        "lat": 40.59311,
                        "lon": -74.4604,
                        "appointments": 2805,
                        "products": ["Novavax"],
                        "by_date": {},
                        "valid_at": "2023-05-02T19:29:37+00:00",
                    },
                    "b951acec-32f1-eb11-bacb-001dd80283f5": {
                        "city": "Ewing",
                        "postal_code": "08628",
                        "appointments": 800,
                        "products": [],
                    },
                },
            },
            note="asserted: valid_at is the HTTP Last-Modified; derived: rows counted by hand",
        ),
        Example(
            files=("available-appointments.csv",),
            expect={
                "locations": 1,
                "by_location": {
                    "d591d023-b457-eb11-a812-001dd8018866": {
                        "appointments": 2805,
                        "postal_code": "08812",
                        "valid_at": None,
                    }
                },
            },
            note="derived: the bare CSV (no HTTP headers) has no time of validity",
        ),
        Example(
            files=("available-appointments.csv",),
            expect={"locations": 1, "slots": 0},
            note="optional-fields: valid_at, slots, phone",
        ),
        Example(files=("njvss-none.csv",), expect={"locations": 2, "status": "none"}),
        Example(files=("s3-access-denied.xml",), raises=Blocked),
        Example(files=("njvss-available-appointments.304.csv",), raises=Unparseable),
    )

    def requests(self) -> list[Request]:
        url = self.settings.csv_url
        params = {} if "?" in url else {"x-id": "GetObject"}
        return [Request(url=url, params=params, label="NJVSS open appointments export")]

    def parse(self, response: Response) -> list[LocationAvailability]:
        response.raise_for_status()
        text = response.body.decode("utf-8-sig", errors="replace")
        head = text.lstrip()[:200]
        if head.startswith("<"):
            # S3 answers errors as XML: <Error><Code>AccessDenied</Code>...
            code = re.search(r"<Code>([^<]*)</Code>", text)
            if code:
                raise UpstreamError(f"S3 refused the NJVSS export: {code[1]}")
            raise Unparseable("an HTML/XML page instead of the NJVSS CSV")
        if not text.strip():
            raise Unparseable("empty NJVSS export")
        valid_at = _valid_at(response)
        results = []
        for row in parse_njvss_csv(text):
            item = self._row(row, valid_at)
            if item is not None:
                results.append(item)
        return results

    def _row(
        self, row: dict[str, str], valid_at: dt.datetime | None
    ) -> LocationAvailability | None:
        name = opt_str(row.get("name"))
        count = (row.get("available") or "").strip()
        if name is None or not count.isdigit():
            raise Unparseable(
                f"NJVSS row {row.get('res_id')!r}: name {name!r}, available {count!r}"
            )
        lat, lon = opt_float(row.get("vras_latitude")), opt_float(row.get("vras_longitude"))
        if lat is None or lon is None:
            return None  # NJVSS hides a location by blanking its coordinates
        address = opt_str(row.get("vras_provideraddress")) or ""
        match = _ADDRESS.match(address)
        res_id = opt_str(row.get("res_id"))
        location = finish_location(
            Location(
                id=res_id or f"{row.get('provider_id', '')}:{name}",
                name=name,
                address=match["street"].strip() if match else address or None,
                city=match["city"].strip() if match else None,
                state="NJ",
                postal_code=match["zip"] if match else None,
                lat=lat,
                lon=lon,
                booking_url=self.settings.booking_url,
            )
        )
        products, ages = _products(row.get("vras_typetext") or "")
        active = (row.get("statuscodename") or "Active").strip().lower() == "active"
        appointments = int(count) if active else 0
        return LocationAvailability(
            location=location,
            status=Status.AVAILABLE if appointments > 0 else Status.NONE,
            appointments=appointments,
            products=tuple(dict.fromkeys(products)),
            age_groups=tuple(dict.fromkeys(ages)),
            valid_at=valid_at,
        )
