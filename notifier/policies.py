"""The rules the pipeline obeys, as config.yaml spells them: client, alerts, delivery and ops
notices.

They live here, among the contracts, so that the config can validate them without importing
the pipeline; the pipeline reads them from the loaded config.
"""

from __future__ import annotations

from collections.abc import Sequence

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator
from pydantic_core import InitErrorDetails, PydanticCustomError

from notifier import __version__
from notifier.messaging.apprise_targets import AppriseTarget
from notifier.messaging.render import Locale

__all__ = [
    "CONFIG_RULE",
    "DIVISORS_OF_60",
    "AlertPolicy",
    "DispatchSettings",
    "HttpSettings",
    "OpsNoticeSettings",
    "RuleBroken",
    "SanityPolicy",
    "raise_broken_rules",
    "rule_error",
]

#: the pydantic error type of a broken rule between settings; its context carries the fix
CONFIG_RULE = "config_rule"

#: a periodic job of multi-node mode runs at whole seconds of the minute, so its period in
#: seconds must divide 60
DIVISORS_OF_60 = (1, 2, 3, 4, 5, 6, 10, 12, 15, 20, 30, 60)


def rule_error(problem: str, fix: str) -> PydanticCustomError:
    """A validation error whose message is ``problem`` and whose fix the config error shows."""
    # Braces would be read as pydantic's message placeholders.
    text = problem.replace("{", "(").replace("}", ")")
    return PydanticCustomError(CONFIG_RULE, text, {"fix": fix})


#: (where, relative to the model being validated; what is wrong; how to fix it)
RuleBroken = tuple[tuple[str | int, ...], str, str]


def raise_broken_rules(model: str, broken: Sequence[RuleBroken], values: object) -> None:
    """Raise every broken rule at once, each at the key it names (so its line is found)."""
    if broken:
        raise ValidationError.from_exception_data(
            model,
            [
                InitErrorDetails(type=rule_error(problem, fix), loc=where, input=values)
                for where, problem, fix in broken
            ],
        )


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


class DispatchSettings(BaseModel):
    """The ``delivery:`` section of config.yaml: how each channel's dispatcher claims and sends.

    A dispatcher claims (leases) a batch of due deliveries, sends them, then marks them; a
    lease that runs out (its process died) is claimed again. The rules between these settings
    are checked on the whole config (``Config``), so that tests may shorten a lease freely.
    """

    model_config = ConfigDict(extra="forbid")

    #: the most deliveries one claim takes (claims adapt to send speed, about 0.25 s of work)
    batch_size: int = Field(200, ge=1, le=10_000)
    #: how long a claimed delivery belongs to its dispatcher before another may claim it
    lease_seconds: float = Field(120.0, gt=0, le=3600)
    max_attempts: int = Field(6, ge=1, le=50)
    backoff_base_seconds: float = Field(5.0, ge=0)
    backoff_max_seconds: float = Field(600.0, ge=0)
    #: one send (an API call, an SMTP transaction) is abandoned after this long
    send_timeout_seconds: float = Field(30.0, gt=0, le=600)
    #: sends of one channel in flight at once, per process
    concurrency: int = Field(16, ge=1, le=1000)
    #: how often an idle dispatcher looks for due deliveries (``notifier run``)
    idle_poll_seconds: float = Field(1.0, gt=0, le=60)

    def broken_rules(self) -> list[RuleBroken]:
        """What the operator's config must respect, beyond each field's own range."""
        broken: list[RuleBroken] = []
        if self.lease_seconds < 2 * self.send_timeout_seconds:
            broken.append(
                (
                    ("lease_seconds",),
                    f"a lease of {self.lease_seconds:g}s is shorter than two send timeouts "
                    f"({self.send_timeout_seconds:g}s each): a slow send could outlive its "
                    "lease and go out twice",
                    f"raise lease_seconds to at least {2 * self.send_timeout_seconds:g}, or "
                    "lower send_timeout_seconds",
                )
            )
        if self.backoff_max_seconds < self.backoff_base_seconds:
            broken.append(
                (
                    ("backoff_max_seconds",),
                    f"the longest retry wait ({self.backoff_max_seconds:g}s) is shorter than "
                    f"the first ({self.backoff_base_seconds:g}s)",
                    "make backoff_max_seconds at least backoff_base_seconds",
                )
            )
        return broken


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
    #: seconds between two judgements of the failure rates (once for the whole cluster in
    #: multi-node mode); divides 60
    failure_check_seconds: int = Field(60, ge=1, le=60)
    max_notices_per_hour: int = Field(12, ge=1)

    @model_validator(mode="after")
    def _rules(self) -> OpsNoticeSettings:
        if self.failure_check_seconds not in DIVISORS_OF_60:
            value = self.failure_check_seconds
            near = min(DIVISORS_OF_60, key=lambda d: (abs(d - value), d))
            broken: list[RuleBroken] = [
                (
                    ("failure_check_seconds",),
                    f"{value} does not divide a minute: in multi-node mode the watch is a "
                    "periodic job at whole seconds of each minute",
                    f"use one of {', '.join(map(str, DIVISORS_OF_60))} (e.g. {near})",
                )
            ]
            raise_broken_rules("OpsNoticeSettings", broken, self)
        return self
