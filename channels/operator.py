"""The ``operator`` channel: where the operator notifier's settings live, never an alert feed.

Registering it as a channel puts ``channels.operator`` through ``notifier config check``
(Apprise URLs validated, secrets as ``${ENV_VAR}``), lists it in ``notifier channels list``
and lets ``notifier channels test operator`` send a test notice. It sets
``carries_alerts = False``: the runtime must not plan alert deliveries for it
(``notifier.pipeline.ops_notices.carries_alerts``). Notices themselves go through
``notifier.pipeline.ops_notices.OperatorNotifier``, not the outbox.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

from pydantic import BaseModel

from notifier.channel import (
    Audience,
    Channel,
    ChannelLimit,
    Message,
    RateLimit,
    Recipient,
    SendResult,
)
from notifier.messaging.render import alert_facts, normalize_locale, render
from notifier.model import Alert
from notifier.pipeline.ops_notices import OperatorNotifier, OperatorSettings, deliver_notice

__all__ = ["OperatorChannel"]

log = logging.getLogger(__name__)


class OperatorChannel(Channel[OperatorSettings]):
    name = "operator"
    audience = Audience.BROADCAST
    rate_limit = ChannelLimit(RateLimit(12, 3600.0))  # the notifier's default max_notices_per_hour
    max_batch = 20
    #: service notices only: fan-out must skip this channel
    carries_alerts: ClassVar[bool] = False

    def __init__(self, settings: BaseModel | Mapping[str, Any] | None = None) -> None:
        super().__init__(settings)
        self.notifier = OperatorNotifier(self.settings)

    def compose(self, alerts: Sequence[Alert], recipient: Recipient | None) -> Message:
        locale = normalize_locale(self.notifier.settings.locale)
        items = [{"facts": alert_facts([a])} for a in alerts]
        body = render("operator", locale, "alerts.txt", items=items)
        return Message(text=body, subject=f"[{self.notifier.service_name}]")

    async def send(self, message: Message) -> SendResult:
        title = message.subject or f"[{self.notifier.service_name}]"
        if not self.notifier.plugins:
            log.info("operator notice (no targets, log only): %s: %s", title, message.text)
            return SendResult.sent(None)
        failed = await deliver_notice(self.notifier.plugins, title, message.text)
        if failed:
            return SendResult.retry(f"operator notice failed for: {', '.join(failed)}")
        return SendResult.sent(None)
