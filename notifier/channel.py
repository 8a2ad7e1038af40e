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
from typing import Any, ClassVar, Generic, TypeVar, cast

from pydantic import BaseModel, ConfigDict

from notifier.model import Alert
from notifier.plugins import declared_settings, import_all, validated_settings

__all__ = [
    "Audience",
    "Channel",
    "ChannelLimit",
    "Message",
    "RateLimit",
    "Recipient",
    "RecipientState",
    "SendResult",
    "SettingsT",
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


_REGISTRY: dict[str, type[Channel[Any]]] = {}

SettingsT = TypeVar("SettingsT", bound=BaseModel)
LimitT = TypeVar("LimitT", covariant=True)


class ChannelLimit(Generic[LimitT]):
    """A channel's limit (rate, length): a default on the class, worked out per instance.

    Read on the class (``SmsChannel.rate_limit``) it is the default, what ``notifier channels
    list`` shows without a config. Read on an instance it is what the channel's declared
    ``<limit>_for_settings()`` method makes of its settings (by default, the class default):
    an SMS sender's throughput depends on the number the operator rents, an Apprise post's
    length on the services it goes to.
    """

    def __init__(self, default: LimitT) -> None:
        self.default = default
        self._hook = ""

    def __set_name__(self, owner: type, name: str) -> None:
        self._hook = f"{name}_for_settings"

    def __get__(self, instance: object, owner: type | None = None) -> LimitT:
        if instance is None:
            return self.default
        value: LimitT = getattr(instance, self._hook)()
        return value


class Channel(Generic[SettingsT]):
    """Base class of every channel. Subclasses set the class attributes and implement send.

    A channel names its settings model as the type argument, ``class SmsChannel(Channel[
    SmsSettings])``: ``self.settings`` is then an ``SmsSettings``, and ``Settings`` (what config
    validation reads) is set from it. A channel without settings subclasses
    ``Channel[NoChannelSettings]``.
    """

    name: ClassVar[str] = ""
    audience: ClassVar[Audience] = Audience.RECIPIENT
    #: characters a message may have (None: no limit that matters)
    max_length: ChannelLimit[int | None] = ChannelLimit(None)
    #: default rate limit; config may lower it
    rate_limit: ChannelLimit[RateLimit] = ChannelLimit(RateLimit(10, 1.0))
    #: how many alerts one message may summarise (a digest, a thread)
    max_batch: ClassVar[int] = 1
    #: the settings model; set from the type argument (``Channel[SmsSettings]``)
    Settings: ClassVar[type[BaseModel]] = NoChannelSettings
    settings: SettingsT

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        declared = declared_settings(cls, Channel)
        if declared is not None:
            cls.Settings = declared
        # Only a class that names itself registers; a subclass of a channel does not.
        if "name" in cls.__dict__ and cls.name:
            if cls.name in _REGISTRY and _REGISTRY[cls.name] is not cls:
                raise RuntimeError(f"channel name {cls.name!r} is registered twice")
            _REGISTRY[cls.name] = cls

    def __init__(self, settings: BaseModel | Mapping[str, Any] | None = None) -> None:
        # ``Settings`` is the class's type argument (``__init_subclass__``), so the value
        # validated or checked against it is a ``SettingsT``.
        self.settings = cast(SettingsT, validated_settings(type(self), self.Settings, settings))

    #: a made-up address of the kind this channel sends to (per-recipient channels), for
    #: samples and the contract tests; never a real person's
    sample_address: ClassVar[str | None] = None

    @classmethod
    def sample_settings(cls, secret: str = "sample-secret") -> dict[str, Any]:
        """Working settings for this channel, as a config.yaml ``settings`` mapping, with
        ``secret`` inside every credential (so a test can check that none ever shows).

        The contract tests build every channel from its own sample, so a new channel needs no
        entry elsewhere. Default: no settings needed.
        """
        return {}

    def max_length_for_settings(self) -> int | None:
        """This instance's ``max_length``; override when the settings change it."""
        return type(self).max_length

    def rate_limit_for_settings(self) -> RateLimit:
        """This instance's ``rate_limit``; override when the settings change it."""
        return type(self).rate_limit

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


def channel_registry() -> dict[str, type[Channel[Any]]]:
    import_all(CHANNELS_PACKAGE)
    return dict(sorted(_REGISTRY.items()))


def get_channel(name: str) -> type[Channel[Any]]:
    channels = channel_registry()
    try:
        return channels[name]
    except KeyError:
        raise KeyError(f"no channel named {name!r}; known: {', '.join(channels)}") from None
