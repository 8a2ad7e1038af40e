"""Property tests of the diff and alert policy (pure functions)."""

from __future__ import annotations

import datetime as dt

from hypothesis import given, settings
from hypothesis import strategies as st

from notifier.model import Location, LocationAvailability, Status
from notifier.pipeline.diff import KnownState, diff_provider
from notifier.policies import AlertPolicy, SanityPolicy

NOW = dt.datetime(2021, 2, 18, 13, 0, tzinfo=dt.UTC)
POLICY = AlertPolicy(min_increase=10, min_appointments=1, cooldown_minutes=10)
IDS = [f"p:{i}" for i in range(6)]


def avail(loc_id: str, status: Status, n: int | None) -> LocationAvailability:
    return LocationAvailability(
        location=Location(id=loc_id, name=loc_id),
        status=status,
        appointments=n if status is not Status.UNKNOWN else None,
        by_date={dt.date(2021, 2, 25): n} if status is Status.AVAILABLE else {},
    )


statuses = st.sampled_from([Status.AVAILABLE, Status.NONE, Status.UNKNOWN])
counts = st.integers(min_value=1, max_value=5_000)


@st.composite
def polls(draw: st.DrawFn) -> list[tuple[str, LocationAvailability]]:
    ids = draw(st.lists(st.sampled_from(IDS), unique=True, max_size=len(IDS)))
    out = []
    for loc_id in ids:
        status = draw(statuses)
        out.append(
            (loc_id, avail(loc_id, status, draw(counts) if status is Status.AVAILABLE else 0))
        )
    return out


def state_of(poll: list[tuple[str, LocationAvailability]]) -> dict[str, KnownState]:
    return {
        loc_id: KnownState(item.status, item.appointments)
        for loc_id, item in poll
        if item.status is not Status.UNKNOWN
    }


def apply(
    state: dict[str, KnownState], poll: list[tuple[str, LocationAvailability]], now: dt.datetime
) -> tuple[dict[str, KnownState], int]:
    """What the pipeline does with a diff: store accepted results, remember alert times."""
    result = diff_provider(state, poll, POLICY, now, first_poll=False, confirming_hold=True)
    alerted = {c.location_id for c in result.alerts}
    new = dict(state)
    items = dict(poll)
    for loc_id in result.accepted:
        item = items[loc_id]
        last = (
            now if loc_id in alerted else (state[loc_id].last_alert_at if loc_id in state else None)
        )
        new[loc_id] = KnownState(item.status, item.appointments, last)
    return new, len(alerted)


@given(polls(), polls())
def test_unknown_never_alerts(before: list, after: list) -> None:
    unknown_only = [(k, avail(k, Status.UNKNOWN, None)) for k, _ in after]
    result = diff_provider(state_of(before), unknown_only, POLICY, NOW, first_poll=False)
    assert result.alerts == ()
    assert result.accepted == ()


@given(polls())
def test_same_availability_twice_is_not_news(poll: list) -> None:
    result = diff_provider(state_of(poll), poll, POLICY, NOW, first_poll=False)
    assert result.changes == ()


@given(polls(), polls())
def test_coming_back_from_unknown_with_same_availability_raises_no_alert(
    first: list, outage: list
) -> None:
    state, _ = apply({}, first, NOW)
    broken = [(k, avail(k, Status.UNKNOWN, None)) for k, _ in outage]
    state, alerts_during_outage = apply(state, broken, NOW + dt.timedelta(minutes=30))
    assert alerts_during_outage == 0
    _, alerts_after = apply(state, first, NOW + dt.timedelta(minutes=60))
    assert alerts_after == 0


@given(polls())
def test_first_poll_sets_baseline_without_alerts(poll: list) -> None:
    result = diff_provider({}, poll, POLICY, NOW, first_poll=True)
    assert result.baseline and result.alerts == ()
    assert set(result.accepted) == {k for k, v in poll if v.status is not Status.UNKNOWN}
    loud = diff_provider(
        {}, poll, POLICY.model_copy(update={"alert_on_first_poll": True}), NOW, first_poll=True
    )
    assert {c.location_id for c in loud.alerts} == {
        k for k, v in poll if v.status is Status.AVAILABLE
    }


