"""The registry of known SMART Scheduling Links publishers (``smart_publishers.yaml``).

The registry is package data shipped beside the scraper, read once and cached; it is not a
network fetch. Each entry gives a manifest URL and the publisher's known quirks, so a config
can say ``settings: {publisher: cvs, states: [MA]}`` instead of repeating them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from typing import Any
from urllib.parse import urlsplit

import yaml

__all__ = [
    "PUBLISHERS_FILE",
    "Publisher",
    "Quirks",
    "match_publisher",
    "publishers",
]

PUBLISHERS_FILE = "smart_publishers.yaml"


@dataclass(frozen=True, slots=True)
class Quirks:
    """Parser switches for one publisher; see the header of ``smart_publishers.yaml``."""

    capacity_is_flag: bool = False
    dates_as_written: bool = False
    honours_since: bool = False


@dataclass(frozen=True, slots=True)
class Publisher:
    key: str
    name: str
    manifest_url: str
    category: str = "production"
    states: tuple[str, ...] = ()
    headers: Mapping[str, str] = field(default_factory=dict)
    params: Mapping[str, str] = field(default_factory=dict)
    quirks: Quirks = Quirks()
    notes: tuple[str, ...] = ()


def _publisher(key: str, raw: Mapping[str, Any]) -> Publisher:
    quirks = raw.get("quirks") or {}
    unknown = set(quirks) - set(Quirks.__dataclass_fields__)
    if unknown:
        raise ValueError(f"{PUBLISHERS_FILE}: {key}: unknown quirks {sorted(unknown)}")
    return Publisher(
        key=key,
        name=str(raw["name"]),
        manifest_url=str(raw["manifest_url"]),
        category=str(raw.get("category", "production")),
        states=tuple(str(s).upper() for s in raw.get("states") or ()),
        headers={str(k): str(v) for k, v in (raw.get("headers") or {}).items()},
        params={str(k): str(v) for k, v in (raw.get("params") or {}).items()},
        quirks=Quirks(**{k: bool(v) for k, v in quirks.items()}),
        notes=tuple(str(n) for n in raw.get("notes") or ()),
    )


@lru_cache(maxsize=1)
def publishers() -> dict[str, Publisher]:
    """Every known publisher by key (read from the packaged YAML once)."""
    text = resources.files("scrapers").joinpath(PUBLISHERS_FILE).read_text(encoding="utf-8")
    data = yaml.safe_load(text) or {}
    return {str(key): _publisher(str(key), raw) for key, raw in data["publishers"].items()}


def _url_key(url: str) -> tuple[str, str]:
    try:
        parts = urlsplit(url.strip())
    except ValueError:
        return "", url
    return parts.netloc.lower(), parts.path.rstrip("/")


def match_publisher(url: str | None) -> Publisher | None:
    """The known publisher whose manifest URL is ``url`` (host and path; query ignored).

    Lets a recorded feed parsed without settings still get its publisher's quirks, from the
    manifest's own ``request`` field.
    """
    if not url:
        return None
    wanted = _url_key(url)
    for publisher in publishers().values():
        if _url_key(publisher.manifest_url) == wanted:
            return publisher
    return None
