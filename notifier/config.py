"""``config.yaml``: loading, validation with pydantic, and errors a person can act on.

Every error names the file, the line, what is wrong and how to fix it. Secrets never sit in the
file: fields typed ``SecretStr`` must be written as ``${ENV_VAR}`` references, which are filled
from the environment when the file is read.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, model_validator
from pydantic_core import ErrorDetails
from pydantic_settings import BaseSettings, SettingsConfigDict

from notifier.channel import get_channel
from notifier.config_source import (
    ConfigError,
    ConfigProblem,
    DataPath,
    EnvRef,
    Lines,
    read_source,
)
from notifier.config_source import line_for as _line_for
from notifier.config_source import where_text as _where
from notifier.messaging.eligibility import group_problem
from notifier.policies import (
    CONFIG_RULE,
    DIVISORS_OF_60,
    AlertPolicy,
    DispatchSettings,
    HttpSettings,
    OpsNoticeSettings,
    RuleBroken,
    raise_broken_rules,
)
from notifier.scraping import get_scraper

__all__ = [
    "ChannelConfig",
    "Config",
    "ConfigError",
    "ConfigProblem",
    "DatabaseConfig",
    "EngineName",
    "EnvSettings",
    "ProviderConfig",
    "WorkersConfig",
    "load_config",
]


class EnvSettings(BaseSettings):
    """Process-level settings from the environment (``NOTIFIER_*``)."""

    model_config = SettingsConfigDict(env_prefix="NOTIFIER_", extra="ignore")

    config: Path = Path("config.yaml")
    database_url: str | None = None


class ProviderConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str = Field(pattern=r"^[a-z0-9][a-z0-9-]{0,62}$")
    scraper: str
    enabled: bool = True
    interval_seconds: float | None = Field(None, gt=0)
    jitter_seconds: float = Field(10.0, ge=0)
    settings: dict[str, Any] = Field(default_factory=dict)


class RateLimitConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    count: int = Field(ge=1)
    per_seconds: float = Field(1.0, gt=0)


class ChannelConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    enabled: bool = True
    rate_limit: RateLimitConfig | None = None
    #: each SMS/email wave = this many recipients per opening left (null: everyone at once)
    wave_multiple: float | None = Field(3.0, gt=0)
    #: the wave size for a source that says "open" without a count (CVS, Walgreens, ...)
    unknown_count_wave: int = Field(60, ge=1)
    #: after a wave's last send, this long for people to book before the next is released
    wave_grace_seconds: float = Field(300.0, ge=0)
    settings: dict[str, Any] = Field(default_factory=dict)


class OperatorConfig(BaseModel):
    """Who runs this service: named in ops notices, reachable through the User-Agent."""

    model_config = ConfigDict(extra="forbid")

    name: str = "Appointment Notifier"
    contact: str = Field(description="Email or URL a provider can reach you at (User-Agent).")


class DatabaseConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: str = "sqlite:///subscribers.db"
    #: PostgreSQL only: connections each process keeps open, and how many more it may open at
    #: a busy moment (SQLAlchemy's pool; procrastinate's own pool is ``workers.queue_pool_size``)
    pool_size: int = Field(5, ge=1, le=200)
    max_overflow: int = Field(10, ge=0, le=200)

    def engine_options(self, url: str | None = None) -> dict[str, Any]:
        """``make_engine`` keyword arguments for ``url`` (default: this one). SQLite keeps
        SQLAlchemy's own pool: one process, one file."""
        if not (url or self.url).startswith(("postgresql", "postgres:")):
            return {}
        return {"pool_size": self.pool_size, "max_overflow": self.max_overflow}


#: a periodic task runs at whole seconds of the minute, so its period must divide 60
_DIVISORS_OF_60 = DIVISORS_OF_60
#: a worker is declared dead only after missing this many heartbeats in a row
MIN_HEARTBEATS_PER_STALL = 3


