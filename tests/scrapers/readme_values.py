"""Every expected value of shared/fixtures/README.md, transcribed so tests can assert it.

Tests may not read /work/shared (a user's clone has no such folder), so each README value is
written here once, next to the shared file it is about. Each shared file is named by its path
in shared/fixtures and a SHA-256 of its content; the test finds the committed copy anywhere
under scrapers/fixtures/ by that digest, so a renamed copy is found and an edited copy is not
(JSON is compared after canonical re-serialisation, so a re-indented copy of the same data
also matches).

The checks are phrased the way the README phrases them, and so mostly do not depend on how a
scraper models a place: "3 clinics" counts (location, date) pairs, which is 3 whether a clinic
is a location of its own or one date of a site; "05/13/2021 = 124" sums that date over
locations. PrepMod is the exception on purpose: its README values are checked the way external
checkers read them, one location per clinic (3 and 7 locations, each clinic's own products,
and no booking link on a clinic showing 0).

Values the README gives that cannot be checked from the shared files alone are listed in
``NOT_CHECKABLE`` with the reason, so nothing is silently dropped.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from notifier.model import LocationAvailability
from notifier.scraping import ScrapeError, UpstreamError

__all__ = ["NOT_CHECKABLE", "README_VALUES", "ReadmeValue", "SharedFile"]

Results = Sequence[LocationAvailability]


def _canonical_json(data: bytes) -> bytes | None:
    """JSON (or NDJSON) re-serialised canonically, so re-indented copies still match."""

    def dump(value: object) -> bytes:
        return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()

    try:
        return dump(json.loads(data))
    except ValueError:
        pass
    try:
        return b"\n".join(dump(json.loads(line)) for line in data.splitlines() if line.strip())
    except ValueError:
        return None


def content_digest(data: bytes) -> str:
    """SHA-256 of the canonical JSON for JSON/NDJSON files, else of the raw bytes."""
    canonical = _canonical_json(data) if data.strip()[:1] in (b"{", b"[") else None
    return hashlib.sha256(canonical if canonical is not None else data).hexdigest()


@dataclass(frozen=True)
class SharedFile:
    path: str  # relative to shared/fixtures
    digest: str  # content_digest() of the shared file


@dataclass(frozen=True)
class Where:
    """Selects locations by case-insensitive substrings of their fields (all must match)."""

    fields: Mapping[str, str] = field(default_factory=dict)

    def __call__(self, results: Results) -> list[LocationAvailability]:
        def matches(r: LocationAvailability) -> bool:
            data = {**r.to_json(), "phone": r.location.phone}
            return all(
                want.lower() in str(data.get(k) or "").lower() for k, want in self.fields.items()
            )

        return [r for r in results if matches(r)]

    def __str__(self) -> str:
        return " and ".join(f"{k}~{v!r}" for k, v in self.fields.items()) or "all locations"


EVERYWHERE = Where()


def where(**fields: str) -> Where:
    return Where(fields)


class Check:
    """One README statement about a parse result."""

    def problems(self, results: Results) -> list[str]:
        raise NotImplementedError


@dataclass(frozen=True)
class Locations(Check):
    count: int
    at: Where = EVERYWHERE

    def problems(self, results: Results) -> list[str]:
        got = len(self.at(results))
        return [] if got == self.count else [f"{self.at}: {self.count} locations, got {got}"]


@dataclass(frozen=True)
class Appointments(Check):
    total: int
    at: Where = EVERYWHERE

    def problems(self, results: Results) -> list[str]:
        got = sum(r.appointments or 0 for r in self.at(results))
        return [] if got == self.total else [f"{self.at}: {self.total} appointments, got {got}"]


@dataclass(frozen=True)
class Slots(Check):
    total: int
    at: Where = EVERYWHERE

    def problems(self, results: Results) -> list[str]:
        got = sum(r.slots or 0 for r in self.at(results))
        return [] if got == self.total else [f"{self.at}: {self.total} slots, got {got}"]


@dataclass(frozen=True)
class Clinics(Check):
    """Number of (location, date) pairs: a "clinic" in the README's PrepMod sense."""

    count: int
    at: Where = EVERYWHERE

    def problems(self, results: Results) -> list[str]:
        got = sum(len(r.by_date) for r in self.at(results))
        return [] if got == self.count else [f"{self.at}: {self.count} clinic dates, got {got}"]


