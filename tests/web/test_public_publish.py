"""Publishing: atomic writes, unchanged files left alone, and the pipeline hook."""

from __future__ import annotations

import asyncio
import datetime as dt
import threading
from pathlib import Path

from fastapi.testclient import TestClient
from sqlalchemy import Engine

from notifier.db import store
from notifier.web.app import create_app
from notifier.web.public.publish import VERSION_FILE, write_atomically, write_files
from notifier.web.public.routes import PublicSite, start_publisher
from notifier.web.public.static import PublicFiles
from tests.web.public_fixtures import public_config, seeded_engine
from tests.web.public_support import FENWAY, NOW, open_at

__all__ = ["seeded_engine"]  # fixture, used by name


def test_a_reader_never_sees_a_partial_file(tmp_path: Path) -> None:
    target = tmp_path / "index.html"
    versions = [bytes([65 + i]) * (200_000 + 7919 * i) for i in range(8)]
    write_atomically(target, versions[0])
    seen: set[bytes] = set()
    done = threading.Event()

    def read_while_writing() -> None:
        while not done.is_set():
            seen.add(target.read_bytes())

    reader = threading.Thread(target=read_while_writing)
    reader.start()
    try:
        for _ in range(30):
            for body in versions:
                write_atomically(target, body)
    finally:
        done.set()
        reader.join()
    assert seen and seen <= set(versions)  # whole versions only, never a torn one
    assert [p.name for p in tmp_path.iterdir()] == ["index.html"]  # no temporary left over


def test_unchanged_files_keep_their_time(tmp_path: Path) -> None:
    assert write_files(tmp_path, {"a.html": b"one", "feeds/b.xml": b"two"}, "v1") == 2
    stamp = (tmp_path / "a.html").stat().st_mtime_ns
    assert write_files(tmp_path, {"a.html": b"one", "feeds/b.xml": b"three"}, "v2") == 1
    assert (tmp_path / "a.html").stat().st_mtime_ns == stamp
    assert (tmp_path / VERSION_FILE).read_text() == "v2"


def test_the_static_cache_follows_the_folder(tmp_path: Path) -> None:
    files = PublicFiles(tmp_path, check_every=0.0)
    assert files.lookup("/") is None
    write_files(tmp_path, {"index.html": b"<p>one</p>", "api/v1/locations.json": b"[]"}, "v1")
    first = files.lookup("/")
    assert first is not None and first.body == b"<p>one</p>"
    assert files.lookup("/index.html") is first
    assert files.lookup("/api/v1/locations") is files.lookup("/api/v1/locations.json")
    write_files(tmp_path, {"index.html": b"<p>two</p>"}, "v2")
    second = files.lookup("/")
    assert second is not None and second.body == b"<p>two</p>" and second.etag != first.etag
    assert files.lookup("/.version") is None
    # the in-process publisher hands over what it wrote: exact even within one timestamp tick
    write_files(tmp_path, {"index.html": b"<p>333</p>"}, "v3")
    files.put({"index.html": b"<p>333</p>"})
    third = files.lookup("/")
    assert third is not None and third.body == b"<p>333</p>"


async def test_a_poll_republishes_the_pages(seeded_engine: Engine, tmp_path: Path) -> None:
    root = tmp_path / "public"
    app = create_app(public_config(root), engine=seeded_engine, clock=lambda: NOW)
    site: PublicSite = app.state.public_site
    listeners: list[object] = []
    stopping = asyncio.Event()
    task = start_publisher(app, listeners, stopping, debounce=0.01)  # type: ignore[arg-type]
    try:
        await _wait_for(lambda: (root / "index.html").exists())
        assert "<strong>150</strong>" in (root / "index.html").read_text()
        with seeded_engine.begin() as conn:
            run = store.PollRunRecord(started_at=NOW, outcome="ok")
            changed = [("ma:fenway", open_at(FENWAY, 7, 0))]
            store.save_poll(conn, "ma", "prepmod", run, changed, NOW)
        before = site.files.lookup("/")
        for listener in listeners:
            listener(None)  # type: ignore[operator]
        # the file first, then the in-memory copy the app serves
        await _wait_for(lambda: "<strong>7</strong>" in (root / "index.html").read_text())
        await _wait_for(lambda: b"<strong>7</strong>" in _served(site, "/"))
        with TestClient(app) as client:
            page = client.get("/")
        assert "<strong>7</strong> open appointments" in page.text
        assert before is not None and page.headers["etag"] != before.etag
    finally:
        stopping.set()
        await task


def _served(site: PublicSite, path: str) -> bytes:
    entry = site.files.lookup(path)
    return entry.body if entry is not None else b""


async def _wait_for(condition: object, timeout: float = 10.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not condition():  # type: ignore[operator]
        assert asyncio.get_running_loop().time() < deadline, "timed out"
        await asyncio.sleep(0.01)


def test_default_public_dir_sits_beside_the_database(tmp_path: Path) -> None:
    from notifier.config import Config, DatabaseConfig, OperatorConfig
    from notifier.web.public.routes import default_public_dir

    config = Config(
        operator=OperatorConfig(contact="ops@example.org"),
        database=DatabaseConfig(url=f"sqlite:///{tmp_path}/data/subscribers.db"),
    )
    assert default_public_dir(config) == (tmp_path / "data" / "public").resolve()
    assert default_public_dir(public_config(tmp_path / "x")) == tmp_path / "x"


def test_the_render_cache_changes_nothing_but_the_work(seeded_engine: Engine) -> None:
    from notifier.web.public.publish import load_snapshot, render_all
    from notifier.web.public.render_cache import RenderCache

    cache = RenderCache()
    first = load_snapshot(seeded_engine, NOW)
    assert render_all(first, base_url="https://a.example", cache=cache) == render_all(
        first, base_url="https://a.example"
    )
    cache.next_generation()
    with seeded_engine.begin() as conn:
        run = store.PollRunRecord(started_at=NOW, outcome="ok")
        store.save_poll(conn, "ma", "prepmod", run, [("ma:fenway", open_at(FENWAY, 9, 1))], NOW)
    later = load_snapshot(seeded_engine, NOW + dt.timedelta(minutes=3))
    misses = cache.misses
    cached = render_all(later, base_url="https://a.example", cache=cache)
    assert cached == render_all(later, base_url="https://a.example")
    assert "<strong>10</strong>" in cached["index.html"].decode()
    assert cache.hits > 0 and cache.misses > misses  # unchanged places reused, Fenway redone
