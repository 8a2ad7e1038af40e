"""The public routes, registered in one place: ``register(app, engine, config)``.

* Published files (``/``, ``/de/``, ``/es/``, ``/api/v1/locations``, ``/smart/...``,
  ``/feeds/...``, ``/de/feeds/...``, ``/es/feeds/...``, ``/static/site.css``) are answered
  from memory by ``PublicFilesMiddleware`` before FastAPI routing. The routes below for
  ``/`` and ``/api/v1/locations`` only answer when nothing has been published yet (and
  document the JSON in ``/openapi.json``).
* ``/search`` and ``/api/v1/availability`` are dynamic but cheap: they read the in-memory
  snapshot (refreshed by the publisher, else from the database at most every few seconds).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import threading
import time
from collections.abc import Callable, Hashable
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response
from sqlalchemy import Engine, make_url

from notifier.config import Config
from notifier.web.public.api import (
    AvailabilityDocument,
    ErrorBody,
    LocationsDocument,
    availability_document,
    locations_document,
)
from notifier.web.public.pages import pick_locale, render_index, render_search, search_problem
from notifier.web.public.publish import DEBOUNCE_SECONDS, PublicPublisher, load_snapshot
from notifier.web.public.search import (
    MAX_CODE_LENGTH,
    SearchError,
    radius_rule,
    read_search,
    run_search,
    search_countries,
)
from notifier.web.public.snapshot import Snapshot
from notifier.web.public.static import (
    PAGE_CACHE_CONTROL,
    PublicFiles,
    PublicFilesMiddleware,
    etag_for,
    http_date,
    is_fresh,
)

__all__ = ["PublicSite", "default_public_dir", "register", "start_publisher"]

Clock = Callable[[], dt.datetime]
SNAPSHOT_TTL_SECONDS = 2.0
MAX_ANSWERS = 10_000
_NO_STORE = {"Cache-Control": "no-store"}


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def default_public_dir(config: Config | None) -> Path:
    if config is not None and config.web.public_dir is not None:
        return config.web.public_dir
    url = make_url(config.database.url) if config is not None else None
    if (
        url is not None
        and url.get_backend_name() == "sqlite"
        and url.database not in (None, "", ":memory:")
    ):
        return Path(str(url.database)).expanduser().resolve().parent / "public"
    return Path("public").resolve()


class PublicSite:
    """The published folder, its in-memory cache and the latest snapshot."""

    def __init__(
        self,
        engine: Engine,
        root: Path,
        *,
        base_url: str,
        signup_url: str | None = None,
        clock: Clock = _utcnow,
    ) -> None:
        self.engine = engine
        self.root = root
        self.base_url = base_url
        #: where the pages' sign-up button leads (None: sign-up is off)
        self.signup_url = signup_url
        self.clock = clock
        self.files = PublicFiles(root)
        self._snapshot: Snapshot | None = None
        self._loaded_at = -1e9
        self._lock = threading.Lock()
        #: answers of dynamic requests for the current snapshot (a surge asks the same ZIPs)
        self._answers: dict[Hashable, tuple[int, bytes]] = {}
        self._answers_for: Snapshot | None = None

    def publisher(self, *, debounce: float = DEBOUNCE_SECONDS) -> PublicPublisher:
        """A publisher writing this site's folder; each publication refreshes the cache."""
        return PublicPublisher(
            self.engine,
            self.root,
            base_url=self.base_url,
            signup_url=self.signup_url,
            debounce=debounce,
            clock=self.clock,
            on_published=self.published,
            on_written=self.files.put,
        )

    def published(self, snapshot: Snapshot) -> None:
        with self._lock:
            self._snapshot = snapshot
            self._loaded_at = time.monotonic()

    def snapshot(self) -> Snapshot:
        """The newest snapshot; read from the database when older than a few seconds
        (for an app running without a publisher in its process). Blocking."""
        with self._lock:
            if (
                self._snapshot is not None
                and time.monotonic() - self._loaded_at < SNAPSHOT_TTL_SECONDS
            ):
                return self._snapshot
            self._snapshot = load_snapshot(self.engine, self.clock())
            self._loaded_at = time.monotonic()
            return self._snapshot

    def answer(
        self, snapshot: Snapshot, key: Hashable, build: Callable[[], tuple[int, bytes]]
    ) -> tuple[int, bytes]:
        """``build()`` once per snapshot and request key (status and body)."""
        if self._answers_for is not snapshot:
            self._answers, self._answers_for = {}, snapshot
        if key not in self._answers:
            if len(self._answers) >= MAX_ANSWERS:
                self._answers.clear()
            self._answers[key] = build()
        return self._answers[key]


def _cached(
    request: Request, body: bytes, media_type: str, modified: dt.datetime, status: int = 200
) -> Response:
    etag = etag_for(body)
    headers = {
        "ETag": etag,
        "Last-Modified": http_date(modified),
        "Cache-Control": PAGE_CACHE_CONTROL,
    }
    if status == 200 and is_fresh(
        request.headers.get("if-none-match"),
        request.headers.get("if-modified-since"),
        etag,
        modified,
    ):
        return Response(status_code=304, headers=headers)
    return Response(body, status_code=status, media_type=media_type, headers=headers)