@dataclass(frozen=True)
class Day(Check):
    """Open appointments on a local date, summed over the selected locations (absent = 0)."""

    date: str
    count: int
    at: Where = EVERYWHERE

    def problems(self, results: Results) -> list[str]:
        day = dt.date.fromisoformat(self.date)
        values = [r.by_date.get(day, 0) for r in self.at(results)]
        if None in values:
            return [f"{self.at}: {self.date} = {self.count}, got 'open, count unknown'"]
        got = sum(v or 0 for v in values)
        return [] if got == self.count else [f"{self.at}: {self.date} = {self.count}, got {got}"]


@dataclass(frozen=True)
class DayOpen(Check):
    """'yes' for a date: some selected location has openings that day (count or unknown)."""

    date: str
    at: Where = EVERYWHERE
    uncounted: bool = False  # the source says yes/no only, so the count must be None

    def problems(self, results: Results) -> list[str]:
        day = dt.date.fromisoformat(self.date)
        values = [r.by_date[day] for r in self.at(results) if day in r.by_date]
        if self.uncounted:
            ok = bool(values) and all(v is None for v in values)
            return [] if ok else [f"{self.at}: {self.date} yes with no count, got {values}"]
        ok = any(v is None or v > 0 for v in values)
        return [] if ok else [f"{self.at}: {self.date} should be open, got {values or 'absent'}"]


@dataclass(frozen=True)
class DayClosed(Check):
    """'no' for a date: absent or 0 at every selected location."""

    date: str
    at: Where = EVERYWHERE

    def problems(self, results: Results) -> list[str]:
        day = dt.date.fromisoformat(self.date)
        values = [r.by_date.get(day, 0) for r in self.at(results)]
        ok = bool(self.at(results)) and all(v == 0 for v in values)
        return [] if ok else [f"{self.at}: {self.date} should be closed, got {values}"]


@dataclass(frozen=True)
class Dates(Check):
    """The dates with openings (count or unknown) at the selected locations, exactly."""

    dates: tuple[str, ...]
    at: Where = EVERYWHERE

    def problems(self, results: Results) -> list[str]:
        got = sorted(
            {d.isoformat() for r in self.at(results) for d, n in r.by_date.items() if n != 0}
        )
        want = sorted(self.dates)
        return [] if got == want else [f"{self.at}: open dates {want}, got {got}"]


@dataclass(frozen=True)
class DateSpan(Check):
    """Openings start on ``first`` and end on ``last`` at the selected locations."""

    first: str
    last: str
    at: Where = EVERYWHERE

    def problems(self, results: Results) -> list[str]:
        dates = sorted(d for r in self.at(results) for d, n in r.by_date.items() if n != 0)
        got = (dates[0].isoformat(), dates[-1].isoformat()) if dates else None
        want = (self.first, self.last)
        return [] if got == want else [f"{self.at}: openings span {want}, got {got}"]


@dataclass(frozen=True)
class Status(Check):
    status: str  # every selected location; there must be at least one
    at: Where = EVERYWHERE

    def problems(self, results: Results) -> list[str]:
        got = [r.status.value for r in self.at(results)]
        ok = bool(got) and all(s == self.status for s in got)
        return [] if ok else [f"{self.at}: all {self.status}, got {got}"]


@dataclass(frozen=True)
class AvailableCount(Check):
    count: int

    def problems(self, results: Results) -> list[str]:
        got = sum(r.status.value == "available" for r in results)
        return [] if got == self.count else [f"{self.count} available locations, got {got}"]


@dataclass(frozen=True)
class PostalCodes(Check):
    """Every selected location's postal code starts with ``prefix`` and has 5 digits."""

    prefix: str
    at: Where = EVERYWHERE

    def problems(self, results: Results) -> list[str]:
        bad = [
            r.location.postal_code
            for r in self.at(results)
            if not (r.location.postal_code or "").startswith(self.prefix)
            or len((r.location.postal_code or "").split("-")[0]) != 5
        ]
        return [] if not bad else [f"{self.at}: postal codes should start {self.prefix}: {bad}"]


@dataclass(frozen=True)
class Products(Check):
    """Each alternative group must match one product (case-insensitive substring)."""

    groups: tuple[tuple[str, ...], ...]
    at: Where = EVERYWHERE
    only: bool = False  # no product outside the groups

    def problems(self, results: Results) -> list[str]:
        products = [p.lower() for r in self.at(results) for p in r.products]
        missing = [g for g in self.groups if not any(a in p for a in g for p in products)]
        extra = [
            p for p in products if self.only and not any(a in p for g in self.groups for a in g)
        ]
        if missing or extra or not products:
            return [f"{self.at}: products {products}, wanted {self.groups} (only={self.only})"]
        return []


