"""The SMS channel: composing one-segment texts, and the real twilio client against the stub."""

from __future__ import annotations

import datetime as dt
import logging
import socket
from dataclasses import replace

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError
from sqlalchemy import Engine, select

from channels.sms import SmsChannel, classify_twilio_error, short_link
from notifier.channel import RateLimit, Recipient, RecipientState, get_channel
from notifier.db import subscribers
from notifier.db.fanout import ChannelPlan, write_alert
from notifier.db.tables import delivery_table, subscriber_table
from notifier.messaging.gsm import Encoding, encoding, segment_count, sms_length
from notifier.model import Alert, Location
from notifier.pipeline.dispatch import Dispatcher, DispatchSettings
from notifier.testing.twilio_stub import Reply, TwilioStub
from tests.channels.sms_support import SENDER, sms_settings

NUMBER = "+16175550123"
NOW = dt.datetime(2021, 2, 24, 15, 0, tzinfo=dt.UTC)


def make_alert(
    name: str = "Fenway Park",
    city: str | None = "Boston",
    appointments: int | None = 1234,
    alert_id: int | None = 42,
    products: tuple[str, ...] = ("Moderna",),
    age_groups: tuple[str, ...] = ("65+",),
    by_date: dict[dt.date, int | None] | None = None,
) -> Alert:
    return Alert(
        provider_id="prepmod",
        location=Location(
            id="fenway",
            name=name,
            city=city,
            state="MA",
            postal_code="02215",
            booking_url="https://clinics.example.org/book/fenway",
        ),
        kind="opened",
        appointments=appointments,
        increase=appointments,
        by_date=by_date
        if by_date is not None
        else {dt.date(2021, 2, 25): 1000, dt.date(2021, 2, 26): 0, dt.date(2021, 2, 27): 234},
        products=products,
        age_groups=age_groups,
        detected_at=NOW,
        expires_at=NOW + dt.timedelta(hours=2),
        id=alert_id,
    )


def recipient(locale: str = "en", number: str = NUMBER) -> Recipient:
    return Recipient(subscriber_id=7, address=number, locale=locale)


# ---------------------------------------------------------------------- settings


def test_registered_under_its_name() -> None:
    assert get_channel("sms") is SmsChannel


def test_exactly_one_sender(twilio_stub: TwilioStub) -> None:
    with pytest.raises(ValidationError, match="exactly one of messaging_service_sid"):
        SmsChannel(sms_settings(twilio_stub, messaging_service_sid="MG" + "a" * 32))
    with pytest.raises(ValidationError, match="exactly one of messaging_service_sid"):
        SmsChannel(sms_settings(twilio_stub, from_number=None))
    channel = SmsChannel(
        sms_settings(twilio_stub, from_number=None, messaging_service_sid="MG" + "a" * 32)
    )
    assert channel.settings.messaging_service_sid == "MG" + "a" * 32


@pytest.mark.parametrize(
    ("per_second", "expected"),
    [
        (1, RateLimit(1, 1.0)),
        (3, RateLimit(3, 1.0)),
        (100, RateLimit(10, 0.1)),
        (15, RateLimit(2, 2 / 15)),
        (0.5, RateLimit(1, 2.0)),
    ],
)
def test_rate_limit_follows_the_sender(
    twilio_stub: TwilioStub, per_second: float, expected: RateLimit
) -> None:
    channel = SmsChannel(sms_settings(twilio_stub, messages_per_second=per_second))
    assert channel.rate_limit == expected
    assert SmsChannel.rate_limit == RateLimit(1, 1.0)  # the class default is untouched


# ---------------------------------------------------------------------- compose


