"""Multi-node mode: the task functions run as procrastinate jobs on any number of workers.

Only this adapter differs from the embedded mode (``notifier.pipeline.service``): the same
``poll_provider`` and ``dispatch_channel`` do the work, the same outbox and idempotency keys
carry the messages, the same ``make_limiter`` paces each channel (with its bucket in the
database, so every worker shares one limit).

- ``tick`` is a periodic task, every ``workers.tick_seconds`` (procrastinate records each
  periodic defer, so whichever worker gets there first defers it; a lagging worker can defer a
  second twice, and the repeat finds nothing due). It hands out one ``poll`` job per due
  provider (``notifier.db.schedule``, which keeps each provider on its own schedule however
  late the tick runs) and a ``send`` job per channel that has deliveries due outside a fan-out
  (retries, released waves, leases of a dead worker).
- ``poll`` jobs carry a queueing lock and a lock per provider: a provider is never queued
  twice, never polled twice at once.
- The fan-out defers its ``send`` jobs (one per ``workers.send_batch`` first-wave recipients)
  on the very connection that writes the outbox rows: they commit, or roll back, together.
- The notice outbox (sign-up confirmations, eligibility notices) is drained by ``notices``
  jobs on the send queue, one at a time in the cluster (lock and queueing lock
  ``notices``). Whoever writes notices defers one on the same connection
  (``defer_notices_with_outbox``: ``notifier web``, ``notifier eligibility open``), and each
  tick defers one while notices are due (later waves, retries, expired leases).
- ``watch`` judges the channels' failure rates once per ``ops_notices.failure_check_seconds``
  for the whole cluster (a periodic task; its state is in the database, so whichever worker
  runs it continues where the last one stopped).
- Ops notices hold once for the cluster: a provider's outage and recovery are announced by
  the worker whose poll committed them (``pipeline.poll``); the hourly cap and the scrapers
  reported broken (``announce_scrapers``, when a worker starts) are kept in the database
  (``pipeline.ops_ledger.DatabaseLedger``).
- A worker that dies mid-job stops sending heartbeats; ``recover`` (every
  ``workers.recover_seconds``) retries the ``send`` jobs of a worker silent for
  ``workers.stalled_seconds`` and closes its other jobs (the next tick polls again and
  sweeps the notices anyway). Its leased deliveries and notices are claimed again when their
  lease runs out, so at most the messages it had in flight repeat.

Every setting comes from the ``workers:`` section of the config (``WorkersConfig``).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import procrastinate
from procrastinate import exceptions as queue_errors
from procrastinate.jobs import Status
from sqlalchemy import Connection, Engine
from sqlalchemy.engine import make_url

from notifier.config import WorkersConfig
from notifier.db import notices as db_notices
from notifier.db import poll as db_poll
from notifier.db import schedule
from notifier.db.engine import write_transaction
from notifier.db.fanout import AlertWriteResult, on_alert_written
from notifier.pipeline.poll import (
    dispatch_channel,
    poll_provider,
    send_notices,
    watch_failure_rates,
)
from notifier.pipeline.runtime import Runtime

__all__ = [
    "NOTICES_LOCK",
    "NOTICES_TASK",
    "POLL_QUEUE",
    "POLL_TASK",
    "PRUNE_TASK",
    "RECOVER_TASK",
    "SEND_QUEUE",
    "SEND_TASK",
    "TICK_TASK",
    "WATCH_TASK",
    "WorkerSettings",
    "announce_scrapers",
    "conninfo",
    "defer_notices_with_outbox",
    "make_app",
    "notice_deferral",
    "run_worker",
]

log = logging.getLogger(__name__)

POLL_QUEUE = "poll"
SEND_QUEUE = "send"
TICK_TASK = "notifier.tick"
POLL_TASK = "notifier.poll"
SEND_TASK = "notifier.send"
RECOVER_TASK = "notifier.recover"
PRUNE_TASK = "notifier.prune"
NOTICES_TASK = "notifier.notices"
WATCH_TASK = "notifier.watch"
#: the lock and queueing lock of every notices job: one drains, at most one waits
NOTICES_LOCK = "notices"
#: hourly, at an odd minute: ticks alone add 3,600 finished jobs an hour
#: (how long they are kept is ``workers.keep_jobs_hours``)
PRUNE_CRON = "17 * * * *"

blueprint = procrastinate.Blueprint()


def every(seconds: int) -> str:
    """The cron line of a periodic task every ``seconds`` (a divisor of 60, as the config
    checks); procrastinate reads a sixth cron column as seconds."""
    if seconds == 1:
        return "* * * * * *"
    if seconds == 60:
        return "* * * * * 0"
    return f"* * * * * */{seconds}"


@dataclass(frozen=True, slots=True)
class WorkerSettings:
    """What differs between the ``notifier worker`` processes (the command line); what they
    share is the config's ``workers:`` section (see docs/deployment.md for sizing)."""

    queues: Sequence[str] = (POLL_QUEUE, SEND_QUEUE)
    name: str | None = None


