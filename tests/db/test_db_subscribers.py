"""Subscribers: double opt-in, opt-out/in, invalid addresses, bulk insert."""

from __future__ import annotations

import itertools

import pytest
from sqlalchemy import Engine, func, inspect, select

from notifier.db import bulk
from notifier.db.fanout import ChannelPlan, write_alert
from notifier.db.subscribers import (
    add_subscriber,
    bulk_insert_subscribers,
    confirm,
    delete_subscriber,
    find_by_address,
    mark_invalid,
    normalize_address,
    opt_in,
    opt_out,
    opt_out_ids,
)
from notifier.db.tables import delivery_table, subscriber_table
from tests.db.db_support import NOW, add_sub, make_alert

PHONE = "+1 (617) 555-0142"
SMS = ChannelPlan("sms", "recipient")


_places = itertools.count(1)


def _reached(engine: Engine) -> int:
    # A new place each time: one place's episode never tells anyone twice.
    with engine.begin() as conn:
        alert = make_alert(source_id=f"clinic-{next(_places)}")
        return write_alert(conn, alert, channels=[SMS]).matched


def test_double_opt_in_with_geocoded_zip(engine: Engine) -> None:
    with engine.begin() as conn:
        sub_id, token = add_subscriber(
            conn,
            channel="sms",
            address=PHONE,
            postal_code="2139",
            radius_miles=10,
            locale="es",
            filters={"products": ["moderna", "moderna"]},
            now=NOW,
        )
        row = find_by_address(conn, "sms", "+16175550142")
    assert row is not None and row.id == sub_id
    assert row.postal_code == "02139" and row.lat == pytest.approx(42.36, abs=0.05)
    assert row.time_zone == "America/New_York" and row.locale == "es"
    assert row.filters == {"products": ["moderna"], "age_groups": []}
    assert row.confirmed_at is None and not row.active
    assert _reached(engine) == 0  # unconfirmed: nothing is sent
    with engine.begin() as conn:
        assert confirm(conn, "not-a-token", NOW) is None
        assert confirm(conn, token, NOW) == sub_id
        assert confirm(conn, token, NOW) is None  # tokens are single-use
    assert _reached(engine) == 1


def test_invalid_sign_ups_raise_without_personal_data(engine: Engine) -> None:
    with engine.begin() as conn:
        with pytest.raises(ValueError, match="unknown postal code") as info:
            add_subscriber(conn, channel="sms", address=PHONE, postal_code="00000", radius_miles=5)
        assert "555" not in str(info.value)
        with pytest.raises(ValueError, match="radius"):
            add_subscriber(conn, channel="sms", address=PHONE, radius_miles=5)
        with pytest.raises(ValueError, match="region"):
            add_subscriber(conn, channel="sms", address=PHONE)
        with pytest.raises(ValueError, match="filter"):
            add_subscriber(conn, channel="sms", address=PHONE, region="MA", filters={"x": 1})
        with pytest.raises(ValueError, match="hour"):
            add_subscriber(conn, channel="sms", address=PHONE, region="MA", quiet_start_hour=24)
        with pytest.raises(ValueError, match="empty"):
            add_subscriber(conn, channel="sms", address="  ", region="MA")
        assert conn.execute(select(func.count()).select_from(subscriber_table)).scalar() == 0


def test_opt_out_cancels_queued_and_re_signup_needs_confirmation(engine: Engine) -> None:
    with engine.begin() as conn:
        sub_id, token = add_subscriber(conn, channel="sms", address=PHONE, region="ma", now=NOW)
        confirm(conn, token, NOW)
        write_alert(conn, make_alert(), channels=[SMS])
        assert opt_out(conn, "sms", "+16175550142", NOW) is True
        assert opt_out(conn, "sms", "+19995550000", NOW) is False
        states = conn.execute(select(delivery_table.c.state)).scalars().all()
        assert states == ["cancelled"]
    assert _reached(engine) == 0
    with engine.begin() as conn:
        assert opt_in(conn, "sms", PHONE, NOW) is True  # START after STOP
    assert _reached(engine) == 1
    with engine.begin() as conn:
        opt_out(conn, "sms", PHONE, NOW)
        again, new_token = add_subscriber(conn, channel="sms", address=PHONE, region="MA", now=NOW)
        assert again == sub_id and new_token != token
        row = find_by_address(conn, "sms", PHONE)
        assert row is not None and row.confirmed_at is None and row.opted_out_at is None
    assert _reached(engine) == 0
    with engine.begin() as conn:
        confirm(conn, new_token, NOW)
    assert _reached(engine) == 1


