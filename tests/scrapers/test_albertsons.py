"""Albertsons: the booking API (stores with openings) and the mHealth file (yes/no per clinic)."""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import replace
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from notifier.model import LocationAvailability, Status
from notifier.scraping import Blocked, ScrapeError, Unparseable, UpstreamError
from scrapers._albertsons_text import mhealth_product, rxie_product, split_address
from scrapers.albertsons import BOOKING_URL, MHEALTH_URL, RXIE_URL, Albertsons
from tests.scrapers.api_support import by_id, fixture, fixture_json, response_from

RXIE_FILES = ("rxie-08217.json", "rxie-07067.json")


def rxie_store(**store: Any) -> dict[str, Any]:
    """The first real store of the 08217 answer, with some fields replaced."""
    entry = fixture_json(Albertsons, "rxie-08217.json")[0]
    entry["store"].update(store)
    return entry


def mhealth_clinic(**fields: Any) -> dict[str, Any]:
    """The first real clinic of the NJ trim (Acme 1065, Fort Lee), with some fields replaced."""
    return {**fixture_json(Albertsons, "mhealth-nj.json")[0], **fields}


# --------------------------------------------------------------------------- booking API


def test_rxie_lists_stores_with_openings_once_across_overlapping_zips() -> None:
    scraper = Albertsons()
    first, second = (scraper.parse(fixture(Albertsons, name)) for name in RXIE_FILES)
    assert (len(first), len(second)) == (56, 34)
    overlap = set(by_id(first)) & set(by_id(second))
    assert len(overlap) == 12 and "295" in overlap and "4926" in overlap
    results = scraper.parse_all([fixture(Albertsons, name) for name in RXIE_FILES])
    assert len(results) == 78
    assert [sum(r.location.state == s for r in results) for s in ("NJ", "PA", "DE")] == [47, 30, 1]
    assert all(r.status is Status.AVAILABLE and r.appointments is None for r in results)
    assert all(r.by_date == {} and r.products == () and r.valid_at is None for r in results)
    store = by_id(results)["852"].location
    assert (store.name, store.postal_code, store.time_zone) == (
        "Acme #852",
        "08330",
        "America/New_York",
    )
    assert store.booking_url == BOOKING_URL and store.phone == "(609) 625-5012"


def test_rxie_requests_are_the_recorded_posts() -> None:
    requests = Albertsons().requests()
    assert [(r.method, r.url) for r in requests] == [("POST", RXIE_URL)] * 2
    for request, name in zip(requests, RXIE_FILES, strict=True):
        sidecar = fixture_json(Albertsons, f"{name}.meta.json")
        assert request.json == sidecar["request"]["json"]
        assert "Ocp-Apim-Subscription-Key" not in request.headers
    keyed = Albertsons({"subscription_key": "abc", "zips": ["99577"]}).requests()
    assert keyed[0].headers["Ocp-Apim-Subscription-Key"] == "abc"
    assert keyed[0].json["zip"] == "99577"


def test_mhealth_request_is_conditional_not_cache_busted() -> None:
    (request,) = Albertsons({"source": "mhealth"}).requests()
    assert (request.method, request.url, dict(request.params)) == ("GET", MHEALTH_URL, {})


@pytest.mark.parametrize(("given_zip", "expected"), [("8217", "08217"), (8217, "08217")])
def test_settings_repair_zips_that_lost_their_leading_zero(given_zip: Any, expected: str) -> None:
    assert Albertsons({"zips": [given_zip]}).settings.zips == (expected,)


def test_settings_refuse_what_is_not_a_zip() -> None:
    with pytest.raises(ValidationError):
        Albertsons({"zips": ["Newark"]})
    with pytest.raises(ValidationError):
        Albertsons({"radius_miles": 500})


def test_rxie_store_zip_leading_zero_and_missing_coordinates_are_filled() -> None:
    results = Albertsons().parse(
        response_from(
            [
                rxie_store(zip="8330", latitude=None, longitude=None),
                rxie_store(storeNumber="1", currentStoreNumber="1", zip=8330),
            ],
            url=RXIE_URL,
        )
    )
    assert [r.location.postal_code for r in results] == ["08330", "08330"]
    filled = results[0].location
    assert filled.lat is not None and filled.lon is not None
    assert filled.time_zone == "America/New_York"


def test_rxie_products_follow_the_service_types() -> None:
    entry = rxie_store(storeName="SAFEWAY")
    entry["serviceTypes"] = [
        {"serviceTypeName": "COVID-19 Pfizer"},
        {"serviceTypeName": "COVID-19 Dose 1 Moderna Child"},
        {"serviceTypeName": "COVID-19 Booster Dose Novavax"},
        {"serviceTypeName": "COVID-19 Unknown"},
        {"serviceTypeName": "Influenza"},
    ]
    (result,) = Albertsons().parse(response_from([entry], url=RXIE_URL))
    assert result.location.name == "Safeway #852"
    assert result.products == ("Pfizer", "Moderna (6-11)", "Novavax")


