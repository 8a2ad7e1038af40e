"""Reading a SMART ``$bulk-publish`` manifest and its NDJSON files, and spotting error pages.

Pure functions over ``Response`` objects. Anything that is not the expected shape raises a
``ScrapeError`` naming the file and line, never the line's content (it may hold a phone number).
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Final, NoReturn
from urllib.parse import urljoin, urlsplit

from notifier.privacy import mask_text
from notifier.scraping import Blocked, Response, Unparseable, UpstreamError
from scrapers._smart.fhir import aware, parse_instant

__all__ = [
    "FILE_TYPES",
    "Manifest",
    "ManifestEntry",
    "iter_resources",
    "max_age_seconds",
    "raise_for_error_body",
    "read_manifest",
    "url_key",
]


#: The resource types a SMART publisher lists; anything else in ``output`` is not fetched.
FILE_TYPES: Final = ("Location", "Schedule", "Slot")

_BLOCK_WORDS = re.compile(
    r"access denied|captcha|are you a robot|request unsuccessful|incapsula|queue-it|"
    r"waiting room|too many requests|rate limit",
    re.I,
)
_MAX_AGE = re.compile(r"(?:^|[,\s])max-age\s*=\s*\"?(\d+)", re.I)


@dataclass(frozen=True, slots=True)
class ManifestEntry:
    """One ``output`` item: a file of one resource type."""

    type: str
    url: str
    #: ``extension.state``; None when the publisher does not say (then the file may hold any)
    states: frozenset[str] | None = None
    #: ``extension.currentAsOf`` (Walgreens): when this file's data was true
    current_as_of: dt.datetime | None = None

    def serves(self, states: frozenset[str] | None) -> bool:
        """Whether a poll restricted to ``states`` needs this file."""
        return not states or self.states is None or bool(self.states & states)


@dataclass(frozen=True, slots=True)
class Manifest:
    url: str
    transaction_time: dt.datetime | None
    #: the manifest's own ``request`` field (the URL it answers)
    request: str | None
    entries: tuple[ManifestEntry, ...]
    error_count: int = 0

    def wanted(self, states: frozenset[str] | None) -> list[ManifestEntry]:
        return [e for e in self.entries if e.type in FILE_TYPES and e.serves(states)]


def url_key(url: str) -> tuple[str, str, str]:
    """Compare URLs by host, path and query (scheme and fragment do not matter here)."""
    try:
        parts = urlsplit(url)
    except ValueError:  # e.g. an unbalanced "[" read as an IPv6 host
        return "", url, ""
    return parts.netloc.lower(), parts.path, parts.query


def _outcome_message(document: Mapping[str, Any]) -> str:
    issues = document.get("issue")
    texts: list[str] = []
    for issue in issues if isinstance(issues, list) else []:
        if isinstance(issue, dict):
            details = issue.get("details")
            detail = issue.get("diagnostics") or (
                details.get("text") if isinstance(details, dict) else None
            )
            texts.append(str(detail or issue.get("code") or "error"))
    # Upstream text can quote anything: mask personal data and keep it short.
    return mask_text("; ".join(texts) or "no details")[:300]


def raise_for_error_body(response: Response, what: str) -> None:
    """Raise when a body is an error page instead of ``what`` (HTML, OperationOutcome)."""
    head = response.body[:2048].lstrip(b"\xef\xbb\xbf \t\r\n")
    if not head:
        return
    if head[:1] == b"<":
        text = response.body[:20000].decode("utf-8", errors="replace")
        if _BLOCK_WORDS.search(text):
            raise Blocked(f"{response.url.split('?', 1)[0]}: an access-denied page, not {what}")
        raise Unparseable(f"{response.url.split('?', 1)[0]}: an HTML page, not {what}")
    if b"OperationOutcome" in head:
        try:
            document = json.loads(response.body)
        except ValueError:
            first = response.body.split(b"\n", 1)[0]
            try:
                document = json.loads(first)
            except ValueError:
                return
        if isinstance(document, dict) and document.get("resourceType") == "OperationOutcome":
            raise UpstreamError(
                f"{response.url.split('?', 1)[0]}: the server reported an error: "
                f"{_outcome_message(document)}"
            )


def _entry(raw: Any, base_url: str) -> ManifestEntry | None:
    if not isinstance(raw, dict):
        return None
    kind, url = raw.get("type"), raw.get("url")
    if not isinstance(kind, str) or not isinstance(url, str) or not url.strip():
        return None
    extension_raw = raw.get("extension")
    extension: dict[str, Any] = extension_raw if isinstance(extension_raw, dict) else {}
    states_raw = extension.get("state")
    states: frozenset[str] | None = None
    if isinstance(states_raw, str):
        states = frozenset({states_raw.strip().upper()})
    elif isinstance(states_raw, list):
        states = frozenset(s.strip().upper() for s in states_raw if isinstance(s, str))
    try:
        absolute = urljoin(base_url, url.strip())  # relative file URLs follow the manifest
    except ValueError:
        return None
    return ManifestEntry(
        type=kind.strip(),
        url=absolute,
        states=states or None,
        current_as_of=aware(parse_instant(extension.get("currentAsOf"))),
    )


def read_manifest(response: Response) -> Manifest | None:
    """The manifest in ``response``, or None when the body is not one (lenient)."""
    try:
        document = json.loads(response.body)
    except ValueError:
        return None
    if not isinstance(document, dict) or not isinstance(document.get("output"), list):
        return None
    entries = [_entry(raw, response.url) for raw in document["output"]]
    errors = document.get("error")
    request = document.get("request")
    return Manifest(
        url=response.url,
        transaction_time=aware(parse_instant(document.get("transactionTime"))),
        request=request if isinstance(request, str) else None,
        entries=tuple(e for e in entries if e is not None),
        error_count=len(errors) if isinstance(errors, list) else 0,
    )


#: Lines decoded per ``json.loads`` call. Batching saves the per-call overhead of the
#: standard library; small batches matter as much: objects that are still referenced when the
#: garbage collector runs get promoted, and a national feed then spends more time in full
#: collections than in parsing (measured: 2,048 lines/call took twice the time of 32).
_CHUNK_LINES = 32


def iter_resources(response: Response) -> Iterator[dict[str, Any]]:
    """Every JSON object of an NDJSON body, in order.

    Strict on syntax: one line that is not a JSON object raises ``Unparseable``. A file cut
    off mid-download or garbled is not trusted at all, because the slots it lost would make
    locations look empty.
    """
    raise_for_error_body(response, "an NDJSON file")
    where = response.url.split("?", 1)[0]
    body = response.body
    if body[:3] == b"\xef\xbb\xbf":
        body = body[3:]
    lines = body.split(b"\n")
    for first in range(0, len(lines), _CHUNK_LINES):
        chunk = [line for line in lines[first : first + _CHUNK_LINES] if line.strip()]
        if not chunk:
            continue
        try:
            # ",\n" keeps every line's end: a string left open by a cut line then meets a raw
            # newline, which JSON forbids, instead of swallowing the next line.
            items = json.loads(b"[" + b",\n".join(chunk) + b"]")
        except ValueError:  # UnicodeDecodeError included
            items = None
        if (
            type(items) is not list
            or len(items) != len(chunk)
            or not all(type(item) is dict for item in items)
        ):
            _raise_for_bad_line(where, lines, first)
        yield from items


def _raise_for_bad_line(where: str, lines: list[bytes], first: int) -> NoReturn:
    """Find the line of a chunk that failed, and say which (its content is not quoted)."""
    for number, line in enumerate(lines[first : first + _CHUNK_LINES], first + 1):
        if not line.strip():
            continue
        try:
            value = json.loads(line)
        except ValueError as exc:
            raise Unparseable(
                f"{where}: line {number} is not JSON ({type(exc).__name__}); "
                "a partly corrupt feed is not trusted"
            ) from None
        if type(value) is not dict:
            raise Unparseable(f"{where}: line {number} is not a JSON object")
    raise Unparseable(f"{where}: lines {first + 1}-{first + _CHUNK_LINES} are not NDJSON")


def max_age_seconds(response: Response) -> float | None:
    """``Cache-Control: max-age`` less ``Age``; None when the response sets no max-age.

    ``no-store``/``no-cache`` give None too: the publisher asks for revalidation on every
    poll, so the configured interval applies.
    """
    header = response.header("cache-control") or ""
    if re.search(r"no-store|no-cache", header, re.I):
        return None
    match = _MAX_AGE.search(header)
    if match is None:
        return None
    age_text = (response.header("age") or "").strip()
    age = int(age_text) if age_text.isdigit() else 0
    return float(max(0, int(match.group(1)) - age))
