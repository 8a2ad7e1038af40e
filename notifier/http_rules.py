"""HTTP rules every part of the project reads the same way (a contract module).

Scrapers, the polite client and the channels all meet servers that say "come back later". They
read that answer here, once, so a provider and a messaging service asking us to wait are
honoured alike.
"""

from __future__ import annotations

import datetime as dt
import email.utils
import math

__all__ = ["MAX_RETRY_AFTER_SECONDS", "parse_retry_after"]

#: The longest wait a server may impose through ``Retry-After``. A longer value is taken as
#: "a long time", not as a reason to go quiet for weeks: a typo or a hostile header must not
#: switch a provider or a channel off. A day covers X's 24-hour posting windows.
MAX_RETRY_AFTER_SECONDS = 86_400.0


def parse_retry_after(
    value: str | None,
    now: dt.datetime | None = None,
    *,
    cap: float = MAX_RETRY_AFTER_SECONDS,
) -> float | None:
    """Seconds to wait from a ``Retry-After`` header value, or None when it says nothing usable.

    Both forms of RFC 9110 are read: delta-seconds (``"120"``) and an HTTP date
    (``"Wed, 21 Oct 2015 07:28:00 GMT"``, measured from ``now``, default the current time).
    A negative number or a date in the past means "now" (0); the result never exceeds ``cap``.
    Anything else (empty, garbage, NaN, an unreadable date) is None: the caller's own back-off
    decides then, as if the header were absent.
    """
    if value is None:
        return None
    text = value.strip()
    if not text:
        return None
    seconds = _delta_seconds(text)
    if seconds is None:
        when = _http_date(text)
        if when is None:
            return None
        seconds = (when - (now or dt.datetime.now(dt.UTC))).total_seconds()
    return min(max(0.0, seconds), cap)


def _delta_seconds(text: str) -> float | None:
    # The RFC allows digits only; servers also send "-1" and "1.5", which mean the obvious.
    try:
        seconds = float(text)
    except ValueError:
        return None
    return seconds if math.isfinite(seconds) else None


def _http_date(text: str) -> dt.datetime | None:
    try:
        when = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    return when if when.tzinfo is not None else when.replace(tzinfo=dt.UTC)