class WorkersConfig(BaseModel):
    """``workers:``, the ``notifier worker`` processes of multi-node mode (``engine:
    procrastinate``; ``notifier run`` ignores it). Every machine must use the same values.
    See docs/deployment.md for what each one costs and when to change it."""

    model_config = ConfigDict(extra="forbid")

    #: jobs (ticks, polls, send batches) one process runs at once; ``--concurrency`` overrides
    concurrency: int = Field(8, ge=1, le=256)
    #: seconds between two ticks, the periodic job that hands out the due polls; a provider's
    #: poll starts within one tick of its due time
    tick_seconds: int = Field(1, ge=1, le=60)
    #: seconds between a worker's heartbeats in the job queue
    heartbeat_seconds: float = Field(10.0, ge=0.5, le=300)
    #: a worker silent for this long is dead: its send jobs run again, its polls and ticks are
    #: closed (the next tick polls again). Also how long a dead worker's tick blocks the ticks.
    stalled_seconds: float = Field(60.0, ge=5, le=3600)
    #: seconds between two searches for the jobs of dead workers
    recover_seconds: int = Field(2, ge=1, le=60)
    #: how often an idle worker looks for jobs when no LISTEN notification comes (PgBouncer in
    #: transaction mode drops them); with notifications a job starts at once
    job_poll_seconds: float = Field(5.0, gt=0, le=60)
    #: on SIGTERM, jobs in flight get this long to finish before they are cancelled (their
    #: claimed deliveries come back when the lease runs out); null: wait for every job
    shutdown_seconds: float | None = Field(None, gt=0, le=3600)
    #: connections of procrastinate's pool per process (fetching, heartbeats, LISTEN)
    queue_pool_size: int = Field(4, ge=2, le=64)
    #: first-wave recipients per send job deferred by a fan-out: 100,000 people make 200 jobs
    send_batch: int = Field(500, ge=1, le=100_000)
    #: finished jobs are deleted after this many hours (the outbox keeps the history)
    keep_jobs_hours: int = Field(24, ge=1, le=24 * 90)

    @model_validator(mode="after")
    def _rules(self) -> WorkersConfig:
        raise_broken_rules("WorkersConfig", self.broken_rules(), self)
        return self

    def broken_rules(self) -> list[RuleBroken]:
        broken: list[RuleBroken] = []
        for key in ("tick_seconds", "recover_seconds"):
            value = getattr(self, key)
            if value not in _DIVISORS_OF_60:
                near = min(_DIVISORS_OF_60, key=lambda d: (abs(d - value), d))
                broken.append(
                    (
                        (key,),
                        f"{value} does not divide a minute: the periodic job runs at whole "
                        "seconds of each minute",
                        f"use one of {', '.join(map(str, _DIVISORS_OF_60))} (e.g. {near})",
                    )
                )
        least = MIN_HEARTBEATS_PER_STALL * self.heartbeat_seconds
        if self.stalled_seconds < least:
            broken.append(
                (
                    ("stalled_seconds",),
                    f"{self.stalled_seconds:g}s is less than {MIN_HEARTBEATS_PER_STALL} "
                    f"heartbeats ({self.heartbeat_seconds:g}s each): a busy worker would be "
                    "declared dead while it still polls, and a second poll of the same "
                    "provider could start",
                    f"raise stalled_seconds to at least {least:g}, or lower heartbeat_seconds",
                )
            )
        return broken


class SignupConfig(BaseModel):
    """``web.signup``: the resident sign-up pages and their abuse limits."""

    model_config = ConfigDict(extra="forbid")

    enabled: bool = True
    #: countries whose phone numbers may sign up for SMS (ISO codes); a short list keeps
    #: SMS-pumping fraud (sign-ups of premium numbers abroad) off the bill
    sms_countries: list[str] = Field(default_factory=lambda: ["US", "DE"])
    #: sign-up attempts per client IP address
    per_ip: RateLimitConfig = RateLimitConfig(count=20, per_seconds=60.0)
    #: sign-up attempts per phone number prefix (all but the last 4 digits)
    per_phone_prefix: RateLimitConfig = RateLimitConfig(count=5, per_seconds=3600.0)
    max_radius_miles: float = Field(50.0, gt=0)
    #: groups people may pre-register in (ids; their names in each language come from
    #: notifier/messaging/eligibility.py, else the id is shown, within the SMS budget)
    eligibility_groups: list[str] = Field(
        default_factory=lambda: ["65plus", "conditions", "senior_housing_staff"]
    )
    #: an hCaptcha/Turnstile-style siteverify URL; None (default) switches the CAPTCHA off
    captcha_verify_url: str | None = None
    captcha_secret: SecretStr | None = None
    captcha_site_key: str | None = None
    #: eligibility notices: recipients per wave and minutes between waves
    notice_wave_size: int = Field(500, ge=1)
    notice_wave_minutes: float = Field(10.0, ge=0)

    @model_validator(mode="after")
    def _rules(self) -> SignupConfig:
        raise_broken_rules("SignupConfig", self.broken_rules(), self)
        return self

    def broken_rules(self) -> list[RuleBroken]:
        """Every group's "your group can book now" text must be one SMS segment: an id
        without a label is shown as it is, so its length is bounded by that text's budget."""
        broken: list[RuleBroken] = []
        for index, group in enumerate(self.eligibility_groups):
            found = group_problem(group, self.max_radius_miles)
            if found is not None:
                broken.append((("eligibility_groups", index), *found))
        return broken