@pytest.mark.parametrize(
    ("locale", "text"),
    [
        (
            "en",
            "1,234 appointments (Moderna; 65+) at Fenway Park, Boston, 2/25-2/27. "
            "Book: https://alerts.example.org/b/42 Reply STOP to opt out",
        ),
        (
            "de",
            "1.234 Termine (Moderna; 65+) bei Fenway Park, Boston, 25.-27.2. "
            "Buchen: https://alerts.example.org/b/42 Abmelden: STOP",
        ),
        (
            "es",
            "1.234 citas (Moderna; 65+) en Fenway Park, Boston, 25/2-27/2. "
            "Reserve: https://alerts.example.org/b/42 Baja: STOP",
        ),
    ],
)
def test_compose_in_each_language(sms: SmsChannel, locale: str, text: str) -> None:
    message = sms.compose([make_alert()], recipient(locale))
    assert message.text == text
    assert message.parts == (text,)
    assert encoding(text) is Encoding.GSM7 and segment_count(text) == 1
    assert message.recipient == recipient(locale)
    assert message.idempotency_key == "sms:42:7"


def test_compose_without_count_or_dates(sms: SmsChannel) -> None:
    alert = make_alert(appointments=None, products=(), age_groups=(), by_date={})
    assert sms.compose([alert], recipient()).text == (
        "Appointments open at Fenway Park, Boston. "
        "Book: https://alerts.example.org/b/42 Reply STOP to opt out"
    )


def test_unstored_alert_links_to_the_provider(sms: SmsChannel) -> None:
    text = sms.compose([make_alert(alert_id=None)], recipient()).text
    assert "Book: https://clinics.example.org/book/fenway" in text


def test_long_place_is_trimmed_to_one_segment_keeping_the_link(sms: SmsChannel) -> None:
    name = "Massachusetts General Hospital Community Vaccination Clinic at the " * 3
    text = sms.compose([make_alert(name=name)], recipient()).text
    assert segment_count(text) == 1 and sms_length(text) <= 160
    assert text.endswith("Book: https://alerts.example.org/b/42")
    assert text.startswith("1,234 appointments at Massachusetts General Hospital")
    assert "..." in text


def test_details_are_dropped_before_the_place_is_cut(sms: SmsChannel) -> None:
    alert = make_alert(
        name="Reggie Lewis State Track Athletic Center",
        products=("Pfizer-BioNTech", "Moderna", "Johnson & Johnson"),
        age_groups=("75+", "65-74 with two conditions"),
    )
    text = sms.compose([alert], recipient()).text
    assert sms_length(text) <= 160
    assert "Reggie Lewis State Track Athletic Center, Boston" in text  # the place is whole
    assert "Pfizer" not in text and "STOP" not in text  # the extras went first


def test_accents_outside_gsm_are_transliterated(sms: SmsChannel) -> None:
    alert = make_alert(name="Clínica Médica San José", city="Lawrence")
    text = sms.compose([alert], recipient("es")).text
    assert "Clinica Médica San José, Lawrence" in text  # é is GSM-7, í is not
    assert encoding(text) is Encoding.GSM7 and segment_count(text) == 1


def test_text_needing_ucs2_fits_70_units(sms: SmsChannel) -> None:
    alert = make_alert(name="東京ワクチン接種センター", city="東京")
    text = sms.compose([alert], recipient()).text
    assert encoding(text) is Encoding.UCS2
    assert sms_length(text) <= 70 and segment_count(text) == 1
    assert text.endswith("https://alerts.example.org/b/42")


@settings(max_examples=60, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    name=st.text(min_size=1, max_size=200).filter(str.strip),
    city=st.one_of(st.none(), st.text(max_size=60)),
    count=st.one_of(st.none(), st.integers(0, 10**7)),
    products=st.lists(st.text(max_size=30), max_size=4),
)
def test_any_alert_is_exactly_one_segment(
    sms: SmsChannel, name: str, city: str | None, count: int | None, products: list[str]
) -> None:
    alert = make_alert(name=name, city=city, appointments=count, products=tuple(products))
    text = sms.compose([alert], recipient()).text
    assert segment_count(text) == 1
    assert "https://alerts.example.org/b/42" in text


def test_short_link() -> None:
    assert short_link("https://a.example/", 9) == "https://a.example/b/9"


# ---------------------------------------------------------------------- send: the real client