def conninfo(database_url: str) -> str:
    """The libpq connection string for a SQLAlchemy ``postgresql+psycopg://`` URL."""
    url = make_url(database_url)
    if url.get_backend_name() != "postgresql":
        raise ValueError("engine: procrastinate needs a PostgreSQL database.url")
    return url.set(drivername="postgresql").render_as_string(hide_password=False)


def make_app(
    database_url: str, workers: WorkersConfig | None = None, *, watch_seconds: int = 60
) -> procrastinate.App:
    """The job queue app for ``database_url`` with the notifier's tasks registered, and the
    periodic ones at the cadences of ``workers`` (the failure-rate watch every
    ``watch_seconds``, ``ops_notices.failure_check_seconds``)."""
    workers = workers or WorkersConfig()
    connector = procrastinate.PsycopgConnector(
        conninfo=conninfo(database_url), min_size=1, max_size=workers.queue_pool_size
    )
    app = procrastinate.App(connector=connector)
    app.add_tasks_from(blueprint, namespace="")
    # Registered here rather than with decorators: the cadences come from the config.
    app.periodic(cron=every(workers.tick_seconds), periodic_id="tick")(app.tasks[TICK_TASK])
    app.periodic(cron=every(workers.recover_seconds), periodic_id="recover")(
        app.tasks[RECOVER_TASK]
    )
    app.periodic(cron=PRUNE_CRON, periodic_id="prune")(app.tasks[PRUNE_TASK])
    app.periodic(cron=every(watch_seconds), periodic_id="watch")(app.tasks[WATCH_TASK])
    return app


# --------------------------------------------------------------------------- context


@dataclass
class _Worker:
    runtime: Runtime
    #: defers on a connection someone else opened (the transaction writing the outbox)
    deferrer: procrastinate.App
    #: one send job per channel at a time in this process (see ``send``)
    channel_locks: dict[str, asyncio.Lock] = field(default_factory=dict)

    def channel_lock(self, channel: str) -> asyncio.Lock:
        return self.channel_locks.setdefault(channel, asyncio.Lock())


def _worker(context: procrastinate.JobContext) -> _Worker:
    found = (context.additional_context or {}).get("notifier")
    if not isinstance(found, _Worker):
        raise RuntimeError("notifier tasks run only inside `notifier worker`")
    return found


#: the queue of each task deferred by name (the deferrer app does not know the tasks)
_QUEUES = {POLL_TASK: POLL_QUEUE, SEND_TASK: SEND_QUEUE, NOTICES_TASK: SEND_QUEUE}


def _defer_on(
    deferrer: procrastinate.App,
    conn: Connection,
    task: str,
    jobs: list[dict[str, Any]],
    **opts: Any,
) -> int:
    """Defer ``jobs`` of ``task`` inside ``conn``'s transaction; 0 if a queueing lock holds.

    A SAVEPOINT keeps a refused defer (unique violation) from aborting the transaction.
    """
    raw = conn.connection.driver_connection
    deferrer_for = deferrer.configure_task(task, queue=_QUEUES[task], connection=raw, **opts)
    try:
        with conn.begin_nested():
            deferrer_for.batch_defer(*jobs)
    except queue_errors.AlreadyEnqueued:
        return 0
    return len(jobs)


# --------------------------------------------------------------------------- tasks


