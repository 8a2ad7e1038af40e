"""H-E-B's published file and Hy-Vee's GraphQL search: counts, yes/no, products, errors."""

from __future__ import annotations

import datetime as dt

import pytest

from notifier.model import Status
from notifier.scraping import Unparseable, UpstreamError
from scrapers.heb import FILE_URL, Heb
from scrapers.hyvee import API_URL, OPERATION, Hyvee
from tests.scrapers.api_support import by_id, fixture, fixture_json, response_from


def test_heb_counts_and_validity() -> None:
    results = Heb().parse(fixture(Heb, "vaccine_locations.json"))
    assert len(results) == 297
    assert sum(1 for r in results if r.status is Status.AVAILABLE) == 171
    assert sum(r.appointments or 0 for r in results) == 23477
    when = dt.datetime(2022, 12, 15, 21, 14, 58, tzinfo=dt.UTC)
    assert all(r.valid_at == when for r in results)
    stores = by_id(results)
    assert stores["790"].location.postal_code == "75093"  # sent as "75093-0"
    assert stores["593"].location.booking_url == "https://vaccine.heb.com/scheduler"  # url null
    assert all(r.location.time_zone and r.location.lat is not None for r in results)


def test_heb_skips_entries_without_a_store_number_and_refuses_s3_errors() -> None:
    body = fixture_json(Heb, "vaccine_locations-none.json")
    body["locations"][0]["storeNumber"] = None
    assert len(Heb().parse(response_from(body))) == 2
    with pytest.raises(UpstreamError, match="AccessDenied"):
        Heb().parse(fixture(Heb, "access-denied.xml"))
    with pytest.raises(Unparseable):
        Heb().parse(response_from({"stores": []}))
    assert Heb().requests()[0].url == FILE_URL  # no cache-busting query: 304s work


def test_hyvee_yes_no_and_products() -> None:
    results = Hyvee().parse(fixture(Hyvee, "graphql-response.json"))
    assert len(results) == 282
    assert sum(1 for r in results if r.status is Status.AVAILABLE) == 244
    assert all(r.appointments is None for r in results)
    assert not any("Flu" in p for r in results for p in r.products)
    names = {r.location.name for r in results}
    assert "Hy-Vee Lincoln #4 (Williamsburg)" in names


def test_hyvee_errors_and_request() -> None:
    with pytest.raises(UpstreamError, match="Internal Server Error"):
        Hyvee().parse(fixture(Hyvee, "graphql-error.json"))
    with pytest.raises(Unparseable):
        Hyvee().parse(response_from({"data": {"searchPharmaciesNearPoint": None}}))
    (request,) = Hyvee().requests()
    assert (request.url, request.method) == (API_URL, "POST")
    assert request.json["operationName"] == OPERATION
    assert request.json["variables"] == {"radius": 5000, "latitude": 39.8283, "longitude": -98.5795}