async def test_success_records_the_twilio_sid(sms: SmsChannel, twilio_stub: TwilioStub) -> None:
    message = sms.compose([make_alert()], recipient())
    result = await sms.send(message)
    assert result.ok and not result.transient
    [request] = twilio_stub.requests
    assert result.provider_message_id == request.sid and request.sid.startswith("SM")
    assert request.to == NUMBER and request.from_ == SENDER
    assert request.body == message.text
    assert request.status_callback == "https://alerts.example.org/sms/status"


async def test_messaging_service_instead_of_number(twilio_stub: TwilioStub) -> None:
    service = "MG" + "b" * 32
    channel = SmsChannel(sms_settings(twilio_stub, from_number=None, messaging_service_sid=service))
    try:
        result = await channel.send(channel.compose([make_alert()], recipient()))
    finally:
        await channel.aclose()
    assert result.ok
    [request] = twilio_stub.requests
    assert request.messaging_service_sid == service and request.from_ is None


@pytest.mark.parametrize(
    ("reply", "state"),
    [
        (Reply.error(21610), RecipientState.OPTED_OUT),
        (Reply.error(21211), RecipientState.INVALID),
        (Reply.error(21614), RecipientState.INVALID),
    ],
)
async def test_recipient_errors_are_final(
    sms: SmsChannel, twilio_stub: TwilioStub, reply: Reply, state: RecipientState
) -> None:
    twilio_stub.script_number(NUMBER, reply)
    result = await sms.send(sms.compose([make_alert()], recipient()))
    assert not result.ok and not result.transient
    assert result.recipient_state is state
    assert f"error {reply.code}" in (result.error or "")
    assert NUMBER not in (result.error or "")  # Twilio's message quotes the number: masked


@pytest.mark.parametrize(
    ("reply", "retry_after"),
    [
        (Reply.error(20429), None),
        (Reply("error", 429, 20429, retry_after=3), 3.0),
        (Reply.http(429, retry_after=7), 7.0),
        (Reply.http(500), None),
        (Reply.http(503, retry_after=30), 30.0),
        (Reply.error(20500, 500), None),
    ],
)
async def test_overload_and_server_errors_are_retried(
    sms: SmsChannel, twilio_stub: TwilioStub, reply: Reply, retry_after: float | None
) -> None:
    twilio_stub.script_next(reply)
    result = await sms.send(sms.compose([make_alert()], recipient()))
    assert not result.ok and result.transient
    assert result.retry_after == retry_after
    assert result.recipient_state is None


async def test_a_hang_times_out_and_is_retried(sms: SmsChannel, twilio_stub: TwilioStub) -> None:
    twilio_stub.script_next(Reply.hang())
    result = await sms.send(sms.compose([make_alert()], recipient()))
    assert result.transient and "did not answer within 0.5s" in (result.error or "")
    assert (await sms.send(sms.compose([make_alert()], recipient()))).ok  # the next one goes


async def test_other_client_errors_fail_without_retry(
    sms: SmsChannel, twilio_stub: TwilioStub
) -> None:
    twilio_stub.script_next(Reply.error(21408))  # "Permission to send to this region"
    result = await sms.send(sms.compose([make_alert()], recipient()))
    assert not result.ok and not result.transient and result.recipient_state is None


async def test_wrong_credentials_are_retried_not_failed(twilio_stub: TwilioStub) -> None:
    channel = SmsChannel(sms_settings(twilio_stub, auth_token="wrong"))
    try:
        result = await channel.send(channel.compose([make_alert()], recipient()))
    finally:
        await channel.aclose()
    assert result.transient and "401" in (result.error or "")


async def test_unreachable_api_is_retried(twilio_stub: TwilioStub) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # closed again: nothing listens there
    channel = SmsChannel(sms_settings(twilio_stub, api_base_url=f"http://127.0.0.1:{port}"))
    try:
        result = await channel.send(channel.compose([make_alert()], recipient()))
    finally:
        await channel.aclose()
    assert result.transient and "cannot reach Twilio" in (result.error or "")


