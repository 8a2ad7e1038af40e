"""Responses with validators: ETag, Last-Modified, Cache-Control, and the 304 decision."""

from __future__ import annotations

import datetime as dt
import email.utils
import hashlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

__all__ = ["Content", "etag_for", "http_date", "is_not_modified"]

HTML = "text/html; charset=utf-8"
JSON = "application/json; charset=utf-8"
NDJSON = "application/x-ndjson; charset=utf-8"


@dataclass(frozen=True, slots=True)
class Content:
    """A body the simulator can serve; ``site_ids`` are the sites whose changes it shows."""

    body: bytes
    content_type: str
    status: int = 200
    last_modified: dt.datetime | None = None
    site_ids: tuple[str, ...] = ()
    cacheable: bool = True
    headers: Mapping[str, str] = field(default_factory=dict)

    @property
    def etag(self) -> str:
        return etag_for(self.body)


def etag_for(body: bytes) -> str:
    # Weak, like the Rails ETags PrepMod sent (W/"ea8b..."): same meaning, not same bytes.
    return f'W/"{hashlib.sha1(body, usedforsecurity=False).hexdigest()}"'


def http_date(moment: dt.datetime) -> str:
    return email.utils.format_datetime(moment.astimezone(dt.UTC).replace(microsecond=0), True)


def _opaque(tag: str) -> str:
    tag = tag.strip()
    return tag[2:] if tag.startswith("W/") else tag


def is_not_modified(
    headers: Mapping[str, str],
    content: Content,
    changes_in_second: Callable[[dt.datetime], int],
) -> bool:
    """Whether a conditional GET may get 304 (RFC 9110: If-None-Match wins over the date).

    Last-Modified has one-second resolution while the simulator changes several times a
    second, so a date-only request is answered 304 only when at most one change fell in the
    second it names; otherwise the client might hold the first of two changes in that second.
    """
    if_none_match = headers.get("if-none-match")
    if if_none_match is not None:
        tags = [t for t in if_none_match.split(",") if t.strip()]
        if any(t.strip() == "*" for t in tags):
            return True
        return any(_opaque(t) == _opaque(content.etag) for t in tags)
    if_modified_since = headers.get("if-modified-since")
    if not if_modified_since or content.last_modified is None:
        return False
    try:
        since = email.utils.parsedate_to_datetime(if_modified_since)
    except (TypeError, ValueError):
        return False  # an unparseable date is ignored, as the RFC says
    if since.tzinfo is None:
        since = since.replace(tzinfo=dt.UTC)
    modified = content.last_modified.astimezone(dt.UTC).replace(microsecond=0)
    if modified > since:
        return False
    return modified < since or changes_in_second(modified) <= 1
