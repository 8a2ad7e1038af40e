"""Serve the published folder from memory, in front of FastAPI (a raw ASGI middleware).

Every file is read once into memory with its validators precomputed (a strong ETag over the
bytes, Last-Modified from the file) and its response headers pre-encoded, so a hit costs a
dict lookup and two ``send`` calls. The cache reloads when ``.version`` changes (checked at
most once a second) or when the in-process publisher says so. Conditional requests
(If-None-Match, If-Modified-Since) get a 304. The same folder can be served by nginx instead;
URLs map to files the way the ``try_files`` rule in docs/web.md does.
"""

from __future__ import annotations

import datetime as dt
import email.utils
import hashlib
import os
import threading
import time
from collections.abc import Awaitable, Callable, Mapping, MutableMapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from notifier.web.public.feed_links import FEED_PREFIXES
from notifier.web.public.publish import VERSION_FILE

__all__ = [
    "CONTENT_TYPES",
    "CachedFile",
    "PublicFiles",
    "PublicFilesMiddleware",
    "etag_for",
    "is_fresh",
]

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".json": "application/json",
    ".ndjson": "application/fhir+ndjson",
    ".xml": "application/atom+xml; charset=utf-8",
    ".css": "text/css; charset=utf-8",
}
#: published data other sites may fetch from a browser (CORS): the API, SMART, every feed
_SHARED_DATA = ("api/", "smart/", *FEED_PREFIXES)
#: availability changes by the minute; a CDN may serve a little stale while it revalidates
PAGE_CACHE_CONTROL = "public, max-age=10, stale-while-revalidate=30"
ASSET_CACHE_CONTROL = "public, max-age=3600"


def etag_for(body: bytes) -> str:
    return '"' + hashlib.blake2b(body, digest_size=12).hexdigest() + '"'


def http_date(moment: dt.datetime) -> str:
    return email.utils.format_datetime(
        moment.astimezone(dt.UTC).replace(microsecond=0), usegmt=True
    )


def is_fresh(
    if_none_match: str | None, if_modified_since: str | None, etag: str, modified: dt.datetime
) -> bool:
    """True when the client's copy is current (RFC 9110: If-None-Match wins when present)."""
    if if_none_match is not None:
        tags = [t.strip().removeprefix("W/") for t in if_none_match.split(",")]
        return "*" in tags or etag in tags
    if if_modified_since:
        try:
            since = email.utils.parsedate_to_datetime(if_modified_since)
        except (TypeError, ValueError, IndexError):
            return False
        if since.tzinfo is None:
            since = since.replace(tzinfo=dt.UTC)
        return modified.replace(microsecond=0) <= since
    return False


@dataclass(frozen=True, slots=True)
class CachedFile:
    body: bytes
    etag: str
    modified: dt.datetime
    #: (inode, mtime in ns, size): every ``os.replace`` makes a new inode, so two writes
    #: within one timestamp tick are still told apart
    identity: tuple[int, int, int]
    headers: tuple[tuple[bytes, bytes], ...]
    not_modified_headers: tuple[tuple[bytes, bytes], ...]
    #: the header lines of a 200, encoded once, ending with the blank line (fast_http)
    raw_headers: bytes


def _urls(name: str) -> list[str]:
    """The URLs that serve the file ``name`` (a path relative to the public folder)."""
    urls = [f"/{name}"]
    if name == "index.html" or name.endswith("/index.html"):
        folder = name.removesuffix("index.html")
        urls += [f"/{folder}", f"/{folder.rstrip('/')}"] if folder else ["/"]
    elif name.endswith(".json"):
        urls.append(f"/{name.removesuffix('.json')}")
    return urls


def _load(path: Path, name: str, previous: CachedFile | None) -> CachedFile | None:
    if path.suffix not in CONTENT_TYPES:
        return None
    stat = path.stat()
    if previous is not None and previous.identity == _identity(stat):
        return previous
    return _entry(name, path.read_bytes(), stat)


def _identity(stat: os.stat_result) -> tuple[int, int, int]:
    return (stat.st_ino, stat.st_mtime_ns, stat.st_size)


