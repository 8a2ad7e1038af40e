"""Albertsons Companies pharmacies (Albertsons, Safeway, Vons, Jewel-Osco, Acme, Shaw's, ...).

Two real sources, one scraper (``settings.source`` picks what ``requests()`` asks for; ``parse``
reads either, recognised by the shape of the body):

* ``rxie`` (default; Albertsons' own booking site since late 2022): one POST per ZIP code to
  ``service-availability`` with a radius, answered with every store *that has openings* for
  the service type asked::

      [{"store": {"storeNumber": "0852", "storeName": "ACME", "streetAddress": ...,
        "zip": "08330", "latitude": 39.45, "telephone": ..., "availableAppointments": null},
        "serviceTypes": [{"serviceTypeName": "COVID-19 Unknown"}]}]

  Stores without openings are simply left out, so this source never shows a store as
  "none": the core records a store that drops out of a good poll as gone. An empty list is
  the API's answer when no store in the radius has openings. There are no counts or dates
  (``availableAppointments`` was null in every recorded store) and ``COVID-19 Unknown``
  names no product. Errors come as a list of ``{"errorCode", "errorMessage"}`` objects, or as
  Azure API Management's ``{"statusCode", "message"}``; Imperva guards the host.
* ``mhealth`` (the file Albertsons published on S3 for appointment finders until it moved
  COVID-19 booking off mHealth Coach in 2022): every clinic with ``"availability"``
  ``"yes"``/``"no"``, ``drugName`` products, a deep booking link, and name plus address in one
  free-text field (``"Acme 1065 - 2160 Lemoine Avenue, Fort Lee, NJ, 07024"``). The data is
  valid as of the HTTP ``Last-Modified``. Adult and pediatric clinics of one store are
  separate entries with separate links, and are kept apart.

Neither source gives dates, so ``by_date`` stays empty and open locations have no count.

Rate limit: Albertsons publishes none. The booking API sits behind Imperva's bot protection
and costs one POST per ZIP code, so we poll every 10 minutes by default and never more than
once every 2 minutes (UNIVAF paced its queries at one a second). The S3 file carries an ETag,
so we send conditional requests instead of the random cache-busting query older trackers used.
"""

from __future__ import annotations

import datetime as dt
import email.utils
import re
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator

from notifier.geo import normalize_postal_code
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
from scrapers._albertsons_text import BRANDS, mhealth_product, rxie_product, split_address
from scrapers._api_common import (
    as_dict,
    as_list,
    decode_json,
    finish_location,
    opt_float,
    opt_str,
    req_str,
)

__all__ = ["Albertsons", "AlbertsonsSettings"]

RXIE_URL = "https://rxie.albertsons.com/abs/prod/rxie/appointment/service-availability"
MHEALTH_URL = "https://s3-us-west-2.amazonaws.com/mhc.cdn.content/vaccineAvailability.json"
BOOKING_URL = "https://www.albertsons.com/vaccinations/home"
MHEALTH_BOOKING_URL = "https://www.mhealthappointments.com/covidappt"

#: Every state the mHealth file listed a clinic in (June 2022).
ALBERTSONS_STATES = (
    "AK", "AR", "AZ", "CA", "CO", "DC", "DE", "HI", "IA", "ID", "IL", "IN", "LA", "MA", "MD",
    "ME", "MT", "NE", "NH", "NJ", "NM", "NV", "NY", "OR", "PA", "RI", "SD", "TX", "UT", "VA",
    "VT", "WA", "WY",
)  # fmt: skip
_S3_ERROR = re.compile(rb"<Error>\s*<Code>([^<]*)</Code>")
_STORE_NUMBER = re.compile(r"^\d{1,6}$")
_TEST_ENTRY = re.compile(r"^public test$", re.I)


class AlbertsonsSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    source: Literal["rxie", "mhealth"] = Field(
        "rxie", description="rxie: the booking API (per ZIP); mhealth: the S3 file (2022)."
    )
    #: the two ZIPs that cover every New Jersey store within 50 miles (UNIVAF, May 2023)
    zips: tuple[str, ...] = Field(
        ("08217", "07067"), min_length=1, description="One POST per ZIP (rxie)."
    )
    radius_miles: int = Field(
        50, ge=1, le=75, description="Search radius (rxie); the booking page offers at most 50."
    )
    service_type: str = Field(
        "COVID-19 Unknown", description="Service asked for (rxie); it matches any COVID-19 one."
    )
    subscription_key: SecretStr = Field(
        SecretStr(""), description="Sent as Ocp-Apim-Subscription-Key, as the booking site does."
    )
    rxie_url: str = Field(RXIE_URL, description="The booking API's service-availability URL.")
    mhealth_url: str = Field(MHEALTH_URL, description="The mHealth clinic file on S3.")
    booking_url: str = Field(BOOKING_URL, description="Where people book (rxie stores).")
    mhealth_booking_url: str = Field(
        MHEALTH_BOOKING_URL, description="Where people book a clinic without a deep link."
    )

    @field_validator("zips", mode="before")
    @classmethod
    def _repair_zips(cls, value: Any) -> Any:
        """``8217`` (a ZIP read as a number from YAML) is ``08217``; nonsense is refused."""
        if not isinstance(value, str | int | list | tuple):
            return value  # pydantic reports the wrong type
        items = list(value) if isinstance(value, list | tuple) else [value]
        repaired = []
        for item in items:
            code = normalize_postal_code(str(item))
            if code is None:
                raise ValueError(f"{item!r} is not a US ZIP code")
            repaired.append(code)
        return tuple(repaired)


def _valid_at(response: Response) -> dt.datetime | None:
    try:
        when = email.utils.parsedate_to_datetime(response.header("last-modified") or "")
    except (TypeError, ValueError, IndexError):
        return None
    return when if when.tzinfo else when.replace(tzinfo=dt.UTC)


def _refuse_error_object(document: dict[str, Any], url: str) -> None:
    """An object where a list belongs is an error answer (Azure API Management, or other)."""
    message = next(
        (opt_str(document.get(k)) for k in ("message", "errorMessage", "error") if k in document),
        None,
    )
    if message is None:
        raise Unparseable(f"{url}: an object where a list of stores belongs")
    code = document.get("statusCode") or document.get("errorCode")
    if code in (401, 403, "401", "403"):
        raise Blocked(f"Albertsons refused the request ({code}): {message}")
    raise UpstreamError(f"Albertsons answered an error ({code or 'no code'}): {message}")