@given(polls(), polls())
@settings(max_examples=200)
def test_alerts_only_for_openings_and_big_enough_rises(before: list, after: list) -> None:
    state = state_of(before)
    result = diff_provider(state, after, POLICY, NOW, first_poll=False, confirming_hold=True)
    current = dict(after)
    for change in result.alerts:
        item = current[change.location_id]
        assert item.status is Status.AVAILABLE
        prev = state.get(change.location_id)
        if prev is None or prev.status is not Status.AVAILABLE:
            assert change.kind == "opened"
        else:
            assert change.kind == "increased"
            assert (item.appointments or 0) - (prev.appointments or 0) >= POLICY.min_increase
    # Every none -> available transition alerts (no cooldown is running here).
    for loc_id, item in after:
        prev = state.get(loc_id)
        if item.status is Status.AVAILABLE and (prev is None or prev.status is Status.NONE):
            assert loc_id in {c.location_id for c in result.alerts}
    # "gone" is recorded, never alerted.
    assert all(c.kind in ("opened", "increased") for c in result.alerts)


@given(counts, st.integers(min_value=0, max_value=9))
def test_small_rise_is_not_news_but_big_rise_is(base: int, small: int) -> None:
    state = {"p:0": KnownState(Status.AVAILABLE, base)}
    quiet = diff_provider(
        state,
        [("p:0", avail("p:0", Status.AVAILABLE, base + small))],
        POLICY,
        NOW,
        first_poll=False,
    )
    assert quiet.alerts == ()
    loud = diff_provider(
        state, [("p:0", avail("p:0", Status.AVAILABLE, base + 10))], POLICY, NOW, first_poll=False
    )
    assert [c.kind for c in loud.alerts] == ["increased"]


@given(st.integers(min_value=0, max_value=30))
def test_cooldown_per_location(minutes_ago: int) -> None:
    last = NOW - dt.timedelta(minutes=minutes_ago)
    state = {"p:0": KnownState(Status.NONE, 0, last_alert_at=last)}
    result = diff_provider(
        state, [("p:0", avail("p:0", Status.AVAILABLE, 50))], POLICY, NOW, first_poll=False
    )
    assert bool(result.alerts) == (minutes_ago >= POLICY.cooldown_minutes)
    assert result.changes[0].suppressed_by_cooldown == (minutes_ago < POLICY.cooldown_minutes)


def test_gone_is_recorded_not_alerted() -> None:
    state = {"p:0": KnownState(Status.AVAILABLE, 20), "p:1": KnownState(Status.AVAILABLE, 5)}
    result = diff_provider(
        state, [("p:0", avail("p:0", Status.NONE, 0))], POLICY, NOW, first_poll=False
    )
    assert sorted((c.location_id, c.kind) for c in result.changes) == [
        ("p:0", "gone"),
        ("p:1", "gone"),
    ]
    assert result.alerts == ()


@given(st.integers(min_value=3, max_value=6))
def test_zero_everywhere_at_once_is_held_then_believed(n: int) -> None:
    state = {IDS[i]: KnownState(Status.AVAILABLE, 100) for i in range(n)}
    zero = [(IDS[i], avail(IDS[i], Status.NONE, 0)) for i in range(n)]
    held = diff_provider(state, zero, POLICY, NOW, first_poll=False)
    assert held.held and held.changes == () and held.accepted == ()
    confirmed = diff_provider(state, zero, POLICY, NOW, first_poll=False, confirming_hold=True)
    assert confirmed.held is None and len(confirmed.changes) == n


def test_implausible_jump_is_held() -> None:
    policy = POLICY.model_copy(update={"sanity": SanityPolicy(max_per_location=10_000)})
    state = {"p:0": KnownState(Status.NONE, 0)}
    result = diff_provider(
        state, [("p:0", avail("p:0", Status.AVAILABLE, 10_001))], policy, NOW, first_poll=False
    )
    assert result.held is not None and "10001" in result.held


def test_release_of_many_appointments_is_plausible() -> None:
    """The 8 a.m. release (tens of thousands across known sites) must alert at once."""
    state = {IDS[i]: KnownState(Status.NONE, 0) for i in range(6)}
    release = [(IDS[i], avail(IDS[i], Status.AVAILABLE, 12_000)) for i in range(6)]
    result = diff_provider(state, release, POLICY, NOW, first_poll=False)
    assert result.held is None and len(result.alerts) == 6
