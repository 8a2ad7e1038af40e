"""Acuity Scheduling: one engine for the three public calendar templates clinics used.

A clinic's scheduling page (``<base>/schedule.php?owner=...``) loads its calendar with a POST to
``schedule.php?action=showCalendar&fulldate=1&owner=<owner>&template=<template>``. The answer is
an HTML fragment in one of three templates, recognised from the markup (not from the settings,
so a clinic that switches template keeps working):

* **weekly**: one ``input.time-selection`` per open slot, dated by ``data-readable-date``;
  nothing open shows ``#no-times-available-message``. "More Times" steps to later weeks.
* **class**: a table of group sessions, each a ``td.class-signup-container`` whose sign-up link
  carries ``data-time`` and whose ``.num-slots-available-container`` gives the spots left.
  Acuity renders every row twice (phone and desktop layouts); the desktop copy is marked
  ``hidden-xs`` and is skipped, else every count doubles. "More Times" pages on by offset.
* **monthly**: a month grid where a day with openings is ``td.activeday`` (no count, so the day
  maps to None); a month with nothing shows ``.no-dates-available``. Later months come from the
  month chooser.

A visible ``.alert-danger`` (Acuity's error flash) raises ``UpstreamError``, except the
messages that say plainly that nothing can be booked ("All appointment types are private,
none are available for scheduling"): those are ``none``. The pages carry no
clinic address, so the location comes from the settings; the defaults describe Heywood
Healthcare's Gardner clinic, whose class list is in the fixtures.

Rate limit: Acuity publishes none for public scheduling pages. A poll is one POST plus at most
``max_pages - 1`` follow-up pages; polls are at least a minute apart (five minutes by default).
"""

from __future__ import annotations

import json
import re
from urllib.parse import parse_qsl, unquote, urlencode

from bs4 import BeautifulSoup
from pydantic import BaseModel, ConfigDict, Field

from notifier.geo import complete_location
from notifier.model import Location, LocationAvailability
from notifier.scraping import (
    Example,
    Request,
    Response,
    ScrapeError,
    Scraper,
    UpstreamError,
)
from scrapers._acuity_pages import (
    Template,
    attr,
    count_openings,
    detect_template,
    error_flash,
    iso_day,
)
from scrapers._html import (
    FORM_HEADERS,
    form_body,
    html_document,
    raise_unrecognised,
    response_date,
)

__all__ = ["AcuityScraper", "AcuitySettings"]

#: error-flash messages that say plainly that nothing can be booked (status none)
NOTHING_TO_BOOK = re.compile(
    r"appointment types are private|none are available for scheduling|"
    r"no appointments? (?:are|is) available",
    re.I,
)
_OFFSET = re.compile(r"offset\s*:\s*(\d+)")
_SHOW_CALENDAR = re.compile(r"showCalendar\(\s*'([^']*)'\s*,\s*([^)]*)\)")


class AcuitySettings(BaseModel):
    """One Acuity calendar (owner, appointment type, calendar) and the clinic it books."""

    model_config = ConfigDict(extra="forbid")

    base_url: str = Field(
        "https://gardnervaccinations.as.me",
        description="The owner's scheduling host: app.acuityscheduling.com or <name>.as.me.",
    )
    owner: str = Field("21588707", description="Acuity owner id (the 'owner=' of the page URL).")
    template: Template = Field("class", description="Template requested; parsing auto-detects.")
    appointment_type: str = Field("", description="Appointment type id; empty for all types.")
    calendar_id: str = Field("", description="Calendar id; empty for all calendars.")
    num_days: int = Field(27, ge=1, le=60, description="Acuity's options[numDays].")
    max_pages: int = Field(4, ge=1, le=12, description="Pages per poll, first one included.")
    location_id: str = "heywood-gardner"
    name: str = "Heywood Healthcare Vaccination Clinic (Gardner)"
    address: str | None = "171 Kendall Pond Rd W"
    city: str | None = "Gardner"
    state: str | None = "MA"
    postal_code: str | None = "01440"
    lat: float | None = None
    lon: float | None = None
    time_zone: str | None = None
    phone: str | None = None
    booking_url: str | None = Field(None, description="Defaults to the owner's scheduling page.")


_GLFHC = {
    "base_url": "https://glfhccovid19iz.as.me",
    "owner": "21956779",
    "template": "weekly",
    "appointment_type": "20223228",
    "calendar_id": "5075244",
    "num_days": 5,
    "location_id": "glfhc-essex-street",
    "name": "Greater Lawrence Family Health Center (Essex Street)",
    "address": "700 Essex St",
    "city": "Lawrence",
    "postal_code": "01841",
}
_HARRINGTON = {
    "base_url": "https://app.acuityscheduling.com",
    "owner": "22192301",
    "template": "weekly",
    "appointment_type": "20819310",
    "calendar_id": "5202038",
    "location_id": "harrington-southbridge",
    "name": "Harrington HealthCare: Southbridge Community Center",
    "address": "153 Chestnut St",
    "city": "Southbridge",
    "postal_code": "01550",
}
_TRINITY = {
    "base_url": "https://app.acuityscheduling.com",
    "owner": "21713854",
    "template": "monthly",
    "appointment_type": "19620839",
    "calendar_id": "5109380",
    "location_id": "trinity-ems-haverhill",
    "name": "Trinity EMS (DiBurro's Function Facility)",
    "address": "887 Boston Rd",
    "city": "Haverhill",
    "postal_code": "01835",
}


