"""The per-provider coordinator: typed unknown outcomes, no retries while down, honouring
waits."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Sequence

import pytest

from notifier.model import Location, LocationAvailability, Status
from notifier.pipeline.coordinator import ProviderCoordinator
from notifier.pipeline.fetch import PoliteClient
from notifier.policies import HttpSettings
from notifier.scraping import Request, Response, ScrapeError, Scraper, Unparseable
from notifier.testing.scripted import Reply, ScriptedServer


class Unchanged(ScrapeError):
    kind = "not_modified"


class CountScraper(Scraper):
    """Reads "N" from the body; "X" means the layout changed; "same" means "not modified".

    No ``name``: a test scraper must not register itself.
    """

    def __init__(self, url: str) -> None:
        super().__init__()
        self.url = url

    def requests(self) -> list[Request]:
        return [Request(self.url)]

    def parse(self, response: Response) -> list[LocationAvailability]:
        text = response.text()
        if text == "same":
            raise Unchanged("nothing new")
        if not text.isdigit():
            raise Unparseable("not a number")
        n = int(text)
        status = Status.AVAILABLE if n else Status.NONE
        return [LocationAvailability(Location(id="a", name="A"), status, appointments=n)]

    def advance(self, responses: Sequence[Response]) -> Scraper:
        following = CountScraper(self.url)
        following.generation = self.generation + 1
        return following

    generation = 0

    def next_poll_delay(self, responses: Sequence[Response]) -> float | None:
        header = responses[0].header("cache-control") if responses else None
        return float(header.split("=")[1]) if header and "max-age" in header else None


async def no_sleep(_: float) -> None:
    return None


@pytest.fixture
async def server() -> ScriptedServer:
    async with ScriptedServer(default=Reply(200, b"5")) as running:
        yield running  # type: ignore[misc]


def coordinator(server: ScriptedServer) -> ProviderCoordinator:
    client = PoliteClient(HttpSettings(max_retries=0, breaker_failures=50), sleep=no_sleep)
    return ProviderCoordinator("p", CountScraper(server.url + "/"), client, interval=60)


async def test_ok_poll(server: ScriptedServer) -> None:
    outcome = await coordinator(server).poll()
    assert outcome.ok and outcome.outcome == "ok" and outcome.http_status == 200
    assert outcome.results is not None and outcome.results[0].appointments == 5


async def test_failures_are_typed_unknowns_and_not_judged_here(
    server: ScriptedServer, caplog: pytest.LogCaptureFixture
) -> None:
    coord = coordinator(server)
    caplog.set_level(logging.INFO, logger="notifier.pipeline.coordinator")
    server.queue(Reply(500), Reply(200, b"X"), Reply(403))
    outcomes = [await coord.poll() for _ in range(4)]
    assert [o.outcome for o in outcomes] == ["unreachable", "unparseable", "blocked", "ok"]
    assert all(o.results is None for o in outcomes[:3])
    # Down and recovered are the stored health's to say, when the poll is recorded
    # (test_provider_outage): a coordinator of one process must not announce them.
    messages = [r.getMessage() for r in caplog.records]
    assert not any("is down" in m or "recovered" in m for m in messages)
    assert coord.down_since is None


async def test_a_provider_known_down_gets_no_retries(server: ScriptedServer) -> None:
    client = PoliteClient(HttpSettings(max_retries=2, breaker_failures=50), sleep=no_sleep)
    coord = ProviderCoordinator("p", CountScraper(server.url + "/"), client, interval=60)
    server.queue(Reply(500), Reply(500), Reply(500), Reply(500))
    assert (await coord.poll()).attempts == 3  # healthy: the client's retries
    coord.down_since = dt.datetime.now(dt.UTC)  # as pipeline.poll sets it from the database
    assert (await coord.poll()).attempts == 1


async def test_a_crashing_parser_is_unparseable_not_a_crash(server: ScriptedServer) -> None:
    coord = coordinator(server)

    def boom(response: Response) -> list[LocationAvailability]:
        raise KeyError("price")

    coord.scraper.parse = boom  # type: ignore[method-assign]
    outcome = await coord.poll()
    assert outcome.outcome == "unparseable" and "KeyError" in (outcome.error or "")


async def test_retry_after_postpones_the_next_poll(server: ScriptedServer) -> None:
    coord = coordinator(server)
    server.queue(Reply(429, b"", {"Retry-After": "600"}))
    outcome = await coord.poll()
    assert outcome.outcome == "blocked" and outcome.retry_after == 600
    assert coord.next_delay() > 590


async def test_max_age_postpones_the_next_poll(server: ScriptedServer) -> None:
    coord = coordinator(server)
    server.queue(Reply(200, b"5", {"Cache-Control": "max-age=900"}))
    await coord.poll()
    assert coord.next_delay() > 890


async def test_source_saying_not_modified_is_unchanged_and_healthy(
    server: ScriptedServer,
) -> None:
    coord = coordinator(server)
    server.queue(Reply(200, b"same"))
    outcome = await coord.poll()
    assert outcome.outcome == "unchanged" and coord.down_since is None


async def test_only_a_successful_poll_advances_the_scraper(server: ScriptedServer) -> None:
    coord = coordinator(server)
    await coord.poll()
    assert isinstance(coord.scraper, CountScraper) and coord.scraper.generation == 1
    server.queue(Reply(500))
    await coord.poll()
    assert coord.scraper.generation == 1  # a failed poll teaches nothing
