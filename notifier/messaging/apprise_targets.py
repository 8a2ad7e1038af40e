"""Apprise URLs as configuration, shared by the Apprise channel and the operator notifier.

An Apprise URL (``tgram://BOT_TOKEN/CHAT_ID``, ``mastodon://TOKEN@host``, ``discord://ID/TOKEN``,
``ntfy://host/topic``, ``json://host/path`` ...) holds the service's credentials, so it is a
``SecretStr``: write it in config.yaml as ``${ENV_VAR}``. It is checked when the config is read
(an unknown scheme or a malformed URL is a config error that never echoes the URL), and logs
and the CLI name a target by its label or Apprise's privacy-masked URL.

A target is written either as a bare URL or as a mapping::

    targets:
      - ${NTFY_URL}
      - url: ${TELEGRAM_MA_URL}
        label: telegram-ma
"""

from __future__ import annotations

import logging
from typing import Any

import apprise
from pydantic import BaseModel, ConfigDict, SecretStr, field_validator, model_validator

__all__ = ["AppriseTarget", "load_plugin", "notify_blocking", "privacy_url"]

log = logging.getLogger(__name__)


def load_plugin(url: str) -> Any:
    """The Apprise plugin instance for ``url``; ``ValueError`` (without the URL) if unusable."""
    scheme = url.split("://", 1)[0].strip() if "://" in url else ""
    if not scheme:
        raise ValueError("not an Apprise URL: it needs a scheme such as tgram:// or json://")
    plugin = apprise.Apprise.instantiate(url.strip(), suppress_exceptions=True)
    if plugin is None:
        raise ValueError(
            f"Apprise cannot use this {scheme}:// URL (unknown service, or a token or id is "
            "missing or malformed); see https://github.com/caronc/apprise/wiki"
        )
    return plugin


def privacy_url(plugin: Any) -> str:
    """Apprise's own rendering of the URL with its secrets masked, without the query string."""
    try:
        return str(plugin.url(privacy=True)).split("?", 1)[0]
    except Exception:  # noqa: BLE001 - a display helper must never break a command
        return str(getattr(plugin, "service_name", "apprise"))


def notify_blocking(plugin: Any, *, body: str, title: str = "") -> bool:
    """Send one plain-text notification (blocking). False for any failure; never raises."""
    try:
        return bool(
            plugin.notify(
                body=body,
                title=title,
                notify_type=apprise.NotifyType.INFO,
                body_format=apprise.NotifyFormat.TEXT,
            )
        )
    except Exception as exc:  # noqa: BLE001 - a plugin bug is a failed send, not a crash
        log.warning(
            "apprise %s raised %s instead of reporting a failure",
            getattr(plugin, "service_name", "plugin"),
            type(exc).__name__,
        )
        return False


class AppriseTarget(BaseModel):
    """One Apprise URL, with an optional label for logs and the CLI."""

    model_config = ConfigDict(extra="forbid", hide_input_in_errors=True)

    url: SecretStr
    #: how logs and ``notifier channels list`` name this target (the URL holds secrets)
    label: str | None = None

    @model_validator(mode="before")
    @classmethod
    def _bare_url(cls, data: Any) -> Any:
        if data is None:  # an unset ${VAR} written as a bare target
            raise ValueError("the target is empty: is its ${ENV_VAR} set?")
        return {"url": data} if isinstance(data, str) else data

    @field_validator("url")
    @classmethod
    def _usable(cls, value: SecretStr) -> SecretStr:
        load_plugin(value.get_secret_value())
        return value

    def plugin(self) -> Any:
        return load_plugin(self.url.get_secret_value())