@pytest.mark.parametrize(
    ("service_type", "product"),
    [
        ("COVID-19 Unknown", None),
        ("COVID-19 Updated Booster Pfizer Child", "Pfizer (5-11)"),
        ("COVID-19 Dose 2 Moderna", "Moderna"),
        ("COVID-19 Janssen", "Janssen"),
        ("Shingles Shingrix", None),
    ],
)
def test_rxie_product_names(service_type: str, product: str | None) -> None:
    assert rxie_product(service_type) == product


def test_rxie_empty_answer_is_no_store_with_openings() -> None:
    assert Albertsons().parse(response_from([], url=RXIE_URL)) == []


@pytest.mark.parametrize(
    ("body", "status", "error", "match"),
    [
        ([{"errorCode": "E42", "errorMessage": "Service unavailable"}], 200, UpstreamError, "E42"),
        ({"statusCode": 401, "message": "Access denied"}, 200, Blocked, "Access denied"),
        ({"statusCode": 500, "message": "Internal"}, 200, UpstreamError, "Internal"),
        ({"stores": []}, 200, Unparseable, "object"),
        ([{"shop": {}}], 200, Unparseable, "neither"),
        ([rxie_store(storeNumber="A12", currentStoreNumber="A12")], 200, Unparseable, "A12"),
        ([rxie_store(zip=None, latitude=None)], 200, Unparseable, "ZIP"),
        ([], 429, Blocked, "429"),
        ([], 503, ScrapeError, "503"),
    ],
)
def test_rxie_errors_raise(body: Any, status: int, error: type[Exception], match: str) -> None:
    with pytest.raises(error, match=match):
        Albertsons().parse(response_from(body, url=RXIE_URL, status=status))


def test_error_fixtures_raise_never_empty() -> None:
    with pytest.raises(Blocked, match="block or waiting-room"):
        Albertsons().parse(fixture(Albertsons, "imperva-block.html"))
    with pytest.raises(Blocked, match="401"):
        Albertsons().parse(fixture(Albertsons, "apim-missing-key.json"))
    s3_error = fixture(Albertsons, "s3-access-denied.xml")
    with pytest.raises(UpstreamError, match="AccessDenied"):  # passed on with a 200
        Albertsons().parse(replace(s3_error, status=200))


# --------------------------------------------------------------------------- mHealth file


def test_mhealth_file_yes_and_no_with_validity_and_deep_links() -> None:
    results = Albertsons().parse(fixture(Albertsons, "vaccineAvailability.json"))
    assert len(results) == 2024
    assert sum(r.status is Status.AVAILABLE for r in results) == 1845
    assert sum(r.status is Status.NONE for r in results) == 179
    when = dt.datetime(2022, 6, 30, 1, 46, 31, tzinfo=dt.UTC)
    assert all(r.valid_at == when for r in results)
    assert all(r.location.time_zone and r.location.postal_code for r in results)
    assert all((r.location.booking_url or "").startswith("https://kordinator.") for r in results)
    no_state = [r.location for r in results if r.location.address == "2300 16th Street"]
    assert len(no_state) == 1 and no_state[0].state == "CA"  # blank in the file, from the ZIP
    assert by_id(results)["1600099050627"].products == ("Pfizer",)
    products = {p for r in results for p in r.products}
    assert products == {
        "Pfizer",
        "Moderna",
        "Janssen",
        "Pfizer (5-11)",
        "Pfizer (6m-4y)",
        "Moderna (6m-5y)",
    }
    assert all(r.products == () for r in results if r.status is Status.NONE)


def test_mhealth_none_trim_is_all_none() -> None:
    results = Albertsons().parse(fixture(Albertsons, "mhealth-none.json"))
    assert len(results) == 8
    assert all(r.status is Status.NONE and r.appointments == 0 for r in results)


@pytest.mark.parametrize(
    ("text", "parts"),
    [
        (
            "Acme 1065 - 2160 Lemoine Avenue, Fort Lee, NJ, 07024",
            ("Acme 1065", "2160 Lemoine Avenue", "Fort Lee", "NJ", "07024"),
        ),
        (
            "Safeway 0502 Safeway - 5702 Summitview Ave, Yakima, WA, 98908",
            ("Safeway 0502", "5702 Summitview Ave", "Yakima", "WA", "98908"),
        ),
        (
            "Safeway #1490- Pediatric Clinic  - 2300 - 16th Street, San Francisco, , 94103",
            (
                "Safeway #1490 - Pediatric Clinic",
                "2300 16th Street",
                "San Francisco",
                None,
                "94103",
            ),
        ),
        (
            "Acme 2956 - 515 Berlin - Cross Keys Road, Sicklerville, NJ, 08081",
            ("Acme 2956", "515 Berlin-Cross Keys Road", "Sicklerville", "NJ", "08081"),
        ),
        (
            "Safeway 2729 Pediatric Clinic  - Safeway - 708 Shaw Rd, Puyallup, WA, 98372",
            ("Safeway 2729 Pediatric Clinic", "708 Shaw Rd", "Puyallup", "WA", "98372"),
        ),
        (
            "Pediatric 5 - 11 year old COVID-19 Boosters at Rockville Safeway  - 403 Redland "
            "Blvd, Rockville, MD, 20850",
            (
                "Pediatric 5\u201311 year old COVID-19 Boosters at Rockville Safeway",
                "403 Redland Blvd",
                "Rockville",
                "MD",
                "20850",
            ),
        ),
        (
            "https://kordinator.mhealthcoach.net/vcl/1636075700051 - Vons - 3439 Via "
            "Montebello, Carlsbad, CA, 92009",
            ("Vons", "3439 Via Montebello", "Carlsbad", "CA", "92009"),
        ),
        ("Dallas ISD - ., ., TX, 75201", ("Dallas ISD", None, None, "TX", "75201")),
        ("Mobile clinic", ("Mobile clinic", None, None, None, None)),
    ],
)
def test_split_address(text: str, parts: tuple[str | None, ...]) -> None:
    assert split_address(text) == parts


