"""Scraper regions are ISO 3166 codes ("US", "US-MA", "DE-NW"), so lists and docs agree."""

from __future__ import annotations

import re

import pytest

from notifier.scraping import Scraper, registry

ISO_3166 = re.compile(r"^[A-Z]{2}(-[A-Z0-9]{1,3})?$")


@pytest.mark.parametrize("cls", list(registry().values()), ids=lambda c: c.name)
def test_regions_are_iso_3166_codes(cls: type[Scraper]) -> None:
    assert cls.regions, f"{cls.name} declares no region"
    bad = [r for r in cls.regions if not ISO_3166.match(r)]
    assert not bad, f"{cls.name}: write regions like 'US-MA', not {bad}"
