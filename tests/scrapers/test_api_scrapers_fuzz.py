"""Property: whatever bytes a provider sends, an API scraper returns data or a ScrapeError.

Hypothesis mutates the committed fixtures (cuts, byte flips, inserted and deleted runs, and
JSON whose values are swapped for other JSON types) and feeds each mutant to ``follow`` and
``parse``. Anything other than a list of results or a ``ScrapeError`` (a KeyError, a
TypeError, a recursion error) is a bug: the poller would crash or misread the provider.
"""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from notifier.model import LocationAvailability
from notifier.scraping import Response, ScrapeError, Scraper
from scrapers.cdc_socrata import CdcSocrata
from scrapers.heb import Heb
from scrapers.hyvee import Hyvee
from scrapers.lowell_general import LowellGeneral
from scrapers.njvss import Njvss
from scrapers.riteaid_api import RiteAidApi
from scrapers.riteaid_web import RiteAidWeb
from tests.scrapers.api_support import fixture

# small fixtures only: hypothesis runs each case many times
CASES: list[tuple[type[Scraper], str]] = [
    (RiteAidApi, "nj-116-fully-booked.json"),
    (RiteAidWeb, "ct-2023-03-17-none.json"),
    (LowellGeneral, "api-response.jsonp.txt"),
    (CdcSocrata, "cvs-01929.json"),
    (CdcSocrata, "ak-none.json"),
    (Njvss, "njvss-available-appointments.csv"),
    (Heb, "vaccine_locations-none.json"),
    (Hyvee, "graphql-none.json"),
]


def survives(scraper: Scraper, response: Response) -> None:
    try:
        scraper.follow(response)
        results = scraper.parse(response)
    except ScrapeError:
        return
    assert isinstance(results, list)
    assert all(isinstance(r, LocationAvailability) for r in results)


@st.composite
def mutated(draw: st.DrawFn, body: bytes) -> bytes:
    data = bytearray(body)
    for _ in range(draw(st.integers(1, 4))):
        if not data:
            break
        at = draw(st.integers(0, len(data) - 1))
        op = draw(st.sampled_from(["cut", "flip", "insert", "delete"]))
        if op == "cut":
            del data[at:]
        elif op == "flip":
            data[at] ^= 1 << draw(st.integers(0, 7))
        elif op == "insert":
            data[at:at] = draw(st.binary(min_size=1, max_size=8))
        else:
            del data[at : at + draw(st.integers(1, 64))]
    return bytes(data)


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=10),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=6,
)


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [prefix]
    if isinstance(value, dict):
        for key, child in value.items():
            found += _paths(child, (*prefix, key))
    elif isinstance(value, list):
        for i, child in enumerate(value[:3]):
            found += _paths(child, (*prefix, i))
    return found


@st.composite
def retyped(draw: st.DrawFn, document: Any) -> bytes:
    """The same JSON with one value (anywhere) replaced by JSON of any type."""
    doc = json.loads(json.dumps(document))
    path = draw(st.sampled_from(_paths(doc)))
    new = draw(JSON_VALUES)
    if not path:
        return json.dumps(new).encode()
    parent = doc
    for step in path[:-1]:
        parent = parent[step]
    parent[path[-1]] = new
    return json.dumps(doc).encode()


FUZZ = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@pytest.mark.parametrize(("scraper_cls", "name"), CASES, ids=lambda v: getattr(v, "name", v))
@FUZZ
@given(data=st.data())
def test_mutated_bytes_parse_or_raise_scrape_error(
    scraper_cls: type[Scraper], name: str, data: st.DataObject
) -> None:
    original = fixture(scraper_cls, name)
    body = data.draw(mutated(original.body))
    survives(scraper_cls(), replace(original, body=body))


JSON_CASES = [c for c in CASES if c[1].endswith(".json")]


@pytest.mark.parametrize(("scraper_cls", "name"), JSON_CASES, ids=lambda v: getattr(v, "name", v))
@FUZZ
@given(data=st.data())
def test_valid_json_of_the_wrong_shape_parses_or_raises(
    scraper_cls: type[Scraper], name: str, data: st.DataObject
) -> None:
    original = fixture(scraper_cls, name)
    body = data.draw(retyped(json.loads(original.body)))
    survives(scraper_cls(), replace(original, body=body))
