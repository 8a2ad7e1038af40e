"""The SMART Scheduling Links scraper: README values, counting rules, quirks and errors."""

from __future__ import annotations

import datetime as dt
import json
import logging
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError
from typer.testing import CliRunner

from notifier.cli.app import app
from notifier.kit.netblock import block_network
from notifier.kit.replay import parse_paths
from notifier.model import LocationAvailability, Status
from notifier.scraping import (
    Blocked,
    Response,
    Unparseable,
    Unreachable,
    UpstreamError,
    fixture_dir,
)
from scrapers._smart.publishers import publishers
from scrapers.smart_scheduling_links import FeedUnchanged, SmartSchedulingLinks
from tests.scrapers.smart_support import (
    BASE,
    MANIFEST_URL,
    capacity,
    location,
    manifest,
    ndjson,
    poll,
    schedule,
    slot,
)

FIXTURES = fixture_dir(SmartSchedulingLinks)
D = dt.date.fromisoformat


def parse_fixture(name: str, **settings: Any) -> dict[str, LocationAvailability]:
    with block_network():
        results = parse_paths(SmartSchedulingLinks(settings), [FIXTURES / name])
    return {r.location.id: r for r in results}


def scraper(**settings: Any) -> SmartSchedulingLinks:
    return SmartSchedulingLinks({"manifest_url": MANIFEST_URL, **settings})


def run(
    locations: list[dict], schedules: list[dict], slots: list[dict], **settings: Any
) -> dict[str, LocationAvailability]:
    s = scraper(**settings)
    bodies = {
        MANIFEST_URL: manifest(
            {"loc.ndjson": "Location", "sch.ndjson": "Schedule", "slot.ndjson": "Slot"}
        ),
        BASE + "loc.ndjson": ndjson(locations),
        BASE + "sch.ndjson": ndjson(schedules),
        BASE + "slot.ndjson": ndjson(slots),
    }
    return {r.location.id: r for r in s.parse_all(poll(s, bodies))}


# --------------------------------------------------------------------------- README values


def test_spec_example_w09_to_w11(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING):
        results = parse_fixture("spec-example")
    assert len(results) == 10
    assert sum(r.slots or 0 for r in results.values()) == 210
    assert sum(r.appointments or 0 for r in results.values()) == 210 * 100
    for r in results.values():
        assert r.status is Status.AVAILABLE and r.location.state == "MA"
        # No coordinates in the feed: the ZIP centroid and its time zone fill in.
        assert r.location.lat is not None and r.location.lon is not None
        assert r.location.time_zone == "America/New_York"
        # 14:00Z-23:00Z is 09:00-18:00 in Massachusetts: one local day per slot, 100 each.
        assert r.by_date == {D("2021-03-01") + dt.timedelta(days=i): 100 for i in range(21)}
        assert r.valid_at == dt.datetime(2021, 4, 22, 14, 28, 21, 582000, tzinfo=dt.UTC)
    # W12 and W13 are listed but were never published: skipped with a warning.
    assert "slots-2021-W12.ndjson" in caplog.text and "slots-2021-W13.ndjson" in caplog.text


def test_prepmod_wa_products_by_display_text() -> None:
    results = parse_fixture("prepmod-wa-2021-09-01")
    walla = results["a475ff88d4e0bb9ee1fc09040d45f5cb"]
    yakima = results["a23fd81af085c8a37c707b7ba929a78f"]
    assert len(results) == 2
    assert (walla.location.name, walla.location.postal_code, walla.slots) == (
        "Walla Walla Mobile Units",
        "99362",
        14,
    )
    assert (yakima.location.city, yakima.location.postal_code, yakima.slots) == (
        "Sunnyside",
        "98944",
        35,
    )
    assert walla.products == ("Janssen", "Pfizer") and yakima.products == ("Pfizer",)
    for r in (walla, yakima):
        assert r.valid_at == dt.datetime(2021, 9, 1, 21, 56, 12, tzinfo=dt.UTC)


