"""The only place the project touches provider sites: one polite, shared HTTP client.

Politeness is the default, as in Scrapy: an honest User-Agent with the operator's contact, a
per-host concurrency limit, conditional requests (a 304 costs the provider almost nothing),
``Retry-After`` honoured, and a few retries with jitter for a healthy provider's blips. Each
request sent is counted per provider, so the backoff between polls (``pipeline/backoff.py``)
can charge retries against the polling rate; a provider that is already failing gets no
retries at all. (An in-process circuit breaker remains available, off by default.)
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import random
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace

import httpx

from notifier.http_rules import parse_retry_after
from notifier.policies import HttpSettings
from notifier.scraping import Blocked, Request, Response, Unparseable, Unreachable

# ``parse_retry_after`` lives in the contracts (``notifier.http_rules``) so that scrapers and
# channels read the header the same way; it stays importable from here for the client's users.
__all__ = ["CircuitOpen", "HttpSettings", "PoliteClient", "parse_retry_after"]

log = logging.getLogger(__name__)


class CircuitOpen(Unreachable):
    """We stopped asking this provider for a while after repeated failures."""

    kind = "unreachable"


@dataclass
class _CacheEntry:
    etag: str | None
    last_modified: str | None
    response: Response


@dataclass
class _Breaker:
    failures: int = 0
    opened_at: float | None = None


class PoliteClient:
    """Fetch scraper ``Request``s politely. Raises ``ScrapeError`` subclasses on failure."""

    def __init__(
        self,
        settings: HttpSettings | None = None,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.settings = settings or HttpSettings()
        self._sleep = sleep
        self._clock = clock
        self._http = httpx.AsyncClient(
            headers={"User-Agent": self.settings.user_agent, "Accept-Encoding": "gzip, deflate"},
            timeout=httpx.Timeout(
                self.settings.timeout_seconds, connect=self.settings.connect_timeout_seconds
            ),
            follow_redirects=True,
            transport=transport,
        )
        self._hosts: dict[str, asyncio.Semaphore] = {}
        self._cache: OrderedDict[str, _CacheEntry] = OrderedDict()
        self._breakers: dict[str, _Breaker] = {}
        self._sent: dict[str, int] = {}

    async def aclose(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> PoliteClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    # ------------------------------------------------------------------ public

    async def fetch(
        self, request: Request, provider_id: str, *, retries: int | None = None
    ) -> Response:
        """One request, with retries for transient failures. A 304 returns our cached copy.

        ``retries`` overrides ``max_retries`` (the coordinator passes 0 for a failing provider).
        """
        self._check_breaker(provider_id)
        limit = self.settings.max_retries if retries is None else retries
        try:
            response = await self._fetch_with_retries(request, provider_id, limit)
        except (Unreachable, Blocked) as exc:
            self._record_failure(provider_id)
            raise exc
        self._breakers.pop(provider_id, None)
        return response

    def sent(self, provider_id: str) -> int:
        """HTTP requests sent for ``provider_id`` so far, retries included."""
        return self._sent.get(provider_id, 0)

    def breaker_open(self, provider_id: str) -> bool:
        breaker = self._breakers.get(provider_id)
        return breaker is not None and breaker.opened_at is not None

    # ------------------------------------------------------------------ internals

    def _check_breaker(self, provider_id: str) -> None:
        breaker = self._breakers.get(provider_id)
        if breaker is None or breaker.opened_at is None:
            return
        remaining = breaker.opened_at + self.settings.breaker_reset_seconds - self._clock()
        if remaining > 0:
            raise CircuitOpen(
                f"circuit open after {breaker.failures} failures; next try in {remaining:.0f}s",
                retry_after=remaining,
            )
        # Half-open: let this one request through; one more failure re-opens at once.
        breaker.opened_at = None
        breaker.failures = (self.settings.breaker_failures or 1) - 1

    def _record_failure(self, provider_id: str) -> None:
        if self.settings.breaker_failures is None:
            return
        breaker = self._breakers.setdefault(provider_id, _Breaker())
        breaker.failures += 1
        if breaker.failures >= self.settings.breaker_failures:
            breaker.opened_at = self._clock()

    def _backoff(self, attempt: int) -> float:
        # Full jitter: spreads the retries of many pollers so they do not arrive together.
        cap = min(
            self.settings.backoff_max_seconds, self.settings.backoff_base_seconds * 2**attempt
        )
        return random.uniform(0, cap)

    async def _fetch_with_retries(
        self, request: Request, provider_id: str, max_retries: int
    ) -> Response:
        attempt = 0
        while True:
            try:
                self._sent[provider_id] = self._sent.get(provider_id, 0) + 1
                return await self._fetch_once(request)
            except Unreachable as exc:
                # Retry-After from the server, or a breaker, means "not now": never retry early.
                if exc.retry_after is not None or attempt >= max_retries:
                    raise
                await self._sleep(self._backoff(attempt))
                attempt += 1

    def _cache_key(self, request: Request) -> str:
        query = "&".join(f"{k}={v}" for k, v in sorted(request.params.items()))
        return f"{request.method} {request.url}?{query}"

    def _host_limit(self, url: str) -> asyncio.Semaphore:
        host = httpx.URL(url).host
        if host not in self._hosts:
            self._hosts[host] = asyncio.Semaphore(self.settings.per_host_concurrency)
        return self._hosts[host]

    async def _fetch_once(self, request: Request) -> Response:
        key = self._cache_key(request)
        cached = self._cache.get(key) if request.method == "GET" else None
        headers = dict(request.headers)
        if cached is not None:
            if cached.etag:
                headers["If-None-Match"] = cached.etag
            if cached.last_modified:
                headers["If-Modified-Since"] = cached.last_modified
        async with self._host_limit(request.url):
            try:
                raw = await self._http.request(
                    request.method,
                    request.url,
                    params=dict(request.params) or None,
                    headers=headers,
                    json=request.json,
                    content=request.data,
                )
            except httpx.TimeoutException as exc:
                raise Unreachable(f"timed out: {type(exc).__name__}") from exc
            except httpx.HTTPError as exc:
                raise Unreachable(f"network error: {type(exc).__name__}: {exc}") from exc
        fetched_at = dt.datetime.now(dt.UTC)
        if raw.status_code == 304 and cached is not None:
            return replace(
                cached.response, request=request, fetched_at=fetched_at, not_modified=True
            )
        body = raw.content
        response = Response(
            request=request,
            url=str(raw.url),
            status=raw.status_code,
            headers={k.lower(): v for k, v in raw.headers.items()},
            body=body,
            fetched_at=fetched_at,
        )
        response.raise_for_status()
        if len(body) > self.settings.max_body_bytes:
            raise Unparseable(f"response of {len(body)} bytes exceeds the configured limit")
        etag, modified = raw.headers.get("etag"), raw.headers.get("last-modified")
        if request.method == "GET" and (etag or modified) and self.settings.cache_entries:
            self._cache[key] = _CacheEntry(etag, modified, response)
            self._cache.move_to_end(key)
            while len(self._cache) > self.settings.cache_entries:
                self._cache.popitem(last=False)
        return response
