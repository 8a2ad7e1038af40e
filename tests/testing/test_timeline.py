"""The 8 a.m. release: ~70,000 appointments at once, then filling up; publish times recorded."""

from __future__ import annotations

import datetime as dt
import itertools

import pytest

from notifier.testing.simulator import ProviderSimulator
from notifier.testing.timeline import ManualClock, Release, Timeline, eight_am_release

FIRST_CLINIC_DATE = dt.date(2021, 2, 26)  # as the ``sim`` fixture sets it


def test_release_puts_70000_appointments_online_at_once(
    sim: ProviderSimulator, clock: ManualClock
) -> None:
    release_at = eight_am_release().releases[0].at
    assert release_at is not None
    clock.advance(release_at - 0.01)
    assert sim.total_appointments() == 0
    clock.advance(0.01)
    assert sim.total_appointments() == 70_000
    truth = sim.truth()
    assert all(t.appointments > 0 for t in truth.values())
    assert {t.site.source for t in truth.values()} == {"prepmod", "smart"}
    assert {t.site.postal_code for t in truth.values()} == {
        "02215", "02035", "01923", "01129", "01760", "02747",
    }  # fmt: skip
    dates = {d for t in truth.values() for d, n in t.by_date.items() if n}
    assert len(dates) >= 5 and min(dates) == FIRST_CLINIC_DATE
    assert sim.story_time().strftime("%H:%M") == "08:00"


def test_appointments_fill_up_until_full_then_a_smaller_second_release(
    sim: ProviderSimulator, clock: ManualClock
) -> None:
    first, second = eight_am_release().releases
    assert first.at is not None and second.at is not None
    clock.advance(first.at)
    totals = [sim.total_appointments()]
    while sim.elapsed() + 0.5 < second.at:
        clock.advance(0.5)
        totals.append(sim.total_appointments())
    assert totals[0] == 70_000
    assert all(a >= b for a, b in itertools.pairwise(totals))
    assert totals[-1] < 70_000 * 0.05  # nearly everything booked before the second release
    clock.advance(second.at - sim.elapsed() - 0.001)
    just_before = sim.total_appointments()
    clock.advance(0.001)
    assert sim.total_appointments() - just_before == 8_000
    clock.advance(45.0 - sim.elapsed())
    assert sim.total_appointments() == 0  # all full by the end of the story


def test_every_change_is_an_event_with_monotonic_and_wall_publish_times(
    sim: ProviderSimulator, clock: ManualClock
) -> None:
    clock.advance(20.0)
    events = sim.events("fenway-park")
    assert [e.version for e in events] == list(range(1, len(events) + 1))
    assert len(events) > 10
    origin = sim.timeline.origin_monotonic
    for before, after in itertools.pairwise(events):
        assert after.elapsed > before.elapsed
        assert after.by_date != before.by_date
    for event in events:
        assert event.monotonic == pytest.approx(origin + event.elapsed)
        assert event.wall == sim.timeline.origin_wall + dt.timedelta(seconds=event.elapsed)
        assert event.appointments == sum(event.by_date.values())
        assert sim.published_at("fenway-park", event.version) == event
    latest = sim.truth()["fenway-park"]
    assert latest.published == events[-1] and latest.version == events[-1].version
    found = sim.match_event("fenway-park", events[3].appointments)
    assert found == events[3]
    with pytest.raises(KeyError):
        sim.published_at("fenway-park", len(events) + 1)


def test_publish_time_is_when_content_changed_not_when_asked(
    sim: ProviderSimulator, clock: ManualClock
) -> None:
    clock.advance(30.0)  # nobody looked for 30 s: the history is still exact
    release = sim.events("gillette-stadium")[1]
    assert release.elapsed == pytest.approx(4.5)
    assert release.appointments > 10_000


def test_manual_release_on_a_quiet_simulator(clock: ManualClock) -> None:
    with ProviderSimulator(quiet=True, clock=clock) as sim:
        assert sim.total_appointments() == 0
        clock.advance(1.0)
        at = sim.release(1_200, sites=("fenway-park", "eastfield-mall"), fill_seconds=2.0)
        assert at == pytest.approx(1.0)
        truth = sim.truth()
        assert truth["fenway-park"].appointments + truth["eastfield-mall"].appointments == 1_200
        assert truth["gillette-stadium"].appointments == 0
        clock.advance(2.5)
        assert sim.total_appointments() == 0
        with pytest.raises(ValueError, match="past"):
            sim.release(10, at=0.5)
        with pytest.raises(ValueError, match="unknown site"):
            sim.release(10, sites=("nowhere",))


def test_same_seed_same_story() -> None:
    def story(seed: int) -> list[tuple[str, float, int]]:
        clock = ManualClock()
        timeline = Timeline(
            releases=eight_am_release().releases,
            seed=seed,
            clock=clock,
            first_clinic_date=FIRST_CLINIC_DATE,
        )
        clock.advance(45.0)
        return [(e.site_id, e.elapsed, e.appointments) for e in timeline.events()]

    assert story(7) == story(7)
    assert story(7) != story(8)


def test_release_validation() -> None:
    with pytest.raises(ValueError):
        Release(appointments=-1, fill_seconds=1.0)
    with pytest.raises(ValueError):
        Release(appointments=1, fill_seconds=0.0)
    with pytest.raises(ValueError):
        eight_am_release(duration=0)
