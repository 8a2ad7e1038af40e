"""Offline region lookup: US ZIP repair and centroids, German PLZ (NRW), unknown codes."""

from __future__ import annotations

import pytest

from notifier.geo import (
    complete_location,
    distance_miles,
    lookup_postal_code,
    normalize_postal_code,
    phone_country,
    region_problem,
    stored_postal_country,
)
from notifier.geo.de import DATA_FILE, build_table
from notifier.model import Location

# --------------------------------------------------------------------------- United States


@pytest.mark.parametrize(
    ("raw", "zip_code"),
    [
        ("6811", "06811"),
        (6811, "06811"),
        ("08332-3762", "08332"),
        (" 02120 ", "02120"),
        ("8812", "08812"),
    ],
)
def test_us_zip_repair(raw: object, zip_code: str) -> None:
    assert normalize_postal_code(raw) == zip_code  # type: ignore[arg-type]


def test_us_centroid_and_time_zone() -> None:
    place = lookup_postal_code("6811")
    assert place is not None and (place.city, place.state) == ("Danbury", "CT")
    assert distance_miles(place.lat, place.lon, 41.3919, -73.5211) < 5  # Rite Aid #10384
    assert place.time_zone == "America/New_York"
    anchorage = lookup_postal_code("99503")
    assert anchorage is not None and anchorage.time_zone == "America/Anchorage"


def test_complete_location_keeps_source_values_and_fills_the_rest() -> None:
    loc = complete_location(
        Location(id="1", name="Store", postal_code="6811", lat=41.39, lon=-73.52)
    )
    assert loc.postal_code == "06811" and (loc.lat, loc.lon) == (41.39, -73.52)
    assert loc.time_zone == "America/New_York" and loc.city == "Danbury"


# --------------------------------------------------------------------------- Germany

# city centres (Dom, Königsallee, Alter Markt), to within a few km
NRW = [
    ("50667", "Köln", 50.9413, 6.9583),
    ("40213", "Düsseldorf", 51.2254, 6.7763),
    ("44135", "Dortmund", 51.5136, 7.4653),
]


@pytest.mark.parametrize(("plz", "city", "lat", "lon"), NRW)
def test_nrw_postal_codes_resolve_near_their_city_centre(
    plz: str, city: str, lat: float, lon: float
) -> None:
    place = lookup_postal_code(plz, "DE")
    assert place is not None
    assert (place.country, place.postal_code, place.city, place.state) == ("DE", plz, city, "NW")
    assert distance_miles(place.lat, place.lon, lat, lon) < 2
    assert place.time_zone == "Europe/Berlin"


def test_german_codes_normalize() -> None:
    assert normalize_postal_code("D-50667", "DE") == "50667"
    assert normalize_postal_code("de 40213", "de") == "40213"
    assert normalize_postal_code("1067", "DE") == "01067"  # Dresden, read as a number
    assert normalize_postal_code("5066", "DE") == "05066"
    assert normalize_postal_code("506677", "DE") is None
    assert lookup_postal_code("1067", "DE") is not None


@pytest.mark.parametrize(
    ("code", "country"),
    [
        ("00000", "DE"),
        ("99999", "DE"),
        ("ABCDE", "DE"),
        ("", "DE"),
        (None, "DE"),
        ("00000", "US"),
        ("12", "US"),
        ("50667", "FR"),
    ],
)
def test_unknown_codes_return_none(code: str | None, country: str) -> None:
    assert lookup_postal_code(code, country) is None


def test_complete_a_german_location() -> None:
    loc = complete_location(
        Location(id="z", name="Impfzentrum", postal_code="D-44135", country="DE")
    )
    assert (loc.postal_code, loc.city, loc.state, loc.time_zone) == (
        "44135",
        "Dortmund",
        "NW",
        "Europe/Berlin",
    )
    cologne, dusseldorf = lookup_postal_code("50667", "DE"), lookup_postal_code("40213", "DE")
    assert cologne and dusseldorf
    assert 18 < distance_miles(cologne.lat, cologne.lon, dusseldorf.lat, dusseldorf.lon) < 25


def test_a_stored_code_is_read_in_the_country_it_was_geocoded_in() -> None:
    # 50667 is both Raymond, Iowa and Köln: the stored centroid tells which one was meant
    koeln, iowa = lookup_postal_code("50667", "DE"), lookup_postal_code("50667", "US")
    assert koeln is not None and iowa is not None
    assert (koeln.city, iowa.city) == ("Köln", "Raymond")
    assert stored_postal_country("50667", lat=koeln.lat, lon=koeln.lon) == "DE"
    assert stored_postal_country("50667", lat=iowa.lat, lon=iowa.lon) == "US"
    # ... even against the other hints, and a rebuilt table may move a centroid a little
    assert (
        stored_postal_country("50667", lat=koeln.lat + 0.05, lon=koeln.lon, phone="+16175550123")
        == "DE"
    )
    # without coordinates: the phone number's country, then the code's time zone
    assert stored_postal_country("50667", phone="+4915123456789") == "DE"
    assert stored_postal_country("50667", time_zone="Europe/Berlin") == "DE"
    assert stored_postal_country("50667", time_zone="America/Chicago") == "US"
    assert stored_postal_country("50667") == "US"
    assert stored_postal_country("50667", default="DE") == "DE"
    # a number whose country has the code wins over a time zone (+1 is always US)
    assert stored_postal_country("50667", phone="+14165550123", time_zone="Europe/Berlin") == "US"
    # a code no country knows: the number's country if it has postal codes, else the default
    assert stored_postal_country("00000", phone="+4915123456789") == "DE"
    assert stored_postal_country(None, phone="+447700900123") == "US"


