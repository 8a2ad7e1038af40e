"""SMART Scheduling Links: the standard FHIR bulk publication of open appointment slots.

One scraper serves every publisher (CVS, Walgreens, Kroger, Rite Aid, PrepMod deployments...);
``scrapers/smart_publishers.yaml`` names them, so a config says
``scraper: smart-scheduling-links, settings: {publisher: cvs, states: [MA]}``.

A poll:
1. ``requests()`` asks for the ``$bulk-publish`` manifest.
2. ``follow(manifest)`` asks for the Location, Schedule and Slot NDJSON files it lists,
   skipping files whose ``extension.state`` excludes every wanted state.
3. ``parse_all(responses)`` joins Location <- Schedule (``actor``) <- Slot (``schedule``) and
   returns one ``LocationAvailability`` per location (see ``_smart_feed`` for the counting
   rules and ``_smart_fhir`` for product matching).

Which locations are reported: every Location (in the wanted states) with a COVID schedule, or
with no schedule at all (status ``none`` when it has no open slot). A location whose schedules
are all for other services (flu, shingles, monkeypox...) is left out: it is not COVID
availability, so the diff sees it as gone rather than as "no COVID appointments". With
``product_filter: any`` every schedule counts. A location whose slots we could not see (its
Slot file was listed but not fetched) is ``unknown``, never ``none``.

Scopes: every listed file that names its states (``extension.state``) is requested with that
scope (``"CA"``, or ``"CA,NV"``). When such a file fails (a 500, a 404, a timeout) or was not
recorded, the poll is partial: the locations of those states are ``unknown`` (or, when their
Location file is the one missing, left out), every other state updates. A failed file that
names no state may hold any location: the whole feed is unknown, as before.

``parse(response)`` parses one response as a whole feed: a self-contained NDJSON file that
holds Locations, Schedules and Slots parses on its own; a manifest alone raises
``Unparseable`` (the files it lists were not fetched).

Hooks for the core (all pure):
* ``next_poll_delay(responses)``: seconds the manifest's ``Cache-Control: max-age`` says the
  data stays current (at least ``min_interval``), or None. Poll no sooner than that.
* ``transaction_time(responses)``: the manifest's ``transactionTime``. Pass it back as the
  ``since`` setting of the next poll to use ``_since`` (below).
* ``_since``: when ``since`` is set and the publisher honours ``_since`` (quirk or
  ``use_since``), the manifest request carries ``?_since=``. An answer listing nothing (or
  a ``transactionTime`` not after ``since``) means nothing changed: ``follow`` asks for
  nothing more and ``parse_all`` raises ``FeedUnchanged`` (kind ``not_modified``; like every
  ``ScrapeError`` it keeps the last good state). An answer listing changes is a delta, which
  cannot give whole-location totals, so ``follow`` re-requests the full manifest and the
  poll continues as usual. A server that ignores ``_since`` therefore costs one extra
  (conditional, cheap) manifest request and is still read correctly.

Rate limit: the specification asks clients to poll at most once a minute and to honour
``Cache-Control``, so ``min_interval`` is 60 s and ``next_poll_delay`` reports max-age. Every
file request is a plain GET of a static URL, so the core's conditional requests (ETag,
Last-Modified) turn an unchanged file into a 304.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from notifier.model import LocationAvailability
from notifier.scraping import (
    FailedDocument,
    ParsedPoll,
    Request,
    Response,
    ScrapeError,
    Scraper,
    Unparseable,
    UpstreamError,
)
from scrapers._smart.examples import EXAMPLES
from scrapers._smart.feed import FeedBuilder, FeedOptions, FileSource
from scrapers._smart.manifest import (
    Manifest,
    iter_resources,
    max_age_seconds,
    raise_for_error_body,
    read_manifest,
    url_key,
)
from scrapers._smart.publishers import Publisher, Quirks, match_publisher, publishers
from scrapers._smart.settings import SmartSettings

__all__ = ["FeedUnchanged", "SmartSchedulingLinks", "SmartSettings"]

log = logging.getLogger(__name__)

DEFAULT_PUBLISHER = "smart-example"
LABEL_MANIFEST = "smart manifest"
LABEL_PROBE = "smart manifest (_since probe)"
FILE_LABELS = frozenset(f"smart {kind} file" for kind in ("Location", "Schedule", "Slot"))


class FeedUnchanged(ScrapeError):
    """The ``_since`` probe says nothing changed since the last poll: keep the last state."""

    kind = "not_modified"


@dataclass
class _Missing:
    slot_states: set[str] = field(default_factory=set)
    whole_states: set[str] = field(default_factory=set)
    unscoped: bool = False
    scopes: set[str] = field(default_factory=set)


def _scope(states: frozenset[str] | None) -> str:
    """The scope label of a file: its states, or "" (the whole feed) when it names none."""
    return ",".join(sorted(states)) if states else ""


def _origin(url: str | None) -> str | None:
    try:
        parts = urlsplit(url or "")
    except ValueError:
        return None
    return f"{parts.scheme}://{parts.netloc}/" if parts.scheme in ("http", "https") else None


class SmartSchedulingLinks(Scraper[SmartSettings]):
    name = "smart-scheduling-links"
    provider = "SMART Scheduling Links publishers (FHIR $bulk-publish)"
    regions = ("US",)
    maintainer = "appointment-notifier scrapers team"
    default_interval = 60.0
    min_interval = 60.0  # the specification: clients poll at most once a minute
    source_format = "feed"
    none_when = ("a location whose slots are all busy, or that has no slot (cvs-none)",)
    unknown_when = (
        "a failed or missing file of one state: that state's locations (partial poll)",
        "a failed file of no state, an OperationOutcome file, or a manifest listing no files: "
        "the whole feed",
        "HTTP errors, timeouts",
    )
    examples = EXAMPLES

    # ------------------------------------------------------------------ configuration

    def publisher(self) -> Publisher | None:
        """The configured publisher: by key, else by manifest URL; the spec example when
        nothing is configured. A manifest URL of no known publisher has none."""
        registry = publishers()
        if self.settings.publisher:
            return registry[self.settings.publisher]
        if self.settings.manifest_url:
            return match_publisher(self.settings.manifest_url)
        return registry[DEFAULT_PUBLISHER]

    def manifest_url(self) -> str:
        publisher = self.publisher()
        if self.settings.manifest_url or publisher is None:
            return self.settings.manifest_url or publishers()[DEFAULT_PUBLISHER].manifest_url
        return publisher.manifest_url

    def quirks(self, manifest: Manifest | None = None) -> Quirks:
        """Quirks of the configured publisher, or of the one the manifest itself names."""
        if self.settings.publisher or self.settings.manifest_url or manifest is None:
            found = self.publisher()
        else:
            found = match_publisher(manifest.request) or match_publisher(manifest.url)
        base = found.quirks if found else Quirks()
        s = self.settings
        return Quirks(
            capacity_is_flag=base.capacity_is_flag
            if s.capacity_is_flag is None
            else s.capacity_is_flag,
            dates_as_written=base.dates_as_written
            if s.dates_as_written is None
            else s.dates_as_written,
            honours_since=base.honours_since if s.use_since is None else s.use_since,
        )

    def _states(self) -> frozenset[str] | None:
        return frozenset(self.settings.states) or None

    # ------------------------------------------------------------------ requests

    def requests(self) -> list[Request]:
        publisher = self.publisher()
        params = dict(publisher.params) if publisher else {}
        headers = dict(publisher.headers) if publisher else {}
        label = LABEL_MANIFEST
        if self.settings.since is not None and self.quirks().honours_since:
            params["_since"] = self.settings.since.isoformat()
            label = LABEL_PROBE
        return [Request(url=self.manifest_url(), params=params, headers=headers, label=label)]

    def follow(self, response: Response) -> list[Request]:
        if response.request.label in FILE_LABELS or response.status >= 400:
            return []
        manifest = read_manifest(response)
        if manifest is None:
            return []  # not a manifest: parse_all says why
        publisher = self.publisher()
        headers = dict(publisher.headers) if publisher else {}
        if response.request.label == LABEL_PROBE:
            if self._unchanged(manifest):
                return []
            params = {k: v for k, v in response.request.params.items() if k != "_since"}
            return [
                Request(
                    url=response.request.url, params=params, headers=headers, label=LABEL_MANIFEST
                )
            ]
        requests: dict[tuple[str, str, str], Request] = {}
        for entry in manifest.wanted(self._states()):
            request = Request(
                url=entry.url,
                headers=headers,
                label=f"smart {entry.type} file",
                listed=True,
                scope=_scope(entry.states),
            )
            requests.setdefault(url_key(entry.url), request)
        return list(requests.values())

    def _unchanged(self, manifest: Manifest) -> bool:
        since, when = self.settings.since, manifest.transaction_time
        if since is not None and when is not None and when <= since:
            return True
        return not manifest.wanted(None)

    # ------------------------------------------------------------------ parsing

    def parse(self, response: Response) -> list[LocationAvailability]:
        """One response as a whole feed (see the module docstring)."""
        return self.parse_all([response])

    def parse_all(self, responses: Sequence[Response]) -> list[LocationAvailability]:
        return self.parse_poll(responses).results

    def parse_poll(
        self, responses: Sequence[Response], failed: Sequence[FailedDocument] = ()
    ) -> ParsedPoll:
        """The feed, with the states of files that failed or were not recorded unknown."""
        for document in failed:
            if not document.scope:
                raise document.error
        if not responses:
            raise Unparseable("no responses to parse")
        manifest, files = self._split(responses)
        if manifest is not None:
            self._check_manifest(manifest)
        options = self._options(manifest)
        builder = FeedBuilder(options)
        entries = {url_key(e.url): e for e in manifest.entries} if manifest else {}
        fetched = {key for r in files for key in (url_key(r.request.url), url_key(r.url))}
        missing = self._missing(manifest, fetched)
        slot_files: list[tuple[Response, FileSource]] = []
        deferred: list[tuple[dict[str, Any], FileSource]] = []
        for response in files:
            keys = (url_key(response.request.url), url_key(response.url))
            entry = entries.get(keys[0]) or entries.get(keys[1])
            if entry is not None and entry.states and entry.states & missing.whole_states:
                # The rest of a state whose files failed: it cannot join up, and its
                # locations are unknown anyway.
                continue
            source = FileSource(
                response.url,
                entry.current_as_of if entry else None,
                entry.type if entry else None,
            )
            if entry is not None and entry.type == "Slot":
                slot_files.append((response, source))
                continue
            for resource in iter_resources(response):
                if resource.get("resourceType") == "Slot":
                    deferred.append((resource, source))  # its Schedule may come later
                else:
                    builder.add(resource, source)
        # Slots last: every Location and Schedule is known by then, so slots join as they
        # stream by and are never all held in memory.
        for resource, source in deferred:
            builder.add(resource, source)
        for response, source in slot_files:
            for resource in iter_resources(response):
                builder.add(resource, source)
        results = builder.results(
            frozenset(missing.slot_states), missing.unscoped, frozenset(missing.whole_states)
        )
        return ParsedPoll(results, tuple(sorted(missing.scopes)))

    def _split(self, responses: Sequence[Response]) -> tuple[Manifest | None, list[Response]]:
        """The full manifest (last one wins) and the data files."""
        full: list[Manifest] = []
        probes: list[Manifest] = []
        files: list[Response] = []
        for response in responses:
            response.raise_for_status()
            if response.request.label in FILE_LABELS:
                files.append(response)
                continue
            manifest = read_manifest(response)
            if manifest is None:
                if response.request.label in (LABEL_MANIFEST, LABEL_PROBE):
                    raise_for_error_body(response, "a $bulk-publish manifest")
                    raise Unparseable(
                        f"{response.url.split('?', 1)[0]}: not a $bulk-publish manifest"
                    )
                files.append(response)  # an unlabelled NDJSON file (offline parse)
            elif response.request.label == LABEL_PROBE:
                probes.append(manifest)
            else:
                full.append(manifest)
        if full:
            return full[-1], files
        if probes:
            if self._unchanged(probes[-1]):
                raise FeedUnchanged("nothing changed since the last poll (_since)")
            raise Unparseable("the _since probe listed changes but the full manifest is missing")
        return None, files

    def _check_manifest(self, manifest: Manifest) -> None:
        if manifest.error_count:
            log.warning("SMART manifest lists %d error files", manifest.error_count)
        if not manifest.entries:
            raise UpstreamError("the $bulk-publish manifest lists no files")
        if not any(e.type == "Location" for e in manifest.entries):
            raise Unparseable("the $bulk-publish manifest lists no Location file")

    def _options(self, manifest: Manifest | None) -> FeedOptions:
        quirks = self.quirks(manifest)
        real = [manifest.request, manifest.url] if manifest else []
        real_url = next((u for u in real if _origin(u)), None)
        return FeedOptions(
            states=self._states(),
            covid_only=self.settings.product_filter == "covid",
            capacity_is_flag=quirks.capacity_is_flag,
            dates_as_written=quirks.dates_as_written,
            coarse_seconds=self.settings.coarse_slot_hours * 3600,
            base_url=self.settings.base_url or _origin(real_url or self.manifest_url()),
            link_base=real_url or self.settings.base_url or self.manifest_url(),
            valid_at=manifest.transaction_time if manifest else None,
        )

    def _missing(self, manifest: Manifest | None, fetched: set[tuple[str, str, str]]) -> _Missing:
        """What the poll lacks: files listed but not fetched (failed, or not recorded).

        A missing Slot file leaves its locations without slots ``unknown``; a missing Location
        or Schedule file makes its whole states unknown; one of no state raises, since any
        location may be in it.
        """
        missing = _Missing()
        if manifest is None:
            return missing
        for entry in manifest.wanted(self._states()):
            if url_key(entry.url) in fetched:
                continue
            where = entry.url.split("?", 1)[0]
            if entry.states is None and entry.type != "Slot":
                raise Unparseable(f"the listed {entry.type} file {where} was not fetched")
            log.warning("SMART %s file %s was not fetched", entry.type, where)
            if entry.states is None:
                missing.unscoped = True
                missing.scopes.add(where.rsplit("/", 1)[-1] or where)
                continue
            missing.scopes.add(_scope(entry.states))
            if entry.type == "Slot":
                missing.slot_states |= entry.states
            else:
                missing.whole_states |= entry.states
        return missing

    # ------------------------------------------------------------------ hooks for the core

    def _manifest_response(self, responses: Sequence[Response]) -> tuple[Response, Manifest] | None:
        for response in responses:
            if response.request.label in FILE_LABELS:
                continue
            manifest = read_manifest(response)
            if manifest is not None:
                return response, manifest
        return None

    def next_poll_delay(self, responses: Sequence[Response]) -> float | None:
        """Seconds until the manifest's ``Cache-Control: max-age`` expires.

        The one-a-minute floor is the core's job (``min_interval`` bounds every configured
        interval), so this reports only what the publisher asked for.
        """
        found = self._manifest_response(responses)
        return max_age_seconds(found[0]) if found else None

    def advance(self, responses: Sequence[Response]) -> SmartSchedulingLinks:
        """Remember the manifest's ``transactionTime`` as the next poll's ``since``."""
        when = self.transaction_time(responses)
        if when is None or when == self.settings.since:
            return self
        return type(self)(self.settings.model_copy(update={"since": when}))

    def transaction_time(self, responses: Sequence[Response]) -> dt.datetime | None:
        """The manifest's ``transactionTime``: the ``since`` to use on the next poll."""
        times = [
            m.transaction_time
            for r in responses
            if r.request.label not in FILE_LABELS and (m := read_manifest(r)) is not None
        ]
        return max((t for t in times if t is not None), default=None)
