"""Settings of the ``smart-scheduling-links`` scraper (one configured publisher)."""

from __future__ import annotations

import datetime as dt
import re
from typing import Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, field_validator

from scrapers._smart.publishers import publishers

__all__ = ["SmartSettings"]

_STATE = re.compile(r"^[A-Z]{2}$")


class SmartSettings(BaseModel):
    """Settings of one configured SMART publisher."""

    model_config = ConfigDict(extra="forbid")

    publisher: str | None = Field(
        None, description="Key in scrapers/smart_publishers.yaml (URL and quirks)."
    )
    manifest_url: str | None = Field(
        None, description="The $bulk-publish URL; overrides the publisher's."
    )
    states: tuple[str, ...] = Field(
        (), description="Two-letter states to report; empty means every state."
    )
    product_filter: Literal["covid", "any"] = Field(
        "covid", description="'covid': only schedules offering COVID-19 vaccine count."
    )
    since: dt.datetime | None = Field(
        None, description="transactionTime of the last full poll (set by the core)."
    )
    use_since: bool | None = Field(None, description="Send _since; default: publisher quirk.")
    capacity_is_flag: bool | None = Field(None, description="Default: publisher quirk.")
    dates_as_written: bool | None = Field(None, description="Default: publisher quirk.")
    coarse_slot_hours: float = Field(
        2.0, gt=0, le=24 * 31, description="A slot this long without capacity: count unknown."
    )
    base_url: str | None = Field(
        None, description="Booking link of last resort, and base of relative links."
    )

    @field_validator("publisher")
    @classmethod
    def _known_publisher(cls, value: str | None) -> str | None:
        if value is not None and value not in publishers():
            known = ", ".join(sorted(publishers()))
            raise ValueError(f"unknown SMART publisher {value!r}; known: {known}")
        return value

    @field_validator("states", mode="before")
    @classmethod
    def _two_letter_states(cls, value: object) -> tuple[str, ...]:
        items = [value] if isinstance(value, str) else list(value or ())  # type: ignore[call-overload]
        states = tuple(str(s).strip().upper() for s in items)
        bad = [s for s in states if not _STATE.match(s)]
        if bad:
            raise ValueError(f"states must be two-letter codes such as MA; got {bad}")
        return states

    @field_validator("manifest_url", "base_url")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value is not None and urlsplit(value).scheme not in ("http", "https"):
            raise ValueError(f"expected an http(s) URL, got {value!r}")
        return value

    @field_validator("since")
    @classmethod
    def _aware(cls, value: dt.datetime | None) -> dt.datetime | None:
        return value.replace(tzinfo=dt.UTC) if value and value.tzinfo is None else value
