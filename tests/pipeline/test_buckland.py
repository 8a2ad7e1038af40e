"""The Buckland simulation at 1/20 scale: fair waves from counted and flag-only sources.

One rural clinic (18 slots, later 8 more), one flag-only pharmacy, 50,000 synthetic
subscribers statewide, a sender at one text every 20 simulated seconds: the full-size
scenario (350 slots, 1,000,000 subscribers, one a second; ``bench/bench_buckland.py``)
shrunk in proportion. Every poll and every send goes through the real decision and SQL.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from notifier.db.engine import make_engine, upgrade
from notifier.testing import buckland

SCALE = 20
SCENARIO = buckland.Scenario(
    subscribers=1_000_000 // SCALE,
    slots=round(350 / SCALE),
    added_slots=round(150 / SCALE),
    unknown_count_wave=60 // SCALE,
    send_every_seconds=1.0 * SCALE,
)
CLINIC_ID = f"{buckland.CLINIC_PROVIDER}:{buckland.CLINIC.id}"
PHARMACY_ID = f"{buckland.PHARMACY_PROVIDER}:{buckland.PHARMACY.id}"


@pytest.fixture(scope="module")
def result(tmp_path_factory: pytest.TempPathFactory) -> buckland.SimulationResult:
    url = f"sqlite:///{Path(tmp_path_factory.mktemp('buckland')) / 'buckland.db'}"
    upgrade(url)
    engine = make_engine(url)
    try:
        buckland.load_subscribers(engine, SCENARIO)
        return buckland.run(engine, SCENARIO)
    finally:
        engine.dispose()


def test_the_scenario_happens_as_described(result: buckland.SimulationResult) -> None:
    # opened (clinic), opened (pharmacy), increased (clinic, same episode)
    assert result.alerts == 3
    assert result.polls["unchanged"] > result.polls["ok"]  # most polls are 304s
    assert result.clinic_filled_at is not None  # the clinic filled part-way through
    assert set(result.full_seen_at) == {CLINIC_ID, PHARMACY_ID}


def test_most_texts_stay_inside_the_first_ring(result: buckland.SimulationResult) -> None:
    assert result.within_first_ring() >= 0.8
    # A flag-only source has waves too: never the whole state at once.
    pharmacy = [miles for loc, _, miles, _ in result.sent if loc == PHARMACY_ID]
    assert 0 < len(pharmacy) <= 2 * SCENARIO.unknown_count_wave
    assert max(pharmacy) <= 10


def test_nobody_is_texted_after_a_poll_saw_the_place_full(
    result: buckland.SimulationResult,
) -> None:
    assert result.sent_after_full() == 0


def test_nobody_is_told_twice_about_one_opening(result: buckland.SimulationResult) -> None:
    assert result.told_twice() == 0


def test_waves_go_on_while_open_and_unchanged(result: buckland.SimulationResult) -> None:
    # More than the first wave went out: later waves were released, sized to what was left,
    # although the feed mostly answered "unchanged".
    clinic = [s for s in result.sent if s[0] == CLINIC_ID]
    first_wave = round(SCENARIO.wave_multiple * SCENARIO.slots)
    assert len(clinic) > first_wave
    beyond = [miles for _, _, miles, _ in clinic if miles > result.first_ring[CLINIC_ID]]
    assert beyond  # the later waves reach further out, nearest first
    assert len(clinic) < first_wave + round(SCENARIO.wave_multiple * SCENARIO.added_slots) + 1
