"""Apprise: one broadcast channel for Telegram channels, Mastodon, Bluesky, Discord, Slack,
ntfy, plain webhooks and the ~100 other services Apprise speaks.

Configured by a list of Apprise URLs; each target may be limited to regions, so a regional
Telegram channel only hears about its region::

    channels:
      apprise:
        settings:
          targets:
            - ${MASTODON_URL}                 # everything
            - url: ${TELEGRAM_MA_URL}         # Massachusetts only
              regions: [MA]
              label: telegram-ma
            - url: ${NTFY_BOSTON_URL}         # ZIP codes 021xx and 022xx
              regions: ["021", "022"]

Regions: a two-letter code matches the location's state (``MA``, or a German Land code such as
``BY``); digits match the start of its postal code (``021`` is Boston's ZIP sectional centre).
A target without regions gets every alert. Radius matching belongs to per-recipient channels
(SMS, email), where each subscriber has a point and a distance; a broadcast audience is a
region.

Every message goes through the outbox, the dispatcher and its rate limit like any channel.
Apprise reports only a boolean per service, without the reason, so a failed target is retried
(transient) and the dispatcher's attempt limit turns a lasting failure into ``failed``; targets
that already received a message are not sent it again on the retry. A URL Apprise cannot parse
is a config error, found by ``notifier config check`` before anything is sent.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import re
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from channels._batch import latest_per_location, news_count
from notifier.channel import (
    Audience,
    Channel,
    ChannelLimit,
    Message,
    RateLimit,
    Recipient,
    SendResult,
)
from notifier.messaging.apprise_targets import AppriseTarget, notify_blocking, privacy_url
from notifier.messaging.render import Locale, alert_facts, normalize_locale, render
from notifier.model import Alert, Location

__all__ = [
    "AppriseChannel",
    "AppriseMessage",
    "AppriseSettings",
    "RegionalTarget",
    "TargetPost",
    "region_matches",
]

log = logging.getLogger(__name__)

_STATE = re.compile(r"^[A-Z]{2}$")
_POSTAL_PREFIX = re.compile(r"^\d{1,5}$")
_DELIVERED_KEPT = 1024  # partly delivered messages remembered, so a retry skips done targets
ELLIPSIS = "…"


def region_matches(regions: Sequence[str], location: Location) -> bool:
    """Whether ``location`` is in one of ``regions`` (state codes, postal prefixes); empty: all."""
    if not regions:
        return True
    state = (location.state or "").strip().upper()
    postal = (location.postal_code or "").replace(" ", "")
    for region in regions:
        if _STATE.match(region) and region == state:
            return True
        if _POSTAL_PREFIX.match(region) and postal.startswith(region):
            return True
    return False


class RegionalTarget(AppriseTarget):
    #: state codes ("MA") and postal-code prefixes ("021"); empty: every alert
    regions: tuple[str, ...] = ()

    @field_validator("regions")
    @classmethod
    def _region_codes(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        cleaned = tuple(str(r).strip().upper() for r in value)
        for region in cleaned:
            if not (_STATE.match(region) or _POSTAL_PREFIX.match(region)):
                raise ValueError(
                    f"region {region!r}: use a two-letter state code (MA) or 1-5 leading "
                    'digits of a postal code ("021")'
                )
        return cleaned


class AppriseSettings(BaseModel):
    """``channels.apprise.settings`` in config.yaml; URLs as ``${ENV_VAR}`` (they hold tokens)."""

    model_config = ConfigDict(extra="forbid", hide_input_in_errors=True)

    targets: list[RegionalTarget] = Field(min_length=1)
    #: the language of the posts (en, de, es)
    locale: Locale = "en"
    #: public URL of the web app: links become {base_url}/b/{alert_id}
    base_url: str | None = Field(None, pattern=r"^https?://[^\s/]+(/[^\s]*)?$")
    #: longest body, below each service's own limit (Bluesky 280, Mastodon 500, Telegram 4096)
    max_chars: int = Field(1000, ge=100, le=32768)


@dataclass(frozen=True, slots=True)
class TargetPost:
    """What one target receives: its share of the batch, fitted to that service's limits."""

    target: int
    title: str
    body: str


@dataclass(frozen=True, slots=True)
class AppriseMessage(Message):
    """A ``Message`` with one post per target that covers any alert of the batch."""

    posts: tuple[TargetPost, ...] = ()


