"""``config.yaml``: loading, validation with pydantic, and errors a person can act on.

Every error names the file, the line, what is wrong and how to fix it. Secrets never sit in the
file: fields typed ``SecretStr`` must be written as ``${ENV_VAR}`` references, which are filled
from the environment when the file is read.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError
from pydantic_core import ErrorDetails
from pydantic_settings import BaseSettings, SettingsConfigDict

from notifier.channel import get_channel
from notifier.pipeline.diff import AlertPolicy
from notifier.pipeline.fetch import HttpSettings
from notifier.scraping import get_scraper

__all__ = [
    "ChannelConfig",
    "Config",
    "ConfigError",
    "ConfigProblem",
    "EnvSettings",
    "ProviderConfig",
    "load_config",
]

_ENV_REF = re.compile(r"^\$\{([A-Z_][A-Z0-9_]*)(?::-(.*))?\}$")


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
    #: first SMS/email wave = this many recipients per open appointment (None: everyone at once)
    wave_multiple: float | None = Field(None, gt=0)
    settings: dict[str, Any] = Field(default_factory=dict)


class OperatorConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = "Appointment Notifier"
    contact: str = Field(description="Email or URL a provider can reach you at (User-Agent).")


class DatabaseConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: str = "sqlite:///subscribers.db"


class WebConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    host: str = "127.0.0.1"
    port: int = Field(8080, ge=1, le=65535)
    public_url: str = "http://127.0.0.1:8080"
    secret_key: SecretStr | None = None
    #: where the pre-rendered public pages, API files and feeds are written (and served
    #: from); default: a ``public`` folder beside the SQLite database (else the working dir)
    public_dir: Path | None = None


class Config(BaseModel):
    model_config = ConfigDict(extra="forbid")

    operator: OperatorConfig
    database: DatabaseConfig = DatabaseConfig()
    http: HttpSettings = HttpSettings()
    alerts: AlertPolicy = AlertPolicy()
    providers: list[ProviderConfig] = Field(default_factory=list)
    channels: dict[str, ChannelConfig] = Field(default_factory=dict)
    web: WebConfig = WebConfig()

    def enabled_providers(self) -> list[ProviderConfig]:
        return [p for p in self.providers if p.enabled]

    def enabled_channels(self) -> dict[str, ChannelConfig]:
        return {name: c for name, c in self.channels.items() if c.enabled}


# --------------------------------------------------------------------------- errors


@dataclass(frozen=True, slots=True)
class ConfigProblem:
    file: str
    line: int | None
    where: str
    problem: str
    fix: str

    def __str__(self) -> str:
        place = f"{self.file}:{self.line}" if self.line else self.file
        return f"{place}: {self.where}: {self.problem}. Fix: {self.fix}"


class ConfigError(Exception):
    def __init__(self, problems: Sequence[ConfigProblem]) -> None:
        super().__init__("\n".join(str(p) for p in problems))
        self.problems = list(problems)


# --------------------------------------------------------------------------- YAML with lines


@dataclass
class _Ref:
    """A ``${VAR}`` reference seen in the file, and whether the environment filled it."""

    path: tuple[str | int, ...]
    var: str
    line: int
    missing: bool


def _to_python(
    node: yaml.Node,
    path: tuple[str | int, ...],
    lines: dict[tuple[str | int, ...], int],
    refs: list[_Ref],
) -> Any:
    lines[path] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        result: dict[str, Any] = {}
        for key_node, value_node in node.value:
            key = str(key_node.value)
            lines[(*path, key)] = key_node.start_mark.line + 1
            result[key] = _to_python(value_node, (*path, key), lines, refs)
            lines[(*path, key)] = key_node.start_mark.line + 1
        return result
    if isinstance(node, yaml.SequenceNode):
        return [_to_python(n, (*path, i), lines, refs) for i, n in enumerate(node.value)]
    assert isinstance(node, yaml.ScalarNode)
    if node.tag == "tag:yaml.org,2002:str" or node.style:
        match = _ENV_REF.match(node.value.strip())
        if match:
            var, default = match.group(1), match.group(2)
            value = os.environ.get(var, default)
            refs.append(_Ref(path, var, node.start_mark.line + 1, value is None))
            return value
        return node.value
    return yaml.safe_load(yaml.serialize(node))


def _line_for(lines: dict[tuple[str | int, ...], int], loc: Sequence[str | int]) -> int | None:
    path = tuple(loc)
    while path:
        if path in lines:
            return lines[path]
        path = path[:-1]
    return lines.get(())


def _where(loc: Sequence[str | int]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(top level)"


def _fix_for(error: ErrorDetails) -> str:
    kind = error["type"]
    if kind == "extra_forbidden":
        return "remove this key, or check its spelling against the config reference in README.md"
    if kind == "missing":
        return "add this key"
    if kind.startswith(("int", "float", "bool", "string")):
        return f"use a value of the right type ({kind.split('_')[0]})"
    if kind in ("greater_than", "greater_than_equal", "less_than_equal", "less_than"):
        return "use a value inside the allowed range"
    if kind == "string_pattern_mismatch":
        return "use lower-case letters, digits and dashes"
    return "see the config reference in README.md"


def _problems_from(
    exc: ValidationError,
    file: str,
    lines: dict[tuple[str | int, ...], int],
    prefix: tuple[str | int, ...] = (),
) -> list[ConfigProblem]:
    problems = []
    for error in exc.errors():
        loc = (*prefix, *error["loc"])
        problems.append(
            ConfigProblem(file, _line_for(lines, loc), _where(loc), error["msg"], _fix_for(error))
        )
    return problems


# --------------------------------------------------------------------------- loading


def load_config(path: Path | str) -> Config:
    """Read, substitute and validate a config file; raises ``ConfigError`` listing every problem."""
    path = Path(path)
    file = str(path)
    try:
        text = path.read_text()
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
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark else None
        reason = getattr(exc, "problem", None) or str(exc)
        raise ConfigError(
            [
                ConfigProblem(
                    file,
                    line,
                    "syntax",
                    f"not valid YAML ({reason})",
                    "check indentation and quoting on this line",
                )
            ]
        ) from None
    lines: dict[tuple[str | int, ...], int] = {}
    refs: list[_Ref] = []
    data = _to_python(root, (), lines, refs) if root is not None else {}
    if not isinstance(data, dict):
        raise ConfigError(
            [
                ConfigProblem(
                    file,
                    1,
                    "(top level)",
                    "the file must be a mapping of sections",
                    "start from the example config.yaml",
                )
            ]
        )
    problems: list[ConfigProblem] = []
    config: Config | None = None
    try:
        config = Config.model_validate(data)
    except ValidationError as exc:
        problems.extend(_problems_from(exc, file, lines))
    # Plugin checks read the raw data, so they report even when the structure has errors.
    problems.extend(_check_plugins(data, file, lines, refs))
    if config is not None:
        problems.extend(_check_secrets(config, data, file, lines, refs))
    if problems or config is None:
        raise ConfigError(problems)
    return config


def _check_plugins(
    data: dict[str, Any], file: str, lines: dict[tuple[str | int, ...], int], refs: list[_Ref]
) -> Iterator[ConfigProblem]:
    """Scraper and channel names, their own settings, and the scrapers' minimum intervals."""
    missing_env = {r.path for r in refs if r.missing}
    providers = data.get("providers")
    seen: set[str] = set()
    for i, provider in enumerate(providers if isinstance(providers, list) else []):
        if not isinstance(provider, dict):
            continue
        where: tuple[str | int, ...] = ("providers", i)
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
    where: tuple[str | int, ...],
    file: str,
    lines: dict[tuple[str | int, ...], int],
    missing_env: set[tuple[str | int, ...]],
) -> Iterator[ConfigProblem]:
    try:
        model.model_validate(settings)
    except ValidationError as exc:
        for problem, error in zip(
            _problems_from(exc, file, lines, where), exc.errors(), strict=True
        ):
            # An unset ${VAR} is reported once, by the secrets check, with its own fix.
            if (*where, *error["loc"]) not in missing_env:
                yield problem


