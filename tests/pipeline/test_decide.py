"""Property tests of the poll decision (pure), as test_diff does for the diff it builds on."""

from __future__ import annotations

import datetime as dt
from dataclasses import replace

from hypothesis import given
from hypothesis import strategies as st

from notifier.db.poll import KnownLocation, PollContext, ProviderHealth
from notifier.model import LocationAvailability, Status
from notifier.pipeline.backoff import BackoffPolicy
from notifier.pipeline.coordinator import PollOutcome
from notifier.pipeline.decide import PollDecision, decide_poll, health_transition
from tests.pipeline.test_diff import IDS, NOW, POLICY, polls

BACKOFF = BackoffPolicy(interval=60)
FAILURES = ["unreachable", "blocked", "unparseable", "upstream_error"]


@st.composite
def contexts(draw: st.DrawFn) -> PollContext:
    known = {}
    for loc_id, item in draw(polls()):
        if item.status is not Status.UNKNOWN:
            alerted = draw(st.one_of(st.none(), st.integers(0, 60)))
            last = NOW - dt.timedelta(minutes=alerted) if alerted is not None else None
            known[loc_id] = KnownLocation(item.status, item.appointments, last)
    return PollContext(
        "p",
        baseline_at=draw(st.sampled_from([None, NOW - dt.timedelta(days=1)])),
        held_since=draw(st.sampled_from([None, NOW - dt.timedelta(minutes=1)])),
        known=known,
        open_episodes=frozenset(draw(st.lists(st.sampled_from(IDS), unique=True))),
        health=ProviderHealth(consecutive_failures=draw(st.integers(0, 10))),
    )


def ok(pairs: list[tuple[str, LocationAvailability]]) -> PollOutcome:
    return PollOutcome("p", NOW, 10, [item for _, item in pairs], "ok", 200, requests=1)


def decide(
    context: PollContext,
    outcome: PollOutcome,
    pairs: list[tuple[str, LocationAvailability]] | None,
) -> PollDecision:
    return decide_poll(
        context, outcome, pairs, scraper="s", alerts=POLICY, backoff=BACKOFF, now=NOW
    )


@given(contexts(), polls(), st.sampled_from([*FAILURES, "unchanged"]))
def test_an_unknown_poll_changes_nothing_and_alerts_nobody(
    context: PollContext, pairs: list, kind: str
) -> None:
    failed = PollOutcome("p", NOW, 10, None, kind, 500, error="boom", requests=1)
    decision = decide(context, failed, None)
    write = decision.write
    assert write.accepted is None and not write.clear_held
    assert write.alerts == [] or write.alerts == ()
    assert not write.events
    if kind != "unchanged":
        assert not write.wave_moves
    assert write.run.outcome == kind


@given(contexts())
def test_an_unchanged_poll_moves_waves_as_the_stored_state_says(context: PollContext) -> None:
    unchanged = PollOutcome("p", NOW, 10, None, "unchanged", 304, requests=1)
    moves = {m.location_id: m for m in decide(context, unchanged, None).write.wave_moves}
    expected = {loc for loc in context.open_episodes if loc in context.known}
    assert set(moves) == expected
    for loc_id, move in moves.items():
        known = context.known[loc_id]
        assert move.still_open == (known.status is Status.AVAILABLE)
        assert move.appointments == (known.appointments if move.still_open else None)


@given(contexts(), polls())
def test_only_unknown_locations_change_nothing(context: PollContext, pairs: list) -> None:
    unknown = [
        (loc_id, LocationAvailability(location=item.location, status=Status.UNKNOWN))
        for loc_id, item in pairs
    ]
    decision = decide(context, ok(unknown), unknown)
    assert not decision.write.alerts
    assert not [c for c in decision.changes if c.location_id in dict(unknown)]
    # Unknown keeps held waves waiting: nothing released, nothing cancelled on its word.
    assert {m.location_id for m in decision.write.wave_moves}.isdisjoint(dict(unknown))


@given(contexts(), polls())
def test_deciding_twice_gives_the_same_decision(context: PollContext, pairs: list) -> None:
    assert decide(context, ok(pairs), pairs) == decide(context, ok(pairs), pairs)


@given(contexts(), polls())
def test_a_held_poll_writes_no_state_alerts_events_or_wave_moves(
    context: PollContext, pairs: list
) -> None:
    decision = decide(context, ok(pairs), pairs)
    if decision.held is None:
        return
    write = decision.write
    assert decision.outcome == "held" and write.run.outcome == "held"
    assert write.accepted is None and not write.alerts and not write.events
    assert not write.wave_moves and not write.clear_held
    assert decision.newly_held == (context.held_since is None)


@given(contexts(), polls())
def test_every_alert_has_its_change_event(context: PollContext, pairs: list) -> None:
    write = decide(context, ok(pairs), pairs).write
    events = {(e.location_id, e.kind) for e in write.events}
    for alert in write.alerts:
        assert (alert.location.id, alert.kind) in events
        assert alert.detected_at == NOW and alert.expires_at > NOW


@given(contexts(), polls())
def test_waves_move_only_where_this_poll_knows_the_location(
    context: PollContext, pairs: list
) -> None:
    decision = decide(context, ok(pairs), pairs)
    if decision.held is not None:
        return
    current = dict(pairs)
    alerted = {a.location.id for a in decision.write.alerts}
    for move in decision.write.wave_moves:
        assert move.location_id in context.open_episodes
        assert move.location_id not in alerted  # the new alert continues the episode itself
        item = current.get(move.location_id)
        assert item is None or item.status is not Status.UNKNOWN
        assert move.still_open == (item is not None and item.status is Status.AVAILABLE)
        if move.still_open and item is not None:
            assert move.appointments == item.appointments


@given(contexts(), polls(), st.sampled_from(FAILURES))
def test_a_failure_counts_and_a_success_resets(
    context: PollContext, pairs: list, kind: str
) -> None:
    failed = decide(context, PollOutcome("p", NOW, 1, None, kind, requests=1), None)
    assert failed.write.health is not None
    assert failed.write.health.consecutive_failures == context.health.consecutive_failures + 1
    succeeded = decide(context, ok(pairs), pairs)
    assert succeeded.write.health is not None
    assert succeeded.write.health.consecutive_failures == 0


@given(contexts(), polls(), st.sampled_from([*FAILURES, "unchanged", "ok"]), st.booleans())
def test_a_transition_is_the_stored_health_before_and_after(
    context: PollContext, pairs: list, kind: str, was_down: bool
) -> None:
    """Down exactly when a healthy provider fails, recovered exactly when a down one answers
    (unchanged, partial or held all count): derived from the context read in the poll's own
    transaction, so only the poll that commits the change sees it."""
    since = NOW - dt.timedelta(minutes=30)
    context = replace(
        context,
        health=ProviderHealth(
            consecutive_failures=3 if was_down else 0, down_since=since if was_down else None
        ),
    )
    if kind == "ok":
        decision = decide(context, ok(pairs), pairs)
    else:
        failed = PollOutcome("p", NOW, 10, None, kind, 500, error="boom", requests=1)
        decision = decide(context, failed, None)
    failing = kind in FAILURES
    health = decision.write.health
    assert health is not None
    if failing and not was_down:
        assert decision.transition == "down" and decision.down_since == NOW
    elif was_down and not failing:
        assert decision.transition == "recovered" and decision.down_since == since
    else:
        assert decision.transition is None
    assert health.down_since == (None if not failing else since if was_down else NOW)
    assert health_transition(context.health, health) == decision.transition
