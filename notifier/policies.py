"""The rules the pipeline obeys, as config.yaml spells them: client, alerts and ops notices.

They live here, among the contracts, so that the config can validate them without importing
the pipeline; the pipeline reads them from the loaded config.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from notifier import __version__
from notifier.messaging.apprise_targets import AppriseTarget
from notifier.messaging.render import Locale

__all__ = ["AlertPolicy", "HttpSettings", "OpsNoticeSettings", "SanityPolicy"]


class HttpSettings(BaseModel):
    """The ``http:`` section of config.yaml."""

    model_config = ConfigDict(extra="forbid")

    contact: str = Field(
        "https://github.com/appointment-notifier/appointment-notifier",
        description="How a provider's operator can reach you; sent in the User-Agent.",
    )
    timeout_seconds: float = Field(20.0, gt=0)
    connect_timeout_seconds: float = Field(5.0, gt=0)
    per_host_concurrency: int = Field(2, ge=1, le=16)
    max_retries: int = Field(2, ge=0, le=5)
    backoff_base_seconds: float = Field(1.0, ge=0)
    backoff_max_seconds: float = Field(30.0, ge=0)
    #: an in-process breaker, off by default: the per-provider backoff (pipeline/backoff.py)
    #: already spaces polls of a failing provider, and keeps its state in the database
    breaker_failures: int | None = Field(None, ge=1)
    breaker_reset_seconds: float = Field(300.0, gt=0)
    max_body_bytes: int = Field(50_000_000, gt=0)
    cache_entries: int = Field(2048, ge=0)
    backoff_cap_factor: float = Field(
        4.0,
        ge=1.0,
        description="Longest wait between polls of a failing provider, in intervals.",
    )

    @property
    def user_agent(self) -> str:
        return f"AppointmentNotifier/{__version__} (+{self.contact})"


class SanityPolicy(BaseModel):
    model_config = ConfigDict(extra="forbid")

    #: hold when one location claims more open appointments than this
    max_per_location: int = Field(50_000, ge=1)
    #: hold when the number of locations grows by this factor (and by min_new_locations)
    location_growth_factor: float = Field(5.0, gt=1)
    min_new_locations: int = Field(20, ge=1)
    #: hold when at least this many locations that were open all read zero in one poll
    min_locations_for_zero_drop: int = Field(3, ge=2)


class AlertPolicy(BaseModel):
    """The ``alerts:`` section of config.yaml."""

    model_config = ConfigDict(extra="forbid")

    min_appointments: int = Field(1, ge=1, description="Open appointments needed to alert.")
    min_increase: int = Field(10, ge=1, description="Rise that counts as news when already open.")
    cooldown_minutes: float = Field(10.0, ge=0)
    ttl_minutes: float = Field(30.0, gt=0, description="A delivery later than this is dropped.")
    alert_on_first_poll: bool = False
    sanity: SanityPolicy = SanityPolicy()


class OpsNoticeSettings(BaseModel):
    """The ``ops_notices`` section of config.yaml."""

    model_config = ConfigDict(extra="forbid", hide_input_in_errors=True)

    #: Apprise URLs (``${ENV_VAR}``); none: notices go to the log only
    targets: list[AppriseTarget] = Field(default_factory=list)
    #: the language of the notices (en, de, es)
    locale: Locale = "en"
    #: share of finished deliveries that failed for good which raises the alarm
    failure_rate_threshold: float = Field(0.2, gt=0, le=1)
    #: finished deliveries a channel needs before its rate is judged
    failure_rate_min_deliveries: int = Field(20, ge=1)
    max_notices_per_hour: int = Field(12, ge=1)