def _check_secrets(
    config: Config,
    data: dict[str, Any],
    file: str,
    lines: dict[tuple[str | int, ...], int],
    refs: list[_Ref],
) -> Iterator[ConfigProblem]:
    referenced = {r.path for r in refs}
    for name, channel in config.channels.items():
        try:
            fields = get_channel(name).Settings.model_fields
        except KeyError:
            continue
        for field_name, info in fields.items():
            path: tuple[str | int, ...] = ("channels", name, "settings", field_name)
            secret = info.annotation is SecretStr or "SecretStr" in str(info.annotation)
            if secret and field_name in channel.settings and path not in referenced:
                yield ConfigProblem(
                    file,
                    _line_for(lines, path),
                    _where(path),
                    "a secret is written in the file",
                    f"write ${{{name.upper()}_{field_name.upper()}}} and set that environment "
                    "variable",
                )
    secret_key_path: tuple[str | int, ...] = ("web", "secret_key")
    if data.get("web", {}).get("secret_key") and secret_key_path not in referenced:
        yield ConfigProblem(
            file,
            _line_for(lines, secret_key_path),
            "web.secret_key",
            "a secret is written in the file",
            "write ${NOTIFIER_SECRET_KEY} and set that environment variable",
        )
    enabled = set(config.enabled_channels())
    for ref in refs:
        if not ref.missing:
            continue
        section = ref.path[1] if ref.path[:1] == ("channels",) and len(ref.path) > 1 else None
        if section is not None and section not in enabled:
            continue  # a disabled channel may leave its secrets unset
        yield ConfigProblem(
            file,
            ref.line,
            _where(ref.path),
            f"environment variable {ref.var} is not set",
            f"export {ref.var}=..., or disable this section",
        )
