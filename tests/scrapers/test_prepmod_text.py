"""Free-text fields of PrepMod clinic blocks: addresses, venue names, vaccines."""

from __future__ import annotations

import pytest

from scrapers._prepmod.text import (
    PostalAddress,
    canonical_products,
    clean_venue_name,
    parse_address,
    slugify,
    split_list,
)


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        (
            "10 Welcome Street, Haverhill MA, 01830",
            ("10 Welcome Street", "Haverhill", "MA", "01830"),
        ),
        ("1350 Tremont Street, Boston MA, 02120", ("1350 Tremont Street", "Boston", "MA", "02120")),
        ("5 Main St, North Andover MA 01845", ("5 Main St", "North Andover", "MA", "01845")),
        ("5 Main St, Suite 2, Lowell, Ma, 01852", ("5 Main St, Suite 2", "Lowell", "MA", "01852")),
        ("1 Elm St, Worcester Massachusetts, 1608", ("1 Elm St", "Worcester", "MA", "1608")),
        ("9 Fair Rd, Sunnyside WA, 98944-1234", ("9 Fair Rd", "Sunnyside", "WA", "98944-1234")),
        ("9 Fair Rd, Sunnyside, 98944", ("9 Fair Rd", None, None, "98944")),
        ("Town Hall parking lot", ("Town Hall parking lot", None, None, None)),
    ],
)
def test_parse_address(line: str, expected: tuple) -> None:
    assert parse_address(line) == PostalAddress(*expected)


def test_clean_venue_name_drops_the_address_tail_only() -> None:
    boston = parse_address("1350 Tremont Street, Boston MA, 02120")
    name = "Reggie Lewis State Track Athletic Ctr, Tremont Street, Boston, MA, USA"
    assert clean_venue_name(name, boston) == "Reggie Lewis State Track Athletic Ctr"
    assert clean_venue_name("Citizen Center", boston) == "Citizen Center"
    assert clean_venue_name("Boston", boston) == "Boston"  # never emptied
    assert clean_venue_name("Fenway Park, Gate D", boston) == "Fenway Park, Gate D"


@pytest.mark.parametrize(
    ("value", "products", "only_other"),
    [
        ("Moderna COVID-19 Vaccine, Janssen COVID-19 Vaccine", ("Moderna", "Janssen"), False),
        ("Pfizer-BioNTech COVID-19 Vaccine", ("Pfizer",), False),
        ("Novavax COVID-19 Vaccine, Adjuvanted", ("Novavax",), False),
        ("Johnson & Johnson", ("Janssen",), False),
        ("Pfizer-BioNTech COVID-19 Vaccine (Ages 5-11)", ("Pfizer (5-11)",), False),
        ("Pfizer Pediatric COVID-19 Vaccine", ("Pfizer (5-11)",), False),
        ("Pfizer-BioNTech COVID-19 Vaccine (6 months - 4 years)", ("Pfizer (6m-4y)",), False),
        ("Moderna COVID-19 Vaccine (6 months through 5 years)", ("Moderna (6m-5y)",), False),
        ("Pfizer-BioNTech COVID-19 Vaccine (12 years and older)", ("Pfizer",), False),
        ("Novel COVID-19 Vaccine", ("Novel COVID-19 Vaccine",), False),
        ("Influenza, Shingrix", (), True),
        ("", (), False),
    ],
)
def test_canonical_products(value: str, products: tuple, only_other: bool) -> None:
    assert canonical_products(value) == (products, only_other)


def test_slug_and_lists() -> None:
    assert slugify("Café Center, 10 Welcome St. 01830") == "cafe-center-10-welcome-st-01830"
    assert split_list("Children, Adults, , Adults") == ("Children", "Adults")
