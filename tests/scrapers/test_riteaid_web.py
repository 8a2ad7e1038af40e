"""Rite Aid's store search: the three-request conversation, ZIP repair, slot de-duplication."""

from __future__ import annotations

import datetime as dt
import json
from urllib.parse import urlencode

import pytest

from notifier.model import Status
from notifier.scraping import Request, Response, UpstreamError
from scrapers.riteaid_web import API_URL, RiteAidWeb
from tests.scrapers.api_support import by_id, fixture, fixture_json, response_from

FILES = [f"ct-2023-03-17.response{i}.json" for i in range(3)]


def as_sent(request: Request) -> str:
    """The URL httpx sends for a Request (params appended in order, commas as %2C)."""
    return f"{request.url}?{urlencode(dict(request.params))}"


def test_follow_asks_for_slots_exactly_as_the_site_did() -> None:
    scraper = RiteAidWeb()
    listing = fixture(RiteAidWeb, FILES[0])
    first = scraper.requests()[0]
    assert as_sent(first) == listing.url
    follow = scraper.follow(listing)
    recorded = [fixture(RiteAidWeb, f).url for f in FILES[1:]]
    assert [as_sent(r) for r in follow] == recorded  # 25 stores, then the last 5
    assert scraper.follow(fixture(RiteAidWeb, FILES[1])) == []  # slot answers lead nowhere


def test_the_three_responses_merge_into_30_stores_all_with_slots() -> None:
    scraper = RiteAidWeb()
    results = scraper.parse_all([fixture(RiteAidWeb, f) for f in FILES])
    assert len(results) == 30
    assert all(r.status is Status.AVAILABLE and (r.slots or 0) > 0 for r in results)
    assert all(r.appointments == r.slots == sum(r.by_date.values()) for r in results)
    stores = by_id(results)
    assert stores["10384"].location.postal_code == "06811"  # "6811" lost its leading zero
    assert all((r.location.postal_code or "").startswith("06") for r in results)
    assert stores["10384"].location.time_zone == "America/New_York"


def test_one_appointment_listed_under_several_vaccines_counts_once() -> None:
    (store, *_) = RiteAidWeb().parse(fixture(RiteAidWeb, FILES[1]))
    raw = fixture_json(RiteAidWeb, FILES[1])["data"]["stores"][0]
    listed = [s for day in raw["availableSlots"] for v in day["slots"].values() for s in v]
    assert len(listed) > 218  # the same ids appear under 9, 11, 13, 47 and 96
    assert store.location.id == "4620" and store.slots == 218
    assert store.by_date[dt.date(2023, 3, 17)] == raw["availableSlots"][0]["available_slots"]
    assert set(store.products) == {"Moderna", "Pfizer", "Johnson & Johnson", "Pfizer 5–11"}


def test_the_store_list_alone_says_open_count_unknown() -> None:
    results = RiteAidWeb().parse(fixture(RiteAidWeb, FILES[0]))
    store = by_id(results)["1882"]
    assert store.status is Status.AVAILABLE and store.appointments is None
    assert store.by_date == {dt.date(2023, 3, 21): None}  # firstAvailableSlot 2023-03-21T10:00


def test_no_store_found_and_errors() -> None:
    empty = {"data": {"stores": None}, "Status": "SUCCESS", "ErrCde": None, "ErrMsg": None}
    assert RiteAidWeb().parse(response_from(empty)) == []
    with pytest.raises(UpstreamError):
        RiteAidWeb().parse(fixture(RiteAidWeb, "error-timed-out.json"))


def test_state_filter_drops_stores_across_the_border() -> None:
    body = fixture_json(RiteAidWeb, FILES[0])
    body["data"]["stores"][0]["state"] = "NY"
    response = Response.from_body(json.dumps(body), url=API_URL)
    assert len(RiteAidWeb({"states": ["CT"]}).parse(response)) == 29
