"""Injected faults: each looks like the real thing, and ends when it should."""

from __future__ import annotations

import json
import time

import httpx
import pytest

from notifier.testing.faults import Fault
from notifier.testing.simulator import ProviderSimulator
from notifier.testing.timeline import ManualClock

STATIC = [
    (Fault.ERROR_PAGE, 500, "We're sorry, but something went wrong."),
    (Fault.MAINTENANCE, 200, "down for scheduled maintenance"),
    (Fault.WAITING_ROOM, 200, "You are now in line."),
    (Fault.UNAVAILABLE, 503, "503 Service Temporarily Unavailable"),
    (Fault.RATE_LIMITED, 429, "429 Too Many Requests"),
    (Fault.FORBIDDEN, 403, "The request could not be satisfied."),
]


@pytest.mark.parametrize(("fault", "status", "text"), STATIC)
def test_fault_pages_replace_the_next_response_only(
    sim: ProviderSimulator, client: httpx.Client, fault: Fault, status: int, text: str
) -> None:
    rule = sim.inject(fault, count=1, retry_after=42)
    faulty = client.get(sim.prepmod_url)
    assert faulty.status_code == status
    assert text in faulty.text
    assert "Available Appointments" not in faulty.text
    assert "etag" not in faulty.headers  # an error must never be cached as the page
    assert faulty.headers["cache-control"] == "no-store"
    if status in (429, 503):
        assert faulty.headers["retry-after"] == "42"
    else:
        assert "retry-after" not in faulty.headers
    normal = client.get(sim.prepmod_url)
    assert normal.status_code == 200 and "Find a Vaccination Clinic" in normal.text
    assert rule.served == 1
    assert [r.fault for r in sim.requests()] == [fault, None]


def test_count_and_target(sim: ProviderSimulator, client: httpx.Client) -> None:
    sim.inject(Fault.RATE_LIMITED, count=2, target="smart")
    assert client.get(sim.prepmod_url).status_code == 200  # not a SMART request
    assert client.get(sim.smart_manifest_url).status_code == 429
    assert client.get(f"{sim.base_url}/smart/locations.ndjson").status_code == 429
    assert client.get(sim.smart_manifest_url).status_code == 200
    sim.inject(Fault.FORBIDDEN, count=1, target="/smart/slots-")
    assert client.get(sim.smart_manifest_url).status_code == 200
    assert client.get(f"{sim.base_url}/smart/slots-eastfield-mall.ndjson").status_code == 403


def test_time_window(sim: ProviderSimulator, clock: ManualClock, client: httpx.Client) -> None:
    sim.inject(Fault.UNAVAILABLE, count=None, seconds=2.0)
    for _ in range(3):
        assert client.get(sim.prepmod_url).status_code == 503
    clock.advance(2.0)
    assert client.get(sim.prepmod_url).status_code == 200
    with pytest.raises(ValueError, match="must end"):
        sim.inject(Fault.UNAVAILABLE, count=None)


def test_clear_faults(sim: ProviderSimulator, client: httpx.Client) -> None:
    sim.inject(Fault.ERROR_PAGE, count=5)
    sim.clear_faults()
    assert client.get(sim.prepmod_url).status_code == 200


def test_timeout_hangs_past_the_client_timeout(sim: ProviderSimulator) -> None:
    sim.inject(Fault.TIMEOUT, hang_seconds=5.0)
    started = time.monotonic()
    with pytest.raises(httpx.ReadTimeout):
        httpx.get(sim.prepmod_url, timeout=0.3)
    assert time.monotonic() - started >= 0.3  # it hung until the client gave up
    assert sim.requests()[0].fault is Fault.TIMEOUT
    assert httpx.get(sim.prepmod_url, timeout=2.0).status_code == 200


def test_stop_does_not_wait_for_a_hanging_request(clock: ManualClock) -> None:
    sim = ProviderSimulator(clock=clock).start()
    sim.inject(Fault.TIMEOUT, hang_seconds=30.0)
    with pytest.raises(httpx.ReadTimeout):
        httpx.get(sim.prepmod_url, timeout=0.2)
    started = time.monotonic()
    sim.stop()
    assert time.monotonic() - started < 10.0  # far less than the 30 s hang


def test_layout_change_keeps_the_page_title_but_not_the_clinic_blocks(
    sim: ProviderSimulator, clock: ManualClock, client: httpx.Client
) -> None:
    clock.advance(6.0)
    sim.inject(Fault.LAYOUT_CHANGED, count=3)
    page = client.get(sim.prepmod_url)
    assert page.status_code == 200
    assert "Find a Vaccination Clinic" in page.text
    assert 'class="clinic-card"' in page.text
    assert "Available Appointments" not in page.text
    manifest = client.get(sim.smart_manifest_url).json()
    assert "output" not in manifest and manifest["files"]
    slots = client.get(f"{sim.base_url}/smart/slots-eastfield-mall.ndjson")
    assert slots.json()["resourceType"] == "Bundle"


def test_truncated_body_stops_inside_the_results(
    sim: ProviderSimulator, clock: ManualClock, client: httpx.Client
) -> None:
    clock.advance(6.0)
    full = client.get(sim.prepmod_url).text
    sim.inject(Fault.TRUNCATED, count=2)
    cut = client.get(sim.prepmod_url)
    assert cut.status_code == 200
    assert full.startswith(cut.text) and len(cut.text) < len(full)
    assert "Available Appointments" in cut.text and "</html>" not in cut.text
    assert "pagination" not in cut.text
    lines = client.get(f"{sim.base_url}/smart/slots-eastfield-mall.ndjson").text.splitlines()
    with pytest.raises(json.JSONDecodeError):
        json.loads(lines[-1])


@pytest.mark.parametrize("fault", list(Fault))
def test_prepmod_scraper_never_reads_a_fault_as_data(
    sim: ProviderSimulator, clock: ManualClock, client: httpx.Client, fault: Fault, warm_geo: None
) -> None:
    prepmod = pytest.importorskip(
        "scrapers.prepmod", reason="the prepmod scraper is run against the simulator once written"
    )
    from notifier.scraping import Response, ScrapeError

    clock.advance(6.0)
    sim.inject(fault, hang_seconds=1.0)
    scraper = prepmod.PrepModScraper({"base_url": sim.base_url})
    url = scraper.requests()[0].url
    if fault is Fault.TIMEOUT:  # nothing to parse: the client gives up first
        with pytest.raises(httpx.TimeoutException):
            client.get(url, timeout=0.3)
        return
    raw = client.get(url)
    response = Response.from_body(
        raw.content, url=str(raw.url), status=raw.status_code, headers=dict(raw.headers)
    )
    with pytest.raises(ScrapeError):
        scraper.parse_all([response])