#: web.secret_key signs CSRF tokens and manage links; shorter keys are refused
MIN_SECRET_KEY_LENGTH = 16


class WebConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    host: str = "127.0.0.1"
    port: int = Field(8080, ge=1, le=65535)
    public_url: str = "http://127.0.0.1:8080"
    secret_key: SecretStr | None = None
    # A request body must arrive within body_timeout seconds and be at most max_body_bytes.
    body_timeout: float = Field(10.0, gt=0, le=300)
    max_body_bytes: int = Field(64 * 1024, ge=1024, le=16 * 1024 * 1024)
    #: bearer token of the admin API (``/admin/...``); None switches the API off
    admin_token: SecretStr | None = None
    signup: SignupConfig = SignupConfig()

    #: where the pre-rendered public pages, API files and feeds are written (and served
    #: from); default: a ``public`` folder beside the SQLite database (else the working dir)
    public_dir: Path | None = None

    def resident_pages_off(self) -> str | None:
        """Why the sign-up and manage pages are left out of the web app (None: served)."""
        if not self.signup.enabled:
            return "web.signup.enabled is false"
        secret = self.secret_key.get_secret_value() if self.secret_key is not None else ""
        if len(secret) < MIN_SECRET_KEY_LENGTH:
            return (
                f"web.secret_key is not set ({MIN_SECRET_KEY_LENGTH} characters or more, "
                "as ${NOTIFIER_SECRET_KEY})"
            )
        return None


#: apscheduler: one process schedules and sends (embedded default, SQLite or PostgreSQL);
#: procrastinate: any number of ``notifier worker`` processes share a PostgreSQL job queue
EngineName = Literal["apscheduler", "procrastinate"]


class Config(BaseModel):
    model_config = ConfigDict(extra="forbid")

    operator: OperatorConfig
    engine: EngineName = "apscheduler"
    database: DatabaseConfig = DatabaseConfig()
    #: multi-node mode: the worker processes and their job queue
    workers: WorkersConfig = WorkersConfig()
    #: how every channel's dispatcher claims and sends (both engines)
    delivery: DispatchSettings = DispatchSettings()
    http: HttpSettings = HttpSettings()
    alerts: AlertPolicy = AlertPolicy()
    providers: list[ProviderConfig] = Field(default_factory=list)
    channels: dict[str, ChannelConfig] = Field(default_factory=dict)
    #: where notices about the service itself go (``notifier.pipeline.ops_notices``)
    ops_notices: OpsNoticeSettings = Field(default_factory=OpsNoticeSettings)
    web: WebConfig = WebConfig()

    @model_validator(mode="after")
    def _rules(self) -> Config:
        raise_broken_rules("Config", self.broken_rules(), self)
        return self

    def broken_rules(self) -> list[RuleBroken]:
        """The rules between sections (each section checks its own fields)."""
        broken = [(("delivery", *where), p, f) for where, p, f in self.delivery.broken_rules()]
        pool = self.database.pool_size + self.database.max_overflow
        if self.engine == "procrastinate" and self.workers.concurrency > pool:
            broken.append(
                (
                    ("workers", "concurrency"),
                    f"{self.workers.concurrency} jobs at once need more database connections "
                    f"than the pool gives (database.pool_size + max_overflow = {pool})",
                    f"lower workers.concurrency to {pool}, or raise database.max_overflow",
                )
            )
        return broken

    def enabled_providers(self) -> list[ProviderConfig]:
        return [p for p in self.providers if p.enabled]

    def enabled_channels(self) -> dict[str, ChannelConfig]:
        return {name: c for name, c in self.channels.items() if c.enabled}


# --------------------------------------------------------------------------- errors


def _fix_for(error: ErrorDetails) -> str:
    kind = error["type"]
    if kind == CONFIG_RULE:
        return str((error.get("ctx") or {}).get("fix", "see the config reference in README.md"))
    if kind == "extra_forbidden":
        return "remove this key, or check its spelling against the config reference in README.md"
    if kind == "missing":
        return "add this key"
    if kind == "string_pattern_mismatch" and error["loc"][-1:] == ("id",):
        return "use lower-case letters, digits and dashes"
    if kind == "string_pattern_mismatch":
        return "write a value of the form the pattern above shows"
    if kind.startswith(("int", "float", "bool", "string")):
        return f"use a value of the right type ({kind.split('_')[0]})"
    if kind in ("greater_than", "greater_than_equal", "less_than_equal", "less_than"):
        return "use a value inside the allowed range"
    return "see the config reference in README.md"