@blueprint.task(name=TICK_TASK, queue=POLL_QUEUE, pass_context=True, lock="tick")
async def tick(context: procrastinate.JobContext, timestamp: int) -> None:
    """Hand out this second's polls and sweep sends.

    The "tick" lock runs ticks one at a time in order, so a late tick never judges due-ness
    after a later one.
    """
    worker = _worker(context)
    await asyncio.to_thread(hand_out, worker.runtime, worker.deferrer, timestamp)


@blueprint.task(name=RECOVER_TASK, queue=POLL_QUEUE, pass_context=True)
async def recover(context: procrastinate.JobContext, timestamp: int) -> None:
    """Deal with the jobs of workers whose heartbeat stopped (see ``_recover_stalled``)."""
    stalled = _worker(context).runtime.config.workers.stalled_seconds
    await _recover_stalled(context.app, stalled)


def hand_out(runtime: Runtime, deferrer: procrastinate.App, timestamp: int) -> list[str]:
    """One transaction: claim the due providers, defer their polls, the sweep sends and, when
    notices are due, the job that sends them.

    Due-ness is judged at the tick's own second, not the wall clock, and each poll handed out
    is recorded at the start it was due in its provider's schedule, not at this tick: a tick
    that runs late, a skipped tick, or a poll refused because the previous one is still
    queued delays that one poll, never the ones after it (``schedule.scheduled_start``).
    """
    tick_at = dt.datetime.fromtimestamp(timestamp, dt.UTC)
    with write_transaction(runtime.engine) as conn:
        due = schedule.due_providers(conn, tick_at)
        handed: dict[str, dt.datetime] = {}
        for provider_id, start in due.items():
            if provider_id not in runtime.coordinators:
                continue
            lock = f"poll:{provider_id}"
            job = {"provider_id": provider_id, "tick": timestamp}
            if _defer_on(deferrer, conn, POLL_TASK, [job], lock=lock, queueing_lock=lock):
                handed[provider_id] = start
        schedule.mark_started(conn, handed)
        lease = {name: d.settings.lease_seconds for name, d in runtime.dispatchers.items()}
        now = dt.datetime.now(dt.UTC)
        for channel in schedule.channels_with_due_deliveries(conn, lease, now):
            # One sweep job per channel at a time: it loops until the channel is drained.
            _defer_on(
                deferrer,
                conn,
                SEND_TASK,
                [{"channel": channel, "recipients": 0}],
                queueing_lock=f"sweep:{channel}",
            )
        sender = runtime.notices
        if sender is not None and db_notices.channels_with_due_notices(
            conn, list(sender.channels), now, sender.lease_seconds
        ):
            _defer_notices(deferrer, conn)
    return list(handed)


def _defer_notices(deferrer: procrastinate.App, conn: Connection) -> int:
    """One notices job, unless one is already waiting (it will see these notices too)."""
    return _defer_on(
        deferrer, conn, NOTICES_TASK, [{}], lock=NOTICES_LOCK, queueing_lock=NOTICES_LOCK
    )


@blueprint.task(name=POLL_TASK, queue=POLL_QUEUE, pass_context=True)
async def poll(context: procrastinate.JobContext, provider_id: str, tick: int) -> None:
    """Poll one provider (the fan-out defers the sends), then store any wait it asked for."""
    runtime = _worker(context).runtime
    if provider_id not in runtime.coordinators:
        log.warning("poll of %s skipped: not configured on this worker", provider_id)
        return
    try:
        # Another worker may have seen the provider go down (or back): a poll of a provider
        # that is down sends no retries, whoever polled it last.
        coordinator = runtime.coordinators[provider_id]
        coordinator.down_since = await asyncio.to_thread(_stored_down_since, runtime, provider_id)
        await poll_provider(runtime, provider_id)
    finally:
        await asyncio.to_thread(_store_backoff, runtime, provider_id)


def _stored_down_since(runtime: Runtime, provider_id: str) -> dt.datetime | None:
    with runtime.engine.connect() as conn:
        health = db_poll.load_health(conn, provider_id)
    return health.down_since if health is not None else None


def _store_backoff(runtime: Runtime, provider_id: str) -> None:
    coordinator = runtime.coordinators[provider_id]
    delay = coordinator.next_delay()
    not_before = None
    if delay > coordinator.interval + coordinator.jitter:
        not_before = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=delay)
    with write_transaction(runtime.engine) as conn:
        schedule.postpone(conn, provider_id, not_before)


