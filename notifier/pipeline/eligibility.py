"""Opening an eligibility group (``notifier eligibility open`` and the admin API).

From the moment a group opens, its pre-registered members are matched by slot alerts, and
each gets one "you can book now" notice through their own channel, in waves, nearest to the
reference point first (a postal code's centre; without one, in sign-up order).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from sqlalchemy import Engine

from notifier.config import SignupConfig
from notifier.db import notices
from notifier.db.engine import write_transaction
from notifier.db.notices import GroupOpening
from notifier.geo import lookup_postal_code, normalize_postal_code

__all__ = ["open_eligibility"]


def open_eligibility(
    engine: Engine,
    group: str,
    *,
    settings: SignupConfig,
    postal_code: str | None = None,
    country: str = "US",
    regions: Sequence[str] = (),
    now: dt.datetime | None = None,
) -> GroupOpening:
    """Open ``group``; raises ValueError (with a message for a person) on bad input."""
    if group not in settings.eligibility_groups:
        known = ", ".join(settings.eligibility_groups) or "none configured"
        raise ValueError(f"unknown eligibility group {group!r}; known groups: {known}")
    reference = None
    if postal_code:
        code = normalize_postal_code(postal_code, country)
        place = lookup_postal_code(code, country) if code else None
        if place is None:
            raise ValueError(f"unknown postal code {postal_code!r} for {country}")
        reference = (place.lat, place.lon)
    with write_transaction(engine) as conn:
        return notices.open_group(
            conn,
            group,
            now=now or dt.datetime.now(dt.UTC),
            reference=reference,
            regions=regions,
            wave_size=settings.notice_wave_size,
            wave_interval=dt.timedelta(minutes=settings.notice_wave_minutes),
        )
