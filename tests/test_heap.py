"""The start-up heap is frozen out of garbage collection, and only what existed by then."""

from __future__ import annotations

import gc
import weakref
from collections.abc import Iterator

import pytest
import uvicorn
from fastapi import FastAPI

from notifier.heap import freeze_startup_heap
from notifier.web.serve import serve_web


class _Node:
    def __init__(self) -> None:
        self.other: _Node | None = None


def _cycle() -> weakref.ref[_Node]:
    a, b = _Node(), _Node()
    a.other, b.other = b, a
    return weakref.ref(a)


@pytest.fixture
def unfrozen() -> Iterator[None]:
    yield
    gc.unfreeze()  # hand the test process's heap back to the collector


@pytest.mark.usefixtures("unfrozen")
def test_frozen_objects_are_exempt_and_later_garbage_is_still_collected() -> None:
    kept = [_Node() for _ in range(100)]
    # Garbage already made is freed first, not frozen in for the life of the process.
    earlier = _cycle()
    frozen = freeze_startup_heap()
    assert earlier() is None
    assert frozen == gc.get_freeze_count() > len(kept)
    # A reference cycle made after start-up is still found and freed.
    later = _cycle()
    gc.collect()
    assert later() is None


def test_notifier_web_freezes_after_every_startup_handler(monkeypatch: pytest.MonkeyPatch) -> None:
    app = FastAPI()

    async def load_tables() -> None: ...

    app.router.add_event_handler("startup", load_tables)
    served: list[uvicorn.Config] = []
    monkeypatch.setattr(uvicorn.Server, "run", lambda self: served.append(self.config))
    serve_web(app, "127.0.0.1", 0, backlog=64)
    assert app.router.on_startup == [load_tables, freeze_startup_heap]
    assert served[0].backlog == 64 and served[0].access_log is False
    assert served[0].log_config is None  # our handlers and masking, not uvicorn's
