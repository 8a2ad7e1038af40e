"""The long-running service: APScheduler polls providers, dispatchers drain the outbox.

One job per provider, with its interval and jitter, ``max_instances=1`` (a slow provider is
never polled twice at once) and coalescing (missed runs collapse into one). On SIGINT or
SIGTERM the scheduler stops starting polls, in-flight polls and sends finish, and only then
does the process exit, so nothing is lost.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import signal

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.interval import IntervalTrigger

from notifier.db import poll as db_poll
from notifier.pipeline.poll import Runtime, poll_provider, watch_failure_rates

__all__ = ["Service"]

log = logging.getLogger(__name__)


class Service:
    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.scheduler = AsyncIOScheduler(timezone=dt.UTC)
        self.stopping = asyncio.Event()
        self._polls: set[asyncio.Task[object]] = set()
        #: dispatcher loops and the failure-rate watch, stopped after the polls
        self._workers: list[asyncio.Task[None]] = []
        self._signalled = False

    async def start(self) -> None:
        now = dt.datetime.now(dt.UTC)
        stored = await asyncio.to_thread(self._stored_health)
        for provider_id, coordinator in self.runtime.coordinators.items():
            first_run = now
            health = stored.get(provider_id)
            if health is not None:
                # A restart keeps the backoff: a backed-off provider is not polled at once,
                # and one recorded down gets no retries. (Nor is it announced down again:
                # that is the stored health's transition, which already happened.)
                if health.next_poll_at is not None and health.next_poll_at > now:
                    first_run = health.next_poll_at
                if health.down_since is not None and coordinator.down_since is None:
                    coordinator.down_since = health.down_since
            self.scheduler.add_job(
                self._poll_job,
                trigger=IntervalTrigger(seconds=coordinator.interval, jitter=coordinator.jitter),
                args=[provider_id],
                id=provider_id,
                name=f"poll {provider_id}",
                max_instances=1,
                coalesce=True,
                misfire_grace_time=int(coordinator.interval),
                next_run_time=first_run,
            )
        self.scheduler.start()
        for dispatcher in self.runtime.dispatchers.values():
            self._workers.append(asyncio.create_task(dispatcher.run(self.stopping)))
        self._workers.append(asyncio.create_task(self._watch_failure_rates()))
        if self.runtime.notices is not None:
            self._workers.append(asyncio.create_task(self.runtime.notices.run(self.stopping)))
        ops = self.runtime.ops_notices
        await ops.service_started(
            providers=list(self.runtime.coordinators), channels=list(self.runtime.dispatchers)
        )
        for _provider, scraper, reason in self.runtime.broken:
            await ops.scraper_broken(scraper, reason)
        log.info(
            "service started: %d provider(s), channels: %s",
            len(self.runtime.coordinators),
            ", ".join(self.runtime.dispatchers) or "none",
        )

    def _stored_health(self) -> dict[str, db_poll.ProviderHealth]:
        """Each configured provider's backoff as the database holds it (absent: never polled)."""
        found: dict[str, db_poll.ProviderHealth] = {}
        with self.runtime.engine.connect() as conn:
            for provider_id in self.runtime.coordinators:
                health = db_poll.load_health(conn, provider_id)
                if health is not None:
                    found[provider_id] = health
        return found

    async def _watch_failure_rates(self) -> None:
        """Tell the operator when a channel's deliveries start failing, every
        ``ops_notices.failure_check_seconds`` (a minute)."""
        period = self.runtime.config.ops_notices.failure_check_seconds
        while not self.stopping.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.stopping.wait(), period)
            if self.stopping.is_set():
                break
            try:
                await watch_failure_rates(self.runtime)
            except Exception:
                log.exception("failure-rate watch failed; trying again next time")

    async def _poll_job(self, provider_id: str) -> None:
        if self.stopping.is_set():
            return
        task = asyncio.current_task()
        if task is not None:
            self._polls.add(task)
        next_poll_at = None
        try:
            next_poll_at = (await poll_provider(self.runtime, provider_id)).next_poll_at
        except Exception:
            log.exception("poll of %s failed", provider_id)
        finally:
            if task is not None:
                self._polls.discard(task)
        self._respect_backoff(provider_id, next_poll_at)

    def _respect_backoff(self, provider_id: str, next_poll_at: dt.datetime | None) -> None:
        """Move the next run later when the shared backoff says so (failures, Retry-After,
        max-age, retries paid for); the interval trigger covers the normal case."""
        coordinator = self.runtime.coordinators[provider_id]
        if next_poll_at is None or self.stopping.is_set():
            return
        normal = dt.datetime.now(dt.UTC) + dt.timedelta(
            seconds=coordinator.interval + coordinator.jitter
        )
        if next_poll_at > normal:
            with contextlib.suppress(Exception):
                self.scheduler.modify_job(provider_id, next_run_time=next_poll_at)

    async def stop(self) -> None:
        """Finish what is in flight, then stop. Safe to call more than once."""
        if self.stopping.is_set():
            return
        self.stopping.set()
        if self.scheduler.running:
            self.scheduler.pause()
        if self._polls:
            await asyncio.gather(*list(self._polls), return_exceptions=True)
        # Dispatchers see ``stopping`` and return after the batch they hold is marked.
        await asyncio.gather(*self._workers, return_exceptions=True)
        if self.scheduler.running:
            self.scheduler.shutdown(wait=False)
        await self.runtime.ops_notices.service_stopped("signal" if self._signalled else "")
        log.info("service stopped cleanly")

    async def run_until_signalled(self) -> None:
        loop = asyncio.get_running_loop()
        done = asyncio.Event()

        def on_signal() -> None:
            self._signalled = True
            done.set()

        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, on_signal)
        await self.start()
        try:
            await done.wait()
        finally:
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.remove_signal_handler(sig)
            await self.stop()
