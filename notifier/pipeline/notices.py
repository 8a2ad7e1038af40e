"""Send the notice outbox (``notifier.db.notices``): sign-up confirmations and "your
eligibility group is open" messages, each through the subscriber's own channel.

One ``NoticeSender`` serves every recipient channel; it claims a small batch per channel,
writes each message, sends it through the channel's own ``send`` (the same Twilio, SMTP or
Apprise client the alerts use) and records the outcome. Transient failures are retried with
backoff, as the alert dispatcher does. Each send takes a token from the channel's limiter,
the one its alert dispatcher uses (shared by every worker in multi-node mode), so confirmations
and eligibility notices count against the account's rate like alerts do.

``run_once`` is the task function of both modes: ``notifier run`` loops on it (``run``), and in
multi-node mode one worker at a time drains the outbox with it (``notifier.notices`` jobs).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import random
from collections.abc import Callable, Mapping
from typing import Any

from pyrate_limiter import Limiter
from sqlalchemy import Engine

from notifier.channel import Channel, Message, Recipient, SendResult
from notifier.db import notices
from notifier.db.engine import write_transaction
from notifier.db.notices import ClaimedNotice
from notifier.geo import PostalPlace, lookup_postal_code, stored_postal_country
from notifier.messaging.eligibility import eligibility_sms, group_label
from notifier.messaging.gsm import to_gsm
from notifier.messaging.render import normalize_locale, postal_country, render, shown_radius
from notifier.messaging.signed_links import make_manage_token
from notifier.privacy import mask

__all__ = ["NoticeSender", "compose_notice"]

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 6


def compose_notice(
    notice: ClaimedNotice,
    channel: Channel,
    *,
    public_url: str,
    link_secret: str | None,
) -> Message:
    """The message of one notice, in the subscriber's language (pure)."""
    locale = normalize_locale(notice.locale)
    recipient = Recipient(notice.subscriber_id, notice.address, locale=locale)
    key = f"notice:{notice.id}"
    context: dict[str, Any] = {
        "postal_code": notice.postal_code or "?",
        "radius": shown_radius(notice.radius_miles, locale),
    }
    if notice.kind == notices.CONFIRM:
        compose_confirmation = getattr(channel, "compose_confirmation", None)
        if compose_confirmation is not None and notice.confirm_token:
            message: Message = compose_confirmation(recipient, notice.confirm_token)
            return Message(
                text=message.text,
                recipient=recipient,
                subject=message.subject,
                html=message.html,
                headers=message.headers,
                idempotency_key=key,
            )
        place = _postal_place(notice)
        city = place.city if place else None
        text = to_gsm(render("sms", locale, "confirm_request.txt", city=city, **context))
        return Message(text=text, recipient=recipient, parts=(text,), idempotency_key=key)
    context["group"] = group_label(notice.group_name or "", locale)
    if notice.channel == "email":
        base = public_url.rstrip("/")
        manage = (
            f"{base}/manage/{make_manage_token(link_secret, notice.subscriber_id, 'email')}"
            if link_secret
            else base
        )
        unsubscribe_url = getattr(channel, "unsubscribe_url", None)
        leave = unsubscribe_url(recipient) if unsubscribe_url is not None else manage
        subject = render("email", locale, "eligibility_subject.txt", **context)
        text = render(
            "email",
            locale,
            "eligibility.txt",
            manage_url=manage,
            unsubscribe_url=leave,
            **context,
        )
        return Message(text=text, recipient=recipient, subject=subject, idempotency_key=key)
    # the same text config check measures for every configured group: one segment
    text = eligibility_sms(
        notice.group_name or "",
        locale,
        radius=context["radius"],
        postal_code=context["postal_code"],
    )
    return Message(text=text, recipient=recipient, parts=(text,), idempotency_key=key)


def _postal_place(notice: ClaimedNotice) -> PostalPlace | None:
    """The subscriber's postal code read in the country it was given in: 50667 is Köln to
    a German sign-up, not Raymond, Iowa."""
    if not notice.postal_code:
        return None
    country = stored_postal_country(
        notice.postal_code,
        lat=notice.lat,
        lon=notice.lon,
        phone=notice.address if notice.channel == "sms" else None,
        time_zone=notice.time_zone,
        default=postal_country(notice.locale),
    )
    return lookup_postal_code(notice.postal_code, country)


