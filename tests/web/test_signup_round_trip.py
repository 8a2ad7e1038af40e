"""A resident signs up on the web, confirms through the real channel clients pointed at the
loopback stubs (Twilio, SMTP), and only then receives a slot alert; the group-commit writer
stores every sign-up and keeps one bad row from failing its batch."""

from __future__ import annotations

import asyncio
import datetime as dt
import re
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select

from channels.email import EmailChannel
from channels.sms import SmsChannel
from notifier.channel import Channel
from notifier.db.engine import write_transaction
from notifier.db.fanout import ChannelPlan, write_alert
from notifier.db.signups import SignupRequest
from notifier.db.tables import delivery_table, subscriber_table
from notifier.model import Alert, Location
from notifier.pipeline.dispatch import Dispatcher
from notifier.pipeline.notices import NoticeSender
from notifier.testing.smtp_server import SmtpTestServer
from notifier.testing.twilio_stub import TwilioStub
from notifier.web.app import create_app
from notifier.web.signup.writer import SignupWriter
from tests.web.signup_support import PHONE, WEB_SECRET, sign_up, signup_config
from tests.web.sms_web_support import PUBLIC_BASE, inbound, signed_post

NOW = dt.datetime(2021, 2, 24, 15, 0, tzinfo=dt.UTC)
HTTPS = "https://testserver"


def _alert(detected_at: dt.datetime) -> Alert:
    return Alert(
        provider_id="prepmod",
        location=Location(
            id=f"fenway-{detected_at:%H%M%S}",
            name="Fenway Park",
            city="Boston",
            state="MA",
            lat=42.3467,
            lon=-71.0972,
        ),
        kind="opened",
        appointments=40,
        increase=40,
        by_date={},
        products=(),
        age_groups=(),
        detected_at=detected_at,
        expires_at=detected_at + dt.timedelta(hours=1),
    )


def _plan_alert(engine: Engine, channel: str, at: dt.datetime) -> list[int]:
    """Write an alert near the resident; the subscriber ids it reaches on ``channel``."""
    with write_transaction(engine) as conn:
        alert_id = write_alert(
            conn, _alert(at), channels=[ChannelPlan(channel, "recipient")], now=at
        ).alert_id
        d = delivery_table
        rows = conn.execute(select(d.c.subscriber_id).where(d.c.alert_id == alert_id))
        return [int(i) for i in rows.scalars()]


def _send_notices(engine: Engine, channel: Channel) -> int:
    async def run() -> int:
        sender = NoticeSender(
            engine,
            {channel.name: channel},
            public_url=PUBLIC_BASE,
            link_secret=WEB_SECRET,
            clock=lambda: NOW,
        )
        try:
            return await sender.run_once()
        finally:
            await channel.aclose()

    return asyncio.run(run())


@pytest.fixture
def twilio() -> Iterator[TwilioStub]:
    with TwilioStub() as stub:
        yield stub


def test_sms_sign_up_confirmed_by_yes_then_alerted(
    twilio: TwilioStub, sqlite_engine: Engine
) -> None:
    sms = {
        "account_sid": twilio.account_sid,
        "auth_token": twilio.auth_token,
        "api_base_url": twilio.url,
        "timeout": 2.0,
    }
    config = signup_config(sms=sms)
    settings = config.channels["sms"].settings
    clock = NOW
    app = create_app(config, engine=sqlite_engine, clock=lambda: clock)
    with TestClient(app, base_url=HTTPS) as client:
        assert sign_up(client, channel="sms", phone="617-555-0123").status_code == 200

        # Nothing but the confirmation reaches an unconfirmed number.
        assert _plan_alert(sqlite_engine, "sms", NOW) == []
        assert _send_notices(sqlite_engine, SmsChannel(settings)) == 1
        (confirmation,) = twilio.requests
        assert confirmation.to == PHONE
        assert confirmation.body is not None and confirmation.body.startswith("Reply YES")
        assert "02115" in confirmation.body
        assert _send_notices(sqlite_engine, SmsChannel(settings)) == 0  # sent once

        reply = signed_post(
            client, "/sms/inbound", inbound("yes", PHONE), token=twilio.auth_token or ""
        )
        assert reply.status_code == 200 and "02115" in reply.text

    later = NOW + dt.timedelta(minutes=1)
    assert len(_plan_alert(sqlite_engine, "sms", later)) == 1

    async def dispatch() -> int:
        channel = SmsChannel(settings)
        try:
            return await Dispatcher(sqlite_engine, channel, clock=lambda: later).run_once()
        finally:
            await channel.aclose()

    assert asyncio.run(dispatch()) == 1
    alert_text = twilio.requests[-1]
    assert alert_text.to == PHONE and "Fenway" in (alert_text.body or "")


def test_email_sign_up_confirmed_by_the_signed_link_then_alerted(sqlite_engine: Engine) -> None:
    with SmtpTestServer() as server:
        config = signup_config(email={"port": server.port})
        app = create_app(config, engine=sqlite_engine, clock=lambda: NOW)
        with TestClient(app, base_url=HTTPS) as client:
            page = sign_up(client, channel="email", email="Jane@Example.org", lang="es")
            assert page.status_code == 200 and "Le enviamos un correo" in page.text
            assert _plan_alert(sqlite_engine, "email", NOW) == []
            channel = EmailChannel(config.channels["email"].settings)
            assert _send_notices(sqlite_engine, channel) == 1
            (mail,) = server.emails()
            assert mail["To"] == "jane@example.org"
            body = mail.get_body(("plain",)).get_content()
            link = re.search(rf"{re.escape(PUBLIC_BASE)}(/confirm/\S+)", body)
            assert link is not None

            shown = client.get(link.group(1))  # a link scanner's GET confirms nothing
            assert shown.status_code == 200
            assert _plan_alert(sqlite_engine, "email", NOW + dt.timedelta(seconds=1)) == []
            assert client.post(link.group(1)).status_code == 200
            edited = client.post(link.group(1)[:-4] + "AAAA")
            assert edited.status_code == 404  # not a token we know

    with sqlite_engine.connect() as conn:
        locale = conn.execute(select(subscriber_table.c.locale)).scalar_one()
    assert locale == "es"
    assert len(_plan_alert(sqlite_engine, "email", NOW + dt.timedelta(minutes=1))) == 1


def _request(n: int, locale: str = "en") -> SignupRequest:
    return SignupRequest(
        channel="email",
        address=f"person{n}@example.org",
        postal_code="02115",
        country="US",
        radius_miles=10.0,
        locale=locale,
    )


def test_the_writer_commits_many_sign_ups_per_transaction(sqlite_engine: Engine) -> None:
    async def run() -> tuple[list[object], SignupWriter]:
        writer = SignupWriter(sqlite_engine, clock=lambda: NOW)
        requests = [_request(n) for n in range(300)]
        requests[150] = _request(150, locale="not a locale")  # rejected by the storage layer
        results = await asyncio.gather(
            *(writer.submit(r) for r in requests), return_exceptions=True
        )
        await writer.aclose()
        return list(results), writer

    results, writer = asyncio.run(run())
    failed = [i for i, r in enumerate(results) if isinstance(r, BaseException)]
    assert failed == [150]
    assert writer.batches < 300 / 10  # grouped, not one commit each
    with sqlite_engine.connect() as conn:
        stored = conn.execute(select(subscriber_table.c.address)).scalars().all()
    assert len(stored) == 299 and "person150@example.org" not in stored
    ids = {r.subscriber_id for r in results if not isinstance(r, BaseException)}  # type: ignore[attr-defined]
    assert len(ids) == 299