def test_prepmod_wa_replayed_as_304_parses_the_same() -> None:
    first, again = (
        parse_fixture("prepmod-wa-2021-09-01"),
        parse_fixture("prepmod-wa-2021-09-01-304"),
    )
    assert [r.to_json() for r in first.values()] == [r.to_json() for r in again.values()]


@pytest.mark.parametrize("settings", [{"publisher": "cvs"}, {}])
def test_cvs_capacity_strings_are_yes_no(settings: dict[str, Any]) -> None:
    # Without settings the manifest's own "request" URL names CVS and its quirks apply.
    store = parse_fixture("cvs", **settings)["2004"]
    assert (store.location.city, store.location.state, store.location.postal_code) == (
        "ALEXANDRIA",
        "VA",
        "22306",
    )
    assert store.by_date == {D("2021-05-18"): 0, D("2021-05-19"): None}
    assert store.status is Status.AVAILABLE and store.appointments is None and store.slots == 1


def test_cvs_without_its_quirk_would_count_the_flag() -> None:
    store = parse_fixture("cvs", publisher="cvs", capacity_is_flag=False)["2004"]
    assert store.by_date[D("2021-05-19")] == 1  # why the quirk exists: "1" is not a count


def test_walgreens_valid_at_is_current_as_of() -> None:
    store = parse_fixture("walgreens")["13656"]
    assert store.status is Status.AVAILABLE
    assert (store.location.city, store.location.postal_code) == ("Anchorage", "99503")
    assert store.valid_at == dt.datetime(2021, 10, 20, 1, 31, 57, 102000, tzinfo=dt.UTC)
    assert store.location.phone == "1-800-925-4733"  # booking-phone slot extension


def test_kroger_whole_day_slots() -> None:
    store = parse_fixture("kroger", publisher="kroger", states=["AK"])["70100011"]
    assert store.by_date == {
        D("2021-10-22"): None,
        D("2021-10-23"): 0,
        D("2021-10-24"): 0,
        D("2021-10-25"): None,
    }


def test_cli_parses_the_spec_example_directory() -> None:
    result = CliRunner().invoke(
        app,
        ["scraper", "parse", "smart-scheduling-links", str(FIXTURES / "spec-example"), "--json"],
    )
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout[result.stdout.index("{") :])
    assert len(document["locations"]) == 10
    assert sum(loc["slots"] for loc in document["locations"]) == 210


def test_cli_exits_2_on_an_access_denied_page() -> None:
    page = FIXTURES / "errors" / "access-denied.html"
    result = CliRunner().invoke(app, ["scraper", "parse", "smart-scheduling-links", str(page)])
    assert result.exit_code == 2 and "blocked" in result.stderr


# --------------------------------------------------------------------------- counting rules


def test_state_filter_skips_files_and_locations() -> None:
    s = SmartSchedulingLinks({"publisher": "kroger", "states": ["ak"]})
    response = Response.from_body((FIXTURES / "kroger" / "manifest.json").read_bytes())
    asked = [r.url.rsplit("/", 1)[1] for r in s.follow(response)]
    assert asked == ["schedules.ndjson", "locations.ndjson", "slot_AK.ndjson"]
    s = SmartSchedulingLinks({"publisher": "kroger", "states": ["AL"]})
    assert "slot_AK.ndjson" not in [r.url.rsplit("/", 1)[1] for r in s.follow(response)]

    results = run(
        [location("ma"), location("ct", state="CT", zip_code="06103")],
        [schedule("1", "ma"), schedule("2", "ct")],
        [slot("a", "1", "2021-04-02T14:00:00Z"), slot("b", "2", "2021-04-02T14:00:00Z")],
        states=["MA"],
    )
    assert list(results) == ["ma"]


def test_string_capacity_is_a_count_and_busy_days_are_zero() -> None:
    results = run(
        [location("x")],
        [schedule("s", "x")],
        [
            slot("1", "s", "2021-04-02T14:00:00Z", extensions=[capacity("5")]),
            slot("2", "s", "2021-04-02T15:00:00Z", extensions=[capacity(3)]),
            slot("3", "s", "2021-04-03T14:00:00Z", status="busy", extensions=[capacity(9)]),
        ],
    )
    x = results["x"]
    assert x.by_date == {D("2021-04-02"): 8, D("2021-04-03"): 0}
    assert (x.appointments, x.slots, x.status) == (8, 2, Status.AVAILABLE)


