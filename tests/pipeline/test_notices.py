"""The notice sender: an opened eligibility group is told through each member's own channel,
nearest first and wave by wave, and from then on its members receive slot alerts."""

from __future__ import annotations

import asyncio
import datetime as dt

from sqlalchemy import Engine

from channels.sms import SmsChannel
from notifier.config import SignupConfig
from notifier.db import subscribers
from notifier.db.engine import write_transaction
from notifier.db.fanout import ChannelPlan, write_alert
from notifier.db.signups import SignupOutcome, SignupRequest, write_signups
from notifier.messaging.gsm import fits_one_segment
from notifier.messaging.render import KM_PER_MILE
from notifier.model import Alert, Location
from notifier.pipeline.eligibility import open_eligibility
from notifier.pipeline.notices import NoticeSender
from notifier.testing.twilio_stub import TwilioStub
from tests.channels.sms_support import sms_settings

NOW = dt.datetime(2021, 3, 22, 8, 0, tzinfo=dt.UTC)
PEOPLE = {  # number -> postal code, nearest to Cambridge (02139) first
    "+16175550101": "02139",
    "+16175550102": "02115",
    "+19785550103": "01923",
    "+14135550104": "01103",
}


def _sign_up_everyone(engine: Engine) -> None:
    with write_transaction(engine) as conn:
        for number, code in reversed(PEOPLE.items()):  # ids must not decide the order
            _, token = subscribers.add_subscriber(
                conn,
                channel="sms",
                address=number,
                postal_code=code,
                radius_miles=100,
                eligibility_group="65plus",
                locale="de" if number.endswith("4") else "en",
                now=NOW,
            )
            subscribers.confirm(conn, token, NOW)


def test_eligibility_opens_in_waves_nearest_first_then_slot_alerts(
    sqlite_engine: Engine,
) -> None:
    _sign_up_everyone(sqlite_engine)
    settings = SignupConfig(notice_wave_size=2, notice_wave_minutes=10)
    opening = open_eligibility(
        sqlite_engine, "65plus", settings=settings, postal_code="02139", now=NOW
    )
    assert (opening.notices, opening.waves) == (4, 2)

    clock = [NOW]
    with TwilioStub() as stub:

        async def send_due() -> int:
            channel = SmsChannel(sms_settings(stub))
            sender = NoticeSender(
                sqlite_engine,
                {"sms": channel},
                public_url="https://alerts.example.org",
                batch_size=1,  # one at a time: the stub sees the order of the claims
                clock=lambda: clock[0],
            )
            try:
                sent = 0
                while handled := await sender.run_once():
                    sent += handled
                return sent
            finally:
                await channel.aclose()

        assert asyncio.run(send_due()) == 2  # the first wave only
        clock[0] = NOW + dt.timedelta(minutes=10)
        assert asyncio.run(send_due()) == 2
        texts = [(r.to, r.body or "") for r in stub.requests]

    assert [to for to, _ in texts] == list(PEOPLE)
    assert 'group "65 and older" can book now' in texts[0][1]
    assert texts[3][1].startswith('Gute Nachricht: Die Gruppe "65 Jahre und')

    alert = Alert(
        provider_id="prepmod",
        location=Location(id="fenway", name="Fenway Park", lat=42.3467, lon=-71.0972, state="MA"),
        kind="opened",
        appointments=100,
        increase=100,
        by_date={},
        products=(),
        age_groups=(),
        detected_at=clock[0],
        expires_at=clock[0] + dt.timedelta(hours=1),
    )
    with write_transaction(sqlite_engine) as conn:
        result = write_alert(conn, alert, channels=[ChannelPlan("sms", "recipient")])
    assert result.matched == 4


def _send_every_due_sms(engine: Engine) -> dict[str, str]:
    """Send every due SMS notice through the real Twilio client; the texts by number."""
    with TwilioStub() as stub:

        async def send_due() -> None:
            channel = SmsChannel(sms_settings(stub))
            sender = NoticeSender(
                engine, {"sms": channel}, public_url="https://alerts.example.org", clock=lambda: NOW
            )
            try:
                while await sender.run_once():
                    pass
            finally:
                await channel.aclose()

        asyncio.run(send_due())
        return {r.to: r.body or "" for r in stub.requests}


def test_a_confirmation_names_the_city_of_the_country_the_code_was_given_in(
    sqlite_engine: Engine,
) -> None:
    # Seen: a German web sign-up with 50667 (Köln) was asked to confirm "(Raymond)": the
    # notice read the stored code as a US ZIP, which the same five digits also are (Iowa).
    koeln = {"postal_code": "50667", "country": "DE", "radius_miles": 15 / KM_PER_MILE}
    german, english_in_germany, iowan = "+4915123456789", "+4915123456780", "+13195550199"
    requests = [
        SignupRequest(channel="sms", address=german, locale="de", **koeln),
        SignupRequest(channel="sms", address=english_in_germany, locale="en", **koeln),
        SignupRequest(
            channel="sms",
            address=iowan,
            postal_code="50667",
            country="US",
            radius_miles=10,
            locale="es",
        ),
    ]
    with write_transaction(sqlite_engine) as conn:
        outcomes = write_signups(conn, requests, NOW)
    assert all(isinstance(o, SignupOutcome) for o in outcomes), outcomes

    texts = _send_every_due_sms(sqlite_engine)

    assert "im Umkreis von 15 km um 50667 (Köln) zu erhalten" in texts[german]
    # a radius given in km reads as people say it in miles: 9.3, not 9.32057
    assert "within 9.3 miles of 50667 (Köln)." in texts[english_in_germany]
    assert "a 10 millas de 50667 (Raymond)." in texts[iowan]
    assert all(fits_one_segment(text) for text in texts.values())
