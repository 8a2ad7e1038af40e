"""Ops notices: tell whoever runs the service what needs a person. A provider down or back, a
scraper broken or fixed, a channel whose deliveries fail, the service starting or stopping.

Configured in the top-level ``ops_notices`` section of config.yaml (not a channel: notices
never go through the outbox, and alerts never come here)::

    ops_notices:
      targets: ["${OPS_NTFY_URL}"]     # Apprise URLs (quoted in [...]); none: log only
      failure_rate_threshold: 0.2

``notifier ops test`` sends a test notice to every target.

Every notice is logged (WARNING for problems, INFO for good news) and sent to each Apprise
target. One outage is one message, and one recovery one more. For a provider the database
decides: ``provider_down`` and ``provider_recovered`` are called by the one process whose poll
changed the provider's stored health (``pipeline.poll``), so they speak every time they are
called. A scraper's incident is kept in the notifier's ledger (``pipeline.ops_ledger``):
``scraper_broken`` for a scraper already reported says nothing, ``scraper_recovered`` speaks
only after a report. Failure rates are judged from the outbox by ``judge_failure_rates``
(pure), whose state lives in the database (``notifier.db.ops_watch``), so that one incident is
one message however many processes send; ``failure_rate`` only words and sends its verdicts.
Beyond ``max_notices_per_hour`` notices go to the log only, and the next one sent says how
many were held back. In multi-node mode the ledger is the database (``DatabaseLedger``): the
cap is one cap for the cluster and a broken scraper is reported by one worker. Notices name
providers, scrapers, channels and counts; error texts are masked
(``notifier.privacy.mask_text``): no phone number or email address leaves.

The service calls it from the event loop::

    ops = OpsNotifier.from_config(config)
    await ops.service_started(providers=[...], channels=[...])
    await ops.provider_down("ma-prepmod", "unreachable", "connect timeout")
    await ops.provider_recovered("ma-prepmod", down_for=dt.timedelta(minutes=26))
    await ops.failure_rate(verdict)   # from judge_failure_rates, once a minute
"""

from __future__ import annotations

import asyncio
import collections
import datetime as dt
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from notifier.db.ops_watch import ChannelWatch
from notifier.messaging.apprise_targets import notify_blocking
from notifier.messaging.render import normalize_locale, render
from notifier.pipeline.ops_ledger import LocalLedger, NoticeLedger
from notifier.policies import OpsNoticeSettings
from notifier.privacy import mask_text

if TYPE_CHECKING:
    from notifier.config import Config

__all__ = [
    "FailureRateJudgement",
    "FailureRateVerdict",
    "Notice",
    "OpsNoticeSettings",
    "OpsNotifier",
    "deliver_notice",
    "judge_failure_rates",
]

log = logging.getLogger(__name__)

_MAX_ERROR_CHARS = 300


@dataclass(frozen=True, slots=True)
class Notice:
    event: str
    title: str
    body: str
    problem: bool


async def deliver_notice(plugins: Sequence[tuple[str, Any]], title: str, body: str) -> list[str]:
    """Send to every ``(label, apprise plugin)`` at once; returns the labels that failed."""
    results = await asyncio.gather(
        *(
            asyncio.to_thread(notify_blocking, plugin, body=body, title=title)
            for _, plugin in plugins
        )
    )
    return [label for (label, _), ok in zip(plugins, results, strict=True) if not ok]


@dataclass(frozen=True, slots=True)
class FailureRateVerdict:
    """A channel's failure rate crossed a line: ``failing`` (over the threshold) or back
    (below half of it)."""

    channel: str
    rate: float
    deliveries: int
    failing: bool


@dataclass(frozen=True, slots=True)
class FailureRateJudgement:
    #: the rates judged this time (channels with enough new finished deliveries)
    rates: dict[str, float] = field(default_factory=dict)
    #: what must be reported
    verdicts: list[FailureRateVerdict] = field(default_factory=list)
    #: the watch states to store
    watch: dict[str, ChannelWatch] = field(default_factory=dict)


