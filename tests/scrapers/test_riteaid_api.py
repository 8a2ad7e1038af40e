"""Rite Aid's partner API: README values, error payloads, optional fields, requests."""

from __future__ import annotations

import copy
import datetime as dt

import pytest

from notifier.model import Status
from notifier.scraping import Blocked, Unparseable, UpstreamError
from scrapers.riteaid_api import RiteAidApi
from tests.scrapers.api_support import by_id, fixture, fixture_json, response_from

D = dt.date


@pytest.fixture(scope="module")
def nj() -> dict[str, object]:
    return fixture_json(RiteAidApi, "nj-2021-04.json")


def test_readme_values_of_the_new_jersey_answer() -> None:
    results = RiteAidApi().parse(fixture(RiteAidApi, "nj-2021-04.json"))
    assert len(results) == 108
    store = by_id(results)["116"]
    assert store.location.address == "907 North High Street"
    assert (store.location.city, store.location.state) == ("Millville", "NJ")
    assert store.location.postal_code == "08332"  # from 08332-3762
    days = list(store.by_date)
    assert len(days) == 19 and days[0] == D(2021, 4, 23) and days[-1] == D(2021, 5, 11)
    assert store.by_date[D(2021, 4, 23)] == 8
    assert store.by_date[D(2021, 5, 4)] == 183
    assert store.by_date[D(2021, 5, 11)] == 13
    assert store.by_date[D(2021, 4, 25)] == 0  # total_slots 0: a firm "no"
    assert store.status is Status.AVAILABLE and store.slots is None


def test_every_store_is_located_with_a_time_zone() -> None:
    for item in RiteAidApi().parse(fixture(RiteAidApi, "nj-2021-04.json")):
        loc = item.location
        assert loc.lat is not None and loc.lon is not None
        assert loc.time_zone == "America/New_York"
        assert loc.postal_code is not None and len(loc.postal_code) == 5
        assert loc.booking_url and loc.booking_url.startswith("https://")
        assert item.valid_at == dt.datetime(2021, 4, 23, 14, 52, 5, tzinfo=dt.UTC)


@pytest.mark.parametrize(
    "body",
    [
        {"Status": "ERROR", "ErrMsg": "RiteAid API timed out"},
        {"Status": "ERROR", "ErrCde": "500", "ErrMsg": None, "Data": None},
        {"Data": {"providerDetails": []}},  # no Status at all: never read as "no stores"
    ],
)
def test_error_payloads_raise(body: object) -> None:
    with pytest.raises(UpstreamError):
        RiteAidApi().parse(response_from(body))


def test_html_block_page_is_blocked_and_other_html_unparseable() -> None:
    captcha = b"<html><body>Request unsuccessful. Incapsula incident ID: 1</body></html>"
    with pytest.raises(Blocked):
        RiteAidApi().parse(response_from(captcha))
    with pytest.raises(Unparseable):
        RiteAidApi().parse(response_from(b"<html><body>Welcome</body></html>"))


def test_more_open_than_offered_is_refused(nj: dict[str, object]) -> None:
    broken = copy.deepcopy(nj)
    broken["Data"]["providerDetails"][0]["availability"][0]["available_slots"] = 201  # type: ignore[index]
    with pytest.raises(Unparseable, match="201 open of only 200"):
        RiteAidApi().parse(response_from(broken))


def test_optional_fields_may_be_missing(nj: dict[str, object]) -> None:
    trimmed = copy.deepcopy(nj)
    store = trimmed["Data"]["providerDetails"][0]  # type: ignore[index]
    del store["contact"], store["last_updated"]
    store["location"]["street_line_2"] = "Suite 4"
    trimmed["Data"]["providerDetails"] = [store]  # type: ignore[index]
    (item,) = RiteAidApi().parse(response_from(trimmed))
    assert item.location.address == "907 North High Street, Suite 4"
    assert item.location.booking_url == "https://www.riteaid.com/pharmacy/covid-qualifier"
    assert item.location.phone is None and item.valid_at is None
    assert item.appointments == 1078


def test_requests_need_the_partner_endpoint() -> None:
    with pytest.raises(ValueError, match="api_url"):
        RiteAidApi().requests()
    scraper = RiteAidApi(
        {"api_url": "https://partner.test/v1", "api_key": "k", "states": ["nj", "PA"]}
    )
    first, second = scraper.requests()
    assert first.url == "https://partner.test/v1" and first.params == {"stateCode": "NJ"}
    assert first.headers == {"Proxy-Authorization": "ldap k"}
    assert second.params == {"stateCode": "PA"}
