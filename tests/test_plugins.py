"""The one settings pattern of plugins: ``Scraper[SettingsT]`` / ``Channel[SettingsT]``."""

from __future__ import annotations

from collections.abc import Sequence

import pytest
from pydantic import BaseModel, ConfigDict, ValidationError

from notifier.channel import Channel, ChannelLimit, Message, RateLimit, Recipient
from notifier.model import Alert
from notifier.scraping import NoSettings, Scraper


class ClinicSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")
    base_url: str = "https://clinic.example"


class OtherSettings(BaseModel):
    pass


class ClinicScraper(Scraper[ClinicSettings]):
    pass


class PlainScraper(Scraper[NoSettings]):
    pass


class PagerSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")
    per_minute: int = 6
    max_chars: int = 100


class PagerChannel(Channel[PagerSettings]):
    max_length = ChannelLimit(160)
    rate_limit = ChannelLimit(RateLimit(1, 1.0))

    def max_length_for_settings(self) -> int:
        return self.settings.max_chars

    def rate_limit_for_settings(self) -> RateLimit:
        return RateLimit(self.settings.per_minute, 60.0)

    def compose(self, alerts: Sequence[Alert], recipient: Recipient | None) -> Message:
        return Message(text="")


def test_the_type_argument_is_the_settings_model() -> None:
    assert ClinicScraper.Settings is ClinicSettings and PlainScraper.Settings is NoSettings
    scraper = ClinicScraper({"base_url": "https://other.example"})
    assert isinstance(scraper.settings, ClinicSettings)
    assert scraper.settings.base_url == "https://other.example"
    built = ClinicSettings()
    assert ClinicScraper(built).settings is built
    assert PagerChannel.Settings is PagerSettings


def test_wrong_settings_are_refused() -> None:
    with pytest.raises(TypeError, match="ClinicScraper needs ClinicSettings, not OtherSettings"):
        ClinicScraper(OtherSettings())
    with pytest.raises(ValidationError, match="Extra inputs"):
        ClinicScraper({"base_ulr": "typo"})


def test_settings_assigned_as_a_class_attribute_are_refused() -> None:
    with pytest.raises(TypeError, match=r"class Old\(Scraper\[ClinicSettings\]\)"):

        class Old(Scraper):
            Settings = ClinicSettings

    with pytest.raises(TypeError, match=r"class OldChannel\(Channel\[PagerSettings\]\)"):

        class OldChannel(Channel):
            Settings = PagerSettings


def test_a_limit_is_the_class_default_on_the_class_and_the_settings_on_an_instance() -> None:
    assert PagerChannel.max_length == 160 and PagerChannel.rate_limit == RateLimit(1, 1.0)
    pager = PagerChannel({"per_minute": 30, "max_chars": 70})
    assert pager.max_length == 70 and pager.rate_limit == RateLimit(30, 60.0)
    assert Channel.rate_limit == RateLimit(10, 1.0)  # the base default stays untouched
