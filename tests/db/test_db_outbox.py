"""Outbox: claims and leases, outcomes, expiry, and concurrent workers."""

from __future__ import annotations

import datetime as dt
import threading

import pytest
from sqlalchemy import Connection, Engine, select

from notifier.db.fanout import (
    ChannelPlan,
    claim_due,
    defer,
    delivery_counts,
    expire_due,
    load_alerts,
    mark_failed,
    mark_retry,
    mark_sent,
    record_status_callback,
    write_alert,
)
from notifier.db.store import PollRunRecord, save_poll
from notifier.db.tables import delivery_table
from notifier.model import LocationAvailability, Status
from tests.db.db_support import CAMBRIDGE, NOW, add_sub, make_alert, make_location, offset

SMS = ChannelPlan("sms", "recipient")
LEASE = 60.0


def _state(conn: Connection, delivery_id: int) -> dict:
    d = delivery_table
    return dict(conn.execute(select(d).where(d.c.id == delivery_id)).mappings().one())


def _seed(engine: Engine, subscribers: int = 3, **alert_args: object) -> int:
    lat, lon = CAMBRIDGE
    with engine.begin() as conn:
        for m in range(subscribers):
            add_sub(
                conn,
                *offset(lat, lon, north_miles=m + 1),
                locale="de",
                quiet_start_hour=22,
                quiet_end_hour=7,
                time_zone="America/New_York",
            )
        plans = [SMS, ChannelPlan("x", "broadcast")]
        return write_alert(conn, make_alert(**alert_args), channels=plans).alert_id  # type: ignore[arg-type]


def test_claim_returns_render_ready_rows_nearest_first(engine: Engine) -> None:
    alert_id = _seed(engine)
    with engine.begin() as conn:
        claimed = claim_due(conn, "sms", limit=10, now=NOW, lease_seconds=LEASE)
    assert len(claimed) == 3
    assert [c.id for c in claimed] == sorted(c.id for c in claimed)
    first = claimed[0]
    assert first.alert_id == alert_id and first.channel == "sms" and first.attempts == 1
    assert first.idempotency_key == f"{alert_id}:sms:{first.subscriber_id}"
    assert first.locale == "de" and first.quiet_start_hour == 22 and first.quiet_end_hour == 7
    assert first.time_zone == "America/New_York"
    assert first.expires_at == NOW + dt.timedelta(hours=1)
    assert first.alert.location.name == "Test Clinic" and first.alert.location.id == "prov:clinic-1"
    assert first.alert.by_date == {dt.date(2024, 3, 2): 5}
    assert first.alert is claimed[1].alert  # one Alert object per alert, not per row
    with engine.begin() as conn:
        assert claim_due(conn, "sms", limit=10, now=NOW, lease_seconds=LEASE) == []
        (broadcast,) = claim_due(conn, "x", limit=10, now=NOW, lease_seconds=LEASE)
        assert broadcast.subscriber_id is None and broadcast.recipient is None
        assert _state(conn, first.id)["state"] == "sending"


def test_claim_respects_limit_and_next_attempt(engine: Engine) -> None:
    _seed(engine, subscribers=5)
    with engine.begin() as conn:
        assert (
            claim_due(conn, "sms", limit=5, now=NOW - dt.timedelta(seconds=1), lease_seconds=LEASE)
            == []
        )
        batch = claim_due(conn, "sms", limit=2, now=NOW, lease_seconds=LEASE)
        assert len(batch) == 2
        assert len(claim_due(conn, "sms", limit=10, now=NOW, lease_seconds=LEASE)) == 3


def test_expired_lease_is_reclaimed_after_a_crash(engine: Engine) -> None:
    _seed(engine, subscribers=1)
    with engine.begin() as conn:
        (first,) = claim_due(conn, "sms", limit=1, now=NOW, lease_seconds=LEASE)
    # The worker dies without marking anything. Within the lease nobody else takes it.
    soon = NOW + dt.timedelta(seconds=LEASE - 1)
    with engine.begin() as conn:
        assert claim_due(conn, "sms", limit=1, now=soon, lease_seconds=LEASE) == []
    later = NOW + dt.timedelta(seconds=LEASE + 1)
    with engine.begin() as conn:
        (again,) = claim_due(conn, "sms", limit=1, now=later, lease_seconds=LEASE)
        assert again.id == first.id and again.attempts == 2
        assert _state(conn, again.id)["claimed_at"] == later