@dataclass(frozen=True)
class BookingLinks(Check):
    """'Blocks showing 0 have no link': among the selected locations, ``closed`` show 0 on
    every date and have no booking link, and ``open`` have openings and a link."""

    closed: int
    open: int
    at: Where = EVERYWHERE

    def problems(self, results: Results) -> list[str]:
        selected = self.at(results)
        shut = [r for r in selected if r.by_date and all(n == 0 for n in r.by_date.values())]
        rest = [r for r in selected if r not in shut]
        problems = [
            f"{self.at}: {r.location.id} shows 0 but links to {r.location.booking_url!r}"
            for r in shut
            if r.location.booking_url is not None
        ] + [
            f"{self.at}: {r.location.id} is open but has no link"
            for r in rest
            if not r.location.booking_url
        ]
        if (len(shut), len(rest)) != (self.closed, self.open):
            problems.append(
                f"{self.at}: {self.closed} locations showing 0 and {self.open} open, "
                f"got {len(shut)} and {len(rest)}"
            )
        return problems


@dataclass(frozen=True)
class ValidAt(Check):
    when: str  # ISO 8601 with offset

    def problems(self, results: Results) -> list[str]:
        want = dt.datetime.fromisoformat(self.when.replace("Z", "+00:00"))
        got = [r.valid_at for r in results]
        ok = bool(got) and all(v == want for v in got)
        return [] if ok else [f"valid_at {want.isoformat()}, got {got}"]


@dataclass(frozen=True)
class Follows(Check):
    """``follow`` of the (single) response asks for at least one more page. Run by the test."""

    minimum: int = 1

    def problems(self, results: Results) -> list[str]:
        return []  # evaluated on the response, see tests/scrapers/test_meta.py


@dataclass(frozen=True)
class ReadmeValue:
    """One README row (or part of one) checked against one parse of the committed copies."""

    scraper: str
    files: tuple[SharedFile, ...]  # in fetch order
    checks: tuple[Check, ...] = ()
    readme: str = ""  # the README's words
    raises: type[ScrapeError] | None = None
    #: parse a body the README quotes inline instead of a file
    inline_body: bytes | None = None
    #: response headers the README ties to the value (e.g. Last-Modified for NJVSS)
    headers: Mapping[str, str] = field(default_factory=dict)
    #: the files are one recorded feed: pass the folder holding their copies
    feed: bool = False

    @property
    def id(self) -> str:
        names = "+".join(f.path.rsplit("/", 1)[-1] for f in self.files) or "inline"
        return f"{self.scraper}:{names}"


def _f(path: str, digest: str) -> SharedFile:
    return SharedFile(path, digest)


# --------------------------------------------------------------------------- shared files