@blueprint.task(
    name=SEND_TASK,
    queue=SEND_QUEUE,
    pass_context=True,
    retry=procrastinate.RetryStrategy(max_attempts=10, wait=1, linear_wait=2),
)
async def send(context: procrastinate.JobContext, channel: str, recipients: int) -> int:
    """Send about ``recipients`` due deliveries of ``channel`` (0: until none are due).

    The job names no rows: it claims from the outbox like the local dispatcher does, so any
    worker can take any batch and a retried job never resends what was marked sent.

    A process sends one channel's jobs one at a time: the channel's shared rate limit, not
    the number of jobs, sets the pace, and leased-but-waiting rows stay few. Every claimed
    row must go out within its lease (``lease_seconds``), so the cluster may hold at most
    ``workers x batch_size`` rows of a channel, which at its rate must take well under the
    lease (see docs/deployment.md).
    """
    worker = _worker(context)
    runtime = worker.runtime
    if channel not in runtime.dispatchers:
        log.warning("send on %s skipped: channel not enabled on this worker", channel)
        return 0
    handled = 0
    async with worker.channel_lock(channel):
        while recipients == 0 or handled < recipients:
            batch = await dispatch_channel(runtime, channel)
            if batch == 0:
                break
            handled += batch
    return handled


@blueprint.task(name=NOTICES_TASK, queue=SEND_QUEUE, pass_context=True)
async def send_notice_outbox(context: procrastinate.JobContext) -> int:
    """Send the due notices of every recipient channel until none are due.

    Every notices job carries the lock ``notices``: one worker drains the outbox at a time,
    and a notice written meanwhile is seen by this job or by the one waiting behind it. The
    rows are leased as they are claimed (``notices.claim_notices``), so a worker that dies
    loses nothing: its leases run out and the next tick's sweep defers a job that sends them.
    """
    runtime = _worker(context).runtime
    handled = 0
    while batch := await send_notices(runtime):
        handled += batch
    return handled


@blueprint.task(name=WATCH_TASK, queue=POLL_QUEUE, pass_context=True, lock="watch")
async def watch(context: procrastinate.JobContext, timestamp: int) -> None:
    """Judge the channels' failure rates for the whole cluster (``watch_failure_rates``)."""
    await watch_failure_rates(_worker(context).runtime)


async def _recover_stalled(app: procrastinate.App, stalled_seconds: float) -> None:
    """Jobs of workers whose heartbeat stopped: sends run again, the others are closed.

    A poll or tick is not repeated late: the next tick hands out the provider again, and
    closing the dead job releases its lock so the next one can start. A closed notices job
    leaves its notices to their lease and the next tick's sweep; a closed watch is judged by
    the next one (the state is in the database).
    """
    manager = app.job_manager
    stalled = await manager.get_stalled_jobs(seconds_since_heartbeat=stalled_seconds)
    for job in stalled:
        with contextlib.suppress(queue_errors.ProcrastinateException):
            if job.task_name == SEND_TASK:
                log.warning("retrying send job %s of a worker that stopped", job.id)
                await manager.retry_job(job)
            else:
                log.warning("closing %s job %s of a worker that stopped", job.task_name, job.id)
                await manager.finish_job(job, status=Status.FAILED, delete_job=False)


@blueprint.task(name=PRUNE_TASK, queue=POLL_QUEUE, pass_context=True)
async def prune(context: procrastinate.JobContext, timestamp: int) -> None:
    """Delete finished jobs older than ``workers.keep_jobs_hours`` (the outbox keeps the
    history)."""
    await context.app.job_manager.delete_old_jobs(
        nb_hours=_worker(context).runtime.config.workers.keep_jobs_hours,
        include_failed=True,
        include_cancelled=True,
        include_aborted=True,
    )


# --------------------------------------------------------------------------- fan-out


def send_jobs_for(
    result: AlertWriteResult, channels: Sequence[str], batch: int
) -> list[dict[str, Any]]:
    """The send jobs an alert's first wave needs: one per ``batch`` recipients."""
    jobs = []
    for channel, fanout in result.channels.items():
        if channel not in channels or fanout.first_wave <= 0:
            continue
        count = math.ceil(fanout.first_wave / batch)
        for index in range(count):
            share = min(batch, fanout.first_wave - index * batch)
            jobs.append({"channel": channel, "recipients": share})
    return jobs


