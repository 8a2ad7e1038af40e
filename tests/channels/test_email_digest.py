"""Email through the real outbox dispatcher and SQLite: outcomes, Message-IDs and digests."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator, Iterator

import pytest
from sqlalchemy import Engine, select

from channels.email import EmailChannel, message_id_for
from notifier.db import outbox, subscribers
from notifier.db.fanout import ChannelPlan, close_episode, write_alert
from notifier.db.tables import delivery_table, subscriber_table
from notifier.model import Alert
from notifier.pipeline.dispatch import Dispatcher, DispatchSettings
from notifier.testing.smtp_server import SmtpTestServer
from tests.channels.email_support import NOW, email_settings, lines, make_alert

JANE, BOB = "jane@example.org", "bob@example.org"
PLAN = [ChannelPlan("email", "recipient")]


@pytest.fixture(scope="module")
def smtp_server() -> Iterator[SmtpTestServer]:
    with SmtpTestServer() as server:
        yield server


@pytest.fixture
def server(smtp_server: SmtpTestServer) -> SmtpTestServer:
    smtp_server.reset()
    return smtp_server


@pytest.fixture
async def channel(server: SmtpTestServer) -> AsyncIterator[EmailChannel]:
    email_channel = EmailChannel(email_settings(server))
    yield email_channel
    await email_channel.aclose()


class Clock:
    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> dt.datetime:
        return self.now

    def at(self, minutes: float) -> dt.datetime:
        self.now = NOW + dt.timedelta(minutes=minutes)
        return self.now


def subscribe(engine: Engine, address: str, digest_minutes: int | None = None) -> int:
    with engine.begin() as conn:
        sub_id, token = subscribers.add_subscriber(
            conn,
            channel="email",
            address=address,
            postal_code="02115",
            radius_miles=10,
            digest_minutes=digest_minutes,
            now=NOW,
        )
        subscribers.confirm(conn, token, NOW)
    return sub_id


def publish(engine: Engine, alert: Alert, *, reopened: bool = False) -> int:
    """Store ``alert``. ``reopened``: the place was full in between (a poll closed its wave
    episode), so people already told about it hear of the new opening too."""
    with engine.begin() as conn:
        if reopened:
            place = f"{alert.provider_id}:{alert.location.id}"
            close_episode(
                conn, alert.location.id if ":" in alert.location.id else place, alert.detected_at
            )
        return write_alert(conn, alert, channels=PLAN, now=alert.detected_at).alert_id


def received_by(server: SmtpTestServer, address: str) -> list[str]:
    """The plain-text bodies ``address`` received, oldest first."""
    return [
        lines(r.message.get_body(("plain",)).get_content())
        for r in server.received
        if r.rcpt_tos == (address,)
    ]


async def test_dispatcher_sends_records_message_ids_and_marks_refused_addresses(
    channel: EmailChannel, server: SmtpTestServer, sqlite_engine: Engine
) -> None:
    jane_id, bob_id = subscribe(sqlite_engine, JANE), subscribe(sqlite_engine, BOB)
    server.script_recipient(BOB, "550 5.1.1 <bob@example.org>: no such user")
    alert_id = publish(sqlite_engine, make_alert(alert_id=None))
    dispatcher = Dispatcher(
        sqlite_engine, channel, settings=DispatchSettings(max_attempts=3), clock=lambda: NOW
    )
    assert await dispatcher.run_once() == 2

    d, s = delivery_table, subscriber_table
    with sqlite_engine.connect() as conn:
        rows = {r.subscriber_id: r for r in conn.execute(select(d))}
        people = {r.id: r for r in conn.execute(select(s))}
    [received] = server.received
    assert received.rcpt_tos == (JANE,)
    key = f"{alert_id}:email:{jane_id}"
    assert rows[jane_id].idempotency_key == key
    expected_id = message_id_for(key, "alerts.example.org")
    assert rows[jane_id].state == "sent" and rows[jane_id].provider_message_id == expected_id
    assert received.message["Message-ID"] == expected_id
    assert rows[bob_id].state == "failed" and BOB not in rows[bob_id].last_error
    assert people[bob_id].invalid_at is not None and people[jane_id].invalid_at is None


async def test_a_digest_subscriber_gets_one_email_per_window(
    channel: EmailChannel, server: SmtpTestServer, sqlite_engine: Engine
) -> None:
    """Jane takes one email every 30 minutes; Bob takes every alert at once."""
    jane_id = subscribe(sqlite_engine, JANE, digest_minutes=30)
    subscribe(sqlite_engine, BOB)
    clock = Clock()
    dispatcher = Dispatcher(sqlite_engine, channel, clock=clock)

    publish(sqlite_engine, make_alert(alert_id=None, appointments=10, detected_at=clock.at(0)))
    await dispatcher.run_once()
    assert len(received_by(server, JANE)) == 1  # nothing sent yet: the first goes at once

    hynes = make_alert(
        alert_id=None,
        location_id="hynes",
        name="Hynes Convention Center",
        appointments=5,
        detected_at=clock.at(5),
    )
    publish(sqlite_engine, hynes)
    await dispatcher.run_once()
    fenway_again = make_alert(alert_id=None, appointments=40, detected_at=clock.at(10))
    publish(sqlite_engine, fenway_again, reopened=True)
    await dispatcher.run_once()
    assert len(received_by(server, BOB)) == 3
    assert len(received_by(server, JANE)) == 1
    d = delivery_table
    with sqlite_engine.connect() as conn:
        held = conn.execute(
            select(d.c.state, d.c.next_attempt_at, d.c.attempts).where(
                d.c.subscriber_id == jane_id, d.c.state != "sent"
            )
        ).all()
        assert outbox.last_sent_at(conn, "email", jane_id) == NOW
    # Held until the window ends, without using up a delivery attempt.
    assert held == [("pending", NOW + dt.timedelta(minutes=30), 0)] * 2

    clock.at(29)
    assert await dispatcher.run_once() == 0
    clock.at(30)
    assert await dispatcher.run_once() == 2
    first, digest = received_by(server, JANE)
    assert "10 appointments" in first
    # One email for both alerts; Fenway Park once, with its newest count.
    assert digest.count("Fenway Park") == 1 and "40 appointments" in digest
    assert "Hynes Convention Center" in digest and "5 appointments" in digest

    fenway_later = make_alert(alert_id=None, appointments=50, detected_at=clock.at(31))
    publish(sqlite_engine, fenway_later, reopened=True)
    await dispatcher.run_once()
    assert len(received_by(server, JANE)) == 2 and len(received_by(server, BOB)) == 4
    with sqlite_engine.connect() as conn:
        due = conn.execute(
            select(d.c.next_attempt_at).where(d.c.subscriber_id == jane_id, d.c.state == "pending")
        ).scalar_one()
    assert due == NOW + dt.timedelta(minutes=60)