class NoticeSender:
    """Claims and sends due notices of every given channel until stopped."""

    def __init__(
        self,
        engine: Engine,
        channels: Mapping[str, Channel],
        *,
        public_url: str,
        link_secret: str | None = None,
        limiters: Mapping[str, Limiter] | None = None,
        batch_size: int = 50,
        idle_seconds: float = 0.5,
        lease_seconds: float = notices.LEASE_SECONDS,
        clock: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC),
    ) -> None:
        self.engine = engine
        self.channels = dict(channels)
        self.public_url = public_url
        self.link_secret = link_secret
        #: channel -> the limiter of its alerts (none: the channel is not rate limited here)
        self.limiters = dict(limiters or {})
        self.batch_size = batch_size
        self.idle_seconds = idle_seconds
        #: a batch at the channel's rate must be sent well within this
        self.lease_seconds = lease_seconds
        self.wake = asyncio.Event()
        self.sent: dict[str, int] = {}
        self._clock = clock

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                handled = await self.run_once()
            except Exception:
                log.exception("notice sender: batch failed; retrying shortly")
                handled = 0
            if handled:
                continue
            self.wake.clear()
            waiter = asyncio.ensure_future(self.wake.wait())
            stopper = asyncio.ensure_future(stop.wait())
            await asyncio.wait(
                {waiter, stopper}, timeout=self.idle_seconds, return_when=asyncio.FIRST_COMPLETED
            )
            waiter.cancel()
            stopper.cancel()

    async def run_once(self) -> int:
        """Send one batch per channel; returns how many notices were handled."""
        handled = 0
        for name, channel in self.channels.items():
            claimed = await asyncio.to_thread(self._claim, name)
            if not claimed:
                continue
            results = await asyncio.gather(*(self._send(name, channel, n) for n in claimed))
            await asyncio.to_thread(self._record, list(zip(claimed, results, strict=True)))
            handled += len(claimed)
        return handled

    def _claim(self, channel: str) -> list[ClaimedNotice]:
        with write_transaction(self.engine) as conn:
            return notices.claim_notices(
                conn,
                channel,
                limit=self.batch_size,
                now=self._clock(),
                lease_seconds=self.lease_seconds,
            )

    async def _send(self, name: str, channel: Channel, notice: ClaimedNotice) -> SendResult:
        try:
            message = compose_notice(
                notice, channel, public_url=self.public_url, link_secret=self.link_secret
            )
            limiter = self.limiters.get(name)
            if limiter is not None:
                await limiter.try_acquire_async(name)
            return await asyncio.wait_for(channel.send(message), 30.0)
        except TimeoutError:
            return SendResult.retry("send timed out")
        except Exception as exc:
            log.exception(
                "notice %d: %s raised instead of returning a result", notice.id, channel.name
            )
            return SendResult.retry(f"channel raised {type(exc).__name__}")

    def _record(self, outcomes: list[tuple[ClaimedNotice, SendResult]]) -> None:
        now = self._clock()
        with write_transaction(self.engine) as conn:
            for notice, result in outcomes:
                if result.ok:
                    notices.mark_notice_sent(conn, [notice.id], result.provider_message_id, now)
                    self.sent[notice.kind] = self.sent.get(notice.kind, 0) + 1
                    continue
                who = mask(notice.address)
                if result.transient and notice.attempts < MAX_ATTEMPTS:
                    delay = result.retry_after or random.uniform(2.0, 5.0 * 2**notice.attempts)
                    retry_at = now + dt.timedelta(seconds=delay)
                    notices.mark_notice_retry(conn, [notice.id], result.error, retry_at)
                    log.info("%s notice to %s: retry in %.0fs", notice.kind, who, delay)
                else:
                    notices.mark_notice_failed(conn, [notice.id], result.error)
                    log.warning("%s notice to %s failed: %s", notice.kind, who, result.error)