def _raw(body: bytes, status: int, media_type: str) -> Response:
    """An error answer: never cached (the next try may be spelled right)."""
    return Response(body, status_code=status, media_type=media_type, headers=_NO_STORE)


def register(
    app: FastAPI,
    engine: Engine,
    config: Config | None,
    clock: Clock | None = None,
    *,
    signup_url: str | None = None,
) -> PublicSite:
    """Add the public routes and the static file handler; returns the site (for the publisher)."""
    base_url = config.web.public_url if config is not None else "http://127.0.0.1:8080"
    site = PublicSite(
        engine,
        default_public_dir(config),
        base_url=base_url,
        signup_url=signup_url,
        clock=clock or _utcnow,
    )
    app.state.public_site = site
    app.add_middleware(PublicFilesMiddleware, files=site.files)

    async def snapshot() -> Snapshot:
        return await run_in_threadpool(site.snapshot)

    @app.get("/", include_in_schema=False)
    @app.get("/de/", include_in_schema=False)
    @app.get("/es/", include_in_schema=False)
    async def index(request: Request) -> Response:
        current = await snapshot()
        locale = pick_locale(request.url.path.strip("/") or "en")
        body = render_index(current, locale, base_url=base_url, signup_url=site.signup_url)
        return _cached(request, body, "text/html; charset=utf-8", current.generated_at)

    @app.get(
        "/api/v1/locations",
        response_model=LocationsDocument,
        summary="Every place we know, with its current availability",
    )
    async def locations(request: Request) -> Response:
        current = await snapshot()
        body = locations_document(current).model_dump_json().encode()
        return _cached(request, body, "application/json", current.generated_at)

    @app.get(
        "/api/v1/availability",
        response_model=AvailabilityDocument,
        responses={400: {"model": ErrorBody}, 404: {"model": ErrorBody}},
        summary="Places within a radius of a postal code, nearest first",
    )
    async def availability(
        request: Request,
        postal_code: str = Query("", max_length=64, description="A US ZIP or German PLZ."),
        radius: str = Query("10", max_length=16, description="Miles, 1 to 100."),
        country: str | None = Query(None, max_length=8, description="US or DE."),
    ) -> Response:
        current = await snapshot()

        def build() -> tuple[int, bytes]:
            try:
                query = read_search(
                    postal_code, radius, country, countries=search_countries(current)
                )
            except SearchError as problem:
                error = search_problem(problem, "en")  # the API speaks English
                return problem.status, json.dumps({"error": error}).encode()
            document = availability_document(current, query, run_search(current, query))
            return 200, document.model_dump_json().encode()

        status, body = site.answer(current, ("api", postal_code, radius, country), build)
        if status != 200:
            return _raw(body, status, "application/json")
        return _cached(request, body, "application/json", current.generated_at)

    @app.get(
        "/search",
        response_class=Response,
        responses={
            200: {"content": {"text/html": {}}},
            400: {"content": {"text/html": {}}},
            404: {"content": {"text/html": {}}},
        },
        summary="The search page (HTML, works without JavaScript)",
    )
    async def search(
        request: Request,
        postal_code: str = Query("", max_length=64),
        radius: str | None = Query(
            None,
            max_length=16,
            description="In the page's unit: km on the German page (lang=de), else miles.",
        ),
        country: str | None = Query(None, max_length=8),
        lang: str | None = Query(None, max_length=32),
    ) -> Response:
        current = await snapshot()
        locale = pick_locale(lang or request.headers.get("accept-language"))
        shown_code = postal_code.strip()[:MAX_CODE_LENGTH]

        def build() -> tuple[int, bytes]:
            try:
                query = read_search(
                    postal_code,
                    radius,
                    country,
                    countries=search_countries(current, locale),
                    unit=radius_rule(locale).unit,
                )
            except SearchError as problem:
                page = render_search(
                    current,
                    locale,
                    postal_code=shown_code,
                    radius=None,
                    places=(),
                    error=search_problem(problem, locale),
                )
                return problem.status, page
            places = run_search(current, query)
            page = render_search(
                current, locale, postal_code=shown_code, radius=query.radius, places=places
            )
            return 200, page

        key = ("search", locale, postal_code, radius, country)
        status, body = site.answer(current, key, build)
        if status != 200:
            return _raw(body, status, "text/html; charset=utf-8")
        return _cached(request, body, "text/html; charset=utf-8", current.generated_at)

    return site


def start_publisher(
    app: FastAPI,
    listeners: list[Callable[[Any], None]],
    stopping: asyncio.Event,
    *,
    debounce: float = DEBOUNCE_SECONDS,
) -> asyncio.Task[None]:
    """Publish the public files now and after every poll (``Runtime.on_poll``), debounced."""
    site: PublicSite = app.state.public_site
    publisher = site.publisher(debounce=debounce)
    listeners.append(publisher.notify)
    return asyncio.create_task(publisher.run(stopping), name="publish public pages")