def test_outcomes(engine: Engine) -> None:
    _seed(engine, subscribers=4)
    with engine.begin() as conn:
        a, b, c, e = (x.id for x in claim_due(conn, "sms", limit=4, now=NOW, lease_seconds=LEASE))
        assert mark_sent(conn, [a], "SM123", NOW) == 1
        retry_at = NOW + dt.timedelta(minutes=2)
        assert mark_retry(conn, [b], "429 from +16175550123", retry_at) == 1
        assert mark_failed(conn, [c], "bounced: jane.doe@example.org") == 1
        dawn = NOW + dt.timedelta(hours=8)
        assert defer(conn, [e], dawn) == 1
        sent, retried, failed, deferred = (_state(conn, i) for i in (a, b, c, e))
        assert sent["state"] == "sent" and sent["provider_message_id"] == "SM123"
        assert sent["sent_at"] == NOW
        assert retried["state"] == "pending" and retried["next_attempt_at"] == retry_at
        assert "+16175550123" not in retried["last_error"]  # personal data never stored
        assert failed["state"] == "failed" and "jane.doe" not in failed["last_error"]
        assert deferred["state"] == "pending" and deferred["next_attempt_at"] == dawn
        assert deferred["attempts"] == 0  # quiet hours do not use up an attempt
        assert mark_failed(conn, [a], "late") == 0  # a sent delivery stays sent
        assert record_status_callback(conn, "sms", "SM123", "delivered") == 1
        assert _state(conn, a)["status_callback"] == "delivered"
        (again,) = claim_due(conn, "sms", limit=5, now=retry_at, lease_seconds=LEASE)
        assert again.id == b and again.attempts == 2
        counts = delivery_counts(conn)
    assert counts[("sms", "sent")] == 1 and counts[("sms", "failed")] == 1
    assert counts[("sms", "pending")] == 1 and counts[("sms", "sending")] == 1
    assert counts[("x", "pending")] == 1


def test_expired_alerts_are_never_claimed_and_get_counted(engine: Engine) -> None:
    lat, lon = CAMBRIDGE
    with engine.begin() as conn:
        for m in range(4):
            add_sub(conn, *offset(lat, lon, north_miles=m + 1))
        plan = ChannelPlan("sms", "recipient", wave_multiple=1.0)
        write_alert(conn, make_alert(appointments=2, ttl=dt.timedelta(minutes=10)), channels=[plan])
        (sent,) = claim_due(conn, "sms", limit=1, now=NOW, lease_seconds=LEASE)
        mark_sent(conn, [sent.id], None, NOW)
    late = NOW + dt.timedelta(minutes=10)
    with engine.begin() as conn:
        assert claim_due(conn, "sms", limit=10, now=late, lease_seconds=LEASE) == []
        assert expire_due(conn, late) == 3  # one pending + two held
        assert expire_due(conn, late) == 0
        counts = delivery_counts(conn)
    assert counts == {("sms", "sent"): 1, ("sms", "expired"): 3}


def test_load_alerts_round_trip(engine: Engine) -> None:
    alert_id = _seed(engine, products=("moderna",), age_groups=("18+",))
    with engine.connect() as conn:
        alerts = load_alerts(conn, [alert_id, 10**9])
    (alert,) = alerts.values()
    assert alert.id == alert_id and alert.provider_id == "prov" and alert.kind == "opened"
    assert alert.products == ("moderna",) and alert.age_groups == ("18+",)
    assert alert.detected_at == NOW and alert.appointments == 5
    assert alert.location.booking_url == "https://clinic.example/book"


