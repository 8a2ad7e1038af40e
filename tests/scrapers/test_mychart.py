"""Epic MyChart open scheduling: the token page, GetOpeningsForProvider, and ErrorCode."""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import replace
from urllib.parse import parse_qsl

import pytest
from hypothesis import HealthCheck, given, settings

from notifier.model import LocationAvailability, Status
from notifier.scraping import Blocked, Unparseable, UpstreamError
from scrapers.mychart import MyChartScraper
from tests.scrapers.page_scraper_support import (
    DATE_HEADER,
    cli_parse,
    damaged,
    days,
    fixture_path,
    parse_fixtures,
    raises_only_scrape_errors,
    response,
)

BASE = "https://mychartscheduling.bmc.org/MyChartscheduling"
ROSLINDALE = "10098243"
TOKEN_PAGE = (
    '<html><body><form><input name="__RequestVerificationToken" type="hidden" '
    'value="tok-123"></form></body></html>'
)
ANSWER = json.loads(fixture_path(MyChartScraper, "bmc-availability.json").read_bytes())


def by_id(results: list[LocationAvailability]) -> dict[str, LocationAvailability]:
    return {r.location.id: r for r in results}


def test_one_slot_at_roslindale_on_04_03() -> None:
    results = by_id(parse_fixtures(MyChartScraper, "bmc-availability.json"))
    assert len(results) == 5
    roslindale = results.pop(ROSLINDALE)
    assert days(roslindale) == {"2021-04-03": 1}
    assert (roslindale.status, roslindale.appointments, roslindale.slots) == (
        Status.AVAILABLE,
        1,
        1,
    )
    loc = roslindale.location
    assert (loc.name, loc.address, loc.city, loc.state, loc.postal_code) == (
        "Roslindale COVID-19 Vaccination Site @ 17 Corinth Street",
        "17 Corinth St",
        "Roslindale",
        "MA",
        "02131",
    )
    assert loc.lat is not None and loc.time_zone == "America/New_York"
    assert all(r.status is Status.NONE for r in results.values())
    assert results["10098241"].location.postal_code == "02118"  # "02118-2526" in the answer


def test_error_code_is_an_error_never_zero() -> None:
    with pytest.raises(UpstreamError, match="StartDateTooFarInFuture"):
        parse_fixtures(MyChartScraper, "error.json")


def test_parse_command() -> None:
    path = fixture_path(MyChartScraper, "bmc-availability.json")
    code, document, _ = cli_parse("mychart", path)
    assert code == 0
    locations = {loc["id"]: loc for loc in document["locations"]}
    assert locations[ROSLINDALE]["by_date"] == {"2021-04-03": 1}
    assert sum(loc["appointments"] for loc in locations.values()) == 1
    code, _, stderr = cli_parse("mychart", fixture_path(MyChartScraper, "error.json"))
    assert (code, stderr.split(":")[0]) == (2, "upstream_error")


def test_token_page_then_one_openings_post_per_week() -> None:
    scraper = MyChartScraper({"weeks": 2})
    [page] = scraper.requests()
    assert (page.method, page.url) == ("GET", f"{BASE}/SignupAndSchedule/EmbeddedSchedule")
    assert page.params["dept"] == "10098241,10098242,10098243,10098244,10098245"
    assert page.params["vt"] == "2008"
    token = replace(
        response(TOKEN_PAGE, url=page.url, request=page),
        # 01:30 UTC on April 3 is still April 2 in Boston: the poll starts on the local date.
        fetched_at=dt.datetime(2021, 4, 3, 1, 30, tzinfo=dt.UTC),
    )
    weeks = scraper.follow(token)
    assert [r.url for r in weeks] == [
        f"{BASE}/OpenScheduling/OpenScheduling/GetOpeningsForProvider"
    ] * 2
    first = dict(parse_qsl((weeks[0].data or b"").decode()))
    assert [dict(parse_qsl((w.data or b"").decode()))["start"] for w in weeks] == [
        "2021-04-02",
        "2021-04-09",
    ]
    assert weeks[0].headers["__RequestVerificationToken"] == "tok-123"
    assert first["vt"] == "2008" and first["view"] == "grouped"
    assert json.loads(first["filters"])["Departments"][ROSLINDALE] is True
    answer = response(json.dumps(ANSWER), request=weeks[0])
    assert scraper.follow(answer) == []
    results = by_id(scraper.parse_all([token, answer]))
    assert days(results[ROSLINDALE]) == {"2021-04-03": 1}


def test_overlapping_weeks_count_a_slot_once() -> None:
    same = [response(json.dumps(ANSWER)), response(json.dumps(ANSWER))]
    assert days(by_id(MyChartScraper().parse_all(same))[ROSLINDALE]) == {"2021-04-03": 1}


def test_a_poll_with_only_the_token_page_raises() -> None:
    with pytest.raises(Unparseable):
        MyChartScraper().parse_all([response(TOKEN_PAGE)])


def test_a_page_without_the_token_raises() -> None:
    with pytest.raises(Unparseable):
        MyChartScraper().parse_all([response("<html><body>Sign in</body></html>")])
    with pytest.raises(Blocked):
        MyChartScraper().parse_all([response("<html><div class='g-recaptcha'></div></html>")])
    assert MyChartScraper().follow(response("<html><body>Sign in</body></html>")) == []


def test_no_openings_anywhere_is_none_for_every_department() -> None:
    quiet = {**ANSWER, "AllDays": {}, "ByDateThenProviderCollated": {}}
    results = MyChartScraper().parse(response(json.dumps(quiet)))
    assert len(results) == 5 and {r.status for r in results} == {Status.NONE}


def test_department_without_address_still_parses() -> None:
    sparse = {
        **ANSWER,
        "AllDepartments": {ROSLINDALE: {"Name": "Roslindale"}},
    }
    [result] = MyChartScraper().parse(response(json.dumps(sparse)))
    assert (result.location.name, result.location.postal_code) == ("Roslindale", None)
    assert days(result) == {"2021-04-03": 1}


@pytest.mark.parametrize(
    "answer",
    [
        {**ANSWER, "AllDays": None},
        {**ANSWER, "AllDepartments": None},
        {**ANSWER, "AllDays": {"k": {"DepartmentID": ROSLINDALE, "Slots": []}}},
        {**ANSWER, "AllDays": {"k": {"DepartmentID": ROSLINDALE, "DateISO": "x", "Slots": [{}]}}},
        [],
    ],
)
def test_malformed_answers_raise(answer: object) -> None:
    with pytest.raises(Unparseable):
        MyChartScraper().parse(response(json.dumps(answer)))


def test_valid_at_is_the_aware_date_header() -> None:
    header, instant = DATE_HEADER
    results = MyChartScraper().parse(response(json.dumps(ANSWER), headers={"Date": header}))
    assert {r.valid_at for r in results} == {instant}


BODIES = [fixture_path(MyChartScraper, "bmc-availability.json").read_bytes()]


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(damaged(BODIES))
def test_damaged_answers_parse_or_raise_scrape_errors(case: tuple[int, bytes]) -> None:
    scraper = MyChartScraper()
    answer = response(case[1])

    def attempt() -> None:
        scraper.follow(answer)
        assert all(isinstance(r, LocationAvailability) for r in scraper.parse_all([answer]))

    raises_only_scrape_errors(attempt)