def test_only_busy_slots_is_none() -> None:
    results = run(
        [location("x")],
        [schedule("s", "x")],
        [slot("1", "s", "2021-04-02T14:00:00Z", status="busy")],
    )
    assert results["x"].status is Status.NONE and results["x"].appointments == 0


@pytest.mark.parametrize(
    ("end", "expected"),
    [("2021-04-02T14:20:00Z", 1), ("2021-04-02T23:00:00Z", None)],
    ids=["fine slot = one appointment", "coarse slot = count unknown"],
)
def test_slot_without_capacity(end: str, expected: int | None) -> None:
    results = run(
        [location("x")], [schedule("s", "x")], [slot("1", "s", "2021-04-02T14:00:00Z", end)]
    )
    assert results["x"].by_date == {D("2021-04-02"): expected}
    assert results["x"].status is Status.AVAILABLE


def test_by_date_is_the_locations_local_date() -> None:
    # 03:00Z on April 2 is still April 1 in Boston; 03:00Z in Anchorage is April 1 too.
    results = run(
        [location("bos"), location("anc", state="AK", zip_code="99503")],
        [schedule("1", "bos"), schedule("2", "anc")],
        [slot("a", "1", "2021-04-02T03:00:00Z"), slot("b", "2", "2021-04-02T20:00:00Z")],
    )
    assert list(results["bos"].by_date) == [D("2021-04-01")]
    assert list(results["anc"].by_date) == [D("2021-04-02")]  # 12:00 AKDT
    cvs_like = run(
        [location("bos")],
        [schedule("1", "bos")],
        [slot("a", "1", "2021-04-02T03:00:00Z")],
        dates_as_written=True,
    )
    assert list(cvs_like["bos"].by_date) == [D("2021-04-02")]


SHINGRIX = (None, "Shingrix (Zoster Vaccine Recombinant)")
JYNNEOS = (None, "JYNNEOS Monkeypox Vaccine")
PFIZER = (None, "Pfizer-BioNTech COVID-19 Vaccine")


def test_unrelated_schedules_are_not_covid_availability() -> None:
    locations = [location("shots"), location("mixed")]
    # PrepMod files every clinic under a COVID serviceType: the products decide.
    schedules = [
        schedule("shingles", "shots", SHINGRIX),
        schedule("mpox", "shots", JYNNEOS),
        schedule("covid", "mixed", PFIZER),
        schedule("zoster", "mixed", ("187", "Zoster")),
    ]
    slots = [
        slot("1", "shingles", "2021-04-02T14:00:00Z", extensions=[capacity(10)]),
        slot("2", "mpox", "2021-04-02T14:00:00Z", extensions=[capacity(10)]),
        slot("3", "covid", "2021-04-02T14:00:00Z", extensions=[capacity(2)]),
        slot("4", "zoster", "2021-04-02T14:00:00Z", extensions=[capacity(10)]),
    ]
    covid = run(locations, schedules, slots)
    assert list(covid) == ["mixed"]  # a location with only unrelated services is left out
    assert covid["mixed"].appointments == 2 and covid["mixed"].products == ("Pfizer",)
    anything = run(locations, schedules, slots, product_filter="any")
    assert anything["shots"].appointments == 20 and anything["mixed"].appointments == 12


def test_products_by_cvx_code() -> None:
    results = run(
        [location("x")],
        [schedule("s", "x", ("207", "x"), ("212", None), ("218", ""))],
        [slot("1", "s", "2021-04-02T14:00:00Z")],
    )
    assert results["x"].products == ("Moderna", "Janssen", "Pfizer (5-11)")


