"""Availability state and provider health (save_poll, load_current, events, status)."""

from __future__ import annotations

import dataclasses
import datetime as dt

import pytest
from sqlalchemy import Engine, func, select

from notifier.db.store import (
    EventRecord,
    PollRunRecord,
    clear_held,
    content_hash,
    load_current,
    provider_status,
    record_events,
    save_poll,
    set_held,
    stored_location_id,
)
from notifier.db.tables import (
    availability_table,
    event_table,
    location_table,
    poll_run_table,
    provider_state_table,
)
from notifier.model import LocationAvailability, Status
from tests.db.db_support import NOW, make_location

P = "prov"
DAY = dt.date(2024, 3, 2)


def _avail(
    source_id: str, counts: dict[dt.date, int | None], **kw: object
) -> tuple[str, LocationAvailability]:
    item = LocationAvailability.from_counts(make_location(source_id=source_id), counts, **kw)  # type: ignore[arg-type]
    return stored_location_id(P, source_id), item


def _unknown(source_id: str) -> tuple[str, LocationAvailability]:
    loc = dataclasses.replace(make_location(source_id=source_id), name="Broken Page")
    return stored_location_id(P, source_id), LocationAvailability(loc, Status.UNKNOWN)


def _run(outcome: str = "ok", at: dt.datetime = NOW, **kw: object) -> PollRunRecord:
    return PollRunRecord(started_at=at, outcome=outcome, duration_ms=120, http_status=200, **kw)  # type: ignore[arg-type]


def _provider(engine: Engine) -> dict:
    with engine.connect() as conn:
        return dict(conn.execute(select(provider_state_table)).mappings().one())


def test_first_poll_stores_everything(engine: Engine) -> None:
    results = [
        _avail("a", {DAY: 3, DAY + dt.timedelta(1): None}, products=["moderna"]),
        _avail("b", {}),
    ]
    with engine.begin() as conn:
        run_id = save_poll(conn, P, "prepmod", _run(), results, NOW)
        current = load_current(conn, P)
        runs = conn.execute(select(poll_run_table)).mappings().all()
    assert run_id == runs[0]["id"] and runs[0]["outcome"] == "ok" and runs[0]["locations"] == 2
    a = current["prov:a"]
    assert a.status == Status.AVAILABLE and a.appointments == 3
    assert a.by_date == {DAY: 3, DAY + dt.timedelta(1): None}
    assert a.products == ("moderna",) and a.changed_at == NOW and a.checked_at == NOW
    assert a.content_hash == content_hash(results[0][1])
    assert current["prov:b"].status == Status.NONE
    state = _provider(engine)
    assert state["scraper"] == "prepmod" and state["last_success_at"] == NOW
    assert state["baseline_at"] == NOW and state["down_since"] is None


def test_changed_at_moves_only_when_content_changes(engine: Engine) -> None:
    later, latest = NOW + dt.timedelta(minutes=1), NOW + dt.timedelta(minutes=2)
    with engine.begin() as conn:
        save_poll(conn, P, "s", _run(), [_avail("a", {DAY: 3})], NOW)
        save_poll(conn, P, "s", _run(at=later), [_avail("a", {DAY: 3})], later)
        same = load_current(conn, P)["prov:a"]
        save_poll(conn, P, "s", _run(at=latest), [_avail("a", {DAY: 2})], latest)
        changed = load_current(conn, P)["prov:a"]
    assert same.changed_at == NOW and same.checked_at == later
    assert changed.changed_at == latest and changed.appointments == 2
    assert _provider(engine)["baseline_at"] == NOW


def test_unknown_never_overwrites_a_good_state(engine: Engine) -> None:
    later = NOW + dt.timedelta(minutes=1)
    with engine.begin() as conn:
        save_poll(conn, P, "s", _run(), [_avail("a", {DAY: 3})], NOW)
        save_poll(conn, P, "s", _run(at=later), [_unknown("a"), _unknown("new")], later)
        current = load_current(conn, P)
        names = dict(conn.execute(select(location_table.c.id, location_table.c.name)).all())
    assert current["prov:a"].status == Status.AVAILABLE and current["prov:a"].appointments == 3
    assert current["prov:a"].checked_at == NOW
    assert current["prov:new"].status == Status.UNKNOWN  # first sighting: recorded as unknown
    assert names == {"prov:a": "Test Clinic", "prov:new": "Broken Page"}


