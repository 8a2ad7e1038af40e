"""What one poll means, decided purely: from what we knew and what the poll saw, what to write.

``decide_poll`` takes the context ``db.poll.load_poll_context`` read, the coordinator's
outcome, the alert and backoff policies and ``now``, and returns a ``PollDecision``: the run
record, the state to accept (if any), why the poll is held, the events and alerts to write,
which held waves to release or cancel, and the provider's next polling health. No I/O here;
``db.poll.write_poll`` writes it all in one transaction.

Whether the poll took the provider down or brought it back is read off the stored health
before and after (``health_transition``). The context is read in the transaction that writes
the decision, so the poll that commits a transition is the only one that sees it: in
multi-node mode one worker announces each outage and each recovery, whoever polled before.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, replace

from notifier.db.poll import PollContext, PollWrite, ProviderHealth, WaveMove
from notifier.db.store import EventRecord, PollRunRecord
from notifier.model import Alert, LocationAvailability, Status
from notifier.pipeline.backoff import BackoffPolicy, next_health
from notifier.pipeline.coordinator import PollOutcome
from notifier.pipeline.diff import AlertPolicy, Change, KnownState, diff_provider

__all__ = ["UNCHANGED", "PollDecision", "decide_poll", "health_transition"]

#: the coordinator's outcome for a page the source says has not changed (HTTP 304)
UNCHANGED = "unchanged"


@dataclass(frozen=True, slots=True)
class PollDecision:
    write: PollWrite
    outcome: str  # the outcome the run is recorded with ("held" for a held poll)
    locations: int
    changes: tuple[Change, ...] = ()
    held: str | None = None
    #: the hold starts with this poll (the one before was not held): worth a warning
    newly_held: bool = False
    baseline: bool = False
    #: "down" or "recovered" when this poll changes the provider's stored health, else None
    transition: str | None = None
    #: when the outage began: the new one ("down"), the one that ended ("recovered")
    down_since: dt.datetime | None = None


def health_transition(before: ProviderHealth, after: ProviderHealth) -> str | None:
    """ "down" when a healthy provider starts failing, "recovered" when a down one answers.

    A partial, unchanged or held poll is an answer: it ends an outage and never starts one
    (``pipeline.backoff.next_health`` keeps ``down_since`` only for failures)."""
    if before.down_since is None and after.down_since is not None:
        return "down"
    if before.down_since is not None and after.down_since is None:
        return "recovered"
    return None


def decide_poll(
    context: PollContext,
    outcome: PollOutcome,
    pairs: Sequence[tuple[str, LocationAvailability]] | None,
    *,
    scraper: str,
    alerts: AlertPolicy,
    backoff: BackoffPolicy,
    now: dt.datetime,
    rand: float = 0.0,
) -> PollDecision:
    """Decide one poll. ``pairs`` are the results keyed by stored location id (None: unknown).

    ``rand`` in [0, 1) spreads the backoff (the caller draws it, so this stays pure).
    """
    run = PollRunRecord(
        started_at=outcome.started_at,
        duration_ms=outcome.duration_ms,
        http_status=outcome.http_status,
        bytes=outcome.bytes,
        outcome=outcome.outcome,
        error=outcome.error,
        locations=len(outcome.results) if outcome.results is not None else None,
    )
    health = next_health(
        context.health,
        outcome=outcome.outcome,
        now=now,
        policy=backoff,
        retry_after=outcome.retry_after,
        source_delay=outcome.source_delay,
        requests=outcome.requests,
        attempts=outcome.attempts,
        rand=rand,
    )
    base = PollWrite(context.provider_id, scraper, run, now, health=health)
    transition = health_transition(context.health, health)
    down_since = health.down_since if transition == "down" else context.health.down_since
    if pairs is None:
        # Unknown (or unchanged): the last good state stands; only the run is recorded. An
        # unchanged page is as good as the last one: its open places release their next wave.
        if outcome.outcome == UNCHANGED:
            base = replace(base, wave_moves=_unchanged_wave_moves(context))
        return PollDecision(base, outcome.outcome, 0, transition=transition, down_since=down_since)

    partial = bool(outcome.unknown_scopes)
    previous = {
        loc_id: KnownState(known.status, known.appointments, known.last_alert_at)
        for loc_id, known in context.known.items()
    }
    result = diff_provider(
        previous,
        pairs,
        alerts,
        now,
        first_poll=context.baseline_at is None,
        confirming_hold=context.held_since is not None,
        partial=partial,
    )
    if result.held:
        held_run = replace(run, outcome="held", error=result.held)
        return PollDecision(
            replace(base, run=held_run),
            "held",
            len(pairs),
            held=result.held,
            newly_held=context.held_since is None,
            transition=transition,
            down_since=down_since,
        )
    accepted = set(result.accepted)
    ttl = dt.timedelta(minutes=alerts.ttl_minutes)
    write = replace(
        base,
        accepted=[p for p in pairs if p[0] in accepted],
        clear_held=True,
        # A partial poll moves only the waves of the locations it saw; the rest wait.
        wave_moves=_wave_moves(
            context.open_episodes & {k for k, _ in pairs} if partial else context.open_episodes,
            pairs,
            alerting={c.location_id for c in result.changes if c.alert},
        ),
        alerts=[
            _alert_for(context.provider_id, c, c.current, now, ttl)
            for c in result.changes
            if c.alert and c.current is not None
        ],
        events=[
            EventRecord(
                location_id=c.location_id,
                provider_id=context.provider_id,
                kind=c.kind,
                appointments=c.current.appointments if c.current else 0,
                at=now,
            )
            for c in result.changes
        ],
    )
    return PollDecision(
        write,
        outcome.outcome,
        len(pairs),
        result.changes,
        baseline=result.baseline,
        transition=transition,
        down_since=down_since,
    )


def _wave_moves(
    episodes: frozenset[str],
    pairs: Sequence[tuple[str, LocationAvailability]],
    *,
    alerting: set[str],
) -> list[WaveMove]:
    """Release the next SMS/email wave where this poll still shows openings, sized to the
    count it shows; end the episode where the place is full or gone.

    A location this poll could not read (unknown) keeps its waves waiting; one that gets a
    new alert in this poll is left to that alert, which continues the episode itself.
    """
    current = dict(pairs)
    moves = []
    for loc_id in sorted(episodes - alerting):
        item = current.get(loc_id)
        if item is None or item.status is not Status.UNKNOWN:
            still_open = item is not None and item.status is Status.AVAILABLE
            count = item.appointments if item is not None and still_open else None
            moves.append(WaveMove(loc_id, still_open, count))
    return moves


def _unchanged_wave_moves(context: PollContext) -> list[WaveMove]:
    """An unchanged page repeats the last good state: the stored one decides the waves."""
    moves = []
    for loc_id in sorted(context.open_episodes):
        known = context.known.get(loc_id)
        if known is None:
            continue  # nothing good known: like an unknown reading, the waves wait
        still_open = known.status is Status.AVAILABLE
        moves.append(WaveMove(loc_id, still_open, known.appointments if still_open else None))
    return moves


def _alert_for(
    provider_id: str,
    change: Change,
    item: LocationAvailability,
    now: dt.datetime,
    ttl: dt.timedelta,
) -> Alert:
    return Alert(
        provider_id=provider_id,
        location=replace(item.location, id=change.location_id),
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
