"""Synthetic subscribers: deterministic, fictional, spread over real Massachusetts ZIPs."""

from __future__ import annotations

import re
from collections import Counter

import pytest

from notifier.geo import distance_miles
from notifier.testing.subscribers import ma_zip_areas, synthetic_subscribers

PHONE = re.compile(r"^\+1[2-9]\d{2}555\d{4}$")
EMAIL = re.compile(r"^[a-z.]+\.\d+@example\.org$")


def test_same_seed_same_rows_other_seed_other_rows() -> None:
    assert synthetic_subscribers(200, seed=3) == synthetic_subscribers(200, seed=3)
    assert synthetic_subscribers(200, seed=3) != synthetic_subscribers(200, seed=4)
    assert synthetic_subscribers(50, seed=3) == synthetic_subscribers(200, seed=3)[:50]


def test_rows_look_real_but_are_fictional() -> None:
    rows = synthetic_subscribers(2_000, seed=1)
    assert len(rows) == 2_000
    assert len({(r["channel"], r["address"]) for r in rows}) == 2_000
    areas = {a.postal_code: a for a in ma_zip_areas()}
    for row in rows:
        assert row["channel"] in ("sms", "email")
        pattern = PHONE if row["channel"] == "sms" else EMAIL
        assert pattern.match(row["address"]), row["address"]
        area = areas[row["postal_code"]]  # a real, active MA ZIP
        assert (row["lat"], row["lon"]) == (area.lat, area.lon)
        assert row["confirmed_at"].tzinfo is not None
        if row["region"] is None:
            assert 5 <= row["radius_miles"] <= 50
        else:
            assert row["region"] == "MA" and row["radius_miles"] is None
    locales = Counter(r["locale"] for r in rows)
    assert set(locales) == {"en", "es"} and locales["en"] > 0.8 * len(rows)
    assert sum(r["filters"] is None for r in rows) > 0.8 * len(rows)
    assert any(r["filters"] for r in rows)
    channels = Counter(r["channel"] for r in rows)
    assert min(channels.values()) > 0.4 * len(rows)


def test_people_cluster_where_people_live() -> None:
    rows = synthetic_subscribers(3_000, seed=2)
    boston = sum(distance_miles(r["lat"], r["lon"], 42.36, -71.06) < 15 for r in rows)
    berkshires = sum(distance_miles(r["lat"], r["lon"], 42.45, -73.25) < 15 for r in rows)
    assert boston > 10 * max(berkshires, 1)


def test_more_numbers_than_one_area_code_holds_stay_unique() -> None:
    rows = synthetic_subscribers(25_000, seed=5, channels=("sms",))
    numbers = [r["address"] for r in rows]
    assert len(set(numbers)) == len(numbers)
    assert all(PHONE.match(n) for n in numbers)


def test_bad_arguments_are_refused() -> None:
    with pytest.raises(ValueError, match="channels"):
        synthetic_subscribers(1, channels=("pigeon",))
    with pytest.raises(ValueError, match="channels"):
        synthetic_subscribers(1, channels=())
    with pytest.raises(ValueError):
        synthetic_subscribers(-1)
    assert synthetic_subscribers(0) == []
