"""The outbox dispatcher: one per channel, it turns due deliveries into sent messages.

A delivery is claimed (leased) before it is sent and marked after, so a crash loses nothing:
a lease that runs out is claimed again on restart. At most the messages in flight at the moment
of a crash can go out twice. Stale news is never sent late: a delivery whose alert expired is
counted as expired instead.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import math
import random
import time
import zoneinfo
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any

from pyrate_limiter import Duration, Limiter, Rate, StateBucket, TokenBucket
from pyrate_limiter.abstracts.store import StateStore
from pyrate_limiter.limiter import SingleBucketFactory
from sqlalchemy import Connection, Engine

from notifier.channel import Audience, Channel, RateLimit, Recipient, RecipientState, SendResult
from notifier.db import fanout, outbox, subscribers
from notifier.db.engine import write_transaction
from notifier.db.fanout import ClaimedDelivery
from notifier.model import Alert
from notifier.pipeline.metrics import HandOff, Metrics
from notifier.policies import DispatchSettings
from notifier.privacy import mask

__all__ = ["DispatchSettings", "Dispatcher", "make_limiter", "quiet_until"]

log = logging.getLogger(__name__)


def make_limiter(rate: RateLimit, store: StateStore | None = None) -> Limiter:
    """A token bucket that admits ``rate.count`` sends per ``rate.per_seconds``.

    Its state lives in this process unless a shared ``store`` is given (multi-node mode:
    ``notifier.pipeline.shared_limit.DatabaseStateStore``, one bucket for every worker).
    """
    interval_ms = max(1, int(rate.per_seconds * Duration.SECOND))
    bucket = StateBucket([Rate(rate.count, interval_ms)], algorithm=TokenBucket(), store=store)
    # The default 50 ms safety margin on every wait would cap fast channels far below their
    # configured rate; the token bucket itself already spaces the sends.
    if store is None:
        return Limiter(bucket, buffer_ms=1)
    # A token bucket's state never grows, so there is nothing to leak: no background leak task
    # (which would also need a running event loop when the runtime is built).
    return Limiter(SingleBucketFactory(bucket, schedule_leak=False), buffer_ms=1)


def quiet_until(claimed: ClaimedDelivery, now: dt.datetime) -> dt.datetime | None:
    """When the recipient's quiet hours end, if ``now`` falls inside them (their local time)."""
    start, end = claimed.quiet_start_hour, claimed.quiet_end_hour
    if start is None or end is None or start == end:
        return None
    try:
        zone = zoneinfo.ZoneInfo(claimed.time_zone or "UTC")
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        zone = zoneinfo.ZoneInfo("UTC")
    local = now.astimezone(zone)
    hour = local.hour
    inside = start <= hour < end if start < end else hour >= start or hour < end
    if not inside:
        return None
    wake = local.replace(hour=end, minute=0, second=0, microsecond=0)
    if wake <= local:
        wake += dt.timedelta(days=1)
    return wake.astimezone(dt.UTC)


#: a claim holds about this many seconds of sending
BATCH_SECONDS = 0.25

#: a database write recorded during a batch and applied when the batch is done
_Write = tuple[Callable[..., object], tuple[Any, ...]]


@dataclass
class _Group:
    deliveries: list[ClaimedDelivery]
    recipient: Recipient | None


