"""Conditional requests, caching headers, the request log, and both ways to run the server."""

from __future__ import annotations

import asyncio
import time

import httpx
import pytest

from notifier.testing.simulator import ProviderSimulator
from notifier.testing.timeline import ManualClock

from_conftest_user_agent = "AppointmentNotifier-tests/1.0 (+https://example.org/contact)"


@pytest.mark.parametrize("path", ["prepmod", "manifest", "locations", "slots"])
def test_conditional_requests_get_304_until_the_content_changes(
    sim: ProviderSimulator, clock: ManualClock, client: httpx.Client, path: str
) -> None:
    url = {
        "prepmod": sim.prepmod_url,
        "manifest": sim.smart_manifest_url,
        "locations": f"{sim.base_url}/smart/locations.ndjson",
        "slots": f"{sim.base_url}/smart/slots-eastfield-mall.ndjson",
    }[path]
    first = client.get(url)
    assert first.status_code == 200
    assert first.headers["cache-control"] == "public, max-age=1"
    etag, modified = first.headers["etag"], first.headers["last-modified"]

    again = client.get(url, headers={"If-None-Match": etag})
    assert again.status_code == 304 and again.content == b""
    assert again.headers["etag"] == etag
    by_date = client.get(url, headers={"If-Modified-Since": modified})
    assert by_date.status_code == 304

    clock.advance(5.0)  # the 8 a.m. release happened
    changed = client.get(url, headers={"If-None-Match": etag})
    if path == "locations":  # the list of places never changes
        assert changed.status_code == 304
        return
    assert changed.status_code == 200
    assert changed.headers["etag"] != etag
    assert client.get(url, headers={"If-Modified-Since": modified}).status_code == 200


def test_if_modified_since_is_not_trusted_within_a_busy_second(
    clock: ManualClock, client: httpx.Client
) -> None:
    with ProviderSimulator(quiet=True, clock=clock) as sim:
        url = f"{sim.base_url}/smart/slots-eastfield-mall.ndjson"
        clock.advance(0.1)
        sim.release(100, sites=("eastfield-mall",), fill_seconds=0.3)  # several changes / s
        first = client.get(url)
        clock.advance(0.5)
        again = client.get(url, headers={"If-Modified-Since": first.headers["last-modified"]})
        assert again.status_code == 200
        assert again.content != first.content


def test_request_log_records_user_agent_and_validators(
    sim: ProviderSimulator, client: httpx.Client
) -> None:
    first = client.get(sim.prepmod_url)
    client.get(sim.prepmod_url, headers={"If-None-Match": first.headers["etag"]})
    client.get(sim.smart_manifest_url)
    log = sim.requests()
    assert [r.kind for r in log] == ["prepmod", "prepmod", "smart"]
    assert all(r.user_agent == from_conftest_user_agent for r in log)
    assert [r.status for r in log] == [200, 304, 200]
    assert [r.conditional for r in log] == [False, True, False]
    assert log[1].headers["if-none-match"] == first.headers["etag"]
    assert "services_name_in" in log[0].query
    assert log[0].monotonic <= log[1].monotonic <= log[2].monotonic
    assert [r.path for r in sim.requests(kind="smart")] == ["/smart/$bulk-publish"]
    assert len(sim.requests(path_prefix="/clinic/")) == 2
    sim.clear_requests()
    assert sim.requests() == []


async def test_async_context_manager_runs_on_the_real_clock() -> None:
    async with ProviderSimulator(duration=2.0) as sim:
        async with httpx.AsyncClient() as http:
            assert (await http.get(sim.prepmod_url)).status_code == 200
            while sim.elapsed() < 0.3:  # the release is at 10% of the duration
                await asyncio.sleep(0.05)
            at_release = [e for e in sim.events() if e.elapsed == pytest.approx(0.2)]
            assert sum(e.appointments for e in at_release) == 70_000
            assert all(e.monotonic <= time.monotonic() for e in at_release)
            page = await http.get(sim.prepmod_url)
            assert page.status_code == 200
        assert sim.running
        stopping = time.monotonic()
    # Stopping does not wait for the story to end (speed itself is the benchmarks' business).
    assert time.monotonic() - stopping < 10.0
    assert not sim.running


def test_needs_start_before_use() -> None:
    sim = ProviderSimulator()
    with pytest.raises(RuntimeError, match="start"):
        sim.total_appointments()
    with pytest.raises(RuntimeError, match="not running"):
        _ = sim.base_url


def test_fixed_port_and_restart(clock: ManualClock) -> None:
    with ProviderSimulator(clock=clock) as first:
        port = int(first.base_url.rsplit(":", 1)[1])
    with ProviderSimulator(clock=clock, port=port) as second:
        assert second.base_url.endswith(f":{port}")
        assert httpx.get(second.prepmod_url).status_code == 200