def test_reused_slot_ids_are_not_duplicates() -> None:
    start, end = "2021-04-02T14:00:00Z", "2021-04-02T14:20:00Z"
    results = run(
        [location("x")],
        [schedule("s1", "x"), schedule("s2", "x")],
        [
            slot("7", "s1", start, end),
            slot("7", "s2", start, end),  # same id, other schedule: another slot
            slot("7", "s1", "2021-04-03T14:00:00Z", "2021-04-03T14:20:00Z"),  # other time
            slot("7", "s1", start, end),  # listed twice: the same slot
            slot(8, "s1", start, end),  # other id, same time: aggregated separately
        ],
    )
    assert results["x"].slots == 4
    assert results["x"].by_date == {D("2021-04-02"): 3, D("2021-04-03"): 1}


@pytest.mark.parametrize("zip_code", ["2114", 2114, "02114-1234"])
def test_zip_that_lost_its_leading_zero_is_repaired(zip_code: Any) -> None:
    results = run([location("x", zip_code=zip_code)], [schedule("s", "x")], [])
    assert results["x"].location.postal_code == "02114"
    assert results["x"].status is Status.NONE


def test_valid_at_from_current_as_of_and_last_source_sync() -> None:
    s = scraper()
    synced = {
        "extension": [
            {
                "url": "http://hl7.org/fhir/StructureDefinition/lastSourceSync",
                "valueDateTime": "2021-04-01T08:00:00Z",
            }
        ]
    }
    bodies = {
        MANIFEST_URL: manifest(
            {"l": "Location", "s": "Schedule", "a": "Slot", "b": "Slot"},
            current_as_of={"a": "2021-04-01T10:00:00Z"},
        ),
        BASE + "l": ndjson([location("x"), location("y"), location("z")]),
        BASE + "s": ndjson([schedule("sx", "x"), schedule("sy", "y"), schedule("sz", "z")]),
        BASE + "a": ndjson([slot("1", "sx", "2021-04-02T14:00:00Z")]),
        BASE + "b": ndjson(
            [slot("2", "sy", "2021-04-02T14:00:00Z", meta=synced), slot("3", "sz", "2021-04-02")]
        ),
    }
    results = {r.location.id: r.valid_at for r in s.parse_all(poll(s, bodies))}
    assert results == {
        "x": dt.datetime(2021, 4, 1, 10, tzinfo=dt.UTC),  # the file's currentAsOf
        "y": dt.datetime(2021, 4, 1, 8, tzinfo=dt.UTC),  # the slot's lastSourceSync
        "z": dt.datetime(2021, 4, 1, 12, tzinfo=dt.UTC),  # the manifest's transactionTime
    }


def test_booking_link_and_phone_sources() -> None:
    link = {"url": "https://x/StructureDefinition/booking-deep-link", "valueUrl": "/book?s=1"}
    results = run(
        [location("x"), location("y")],
        [schedule("sx", "x"), schedule("sy", "y")],
        [slot("1", "sx", "2021-04-02T14:00:00Z", extensions=[link])],
    )
    assert results["x"].location.booking_url == "https://feed.test/book?s=1"  # made absolute
    assert results["y"].location.booking_url == "https://feed.test/"  # the publisher's site
    assert results["y"].location.phone == "617-555-0100"  # telecom, no booking phone


# --------------------------------------------------------------------------- damaged feeds


def _bodies(slot_lines: bytes) -> dict[str, bytes]:
    return {
        MANIFEST_URL: manifest({"l": "Location", "s": "Schedule", "a": "Slot"}),
        BASE + "l": ndjson([location("x")]),
        BASE + "s": ndjson([schedule("sx", "x")]),
        BASE + "a": slot_lines,
    }


def test_malformed_line_raises_and_blank_lines_do_not() -> None:
    good = ndjson([slot("1", "sx", "2021-04-02T14:00:00Z")])
    s = scraper()
    assert s.parse_all(poll(s, _bodies(b"\n" + good + b"\n\n")))[0].slots == 1
    with pytest.raises(Unparseable, match="line 2 is not JSON"):
        s.parse_all(poll(s, _bodies(good + good[:40])))
    with pytest.raises(Unparseable, match="not a JSON object"):
        s.parse_all(poll(s, _bodies(good + b"[1, 2]\n")))


