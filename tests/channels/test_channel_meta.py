"""Every registered channel keeps the channel contract (the idea of Apprise's plugin meta-tests).

A new channel module is picked up automatically, with the sample settings it carries itself
(``Channel.sample_settings``, and ``sample_address`` for a per-recipient channel). Each channel
must declare its name, audience, rate limit, batch size and pydantic ``Settings`` that forbid
unknown keys and hold secrets as ``SecretStr``; and ``compose`` must turn realistic alerts into
a ``Message`` within ``max_length`` (as counted by the channel's optional
``measure(text) -> int``, else ``len``), in every supported language, the same way every time.
"""

from __future__ import annotations

import importlib
import re
import types
import typing
from collections.abc import Iterator
from typing import Any

import pytest
from pydantic import BaseModel, SecretStr, ValidationError

from notifier.channel import Audience, Channel, Message, RateLimit, Recipient, channel_registry
from notifier.messaging.render import SUPPORTED_LOCALES
from tests.channels.channels_support import batch

SECRET = "sample-secret"
# Field names that hold credentials. URLs that embed tokens (Apprise) are checked in their tests.
SECRET_NAME = re.compile(r"(password|passwd|secret|token|(^|_)key$|credential)")

CHANNELS = channel_registry()


def settings_for(name: str, **extra: Any) -> dict[str, Any]:
    return {**CHANNELS[name].sample_settings(SECRET), **extra}


def models_in(model: type[BaseModel]) -> Iterator[type[BaseModel]]:
    """``model`` and every model nested in its fields (lists, optionals, unions)."""
    seen: set[type[BaseModel]] = set()
    stack = [model]
    while stack:
        current = stack.pop()
        if current in seen:
            continue
        seen.add(current)
        yield current
        for info in current.model_fields.values():
            stack.extend(_nested_models(info.annotation))


def _nested_models(annotation: Any) -> Iterator[type[BaseModel]]:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        yield annotation
    for arg in typing.get_args(annotation):
        yield from _nested_models(arg)


def _is_secret(annotation: Any) -> bool:
    if annotation is SecretStr:
        return True
    if isinstance(annotation, types.UnionType) or typing.get_origin(annotation) is typing.Union:
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        return bool(args) and all(_is_secret(a) for a in args)
    return False


@pytest.fixture(params=sorted(CHANNELS))
def channel_cls(request: pytest.FixtureRequest) -> type[Channel]:
    return CHANNELS[request.param]


def make_channel(cls: type[Channel], locale: str = "en") -> Channel:
    extra = {}
    if cls.audience is Audience.BROADCAST and "locale" in cls.Settings.model_fields:
        extra["locale"] = locale
    try:
        return cls(settings_for(cls.name, **extra))
    except ValidationError as exc:
        pytest.fail(f"{cls.__name__}.sample_settings() must return working settings: {exc}")


def test_the_usual_channels_are_registered() -> None:
    assert {"console", "sms", "x", "apprise", "email"} <= set(CHANNELS)


def test_declares_the_contract(channel_cls: type[Channel]) -> None:
    assert channel_cls.name and re.fullmatch(r"[a-z][a-z0-9_-]*", channel_cls.name)
    assert CHANNELS[channel_cls.name] is channel_cls
    assert isinstance(channel_cls.audience, Audience)
    rate = channel_cls.rate_limit
    assert isinstance(rate, RateLimit) and rate.count >= 1 and rate.per_seconds > 0
    assert isinstance(channel_cls.max_batch, int) and channel_cls.max_batch >= 1
    assert channel_cls.max_length is None or channel_cls.max_length > 0
    assert issubclass(channel_cls.Settings, BaseModel)
    if channel_cls.audience is Audience.RECIPIENT:
        assert channel_cls.sample_address, "a per-recipient channel names a sample address"
    module = importlib.import_module(channel_cls.__module__)
    assert module.__doc__, f"{channel_cls.__module__} explains itself in a docstring"


def test_settings_forbid_unknown_keys(channel_cls: type[Channel]) -> None:
    for model in models_in(channel_cls.Settings):
        assert model.model_config.get("extra") == "forbid", f"{model.__name__} allows extra keys"
    with pytest.raises(ValidationError, match="Extra inputs are not permitted"):
        channel_cls.Settings.model_validate(settings_for(channel_cls.name, no_such_setting=1))


def test_secrets_are_secret_str(channel_cls: type[Channel]) -> None:
    for model in models_in(channel_cls.Settings):
        for field_name, info in model.model_fields.items():
            if SECRET_NAME.search(field_name):
                assert _is_secret(info.annotation), (
                    f"{model.__name__}.{field_name} holds a credential: type it SecretStr"
                )
    settings = channel_cls.Settings.model_validate(settings_for(channel_cls.name))
    for shown in (repr(settings), str(settings), settings.model_dump_json()):
        assert SECRET not in shown, f"{channel_cls.name} settings show a secret"


@pytest.mark.parametrize("size", ["one", "some", "max_batch"])
async def test_compose_fits_in_every_language(channel_cls: type[Channel], size: str) -> None:
    count = {"one": 1, "some": min(channel_cls.max_batch, 5), "max_batch": channel_cls.max_batch}
    alerts = batch(count[size])
    texts: dict[str, str] = {}
    for locale in SUPPORTED_LOCALES:
        channel = make_channel(channel_cls, locale)
        recipient = None
        if channel_cls.audience is Audience.RECIPIENT:
            address = channel_cls.sample_address or ""
            recipient = Recipient(subscriber_id=1, address=address, locale=locale)
        try:
            message = channel.compose(alerts, recipient)
            again = channel.compose(alerts, recipient)
        finally:
            await channel.aclose()
        assert isinstance(message, Message)
        assert message == again, "compose is pure: the same alerts give the same message"
        assert message.text.strip()
        limit = channel.max_length
        # A channel whose service counts differently (X: URLs as 23) says how, via ``measure``.
        measure = getattr(channel, "measure", len)
        if limit is not None:
            for part in message.parts or (message.text,):
                assert 0 < measure(part) <= limit, f"{channel_cls.name} [{locale}]: {part!r}"
        texts[locale] = message.text
    localized = channel_cls.audience is Audience.RECIPIENT or "locale" in (
        channel_cls.Settings.model_fields
    )
    if localized:
        assert texts["de"] != texts["en"] and texts["es"] != texts["en"]
