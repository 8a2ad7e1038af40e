"""The console channel: the default when no service credentials are set.

It prints one line per alert batch, or appends JSON lines to a file, which makes it the
channel the demo and the end-to-end tests watch.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from pathlib import Path

from pydantic import BaseModel, ConfigDict

from notifier.channel import (
    Audience,
    Channel,
    ChannelLimit,
    Message,
    RateLimit,
    Recipient,
    SendResult,
)
from notifier.model import Alert

__all__ = ["ConsoleChannel"]


class ConsoleSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    #: append JSON lines here instead of printing (None: standard output)
    path: Path | None = None
    quiet: bool = False


def _summary(alert: Alert) -> str:
    loc = alert.location
    place = ", ".join(p for p in (loc.name, loc.city) if p)
    count = "openings" if alert.appointments is None else f"{alert.appointments:,} open"
    dates = sorted(alert.by_date)
    span = ""
    if dates:
        first, last = dates[0], dates[-1]
        span = f" {first:%m/%d}" + (f"–{last:%m/%d}" if last != first else "")
    link = f" Book: {loc.booking_url}" if loc.booking_url else ""
    return f"{place}: {count}{span}.{link}"


class ConsoleChannel(Channel[ConsoleSettings]):
    name = "console"
    audience = Audience.BROADCAST
    rate_limit = ChannelLimit(RateLimit(1000, 1.0))
    max_batch = 20

    def compose(self, alerts: Sequence[Alert], recipient: Recipient | None) -> Message:
        return Message(text="\n".join(_summary(a) for a in alerts))

    async def send(self, message: Message) -> SendResult:
        settings = self.settings
        if settings.path is not None:
            record = {
                "keys": message.idempotency_key.split(),
                "text": message.text,
                "at": str(self.now()),
            }
            try:
                with settings.path.open("a", encoding="utf-8") as out:
                    out.write(json.dumps(record) + "\n")
            except OSError as exc:
                return SendResult.retry(f"cannot write {settings.path}: {exc.strerror}")
        elif not settings.quiet:
            print(message.text, file=sys.stdout, flush=True)
        return SendResult.sent(message.idempotency_key)