def test_missing_slot_file_makes_its_locations_unknown(caplog: pytest.LogCaptureFixture) -> None:
    s = scraper()
    bodies = {
        MANIFEST_URL: manifest(
            {"l": "Location", "s": "Schedule", "ma": "Slot", "ct": "Slot"},
            states={"ma": ["MA"], "ct": ["CT"]},
        ),
        BASE + "l": ndjson([location("x"), location("y", state="CT", zip_code="06103")]),
        BASE + "s": ndjson([schedule("sx", "x"), schedule("sy", "y")]),
        BASE + "ma": ndjson([slot("1", "sx", "2021-04-02T14:00:00Z")]),
    }  # the CT Slot file was listed but not fetched
    with caplog.at_level(logging.WARNING):
        results = {r.location.id: r for r in s.parse_all(poll(s, bodies))}
    assert results["x"].status is Status.AVAILABLE
    assert results["y"].status is Status.UNKNOWN  # not "none": we did not see its slots
    assert "was not fetched" in caplog.text


def test_missing_location_file_raises() -> None:
    s = scraper()
    bodies = _bodies(b"")
    del bodies[BASE + "l"]
    with pytest.raises(Unparseable, match="Location file"):
        s.parse_all(poll(s, bodies))


def test_orphan_slots_make_schedule_less_locations_unknown() -> None:
    results = run(
        [location("x"), location("y")],
        [schedule("sx", "x")],
        [slot("1", "sx", "2021-04-02T14:00:00Z"), slot("2", "gone", "2021-04-02T14:00:00Z")],
    )
    assert results["x"].status is Status.AVAILABLE and results["y"].status is Status.UNKNOWN


@pytest.mark.parametrize(
    ("body", "status", "error"),
    [
        (
            b'{"resourceType":"OperationOutcome","issue":[{"diagnostics":"down"}]}',
            200,
            UpstreamError,
        ),
        (b"<html><title>Access Denied</title></html>", 200, Blocked),
        (b"<html><body>Maintenance</body></html>", 200, Unparseable),
        (b"upstream connect error", 503, Unreachable),
        (b'{"transactionTime":"2021-04-01T00:00:00Z","output":[]}', 200, UpstreamError),
        (b"[]", 200, Unparseable),
        (b"", 200, Unparseable),
    ],
)
def test_error_answers_raise(body: bytes, status: int, error: type[Exception]) -> None:
    s = scraper()
    (request,) = s.requests()
    response = Response(request, MANIFEST_URL, status, {}, body, dt.datetime.now(dt.UTC))
    assert s.follow(response) == []
    with pytest.raises(error):
        s.parse_all([response])


def test_parse_one_response() -> None:
    s = scraper()
    alone = Response.from_body(manifest({"l": "Location", "a": "Slot"}))
    with pytest.raises(Unparseable, match="was not fetched"):
        s.parse(alone)
    bundle = ndjson([slot("1", "sx", "2021-04-02T14:00:00Z"), schedule("sx", "x"), location("x")])
    (result,) = s.parse(Response.from_body(bundle))
    assert result.slots == 1 and result.valid_at is None


# --------------------------------------------------------------------------- _since and caching


