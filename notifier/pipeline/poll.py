"""The task functions of the pipeline: poll a provider, dispatch a channel's outbox, send
the notice outbox, watch the channels' failure rates.

They take a ``Runtime`` (everything built once per process from the config) and a plain id,
so the same functions run in-process under APScheduler (``notifier run``) and as procrastinate
tasks on any number of workers (``notifier.pipeline.engine_procrastinate``).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import random
from dataclasses import replace

from notifier.db import ops_watch, outbox
from notifier.db import poll as db_poll
from notifier.db.engine import write_transaction
from notifier.model import LocationAvailability, Status, merge_availability
from notifier.pipeline.backoff import BackoffPolicy
from notifier.pipeline.coordinator import PollOutcome, ProviderCoordinator
from notifier.pipeline.decide import decide_poll
from notifier.pipeline.ops_notices import FailureRateJudgement, judge_failure_rates
from notifier.pipeline.runtime import Runtime
from notifier.pipeline.summary import PollSummary
from notifier.scraping import Scraper

__all__ = [
    "PollSummary",
    "Runtime",
    "by_site",
    "dispatch_channel",
    "poll_provider",
    "record_poll",
    "send_notices",
    "watch_failure_rates",
]

log = logging.getLogger(__name__)


# --------------------------------------------------------------------------- tasks


async def poll_provider(runtime: Runtime, provider_id: str) -> PollSummary:
    """Poll one provider, then record, decide and write its outcome in one transaction.

    The operator hears of an outage, and of its end, from the process whose poll committed
    it (``record_poll``): once, however many workers poll the provider.
    """
    coordinator = runtime.coordinators[provider_id]
    outcome = await coordinator.poll()
    summary = await asyncio.to_thread(record_poll, runtime, coordinator, outcome)
    if summary.transition == "down":
        await runtime.ops_notices.provider_down(provider_id, outcome.outcome, outcome.error or "")
    elif summary.transition == "recovered":
        await runtime.ops_notices.provider_recovered(provider_id, summary.down_for)
    if summary.alerts:
        for dispatcher in runtime.dispatchers.values():
            dispatcher.wake.set()
    for listener in runtime.on_poll:
        listener(summary)
    return summary


async def dispatch_channel(runtime: Runtime, channel: str) -> int:
    """Send one batch of a channel's due deliveries; returns how many were handled."""
    return await runtime.dispatchers[channel].run_once()


async def send_notices(runtime: Runtime) -> int:
    """Send one batch of due notices (confirmations, eligibility) per recipient channel;
    returns how many were handled."""
    if runtime.notices is None:
        return 0
    return await runtime.notices.run_once()


async def watch_failure_rates(runtime: Runtime, now: dt.datetime | None = None) -> dict[str, float]:
    """Judge each channel's deliveries finished since the last judgement (whoever made it)
    and report a channel that starts failing, or delivers again; returns the rates judged.

    The counts come from the outbox and the judgement's state from the database, so any
    process may run it: in multi-node mode it runs once per period for the whole cluster.
    """
    judgement = await asyncio.to_thread(
        _judge_failure_rates, runtime, now or dt.datetime.now(dt.UTC)
    )
    for verdict in judgement.verdicts:
        await runtime.ops_notices.failure_rate(verdict)
    return judgement.rates


def _judge_failure_rates(runtime: Runtime, now: dt.datetime) -> FailureRateJudgement:
    """Read, judge and store in one transaction (the watch rows stay locked meanwhile); the
    notices go out after the commit."""
    with write_transaction(runtime.engine) as conn:
        watched = ops_watch.load_watch(conn)
        judgement = judge_failure_rates(
            outbox.finished_deliveries(conn),
            watched,
            list(runtime.dispatchers),
            runtime.config.ops_notices,
            now,
        )
        ops_watch.save_watch(conn, judgement.watch)
    return judgement


# --------------------------------------------------------------------------- recording


def record_poll(
    runtime: Runtime,
    coordinator: ProviderCoordinator,
    outcome: PollOutcome,
    *,
    now: dt.datetime | None = None,
) -> PollSummary:
    """Store a poll's outcome and act on it: one read, one pure decision, one write.

    Runs in a worker thread, inside one write transaction. Logs once when the provider goes
    down and once when it recovers: only the poll whose transaction changed the stored health
    does, so several processes polling one provider log each outage once. The coordinator
    learns the stored outage (no retries while the provider is down).
    """
    provider_id = outcome.provider_id
    now = now or dt.datetime.now(dt.UTC)
    pairs = (
        by_site(provider_id, coordinator.scraper, outcome.results)
        if outcome.results is not None
        else None
    )
    backoff = BackoffPolicy(
        interval=coordinator.interval, cap_factor=runtime.config.http.backoff_cap_factor
    )
    with write_transaction(runtime.engine) as conn:
        context = db_poll.load_poll_context(conn, provider_id)
        decision = decide_poll(
            context,
            outcome,
            pairs,
            scraper=coordinator.scraper.name,
            alerts=runtime.config.alerts,
            backoff=backoff,
            now=now,
            rand=random.random(),
        )
        alert_ids = db_poll.write_poll(conn, decision.write, runtime.plans)
    if decision.newly_held:
        log.warning("provider %s held for confirmation: %s", provider_id, decision.held)
    down_for = None
    if decision.transition == "down":
        log.warning("provider %s is down: %s: %s", provider_id, outcome.outcome, outcome.error)
    elif decision.transition == "recovered" and decision.down_since is not None:
        down_for = now - decision.down_since
        log.info("provider %s recovered after %s", provider_id, down_for)
    health = decision.write.health
    if health is not None:
        coordinator.down_since = health.down_since
    return PollSummary(
        provider_id,
        decision.outcome,
        decision.locations,
        tuple(alert_ids),
        decision.changes,
        held=decision.held,
        baseline=decision.baseline,
        next_poll_at=health.next_poll_at if health else None,
        transition=decision.transition,
        down_since=health.down_since if health else None,
        down_for=down_for,
    )


def by_site(
    provider_id: str, scraper: Scraper, results: list[LocationAvailability]
) -> list[tuple[str, LocationAvailability]]:
    """Results keyed by stored place id; a place's clinics (one per date) merge into one.

    Products and age groups of a full clinic are dropped first: an alert about a place should
    name what can still be booked there.
    """
    keyed = [
        replace(
            r,
            location=replace(r.location, id=scraper.site_key(r.location)),
            products=r.products if r.status is Status.AVAILABLE else (),
            age_groups=r.age_groups if r.status is Status.AVAILABLE else (),
        )
        for r in results
    ]
    return [(f"{provider_id}:{r.location.id}", r) for r in merge_availability(keyed)]
