"""Recorded feeds of ``smart-scheduling-links`` and what they must parse to.

Expected values come from ``shared/fixtures/README.md`` (asserted by the original projects,
or derived by hand from the files); see ``fixtures/smart-scheduling-links/SOURCES.md``.
"""

from __future__ import annotations

from typing import Any

from notifier.scraping import Blocked, Example, Unparseable, UpstreamError

__all__ = ["EXAMPLES", "PREPMOD_WA_EXPECT"]

SPEC_EXAMPLE_EXPECT: dict[str, Any] = {
    # W09-W11 only: the manifest also lists W12 and W13, which were never published.
    "locations": 10,
    "slots": 210,
    "appointments": 21000,
    "status": "available",
    "by_location": {
        "0": {
            "name": "SMART Vaccine Clinic Boston",
            "city": "Boston",
            "postal_code": "02114",
            "slots": 21,
            "appointments": 2100,
            # Every slot runs 14:00Z-23:00Z: 09:00-18:00 in Boston, so one local day each.
            "by_date": {f"2021-03-{day:02d}": 100 for day in range(1, 22)},
            "products": ["Moderna"],
            "valid_at": "2021-04-22T14:28:21.582000+00:00",
        },
        "2": {"city": "Springfield", "postal_code": "01101", "slots": 21},
        "9": {"city": "Pittsfield", "postal_code": "01201", "appointments": 2100},
    },
}

PREPMOD_WA_EXPECT: dict[str, Any] = {
    "locations": 2,
    "slots": 49,
    "appointments": 257,
    "status": "available",
    "by_location": {
        "a475ff88d4e0bb9ee1fc09040d45f5cb": {
            "name": "Walla Walla Mobile Units",
            "postal_code": "99362",
            "slots": 14,
            "appointments": 54,
            "by_date": {"2021-09-13": 54},
            "products": ["Janssen", "Pfizer"],
            "valid_at": "2021-09-01T21:56:12+00:00",
        },
        "a23fd81af085c8a37c707b7ba929a78f": {
            "name": "Yakima County Health District COVID Vaccination Site",
            "city": "Sunnyside",
            "postal_code": "98944",
            "slots": 35,
            "appointments": 203,
            "by_date": {"2021-09-05": 105, "2021-09-08": 98},
            "products": ["Pfizer"],
            "valid_at": "2021-09-01T21:56:12+00:00",
        },
    },
}

EXAMPLES = (
    Example(files=("spec-example",), expect=SPEC_EXAMPLE_EXPECT, note="spec example feed"),
    Example(
        files=("prepmod-wa-2021-09-01",),
        expect=PREPMOD_WA_EXPECT,
        # Product codes are null (matched by display text); Yakima lists no phone at all.
        note="optional-fields: phone",
    ),
    Example(
        files=("prepmod-wa-2021-09-01-304",),
        expect=PREPMOD_WA_EXPECT,
        note="re-poll: manifest 200 with its ETag, every file 304 (bodies are cached copies)",
    ),
    Example(
        files=("cvs",),
        settings={"publisher": "cvs", "states": ["VA"]},
        expect={
            "locations": 1,
            "by_location": {
                "2004": {
                    "city": "ALEXANDRIA",
                    "state": "VA",
                    "postal_code": "22306",
                    "status": "available",
                    # capacity "0"/"1" is yes/no: 05-18 no, 05-19 yes with an unknown count
                    "by_date": {"2021-05-18": 0, "2021-05-19": None},
                    "appointments": None,
                    "slots": 1,
                    "valid_at": "2021-05-17T16:41:05.534000+00:00",
                }
            },
        },
    ),
    Example(
        files=("cvs-none",),
        settings={"publisher": "cvs"},
        expect={
            "locations": 1,
            "status": "none",
            "appointments": 0,
            "by_location": {"2004": {"by_date": {"2021-05-18": 0}, "slots": 0}},
        },
        note="the CVS store with only its busy day: a real 'no appointments' answer",
    ),
    Example(
        files=("walgreens",),
        settings={"publisher": "walgreens"},
        expect={
            "locations": 1,
            "by_location": {
                "13656": {
                    "city": "Anchorage",
                    "postal_code": "99503",
                    "status": "available",
                    "appointments": None,
                    "slots": 1,
                    # one 5-day slot from 2021-10-21; valid at the Slot file's currentAsOf
                    "by_date": {"2021-10-21": None},
                    "valid_at": "2021-10-20T01:31:57.102000+00:00",
                }
            },
        },
    ),
    Example(
        files=("kroger",),
        settings={"publisher": "kroger", "states": ["AK"]},
        # No vaccine-product extension and no capacity: products unknown, counts unknown.
        note="optional-fields: products, appointments",
        expect={
            "locations": 1,
            "by_location": {
                "70100011": {
                    "name": "Fred Meyer Pharmacy #70100011",
                    "postal_code": "99508",
                    "status": "available",
                    "by_date": {
                        "2021-10-22": None,
                        "2021-10-23": 0,
                        "2021-10-24": 0,
                        "2021-10-25": None,
                    },
                    "slots": 2,
                    "valid_at": "2021-10-22T00:00:02+00:00",
                }
            },
        },
    ),
    Example(files=("prepmod-wa-truncated",), raises=Unparseable, note="slot file cut mid-line"),
    Example(files=("errors/operation-outcome.json",), raises=UpstreamError),
    Example(files=("errors/access-denied.html",), raises=Blocked),
)