def _problems_from(
    exc: ValidationError,
    file: str,
    lines: Lines,
    prefix: DataPath = (),
    skip: Sequence[DataPath] = (),
) -> list[ConfigProblem]:
    """Pydantic's errors with their lines; errors at or under a ``skip`` path are left out."""
    problems = []
    for error in exc.errors():
        loc = (*prefix, *error["loc"])
        if any(loc[: len(s)] == s for s in skip):
            continue  # an unset ${VAR} is reported once, by _check_env, naming the variable
        problems.append(
            ConfigProblem(file, _line_for(lines, loc), _where(loc), error["msg"], _fix_for(error))
        )
    return problems


# --------------------------------------------------------------------------- loading


def load_config(path: Path | str) -> Config:
    """Read, substitute and validate a config file; raises ``ConfigError`` listing every problem.

    All problems come out in one pass: what the file could not be read as (encoding, YAML,
    tags, duplicate keys), what does not validate, and every unset ``${VAR}``.
    """
    path = Path(path)
    file = str(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ConfigError(
            [
                ConfigProblem(
                    file,
                    None,
                    "file",
                    f"cannot read it ({exc.strerror})",
                    "pass --config PATH or create config.yaml from the example",
                )
            ]
        ) from None
    source = read_source(raw, file)
    problems = list(source.problems)
    if not source.parsed:
        raise ConfigError(problems)  # no structure to check when YAML itself failed
    data, lines, refs = source.data, source.lines, source.refs
    if not isinstance(data, dict):
        problems.append(
            ConfigProblem(
                file,
                1,
                "(top level)",
                "the file must be a mapping of sections",
                "start from the example config.yaml",
            )
        )
        raise ConfigError(problems)
    missing = [r.path for r in refs if r.missing]
    config: Config | None = None
    try:
        config = Config.model_validate(data)
    except ValidationError as exc:
        problems.extend(_problems_from(exc, file, lines, skip=missing))
    # These read the raw data, so they report even when the structure has errors.
    problems.extend(_check_plugins(data, file, lines, refs))
    problems.extend(_check_secrets(data, file, lines, refs))
    problems.extend(_check_env(data, file, refs))
    if config is not None:
        problems.extend(_check_engine(config, file, lines))
    if problems or config is None:
        raise ConfigError(problems)
    return config


def _check_plugins(
    data: dict[str, Any], file: str, lines: Lines, refs: list[EnvRef]
) -> Iterator[ConfigProblem]:
    """Scraper and channel names, their own settings, and the scrapers' minimum intervals."""
    missing_env = {r.path for r in refs if r.missing}
    providers = data.get("providers")
    seen: set[str] = set()
    for i, provider in enumerate(providers if isinstance(providers, list) else []):
        if not isinstance(provider, dict):
            continue
        where: DataPath = ("providers", i)
        provider_id = provider.get("id")
        if isinstance(provider_id, str) and provider_id in seen:
            yield ConfigProblem(
                file,
                _line_for(lines, (*where, "id")),
                _where((*where, "id")),
                f"provider id {provider_id!r} is used twice",
                "give every provider its own id",
            )
        seen.add(str(provider_id))
        if not isinstance(provider.get("scraper"), str):
            continue
        try:
            scraper = get_scraper(provider["scraper"])
        except KeyError as exc:
            yield ConfigProblem(
                file,
                _line_for(lines, (*where, "scraper")),
                _where((*where, "scraper")),
                str(exc.args[0]),
                "use a name from `notifier scraper list`",
            )
            continue
        yield from _validate_settings(
            scraper.Settings,
            provider.get("settings") or {},
            (*where, "settings"),
            file,
            lines,
            missing_env,
        )
        interval = provider.get("interval_seconds")
        if isinstance(interval, int | float) and 0 < interval < scraper.min_interval:
            yield ConfigProblem(
                file,
                _line_for(lines, (*where, "interval_seconds")),
                _where((*where, "interval_seconds")),
                f"{interval:g}s is below the {scraper.name} minimum of {scraper.min_interval:g}s",
                f"use at least {scraper.min_interval:g}: providers are overloaded on busy days",
            )
    channels = data.get("channels")
    for name, channel in (channels if isinstance(channels, dict) else {}).items():
        where = ("channels", name)
        try:
            channel_cls = get_channel(name)
        except KeyError as exc:
            yield ConfigProblem(
                file,
                _line_for(lines, where),
                _where(where),
                str(exc.args[0]),
                "use one of the channel names listed",
            )
            continue
        settings = channel.get("settings") if isinstance(channel, dict) else None
        yield from _validate_settings(
            channel_cls.Settings, settings or {}, (*where, "settings"), file, lines, missing_env
        )


def _validate_settings(
    model: type[BaseModel],
    settings: Any,
    where: DataPath,
    file: str,
    lines: Lines,
    missing_env: set[DataPath],
) -> Iterator[ConfigProblem]:
    try:
        model.model_validate(settings)
    except ValidationError as exc:
        yield from _problems_from(exc, file, lines, where, skip=sorted(missing_env, key=str))
    except Exception as exc:  # noqa: BLE001 - a plugin's validator that crashes is a config problem too, never a traceback
        yield ConfigProblem(
            file,
            _line_for(lines, where),
            _where(where),
            f"these settings are not accepted ({type(exc).__name__}: {exc})",
            "compare them with the settings in docs/providers.md or `notifier channels list`",
        )


def _section(data: dict[str, Any], path: DataPath) -> dict[str, Any]:
    """The provider or channel mapping that ``path`` lies in, or {} when it is in neither."""
    node: Any = data
    if path[:1] == ("providers",) and len(path) > 1:
        node = data.get("providers")
        node = node[path[1]] if isinstance(node, list) and isinstance(path[1], int) else None
    elif path[:1] == ("channels",) and len(path) > 1:
        node = data.get("channels")
        node = node.get(path[1]) if isinstance(node, dict) else None
    else:
        return {}
    return node if isinstance(node, dict) else {}


def _check_engine(
    config: Config, file: str, lines: dict[tuple[str | int, ...], int]
) -> Iterator[ConfigProblem]:
    """procrastinate keeps its job queue in PostgreSQL: it cannot run on SQLite."""
    url = EnvSettings().database_url or config.database.url
    if config.engine == "procrastinate" and not url.startswith(("postgresql", "postgres:")):
        yield ConfigProblem(
            file,
            _line_for(lines, ("engine",)),
            "engine",
            "engine: procrastinate needs PostgreSQL, but database.url is not a PostgreSQL URL",
            "set database.url to postgresql+psycopg://USER@HOST/DB (or NOTIFIER_DATABASE_URL),"
            " or use engine: apscheduler for the single-process SQLite setup",
        )


def _check_secrets(
    data: dict[str, Any], file: str, lines: Lines, refs: list[EnvRef]
) -> Iterator[ConfigProblem]:
    """Fields typed ``SecretStr`` must be ``${ENV}`` references, never written in the file."""
    referenced = {r.path for r in refs}
    channels = data.get("channels")
    for name, channel in (channels if isinstance(channels, dict) else {}).items():
        settings = channel.get("settings") if isinstance(channel, dict) else None
        if not isinstance(settings, dict):
            continue
        try:
            fields = get_channel(name).Settings.model_fields
        except KeyError:
            continue  # reported by _check_plugins
        for field_name, info in fields.items():
            path: DataPath = ("channels", name, "settings", field_name)
            secret = info.annotation is SecretStr or "SecretStr" in str(info.annotation)
            if secret and settings.get(field_name) is not None and path not in referenced:
                yield ConfigProblem(
                    file,
                    _line_for(lines, path),
                    _where(path),
                    "a secret is written in the file",
                    f"write ${{{name.upper()}_{field_name.upper()}}} and set that environment "
                    "variable",
                )
    web = data.get("web")
    for key, variable in (("secret_key", "NOTIFIER_SECRET_KEY"), ("admin_token", "ADMIN_TOKEN")):
        web_path: DataPath = ("web", key)
        if isinstance(web, dict) and web.get(key) and web_path not in referenced:
            yield ConfigProblem(
                file,
                _line_for(lines, web_path),
                f"web.{key}",
                "a secret is written in the file",
                f"write ${{{variable}}} and set that environment variable",
            )


def _check_env(data: dict[str, Any], file: str, refs: list[EnvRef]) -> Iterator[ConfigProblem]:
    """Every unset ``${VAR}``, by name, except in a disabled provider or channel."""
    for ref in refs:
        if not ref.missing or _section(data, ref.path).get("enabled") is False:
            continue  # a disabled provider or channel may leave its variables unset
        disable = ", or disable this section" if _section(data, ref.path) else ""
        yield ConfigProblem(
            file,
            ref.line,
            _where(ref.path),
            f"environment variable {ref.var} is not set",
            f"set {ref.var}, or write ${{{ref.var}:-default}}{disable}",
        )