def _workers_claim_all(engine: Engine, workers: int, total: int) -> list[int]:
    claimed: list[int] = []
    lock = threading.Lock()
    errors: list[BaseException] = []
    barrier = threading.Barrier(workers)

    def work() -> None:
        try:
            barrier.wait()
            while True:
                with engine.begin() as conn:
                    batch = claim_due(conn, "sms", limit=7, now=NOW, lease_seconds=LEASE)
                if not batch:
                    return
                with lock:
                    claimed.extend(c.id for c in batch)
        except BaseException as error:  # noqa: BLE001 - reported below
            errors.append(error)

    threads = [threading.Thread(target=work) for _ in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not errors, errors
    return claimed


def test_concurrent_workers_never_claim_the_same_row(engine: Engine) -> None:
    total = 120
    lat, lon = CAMBRIDGE
    with engine.begin() as conn:
        for i in range(total):
            add_sub(conn, *offset(lat, lon, north_miles=(i % 9) + 0.5))
        write_alert(conn, make_alert(), channels=[SMS])
    claimed = _workers_claim_all(engine, workers=4, total=total)
    assert len(claimed) == total
    assert len(set(claimed)) == total


@pytest.mark.postgres
def test_skip_locked_two_open_transactions(pg_engine: Engine) -> None:
    _seed(pg_engine, subscribers=6)
    with pg_engine.connect() as first, pg_engine.connect() as second:
        first.begin()
        second.begin()
        mine = claim_due(first, "sms", limit=4, now=NOW, lease_seconds=LEASE)
        # `first` still holds its row locks: `second` skips them instead of waiting.
        theirs = claim_due(second, "sms", limit=4, now=NOW, lease_seconds=LEASE)
        assert len(mine) == 4 and len(theirs) == 2
        assert {c.id for c in mine}.isdisjoint(c.id for c in theirs)
        second.commit()
        first.rollback()  # the crash case: its rows become claimable again
    with pg_engine.begin() as conn:
        assert len(claim_due(conn, "sms", limit=10, now=NOW, lease_seconds=LEASE)) == 4


def test_mark_expired_drops_claimed_deliveries(engine: Engine) -> None:
    from notifier.db.outbox import mark_expired

    _seed(engine, subscribers=2)
    with engine.begin() as conn:
        first, second = claim_due(conn, "sms", limit=2, now=NOW, lease_seconds=LEASE)
        mark_sent(conn, [second.id], None, NOW)
        assert mark_expired(conn, [first.id, second.id]) == 1  # a sent one stays sent
        assert _state(conn, first.id)["state"] == "expired"
        assert _state(conn, second.id)["state"] == "sent"


def test_claims_go_round_robin_across_alerts_nearest_first(engine: Engine) -> None:
    """A later alert's nearest subscribers are not stuck behind an earlier alert's whole list."""
    lat, lon = CAMBRIDGE
    with engine.begin() as conn:
        ids = [add_sub(conn, *offset(lat, lon, north_miles=m + 1)) for m in range(6)]
        first = write_alert(conn, make_alert(source_id="a"), channels=[SMS]).alert_id
        second = write_alert(conn, make_alert(source_id="b"), channels=[SMS]).alert_id
    with engine.begin() as conn:
        claimed = claim_due(conn, "sms", limit=4, now=NOW, lease_seconds=LEASE)
    by_alert: dict[int, set[int | None]] = {}
    for c in claimed:
        by_alert.setdefault(c.alert_id, set()).add(c.subscriber_id)
    assert by_alert == {first: set(ids[:2]), second: set(ids[:2])}


def _poll_says(conn: Connection, status: Status, at: dt.datetime) -> None:
    """A good poll of the test clinic with ``status`` (stored as its current state)."""
    item = LocationAvailability(
        make_location(), status, appointments=5 if status is Status.AVAILABLE else 0
    )
    run = PollRunRecord(started_at=at, outcome="ok")
    save_poll(conn, "prov", "test", run, [("prov:clinic-1", item)], at)


def test_nothing_is_claimed_about_a_place_now_full(engine: Engine) -> None:
    alert_id = _seed(engine, subscribers=3)
    other = NOW + dt.timedelta(minutes=1)
    with engine.begin() as conn:
        add_sub(conn)
        elsewhere = write_alert(conn, make_alert(source_id="clinic-2"), channels=[SMS])
        _poll_says(conn, Status.AVAILABLE, NOW)
        assert len(claim_due(conn, "sms", limit=2, now=NOW, lease_seconds=LEASE)) == 2
        # A later good poll (on any node) sees the clinic full: its texts stop at once, also
        # the one whose worker died (its lease has run out) and would be claimed again.
        _poll_says(conn, Status.NONE, other)
        claimed = claim_due(conn, "sms", limit=10, now=other, lease_seconds=LEASE)
        assert {c.alert_id for c in claimed} == {elsewhere.alert_id}
        d = delivery_table
        mine = (d.c.alert_id == alert_id, d.c.channel == "sms")
        states = list(conn.execute(select(d.c.state).where(*mine)).scalars())
    assert states == ["cancelled"] * 3
