"""Lowell General (HealthPost JSONP): the "Sat Mar 20" slot, years, broken answers."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from notifier.model import Status
from notifier.scraping import Blocked, Unparseable
from scrapers.lowell_general import HOST, LowellGeneral, _year_for
from tests.scrapers.api_support import fixture, response_from


def test_one_slot_in_the_column_headed_sat_mar_20() -> None:
    (site,) = LowellGeneral().parse(fixture(LowellGeneral, "api-response.jsonp.txt"))
    assert site.appointments == 1 and site.slots == 1
    open_days = {d: n for d, n in site.by_date.items() if n}
    assert open_days == {dt.date(2021, 3, 20): 1}
    assert dt.date(2021, 3, 20).strftime("%a %b %d") == "Sat Mar 20"
    assert len(site.by_date) == 45 and min(site.by_date) == dt.date(2021, 2, 19)
    loc = site.location
    assert (loc.city, loc.state, loc.postal_code) == ("Lowell", "MA", "01854")
    assert loc.time_zone == "America/New_York" and loc.lat is not None
    assert loc.phone is None  # HealthPost prints 000-000-0000 for "no phone"


def test_an_empty_week_is_none_not_unknown() -> None:
    (site,) = LowellGeneral().parse(fixture(LowellGeneral, "none-response.jsonp.txt"))
    assert site.status is Status.NONE and site.appointments == 0


@pytest.mark.parametrize(
    ("body", "error"),
    [
        ("", Unparseable),
        ('HealthPost.server_response_for_update({"time_slots_div": 3});', Unparseable),
        ("HealthPost.server_response_for_update([1, 2]);", Unparseable),
        ("<html><title>Attention Required! | Cloudflare</title></html>", Blocked),
        ("<html><body>Maintenance</body></html>", Unparseable),
    ],
)
def test_broken_answers_raise(body: str, error: type[Exception]) -> None:
    with pytest.raises(error):
        LowellGeneral().parse(response_from(body))


def test_a_table_without_columns_is_a_changed_layout() -> None:
    payload = {"practice_location_id": 14110, "time_slots_div": "<div>We are updating</div>"}
    body = f"HealthPost.server_response_for_update({json.dumps(payload)});"
    with pytest.raises(Unparseable, match="no time-slot table"):
        LowellGeneral().parse(response_from(body))


def test_blocked_status_is_refused() -> None:
    with pytest.raises(Blocked):
        LowellGeneral().parse(response_from("nope", status=403))


def test_columns_after_new_year_get_the_next_year() -> None:
    start = dt.date(2021, 12, 20)
    assert _year_for(12, 31, start) == dt.date(2021, 12, 31)
    assert _year_for(1, 3, start) == dt.date(2022, 1, 3)
    with pytest.raises(Unparseable):
        _year_for(2, 30, start)


def test_requests_ask_each_station_for_45_days() -> None:
    scraper = LowellGeneral(
        {"stations": [{"doctor_id": 23431, "number": 16}, {"doctor_id": 23425, "number": 10}]}
    )
    first, second = scraper.requests()
    assert first.url == f"{HOST}/doctors/23431-covid-19-vaccination-station-16/time_slots"
    assert second.url.endswith("/doctors/23425-covid-19-vaccination-station-10/time_slots")
    start = dt.date.fromisoformat(first.params["start_at"][:10])
    end = dt.date.fromisoformat(first.params["end_at"][:10])
    assert (end - start).days == 45 and first.params["practice_location_id"] == "14110"