def _fields(request: Request) -> dict[str, str]:
    return dict(parse_qsl(request.data.decode("ascii", "replace"))) if request.data else {}


class AcuityScraper(Scraper[AcuitySettings]):
    """Acuity Scheduling calendars (weekly, class list and monthly templates)."""

    name = "acuity"
    provider = "Acuity Scheduling (clinic booking calendars)"
    regions = ("US-MA",)
    maintainer = "scrapers team <scrapers@appointment-notifier.org>"
    default_interval = 300.0
    min_interval = 60.0
    source_format = "html"
    examples = (
        Example(
            files=("glfhc-2021-04-14.html",),
            settings=_GLFHC,
            expect={
                "locations": 1,
                "appointments": 53,
                "slots": 53,
                "by_location": {
                    "glfhc-essex-street": {
                        "status": "available",
                        "postal_code": "01841",
                        "by_date": {"2021-04-14": 17, "2021-04-15": 22, "2021-04-16": 14},
                    }
                },
            },
        ),
        Example(
            files=("glfhc-none.html",),
            settings=_GLFHC,
            expect={"locations": 1, "appointments": 0, "slots": 0, "status": "none"},
        ),
        Example(
            files=("harrington-2021-03.html",),
            settings=_HARRINGTON,
            expect={
                "appointments": 9,
                "by_location": {
                    "harrington-southbridge": {
                        "status": "available",
                        "by_date": {"2021-03-29": 4, "2021-04-07": 2, "2021-04-08": 3},
                    }
                },
            },
        ),
        Example(
            files=("harrington-none.html",),
            settings=_HARRINGTON,
            expect={"locations": 1, "appointments": 0, "status": "none"},
        ),
        Example(
            files=("heywood-page1.html",),
            expect={
                "appointments": 0,
                "status": "none",
                "by_location": {"heywood-gardner": {"by_date": {"2021-04-14": 0}}},
            },
            note="the first page of the class list: every session shown is full; More Times",
        ),
        Example(
            files=("heywood-page2.html",),
            expect={
                "appointments": 107,
                "by_location": {
                    "heywood-gardner": {"status": "available", "by_date": {"2021-04-14": 107}}
                },
            },
        ),
        Example(
            files=("heywood-page2-none.html",),
            expect={"locations": 1, "appointments": 0, "status": "none"},
        ),
        Example(
            files=("heywood-page1.html", "heywood-page2.html", "heywood-page3-synthetic.html"),
            expect={
                "locations": 1,
                "appointments": 116,
                "by_location": {
                    "heywood-gardner": {
                        "status": "available",
                        "appointments": 116,
                        "by_date": {"2021-04-14": 116},
                        "postal_code": "01440",
                    }
                },
            },
            note="one poll paging through More Times; page 3 is synthetic (9 spots)",
        ),
        Example(
            files=("trinity-2021-02.html",),
            settings=_TRINITY,
            expect={
                "by_location": {
                    "trinity-ems-haverhill": {
                        "status": "available",
                        "appointments": None,
                        "slots": None,
                        "by_date": {"2021-02-25": None, "2021-02-26": None},
                    }
                }
            },
            note="optional-fields: appointments, slots, phone, valid_at",
        ),
        Example(
            files=("trinity-2021-03.html",),
            settings=_TRINITY,
            expect={
                "by_location": {
                    "trinity-ems-haverhill": {
                        "status": "available",
                        "by_date": {f"2021-03-{day}": None for day in (17, 18, 22, 23, 24, 25, 26)},
                    }
                }
            },
        ),
        Example(
            files=("trinity-none.html",),
            settings=_TRINITY,
            expect={"locations": 1, "appointments": 0, "status": "none"},
        ),
        Example(files=("error-synthetic.html",), raises=UpstreamError),
        Example(
            files=("private-types-synthetic.html",),
            expect={"locations": 1, "appointments": 0, "status": "none"},
            note="all appointment types private: nothing to book, not an error",
        ),
    )
    none_when = (
        "weekly calendar: #no-times-available-message (glfhc-none.html, harrington-none.html)",
        "class list without sessions or with every session full (heywood-page2-none.html)",
        "monthly calendar: .no-dates-available (trinity-none.html)",
        "error flash 'All appointment types are private, none are available for scheduling' "
        "(private-types-synthetic.html)",
    )
    unknown_when = (
        "any other visible error flash, e.g. an appointment type no longer valid "
        "(error-synthetic.html)",
        "a page that is none of the three calendar templates",
        "HTTP errors, timeouts, block pages",
    )

    # ------------------------------------------------------------------ requests

    def _calendar_url(self) -> str:
        return f"{self.settings.base_url.rstrip('/')}/schedule.php"

    def _request(self, extra: list[tuple[str, str]], label: str) -> Request:
        c = self.settings
        fields = [
            ("type", c.appointment_type),
            ("calendar", c.calendar_id),
            *extra,
            ("skip", "true"),
            ("options[qty]", "1"),
            ("options[numDays]", str(c.num_days)),
            ("ignoreAppointment", ""),
            ("appointmentType", ""),
            ("calendarID", c.calendar_id),
        ]
        return Request(
            url=self._calendar_url(),
            method="POST",
            params={
                "action": "showCalendar",
                "fulldate": "1",
                "owner": c.owner,
                "template": c.template,
            },
            headers=FORM_HEADERS,
            data=form_body(fields),
            label=label,
        )

    def requests(self) -> list[Request]:
        return [self._request([], f"acuity {self.settings.template} calendar, page 1")]

    def follow(self, response: Response) -> list[Request]:
        """The next "More Times" page (class, weekly) or the next months (monthly)."""
        try:
            doc = html_document(response)
        except ScrapeError:
            return []  # parse() reports the bad page; there is nothing to page on from it
        template = detect_template(doc)
        sent = _fields(response.request)
        if template == "class":
            return self._next_class_page(doc, sent)
        if template == "weekly":
            return self._next_week(doc, sent)
        if template == "monthly" and "month" not in sent:
            return self._next_months(doc)
        return []

    def _next_class_page(self, doc: BeautifulSoup, sent: dict[str, str]) -> list[Request]:
        link = doc.select_one("a.calendar-next")
        match = _OFFSET.search(attr(link, "href") or "") if link else None
        if match is None:
            return []
        sent_offset = sent.get("options[offset]", "")
        current = int(sent_offset) if sent_offset.isdigit() else 0
        following = int(match.group(1))
        step = following - current
        if step <= 0 or following // step >= self.settings.max_pages:
            return []
        extra = [("month", ""), ("options[offset]", str(following))]
        return [self._request(extra, f"acuity class list, offset {following}")]

    def _next_week(self, doc: BeautifulSoup, sent: dict[str, str]) -> list[Request]:
        # Later weeks are only worth asking for while this one had openings.
        if not doc.select_one("input.time-selection"):
            return []
        page = 1 + sum(1 for key in sent if key.startswith("options[nextprev]"))
        link = doc.select_one("a.calendar-next")
        match = _SHOW_CALENDAR.search(unquote(attr(link, "href") or "")) if link else None
        if match is None or page >= self.settings.max_pages:
            return []
        try:
            options = json.loads(match.group(2))
        except (ValueError, RecursionError):
            return []
        nextprev = options.get("nextprev") if isinstance(options, dict) else None
        if not isinstance(nextprev, dict):
            return []
        extra = [("month", match.group(1))]
        extra += [(f"options[nextprev][{k}]", str(v)) for k, v in nextprev.items()]
        return [self._request(extra, f"acuity weekly calendar from {match.group(1)}")]

    def _next_months(self, doc: BeautifulSoup) -> list[Request]:
        chooser = doc.select_one("#chooseMonthSched")
        if chooser is None:
            return []
        options = chooser.select("option")
        selected = next((i for i, o in enumerate(options) if o.has_attr("selected")), 0)
        later = [attr(o, "value") or "" for o in options[selected + 1 :]]
        later = [v for v in later if iso_day(v)][: self.settings.max_pages - 1]
        return [self._request([("month", v)], f"acuity monthly calendar {v}") for v in later]

    # ------------------------------------------------------------------ parsing

    def location(self) -> Location:
        c = self.settings
        booking = c.booking_url or self._calendar_url() + "?" + urlencode(
            [("owner", c.owner)]
            + ([("appointmentType", c.appointment_type)] if c.appointment_type else [])
            + ([("calendarID", c.calendar_id)] if c.calendar_id else [])
        )
        return complete_location(
            Location(
                id=c.location_id,
                name=c.name,
                address=c.address,
                city=c.city,
                state=c.state,
                postal_code=c.postal_code,
                lat=c.lat,
                lon=c.lon,
                time_zone=c.time_zone,
                booking_url=booking,
                phone=c.phone,
            )
        )

    def parse(self, response: Response) -> list[LocationAvailability]:
        doc = html_document(response)
        error = error_flash(doc)
        if error is not None and NOTHING_TO_BOOK.search(error):
            # Acuity's flash also says "nothing can be booked here": that is an answer.
            return [
                LocationAvailability.from_counts(
                    self.location(), {}, slots=0, valid_at=response_date(response)
                )
            ]
        if error is not None:
            raise UpstreamError(f"Acuity shows an error: {error[:200]}")
        template = detect_template(doc)
        if template is None:
            raise_unrecognised(response, "an Acuity calendar (weekly, class or monthly)")
        by_date, slots = count_openings(doc, template)
        return [
            LocationAvailability.from_counts(
                self.location(), by_date, slots=slots, valid_at=response_date(response)
            )
        ]