class AppriseChannel(Channel[AppriseSettings]):
    name = "apprise"
    audience = Audience.BROADCAST
    max_length = ChannelLimit(1000)  # the default max_chars; per instance: see below
    # 100 an hour with bursts of 20: inside Mastodon's 300 posts/3 h, Telegram's 20/min per
    # group, Discord's 30/min per webhook and ntfy.sh's default burst of 60.
    rate_limit = ChannelLimit(RateLimit(20, 720.0))
    max_batch = 10

    def __init__(self, settings: BaseModel | Mapping[str, Any] | None = None) -> None:
        super().__init__(settings)
        self.targets = list(self.settings.targets)
        self.plugins = [target.plugin() for target in self.targets]
        self.budgets = [self._budget(plugin) for plugin in self.plugins]
        self._delivered: OrderedDict[str, set[int]] = OrderedDict()

    @classmethod
    def sample_settings(cls, secret: str = "sample-secret") -> dict[str, Any]:
        return {
            "targets": [
                f"mastodon://{secret}-token@mastodon.example",
                {"url": f"tgram://123456789:{secret}-bot/-1001234567890", "regions": ["MA"]},
                {"url": f"json://user:{secret}-pw@127.0.0.1:9/hook", "regions": ["NH", "030"]},
            ]
        }

    def max_length_for_settings(self) -> int:
        """The longest body any target accepts: min(service limit, max_chars) per target."""
        return max(body for body, _ in self.budgets)

    def _budget(self, plugin: Any) -> tuple[int, int]:
        """(body characters, title characters) this target's service accepts."""
        body = int(getattr(plugin, "body_maxlen", 0) or 0)
        body = min(body, self.settings.max_chars) if body > 0 else self.settings.max_chars
        title = max(0, int(getattr(plugin, "title_maxlen", 0) or 0))
        return body, min(title, 120)

    def label(self, index: int) -> str:
        """A target's name for logs: its label, else the service and position (never the URL)."""
        target, plugin = self.targets[index], self.plugins[index]
        return target.label or f"{plugin.service_name} #{index + 1}"

    def describe_targets(self) -> list[str]:
        """One line per target for the CLI: label, privacy-masked URL, regions."""
        return [
            f"{self.label(i)}: {privacy_url(p)}"
            + (
                f" (regions {', '.join(self.targets[i].regions)})"
                if self.targets[i].regions
                else ""
            )
            for i, p in enumerate(self.plugins)
        ]

    # ------------------------------------------------------------------ compose (pure)

    def _link(self, alert: Alert) -> str | None:
        if self.settings.base_url and alert.id is not None:
            return f"{self.settings.base_url.rstrip('/')}/b/{alert.id}"
        return alert.location.booking_url

    def _post(self, index: int, alerts: Sequence[Alert], locale: str) -> TargetPost:
        body_limit, title_limit = self.budgets[index]
        ordered = sorted(latest_per_location(alerts), key=news_count, reverse=True)
        title = ""
        if title_limit > 0:
            place = alert_facts(ordered[:1]).place
            locations = len(ordered)
            title = render("apprise", locale, "title.txt", locations=locations, place=place)
            if len(title) > title_limit:
                title = title[: title_limit - 1].rstrip() + ELLIPSIS
            # Some services count the title inside the body's limit.
            body_limit = max(50, body_limit - len(title) - 2)
        items = [{"facts": alert_facts([a]), "link": self._link(a)} for a in ordered]
        body = ""
        for shown in range(len(items), 0, -1):
            body = render(
                "apprise", locale, "alert.txt", items=items[:shown], hidden=len(items) - shown
            )
            if len(body) <= body_limit:
                break
        else:
            body = body[: body_limit - 1].rstrip() + ELLIPSIS
        return TargetPost(index, title, body)

    def compose(self, alerts: Sequence[Alert], recipient: Recipient | None) -> Message:
        return self._compose(alerts, regional=True)

    def compose_test(self, alerts: Sequence[Alert], recipient: Recipient | None) -> Message:
        """Like ``compose``, but every target gets the alerts whatever its regions (for
        ``notifier channels test``)."""
        return self._compose(alerts, regional=False)

    def _compose(self, alerts: Sequence[Alert], *, regional: bool) -> AppriseMessage:
        locale = normalize_locale(self.settings.locale)
        posts = []
        for index, target in enumerate(self.targets):
            matching = [
                a for a in alerts if not regional or region_matches(target.regions, a.location)
            ]
            if matching:
                posts.append(self._post(index, matching, locale))
        key = "apprise:" + ",".join(str(a.id) for a in alerts if a.id is not None)
        return AppriseMessage(
            text=posts[0].body if posts else "",
            subject=posts[0].title if posts else None,
            parts=tuple(p.body for p in posts),
            idempotency_key=key,
            posts=tuple(posts),
        )

    # ------------------------------------------------------------------ send

    async def send(self, message: Message) -> SendResult:
        if isinstance(message, AppriseMessage):
            posts = message.posts
            if not posts:
                return SendResult.sent(None)  # no target covers these alerts' regions
        else:  # a plain message (a test, a notice): every target gets it
            posts = tuple(
                TargetPost(i, message.subject or "", message.text) for i in range(len(self.plugins))
            )
        key = message.idempotency_key or hashlib.sha256(message.text.encode()).hexdigest()
        done = self._delivered.pop(key, set())
        pending = [p for p in posts if p.target not in done]
        results = await asyncio.gather(
            *(
                asyncio.to_thread(
                    notify_blocking, self.plugins[p.target], body=p.body, title=p.title
                )
                for p in pending
            )
        )
        failed = []
        for post, ok in zip(pending, results, strict=True):
            if ok:
                done.add(post.target)
            else:
                failed.append(self.label(post.target))
        if not failed:
            return SendResult.sent(None)
        self._delivered[key] = done
        while len(self._delivered) > _DELIVERED_KEPT:
            self._delivered.popitem(last=False)
        error = f"apprise: {len(failed)} of {len(posts)} target(s) failed: {', '.join(failed)}"
        log.warning("%s", error)
        return SendResult.retry(error)
