"""Fixtures for the simulator tests: a simulator on a manual clock, and an HTTP client."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import httpx
import pytest

from notifier.testing.simulator import ProviderSimulator
from notifier.testing.timeline import ManualClock

#: a fixed first clinic date keeps page contents independent of the day the tests run
FIRST_CLINIC_DATE = dt.date(2021, 2, 26)
USER_AGENT = "AppointmentNotifier-tests/1.0 (+https://example.org/contact)"


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def sim(clock: ManualClock) -> Iterator[ProviderSimulator]:
    """The default 8 a.m. scenario (45 s) with time moved only by ``clock.advance``."""
    with ProviderSimulator(clock=clock, first_clinic_date=FIRST_CLINIC_DATE) as simulator:
        yield simulator


@pytest.fixture
def client() -> Iterator[httpx.Client]:
    with httpx.Client(headers={"User-Agent": USER_AGENT}, timeout=5.0) as http:
        yield http


@pytest.fixture(scope="session")
def warm_geo() -> None:
    """Build the offline ZIP index once per session (seconds on a busy machine), so a test
    that runs a scraper measures the scraper and not the index."""
    from notifier.geo import lookup_postal_code

    assert lookup_postal_code("02215") is not None