def test_confirmed_subscriber_updates_preferences_without_reconfirming(engine: Engine) -> None:
    with engine.begin() as conn:
        sub_id, token = add_subscriber(
            conn, channel="email", address="Jane@Example.org", region="MA", now=NOW
        )
        confirm(conn, token, NOW)
        same, _ = add_subscriber(
            conn,
            channel="email",
            address="jane@example.org ",
            postal_code="10001",
            radius_miles=3,
            now=NOW,
        )
        row = find_by_address(conn, "email", "JANE@example.org")
    assert same == sub_id and row is not None and row.active
    assert row.postal_code == "10001" and row.radius_miles == 3 and row.region is None


def test_opt_in_needs_a_prior_confirmation(engine: Engine) -> None:
    with engine.begin() as conn:
        add_subscriber(conn, channel="sms", address=PHONE, region="MA", now=NOW)
        assert opt_in(conn, "sms", PHONE, NOW) is False
        assert opt_in(conn, "sms", "+10000000000", NOW) is False


def test_mark_invalid_and_opt_out_ids(engine: Engine) -> None:
    with engine.begin() as conn:
        bad = add_sub(conn)
        gone = add_sub(conn)
        keep = add_sub(conn)
        write_alert(conn, make_alert(), channels=[SMS])
        assert mark_invalid(conn, [bad], NOW) == 1
        assert mark_invalid(conn, [bad], NOW) == 0
        assert opt_out_ids(conn, [gone], NOW) == 1
        d = delivery_table
        states = dict(conn.execute(select(d.c.subscriber_id, d.c.state)).all())
    assert states == {bad: "cancelled", gone: "cancelled", keep: "pending"}
    assert _reached(engine) == 1


def test_bulk_insert(engine: Engine) -> None:
    rows = [
        {
            "channel": "sms",
            "address": f"+1202555{i:04d}",
            "lat": 38.9,
            "lon": -77.0,
            "radius_miles": 5.0,
            "confirmed_at": NOW,
        }
        for i in range(2_500)
    ]
    rows[0] = {**rows[0], "filters": {"products": ["pfizer"]}, "locale": "de"}
    with engine.begin() as conn:
        assert bulk_insert_subscribers(conn, iter(rows), now=NOW) == 2_500
        found = find_by_address(conn, "sms", "+12025550000")
        count = conn.execute(select(func.count()).select_from(subscriber_table)).scalar()
    assert count == 2_500
    assert found is not None and found.locale == "de" and found.filters == {"products": ["pfizer"]}
    assert found.created_at == NOW


def test_normalize_address() -> None:
    assert normalize_address("sms", " +1 (617) 555-0142 ") == "+16175550142"
    assert normalize_address("email", " Jane@Example.ORG") == "jane@example.org"
    assert normalize_address("telegram", "@Handle") == "@handle"
    assert normalize_address("apprise", "Room-1") == "Room-1"


def test_delete_subscriber_erases_their_deliveries(engine: Engine) -> None:
    with engine.begin() as conn:
        gone = add_sub(conn)
        keep = add_sub(conn)
        write_alert(conn, make_alert(), channels=[SMS])
        assert delete_subscriber(conn, gone) is True
        assert delete_subscriber(conn, gone) is False
        left = conn.execute(select(delivery_table.c.subscriber_id)).scalars().all()
    assert left == [keep]


def test_big_load_rebuilds_deferred_indexes(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(bulk, "BULK_BATCH", 40)  # "big" = at least one full batch
    rows = [
        {
            "channel": "email",
            "address": f"u{i}@example.org",
            "lat": 40.0 + i / 1000,
            "lon": -75.0,
            "radius_miles": 3.0,
            "confirmed_at": NOW,
            "region": "PA",
        }
        for i in range(100)
    ]
    with engine.begin() as conn:
        assert bulk_insert_subscribers(conn, rows, now=NOW) == 100
    names = {i["name"] for i in inspect(engine).get_indexes("subscriber")}
    assert {"ix_subscriber_reach", "ix_subscriber_channel_region"} <= names
    with engine.begin() as conn:
        assert bulk_insert_subscribers(conn, [{**rows[0], "address": "x@example.org"}]) == 1
        with pytest.raises(ValueError, match="unknown subscriber columns"):
            bulk_insert_subscribers(conn, [{**rows[0], "phone": "+15550000000"}])
        count = conn.execute(select(func.count()).select_from(subscriber_table)).scalar()
    assert count == 101


def test_duplicate_address_in_bulk_load_fails_whole_load(engine: Engine) -> None:
    from sqlalchemy.exc import IntegrityError

    row = {"channel": "sms", "address": "+12025550100", "region": "DC", "confirmed_at": NOW}
    with pytest.raises(IntegrityError) as info, engine.begin() as conn:
        bulk_insert_subscribers(conn, [row, dict(row)])
    assert "2025550100" not in str(info.value)  # no phone number (PostgreSQL DETAIL)
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(subscriber_table)).scalar() == 0