def test_since_probe() -> None:
    since = dt.datetime(2021, 4, 1, 12, tzinfo=dt.UTC)
    plain = scraper(since=since)
    assert plain.requests()[0].params == {}  # the publisher is not known to honour _since
    s = scraper(since=since, use_since=True)
    (probe,) = s.requests()
    assert probe.params == {"_since": "2021-04-01T12:00:00+00:00"}

    def answer(body: bytes) -> Response:
        return Response(probe, MANIFEST_URL, 200, {}, body, dt.datetime.now(dt.UTC))

    unchanged = answer(manifest({"l": "Location"}, transaction_time="2021-04-01T12:00:00Z"))
    assert s.follow(unchanged) == []
    with pytest.raises(FeedUnchanged):
        s.parse_all([unchanged])
    empty = answer(manifest({}, transaction_time="2021-04-01T12:05:00Z"))
    assert s.follow(empty) == []
    changed = answer(manifest({"a": "Slot"}, transaction_time="2021-04-01T12:05:00Z"))
    (full,) = s.follow(changed)
    assert full.url == MANIFEST_URL and "_since" not in full.params
    with pytest.raises(Unparseable):
        s.parse_all([changed])  # a delta alone cannot give whole-location totals

    bodies = _bodies(ndjson([slot("1", "sx", "2021-04-02T14:00:00Z")]))
    bodies[MANIFEST_URL] = manifest(
        {"l": "Location", "s": "Schedule", "a": "Slot"}, transaction_time="2021-04-01T12:05:00Z"
    )
    responses = poll(s, bodies)  # the server ignores _since: probe, full manifest, files
    assert [r.request.label for r in responses][:2] == [
        "smart manifest (_since probe)",
        "smart manifest",
    ]
    assert s.parse_all(responses)[0].slots == 1
    assert s.transaction_time(responses) == dt.datetime(2021, 4, 1, 12, 5, tzinfo=dt.UTC)


@pytest.mark.parametrize(
    ("headers", "delay"),
    [
        ({"Cache-Control": "public, max-age=300", "Age": "100"}, 200.0),
        ({"Cache-Control": "max-age=10"}, 10.0),  # the 60 s floor is the core's min_interval
        ({"Cache-Control": "no-cache, no-store"}, None),
        ({}, None),
    ],
)
def test_next_poll_delay_honours_max_age(headers: dict[str, str], delay: float | None) -> None:
    s = scraper()
    responses = poll(s, _bodies(b""), headers=headers)
    assert s.next_poll_delay(responses) == delay


# --------------------------------------------------------------------------- configuration


def test_publisher_registry_matches_the_publisher_repository() -> None:
    registry = publishers()
    for key, file in [
        ("cvs", "cvshealth.json"),
        ("walgreens", "walgreens.json"),
        ("kroger", "kroger.json"),
        ("riteaid", "riteaid.json"),
        ("smart-example", "example.json"),
    ]:
        entry = json.loads((FIXTURES / "publishers" / file).read_text())
        assert registry[key].manifest_url == entry["url"]
    assert registry["cvs"].quirks.capacity_is_flag
    assert registry["prepmod-wa"].manifest_url.endswith("/api/smart-scheduling-links/$bulk-publish")
    s = SmartSchedulingLinks({"publisher": "smart-example"})
    (request,) = s.requests()
    assert request.headers == {"CLIENT_ID": "test-client-id"}
    assert request.params == {"test-param": "test-client-param"}


@pytest.mark.parametrize(
    "settings",
    [
        {"publisher": "nobody"},
        {"states": ["Massachusetts"]},
        {"manifest_url": "ftp://x/$bulk-publish"},
        {"unknown": 1},
    ],
)
def test_bad_settings_are_refused(settings: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        SmartSchedulingLinks(settings)


def test_defaults_poll_the_spec_example_once_a_minute() -> None:
    s = SmartSchedulingLinks()
    assert s.requests()[0].url == publishers()["smart-example"].manifest_url
    assert SmartSchedulingLinks.min_interval == SmartSchedulingLinks.default_interval == 60


def test_no_phone_number_in_logs(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.DEBUG):
        run(
            [location("x")],
            [schedule("sx", "x")],
            [slot("1", "sx", "2021-04-02T14:00:00Z"), slot("2", "nope", "2021-04-02")],
        )
    assert "555" not in caplog.text and "oddities" in caplog.text


def test_fixture_sources_name_every_entry() -> None:
    text = (FIXTURES / "SOURCES.md").read_text()
    for entry in Path(FIXTURES).iterdir():
        if entry.name != "SOURCES.md":
            assert entry.name in text


def test_advance_remembers_transaction_time_for_the_next_since() -> None:
    s = scraper()
    responses = poll(s, _bodies(b""))
    when = s.transaction_time(responses)
    assert when is not None
    following = s.advance(responses)
    assert following is not s and following.settings.since == when
    assert s.settings.since is None  # pure: the old scraper is unchanged
    assert following.advance(responses) is following  # same time: nothing to remember
