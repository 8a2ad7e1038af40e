"""Vaccines.gov / CDC open data (Socrata dataset 5jp2-pgaw): vaccine *stock* per location.

One row per location × product::

    {"provider_location_guid": "...", "loc_name": "CVS Pharmacy, Inc. #01929",
     "loc_admin_street1": ..., "loc_admin_zip": "07011", "latitude": "40.88", ...,
     "ndc": "59267-1000-01", "med_name": "Pfizer-BioNTech, ...", "in_stock": true,
     "quantity_last_updated": "2021-09-22"}

Rows of one location are scattered through the answer, so they are grouped by
``provider_location_guid``. The source says whether a product is in stock, not how many
appointments are open: a location with a product in stock is "available, count unknown" and
``products`` lists the products in stock. Pages hold ``$limit`` rows; a full page means
another follows (``$offset``). A Socrata error object (``{"error": true, "message": ...}`` or
``{"errorCode": ..., "message": ...}``) raises.

Rate limit: Socrata throttles clients without an app token (``X-App-Token``) much harder than
those with one; the dataset is refreshed about daily, so we poll every 30 minutes by default
and never more often than every 5.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field

from notifier.model import Location, LocationAvailability, Status
from notifier.scraping import Example, Request, Response, Scraper, Unparseable, UpstreamError
from scrapers._api_common import (
    as_dict,
    as_list,
    decode_json,
    finish_location,
    opt_float,
    opt_str,
    parse_day,
    query_param,
    req_str,
)

__all__ = ["CdcSocrata", "CdcSocrataSettings", "product_name"]

API_URL = "https://data.cdc.gov/resource/5jp2-pgaw.json"
#: National Drug Codes of the COVID-19 vaccines, by product (CDC's code lists)
_NDC_PRODUCTS = {
    "Moderna": ("80777-0273-10", "80777-0273-15", "80777-0273-98", "80777-0273-99"),
    "Moderna 6 months–5 years": ("80777-0279-05",),
    "Pfizer": ("59267-1000-01", "59267-1000-02", "59267-1000-03", "59267-1025-01", "00069-2025-01"),
    "Pfizer 5–11": ("59267-1055-01",),
    "Pfizer 6 months–4 years": ("59267-0078-01",),
    "Johnson & Johnson": ("59676-0580-05", "59676-0580-15"),
    "Novavax": ("80631-0100-01", "80631-0100-10"),
}
_PRODUCT_BY_NDC = {ndc: name for name, codes in _NDC_PRODUCTS.items() for ndc in codes}
_HAS_LETTER = re.compile(r"[A-Za-z]")


def product_name(ndc: str | None, med_name: str | None) -> str | None:
    """A short product name: from the NDC when known, else the maker in ``med_name``."""
    if ndc and ndc in _PRODUCT_BY_NDC:
        return _PRODUCT_BY_NDC[ndc]
    maker = (med_name or "").split(",")[0].strip()
    return maker or None


class CdcSocrataSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    states: tuple[str, ...] = Field(("AK",), description="Two-letter states, one query each.")
    page_size: int = Field(5000, ge=100, le=50000)
    app_token: str = Field("", description="A Socrata app token; raises the throttling limit.")
    booking_url: str = "https://www.vaccines.gov/"


class CdcSocrata(Scraper[CdcSocrataSettings]):
    """Locations listed on vaccines.gov, available when a COVID-19 vaccine is in stock."""

    name = "cdc-socrata"
    provider = "Vaccines.gov (CDC open data)"
    regions = ("US",)
    maintainer = "Appointment Notifier maintainers"
    default_interval = 1800.0
    min_interval = 300.0
    source_format = "api"
    none_when = ("a row with in_stock false (ak-none.json)",)
    unknown_when = (
        "a Socrata error object",
        "rows whose in_stock is not true/false",
        "HTTP errors, timeouts",
    )
    examples = (
        Example(
            files=("cvs-01929.json",),
            expect={
                "locations": 1,
                "by_location": {
                    "d313cdc7-0ddb-4c38-8bb5-31dc71a5c95a": {
                        "name": "CVS Pharmacy, Inc. #01929",
                        "address": "635 LEXINGTON AVE.",
                        "city": "CLIFTON",
                        "state": "NJ",
                        "postal_code": "07011",
                        "lat": 40.882747,
                        "lon": -74.134247,
                        "status": "available",
                        "appointments": None,
                        "products": ["Pfizer"],
                        "by_date": {},
                        "valid_at": "2021-09-22T00:00:00-04:00",
                    }
                },
            },
            note="asserted: 1 location with only Pfizer in stock",
        ),
        Example(
            files=("ak-2022-06-23.json",),
            expect={
                "locations": 30,
                "by_location": {
                    "97e01c5f-be05-45e7-b182-b837dd179ff5": {
                        "name": "Ron's Apothecary Shoppe",
                        "postal_code": "99801",
                        "status": "none",
                        "products": [],
                    },
                },
            },
            note="derived: a trimmed copy of the Alaska answer (30 locations, 126 rows)",
        ),
        Example(
            files=("ak-2022-06-23.json",),
            expect={"locations": 30},
            note="optional-fields: appointments, slots",
        ),
        Example(
            files=("ak-none.json",),
            expect={"locations": 1, "status": "none"},
        ),
        Example(files=("error-no-such-column.json",), raises=UpstreamError),
        Example(files=("ak-2022-06-23.304.json",), raises=Unparseable),
    )

    def _page(self, state: str, offset: int) -> Request:
        headers = {"X-App-Token": self.settings.app_token} if self.settings.app_token else {}
        return Request(
            url=API_URL,
            params={
                "$limit": str(self.settings.page_size),
                "$offset": str(offset),
                "loc_admin_state": state.upper(),
            },
            headers=headers,
            label=f"vaccines.gov {state.upper()} rows from {offset}",
        )

    def requests(self) -> list[Request]:
        return [self._page(state, 0) for state in self.settings.states]

    def follow(self, response: Response) -> list[Request]:
        """The next page when this one came back full."""
        params = response.request.params
        limit = params.get("$limit") or query_param(response.url, "$limit")
        offset = params.get("$offset") or query_param(response.url, "$offset") or "0"
        state = params.get("loc_admin_state") or query_param(response.url, "loc_admin_state")
        if not (limit and state and limit.isdigit() and offset.isdigit()):
            return []
        if len(self._rows(response)) < int(limit):
            return []
        return [self._page(state, int(offset) + int(limit))]

    @staticmethod
    def _rows(response: Response) -> list[Any]:
        document = decode_json(response)
        if isinstance(document, dict):
            if document.get("error") or "errorCode" in document or "message" in document:
                code = document.get("errorCode") or document.get("code") or "error"
                raise UpstreamError(f"Socrata answered {code}: {document.get('message')}")
            raise Unparseable(f"{response.url}: an object where a list of rows belongs")
        return as_list(document, response.url)

    def parse(self, response: Response) -> list[LocationAvailability]:
        groups: dict[str, list[dict[str, Any]]] = {}
        for i, raw in enumerate(self._rows(response)):
            row = as_dict(raw, f"row {i}")
            groups.setdefault(req_str(row, "provider_location_guid", f"row {i}"), []).append(row)
        return [self._location(guid, rows) for guid, rows in groups.items()]

    def _location(self, guid: str, rows: list[dict[str, Any]]) -> LocationAvailability:
        base = rows[0]
        street = req_str(base, "loc_admin_street1", f"location {guid}")
        line2 = opt_str(base.get("loc_admin_street2"))
        links = [opt_str(base.get(k)) for k in ("web_address", "pre_screen")]
        link = next((u for u in links if u and u.startswith("http")), self.settings.booking_url)
        location = finish_location(
            Location(
                id=guid,
                name=req_str(base, "loc_name", f"location {guid}"),
                # "street2" often holds "N/A" or "-": keep it only when it has words
                address=f"{street}, {line2}" if line2 and _HAS_LETTER.search(line2) else street,
                city=opt_str(base.get("loc_admin_city")),
                state=opt_str(base.get("loc_admin_state")),
                postal_code=opt_str(base.get("loc_admin_zip")),
                lat=opt_float(base.get("latitude")),
                lon=opt_float(base.get("longitude")),
                booking_url=link,
                phone=opt_str(base.get("loc_phone")),
            )
        )
        in_stock: list[str] = []
        updated: list[dt.date] = []
        for row in rows:
            where = f"location {guid} ndc {row.get('ndc')}"
            stock = row.get("in_stock")
            if not isinstance(stock, bool):
                raise Unparseable(f"{where}: in_stock is {stock!r}, not true/false")
            name = product_name(opt_str(row.get("ndc")), opt_str(row.get("med_name")))
            if stock and name:
                in_stock.append(name)
            if row.get("quantity_last_updated") is not None:
                updated.append(parse_day(row.get("quantity_last_updated"), where))
        return LocationAvailability(
            location=location,
            # stock, not appointments: "open, count unknown", and never a count
            status=Status.AVAILABLE if in_stock else Status.NONE,
            products=tuple(dict.fromkeys(in_stock)),
            valid_at=_start_of_day(max(updated), location.time_zone) if updated else None,
        )


def _start_of_day(day: dt.date, time_zone: str | None) -> dt.datetime:
    """The report is dated, not timed: take the day's first moment, local (conservative)."""
    try:
        zone: dt.tzinfo = ZoneInfo(time_zone) if time_zone else dt.UTC
    except (ZoneInfoNotFoundError, ValueError):
        zone = dt.UTC
    return dt.datetime.combine(day, dt.time(0, 0), tzinfo=zone)
