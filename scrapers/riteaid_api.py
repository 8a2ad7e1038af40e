"""Rite Aid's count-level partner API: open appointments per store and day, one state a call.

The response wraps everything in ``{"Status", "ErrCde", "ErrMsg", "ErrMsgDtl", "Data"}``; a
``Status`` other than ``SUCCESS`` (``{"Status":"ERROR","ErrMsg":"RiteAid API timed out"}``) is
an explicit upstream error and never "no appointments". Each store lists days as
``{date, total_slots, available_slots}``; a day with ``total_slots`` 0 is a day without a
clinic, which reads as 0 open, not as unknown.

Rate limit: Rite Aid gives partners no published limit; one call returns a whole state, so we
poll each state at most once a minute and by default every 10 minutes (UNIVAF, which used this
API in 2021, polled it every 30 minutes).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import replace
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, SecretStr

from notifier.model import Location, LocationAvailability
from notifier.scraping import Example, Request, Response, Scraper, Unparseable, UpstreamError
from scrapers._api_common import (
    as_dict,
    as_list,
    decode_json,
    finish_location,
    opt_str,
    parse_day,
    req_int,
    req_str,
)

__all__ = ["RiteAidApi", "RiteAidApiSettings", "raise_for_rite_aid_error"]

#: Where Rite Aid sends people to book; the API repeats it per store.
BOOKING_URL = "https://www.riteaid.com/pharmacy/covid-qualifier"
#: States with Rite Aid stores (2021).
RITE_AID_STATES = (
    "CA", "CO", "CT", "DE", "ID", "MA", "MD", "MI", "NH",
    "NJ", "NV", "NY", "OH", "OR", "PA", "VA", "VT", "WA",
)  # fmt: skip


class RiteAidApiSettings(BaseModel):
    """Rite Aid issues the endpoint and key to partners; neither is public."""

    model_config = ConfigDict(extra="forbid")

    api_url: str = Field("", description="The partner endpoint Rite Aid issued (https://...).")
    api_key: SecretStr = Field(SecretStr(""), description="Sent as 'Proxy-Authorization: ldap'.")
    states: tuple[str, ...] = Field(("NJ",), description="Two-letter states, one call each.")
    booking_url: str = BOOKING_URL


def raise_for_rite_aid_error(document: object, url: str) -> dict[str, Any]:
    """The wrapper object, after refusing an explicit ``Status`` error."""
    wrapper = as_dict(document, url)
    status = wrapper.get("Status")
    if status != "SUCCESS":
        code = opt_str(wrapper.get("ErrCde")) or "no code"
        message = opt_str(wrapper.get("ErrMsg")) or "no message"
        raise UpstreamError(f"Rite Aid answered Status={status!r} ({code}): {message}")
    return wrapper


def _valid_at(text: str | None) -> dt.datetime | None:
    """``"2021/04/23 14:52:05"`` is UTC (checked against poll times by UNIVAF in 2021)."""
    if text is None:
        return None
    try:
        return dt.datetime.strptime(text, "%Y/%m/%d %H:%M:%S").replace(tzinfo=dt.UTC)
    except ValueError:
        return None


class RiteAidApi(Scraper[RiteAidApiSettings]):
    """Rite Aid stores of one or more states, with open appointments per day."""

    name = "riteaid-api"
    provider = "Rite Aid"
    regions = tuple(f"US-{state}" for state in RITE_AID_STATES)
    maintainer = "Appointment Notifier maintainers"
    default_interval = 600.0
    min_interval = 60.0
    source_format = "api"
    none_when = ("days with available_slots 0 or total 0 (nj-116-fully-booked.json)",)
    unknown_when = (
        "a Status other than SUCCESS (error-timed-out.json: 'RiteAid API timed out')",
        "more open than total slots",
        "HTTP errors, timeouts",
    )
    examples = (
        Example(
            files=("nj-2021-04.json",),
            expect={
                "locations": 108,
                "appointments": 30491,
                "by_location": {
                    "116": {
                        "name": "Rite Aid #116",
                        "address": "907 North High Street",
                        "city": "Millville",
                        "state": "NJ",
                        "postal_code": "08332",
                        "status": "available",
                        "appointments": 1078,
                        "booking_url": BOOKING_URL,
                        "valid_at": "2021-04-23T14:52:05+00:00",
                        "by_date": {
                            "2021-04-23": 8,
                            "2021-04-24": 21,
                            "2021-04-25": 0,
                            "2021-04-26": 0,
                            "2021-04-27": 21,
                            "2021-04-28": 23,
                            "2021-04-29": 34,
                            "2021-04-30": 36,
                            "2021-05-01": 37,
                            "2021-05-02": 0,
                            "2021-05-03": 0,
                            "2021-05-04": 183,
                            "2021-05-05": 179,
                            "2021-05-06": 185,
                            "2021-05-07": 171,
                            "2021-05-08": 167,
                            "2021-05-09": 0,
                            "2021-05-10": 0,
                            "2021-05-11": 13,
                        },
                    },
                    "135": {"postal_code": "08046", "appointments": 168},
                },
            },
            note="asserted: 108 stores; #116 19 days, 04-23 = 8, 05-04 = 183, 05-11 = 13. "
            "derived: the other days and totals.",
        ),
        Example(
            files=("nj-2021-04.json",),
            expect={"locations": 108, "slots": 0},
            note="optional-fields: slots, products",
        ),
        Example(
            files=("nj-116-fully-booked.json",),
            expect={
                "locations": 1,
                "status": "none",
                "by_location": {"116": {"appointments": 0, "postal_code": "08332"}},
            },
        ),
        Example(files=("error-timed-out.json",), raises=UpstreamError),
    )

    def requests(self) -> list[Request]:
        if not self.settings.api_url.startswith("https://"):
            raise ValueError(
                "riteaid-api needs settings.api_url (https) and api_key: Rite Aid issues them"
            )
        key = self.settings.api_key.get_secret_value()
        return [
            Request(
                url=self.settings.api_url,
                params={"stateCode": state.upper()},
                headers={"Proxy-Authorization": f"ldap {key}"},
                label=f"Rite Aid stores in {state.upper()}",
            )
            for state in self.settings.states
        ]

    def parse(self, response: Response) -> list[LocationAvailability]:
        wrapper = raise_for_rite_aid_error(decode_json(response), response.url)
        data = as_dict(wrapper.get("Data"), "Data")
        stores = as_list(data.get("providerDetails"), "Data.providerDetails")
        return [self._store(as_dict(s, f"providerDetails[{i}]")) for i, s in enumerate(stores)]

    def _store(self, store: dict[str, Any]) -> LocationAvailability:
        number = req_int(store, "id", "store", minimum=1)
        where = f"store {number}"
        place = as_dict(store.get("location"), f"{where} location")
        raw_contact = store.get("contact")
        contact: dict[str, Any] = raw_contact if isinstance(raw_contact, dict) else {}
        street = req_str(place, "street", where)
        line2 = opt_str(place.get("street_line_2"))
        booking = opt_str(contact.get("booking_url"))
        location = Location(
            id=str(number),
            name=f"Rite Aid #{number}",  # every store is named just "Rite Aid"
            address=f"{street}, {line2}" if line2 else street,
            city=opt_str(place.get("city")),
            state=opt_str(place.get("state")),
            postal_code=opt_str(place.get("zipcode")),
            booking_url=booking if booking and booking.startswith("http") else None,
            phone=opt_str(contact.get("booking_phone")) or opt_str(contact.get("info_phone")),
        )
        if location.booking_url is None:
            location = replace(location, booking_url=self.settings.booking_url)
        by_date: dict[dt.date, int] = {}
        for i, raw in enumerate(as_list(store.get("availability"), f"{where} availability")):
            day = as_dict(raw, f"{where} availability[{i}]")
            date = parse_day(day.get("date"), f"{where} availability[{i}]")
            total = req_int(day, "total_slots", f"{where} {date}")
            available = req_int(day, "available_slots", f"{where} {date}")
            if available > total:
                raise Unparseable(f"{where} {date}: {available} open of only {total}")
            # total 0 = no clinic that day: a firm "no", so 0 rather than unknown
            by_date[date] = by_date.get(date, 0) + (available if total else 0)
        return LocationAvailability.from_counts(
            finish_location(location),
            dict(by_date),
            valid_at=_valid_at(opt_str(store.get("last_updated"))),
        )