PREPMOD_05 = _f(
    "prepmod-html/maimmunizations-2021-05.html",
    "1bdccbf83afeb2d7ccf6c0ab3a065c9b33753e140a8db8d9831259eef534b85a",
)
PREPMOD_03 = _f(
    "prepmod-html/maimmunizations-2021-03.html",
    "2ea4e91ce0ec51f448987f783efa028b136f04e27fa63288a4a5330a9df4dc5a",
)
GLFHC = _f(
    "acuity-weekly/glfhc-2021-04-14.html",
    "55989d773d2b7d526d7ed22707ea650312dd7f3f4474a275ebc066ec72c6b4c0",
)
GLFHC_NONE = _f(
    "acuity-weekly/glfhc-none.html",
    "d3422b1d574f87a4e30e20d69c014f354ef36ab34ee2265b74b35cb5b6caeae7",
)
HARRINGTON = _f(
    "acuity-weekly/harrington-2021-03.html",
    "e644115ed5a57313191368a7edb7e3731827f20b48c1c69d148571270e819cc7",
)
HARRINGTON_NONE = _f(
    "acuity-weekly/harrington-none.html",
    "86b60ec8a96d48a785fb8665b18f896b21d67283da7c6b0ad249c104ded0cfd7",
)
HEYWOOD_1 = _f(
    "acuity-class/heywood-page1.html",
    "70b140ab3a289dfdca1e33f34ecdc37f95899663e593b600ced4e1772a458267",
)
HEYWOOD_2 = _f(
    "acuity-class/heywood-page2.html",
    "1871a2d395c37b130ed1e427a61489a10b9d396eea59ffdfbf9c1f828e924e59",
)
HEYWOOD_2_NONE = _f(
    "acuity-class/heywood-page2-none.html",
    "c696852b77fcb50f4fcfc3f67b2c76b4f5eaf2ff3a55cd1bffd9b5bb42638d32",
)
TRINITY_02 = _f(
    "acuity-month/trinity-2021-02.html",
    "b9f5b85b0dd42f4bad561f8fb4b84a6a91f531b0074384d052000c96cf1b65ea",
)
TRINITY_03 = _f(
    "acuity-month/trinity-2021-03.html",
    "52c82b4b7c488a0a3a43260bd65dc510a763f8eb6e1b3ade27c714571d0cf036",
)
TRINITY_NONE = _f(
    "acuity-month/trinity-none.html",
    "ca02d214075a568b8d934ab694c4e7b6906ed579985c28b138106526beaf2b98",
)
WHITTIER_0429 = _f(
    "signupgenius/whittier-2021-04-29.html",
    "4dac9a1aa4710c43e3c36db6e9f02717bac3575997fc67e5c33f63e19140794a",
)
WHITTIER_0413 = _f(
    "signupgenius/whittier-2021-04-13.html",
    "c930dd3c1ca2de4d190348474c2024c4167e37b18ea3b9f5e48afbae078c0025",
)
MERCY = _f(
    "mercy/booking-page.html", "5e8e4ee255b4aec4fda84b7986acec54c687d799e9c6aa24791a804bdadb4f94"
)
SOUTHCOAST = _f(
    "southcoast/fall-river.json", "29115129f1b1c289f51bae45185e206dc40969e39e72ce30f4178eb3bc3b855b"
)
SOUTHCOAST_NONE = _f(
    "southcoast/none.json", "02fb14c25972f2484fc4ba9683959854073c306073a2db525d3f8c4c1848ee31"
)
ZOCDOC_AVAILABILITY = _f(
    "zocdoc/availability.json", "ca62bd17126417ee13856104bbd48478834aa4008b01c721816288634b6ecac9"
)
ZOCDOC_LOCATIONS = _f(
    "zocdoc/locations.json", "79c73cb1c3f58475390528b2986d7c095f739e289430c6061b7cd640d338a7a2"
)
MYCHART = _f(
    "mychart/bmc-availability.json",
    "0e66508b696b39b414749c34c5b507012ca75b275ce293408b6ed2883b97378d",
)
MYCHART_ERROR = _f(
    "mychart/error.json", "fecf04e569e2a85c770e5fd3d06edf804e13316e753dffce6f42e9c0144aae94"
)
LOWELL = _f(
    "lowell-general/api-response.jsonp.txt",
    "82f15a6fc5ca045d5ca958d8a0c4b096234c146ccd610efb3bb5079348192acc",
)
RITEAID_API = _f(
    "riteaid-api/nj-2021-04.json",
    "f232da40eabcb08f326462c82ecf69d628ec0fea42d5e85fcfc573718de5ec72",
)
RITEAID_WEB = tuple(
    _f(f"riteaid-web/ct-2023-03-17.response{i}.json", sha)
    for i, sha in enumerate(
        (
            "d574dd9b23be6fab2980427f7e4a4dbb8749f43adecf917ca6b1e8e9cfe0af0a",
            "c4105ea618e4ce982ac57f8a6068bf0f45a0485b759f6d99fbe01dc2b5f7840d",
            "6a6535c89c8927d9ab77d0aaccb3324462c8f2760a4eacdc22ae3df50aa905f0",
        )
    )
)
CDC_CVS = _f(
    "cdc-socrata/cvs-01929.json", "d261151c2bdda0d6359295d824cf5b890cb12ad4233542579aca656f13ed13f3"
)
NJVSS = _f(
    "njvss/available-appointments.csv",
    "5ac15435cfbf4ce5f8b35daba9b49118b2e5c446c0a27479eb806f1675bfa247",
)
SPEC = (
    _f(
        "smart/spec-example/$bulk-publish",
        "ff1ae65c50698d54d0590887e77d65cf9cfae082950beb88bca4e4759940972a",
    ),
    _f(
        "smart/spec-example/locations.ndjson",
        "fdcf58359d2d9485f12f4cbf083bb7110bb8153fa2a7c508f7f6a764e1ee76c5",
    ),
    _f(
        "smart/spec-example/schedules.ndjson",
        "32e6ffb53e1c825b27d0961f8281b07c5cde0c41ee61f814cacbef45ae42986d",
    ),
    _f(
        "smart/spec-example/slots-2021-W09.ndjson",
        "9372c76154c35ff738dfa285d74eda1d0c3f249120a8d32304b8d47a77850761",
    ),
    _f(
        "smart/spec-example/slots-2021-W10.ndjson",
        "2257707b43514fd3a887ddbb2b8da4e3719cd0d6b6852275ea1df5ee7c6cf2ea",
    ),
    _f(
        "smart/spec-example/slots-2021-W11.ndjson",
        "7997cb62a014b14df91f87b58c248593f3fc3f9fc81c0eed442c9c0ac0fd28ec",
    ),
)
PREPMOD_WA = (
    _f(
        "smart/prepmod-wa-2021-09-01/$bulk-publish.json",
        "f679aa25cf4b2dbdc6c5cf33ad7963f7120ef8717d308c9d04c6ea3f2a26b17a",
    ),
    _f(
        "smart/prepmod-wa-2021-09-01/locations.ndjson",
        "58cbd135a704bfc1be485e65fc583ccd710e71d06af890f2a05f66cf0a137415",
    ),
    _f(
        "smart/prepmod-wa-2021-09-01/schedules.ndjson",
        "99a680a5f44401c3d10f226092c3926e49d8e9953b6532ab5f0f843998517c4a",
    ),
    _f(
        "smart/prepmod-wa-2021-09-01/slots-a475ff88d4e0bb9ee1fc09040d45f5cb.ndjson",
        "1f521be055490c3e80841b445416603d3fd5717e6ce36de0cf0ecaaf06b6719c",
    ),
    _f(
        "smart/prepmod-wa-2021-09-01/slots-a23fd81af085c8a37c707b7ba929a78f.ndjson",
        "3013f0f8d1f3947f2b4c48ce9be81da1b924a1fbd243dc0b564e030bf1f788ce",
    ),
)


