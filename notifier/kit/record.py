"""``notifier scraper record``: capture a provider's live responses as offline fixtures.

Each of the scraper's requests, and the requests its ``follow`` asks for, is fetched once
through the core ``PoliteClient`` (so recording is exactly as polite as polling: same
User-Agent, concurrency limit and backoff). Each body is saved with a ``<file>.meta.json``
sidecar (status, headers, url, fetched_at) that ``notifier.kit.replay`` replays.

What is redacted, and why:

* Cookies (``set-cookie``, ``cookie``) and credentials (``authorization``, API-key and token
  headers, any header whose name says token/secret/session/auth) are replaced by
  ``REDACTED``: fixtures are committed to a public repository.
* Query parameters named like a secret (token, key, api_key, session, sig, auth, ...) become
  ``REDACTED`` in every saved URL, and user:password in a URL is dropped.
* Phone numbers and email addresses in header values and URLs are masked with
  ``notifier.privacy.mask_text`` (a provider may echo a query back in a header).
* Bodies are kept byte for byte by default. They are public pages fetched without cookies,
  the phone numbers in them are clinics' booking lines that scrapers parse, and a fixture
  that differs from what the provider sent would test the wrong thing. The command counts
  phone/email-like strings in each body so the volunteer can look before committing, and
  ``mask_bodies=True`` (``--mask-bodies``) masks them in text bodies when a page does carry
  someone's personal data.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, unquote, urlencode, urlsplit, urlunsplit

from notifier.kit.replay import MANIFEST_NAMES, META_SUFFIX
from notifier.pipeline.fetch import PoliteClient
from notifier.policies import HttpSettings
from notifier.privacy import mask_text
from notifier.scraping import Request, Response, ScrapeError, Scraper

__all__ = [
    "REDACTED",
    "RecordResult",
    "RecordedFile",
    "record",
    "redact_headers",
    "redact_url",
]

REDACTED = "REDACTED"
_SECRET_HEADERS = {
    "authorization",
    "cookie",
    "proxy-authorization",
    "set-cookie",
    "set-cookie2",
    "x-api-key",
}
# Matched against header and query parameter names.
_SECRET_NAME = re.compile(
    r"token|secret|passw|api[-_]?key|apikey|^key$|session|^sess|auth|^sig$|signature"
    r"|credential|cookie|csrf|xsrf|^sid$|^code$|^jwt$",
    re.I,
)
# Protocol headers whose values never carry personal data; masking them would corrupt ETags.
_STRUCTURAL_HEADERS = {
    "age",
    "cache-control",
    "content-encoding",
    "content-length",
    "content-type",
    "date",
    "etag",
    "expires",
    "last-modified",
    "vary",
}
_TEXT_TYPES = re.compile(r"text/|json|xml|javascript|csv|ndjson", re.I)
_UNSAFE_FILENAME = re.compile(r"[^A-Za-z0-9._$-]+")


def redact_url(url: str) -> str:
    """The URL without credentials: secret query values and user:password removed."""
    parts = urlsplit(url)
    netloc = parts.netloc.rpartition("@")[2]
    query = [
        (name, REDACTED if _SECRET_NAME.search(name) else value)
        for name, value in parse_qsl(parts.query, keep_blank_values=True)
    ]
    clean = urlunsplit(
        (parts.scheme, netloc, parts.path, urlencode(query, safe=":/,"), parts.fragment)
    )
    return mask_text(clean)


def redact_headers(headers: dict[str, str] | Any) -> dict[str, str]:
    """Response headers safe to commit: secrets replaced, personal data masked."""
    clean: dict[str, str] = {}
    for name, value in dict(headers).items():
        key = str(name).lower()
        if key in _SECRET_HEADERS or _SECRET_NAME.search(key):
            clean[key] = REDACTED
        elif key in _STRUCTURAL_HEADERS:
            clean[key] = str(value)
        elif key in ("location", "content-location", "link"):
            clean[key] = redact_url(str(value)) if "://" in str(value) else mask_text(str(value))
        else:
            clean[key] = mask_text(str(value))
    return clean


@dataclass(frozen=True, slots=True)
class RecordedFile:
    path: Path
    url: str  # redacted
    status: int
    size: int
    personal_data_like: int  # phone/email-like strings seen in the body
    masked: bool


@dataclass
class RecordResult:
    folder: Path
    files: list[RecordedFile] = field(default_factory=list)
    failures: list[tuple[str, str]] = field(default_factory=list)  # (redacted url, error)
    skipped: list[str] = field(default_factory=list)  # beyond max_requests

    @property
    def ok(self) -> bool:
        return bool(self.files) and not self.failures


def _request_key(request: Request) -> str:
    params = urlencode(sorted(request.params.items()))
    body = json.dumps(request.json, sort_keys=True) if request.json is not None else ""
    return f"{request.method} {request.url}?{params} {body} {request.data!r}"


def _file_name(request: Request, response: Response, first: bool, is_feed: bool) -> str:
    """The last URL path segment, which is what offline feed replay matches on."""
    segment = unquote(urlsplit(request.url).path.rstrip("/").rpartition("/")[2])
    name = _UNSAFE_FILENAME.sub("-", mask_text(segment)).strip("-.")
    if _SECRET_NAME.search(name):
        name = ""
    if first and is_feed and name not in MANIFEST_NAMES:
        return "manifest.json"
    if name:
        return name
    kind = response.header("content-type") or ""
    ext = "json" if "json" in kind else "csv" if "csv" in kind else "html"
    return f"index.{ext}"


def _unique(folder: Path, name: str) -> Path:
    path = folder / name
    stem, dot, ext = name.partition(".")
    n = 2
    while path.exists():
        path = folder / f"{stem}-{n}{dot}{ext}"
        n += 1
    return path


def _personal_data_count(text: str) -> int:
    return mask_text(text).count("***") - text.count("***")


def _save(
    folder: Path, name: str, response: Response, mask_bodies: bool, *, status: int | None = None
) -> RecordedFile:
    path = _unique(folder, name)
    body = response.body if status != 304 else b""
    is_text = bool(_TEXT_TYPES.search(response.header("content-type") or ""))
    found = _personal_data_count(response.text()) if is_text and body else 0
    masked = mask_bodies and is_text and found > 0
    if masked:
        body = mask_text(response.text()).encode("utf-8")
    path.write_bytes(body)
    url, code = redact_url(response.url), status or response.status
    meta = {
        "url": url,
        "status": code,
        "headers": redact_headers(response.headers),
        "fetched_at": response.fetched_at.isoformat(),
        "recorded_by": "notifier scraper record",
    }
    path.with_name(path.name + META_SUFFIX).write_text(json.dumps(meta, indent=2) + "\n")
    return RecordedFile(path, url, code, len(body), found, masked)


def _append_sources(fixture_root: Path, result: RecordResult) -> None:
    sources = fixture_root / "SOURCES.md"
    lines = [] if sources.exists() else ["# Fixture sources\n"]
    for f in result.files:
        rel = f.path.relative_to(fixture_root).as_posix()
        lines.append(
            f"- `{rel}`: recorded from {f.url} (HTTP {f.status}) "
            f"on {dt.date.today().isoformat()} with `notifier scraper record`."
        )
    with sources.open("a", encoding="utf-8") as handle:
        handle.write("\n".join(lines) + "\n")


async def record(
    scraper: Scraper,
    fixture_root: Path,
    *,
    provider_id: str,
    http: HttpSettings | None = None,
    client: PoliteClient | None = None,
    folder_name: str | None = None,
    max_requests: int = 20,
    mask_bodies: bool = False,
    revalidate: bool = False,
) -> RecordResult:
    """Fetch the scraper's requests and follows once each and save them under
    ``fixture_root/<folder_name>/`` (default ``recorded-<today>``), never overwriting."""
    stamp = folder_name or f"recorded-{dt.date.today().isoformat()}"
    folder = _unique(fixture_root, stamp)
    folder.mkdir(parents=True)
    result = RecordResult(folder)
    own_client = client is None
    polite = client or PoliteClient(http)
    is_feed = type(scraper).source_format == "feed"
    try:
        pending = list(scraper.requests())
        seen: set[str] = set()
        while pending:
            request = pending.pop(0)
            key = _request_key(request)
            if key in seen:
                continue
            if len(seen) >= max_requests:
                result.skipped.append(redact_url(request.url))
                continue
            seen.add(key)
            try:
                response = await polite.fetch(request, provider_id)
            except ScrapeError as exc:
                result.failures.append((redact_url(request.url), f"{exc.kind}: {exc}"))
                continue
            name = _file_name(request, response, not result.files, is_feed)
            saved = _save(folder, name, response, mask_bodies)
            result.files.append(saved)
            if revalidate and (response.header("etag") or response.header("last-modified")):
                again = await polite.fetch(request, provider_id)
                if again.not_modified:
                    result.files.append(
                        _save(folder, saved.path.name + ".304", again, False, status=304)
                    )
            try:
                pending.extend(scraper.follow(response))
            except ScrapeError as exc:
                result.failures.append((redact_url(response.url), f"follow: {exc}"))
    finally:
        if own_client:
            await polite.aclose()
    if result.files:
        _append_sources(fixture_root, result)
    else:
        folder.rmdir()
    return result