def _entry(name: str, body: bytes, stat: os.stat_result) -> CachedFile | None:
    suffix = Path(name).suffix
    if suffix not in CONTENT_TYPES:
        return None
    identity = _identity(stat)
    etag = etag_for(body)
    modified = dt.datetime.fromtimestamp(stat.st_mtime, dt.UTC)
    validators = (
        (b"etag", etag.encode()),
        (b"last-modified", http_date(modified).encode()),
        (
            b"cache-control",
            (ASSET_CACHE_CONTROL if suffix == ".css" else PAGE_CACHE_CONTROL).encode(),
        ),
    )
    headers: tuple[tuple[bytes, bytes], ...] = (
        (b"content-type", CONTENT_TYPES[suffix].encode()),
        (b"content-length", str(len(body)).encode()),
        *validators,
    )
    if name.startswith(_SHARED_DATA):
        headers += ((b"access-control-allow-origin", b"*"),)
    raw = b"".join(key + b": " + value + b"\r\n" for key, value in headers) + b"\r\n"
    return CachedFile(body, etag, modified, identity, headers, validators, raw)


class PublicFiles:
    """The published folder in memory, keyed by URL path."""

    def __init__(self, root: Path, *, check_every: float = 1.0) -> None:
        self.root = root
        self.check_every = check_every
        self._by_name: dict[str, CachedFile] = {}
        self._by_url: dict[str, CachedFile] = {}
        self._version: tuple[int, int] | None = (-1, -1)
        self._checked = 0.0
        self._lock = threading.Lock()

    def reload(self) -> None:
        """Re-read changed files (unchanged ones keep their cached entry)."""
        with self._lock:
            version = self._version_now()
            by_name: dict[str, CachedFile] = {}
            if self.root.is_dir():
                for folder, dirs, names in os.walk(self.root):
                    dirs[:] = [d for d in dirs if not d.startswith(".")]
                    for file_name in names:
                        if file_name.startswith("."):
                            continue  # .version and temporary files of a write in progress
                        path = Path(folder, file_name)
                        name = path.relative_to(self.root).as_posix()
                        entry = _load(path, name, self._by_name.get(name))
                        if entry is not None:
                            by_name[name] = entry
            self._by_name = by_name
            self._by_url = {url: entry for name, entry in by_name.items() for url in _urls(name)}
            self._version = version
            self._checked = time.monotonic()

    def put(self, written: Mapping[str, bytes]) -> None:
        """Take freshly written files from the publisher in this process, bytes and all.

        Exact even when a rewrite lands within one timestamp tick and reuses the inode, which
        a re-scan of the folder could mistake for "unchanged".
        """
        with self._lock:
            by_name = dict(self._by_name)
            for name, body in written.items():
                entry = _entry(name, body, (self.root / name).stat())
                if entry is not None:
                    by_name[name] = entry
            self._by_name = by_name
            self._by_url = {url: entry for name, entry in by_name.items() for url in _urls(name)}
            self._version = self._version_now()
            self._checked = time.monotonic()

    def _version_now(self) -> tuple[int, int] | None:
        try:
            stat = (self.root / VERSION_FILE).stat()
        except FileNotFoundError:
            return None
        return (stat.st_ino, stat.st_mtime_ns)

    def _stale(self) -> bool:
        return self._version_now() != self._version

    def lookup(self, url_path: str) -> CachedFile | None:
        now = time.monotonic()
        if now - self._checked >= self.check_every:
            self._checked = now
            if self._stale():
                self.reload()
        return self._by_url.get(url_path)


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope["headers"]:
        if key == name:
            return bytes(value).decode("latin-1")
    return None


class PublicFilesMiddleware:
    """Answer GET/HEAD for published files before FastAPI sees the request."""

    def __init__(self, app: ASGIApp, files: PublicFiles) -> None:
        self.app = app
        self.files = files

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] in ("GET", "HEAD"):
            entry = self.files.lookup(scope["path"])
            if entry is not None:
                await self._serve(scope, send, entry)
                return
        await self.app(scope, receive, send)

    @staticmethod
    async def _serve(scope: Scope, send: Send, entry: CachedFile) -> None:
        fresh = is_fresh(
            _header(scope, b"if-none-match"),
            _header(scope, b"if-modified-since"),
            entry.etag,
            entry.modified,
        )
        if fresh:
            await send(
                {
                    "type": "http.response.start",
                    "status": 304,
                    "headers": entry.not_modified_headers,
                }
            )
            await send({"type": "http.response.body", "body": b""})
            return
        await send({"type": "http.response.start", "status": 200, "headers": entry.headers})
        body = b"" if scope["method"] == "HEAD" else entry.body
        await send({"type": "http.response.body", "body": body})