def _smart(folder: str, manifest: str, *shas: str) -> tuple[SharedFile, ...]:
    names = ("manifest.json", "locations.ndjson", "schedules.ndjson", "slots.ndjson")
    return tuple(
        _f(f"smart/{folder}/{n}", s) for n, s in zip(names, (manifest, *shas), strict=True)
    )


SMART_CVS = _smart(
    "cvs",
    "71b0e50dd1af378ad40d927f9aa5b0ad8a83c54bd9e5d8e710be24e25f5d6382",
    "3012d290a84616f774508a2e2eb12fb32294556a99a5e2c22222e5190e27b35f",
    "d64a395e50d62a80732b6f629ab9ae097c0d3cb656acd2fddd89322135070dd9",
    "7fa87ec370a351082c659f09884413159c062747170126fb2a0ee9a780cd1966",
)
SMART_WALGREENS = _smart(
    "walgreens",
    "dcc6bf51c303a340b716f4f62a85381968876e58eca080ecadf0c3ca69afc576",
    "543a9c9c437b84475c38a1bd0a04a0299b377796a379d6275abc8085fe87c256",
    "751953a9508f3aa4990c2c539414381ae61ba09c92a06a7bd56d0dfa9da8786d",
    "079ca522f1146951bc975e97a1e93202b8e681e3ab2b6b232553ff36e117d83a",
)
SMART_KROGER = _smart(
    "kroger",
    "69b7de361d8959e5bd1df327f68c3dd6f62f0e34ae2bfa4c6f32fcbb6a0be916",
    "d8067be458e664b9bc850e6e8d752ba2e09199a6bd080b93a6728e036351ddae",
    "1b03a982ffd421e30e92403955b592ec56b8291b86cead4cca768ba1dee3d2ca",
    "89a869b2c6519a848d3cc8f0832ddb273df9e9025b15efce38824a444bb7b05d",
)

CITIZEN_CENTER = where(postal_code="01830", city="Haverhill")
REGGIE_LEWIS = where(postal_code="02120", city="Boston")
TUFTS = where(name="Tufts MC Vaccine Site")
STORE_116 = where(address="907 North High", postal_code="08332")
SMART = "smart-scheduling-links"
MAY_DAYS = ("2021-05-13", "2021-05-20", "2021-05-27")
MARCH_DAYS = tuple(f"2021-03-0{d}" for d in range(1, 8))


