"""The task functions of the pipeline: poll a provider, then dispatch a channel's outbox.

They take a ``Runtime`` (everything built once per process from the config) and a plain id,
so the same functions run in-process under APScheduler today and can be registered as
procrastinate tasks in a scaled-out deployment tomorrow.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from dataclasses import dataclass, replace

from sqlalchemy import Connection, func, select

from notifier.db import fanout, store
from notifier.db.engine import write_transaction
from notifier.db.tables import DeliveryState, alert_table, delivery_table, provider_state_table
from notifier.model import Alert, LocationAvailability, Status, merge_availability
from notifier.pipeline.coordinator import PollOutcome, ProviderCoordinator
from notifier.pipeline.diff import Change, DiffResult, KnownState, diff_provider
from notifier.pipeline.runtime import Runtime
from notifier.scraping import Scraper

__all__ = ["PollSummary", "Runtime", "by_site", "dispatch_channel", "poll_provider", "record_poll"]

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class PollSummary:
    provider_id: str
    outcome: str
    locations: int
    alerts: tuple[int, ...]
    changes: tuple[Change, ...] = ()
    held: str | None = None
    baseline: bool = False


# --------------------------------------------------------------------------- tasks


async def poll_provider(runtime: Runtime, provider_id: str) -> PollSummary:
    """Poll one provider, diff, and write alerts with their whole outbox in one transaction."""
    coordinator = runtime.coordinators[provider_id]
    outcome = await coordinator.poll()
    summary = await asyncio.to_thread(record_poll, runtime, coordinator, outcome)
    if coordinator.transition == "down":
        await runtime.ops_notices.provider_down(provider_id, outcome.outcome, outcome.error or "")
    elif coordinator.transition == "recovered":
        await runtime.ops_notices.provider_recovered(provider_id)
    if summary.alerts:
        for dispatcher in runtime.dispatchers.values():
            dispatcher.wake.set()
    for listener in runtime.on_poll:
        listener(summary)
    return summary


async def dispatch_channel(runtime: Runtime, channel: str) -> int:
    """Send one batch of a channel's due deliveries; returns how many were handled."""
    return await runtime.dispatchers[channel].run_once()


# --------------------------------------------------------------------------- recording


def record_poll(
    runtime: Runtime, coordinator: ProviderCoordinator, outcome: PollOutcome
) -> PollSummary:
    """Store a poll's outcome and act on its diff. Runs in a worker thread."""
    provider_id = outcome.provider_id
    scraper_name = coordinator.scraper.name
    now = dt.datetime.now(dt.UTC)
    run = store.PollRunRecord(
        started_at=outcome.started_at,
        duration_ms=outcome.duration_ms,
        http_status=outcome.http_status,
        bytes=outcome.bytes,
        outcome=outcome.outcome,
        error=outcome.error,
        locations=len(outcome.results) if outcome.results is not None else None,
    )
    with write_transaction(runtime.engine) as conn:
        if outcome.results is None:
            # Unknown (or unchanged): the last good state stands; only the run is recorded.
            store.save_poll(conn, provider_id, scraper_name, run, None, now)
            return PollSummary(provider_id, outcome.outcome, 0, ())
        pairs = by_site(provider_id, coordinator.scraper, outcome.results)
        state = _provider_state(conn, provider_id)
        previous = _known_states(conn, provider_id)
        result = diff_provider(
            previous,
            pairs,
            runtime.config.alerts,
            now,
            first_poll=state.get("baseline_at") is None,
            confirming_hold=state.get("held_since") is not None,
        )
        if result.held:
            held_run = replace(run, outcome="held", error=result.held)
            store.save_poll(conn, provider_id, scraper_name, held_run, None, now)
            if state.get("held_since") is None:
                log.warning("provider %s held for confirmation: %s", provider_id, result.held)
            return PollSummary(provider_id, "held", len(pairs), (), held=result.held)
        accepted = set(result.accepted)
        store.save_poll(
            conn, provider_id, scraper_name, run, [p for p in pairs if p[0] in accepted], now
        )
        store.clear_held(conn, provider_id)  # save_poll recorded the baseline, if this was it
        # Waves of earlier alerts move first, so this poll's new alerts start at wave one.
        _advance_waves(conn, provider_id, pairs, now)
        alert_ids = _write_alerts(runtime, conn, provider_id, result, now)
        return PollSummary(
            provider_id,
            outcome.outcome,
            len(pairs),
            tuple(alert_ids),
            result.changes,
            baseline=result.baseline,
        )