def defer_sends_with_outbox(
    engine: Engine,
    deferrer: procrastinate.App,
    channels: Sequence[str],
    batch: int,
) -> Callable[[], None]:
    """Defer each alert's send jobs in the transaction that writes its outbox rows."""

    def listener(conn: Connection, result: AlertWriteResult) -> None:
        jobs = send_jobs_for(result, channels, batch)
        if jobs:
            _defer_on(deferrer, conn, SEND_TASK, jobs)

    return on_alert_written(engine, listener)


def defer_notices_with_outbox(engine: Engine, deferrer: procrastinate.App) -> Callable[[], None]:
    """Defer a notices job in each transaction that queues notices through ``engine``, so
    the first ones go out at once; later waves and retries are the ticks' sweep."""

    def listener(conn: Connection) -> None:
        _defer_notices(deferrer, conn)

    return db_notices.on_notices_written(engine, listener)


def notice_deferral(engine: Engine) -> Callable[[], None]:
    """``defer_notices_with_outbox`` for a process that is not a worker (``notifier web``,
    ``notifier eligibility open``): its deferrer is never opened, it only defers on the
    connections of ``engine``. Returns a function that stops it."""
    url = engine.url.render_as_string(hide_password=False)
    deferrer = procrastinate.App(
        connector=procrastinate.SyncPsycopgConnector(conninfo=conninfo(url))
    )
    return defer_notices_with_outbox(engine, deferrer)


# --------------------------------------------------------------------------- worker


async def run_worker(runtime: Runtime, settings: WorkerSettings) -> None:
    """Run one worker until SIGINT/SIGTERM; in-flight jobs finish first (within
    ``workers.shutdown_seconds`` when set)."""
    workers = runtime.config.workers
    url = runtime.engine.url.render_as_string(hide_password=False)
    app = make_app(url, workers, watch_seconds=runtime.config.ops_notices.failure_check_seconds)
    # Defers by task name on connections that others opened (see ``_defer_on``): its own
    # pool is never opened.
    deferrer = procrastinate.App(
        connector=procrastinate.SyncPsycopgConnector(conninfo=conninfo(url))
    )
    intervals = {p: c.interval for p, c in runtime.coordinators.items()}
    jitters = {p: c.jitter for p, c in runtime.coordinators.items()}
    await asyncio.to_thread(_sync_schedule, runtime.engine, intervals, jitters)
    await announce_scrapers(runtime)
    remove = defer_sends_with_outbox(
        runtime.engine, deferrer, list(runtime.dispatchers), workers.send_batch
    )
    worker = _Worker(runtime, deferrer)
    options: dict[str, Any] = {}
    if workers.shutdown_seconds is not None:  # unset: procrastinate waits for every job
        options["shutdown_graceful_timeout"] = workers.shutdown_seconds
    try:
        async with app.open_async():
            await app.run_worker_async(
                queues=list(settings.queues),
                concurrency=workers.concurrency,
                name=settings.name or "worker",
                additional_context={"notifier": worker},
                update_heartbeat_interval=workers.heartbeat_seconds,
                stalled_worker_timeout=workers.stalled_seconds,
                fetch_job_polling_interval=workers.job_poll_seconds,
                install_signal_handlers=True,
                **options,
            )
    finally:
        remove()


async def announce_scrapers(runtime: Runtime) -> None:
    """Tell the operator about the scrapers this worker will not run because they are marked
    broken, and about ones reported broken that work again, once for the cluster: the
    incident is kept in the database (``DatabaseLedger``), so the first worker to start
    reports it and the others, and every restart, find it reported."""
    ops = runtime.ops_notices
    for _provider, scraper, reason in runtime.broken:
        await ops.scraper_broken(scraper, reason)
    broken = {scraper for _provider, scraper, _reason in runtime.broken}
    for name in sorted({c.scraper.name for c in runtime.coordinators.values()} - broken):
        await ops.scraper_recovered(name)


def _sync_schedule(engine: Engine, intervals: dict[str, float], jitters: dict[str, float]) -> None:
    with write_transaction(engine) as conn:
        schedule.sync_schedule(conn, intervals, jitters)
