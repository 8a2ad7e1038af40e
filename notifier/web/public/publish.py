"""Pre-render every public file on change and write it atomically.

Everything that is the same for every visitor is a file: the pages (``index.html``,
``de/index.html``, ``es/index.html``), ``api/v1/locations.json``, the SMART feed, the Atom
feeds of every language (``feeds/``, ``de/feeds/``, ``es/feeds/``) and the stylesheet.
``PublicPublisher`` listens to the pipeline (``Runtime.on_poll``), waits a short debounce so
a burst of polls becomes one publication, reads everything in one database call, renders
purely and writes each file to a temporary file in the same folder followed by
``os.replace``: a reader (nginx, a CDN, our own static handler) sees the old file or the new
one, never half of one. ``.version`` is written last; our static handler reloads when it
changes.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import os
import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from sqlalchemy import Engine

from notifier.db.public import load_public_data
from notifier.web.public.api import locations_json
from notifier.web.public.atom import render_feeds
from notifier.web.public.pages import TEMPLATES, locale_home, render_index
from notifier.web.public.render_cache import RenderCache
from notifier.web.public.smart_feed import render_smart_feed
from notifier.web.public.snapshot import HISTORY_HOURS, LOCALES, Snapshot, build_snapshot

__all__ = [
    "VERSION_FILE",
    "PublicPublisher",
    "load_snapshot",
    "render_all",
    "write_atomically",
    "write_files",
]

log = logging.getLogger(__name__)

VERSION_FILE = ".version"
DEBOUNCE_SECONDS = 0.1
Clock = Callable[[], dt.datetime]


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def load_snapshot(engine: Engine, now: dt.datetime) -> Snapshot:
    """One database read, then a pure snapshot."""
    with engine.connect() as conn:
        data = load_public_data(conn, history_since=now - dt.timedelta(hours=HISTORY_HOURS))
    return build_snapshot(data, now)


def render_all(
    snapshot: Snapshot,
    *,
    base_url: str,
    signup_url: str | None = None,
    cache: RenderCache | None = None,
) -> dict[str, bytes]:
    """Every public file, keyed by its path under the public folder.

    Pure: the same snapshot gives the same bytes with or without ``cache`` (which only saves
    re-rendering places that did not change since the last publication).
    """
    files: dict[str, bytes] = {}
    regions = snapshot.all_regions()  # each has a feed per language, which every page links
    for locale in LOCALES:
        path = locale_home(locale).lstrip("/") + "index.html"
        files[path] = render_index(
            snapshot,
            locale,
            base_url=base_url,
            signup_url=signup_url,
            cache=cache,
            feed_regions=regions,
        )
    files["api/v1/locations.json"] = locations_json(snapshot, cache)
    files.update(render_smart_feed(snapshot, base_url, cache))
    files.update(render_feeds(snapshot, base_url, cache, regions=regions))
    files["static/site.css"] = (TEMPLATES / "static" / "site.css").read_bytes()
    return files


def write_atomically(path: Path, body: bytes) -> bool:
    """Write ``body`` to ``path`` via a temporary file in the same folder and ``os.replace``.

    Returns False (and writes nothing) when the file already holds exactly ``body``, so an
    unchanged file keeps its modification time and its validators.
    """
    try:
        if path.stat().st_size == len(body) and path.read_bytes() == body:
            return False
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(body)
        os.chmod(temp, 0o644)  # mkstemp makes it 0600; nginx runs as another user
        os.replace(temp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temp)
        raise
    return True


def write_files(root: Path, files: Mapping[str, bytes], version: str) -> int:
    """Write ``files`` under ``root``; returns how many changed. ``.version`` goes last."""
    changed = sum(write_atomically(root / name, body) for name, body in files.items())
    write_atomically(root / VERSION_FILE, version.encode())
    return changed


class PublicPublisher:
    """Re-publishes the public files after polls, debounced, in a worker thread."""

    def __init__(
        self,
        engine: Engine,
        root: Path,
        *,
        base_url: str,
        signup_url: str | None = None,
        debounce: float = DEBOUNCE_SECONDS,
        clock: Clock = _utcnow,
        on_published: Callable[[Snapshot], Any] | None = None,
        on_written: Callable[[Mapping[str, bytes]], Any] | None = None,
    ) -> None:
        self.engine = engine
        self.root = root
        self.base_url = base_url
        self.signup_url = signup_url
        self.debounce = debounce
        self.clock = clock
        self.on_published = on_published
        self.on_written = on_written
        self.snapshot: Snapshot | None = None
        self._due = asyncio.Event()
        self.published = 0
        self.cache = RenderCache()

    def notify(self, _summary: object = None) -> None:
        """An ``on_poll`` listener: something may have changed, publish soon."""
        self._due.set()

    def publish_now(self) -> Snapshot:
        """Read, render and write everything once (blocking; run it in a thread)."""
        snapshot = load_snapshot(self.engine, self.clock())
        files = render_all(
            snapshot, base_url=self.base_url, signup_url=self.signup_url, cache=self.cache
        )
        self.cache.next_generation()
        write_files(self.root, files, snapshot.generated_at.isoformat())
        if self.on_written is not None:
            self.on_written(files)
        self.snapshot = snapshot
        self.published += 1
        if self.on_published is not None:
            self.on_published(snapshot)
        return snapshot

    async def run(self, stopping: asyncio.Event) -> None:
        """Publish once, then after every notification until ``stopping`` is set."""
        self._due.set()
        while not stopping.is_set():
            waiter = asyncio.ensure_future(self._due.wait())
            stopper = asyncio.ensure_future(stopping.wait())
            await asyncio.wait({waiter, stopper}, return_when=asyncio.FIRST_COMPLETED)
            waiter.cancel()
            stopper.cancel()
            if stopping.is_set():
                return
            await asyncio.sleep(self.debounce)  # let a burst of polls land first
            self._due.clear()
            try:
                await asyncio.to_thread(self.publish_now)
            except Exception:
                log.exception("publishing the public pages failed; the last files stay")
