"""The scraper contract: what a provider module declares, and how the core drives it.

A scraper never does I/O. It declares the requests to make, and turns each response into data
with a pure ``parse``. The core (``notifier.pipeline.fetch``) owns the network, politeness and
retries.
Dropping a module into the ``scrapers`` package registers every ``Scraper`` subclass in it
that sets ``name``.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Generic, Literal, TypeVar, cast

from pydantic import BaseModel, ConfigDict

from notifier.http_rules import parse_retry_after
from notifier.model import Location, LocationAvailability, merge_availability
from notifier.plugins import declared_settings, import_all, package_dir, validated_settings

__all__ = [
    "Blocked",
    "Example",
    "FailedDocument",
    "NoSettings",
    "ParsedPoll",
    "Request",
    "Response",
    "ScrapeError",
    "Scraper",
    "SettingsT",
    "Unparseable",
    "Unreachable",
    "UpstreamError",
    "fixture_dir",
    "get_scraper",
    "normalize_name",
    "registry",
]

SCRAPERS_PACKAGE = "scrapers"


# --------------------------------------------------------------------------- requests


@dataclass(frozen=True, slots=True)
class Request:
    """One HTTP request a scraper wants made. ``label`` says what it fetches, for logs.

    ``listed`` is True when the address comes from the provider's own data (a feed manifest's
    file list, a page's "next" link) rather than from the scraper's code; it decides what a 404
    means (see ``Response.raise_for_status``).

    ``scope`` says which part of the provider's data the document covers (a state code, a
    file's name). A document with a scope may fail alone: the poll goes on, and only the
    locations of that scope become unknown. A document without one (the default, and always
    the first request of a poll) covers the whole provider: its failure makes the provider
    unknown.
    """

    url: str
    method: Literal["GET", "POST"] = "GET"
    params: Mapping[str, str] = field(default_factory=dict)
    headers: Mapping[str, str] = field(default_factory=dict)
    json: Any = None
    data: bytes | None = None
    label: str = ""
    listed: bool = False
    scope: str = ""


@dataclass(frozen=True, slots=True)
class Response:
    """A response as the core received it. ``headers`` keys are lower-case."""

    request: Request
    url: str
    status: int
    headers: Mapping[str, str]
    body: bytes
    fetched_at: dt.datetime
    #: True when the server answered 304 and ``body`` is our cached copy
    not_modified: bool = False

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())

    @property
    def retry_after(self) -> float | None:
        """Seconds the server asked us to wait (``Retry-After``), measured from ``fetched_at``."""
        return parse_retry_after(self.header("retry-after"), self.fetched_at)

    def raise_for_status(self) -> None:
        """Raise the ``ScrapeError`` an HTTP error status stands for; return for a usable answer.

        The one mapping from status to failure, used by the live client, by replayed fixtures
        and by every scraper (a stored response may carry any status). Every failure makes the
        provider *unknown*, never "no appointments"; the type says who has to act:

        * 2xx, and a 304 that carries our cached copy: usable. The live client sets
          ``not_modified`` and replays its copy; a recording stores the copy beside the 304.
        * 304 without a copy (an empty body): ``Unparseable``, there is nothing to read.
        * 401, 403, 407, 429, 451: ``Blocked``, we were turned away (with ``Retry-After``).
        * 408 and 5xx: ``Unreachable``, the provider did not answer usefully; worth retrying
          unless it said when to come back (``Retry-After``).
        * 404 and 410, on an address the scraper was built for (``request.listed`` False):
          ``Unparseable``. The page the scraper knows has moved or gone, which is a change of
          the site under us like a new layout; only a person updating the scraper fixes it, so
          it must show up with the layout changes, not as the provider's passing trouble.
        * 404 and 410, on an address the provider itself listed (a file in a feed manifest, a
          "next page" link; ``request.listed`` True): ``UpstreamError``. The scraper did its
          part; the publisher lists something it does not serve, and that is theirs to fix (a
          feed republished mid-poll usually heals by the next poll).
        * Any other status (other 4xx, 1xx, an unfollowed 3xx): ``UpstreamError``, the
          provider answered with an error we have no better name for.
        """
        status = self.status
        if 200 <= status < 300 or (status == 304 and (self.not_modified or self.body)):
            return
        where = f"HTTP {status} from {self.url.split('?', 1)[0]}"
        if status == 304:
            raise Unparseable(f"{where}: 304 Not Modified without the cached copy")
        retry_after = self.retry_after
        if status in _BLOCKED_STATUSES:
            raise Blocked(f"turned away: {where}", retry_after=retry_after)
        if status == 408 or status >= 500:
            raise Unreachable(f"no useful answer: {where}", retry_after=retry_after)
        if status in _GONE_STATUSES and not self.request.listed:
            raise Unparseable(f"{where}: the provider moved or removed this page")
        if status in _GONE_STATUSES:
            raise UpstreamError(f"{where}: the provider lists a document it does not serve")
        raise UpstreamError(f"unexpected {where}")

    def text(self) -> str:
        match = re.search(r"charset=([\w-]+)", self.header("content-type") or "", re.I)
        encoding = match.group(1) if match else "utf-8"
        try:
            return self.body.decode(encoding, errors="replace")
        except LookupError:
            return self.body.decode("utf-8", errors="replace")

    def json(self) -> Any:
        """The body as JSON; a body that is not JSON means the format changed."""
        try:
            return json.loads(self.body)
        except ValueError as exc:
            raise Unparseable(f"response from {self.url} is not JSON: {exc}") from exc

    @classmethod
    def from_body(
        cls,
        body: bytes | str,
        *,
        url: str = "file:///fixture",
        status: int = 200,
        headers: Mapping[str, str] | None = None,
        fetched_at: dt.datetime | None = None,
    ) -> Response:
        """A response built from stored bytes (fixtures, the offline parse command, tests)."""
        raw = body.encode() if isinstance(body, str) else body
        return cls(
            request=Request(url=url),
            url=url,
            status=status,
            headers={k.lower(): v for k, v in (headers or {}).items()},
            body=raw,
            fetched_at=fetched_at or dt.datetime.now(dt.UTC),
        )


_BLOCKED_STATUSES = frozenset({401, 403, 407, 429, 451})
_GONE_STATUSES = frozenset({404, 410})


# --------------------------------------------------------------------------- failures


class ScrapeError(Exception):
    """A poll that could not tell what is available. Every subclass makes the provider unknown.

    ``retry_after`` (seconds) is set when the provider told us when to come back.
    """

    kind: ClassVar[str] = "error"

    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class Unreachable(ScrapeError):
    """Network error, timeout, or a 5xx: the provider did not answer usefully."""

    kind = "unreachable"


class Blocked(ScrapeError):
    """403, a captcha, a queue or waiting room: we were turned away."""

    kind = "blocked"


class Unparseable(ScrapeError):
    """The page or payload does not have the shape the scraper knows: the layout changed."""

    kind = "unparseable"


class UpstreamError(ScrapeError):
    """The provider answered with an explicit error payload (never read that as zero)."""

    kind = "upstream_error"


# --------------------------------------------------------------------------- scrapers


class NoSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")


@dataclass(frozen=True, slots=True)
class Example:
    """A recorded fixture and what it must parse to.

    ``files`` are relative to the scraper's fixture folder (``scrapers/fixtures/<name>/``),
    in fetch order; one entry may be a directory holding a recorded feed. Each file may have
    a sidecar ``<file>.meta.json`` with ``url``, ``status``, ``headers`` and ``fetched_at``.

    ``expect`` keys (all optional):
      ``locations`` (count), ``appointments`` and ``slots`` (totals over all locations),
      ``status`` (of every location), and ``by_location``: ``{location id: {field: value}}``
      compared with the fields of ``LocationAvailability.to_json()``.
    ``raises`` names the ``ScrapeError`` subclass an error fixture must raise.
    """

    files: tuple[str, ...]
    expect: Mapping[str, Any] | None = None
    raises: type[ScrapeError] | None = None
    settings: Mapping[str, Any] | None = None
    note: str = ""


@dataclass(frozen=True, slots=True)
class FailedDocument:
    """A document of a poll that could not be fetched (or was not recorded), and why."""

    request: Request
    error: ScrapeError

    @property
    def scope(self) -> str:
        return self.request.scope


@dataclass(frozen=True, slots=True)
class ParsedPoll:
    """What a whole poll says: results, and the scopes whose locations are unknown.

    A location of an unknown scope is either listed with status ``unknown`` (the scraper knew
    it) or left out; either way its last good state stands. ``unknown_scopes`` empty: the poll
    saw everything.
    """

    results: list[LocationAvailability]
    unknown_scopes: tuple[str, ...] = ()

    @property
    def partial(self) -> bool:
        return bool(self.unknown_scopes)


_REGISTRY: dict[str, type[Scraper[Any]]] = {}

SettingsT = TypeVar("SettingsT", bound=BaseModel)


class Scraper(Generic[SettingsT]):
    """Base class of every provider scraper. Subclasses set the metadata class attributes.

    A scraper names its settings model as the type argument, ``class Heb(Scraper[HebSettings])``:
    ``self.settings`` is then a ``HebSettings`` for the type checker and at run time, and
    ``Settings`` (what config validation and the docs read) is set from it. A scraper without
    settings subclasses ``Scraper[NoSettings]``.
    """

    # ---- metadata (checked by the meta-tests and shown by ``notifier scraper list``)
    name: ClassVar[str] = ""
    provider: ClassVar[str] = ""
    regions: ClassVar[tuple[str, ...]] = ()
    maintainer: ClassVar[str] = ""
    #: seconds between polls by default, and the least any config may ask for
    default_interval: ClassVar[float] = 300.0
    min_interval: ClassVar[float] = 60.0
    #: why the scraper is broken, or None when it works; a broken scraper is not scheduled
    broken: ClassVar[str | None] = None
    #: "html" for pages, "api" for a JSON/CSV API, "feed" for a standard feed (SMART)
    source_format: ClassVar[Literal["html", "api", "feed"]] = "html"
    examples: ClassVar[tuple[Example, ...]] = ()
    #: what the provider's pages say when nothing can be booked: read as ``none``, never as an
    #: error (every scraper declares both; ``docs/providers.md`` shows them)
    none_when: ClassVar[tuple[str, ...]] = ()
    #: what makes this provider (or one scope of it) ``unknown``: only failures
    unknown_when: ClassVar[tuple[str, ...]] = ()
    #: the settings model; set from the type argument (``Scraper[HebSettings]``)
    Settings: ClassVar[type[BaseModel]] = NoSettings
    settings: SettingsT

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        declared = declared_settings(cls, Scraper)
        if declared is not None:
            cls.Settings = declared
        # Only a class that names itself registers; a subclass of a scraper does not.
        if "name" in cls.__dict__ and cls.name:
            key = normalize_name(cls.name)
            if key in _REGISTRY and _REGISTRY[key] is not cls:
                raise RuntimeError(
                    f"scraper name {cls.name!r} is registered twice "
                    f"({_REGISTRY[key].__module__} and {cls.__module__})"
                )
            _REGISTRY[key] = cls

    def __init__(self, settings: BaseModel | Mapping[str, Any] | None = None) -> None:
        # ``Settings`` is the class's type argument (``__init_subclass__``), so the value
        # validated or checked against it is a ``SettingsT``.
        self.settings = cast(SettingsT, validated_settings(type(self), self.Settings, settings))

    @property
    def works(self) -> bool:
        return self.broken is None

    # ---- the contract; all of these are pure
    def requests(self) -> list[Request]:
        """The first requests of a poll."""
        raise NotImplementedError

    def follow(self, response: Response) -> list[Request]:
        """Further requests this response calls for (next page, feed files). Default: none."""
        return []

    def parse(self, response: Response) -> list[LocationAvailability]:
        """Turn one response into availability. Raise a ``ScrapeError`` when unsure."""
        raise NotImplementedError

    def advance(self, responses: Sequence[Response]) -> Scraper[SettingsT]:
        """The scraper for the next poll, after a successful one. Default: this one.

        A feed that supports incremental fetches returns a copy whose settings remember where
        this poll ended (SMART's ``_since``). Pure: it returns a new object.
        """
        return self

    def next_poll_delay(self, responses: Sequence[Response]) -> float | None:
        """Seconds the source asks us to wait before the next poll (e.g. ``Cache-Control:
        max-age``), or None. The core never polls sooner than this. Pure."""
        return None

    def site_key(self, location: Location) -> str:
        """Which place a location belongs to, for alerting. Default: the location itself.

        A provider whose unit is smaller than a place (PrepMod lists one *clinic* per date)
        maps its locations to one key per place, so people get one alert per place that
        lists its dates, not one alert per day. Pure; called by the core before diffing.
        """
        return location.id

    def parse_all(self, responses: Sequence[Response]) -> list[LocationAvailability]:
        """Turn every response of one poll into availability; counts for a location add up.

        Feeds whose files only make sense together (SMART) override this.
        """
        return merge_availability(item for r in responses for item in self.parse(r))

    def parse_poll(
        self, responses: Sequence[Response], failed: Sequence[FailedDocument] = ()
    ) -> ParsedPoll:
        """Parse a poll some of whose documents failed; the core calls this one.

        Default: a failed document without a scope, or a poll where nothing arrived, raises
        its error (the whole provider is unknown); otherwise the documents that arrived are
        parsed with ``parse_all`` and the failed scopes are reported unknown. Locations the
        poll does not list are then kept as they were, never read as gone.
        """
        whole = next((f for f in failed if not f.scope), None)
        if whole is not None:
            raise whole.error
        if failed and not responses:
            raise failed[0].error
        scopes = tuple(sorted({f.scope for f in failed}))
        return ParsedPoll(self.parse_all(responses), scopes)


def normalize_name(name: str) -> str:
    """Scraper names compare with ``-`` and ``_`` interchangeable and case folded."""
    return name.strip().lower().replace("_", "-")


def registry() -> dict[str, type[Scraper[Any]]]:
    """Every registered scraper by normalized name, after importing the ``scrapers`` package."""
    import_all(SCRAPERS_PACKAGE)
    return dict(sorted(_REGISTRY.items()))


def get_scraper(name: str) -> type[Scraper[Any]]:
    scrapers = registry()
    try:
        return scrapers[normalize_name(name)]
    except KeyError:
        known = ", ".join(scrapers) or "none"
        raise KeyError(f"no scraper named {name!r}; known scrapers: {known}") from None


def fixture_dir(scraper: type[Scraper[Any]]) -> Path:
    """Where a scraper's recorded fixtures live: ``scrapers/fixtures/<name>/``."""
    return package_dir(SCRAPERS_PACKAGE) / "fixtures" / normalize_name(scraper.name)
