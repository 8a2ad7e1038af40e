"""The provider simulator: real PrepMod pages and a SMART feed replaying the 8 a.m. release.

    async with ProviderSimulator() as sim:      # or: with ProviderSimulator() as sim:
        sim.prepmod_url, sim.smart_manifest_url
        sim.release(5_000, sites=("fenway-park",))
        sim.inject(Fault.RATE_LIMITED, count=2, target="prepmod")
        sim.truth()["fenway-park"].appointments, sim.events(), sim.requests()

Every availability change is recorded with its publish time (monotonic and wall clock) so a
demo can measure detection latency; every request is logged so tests can check politeness.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import re
import threading
import time
from collections.abc import Callable, Hashable, Iterable, Sequence
from types import TracebackType

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from notifier.testing import prepmod_pages, routes, smart_feed
from notifier.testing.content import HTML, Content, http_date, is_not_modified
from notifier.testing.faults import STATIC_FAULT_PAGES, Fault, FaultRule, FaultTarget
from notifier.testing.lifecycle import BackgroundService
from notifier.testing.records import RequestRecord, SiteTruth
from notifier.testing.server import BackgroundServer
from notifier.testing.sites import MASS_VACCINATION_SITES, Site, sites_by_id
from notifier.testing.timeline import (
    Clock,
    ManualClock,
    PublishEvent,
    Release,
    Scenario,
    SiteState,
    Timeline,
    eight_am_release,
)

# Re-exported so that one import gives a test everything it drives the simulator with.
__all__ = [
    "Fault",
    "ManualClock",
    "ProviderSimulator",
    "Release",
    "RequestRecord",
    "SiteTruth",
    "eight_am_release",
]

PREPMOD_SEARCH_QUERY = "q%5Bservices_name_in%5D%5B%5D=Vaccination"
_PREPMOD_PATH = re.compile(r"^(/appointment/[a-z]{2})?/clinic/search$")
_REGISTRATION_PATH = re.compile(r"^(/appointment/[a-z]{2})?/client/registration$")
_RENDER_CACHE_SIZE = 256


def _classify(path: str) -> str:
    if _PREPMOD_PATH.match(path):
        return "prepmod"
    if path.startswith("/smart/"):
        return "smart"
    if _REGISTRATION_PATH.match(path):
        return "booking"
    return "other"


class ProviderSimulator(BackgroundService):
    """PrepMod clinic search (HTML) and a SMART feed over one timeline, on 127.0.0.1.

    ``scenario`` defaults to ``eight_am_release(duration)``; ``quiet=True`` starts with no
    scripted release (tests then call ``release``). Time starts when the server starts.
    """

    def __init__(
        self,
        scenario: Scenario | None = None,
        *,
        quiet: bool = False,
        duration: float = 45.0,
        sites: Iterable[Site] = MASS_VACCINATION_SITES,
        seed: int = 2021,
        tick: float = 0.5,
        host: str = "127.0.0.1",
        port: int = 0,
        page_size: int = prepmod_pages.PREPMOD_PAGE_SIZE,
        cache_max_age: int = 1,
        hang_seconds: float = 30.0,
        first_clinic_date: dt.date | None = None,
        clock: Clock = time.monotonic,
    ) -> None:
        self.scenario = None if quiet else (scenario or eight_am_release(duration))
        self.sites = sites_by_id(sites)
        self.seed, self.tick, self.clock = seed, tick, clock
        self.page_size = page_size
        self.cache_max_age = cache_max_age
        self.hang_seconds = hang_seconds
        self.first_clinic_date = first_clinic_date
        self._timeline: Timeline | None = None
        self._lock = threading.Lock()
        self._faults: list[FaultRule] = []
        self._log: list[RequestRecord] = []
        self._rendered: dict[Hashable, Content] = {}
        app = Starlette(routes=[Route("/{path:path}", self._endpoint, methods=["GET"])])
        self._server = BackgroundServer(app, host, port)

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> ProviderSimulator:
        scenario = self.scenario
        self._timeline = Timeline(
            self.sites.values(),
            scenario.releases if scenario else (),
            seed=self.seed,
            tick=self.tick,
            first_clinic_date=self.first_clinic_date,
            clock=self.clock,
            story_start=scenario.story_start if scenario else dt.time(8, 0),
            story_seconds_per_second=scenario.story_seconds_per_second if scenario else 1.0,
        )
        with self._lock:
            self._rendered.clear()  # a restart has a new timeline (and maybe a new port)
        self._server.start()
        return self

    def stop(self) -> None:
        self._server.stop()

    @property
    def running(self) -> bool:
        return self._server.running

    async def __aenter__(self) -> ProviderSimulator:
        return await asyncio.to_thread(self.start)

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await asyncio.to_thread(self.stop)

    # ------------------------------------------------------------------ addresses

    @property
    def base_url(self) -> str:
        return self._server.base_url

    @property
    def prepmod_url(self) -> str:
        """The clinic search as vaccinetime polled it; pages follow with ``&page=N``."""
        return f"{self.base_url}/clinic/search?{PREPMOD_SEARCH_QUERY}"

    def prepmod_page_url(self, page: int) -> str:
        return f"{self.prepmod_url}&page={page}"

    @property
    def smart_manifest_url(self) -> str:
        return f"{self.base_url}/smart/$bulk-publish"

    # ------------------------------------------------------------------ timeline and truth

    @property
    def timeline(self) -> Timeline:
        if self._timeline is None:
            raise RuntimeError("start the simulator first")
        return self._timeline

    def elapsed(self) -> float:
        return self.timeline.elapsed()

    def story_time(self) -> dt.datetime:
        return self.timeline.story_time()

    def release(
        self,
        appointments: int,
        *,
        sites: Sequence[str] = (),
        fill_seconds: float = 10.0,
        day_offsets: Sequence[int] = (0, 1, 2),
        at: float | None = None,
        label: str = "manual release",
    ) -> float:
        """Put ``appointments`` online now (or at ``at``); returns the release's elapsed time."""
        release = Release(
            appointments=appointments,
            fill_seconds=fill_seconds,
            at=at,
            sites=tuple(sites),
            day_offsets=tuple(day_offsets),
            label=label,
        )
        return self.timeline.add_release(release)

    def truth(self) -> dict[str, SiteTruth]:
        return {site_id: self._truth(state) for site_id, state in self.timeline.states().items()}

    def total_appointments(self, source: str | None = None) -> int:
        return sum(t.appointments for t in self.truth().values() if source in (None, t.site.source))

    def _truth(self, state: SiteState) -> SiteTruth:
        site = state.site
        slots = smart_feed.free_slot_count(site, state.by_date) if site.source == "smart" else None
        return SiteTruth(
            site, state.version, dict(state.by_date), state.appointments, slots, state.published
        )

    def site_for_postal_code(self, postal_code: str | None) -> Site | None:
        """The simulated site at a ZIP code (each has its own): maps a scraper's location
        back to the simulator's site id, whatever id the scraper made up."""
        return next((s for s in self.sites.values() if s.postal_code == postal_code), None)

    def events(self, site_id: str | None = None) -> list[PublishEvent]:
        """Every availability change published so far (version 1 is the opening state)."""
        return self.timeline.events(site_id)

    def published_at(self, site_id: str, version: int) -> PublishEvent:
        return self.timeline.published_at(site_id, version)

    def match_event(
        self, site_id: str, appointments: int, *, before: float | None = None
    ) -> PublishEvent | None:
        """The latest version of a site showing ``appointments`` in total, published at or
        before the monotonic time ``before``: the version a detector must have seen."""
        candidates = [
            e
            for e in self.timeline.events(site_id)
            if e.appointments == appointments and (before is None or e.monotonic <= before)
        ]
        return candidates[-1] if candidates else None

    # ------------------------------------------------------------------ faults and the log

    def inject(
        self,
        fault: Fault | str,
        *,
        count: int | None = 1,
        seconds: float | None = None,
        target: FaultTarget = "all",
        retry_after: int = 30,
        hang_seconds: float | None = None,
        truncate_at: float = 0.8,
    ) -> FaultRule:
        """Serve ``fault`` to the next ``count`` matching requests and/or for ``seconds``.

        ``target`` is "prepmod", "smart", "all" or a path prefix. ``count=None`` with
        ``seconds`` gives a time window only.
        """
        if count is None and seconds is None:
            raise ValueError("give count, seconds, or both; a fault must end")
        if not 0 <= truncate_at < 1:
            raise ValueError("truncate_at is the fraction of the body kept: 0 <= x < 1")
        rule = FaultRule(
            fault=Fault(fault),
            target=target,
            count=count,
            until=None if seconds is None else self.elapsed() + seconds,
            retry_after=retry_after,
            hang_seconds=self.hang_seconds if hang_seconds is None else hang_seconds,
            truncate_at=truncate_at,
        )
        with self._lock:
            self._faults.append(rule)
        return rule

    def clear_faults(self) -> None:
        with self._lock:
            self._faults.clear()

    def requests(self, kind: str | None = None, path_prefix: str = "") -> list[RequestRecord]:
        with self._lock:
            return [
                r
                for r in self._log
                if (kind is None or r.kind == kind) and r.path.startswith(path_prefix)
            ]

    def clear_requests(self) -> None:
        with self._lock:
            self._log.clear()

    def cached(self, key: Hashable, build: Callable[[], Content]) -> Content:
        """A rendered body for ``key`` (path, query and the versions it shows), built once:
        polling an unchanged page costs a dict lookup, not a render."""
        with self._lock:
            found = self._rendered.get(key)
        if found is None:
            found = build()
            with self._lock:
                if len(self._rendered) >= _RENDER_CACHE_SIZE:
                    self._rendered.clear()
                self._rendered[key] = found
        return found

    def _take_fault(self, kind: str, path: str, now: float) -> FaultRule | None:
        with self._lock:
            self._faults = [r for r in self._faults if not r.expired(now)]
            return next((r for r in self._faults if r.take(kind, path, now)), None)

    # ------------------------------------------------------------------ HTTP

    async def _endpoint(self, request: Request) -> Response:
        timeline = self.timeline
        path = request.url.path
        kind = _classify(path)
        now = timeline.elapsed()
        record = RequestRecord(
            method=request.method,
            path=path,
            query=request.url.query,
            headers={k.lower(): v for k, v in request.headers.items()},
            kind=kind,
            elapsed=now,
            monotonic=self.clock(),
            wall=dt.datetime.now(dt.UTC),
        )
        with self._lock:
            self._log.append(record)
        rule = self._take_fault(kind, path, now)
        if rule is not None:
            record.fault = rule.fault
            response = await self._fault_response(rule, request, kind)
        else:
            response = self._respond(request, self._content(request, kind))
        record.status = response.status_code
        return response

    def _content(self, request: Request, kind: str) -> Content:
        if kind == "prepmod":
            return routes.prepmod_search(self, request)
        if kind == "smart":
            return routes.smart_file(self, request)
        if kind == "booking":
            return routes.registration(self, request)
        return routes.not_found(request.url.path)

    def _respond(self, request: Request, content: Content) -> Response:
        headers = dict(content.headers)
        if content.cacheable and content.status == 200:
            headers["ETag"] = content.etag
            headers["Cache-Control"] = f"public, max-age={self.cache_max_age}"
            if content.last_modified is not None:
                headers["Last-Modified"] = http_date(content.last_modified)
            if is_not_modified(request.headers, content, self._changes_counter(content)):
                return Response(status_code=304, headers=headers)
        else:
            headers.setdefault("Cache-Control", "no-store")
        return Response(
            content.body,
            status_code=content.status,
            headers=headers,
            media_type=content.content_type,
        )

    def _changes_counter(self, content: Content) -> Callable[[dt.datetime], int]:
        def changes_in_second(second: dt.datetime) -> int:
            """Distinct instants at which ``content`` changed within ``second``."""
            instants = {
                e.elapsed
                for site_id in content.site_ids
                for e in self.timeline.events(site_id)
                if e.wall.replace(microsecond=0) == second
            }
            return len(instants)

        return changes_in_second

    async def _fault_response(self, rule: FaultRule, request: Request, kind: str) -> Response:
        fault = rule.fault
        if fault in STATIC_FAULT_PAGES:
            status, page = STATIC_FAULT_PAGES[fault]
            headers = {"Cache-Control": "no-store"}
            if fault in (Fault.UNAVAILABLE, Fault.RATE_LIMITED):
                headers["Retry-After"] = str(rule.retry_after)
            return Response(page, status_code=status, headers=headers, media_type=HTML)
        if fault is Fault.TIMEOUT:
            closing = await self._server.wait_closing(rule.hang_seconds)
            status = 503 if closing else 504
            return Response(f"{status}", status_code=status, media_type="text/plain")
        content = self._content(request, kind)
        if fault is Fault.LAYOUT_CHANGED:
            content = routes.redesigned(self, request, kind, content)
        else:  # TRUNCATED: a well-formed response whose body stops half-way
            cut = int(len(content.body) * rule.truncate_at)
            content = dataclasses.replace(content, body=content.body[:cut])
        content = dataclasses.replace(content, cacheable=False)
        return self._respond(request, content)
