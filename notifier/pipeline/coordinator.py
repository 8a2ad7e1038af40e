"""One coordinator per provider owns all of its polling (as in Home Assistant).

It drives the scraper's requests through the shared polite client, follows further pages,
parses, and turns every failure into a typed, *unknown* outcome. The outcome carries what
the shared backoff (``pipeline.backoff``) needs: Retry-After, the source's max-age, and how
many requests the poll really sent.

Whether the provider is down is not the coordinator's to judge: it is the stored health,
decided when the poll is recorded (``pipeline.decide``), so that with several workers an
outage is announced once. ``down_since`` mirrors it (``pipeline.poll`` sets it), for the one
thing a poll needs it for: a provider that is down gets no retries.

A partial failure stays partial: a follow-up document that declares a ``scope`` (a SMART
state's file, one page of several) may fail alone; the poll goes on, the scraper is told
which documents failed (``Scraper.parse_poll``), and the outcome is ``partial`` with the
unknown scopes. Only the first request, a document without a scope, or being turned away
(``Blocked``: we stop asking at once) fails the whole provider. A partial poll is an answer,
not a failure: it does not count toward the backoff, nor mark the provider down.
"""

from __future__ import annotations

import datetime as dt
import logging
import random
import time
from dataclasses import dataclass, field, replace

from notifier.model import LocationAvailability
from notifier.pipeline.fetch import PoliteClient
from notifier.scraping import (
    Blocked,
    FailedDocument,
    Response,
    ScrapeError,
    Scraper,
    Unparseable,
)

__all__ = ["PollOutcome", "ProviderCoordinator"]

log = logging.getLogger(__name__)

#: a poll never follows more pages than this; a pagination loop must not become a crawl
MAX_REQUESTS_PER_POLL = 200


@dataclass(frozen=True, slots=True)
class PollOutcome:
    """What one poll produced. ``results`` is None when the provider's state is unknown."""

    provider_id: str
    started_at: dt.datetime
    duration_ms: int
    results: list[LocationAvailability] | None
    outcome: str  # "ok" | "partial" | "unchanged" | ScrapeError.kind
    http_status: int | None = None
    bytes: int = 0
    error: str | None = None
    retry_after: float | None = None
    responses: int = 0
    #: how long the source said its data stays fresh (max-age), in seconds
    source_delay: float | None = None
    #: pages the poll asked for, and HTTP requests it really sent (retries included)
    requests: int = 0
    attempts: int = 0
    #: scopes (e.g. states) whose documents failed: their locations keep their last state
    unknown_scopes: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        return self.results is not None


