"""Vaccines.gov Socrata rows: stock per product, paging, errors, conditional requests."""

from __future__ import annotations

import datetime as dt

import pytest

from notifier.model import Status
from notifier.pipeline.fetch import PoliteClient
from notifier.policies import HttpSettings
from notifier.scraping import Request, Unparseable, UpstreamError
from notifier.testing.scripted import Reply, ScriptedServer
from scrapers.cdc_socrata import API_URL, CdcSocrata, product_name
from tests.scrapers.api_support import by_id, fixture, fixture_json, response_from

CVS_GUID = "d313cdc7-0ddb-4c38-8bb5-31dc71a5c95a"


def test_cvs_01929_has_only_pfizer_in_stock() -> None:
    (store,) = CdcSocrata().parse(fixture(CdcSocrata, "cvs-01929.json"))
    assert store.location.id == CVS_GUID and store.location.postal_code == "07011"
    assert store.products == ("Pfizer",)
    assert store.status is Status.AVAILABLE and store.appointments is None
    assert store.valid_at is not None and store.valid_at.utcoffset() is not None
    assert store.valid_at.date() == dt.date(2021, 9, 22)


def test_rows_of_one_location_are_grouped_wherever_they_are() -> None:
    rows = fixture_json(CdcSocrata, "ak-2022-06-23.json")
    results = CdcSocrata().parse(fixture(CdcSocrata, "ak-2022-06-23.json"))
    assert len(results) == len({r["provider_location_guid"] for r in rows}) == 30
    for item in results:
        mine = [r for r in rows if r["provider_location_guid"] == item.location.id]
        assert (item.status is Status.AVAILABLE) == any(r["in_stock"] for r in mine)
        assert item.location.time_zone in (
            "America/Anchorage",
            "America/Juneau",
            "America/Nome",
            "America/Sitka",
            "America/Yakutat",
        )
        assert len(item.location.postal_code or "") == 5


def test_paging_asks_for_the_next_page_only_after_a_full_one() -> None:
    scraper = CdcSocrata({"page_size": 100, "states": ["ak"]})
    (first,) = scraper.requests()
    assert first.url == API_URL and first.params == {
        "$limit": "100",
        "$offset": "0",
        "loc_admin_state": "AK",
    }
    rows = fixture_json(CdcSocrata, "ak-2022-06-23.json")
    full = response_from(rows[:100], url=API_URL)
    full = type(full)(first, full.url, 200, {}, full.body, full.fetched_at)
    (nxt,) = scraper.follow(full)
    assert nxt.params["$offset"] == "100"
    short = type(full)(first, full.url, 200, {}, response_from(rows[:99]).body, full.fetched_at)
    assert scraper.follow(short) == []


def test_socrata_errors_raise() -> None:
    with pytest.raises(UpstreamError):
        CdcSocrata().parse(fixture(CdcSocrata, "error-no-such-column.json"))
    with pytest.raises(UpstreamError, match=r"query\.soql"):
        CdcSocrata().parse(response_from({"errorCode": "query.soql", "message": "bad"}))
    with pytest.raises(Unparseable):
        CdcSocrata().parse(response_from({"rows": []}))
    with pytest.raises(Unparseable):
        CdcSocrata().parse(
            response_from(
                [
                    {
                        "provider_location_guid": "x",
                        "loc_name": "A",
                        "loc_admin_street1": "1 Main",
                        "in_stock": "yes",
                    }
                ]
            )
        )


def test_a_state_without_rows_lists_no_locations() -> None:
    assert CdcSocrata().parse(response_from([])) == []


def test_product_names_prefer_the_drug_code() -> None:
    assert product_name("59267-1055-01", "Pfizer-BioNTech, ... 10 mcg") == "Pfizer 5–11"
    assert product_name("00000-0000-00", "Sanofi, COVID-19 Vaccine") == "Sanofi"
    assert product_name(None, None) is None


async def test_an_unchanged_dataset_costs_a_304_and_parses_the_same() -> None:
    recorded = fixture(CdcSocrata, "ak-2022-06-23.json")
    validators = {
        "ETag": recorded.headers["etag"],
        "Last-Modified": recorded.headers["last-modified"],
    }
    reply = Reply(200, recorded.body, {"Content-Type": "application/json", **validators})
    settings = HttpSettings.model_validate(
        {"contact": "mailto:ops@notifier.test", "timeout_seconds": 2}
    )
    async with ScriptedServer(default=reply) as server, PoliteClient(settings) as http:
        request = Request(server.url + "/resource/5jp2-pgaw.json", params={"$limit": "5000"})
        first = await http.fetch(request, "cdc")
        second = await http.fetch(request, "cdc")
    assert server.seen[1].headers["If-None-Match"] == validators["ETag"]
    assert second.not_modified and not first.not_modified
    scraper = CdcSocrata()
    assert by_id(scraper.parse(first)).keys() == by_id(scraper.parse(second)).keys()
    assert [r.to_json() for r in scraper.parse(second)] == [
        r.to_json() for r in scraper.parse(first)
    ]
