"""Epic MyChart open scheduling (``GetOpeningsForProvider``), as Boston Medical Center ran it.

MyChart's public scheduling widget needs an anti-forgery token. A poll GETs the embedded
schedule page (``<base>/SignupAndSchedule/EmbeddedSchedule?id=<providers>&dept=<departments>
&vt=<visit type>``), which sets a session cookie (the core's client keeps cookies within a
poll) and carries ``input[name=__RequestVerificationToken]``. With that token as a header, it
POSTs the openings query to ``<base>/OpenScheduling/OpenScheduling/GetOpeningsForProvider``
once per week polled (``start=YYYY-MM-DD`` plus the provider, department and day filters).

The answer lists the departments (``AllDepartments``: name and street address) and the open
days (``AllDays``: one entry per provider, department and day, with its ``Slots``). Dates are
the clinic's local dates. Weeks may overlap, so slots are counted once by provider, department,
day and time. An answer with an ``ErrorCode`` (``StartDateTooFarInFuture`` when ``start`` is past
the booking horizon) raises ``UpstreamError``: it is an error, never zero. The defaults are
BMC's five vaccination sites.

Rate limit: none published. A poll is one page GET plus ``weeks`` POSTs (one by default),
and polls are at least a minute apart (five minutes by default).
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict, Field

from notifier.geo import complete_location
from notifier.model import Location, LocationAvailability
from notifier.scraping import (
    Example,
    Request,
    Response,
    ScrapeError,
    Scraper,
    Unparseable,
    UpstreamError,
)
from scrapers._html import (
    FORM_HEADERS,
    add_count,
    form_body,
    html_document,
    json_document,
    raise_unrecognised,
    response_date,
    squash,
)

__all__ = ["MyChartScraper", "MyChartSettings"]

_EXPECTED = "a MyChart GetOpeningsForProvider answer"
_TOKEN_INPUT = "input[name=__RequestVerificationToken]"
_ROSLINDALE = "10098243"


class MyChartSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    base_url: str = "https://mychartscheduling.bmc.org/MyChartscheduling"
    provider_ids: list[str] = Field(
        default_factory=lambda: ["10033319", "10033364", "10033367", "10033370", "10033373"]
    )
    department_ids: list[str] = Field(
        default_factory=lambda: ["10098241", "10098242", "10098243", "10098244", "10098245"]
    )
    visit_type: str = Field("2008", description="COVID-19 Vaccine 1st at BMC.")
    weeks: int = Field(
        1,
        ge=1,
        le=8,
        description="Weeks polled; past the booking horizon MyChart answers an error.",
    )
    time_zone: str = "America/New_York"
    booking_url: str = "https://mychartscheduling.bmc.org/MyChartscheduling/covid19#/scheduling"


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _text(record: Mapping[str, Any], key: str) -> str | None:
    value = record.get(key)
    return squash(value) or None if isinstance(value, str) else None


def _coordinate(record: Mapping[str, Any], key: str) -> float | None:
    value = record.get(key)
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    try:
        return float(value) if isinstance(value, str) and value.strip() else None
    except ValueError:
        return None


def _department_location(dept_id: str, info: Mapping[str, Any], booking_url: str) -> Location:
    address = _mapping(info.get("Address"))
    street = address.get("Street")
    lines = (
        [squash(s) for s in street if isinstance(s, str) and s.strip()]
        if isinstance(street, list)
        else []
    )
    city = _text(address, "City")
    state = _text(address, "StateAbbreviation") or _text(address, "StateName")
    return complete_location(
        Location(
            id=dept_id,
            name=_text(info, "Name") or f"MyChart department {dept_id}",
            address=", ".join(lines) or None,
            # BMC types some cities in capitals ("ROSLINDALE"); people read "Roslindale".
            city=city.title() if city and city.isupper() else city,
            state=state if state and len(state) == 2 else None,
            postal_code=_text(address, "PostalCode"),
            lat=_coordinate(info, "Latitude"),
            lon=_coordinate(info, "Longitude"),
            phone=_text(info, "Phone") or _text(info, "PhoneForScheduling"),
            booking_url=booking_url,
        )
    )


SlotKey = tuple[str, str, str, str]


def _openings(data: Mapping[str, Any], response: Response) -> set[SlotKey]:
    """Every open slot as (provider, department, day, time): overlapping weeks count once."""
    days = data.get("AllDays")
    if not isinstance(days, Mapping):
        raise Unparseable(f"{response.url}: {_EXPECTED} without AllDays")
    found: set[SlotKey] = set()
    for key, value in days.items():
        day = _mapping(value)
        dept = _text(day, "DepartmentID")
        date = _text(day, "DateISO")
        slots = day.get("Slots")
        if dept is None or date is None or not isinstance(slots, list):
            raise Unparseable(f"MyChart day {key!r} lacks DepartmentID, DateISO or Slots")
        provider = _text(day, "ProviderID") or ""
        for index, value_slot in enumerate(slots):
            slot = _mapping(value_slot)
            time = _text(slot, "StartTimeISO") or _text(slot, "SlotIndex") or str(index)
            found.add((provider, dept, date, time))
    return found


class MyChartScraper(Scraper[MyChartSettings]):
    """Epic MyChart open scheduling (token page, then GetOpeningsForProvider per week)."""

    name = "mychart"
    provider = "Boston Medical Center (Epic MyChart open scheduling)"
    regions = ("US-MA",)
    maintainer = "scrapers team <scrapers@appointment-notifier.org>"
    default_interval = 300.0
    min_interval = 60.0
    source_format = "api"
    none_when = ("departments with no openings in AllDays (the none example)",)
    unknown_when = (
        "an error code in the answer (error.json: StartDateTooFarInFuture)",
        "an answer without AllDays or AllDepartments",
        "HTTP errors, timeouts",
    )
    examples = (
        Example(
            files=("bmc-availability.json",),
            expect={
                "locations": 5,
                "appointments": 1,
                "slots": 1,
                "by_location": {
                    _ROSLINDALE: {
                        "name": "Roslindale COVID-19 Vaccination Site @ 17 Corinth Street",
                        "city": "Roslindale",
                        "postal_code": "02131",
                        "status": "available",
                        "appointments": 1,
                        "by_date": {"2021-04-03": 1},
                    }
                },
            },
            note="optional-fields: phone, valid_at, products",
        ),
        Example(
            files=("bmc-availability.json",),
            expect={
                "by_location": {
                    dept: {"status": "none", "appointments": 0, "by_date": {}}
                    for dept in ("10098241", "10098242", "10098244", "10098245")
                }
            },
            note="the four BMC sites with nothing open in the same real answer",
        ),
        Example(files=("error.json",), raises=UpstreamError, note="StartDateTooFarInFuture"),
    )

    # ------------------------------------------------------------------ requests

    def requests(self) -> list[Request]:
        c = self.settings
        return [
            Request(
                url=f"{c.base_url.rstrip('/')}/SignupAndSchedule/EmbeddedSchedule",
                params={
                    "id": ",".join(c.provider_ids),
                    "dept": ",".join(c.department_ids),
                    "vt": c.visit_type,
                    "lang": "en-US",
                },
                label="mychart token page",
            )
        ]

    def follow(self, response: Response) -> list[Request]:
        """From the token page: one openings query per week, from the poll's local date."""
        try:
            if response.body.lstrip()[:1] != b"<":
                return []  # an openings answer: nothing follows it
            token_input = html_document(response).select_one(_TOKEN_INPUT)
        except ScrapeError:
            return []
        token = token_input.get("value") if token_input is not None else None
        if not isinstance(token, str) or not token.strip():
            return []  # parse() reports the page
        c = self.settings
        first = response.fetched_at.astimezone(ZoneInfo(c.time_zone)).date()
        return [
            self._openings_request(token.strip(), first + dt.timedelta(weeks=w))
            for w in range(c.weeks)
        ]

    def _openings_request(self, token: str, start: dt.date) -> Request:
        c = self.settings
        filters = {
            "Providers": dict.fromkeys(c.provider_ids, True),
            "Departments": dict.fromkeys(c.department_ids, True),
            "DaysOfWeek": {str(d): True for d in range(7)},
            "TimesOfDay": "both",
        }
        fields = [
            ("id", ",".join(c.provider_ids)),
            ("vt", c.visit_type),
            ("dept", ",".join(c.department_ids)),
            ("view", "grouped"),
            ("start", start.isoformat()),
            ("filters", json.dumps(filters, separators=(",", ":"))),
        ]
        return Request(
            url=f"{c.base_url.rstrip('/')}/OpenScheduling/OpenScheduling/GetOpeningsForProvider",
            method="POST",
            headers={**FORM_HEADERS, "__RequestVerificationToken": token},
            data=form_body(fields),
            label=f"mychart openings from {start.isoformat()}",
        )

    # ------------------------------------------------------------------ parsing

    def parse(self, response: Response) -> list[LocationAvailability]:
        return self.parse_all([response])

    def parse_all(self, responses: Sequence[Response]) -> list[LocationAvailability]:
        departments: dict[str, Mapping[str, Any]] = {}
        slots: set[SlotKey] = set()
        valid: list[dt.datetime] = []
        answered = False
        for response in responses:
            if response.body.lstrip()[:1] == b"<":
                self._check_token_page(response)
                continue
            data = json_document(response, _EXPECTED)
            if not isinstance(data, Mapping):
                raise Unparseable(f"{response.url}: expected {_EXPECTED}")
            code = data.get("ErrorCode")
            if code:
                raise UpstreamError(f"MyChart answered error {squash(str(code))[:80]}")
            listed = data.get("AllDepartments")
            if not isinstance(listed, Mapping):
                raise Unparseable(f"{response.url}: {_EXPECTED} without AllDepartments")
            departments.update((str(k), _mapping(v)) for k, v in listed.items())
            slots |= _openings(data, response)
            answered = True
            when = response_date(response)
            if when is not None:
                valid.append(when)
        if not answered:
            raise Unparseable("the poll holds no MyChart openings answer (only the token page?)")
        return self._results(departments, slots, min(valid) if valid else None)

    def _check_token_page(self, response: Response) -> None:
        doc = html_document(response)
        if doc.select_one(_TOKEN_INPUT) is None:
            raise_unrecognised(response, "the MyChart scheduling page with its token")

    def _results(
        self,
        departments: Mapping[str, Mapping[str, Any]],
        slots: Iterable[SlotKey],
        valid_at: dt.datetime | None,
    ) -> list[LocationAvailability]:
        counts: dict[str, dict[dt.date, int | None]] = {d: {} for d in departments}
        for _provider, dept, date, _time in slots:
            try:
                day = dt.date.fromisoformat(date[:10])
            except ValueError as exc:
                raise Unparseable(f"MyChart date {date!r} is not a date") from exc
            add_count(counts.setdefault(dept, {}), day, 1)
        return [
            LocationAvailability.from_counts(
                _department_location(dept, departments.get(dept, {}), self.settings.booking_url),
                by_date,
                slots=sum(n or 0 for n in by_date.values()),
                valid_at=valid_at,
            )
            for dept, by_date in counts.items()
        ]