@dataclass
class ProviderCoordinator:
    provider_id: str
    scraper: Scraper
    client: PoliteClient
    interval: float
    jitter: float = 0.0
    #: since when the stored health says the provider is down (None: it is not)
    down_since: dt.datetime | None = None
    _not_before: float = field(default=0.0, repr=False)
    _source_delay: float | None = field(default=None, repr=False)
    _requests: int = field(default=0, repr=False)

    async def poll(self) -> PollOutcome:
        started = dt.datetime.now(dt.UTC)
        clock = time.perf_counter()
        responses: list[Response] = []
        failed: list[FailedDocument] = []
        self._source_delay = None
        self._requests = 0
        sent_before = self.client.sent(self.provider_id)
        try:
            responses, failed = await self._fetch_all()
            self._honour_source_delay(responses)
            if not failed and responses and all(r.not_modified for r in responses):
                outcome = self._finish(started, clock, responses, None, "unchanged")
            else:
                parsed = self.scraper.parse_poll(responses, failed)
                if parsed.partial:
                    outcome = replace(
                        self._finish(started, clock, responses, parsed.results, "partial"),
                        unknown_scopes=parsed.unknown_scopes,
                        error=_describe_failures(parsed.unknown_scopes, failed),
                    )
                else:
                    outcome = self._finish(started, clock, responses, parsed.results, "ok")
                    # Only a complete poll moves an incremental feed on: a partial one must
                    # fetch the failed files again next time.
                    self.scraper = self.scraper.advance(responses)
        except ScrapeError as exc:
            if exc.kind == "not_modified":
                # The source said "nothing changed since last time" (a feed's _since probe).
                outcome = self._finish(started, clock, responses, None, "unchanged")
            else:
                outcome = self._finish(started, clock, responses, None, exc.kind, exc)
        except Exception as exc:  # noqa: BLE001 - a scraper bug must not stop the service
            # A crash inside parse means the page no longer looks the way the scraper expects.
            error = Unparseable(f"scraper crashed: {type(exc).__name__}: {exc}")
            outcome = self._finish(started, clock, responses, None, error.kind, error)
        return replace(
            outcome,
            source_delay=self._source_delay,
            requests=self._requests,
            attempts=self.client.sent(self.provider_id) - sent_before,
        )

    def next_delay(self) -> float:
        """Seconds until the next poll: the interval with jitter, or longer if told to wait."""
        delay = self.interval + random.uniform(0, self.jitter)
        return max(delay, self._not_before - time.monotonic())

    def _honour_source_delay(self, responses: list[Response]) -> None:
        """A source that says how long its data stays fresh (max-age) is not asked sooner."""
        delay = self.scraper.next_poll_delay(responses)
        if delay is not None and delay > 0:
            self._source_delay = delay
            self._not_before = max(self._not_before, time.monotonic() + delay)

    async def _fetch_all(self) -> tuple[list[Response], list[FailedDocument]]:
        pending = list(self.scraper.requests())
        responses: list[Response] = []
        failed: list[FailedDocument] = []
        while pending:
            if len(responses) + len(failed) >= MAX_REQUESTS_PER_POLL:
                raise Unparseable(f"more than {MAX_REQUESTS_PER_POLL} requests in one poll")
            # A provider that is already failing gets no retries inside a poll: the backoff
            # between polls is the only retry, so an outage never multiplies our requests.
            retries = 0 if self.down_since is not None else None
            self._requests += 1
            request = pending.pop(0)
            try:
                response = await self.client.fetch(request, self.provider_id, retries=retries)
            except ScrapeError as exc:
                # A scoped document fails alone; anything else (or being turned away) ends
                # the poll and makes the whole provider unknown.
                if not request.scope or isinstance(exc, Blocked):
                    raise
                log.info(
                    "provider %s: %s (%s) failed: %s",
                    self.provider_id,
                    request.label or "document",
                    request.scope,
                    exc,
                )
                failed.append(FailedDocument(request, exc))
                continue
            responses.append(response)
            pending.extend(self.scraper.follow(response))
        return responses, failed

    def _finish(
        self,
        started: dt.datetime,
        clock: float,
        responses: list[Response],
        results: list[LocationAvailability] | None,
        outcome: str,
        error: ScrapeError | None = None,
    ) -> PollOutcome:
        retry_after = error.retry_after if error else None
        if retry_after is not None:
            self._not_before = time.monotonic() + retry_after
        return PollOutcome(
            provider_id=self.provider_id,
            started_at=started,
            duration_ms=int((time.perf_counter() - clock) * 1000),
            results=results,
            outcome=outcome,
            http_status=responses[-1].status if responses else None,
            bytes=sum(len(r.body) for r in responses if not r.not_modified),
            error=" ".join(str(error).split()) if error else None,
            retry_after=retry_after,
            responses=len(responses),
        )


def _describe_failures(scopes: tuple[str, ...], failed: list[FailedDocument]) -> str:
    """``unknown scopes: CA, TX (CA: <why>; TX: <why>)``, for the poll's run record."""
    reasons = "; ".join(f"{f.scope}: {' '.join(str(f.error).split())}" for f in failed)
    text = f"unknown scopes: {', '.join(scopes)}"
    return f"{text} ({reasons})" if reasons else text