def by_site(
    provider_id: str, scraper: Scraper, results: list[LocationAvailability]
) -> list[tuple[str, LocationAvailability]]:
    """Results keyed by stored place id; a place's clinics (one per date) merge into one.

    Products and age groups of a full clinic are dropped first: an alert about a place should
    name what can still be booked there.
    """
    keyed = [
        replace(
            r,
            location=replace(r.location, id=scraper.site_key(r.location)),
            products=r.products if r.status is Status.AVAILABLE else (),
            age_groups=r.age_groups if r.status is Status.AVAILABLE else (),
        )
        for r in results
    ]
    return [(f"{provider_id}:{r.location.id}", r) for r in merge_availability(keyed)]


def _provider_state(conn: Connection, provider_id: str) -> dict[str, object]:
    t = provider_state_table
    row = conn.execute(
        select(t.c.baseline_at, t.c.held_since).where(t.c.provider_id == provider_id)
    ).first()
    return dict(row._mapping) if row else {}


def _known_states(conn: Connection, provider_id: str) -> dict[str, KnownState]:
    a = alert_table
    last_alerts = dict(
        conn.execute(
            select(a.c.location_id, func.max(a.c.detected_at))
            .where(a.c.provider_id == provider_id)
            .group_by(a.c.location_id)
        ).all()
    )
    return {
        loc_id: KnownState(stored.status, stored.appointments, last_alerts.get(loc_id))
        for loc_id, stored in store.load_current(conn, provider_id).items()
        if stored.status is not Status.UNKNOWN
    }


def _write_alerts(
    runtime: Runtime, conn: Connection, provider_id: str, result: DiffResult, now: dt.datetime
) -> list[int]:
    ttl = dt.timedelta(minutes=runtime.config.alerts.ttl_minutes)
    ids = []
    events = []
    for change in result.changes:
        item = change.current
        events.append(
            store.EventRecord(
                location_id=change.location_id,
                provider_id=provider_id,
                kind=change.kind,
                appointments=item.appointments if item else 0,
                at=now,
            )
        )
        if not change.alert or item is None:
            continue
        alert = _alert_for(provider_id, change.location_id, change, item, now, ttl)
        written = fanout.write_alert(
            conn, alert, channels=runtime.plans, published_at=item.valid_at
        )
        ids.append(written.alert_id)
    if events:
        store.record_events(conn, events)
    return ids


def _alert_for(
    provider_id: str,
    location_id: str,
    change: Change,
    item: LocationAvailability,
    now: dt.datetime,
    ttl: dt.timedelta,
) -> Alert:
    return Alert(
        provider_id=provider_id,
        location=replace(item.location, id=location_id),
        kind=change.kind,
        appointments=item.appointments,
        increase=change.increase,
        by_date=dict(item.by_date),
        products=item.products,
        age_groups=item.age_groups,
        detected_at=now,
        expires_at=now + ttl,
        valid_at=item.valid_at,
    )


def _advance_waves(
    conn: Connection,
    provider_id: str,
    pairs: list[tuple[str, LocationAvailability]],
    now: dt.datetime,
) -> None:
    """Release the next SMS/email wave only where this poll still shows openings."""
    a, d = alert_table, delivery_table
    waiting = set(
        conn.execute(
            select(a.c.location_id)
            .distinct()
            .join(d, d.c.alert_id == a.c.id)
            .where(a.c.provider_id == provider_id, d.c.state == DeliveryState.HELD.value)
        ).scalars()
    )
    current = dict(pairs)
    for loc_id in waiting:
        item = current.get(loc_id)
        if item is None or item.status is not Status.UNKNOWN:
            still_open = item is not None and item.status is Status.AVAILABLE
            fanout.advance_waves(conn, loc_id, still_open=still_open, now=now)
