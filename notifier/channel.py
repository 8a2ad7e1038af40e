"""The channel contract: how an alert reaches people on one service (SMS, email, X, ...).

Dropping a module into the ``channels`` package registers every ``Channel`` subclass in it
that sets ``name``. A channel formats and sends; the outbox, retries, rate limiting, expiry and
metrics belong to the core dispatcher (``notifier.pipeline.dispatch``), so every channel gets
them alike.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict

from notifier.model import Alert
from notifier.plugins import import_all

__all__ = [
    "Audience",
    "Channel",
    "Message",
    "RateLimit",
    "Recipient",
    "RecipientState",
    "SendResult",
    "channel_registry",
    "get_channel",
]

CHANNELS_PACKAGE = "channels"


class Audience(StrEnum):
    BROADCAST = "broadcast"  # one public post serves everyone (X feed, a Telegram channel)
    RECIPIENT = "recipient"  # one message per subscriber (SMS, email)


class RecipientState(StrEnum):
    """What a send taught us about the recipient; the core updates the subscriber."""

    OPTED_OUT = "opted_out"
    INVALID = "invalid"


@dataclass(frozen=True, slots=True)
class RateLimit:
    """``count`` messages per ``per_seconds``; the dispatcher's token bucket enforces it."""

    count: int
    per_seconds: float = 1.0


@dataclass(frozen=True, slots=True)
class Recipient:
    """Who a per-recipient message goes to. ``address`` is personal data: never log it."""

    subscriber_id: int
    address: str
    locale: str = "en"
    time_zone: str | None = None
    unsubscribe_token: str | None = None


@dataclass(frozen=True, slots=True)
class Message:
    """One rendered message. ``parts`` holds a thread (X) or segments; ``text`` is the first."""

    text: str
    recipient: Recipient | None = None
    subject: str | None = None
    html: str | None = None
    parts: tuple[str, ...] = ()
    headers: Mapping[str, str] = field(default_factory=dict)
    idempotency_key: str = ""


@dataclass(frozen=True, slots=True)
class SendResult:
    """The outcome of one send. ``transient`` failures are retried with backoff."""

    ok: bool
    provider_message_id: str | None = None
    transient: bool = False
    error: str | None = None
    retry_after: float | None = None
    recipient_state: RecipientState | None = None

    @classmethod
    def sent(cls, provider_message_id: str | None = None) -> SendResult:
        return cls(ok=True, provider_message_id=provider_message_id)

    @classmethod
    def retry(cls, error: str, *, retry_after: float | None = None) -> SendResult:
        return cls(ok=False, transient=True, error=error, retry_after=retry_after)

    @classmethod
    def failed(cls, error: str, *, recipient_state: RecipientState | None = None) -> SendResult:
        return cls(ok=False, transient=False, error=error, recipient_state=recipient_state)


class NoChannelSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")


_REGISTRY: dict[str, type[Channel]] = {}


class Channel:
    """Base class of every channel. Subclasses set the class attributes and implement send."""

    name: ClassVar[str] = ""
    audience: ClassVar[Audience] = Audience.RECIPIENT
    #: characters a message may have (None: no limit that matters)
    max_length: ClassVar[int | None] = None
    #: default rate limit; config may lower it
    rate_limit: ClassVar[RateLimit] = RateLimit(10, 1.0)
    #: how many alerts one message may summarise (a digest, a thread)
    max_batch: ClassVar[int] = 1
    Settings: ClassVar[type[BaseModel]] = NoChannelSettings

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        # Only a class that names itself registers; a subclass of a channel does not.
        if "name" in cls.__dict__ and cls.name:
            if cls.name in _REGISTRY and _REGISTRY[cls.name] is not cls:
                raise RuntimeError(f"channel name {cls.name!r} is registered twice")
            _REGISTRY[cls.name] = cls

    def __init__(self, settings: BaseModel | Mapping[str, Any] | None = None) -> None:
        if isinstance(settings, BaseModel):
            self.settings = settings
        else:
            self.settings = self.Settings.model_validate(dict(settings or {}))

    def compose(self, alerts: Sequence[Alert], recipient: Recipient | None) -> Message:
        """Render one message for these alerts (pure)."""
        raise NotImplementedError

    async def send(self, message: Message) -> SendResult:
        """Hand the message to the service. Never raises for a service error: return a result."""
        raise NotImplementedError

    async def aclose(self) -> None:
        """Release connections. Default: nothing to release."""

    def now(self) -> dt.datetime:
        return dt.datetime.now(dt.UTC)


def channel_registry() -> dict[str, type[Channel]]:
    import_all(CHANNELS_PACKAGE)
    return dict(sorted(_REGISTRY.items()))


def get_channel(name: str) -> type[Channel]:
    channels = channel_registry()
    try:
        return channels[name]
    except KeyError:
        raise KeyError(f"no channel named {name!r}; known: {', '.join(channels)}") from None