def _clinic(site: Where, day: str) -> Where:
    """The location(s) of ``site`` whose dates include ``day`` (a PrepMod clinic)."""
    return Where({**site.fields, "by_date": day})


# --------------------------------------------------------------------------- the values

README_VALUES: tuple[ReadmeValue, ...] = (
    # ---- PrepMod HTML
    ReadmeValue(
        "prepmod",
        (PREPMOD_05,),
        (
            Clinics(3),
            Clinics(3, CITIZEN_CENTER),
            Locations(3),
            Locations(3, where(name="Citizen Center", address="10 Welcome Street", state="MA")),
            Day("2021-05-13", 124, CITIZEN_CENTER),
            Day("2021-05-20", 23, CITIZEN_CENTER),
            Day("2021-05-27", 79, CITIZEN_CENTER),
            Appointments(124 + 23 + 79),
            Products((("moderna",), ("janssen", "johnson", "j&j")), CITIZEN_CENTER),
            # each clinic's own vaccines: the location open on that date offers exactly these
            Products(
                (("moderna",), ("janssen", "johnson", "j&j")),
                _clinic(CITIZEN_CENTER, "2021-05-13"),
                only=True,
            ),
            Products((("moderna",),), _clinic(CITIZEN_CENTER, "2021-05-20"), only=True),
            Products((("moderna",),), _clinic(CITIZEN_CENTER, "2021-05-27"), only=True),
            *(Locations(1, _clinic(CITIZEN_CENTER, d)) for d in MAY_DAYS),
            BookingLinks(closed=0, open=3),
        ),
        "asserted: 3 clinics at Citizen Center, 10 Welcome Street, Haverhill MA 01830. "
        "05/13/2021 = 124 (Moderna, Janssen), 05/20/2021 = 23 (Moderna), 05/27/2021 = 79 "
        "(Moderna)",
    ),
    ReadmeValue(
        "prepmod",
        (PREPMOD_03,),
        (
            Clinics(7),
            Clinics(7, REGGIE_LEWIS),
            Day("2021-03-01", 100, REGGIE_LEWIS),
            *(Day(f"2021-03-0{d}", 0, REGGIE_LEWIS) for d in (2, 3, 4, 5)),
            Day("2021-03-06", 2, REGGIE_LEWIS),
            Day("2021-03-07", 0, REGGIE_LEWIS),
            Appointments(102),
            Products((("pfizer",),), REGGIE_LEWIS),
            Locations(7),
            Locations(7, where(name="Reggie Lewis State Track Athletic Ctr", state="MA")),
            *(Locations(1, _clinic(REGGIE_LEWIS, d)) for d in MARCH_DAYS),
            *(Products((("pfizer",),), _clinic(REGGIE_LEWIS, d), only=True) for d in MARCH_DAYS),
            BookingLinks(closed=5, open=2, at=REGGIE_LEWIS),
        ),
        "asserted: 8 blocks, two share a title, merge to 7 clinics at Reggie Lewis, Boston MA "
        "02120 (Pfizer). 03/01 = 100. derived: 03/02-03/05 = 0, 03/06 = 2, 03/07 = 0; "
        "blocks showing 0 have no link",
    ),
    # ---- Acuity
    ReadmeValue(
        "acuity",
        (GLFHC,),
        (Appointments(53), Day("2021-04-14", 17), Day("2021-04-15", 22), Day("2021-04-16", 14)),
        "asserted: 53 slots (derived: 2021-04-14 = 17, 04-15 = 22, 04-16 = 14)",
    ),
    ReadmeValue("acuity", (GLFHC_NONE,), (Appointments(0), Status("none")), "none page = 0"),
    ReadmeValue(
        "acuity",
        (HARRINGTON,),
        (
            Appointments(9),
            Dates(("2021-03-29", "2021-04-07", "2021-04-08")),
            Day("2021-03-29", 4),
            Day("2021-04-07", 2),
            Day("2021-04-08", 3),
        ),
        "asserted: 3 days, 9 slots (derived: 03-29 = 4, 04-07 = 2, 04-08 = 3)",
    ),
    ReadmeValue("acuity", (HARRINGTON_NONE,), (Appointments(0), Status("none")), "none = 0"),
    ReadmeValue(
        "acuity",
        (HEYWOOD_1,),
        (Appointments(0), Follows(1)),
        "derived: page1 = 0 (it has More Times, which pages on)",
    ),
    ReadmeValue(
        "acuity",
        (HEYWOOD_2,),
        (Appointments(107), Day("2021-04-14", 107)),
        "derived: page2 = 107 on 2021-04-14 (rows rendered twice are counted once)",
    ),
    ReadmeValue(
        "acuity",
        (HEYWOOD_1, HEYWOOD_2),
        (Appointments(107), Day("2021-04-14", 107)),
        "page1 + page2 = 107 (the asserted 116 needs a third page that is not in shared/)",
    ),
    ReadmeValue("acuity", (HEYWOOD_2_NONE,), (Appointments(0), Status("none")), "page2-none = 0"),
    ReadmeValue(
        "acuity",
        (TRINITY_02,),
        (Dates(("2021-02-25", "2021-02-26")),),
        "derived: Feb = 2 active days (02-25, 02-26)",
    ),
    ReadmeValue(
        "acuity",
        (TRINITY_03,),
        (Dates(tuple(f"2021-03-{d}" for d in (17, 18, 22, 23, 24, 25, 26))),),
        "derived: Mar = 7 (03-17, 18, 22, 23, 24, 25, 26)",
    ),
    ReadmeValue(
        "acuity", (TRINITY_NONE,), (Dates(()), Appointments(0), Status("none")), "None = 0"
    ),
    # ---- SignUpGenius, Mercy
    ReadmeValue("signupgenius", (WHITTIER_0429,), (Appointments(49),), "asserted: 04/29 = 49 open"),
    ReadmeValue(
        "signupgenius", (WHITTIER_0413,), (Appointments(0), Status("none")), "asserted: 04/13 = 0"
    ),
    ReadmeValue(
        "mercy", (MERCY,), (Appointments(1), Day("2021-03-12", 1)), "derived: 1 slot on 03/12/2021"
    ),
    # ---- JSON APIs
    ReadmeValue(
        "southcoast",
        (SOUTHCOAST,),
        (
            Appointments(95),
            Dates(("2021-05-10", "2021-05-11", "2021-05-12")),
            Day("2021-05-10", 47),
            Day("2021-05-11", 24),
            Day("2021-05-12", 24),
        ),
        "asserted: 3 dates, 95 slots (derived: 05-10 = 47, 05-11 = 24, 05-12 = 24)",
    ),
    ReadmeValue(
        "southcoast", (SOUTHCOAST_NONE,), (Appointments(0), Dates(())), "none.json = nothing"
    ),
    ReadmeValue(
        "zocdoc",
        (ZOCDOC_LOCATIONS, ZOCDOC_AVAILABILITY),
        (
            Locations(8),
            AvailableCount(1),
            Status("available", TUFTS),
            Appointments(9),
            Appointments(9, TUFTS),
            Day("2021-03-30", 2, TUFTS),
            Day("2021-03-31", 3, TUFTS),
            Day("2021-04-02", 4, TUFTS),
            Dates(("2021-03-30", "2021-03-31", "2021-04-02")),
            Locations(7, where(status="none")),
        ),
        "asserted: only the first of 8 providers has availability (Tufts MC Vaccine Site: "
        "2021-03-30 = 2, 03-31 = 3, 04-02 = 4). locations.json lists 7 provider locations "
        "(the other seven, none open)",
    ),
    ReadmeValue(
        "mychart",
        (MYCHART,),
        (Appointments(1), Day("2021-04-03", 1), Day("2021-04-03", 1, where(name="Roslindale"))),
        "derived: 1 slot on 2021-04-03 at department 10098243 (Roslindale)",
    ),
    ReadmeValue(
        "mychart",
        (MYCHART_ERROR,),
        raises=UpstreamError,
        readme="error.json (StartDateTooFarInFuture) = an error, not zero",
    ),
    ReadmeValue(
        "lowell-general",
        (LOWELL,),
        (Appointments(1), Day("2021-03-20", 1)),
        "derived: 1 slot, in the column headed Sat Mar 20",
    ),
    ReadmeValue(
        "riteaid-api",
        (RITEAID_API,),
        (
            Locations(108),
            Locations(1, STORE_116),
            DateSpan("2021-04-23", "2021-05-11", STORE_116),
            DayClosed("2021-04-25", STORE_116),
            Day("2021-04-23", 8, STORE_116),
            Day("2021-05-04", 183, STORE_116),
            Day("2021-05-11", 13, STORE_116),
            PostalCodes("08332", STORE_116),
        ),
        "asserted: 108 stores; #116 (907 North High Street, Millville NJ 08332-3762) has 19 "
        "days 2021-04-23..05-11; first day 8 available; 05-04 = 183; 05-11 = 13; a day with "
        "total 0 (04-25) means no",
    ),
    ReadmeValue(
        "riteaid-api",
        (),
        raises=ScrapeError,
        inline_body=b'{"Status":"ERROR","ErrMsg":"RiteAid API timed out"}',
        readme='{"Status":"ERROR","ErrMsg":"RiteAid API timed out"} must raise an error',
    ),
    ReadmeValue(
        "riteaid-web",
        RITEAID_WEB,
        (Locations(30), Status("available"), PostalCodes("06")),
        "derived: 30 stores, all with slots; ZIP 6811 is 06811",
    ),
    ReadmeValue(
        "cdc-socrata",
        (CDC_CVS,),
        (Locations(1), Status("available"), Products((("pfizer",),), only=True)),
        "asserted: cvs-01929.json = 1 location with only Pfizer in stock",
    ),
    ReadmeValue(
        "njvss",
        (NJVSS,),
        (ValidAt("2023-05-02T19:29:37+00:00"),),
        "the time of validity comes from the HTTP Last-Modified header "
        "(recorded-http/njvss: Last-Modified: Tue, 02 May 2023 19:29:37 GMT)",
        headers={"last-modified": "Tue, 02 May 2023 19:29:37 GMT", "content-type": "text/csv"},
    ),
    # ---- SMART Scheduling Links
    ReadmeValue(
        SMART,
        SPEC,
        (Locations(10), Locations(10, where(state="MA")), Slots(210), Appointments(210 * 100)),
        "derived: 10 MA clinics; W09-W11 = 210 free slots, each with capacity 100",
        feed=True,
    ),
    ReadmeValue(
        SMART,
        PREPMOD_WA,
        (
            Locations(2),
            Slots(14, where(postal_code="99362")),
            Slots(35, where(postal_code="98944")),
            Slots(14, where(name="Walla Walla")),
            Slots(35, where(name="Yakima")),
            ValidAt("2021-09-01T21:56:12+00:00"),
        ),
        "asserted: 2 locations; Walla Walla (99362) 14 free slots; Yakima (Sunnyside 98944) 35; "
        "valid at = transactionTime 2021-09-01T21:56:12+00:00",
        feed=True,
    ),
    ReadmeValue(
        SMART,
        SMART_CVS,
        (
            Locations(1, where(postal_code="22306", city="Alexandria")),
            DayClosed("2021-05-18", where(postal_code="22306")),
            DayOpen("2021-05-19", where(postal_code="22306"), uncounted=True),
        ),
        "asserted: CVS #2004 Alexandria VA 22306: 05-18 no, 05-19 yes; capacity '0'/'1' as "
        "strings is yes/no, not a count",
        feed=True,
    ),
    ReadmeValue(
        SMART,
        SMART_WALGREENS,
        (
            Status("available", where(postal_code="99503", city="Anchorage")),
            ValidAt("2021-10-20T01:31:57.102+00:00"),
        ),
        "asserted: Walgreens #13656 Anchorage AK 99503: yes; valid at = currentAsOf",
        feed=True,
    ),
    ReadmeValue(
        SMART,
        SMART_KROGER,
        (
            DayOpen("2021-10-22", where(name="70100011")),
            DayClosed("2021-10-23", where(name="70100011")),
            DayClosed("2021-10-24", where(name="70100011")),
            DayOpen("2021-10-25", where(name="70100011")),
        ),
        "asserted: Fred Meyer #70100011: 10-22 yes, 10-23 no, 10-24 no, 10-25 yes",
        feed=True,
    ),
)

#: README values no test can check from the shared files, and why.
NOT_CHECKABLE: Mapping[str, str] = {
    "acuity-class 116 on 2021-04-14": "page1 + page2 + 'the following page (9 more)': the "
    "third page is not in shared/fixtures (page1 + page2 = 107 is checked)",
    "smart 'every slot runs 14:00Z-23:00Z'": "slot times are not part of the parse output; "
    "the local dates they fall on are",
    "smart prepmod-wa 'non-COVID schedules are not COVID availability'": "checked through "
    "the asserted counts (14 and 35), which exclude those schedules",
    "recorded-http, albertsons-rxie, hyvee, vaccinatethestates": "the README gives no "
    "expected values for them",
}
