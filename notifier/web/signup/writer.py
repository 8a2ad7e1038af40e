"""Group commit for sign-ups: one writer task stores many sign-ups per transaction.

A commit costs the same (an fsync on SQLite, a round trip and WAL flush on PostgreSQL) for one
row as for five hundred, so under a rush committing each sign-up alone caps the page at a few
hundred a second. Requests put their sign-up on an ``asyncio.Queue`` and await a future; the
single writer takes everything queued (up to ``max_batch``), writes it in one transaction in a
worker thread, and resolves each future only after the commit, so "check your phone" is never
shown for a sign-up that was not stored. A failed batch is retried one sign-up at a time,
so one bad row cannot fail its neighbours.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
from collections.abc import Callable

from sqlalchemy import Engine

from notifier.db import signups
from notifier.db.engine import write_transaction
from notifier.db.signups import SignupOutcome, SignupRequest

__all__ = ["SignupWriter"]

log = logging.getLogger(__name__)

_Item = tuple[SignupRequest, "asyncio.Future[SignupOutcome]"]


class SignupWriter:
    def __init__(
        self,
        engine: Engine,
        *,
        max_batch: int = 500,
        max_queue: int = 20_000,
        clock: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC),
        on_commit: Callable[[list[SignupOutcome]], None] | None = None,
    ) -> None:
        self.engine = engine
        self.max_batch = max_batch
        self.max_queue = max_queue
        self.batches = 0
        self.written = 0
        self._clock = clock
        self._on_commit = on_commit
        self._queue: asyncio.Queue[_Item] | None = None
        self._task: asyncio.Task[None] | None = None

    def _ensure_running(self) -> asyncio.Queue[_Item]:
        # Started lazily, inside the server's event loop (the app may be built outside it).
        if self._queue is None or self._task is None or self._task.done():
            self._queue = asyncio.Queue(self.max_queue)
            self._task = asyncio.get_running_loop().create_task(self._run(self._queue))
        return self._queue

    async def submit(self, request: SignupRequest) -> SignupOutcome:
        """Store ``request``; returns after its transaction committed. Raises
        ``asyncio.QueueFull`` when the writer is this far behind (the page answers 503)."""
        queue = self._ensure_running()
        future: asyncio.Future[SignupOutcome] = asyncio.get_running_loop().create_future()
        queue.put_nowait((request, future))
        return await future

    async def aclose(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _run(self, queue: asyncio.Queue[_Item]) -> None:
        while True:
            batch = [await queue.get()]
            while len(batch) < self.max_batch and not queue.empty():
                batch.append(queue.get_nowait())
            live = [(r, f) for r, f in batch if not f.done()]  # a cancelled request is gone
            if live:
                await self._write(live)

    async def _write(self, batch: list[_Item]) -> None:
        requests = [r for r, _ in batch]
        try:
            outcomes = await asyncio.to_thread(self._commit, requests)
        except Exception:
            log.exception("sign-up batch of %d failed; writing them one by one", len(batch))
            for request, future in batch:
                outcome: SignupOutcome | Exception
                try:
                    (outcome,) = await asyncio.to_thread(self._commit, [request])
                except Exception as exc:  # noqa: BLE001 - handed to the request it belongs to
                    outcome = exc
                _resolve(future, outcome)
            return
        for (_, future), outcome in zip(batch, outcomes, strict=True):
            _resolve(future, outcome)

    def _commit(self, requests: list[SignupRequest]) -> list[SignupOutcome | ValueError]:
        with write_transaction(self.engine) as conn:
            outcomes = signups.write_signups(conn, requests, self._clock())
        self.batches += 1
        self.written += len(requests)
        if self._on_commit is not None:
            self._on_commit([o for o in outcomes if isinstance(o, SignupOutcome)])
        return outcomes


def _resolve(future: asyncio.Future[SignupOutcome], outcome: SignupOutcome | Exception) -> None:
    if future.done():  # the request gave up (client went away)
        return
    if isinstance(outcome, Exception):
        future.set_exception(outcome)
    else:
        future.set_result(outcome)
