"""``/healthz`` (readiness: database and every provider's last good poll) and
``/healthz/live`` (liveness: the process answers; no I/O, so it stays cheap under load).

Readiness is honest about providers: one that is down, or whose last good poll is older than
three of its intervals (at least two minutes), makes ``/healthz`` answer 503 naming it, so a
20-minute outage can no longer hide behind "ok". Load balancers should route on
``/healthz/live``; monitors alert on ``/healthz``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from fastapi import FastAPI
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError

from notifier.config import Config
from notifier.db.public import ProviderRow, load_provider_rows

__all__ = ["provider_health", "register_health", "stale_after"]

DEFAULT_INTERVAL = 300.0
MIN_STALE_SECONDS = 120.0
_NO_STORE = {"Cache-Control": "no-store"}


def stale_after(interval_seconds: float) -> dt.timedelta:
    return dt.timedelta(seconds=max(3 * interval_seconds, MIN_STALE_SECONDS))


def expected_intervals(config: Config | None) -> dict[str, float]:
    """Poll interval of each enabled provider (the scraper's default when not configured)."""
    if config is None:
        return {}
    from notifier.scraping import get_scraper

    intervals = {}
    for provider in config.enabled_providers():
        try:
            scraper = get_scraper(provider.scraper)
        except KeyError:
            intervals[provider.id] = provider.interval_seconds or DEFAULT_INTERVAL
            continue
        if scraper.broken:
            continue  # skipped by the service; it has its own operator notice
        configured = provider.interval_seconds or scraper.default_interval
        intervals[provider.id] = max(configured, scraper.min_interval)
    return intervals


def provider_health(
    rows: Sequence[ProviderRow], intervals: Mapping[str, float], now: dt.datetime
) -> dict[str, dict[str, Any]]:
    """Each provider's state: ``ok``, ``down``, ``stale`` or ``never polled``. Pure."""
    by_id = {row.provider_id: row for row in rows}
    report: dict[str, dict[str, Any]] = {}
    for provider_id in sorted(set(by_id) | set(intervals)):
        row = by_id.get(provider_id)
        interval = intervals.get(provider_id, DEFAULT_INTERVAL)
        last = row.last_success_at if row else None
        entry: dict[str, Any] = {
            "last_success_at": last.isoformat() if last else None,
            "age_seconds": round((now - last).total_seconds(), 1) if last else None,
        }
        if row is not None and row.down_since is not None:
            entry["state"] = "down"
            entry["down_since"] = row.down_since.isoformat()
            entry["error"] = row.last_error_kind
        elif last is None:
            entry["state"] = "never polled"
        elif now - last > stale_after(interval):
            entry["state"] = "stale"
        else:
            entry["state"] = "ok"
        report[provider_id] = entry
    return report


def register_health(
    app: FastAPI,
    engine: Engine | None,
    config: Config | None,
    clock: Callable[[], dt.datetime] | None = None,
) -> None:
    intervals = expected_intervals(config)
    now = clock or (lambda: dt.datetime.now(dt.UTC))

    def check() -> tuple[bool, tuple[ProviderRow, ...]]:
        if engine is None:
            return True, ()
        try:
            with engine.connect() as conn:
                return True, load_provider_rows(conn)
        except SQLAlchemyError:
            return False, ()

    @app.get(
        "/healthz/live",
        summary="Liveness: the process answers (no I/O)",
        responses={200: {"description": "The process is up"}},
    )
    async def live() -> JSONResponse:
        return JSONResponse({"status": "ok"}, headers=_NO_STORE)

    @app.get(
        "/healthz",
        summary="Readiness: the database answers and no provider is down or stale",
        responses={
            200: {"description": "Ready; each provider with the age of its last good poll"},
            503: {"description": "The database is unreachable, or a provider is down or stale"},
        },
    )
    async def ready() -> JSONResponse:
        database_ok, rows = await run_in_threadpool(check)
        if not database_ok:
            return JSONResponse(
                {"status": "database unreachable"}, status_code=503, headers=_NO_STORE
            )
        if config is not None:  # a provider removed from the config no longer counts
            rows = tuple(row for row in rows if row.provider_id in intervals)
        providers = provider_health(rows, intervals, now())
        # A provider never polled since start is only a problem once it should have been.
        failing = sorted(
            name for name, entry in providers.items() if entry["state"] in ("down", "stale")
        )
        body: dict[str, Any] = {"status": "ok" if not failing else "degraded"}
        if providers:
            body["providers"] = providers
        if failing:
            body["failing"] = failing
        return JSONResponse(body, status_code=503 if failing else 200, headers=_NO_STORE)