def judge_failure_rates(
    totals: Mapping[str, tuple[int, int]],
    watched: Mapping[str, ChannelWatch],
    channels: Sequence[str],
    settings: OpsNoticeSettings,
    now: dt.datetime,
) -> FailureRateJudgement:
    """Judge each of ``channels`` on the deliveries it finished since its last judgement.

    ``totals`` is every delivery ever finished, (sent, failed) per channel
    (``outbox.finished_deliveries``), ``watched`` the stored states. A channel is judged once
    it has ``failure_rate_min_deliveries`` new finished deliveries; until then they add up.
    Over the threshold opens an incident (one verdict); it closes, with a verdict, once the
    rate falls below half the threshold, so a rate hovering at the line does not flap. A
    channel seen for the first time is watched from now on: its history is not judged. Pure.
    """
    judgement = FailureRateJudgement()
    threshold = settings.failure_rate_threshold
    for channel in sorted(set(channels)):
        sent, failed = totals.get(channel, (0, 0))
        before = watched.get(channel)
        if before is None or sent < before.sent or failed < before.failed:
            # First sight, or deliveries were deleted (a subscriber erased): start afresh.
            failing_since = before.failing_since if before is not None else None
            judgement.watch[channel] = ChannelWatch(sent, failed, failing_since, now)
            continue
        new_failed = failed - before.failed
        finished = sent - before.sent + new_failed
        if finished < settings.failure_rate_min_deliveries:
            continue
        rate = new_failed / finished
        judgement.rates[channel] = rate
        failing_since = before.failing_since
        if failing_since is None and rate >= threshold:
            failing_since = now
            judgement.verdicts.append(FailureRateVerdict(channel, rate, finished, failing=True))
        elif failing_since is not None and rate < threshold / 2:
            failing_since = None
            judgement.verdicts.append(FailureRateVerdict(channel, rate, finished, failing=False))
        judgement.watch[channel] = ChannelWatch(sent, failed, failing_since, now)
    return judgement


def _minutes(lasted: dt.timedelta | None) -> int | None:
    return round(lasted.total_seconds() / 60) if lasted is not None else None


def _clean(text: str) -> str:
    text = mask_text(" ".join(str(text).split()))
    return text if len(text) <= _MAX_ERROR_CHARS else text[: _MAX_ERROR_CHARS - 1] + "…"