class Albertsons(Scraper[AlbertsonsSettings]):
    """Albertsons Companies pharmacies, available when Albertsons lists COVID-19 openings."""

    name = "albertsons"
    provider = "Albertsons Companies"
    regions = tuple(f"US-{state}" for state in ALBERTSONS_STATES)
    maintainer = "Appointment Notifier maintainers"
    default_interval = 600.0
    min_interval = 120.0
    source_format = "api"
    none_when = (
        "a store whose vaccineAvailability is 'no' or whose clinic lists no open slot "
        "(mhealth-none.json)",
    )
    unknown_when = (
        "errorCode entries or an error object (apim-missing-key.json)",
        "S3 XML errors served as the file (s3-access-denied.xml)",
        "Imperva block pages (imperva-block.html)",
        "a clinic file that lists no clinics at all",
        "HTTP errors, timeouts",
    )
    examples = (
        Example(
            files=("rxie-08217.json", "rxie-07067.json"),
            expect={
                "locations": 78,
                "status": "available",
                "appointments": 0,
                "by_location": {
                    "852": {
                        "name": "Acme #852",
                        "address": "4454 BLACK HORSE PIKE",
                        "city": "Mays Landing",
                        "state": "NJ",
                        "postal_code": "08330",
                        "lat": 39.45134,
                        "lon": -74.64814,
                        "booking_url": BOOKING_URL,
                        "status": "available",
                        "appointments": None,
                        "by_date": {},
                        "products": [],
                        "valid_at": None,
                    },
                    "1782": {"name": "Acme #1782", "city": "Clark", "postal_code": "07066"},
                },
            },
            note="derived: 56 + 34 stores, 12 in both answers, so 78 (47 NJ, 30 PA, 1 DE), "
            "every one listed because it has openings",
        ),
        Example(
            files=("rxie-08217.json",),
            expect={"locations": 56, "slots": 0, "appointments": 0},
            note="optional-fields: appointments, slots, products, valid_at",
        ),
        Example(
            files=("vaccineAvailability.json",),
            expect={
                "locations": 2024,
                "by_location": {
                    "1600099050627": {
                        "name": "Acme 1065",
                        "address": "2160 Lemoine Avenue",
                        "city": "Fort Lee",
                        "state": "NJ",
                        "postal_code": "07024",
                        "lat": 40.8560283,
                        "lon": -73.9679478,
                        "booking_url": "https://kordinator.mhealthcoach.net/vcl/1600099050627",
                        "status": "available",
                        "appointments": None,
                        "products": ["Pfizer"],
                        "valid_at": "2022-06-30T01:46:31+00:00",
                    },
                    "1656087759236": {
                        "name": "Pediatric Moderna Age 3-5 - Vons",
                        "postal_code": "91942",
                        "status": "none",
                        "appointments": 0,
                        "products": [],
                    },
                },
            },
            note="derived: 2024 entries, 1845 'yes' and 179 'no'",
        ),
        Example(
            files=("mhealth-nj.json",),
            expect={"locations": 47, "status": "available"},
            note="derived: the 47 NJ entries of the file, all 'yes'",
        ),
        Example(
            files=("mhealth-none.json",),
            expect={
                "locations": 8,
                "status": "none",
                "appointments": 0,
                "by_location": {
                    "1600714319246": {
                        "name": "Albertsons Market 0665",
                        "address": "202 W Church St",
                        "city": "CARLSBAD",
                        "state": "NM",
                        "postal_code": "88220",
                        "products": [],
                    }
                },
            },
            note="derived: the first 8 'no' entries of the file",
        ),
        Example(files=("imperva-block.html",), raises=Blocked),
        Example(files=("apim-missing-key.json",), raises=Blocked),
        Example(files=("s3-access-denied.xml",), raises=Blocked),
        Example(files=("vaccineAvailability.304.json",), raises=Unparseable),
    )

    def requests(self) -> list[Request]:
        if self.settings.source == "mhealth":
            return [Request(url=self.settings.mhealth_url, label="Albertsons mHealth clinics")]
        key = self.settings.subscription_key.get_secret_value()
        headers = {"version": "2", **({"Ocp-Apim-Subscription-Key": key} if key else {})}
        return [
            Request(
                url=self.settings.rxie_url,
                method="POST",
                headers=headers,
                json={
                    "radius": self.settings.radius_miles,
                    "dateOfBirth": "01/01/1980",  # any adult: the API filters by eligibility
                    "serviceTypes": [
                        {"serviceTypeName": self.settings.service_type, "scientificName": ""}
                    ],
                    "zip": zip_code,
                },
                label=f"Albertsons stores within {self.settings.radius_miles} mi of {zip_code}",
            )
            for zip_code in self.settings.zips
        ]

    def parse(self, response: Response) -> list[LocationAvailability]:
        response.raise_for_status()
        s3_error = _S3_ERROR.search(response.body[:2000])
        if s3_error:  # S3 answers errors as XML, which a proxy may pass on with a 200
            raise UpstreamError(f"Albertsons' file host refused: {s3_error[1].decode('latin-1')}")
        document = decode_json(response)
        if isinstance(document, dict):
            _refuse_error_object(document, response.url)
        entries = as_list(document, response.url)
        errors = [e for e in entries if isinstance(e, dict) and "errorCode" in e]
        if errors:
            text = ", ".join(f"{e.get('errorMessage')} (code {e.get('errorCode')})" for e in errors)
            raise UpstreamError(f"Albertsons answered: {text}")
        if self._source_of(response, entries) == "rxie":
            return [self._rxie_store(entry, f"store {i}") for i, entry in enumerate(entries)]
        if not entries:
            raise Unparseable(f"{response.url}: the clinic file lists no clinics at all")
        valid_at = _valid_at(response)
        clinics = (self._mhealth_clinic(e, f"clinic {i}", valid_at) for i, e in enumerate(entries))
        return [clinic for clinic in clinics if clinic is not None]

    def _source_of(self, response: Response, entries: list[Any]) -> str:
        if entries:
            first = entries[0]
            if isinstance(first, dict) and "store" in first:
                return "rxie"
            if isinstance(first, dict) and "coach_url" in first:
                return "mhealth"
            raise Unparseable(f"{response.url}: entries are neither stores nor clinics")
        path = urlsplit(response.url).path
        if path.endswith("/service-availability"):
            return "rxie"
        return "mhealth" if path.endswith("/vaccineAvailability.json") else self.settings.source

    def _rxie_store(self, raw: object, where: str) -> LocationAvailability:
        entry = as_dict(raw, where)
        store = as_dict(entry.get("store"), f"{where} store")
        number = opt_str(store.get("currentStoreNumber")) or req_str(store, "storeNumber", where)
        if not _STORE_NUMBER.match(number):
            raise Unparseable(f"{where}: store number {number!r} is not a number")
        store_id = str(int(number))  # "0852": the stores themselves drop the zeros
        where = f"store {store_id}"
        raw_name = req_str(store, "storeName", where)
        street = req_str(store, "streetAddress", where)
        line2 = opt_str(store.get("streetAddress2"))
        zip_code = store.get("zip")
        location = finish_location(
            Location(
                id=store_id,
                name=f"{BRANDS.get(raw_name.upper(), raw_name.title())} #{store_id}",
                address=f"{street}, {line2}" if line2 else street,
                city=opt_str(store.get("city")),
                state=opt_str(store.get("state")),
                postal_code=opt_str(str(zip_code)) if isinstance(zip_code, str | int) else None,
                lat=opt_float(store.get("latitude")),
                lon=opt_float(store.get("longitude")),
                booking_url=self.settings.booking_url,
                phone=opt_str(store.get("telephone")),
            )
        )
        if location.postal_code is None and location.lat is None:
            raise Unparseable(f"{where}: neither a ZIP nor coordinates")
        services = as_list(entry.get("serviceTypes"), f"{where} serviceTypes")
        names = [opt_str(as_dict(s, f"{where} service").get("serviceTypeName")) for s in services]
        products = [p for n in names if n and (p := rxie_product(n))]
        # listed at all = has openings; the API gives no count
        return LocationAvailability(
            location=location, status=Status.AVAILABLE, products=tuple(dict.fromkeys(products))
        )

    def _mhealth_clinic(
        self, raw: object, where: str, valid_at: dt.datetime | None
    ) -> LocationAvailability | None:
        entry = as_dict(raw, where)
        raw_id = entry.get("id")
        numeric = isinstance(raw_id, int) and not isinstance(raw_id, bool)
        clinic_id = str(raw_id) if numeric else req_str(entry, "id", where)
        where = f"clinic {clinic_id}"
        text = req_str(entry, "address", where)
        name, street, city, state, zip_code = split_address(text)
        if name and _TEST_ENTRY.match(name):
            return None  # Albertsons' own test entries
        link = opt_str(entry.get("coach_url"))
        location = finish_location(
            Location(
                id=clinic_id,
                name=name or street or text,
                address=street,
                city=city,
                state=state,
                postal_code=zip_code,
                lat=opt_float(entry.get("lat")),
                lon=opt_float(entry.get("long")),
                # the deep link books this clinic; the generic page lists them all
                booking_url=link
                if link and link.startswith("https://")
                else self.settings.mhealth_booking_url,
            )
        )
        if location.postal_code is None and location.lat is None:
            raise Unparseable(f"{where}: neither a ZIP nor coordinates in {text!r}")
        availability = entry.get("availability")
        if availability not in ("yes", "no"):
            raise Unparseable(f"{where}: availability is {availability!r}, not yes/no")
        if availability == "no":
            return LocationAvailability(location, Status.NONE, appointments=0, valid_at=valid_at)
        drugs = entry.get("drugName") or []
        products = [mhealth_product(d) for d in as_list(drugs, f"{where} drugName") if opt_str(d)]
        return LocationAvailability(
            location, Status.AVAILABLE, products=tuple(dict.fromkeys(products)), valid_at=valid_at
        )
