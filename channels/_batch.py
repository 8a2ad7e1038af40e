"""Helpers for channels that summarise a batch of alerts in one message (X, Apprise)."""

from __future__ import annotations

from collections.abc import Sequence

from notifier.model import Alert

__all__ = ["latest_per_location", "news_count"]


def news_count(alert: Alert) -> int:
    """The number a summary leads with: the increase, else the open total; -1 when unknown."""
    value = alert.increase if alert.increase is not None else alert.appointments
    return -1 if value is None else value


def latest_per_location(alerts: Sequence[Alert]) -> list[Alert]:
    """One alert per location, the latest: a batch may hold "opened" and a later "increased"
    for the same place, and counting both would double its appointments. Order: first seen."""
    latest: dict[str, Alert] = {}
    for alert in alerts:
        key = f"{alert.provider_id}:{alert.location.id}"
        kept = latest.get(key)
        if kept is None or (alert.detected_at, alert.id or 0) >= (kept.detected_at, kept.id or 0):
            latest[key] = alert
    return list(latest.values())