class OpsNotifier:
    """Deduplicated, rate-limited ops notices. Methods return whether one was sent
    (or logged): False when it repeats an open incident or there is nothing to say.

    ``ledger`` keeps the hourly cap and the open scraper incidents: this process's memory by
    default, the database (``DatabaseLedger``) in multi-node mode.
    """

    def __init__(
        self,
        settings: OpsNoticeSettings | Mapping[str, Any] | None = None,
        *,
        service_name: str = "Appointment Notifier",
        clock: Callable[[], float] | None = None,
        ledger: NoticeLedger | None = None,
    ) -> None:
        if not isinstance(settings, OpsNoticeSettings):
            settings = OpsNoticeSettings.model_validate(dict(settings or {}))
        self.settings = settings
        self.service_name = service_name
        if ledger is None:
            ledger = LocalLedger(clock) if clock is not None else LocalLedger()
        self.ledger = ledger
        self.plugins = [
            (target.label or f"{plugin.service_name} #{i + 1}", plugin)
            for i, (target, plugin) in enumerate((t, t.plugin()) for t in settings.targets)
        ]
        #: the most recent notices (sent or logged), newest last
        self.history: collections.deque[Notice] = collections.deque(maxlen=100)

    @classmethod
    def from_config(cls, config: Config, *, ledger: NoticeLedger | None = None) -> OpsNotifier:
        """From the ``ops_notices`` section (log-only defaults when it is left out); the
        notices carry the ``operator`` name, who runs this service."""
        return cls(config.ops_notices, service_name=config.operator.name, ledger=ledger)

    # ------------------------------------------------------------------ events

    async def provider_down(self, provider_id: str, kind: str, error: str) -> bool:
        """The provider's polls started failing (the poll that stored it calls this, once
        per outage)."""
        return await self._emit(
            "provider_down", True, provider=provider_id, kind=kind, error=_clean(error)
        )

    async def provider_recovered(
        self, provider_id: str, down_for: dt.timedelta | None = None
    ) -> bool:
        """The provider answers again after ``down_for`` (the poll that stored it calls this)."""
        return await self._emit(
            "provider_recovered", False, provider=provider_id, minutes=_minutes(down_for)
        )

    async def scraper_broken(self, scraper: str, reason: str) -> bool:
        if not await self.ledger.open_incident(f"scraper:{scraper}"):
            return False
        return await self._emit("scraper_broken", True, scraper=scraper, reason=_clean(reason))

    async def scraper_recovered(self, scraper: str) -> bool:
        lasted = await self.ledger.close_incident(f"scraper:{scraper}")
        if lasted is None:
            return False
        return await self._emit(
            "scraper_recovered", False, scraper=scraper, minutes=_minutes(lasted)
        )

    async def failure_rate(self, verdict: FailureRateVerdict) -> bool:
        """Report a channel whose deliveries started failing, or deliver again (a verdict of
        ``judge_failure_rates``, which keeps the incident: one verdict, one message)."""
        percent = round(verdict.rate * 100)
        if verdict.failing:
            return await self._emit(
                "failure_rate",
                True,
                channel_name=verdict.channel,
                percent=percent,
                threshold=round(self.settings.failure_rate_threshold * 100),
                deliveries=verdict.deliveries,
            )
        return await self._emit(
            "failure_rate_recovered", False, channel_name=verdict.channel, percent=percent
        )

    async def service_started(
        self, providers: Sequence[str] = (), channels: Sequence[str] = ()
    ) -> bool:
        return await self._emit(
            "service_started", False, providers=list(providers), channels=list(channels)
        )

    async def service_stopped(self, reason: str = "") -> bool:
        return await self._emit("service_stopped", False, reason=_clean(reason) if reason else "")

    async def open_incidents(self) -> list[str]:
        """``scraper:prepmod`` ...: the scrapers currently reported broken."""
        return await self.ledger.open_incidents()

    async def send_test(self) -> list[str]:
        """One test notice to every target, outside the hourly limit; the labels that failed."""
        title, body = self.render("test")
        log.info("ops notice (test): %s: %s", title, body)
        return await deliver_notice(self.plugins, title, body)

    async def aclose(self) -> None:
        """Nothing to release: Apprise opens a connection per notice."""

    # ------------------------------------------------------------------ machinery

    def render(self, event: str, **context: Any) -> tuple[str, str]:
        """(title, body) of a notice; the first line of the template is the title."""
        locale = normalize_locale(self.settings.locale)
        text = render("ops", locale, f"{event}.txt", **context)
        title, _, body = text.partition("\n")
        return f"[{self.service_name}] {title.strip()}", body.strip()

    async def _emit(self, event: str, problem: bool, **context: Any) -> bool:
        title, body = self.render(event, **context)
        notice = Notice(event, title, body, problem)
        self.history.append(notice)
        level = logging.WARNING if problem else logging.INFO
        held_back = await self.ledger.take(self.settings.max_notices_per_hour)
        if held_back is None:
            log.log(
                level,
                "ops notice (hourly limit reached, log only): %s: %s",
                title,
                body.replace("\n", " "),
            )
            return True
        if held_back:
            locale = normalize_locale(self.settings.locale)
            body += "\n" + render("ops", locale, "suppressed.txt", count=held_back)
        log.log(level, "ops notice: %s: %s", title, body.replace("\n", " "))
        if self.plugins:
            for label in await deliver_notice(self.plugins, title, body):
                log.warning("ops notice %r could not be sent to %s", event, label)
        return True