async def test_scripts_per_number_and_next_n(sms: SmsChannel, twilio_stub: TwilioStub) -> None:
    other = "+16175550999"
    twilio_stub.script_number(other, Reply.http(503), Reply.ok())
    twilio_stub.script_next(Reply.error(20429), count=2)
    results = [
        await sms.send(sms.compose([make_alert()], recipient(number=n)))
        for n in (NUMBER, other, other, other, NUMBER)
    ]
    assert [r.ok for r in results] == [False, False, False, True, True]
    assert [r.transient for r in results[:3]] == [True, True, True]
    stats = twilio_stub.stats()
    assert (stats["requests"], stats["by_status"]) == (5, {429: 2, 503: 1, 201: 2})


def test_classify_keeps_numbers_out_of_errors() -> None:
    result = classify_twilio_error(400, 21211, "The 'To' number +16175550123 is not valid.")
    assert result.error == "twilio HTTP 400 error 21211: The 'To' number +1617***0123 is not valid."


async def test_logs_mask_the_number(
    sms: SmsChannel, twilio_stub: TwilioStub, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    twilio_stub.script_next(Reply.error(21211))
    await sms.send(sms.compose([make_alert()], recipient()))
    await sms.send(sms.compose([make_alert()], recipient()))
    text = "\n".join(r.getMessage() for r in caplog.records)
    assert "+1617***0123" in text
    assert NUMBER not in text and "5550123" not in text


# ---------------------------------------------------------------------- through the dispatcher


def _subscribe(engine: Engine, number: str) -> int:
    with engine.begin() as conn:
        sub_id, token = subscribers.add_subscriber(
            conn, channel="sms", address=number, postal_code="02215", radius_miles=5, now=NOW
        )
        subscribers.confirm(conn, token, NOW)
    return sub_id


async def test_dispatcher_sends_and_marks_opted_out_and_invalid_numbers(
    sms: SmsChannel, twilio_stub: TwilioStub, sqlite_engine: Engine
) -> None:
    quitter, landline = "+16175550666", "+16175550777"
    keeper_id = _subscribe(sqlite_engine, NUMBER)
    quitter_id = _subscribe(sqlite_engine, quitter)
    landline_id = _subscribe(sqlite_engine, landline)
    alert = make_alert(alert_id=None)
    alert = replace(alert, location=replace(alert.location, lat=42.3467, lon=-71.0972))
    with sqlite_engine.begin() as conn:
        written = write_alert(conn, alert, channels=[ChannelPlan("sms", "recipient")], now=NOW)
    assert written.first_wave == 3
    twilio_stub.script_number(quitter, Reply.error(21610))
    twilio_stub.script_number(landline, Reply.error(21614))
    dispatcher = Dispatcher(
        sqlite_engine, sms, settings=DispatchSettings(max_attempts=3), clock=lambda: NOW
    )
    assert await dispatcher.run_once() == 3

    d, s = delivery_table, subscriber_table
    with sqlite_engine.connect() as conn:
        rows = {
            r.subscriber_id: r
            for r in conn.execute(select(d).where(d.c.alert_id == written.alert_id))
        }
        people = {r.id: r for r in conn.execute(select(s))}
    sent_sids = {r.sid for r in twilio_stub.requests if r.sid}
    assert rows[keeper_id].state == "sent" and rows[keeper_id].provider_message_id in sent_sids
    assert rows[quitter_id].state == "failed" and "21610" in rows[quitter_id].last_error
    assert rows[landline_id].state == "failed" and "21614" in rows[landline_id].last_error
    assert (
        quitter not in rows[quitter_id].last_error and landline not in rows[landline_id].last_error
    )
    assert people[quitter_id].opted_out_at is not None and people[quitter_id].invalid_at is None
    assert people[landline_id].invalid_at is not None and people[landline_id].opted_out_at is None
    assert people[keeper_id].opted_out_at is None and people[keeper_id].invalid_at is None
    body = next(r.body for r in twilio_stub.requests if r.to == NUMBER)
    assert body.endswith(f"/b/{written.alert_id} Reply STOP to opt out")