def test_phone_numbers_tell_their_country() -> None:
    assert phone_country("+4915123456789") == "DE"
    assert phone_country("+16175550123") == phone_country("+14165550123") == "US"
    assert phone_country("jane@example.org") is None
    assert phone_country("+") is None and phone_country(None) is None


def test_the_shipped_table_covers_germany_and_names_its_source() -> None:
    lines = DATA_FILE.read_text(encoding="utf-8").splitlines()
    assert lines[0] == "postal_code\tplace\tstate\tlat\tlon"
    codes = [line.split("\t")[0] for line in lines[1:]]
    assert len(codes) > 8000 and codes == sorted(set(codes))
    nrw = [line for line in lines[1:] if line.split("\t")[2] == "NW"]
    assert len(nrw) > 300
    for line in lines[1:]:
        lat, lon = map(float, line.split("\t")[3:])
        assert 47 < lat < 55.2 and 5.8 < lon < 15.1, line
    notice = (DATA_FILE.parent / "NOTICE-geonames.md").read_text(encoding="utf-8")
    assert "GeoNames" in notice and "CC BY 4.0" in notice


def test_build_table_averages_places_and_names_the_commonest() -> None:
    geonames = [
        "DE\t01945\tRuhland\tBrandenburg\tBB\t\t00\tLandkreis\t12066\t51.4\t13.8\t4",
        "DE\t01945\tTettau\tBrandenburg\tBB\t\t00\tLandkreis\t12066\t51.6\t13.6\t4",
        "DE\t01945\tTettau\tBrandenburg\tBB\t\t00\tLandkreis\t12066\t51.5\t13.7\t4",
        "DE\t50667\tKöln\tNordrhein-Westfalen\tNW\t\t053\tKöln\t05315\t50.9387\t6.9547\t6",
        "AT\t1010\tWien\tWien\t09\t\t\t\t\t48.2\t16.37\t4",
        "DE\tbad\tX\tY\tZ\t\t\t\t\tnot-a-number\t1\t",
    ]
    assert build_table(geonames) == [
        "postal_code\tplace\tstate\tlat\tlon",
        "01945\tTettau\tBB\t51.5000\t13.7000",
        "50667\tKöln\tNW\t50.9387\t6.9547",
    ]


@pytest.mark.parametrize("code", ["US", "DE", "US-MA", "US-DC", "US-PR", "DE-NW", "FR", "CA-ON"])
def test_iso_region_codes_are_accepted(code: str) -> None:
    assert region_problem(code) is None


@pytest.mark.parametrize(
    ("code", "hint"),
    [
        ("MA", "a US scraper probably means 'US-MA'"),  # Morocco to ISO 3166
        ("CA", "probably means 'US-CA'"),  # Canada to ISO 3166
        ("NJ", "probably means 'US-NJ'"),  # no country at all
        ("us-ma", "upper case"),
        (" US-MA", "upper case"),
        ("US-XX", "'XX' is not a subdivision of US"),
        ("DE-XY", "'XY' is not a subdivision of DE"),
        ("XX", "not an ISO 3166 country"),
        ("USA", "not an ISO 3166 country"),
        ("Massachusetts", "upper case"),
        ("XX-MA", "'XX' is not an ISO 3166 country code"),
        ("", "must be a code"),
    ],
)
def test_region_slips_are_named_with_the_fix(code: str, hint: str) -> None:
    problem = region_problem(code)
    assert problem is not None and hint in problem


def test_scraper_metadata_check_tells_a_us_scraper_it_means_us_ma() -> None:
    from notifier.kit.quality_rules import metadata_problems
    from notifier.scraping import Scraper

    class BareState(Scraper):  # no name: does not register
        provider = "Example Clinics"
        regions = ("MA", "US-NH")
        maintainer = "@someone"

    problems = metadata_problems(BareState)
    assert any("probably means 'US-MA'" in p for p in problems), problems
    assert not any("US-NH" in p for p in problems)


@pytest.mark.parametrize("code", ["²²²²²", "١٢٣٤٥", "０２１１５"])
def test_postal_codes_are_ascii_digits(code: str) -> None:
    assert normalize_postal_code(code) is None
    assert normalize_postal_code(code, "DE") is None