@pytest.mark.parametrize(
    ("drug", "product"),
    [
        ("Pfizer", "Pfizer"),
        ("JnJ", "Janssen"),
        ("PfizerToddler", "Pfizer (6m-4y)"),
        ("ModernaChild", "Moderna (6m-5y)"),
        ("Novavax", "Novavax"),
        ("Sanofi  Booster", "Sanofi Booster"),
    ],
)
def test_mhealth_product_names(drug: str, product: str) -> None:
    assert mhealth_product(drug) == product


def test_mhealth_clinic_edge_cases() -> None:
    body = [
        mhealth_clinic(id=7, address="Public Test - 1 Main St, Fort Lee, NJ, 7024"),
        mhealth_clinic(id=8, address="Acme 1 - 1 Main St, Fort Lee, NJ, 7024", coach_url=None),
        mhealth_clinic(id="9", lat="", long=None, address="Acme 2 - 2 Main St, Newark, NJ, 07102"),
    ]
    results = by_id(Albertsons().parse(response_from(body, url=MHEALTH_URL)))
    assert sorted(results) == ["8", "9"]  # the test entry is skipped
    assert results["8"].location.booking_url == "https://www.mhealthappointments.com/covidappt"
    assert results["9"].location.lat is not None  # the ZIP centroid


@pytest.mark.parametrize(
    ("body", "match"),
    [
        ([], "no clinics"),
        ([mhealth_clinic(availability="maybe")], "maybe"),
        ([mhealth_clinic(address="Acme - nowhere", lat=None)], "neither a ZIP"),
        ([mhealth_clinic(drugName="Pfizer")], "drugName"),
    ],
)
def test_mhealth_errors_raise(body: Any, match: str) -> None:
    with pytest.raises(Unparseable, match=match):
        Albertsons().parse(response_from(body, url=MHEALTH_URL))


def test_mhealth_bare_304_raises() -> None:
    with pytest.raises(Unparseable, match="304"):
        Albertsons().parse(fixture(Albertsons, "vaccineAvailability.304.json"))


# --------------------------------------------------------------------------- fuzz

FUZZ_FILES = ("rxie-07067.json", "mhealth-nj.json", "mhealth-none.json")
FUZZ = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@st.composite
def mutated(draw: st.DrawFn, body: bytes) -> bytes:
    """Cuts, bit flips, inserted and deleted runs: what a broken proxy or connection sends."""
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
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner),
    max_leaves=6,
)


@st.composite
def retyped(draw: st.DrawFn, document: list[Any]) -> bytes:
    """The same JSON with one field of one entry replaced by JSON of any type."""
    doc = json.loads(json.dumps(document))
    entry = doc[draw(st.integers(0, len(doc) - 1))]
    holder = entry["store"] if "store" in entry and draw(st.booleans()) else entry
    holder[draw(st.sampled_from(sorted(holder)))] = draw(JSON_VALUES)
    return json.dumps(doc).encode()


def survives(body: bytes, name: str) -> None:
    original = fixture(Albertsons, name)
    try:
        results = Albertsons().parse(replace(original, body=body))
    except ScrapeError:
        return
    assert isinstance(results, list)
    assert all(isinstance(r, LocationAvailability) for r in results)
    assert all(r.location.id and r.location.name for r in results)


@pytest.mark.parametrize("name", FUZZ_FILES)
@FUZZ
@given(data=st.data())
def test_mutated_bytes_parse_or_raise_scrape_error(name: str, data: st.DataObject) -> None:
    survives(data.draw(mutated(fixture(Albertsons, name).body)), name)


@pytest.mark.parametrize("name", FUZZ_FILES)
@FUZZ
@given(data=st.data())
def test_wrong_json_types_parse_or_raise_scrape_error(name: str, data: st.DataObject) -> None:
    survives(data.draw(retyped(fixture_json(Albertsons, name))), name)