def test_failed_poll_records_run_and_error_only(engine: Engine) -> None:
    t1, t2, t3 = (NOW + dt.timedelta(minutes=m) for m in (1, 2, 3))
    with engine.begin() as conn:
        save_poll(conn, P, "s", _run(), [_avail("a", {DAY: 3})], NOW)
        error = "503 Service Unavailable; call +1 617-555-0199"
        save_poll(conn, P, "s", _run("upstream_error", t1, error=error), None, t1)
        save_poll(conn, P, "s", _run("blocked", t2, error="captcha"), None, t2)
        assert load_current(conn, P)["prov:a"].appointments == 3
    state = _provider(engine)
    assert state["down_since"] == t1 and state["last_error_at"] == t2
    assert state["last_error_kind"] == "blocked" and state["last_error"] == "captcha"
    assert state["last_success_at"] == NOW
    with engine.begin() as conn:
        errors = conn.execute(
            select(poll_run_table.c.error).order_by(poll_run_table.c.id)
        ).scalars()
        assert "617-555-0199" not in " ".join(e or "" for e in errors)
        save_poll(conn, P, "s", _run("unchanged", t3), None, t3)
        assert load_current(conn, P)["prov:a"].checked_at == t3
    state = _provider(engine)
    assert state["down_since"] is None and state["last_success_at"] == t3


def test_vanished_locations_lose_their_current_state(engine: Engine) -> None:
    later = NOW + dt.timedelta(minutes=1)
    with engine.begin() as conn:
        save_poll(conn, P, "s", _run(), [_avail("a", {DAY: 1}), _avail("b", {DAY: 2})], NOW)
        save_poll(conn, "other", "s", _run(), [("other:z", _avail("z", {})[1])], NOW)
        save_poll(conn, P, "s", _run(at=later), [_avail("b", {DAY: 2})], later)
        assert set(load_current(conn, P)) == {"prov:b"}
        assert set(load_current(conn, "other")) == {"other:z"}
        # The location itself (and its history) stays.
        assert conn.execute(select(func.count()).select_from(location_table)).scalar() == 3


def test_location_metadata_updates_only_when_changed(engine: Engine) -> None:
    later = NOW + dt.timedelta(minutes=1)
    moved = _avail("a", {DAY: 1})
    moved = (
        moved[0],
        dataclasses.replace(
            moved[1], location=dataclasses.replace(moved[1].location, address="2 New St")
        ),
    )
    with engine.begin() as conn:
        save_poll(conn, P, "s", _run(), [_avail("a", {DAY: 1})], NOW)
        save_poll(conn, P, "s", _run(at=later), [_avail("a", {DAY: 1})], later)
        row = conn.execute(select(location_table)).mappings().one()
        assert row["updated_at"] == NOW and row["first_seen_at"] == NOW
        save_poll(conn, P, "s", _run(at=later), [moved], later)
        row = conn.execute(select(location_table)).mappings().one()
    assert row["updated_at"] == later and row["first_seen_at"] == NOW
    assert row["address"] == "2 New St" and row["source_id"] == "a" and row["provider_id"] == P


def test_bad_input_is_rejected(engine: Engine) -> None:
    with engine.begin() as conn:
        with pytest.raises(ValueError, match="results given"):
            save_poll(conn, P, "s", _run("blocked"), [_avail("a", {})], NOW)
        with pytest.raises(ValueError, match="needs results"):
            save_poll(conn, P, "s", _run("ok"), None, NOW)
        with pytest.raises(ValueError):
            save_poll(conn, P, "s", _run("teapot"), None, NOW)
        with pytest.raises(ValueError, match="naive"):
            save_poll(conn, P, "s", _run(), [], dt.datetime(2024, 1, 1))


def test_held_poll_does_not_touch_current_state(engine: Engine) -> None:
    later = NOW + dt.timedelta(minutes=1)
    with engine.begin() as conn:
        save_poll(conn, P, "s", _run(), [_avail("a", {DAY: 3})], NOW)
        save_poll(
            conn,
            P,
            "s",
            _run("held", later, error="all locations emptied"),
            [_avail("a", {})],
            later,
        )
        assert load_current(conn, P)["prov:a"].appointments == 3
    state = _provider(engine)
    assert state["held_since"] == later and state["held_reason"] == "all locations emptied"
    with engine.begin() as conn:
        clear_held(conn, P)
        set_held(conn, P, "manual", later)
    assert _provider(engine)["held_reason"] == "manual"


def test_events_and_provider_status(engine: Engine) -> None:
    results = [_avail("a", {DAY: 3}), _avail("b", {DAY: None}), _avail("c", {})]
    with engine.begin() as conn:
        save_poll(conn, P, "prepmod", _run(), results, NOW)
        save_poll(conn, "down", "other", _run("unreachable", error="timeout"), None, NOW)
        n = record_events(
            conn,
            [
                EventRecord("prov:a", P, "opened", 3, NOW),
                {
                    "location_id": "prov:b",
                    "provider_id": P,
                    "kind": "gone",
                    "appointments": None,
                    "at": NOW,
                },
            ],
        )
        events = conn.execute(select(event_table.c.kind).order_by(event_table.c.id)).scalars().all()
        status = {row.provider_id: row for row in provider_status(conn)}
    assert n == 2 and events == ["opened", "gone"]
    prov = status[P]
    assert (prov.locations, prov.available_locations, prov.open_appointments) == (3, 2, 3)
    assert prov.last_success_at == NOW and prov.scraper == "prepmod"
    down = status["down"]
    assert down.locations == 0 and down.down_since == NOW and down.last_error_kind == "unreachable"
    assert availability_table.name == "availability"
