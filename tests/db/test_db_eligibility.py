"""Eligibility pre-registration: closed groups get no slot alerts; opening a group plans its
notices nearest first, in timed waves, once per member; then slot alerts reach them."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Engine, select

from notifier.db import notices
from notifier.db.engine import write_transaction
from notifier.db.fanout import ChannelPlan, write_alert
from notifier.db.tables import delivery_table, notice_table
from tests.db.db_support import CAMBRIDGE, NOW, add_sub, make_alert, offset

SMS = [ChannelPlan("sms", "recipient")]


def _recipients(engine: Engine, alert_id: int) -> set[int]:
    d = delivery_table
    with engine.connect() as conn:
        rows = conn.execute(select(d.c.subscriber_id).where(d.c.alert_id == alert_id))
        return {int(r) for r in rows.scalars()}


def test_a_closed_group_gets_no_slot_alerts_until_it_opens(engine: Engine) -> None:
    with write_transaction(engine) as conn:
        everyone = add_sub(conn)
        waiting = add_sub(conn, eligibility_group="65plus")
        first = write_alert(conn, make_alert(), channels=SMS).alert_id
    assert _recipients(engine, first) == {everyone}

    with write_transaction(engine) as conn:
        opening = notices.open_group(conn, "65plus", now=NOW, reference=CAMBRIDGE)
        later = make_alert(detected_at=NOW + dt.timedelta(minutes=5), source_id="clinic-2")
        second = write_alert(conn, later, channels=SMS).alert_id
    assert opening.newly_opened and opening.notices == 1
    assert _recipients(engine, second) == {everyone, waiting}


def test_opening_plans_waves_nearest_first_and_tells_nobody_twice(engine: Engine) -> None:
    with write_transaction(engine) as conn:
        far = add_sub(conn, *offset(*CAMBRIDGE, north_miles=30), eligibility_group="65plus")
        near = add_sub(conn, *offset(*CAMBRIDGE, north_miles=1), eligibility_group="65plus")
        middle = add_sub(conn, *offset(*CAMBRIDGE, east_miles=10), eligibility_group="65plus")
        add_sub(conn, eligibility_group="65plus", confirmed=False)  # never confirmed
        add_sub(conn, eligibility_group="conditions")  # another group
        opening = notices.open_group(
            conn,
            "65plus",
            now=NOW,
            reference=CAMBRIDGE,
            wave_size=2,
            wave_interval=dt.timedelta(minutes=10),
        )
    assert (opening.notices, opening.waves) == (3, 2)
    n = notice_table
    with engine.connect() as conn:
        rows = conn.execute(
            select(n.c.subscriber_id, n.c.rank, n.c.wave, n.c.next_attempt_at).order_by(n.c.rank)
        ).all()
    assert [r.subscriber_id for r in rows] == [near, middle, far]
    assert [r.wave for r in rows] == [1, 1, 2]
    assert rows[0].next_attempt_at == NOW
    assert rows[2].next_attempt_at == NOW + dt.timedelta(minutes=10)

    with write_transaction(engine) as conn:  # only the first wave is due now, nearest first
        due = notices.claim_notices(conn, "sms", limit=10, now=NOW)
        assert [c.subscriber_id for c in due] == [near, middle]
        assert all(c.kind == notices.ELIGIBILITY_OPENED for c in due)
        assert notices.claim_notices(conn, "sms", limit=10, now=NOW) == []
        notices.mark_notice_sent(conn, [c.id for c in due], "SM1", NOW)
        later = notices.claim_notices(conn, "sms", limit=10, now=NOW + dt.timedelta(minutes=10))
        assert [c.subscriber_id for c in later] == [far]
        again = notices.open_group(conn, "65plus", now=NOW + dt.timedelta(hours=1))
    assert (again.newly_opened, again.notices) == (False, 0)


def test_a_confirmation_is_claimed_once_and_dropped_when_superseded(engine: Engine) -> None:
    with write_transaction(engine) as conn:
        sub = add_sub(conn, confirmed=False, confirm_token="tok-1")
        notices.enqueue_confirm(conn, sub, "sms", "tok-1", NOW)
        claimed = notices.claim_notices(conn, "sms", limit=5, now=NOW)
        assert [(c.subscriber_id, c.confirm_token) for c in claimed] == [(sub, "tok-1")]
        notices.mark_notice_retry(conn, [claimed[0].id], "busy", NOW)
        # The person confirmed meanwhile (the token is gone): the retry is no longer news.
        conn.execute(notice_table.update().values(next_attempt_at=NOW))
        from notifier.db import subscribers

        subscribers.confirm(conn, "tok-1", NOW)
        assert notices.claim_notices(conn, "sms", limit=5, now=NOW) == []
        counts = notices.notice_counts(conn)
    assert counts == {("confirm", "sms", "cancelled"): 1}


def test_due_notices_are_found_per_channel(engine: Engine) -> None:
    with write_transaction(engine) as conn:
        for _ in range(3):
            add_sub(conn, eligibility_group="65plus")
        notices.open_group(
            conn, "65plus", now=NOW, wave_size=2, wave_interval=dt.timedelta(minutes=10)
        )
        assert notices.channels_with_due_notices(conn, ["email", "sms"], NOW) == ["sms"]
        assert notices.channels_with_due_notices(conn, ["email"], NOW) == []
        claimed = notices.claim_notices(conn, "sms", limit=5, now=NOW)
        assert len(claimed) == 2  # the first wave; the second is due in ten minutes
        assert notices.channels_with_due_notices(conn, ["sms"], NOW) == []
        # the second wave's time comes; or the sender of the first dies and its lease runs out
        wave_2 = NOW + dt.timedelta(minutes=10)
        assert notices.channels_with_due_notices(conn, ["sms"], wave_2) == ["sms"]
        notices.mark_notice_sent(conn, [claimed[0].id], "SM1", NOW)
        lease_over = NOW + dt.timedelta(seconds=notices.LEASE_SECONDS + 1)
        conn.execute(
            notice_table.update().where(notice_table.c.wave == 2).values(state="cancelled")
        )
        assert notices.channels_with_due_notices(conn, ["sms"], NOW + dt.timedelta(minutes=1)) == []
        assert notices.channels_with_due_notices(conn, ["sms"], lease_over) == ["sms"]
        (again,) = notices.claim_notices(conn, "sms", limit=5, now=lease_over)
        assert again.id == claimed[1].id and again.attempts == 2


def test_writing_notices_calls_the_listeners_in_the_same_transaction(engine: Engine) -> None:
    heard: list[int] = []

    def listener(conn: object) -> None:
        # on the writing connection, so anything it writes commits or rolls back with them
        assert conn is current
        heard.append(1)

    remove = notices.on_notices_written(engine, listener)
    try:
        with write_transaction(engine) as current:
            sub = add_sub(current, confirmed=False, confirm_token="tok-1")
            notices.enqueue_confirm(current, sub, "sms", "tok-1", NOW)
            new = add_sub(current, confirmed=False, confirm_token="tok-2")
            notices.enqueue_confirms(current, [(new, "sms", "tok-2")], NOW)
            notices.enqueue_confirms(current, [], NOW)  # nothing queued: nothing to hear
            notices.open_group(current, "nobody-here", now=NOW)  # no members: nothing either
            add_sub(current, eligibility_group="65plus")
            notices.open_group(current, "65plus", now=NOW)
        assert len(heard) == 3
    finally:
        remove()
    with write_transaction(engine) as current:
        notices.enqueue_confirm(current, sub, "sms", "tok-3", NOW)
    assert len(heard) == 3  # removed
