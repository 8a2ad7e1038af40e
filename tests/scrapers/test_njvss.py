"""NJVSS CSV export: Last-Modified as the time of validity, hidden sites, broken CSV, S3 errors."""

from __future__ import annotations

import datetime as dt

import pytest

from notifier.model import Status
from notifier.pipeline.fetch import PoliteClient
from notifier.policies import HttpSettings
from notifier.scraping import Blocked, Request, Unparseable, UpstreamError
from notifier.testing.scripted import Reply, ScriptedServer
from scrapers.njvss import CSV_URL, Njvss, parse_njvss_csv
from tests.scrapers.api_support import by_id, fixture, fixture_path, response_from

RAY = "d591d023-b457-eb11-a812-001dd8018866"
LAST_MODIFIED = dt.datetime(2023, 5, 2, 19, 29, 37, tzinfo=dt.UTC)


def test_valid_at_is_the_http_last_modified() -> None:
    results = Njvss().parse(fixture(Njvss, "njvss-available-appointments.csv"))
    assert len(results) == 9 and all(r.valid_at == LAST_MODIFIED for r in results)
    ray = by_id(results)[RAY]
    assert ray.appointments == 2805 and ray.status is Status.AVAILABLE
    assert ray.location.postal_code == "08812"  # "Dunellen, NJ 8812"
    assert ray.products == ("Novavax",) and ray.age_groups == ("12 and older",)
    assert ray.location.time_zone == "America/New_York"


def test_without_headers_there_is_no_time_of_validity() -> None:
    body = fixture_path(Njvss, "available-appointments.csv").read_bytes()
    (ray,) = Njvss().parse(response_from(body))
    assert ray.valid_at is None and ray.appointments == 2805


def test_products_and_ages_of_a_location_with_many_vaccines() -> None:
    bells = by_id(Njvss().parse(fixture(Njvss, "njvss-available-appointments.csv")))[
        "976cc7cc-2292-eb11-a812-001dd802d26d"
    ]
    assert bells.products == ("Johnson & Johnson", "Moderna", "Pfizer")
    assert "6 months - 4 years" in bells.age_groups and "18 and older" in bells.age_groups


HEADER = (
    "res_id,provider_id,name,statuscodename,vras_provideraddress,vras_latitude,vras_longitude,"
    "vras_typetext,vras_allowschedulingforcountyresidentsonly,county,available\r\n"
)


def test_hidden_and_inactive_locations() -> None:
    body = HEADER + (
        'a,1,Hidden Site,Active,"1 Main St, Trenton, NJ 08608",,,"",False,mercer,12\r\n'
        'b,2,Closed Site,Inactive,"2 Main St, Trenton, NJ 08608",40.2,-74.7,"",False,mercer,12\r\n'
    )
    (closed,) = Njvss().parse(response_from(body))
    assert closed.location.id == "b" and closed.status is Status.NONE and closed.appointments == 0


def test_unescaped_quotes_inside_a_field_are_repaired() -> None:
    body = (
        HEADER
        + 'c,3,Site,Active,"3 Main St, Trenton, NJ 08608",40.2,-74.7,'
        + '"<p>say "hi"</p>",,mercer,4\r\n'
    )
    (row,) = parse_njvss_csv(body)
    assert row["vras_typetext"] == '<p>say "hi"</p>' and row["available"] == "4"


@pytest.mark.parametrize(
    "body",
    [
        "name,available\r\nX,3\r\n",  # a column we need is gone
        HEADER + 'd,4,Site,Active,"4 Main St, Trenton, NJ 08608",40.2,-74.7,"",,mercer,many\r\n',
        HEADER + "e,5,Site,Active\r\n",  # a row cut short
        "",
    ],
)
def test_changed_or_broken_csv_raises(body: str) -> None:
    with pytest.raises(Unparseable):
        Njvss().parse(response_from(body))


def test_s3_errors() -> None:
    with pytest.raises(Blocked):
        Njvss().parse(fixture(Njvss, "s3-access-denied.xml"))
    xml = "<?xml version='1.0'?><Error><Code>NoSuchKey</Code></Error>"
    with pytest.raises(UpstreamError, match="NoSuchKey"):
        Njvss().parse(response_from(xml))


def test_requests_name_the_export() -> None:
    (request,) = Njvss().requests()
    assert request.url == CSV_URL and request.params == {"x-id": "GetObject"}
    signed = Njvss({"csv_url": CSV_URL + "?X-Amz-Signature=abc"}).requests()[0]
    assert signed.params == {}


async def test_an_unchanged_export_costs_a_304_and_keeps_its_time() -> None:
    recorded = fixture(Njvss, "njvss-available-appointments.csv")
    headers = {"ETag": recorded.headers["etag"], "Last-Modified": recorded.headers["last-modified"]}
    settings = HttpSettings.model_validate(
        {"contact": "mailto:ops@notifier.test", "timeout_seconds": 2}
    )
    async with (
        ScriptedServer(default=Reply(200, recorded.body, headers)) as server,
        PoliteClient(settings) as http,
    ):
        first = await http.fetch(Request(server.url + "/njvss-available-appointments.csv"), "njvss")
        second = await http.fetch(
            Request(server.url + "/njvss-available-appointments.csv"), "njvss"
        )
    assert second.not_modified and server.seen[1].headers["If-None-Match"] == headers["ETag"]
    assert [r.valid_at for r in Njvss().parse(second)] == [LAST_MODIFIED] * 9
    assert Njvss().parse(second) == Njvss().parse(first)