class Dispatcher:
    """Sends one channel's due deliveries, honouring its rate limit and the alerts' expiry."""

    def __init__(
        self,
        engine: Engine,
        channel: Channel,
        *,
        rate_limit: RateLimit | None = None,
        settings: DispatchSettings | None = None,
        metrics: Metrics | None = None,
        clock: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC),
        limiter: Limiter | None = None,
    ) -> None:
        self.engine = engine
        self.channel = channel
        self.name = channel.name
        self.settings = settings or DispatchSettings()
        self.metrics = metrics or Metrics()
        #: ``limiter`` replaces the in-process bucket (multi-node mode shares one in the database)
        self.limiter = limiter or make_limiter(rate_limit or channel.rate_limit)
        self.wake = asyncio.Event()
        self._clock = clock
        self._in_flight = asyncio.Semaphore(self.settings.concurrency)
        #: measured send time per delivery (moving average), to size the next claim
        self._seconds_per_message = 0.005

    # ------------------------------------------------------------------ loop

    async def run(self, stop: asyncio.Event) -> None:
        """Dispatch until ``stop`` is set; the batch in hand is finished first."""
        while not stop.is_set():
            try:
                handled = await self.run_once()
            except Exception:
                log.exception("dispatcher %s: batch failed; retrying shortly", self.name)
                handled = 0
            if handled == 0:
                self.wake.clear()
                waiter = asyncio.ensure_future(self.wake.wait())
                stopper = asyncio.ensure_future(stop.wait())
                await asyncio.wait(
                    {waiter, stopper},
                    timeout=self.settings.idle_poll_seconds,
                    return_when=asyncio.FIRST_COMPLETED,
                )
                waiter.cancel()
                stopper.cancel()

    async def run_once(self) -> int:
        """Claim one batch of due deliveries and send it. Returns how many were handled.

        The outcomes of a batch are written in one transaction when the batch is done, which
        keeps the database out of the send loop; a batch is small (see ``_claim_limit``), so
        a crash can only repeat the batch that was in flight.
        """
        now = self._clock()
        claimed = await asyncio.to_thread(self._claim, now)
        if not claimed:
            return 0
        ledger: list[_Write] = []
        started = time.perf_counter()
        try:
            await asyncio.gather(*(self._deliver(g, ledger) for g in self._group(claimed)))
        finally:
            await asyncio.to_thread(self._flush, ledger)
        per_message = (time.perf_counter() - started) / len(claimed)
        self._seconds_per_message += 0.3 * (per_message - self._seconds_per_message)
        return len(claimed)

    def _claim_limit(self) -> int:
        """About ``BATCH_SECONDS`` of work, by how fast this channel has really been sending,
        and never fewer than can be in flight at once. Short batches let a new alert's first
        messages go out soon instead of waiting behind a long batch, and bound what a crash
        can repeat; the token bucket, not the batch size, keeps the rate."""
        by_speed = math.ceil(BATCH_SECONDS / max(self._seconds_per_message, 1e-4))
        return max(1, min(self.settings.batch_size, max(by_speed, self.settings.concurrency)))

    # ------------------------------------------------------------------ steps

    def _claim(self, now: dt.datetime) -> list[ClaimedDelivery]:
        with write_transaction(self.engine) as conn:
            return fanout.claim_due(
                conn,
                self.name,
                limit=self._claim_limit(),
                now=now,
                lease_seconds=self.settings.lease_seconds,
            )

    def _group(self, claimed: Sequence[ClaimedDelivery]) -> list[_Group]:
        """One message per recipient (or one per broadcast), up to ``max_batch`` alerts each."""
        by_key: dict[object, list[ClaimedDelivery]] = {}
        for item in claimed:
            key = "broadcast" if self.channel.audience is Audience.BROADCAST else item.subscriber_id
            by_key.setdefault(key, []).append(item)
        groups = []
        size = max(1, self.channel.max_batch)
        for items in by_key.values():
            items.sort(key=lambda c: c.alert_id)
            for start in range(0, len(items), size):
                chunk = items[start : start + size]
                first = chunk[0]
                recipient = None
                if first.recipient is not None and first.subscriber_id is not None:
                    recipient = Recipient(
                        subscriber_id=first.subscriber_id,
                        address=first.recipient,
                        locale=first.locale or "en",
                        time_zone=first.time_zone,
                    )
                groups.append(_Group(chunk, recipient))
        return groups

    async def _deliver(self, group: _Group, ledger: list[_Write]) -> None:
        async with self._in_flight:
            now = self._clock()
            live = [d for d in group.deliveries if d.expires_at > now]
            stale = [d.id for d in group.deliveries if d.expires_at <= now]
            if stale:
                ledger.append((fanout.mark_expired, (stale,)))
                self.metrics.count(self.name, "expired", len(stale))
            if not live:
                return
            ids = [d.id for d in live]
            quiet = quiet_until(live[0], now)
            if quiet is not None:
                ledger.append((fanout.defer, (ids, quiet)))
                self.metrics.count(self.name, "deferred", len(ids))
                return
            if live[0].digest_minutes:
                digest = await asyncio.to_thread(self._digest_until, live[0], now)
                if digest is not None:
                    ledger.append((fanout.defer, (ids, digest)))
                    self.metrics.count(self.name, "deferred", len(ids))
                    return
            batch = [d.alert for d in live]
            message = self.channel.compose(batch, group.recipient)
            keys = " ".join(sorted(d.idempotency_key for d in live))
            message = replace(message, idempotency_key=keys)
            await self.limiter.try_acquire_async(self.name)
            try:
                result = await asyncio.wait_for(
                    self.channel.send(message), self.settings.send_timeout_seconds
                )
            except TimeoutError:
                result = SendResult.retry("send timed out")
            except Exception as exc:
                log.exception("channel %s raised instead of returning a result", self.name)
                result = SendResult.retry(f"channel raised {type(exc).__name__}")
            self._record(live, batch, result, group.recipient, ledger)

    def _record(
        self,
        live: list[ClaimedDelivery],
        batch: list[Alert],
        result: SendResult,
        recipient: Recipient | None,
        ledger: list[_Write],
    ) -> None:
        ids = [d.id for d in live]
        now = self._clock()
        if result.ok:
            ledger.append((fanout.mark_sent, (ids, result.provider_message_id, now)))
            self.metrics.count(self.name, "sent", len(ids))
            self.metrics.record_hand_off(
                HandOff(
                    channel=self.name,
                    alert_ids=tuple(a.id or 0 for a in batch),
                    detected_at=min(a.detected_at for a in batch),
                    handed_off_at=now,
                )
            )
            return
        who = mask(recipient.address) if recipient else "broadcast"
        attempts = max(d.attempts for d in live)
        if result.transient and attempts < self.settings.max_attempts:
            delay = result.retry_after
            if delay is None:
                cap = self.settings.backoff_base_seconds * 2 ** (attempts - 1)
                delay = random.uniform(cap / 2, min(cap, self.settings.backoff_max_seconds))
            retry_at = now + dt.timedelta(seconds=delay)
            ledger.append((fanout.mark_retry, (ids, result.error, retry_at)))
            self.metrics.count(self.name, "retried", len(ids))
            log.info("%s to %s: will retry in %.0fs: %s", self.name, who, delay, result.error)
            return
        ledger.append((fanout.mark_failed, (ids, result.error)))
        self.metrics.count(self.name, "failed", len(ids))
        log.warning("%s to %s failed for good: %s", self.name, who, result.error)
        if recipient is not None and result.recipient_state is not None:
            ledger.append((_update_recipient, (recipient, result.recipient_state, now)))

    def _digest_until(self, claimed: ClaimedDelivery, now: dt.datetime) -> dt.datetime | None:
        """Digest subscribers get at most one message every ``digest_minutes``: if this
        channel sent them one less than that ago, hold the deliveries until the window ends,
        when everything held goes out together (one message of up to ``max_batch`` alerts)."""
        if not claimed.digest_minutes or claimed.subscriber_id is None:
            return None
        with self.engine.connect() as conn:
            last = outbox.last_sent_at(conn, self.name, claimed.subscriber_id)
        if last is None:
            return None
        window_end = last + dt.timedelta(minutes=claimed.digest_minutes)
        return window_end if window_end > now else None

    def _flush(self, ledger: list[_Write]) -> None:
        if not ledger:
            return
        with write_transaction(self.engine) as conn:
            for func, args in ledger:
                func(conn, *args)


def _update_recipient(
    conn: Connection, recipient: Recipient, state: RecipientState, now: dt.datetime
) -> None:
    """What a send taught us about the recipient (opted out at the carrier, invalid)."""
    ids = [recipient.subscriber_id]
    if state is RecipientState.OPTED_OUT:
        subscribers.opt_out_ids(conn, ids, now)
    else:
        subscribers.mark_invalid(conn, ids, now)
