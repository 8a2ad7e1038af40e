"""Twilio webhooks and short links, through the FastAPI app, against a real SQLite database."""

from __future__ import annotations

import datetime as dt
import logging

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select

from notifier.db import make_engine, outbox, subscribers
from notifier.db.fanout import ChannelPlan, write_alert
from notifier.db.tables import delivery_table
from notifier.model import Alert, Location
from notifier.web.app import create_app
from notifier.web.sms_commands import Intent, parse_command
from tests.web.sms_web_support import PUBLIC_BASE, inbound, signed_post

NOW = dt.datetime(2021, 2, 24, 15, 0, tzinfo=dt.UTC)
PHONE = "+16175550123"
EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response />'


def add_confirmed(engine: Engine, number: str = PHONE, locale: str = "en") -> int:
    with engine.begin() as conn:
        sub_id, token = subscribers.add_subscriber(
            conn,
            channel="sms",
            address=number,
            postal_code="02115",
            radius_miles=10,
            locale=locale,
            now=NOW,
        )
        subscribers.confirm(conn, token, NOW)
    return sub_id


def subscriber(engine: Engine, number: str = PHONE) -> subscribers.SubscriberRow | None:
    with engine.connect() as conn:
        return subscribers.find_by_address(conn, "sms", number)


def sent_delivery(engine: Engine, sid: str, booking_url: str | None = "https://book.example/x"):
    """One alert with one SMS delivery to PHONE, marked sent as ``sid``."""
    sub_id = add_confirmed(engine)
    alert = Alert(
        provider_id="prepmod",
        location=Location(
            id="fenway",
            name="Fenway Park",
            city="Boston",
            lat=42.3467,
            lon=-71.0972,
            booking_url=booking_url,
        ),
        kind="opened",
        appointments=10,
        increase=10,
        by_date={dt.date(2021, 2, 25): 10},
        products=(),
        age_groups=(),
        detected_at=NOW,
        expires_at=NOW + dt.timedelta(hours=1),
    )
    with engine.begin() as conn:
        written = write_alert(conn, alert, channels=[ChannelPlan("sms", "recipient")], now=NOW)
        ids = list(conn.execute(select(delivery_table.c.id)).scalars())
        outbox.mark_sent(conn, ids, sid, NOW)
    return written.alert_id, sub_id


def delivery_status(engine: Engine, sid: str) -> str | None:
    d = delivery_table
    with engine.connect() as conn:
        query = select(d.c.status_callback).where(d.c.provider_message_id == sid)
        return conn.execute(query).scalar_one()


def reply_text(response) -> str:
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/xml")
    return response.text


# ---------------------------------------------------------------------- app basics


def test_healthz(client: TestClient) -> None:
    assert client.get("/healthz").json()["status"] == "ok"


def test_app_without_config_only_checks_health() -> None:
    with TestClient(create_app()) as bare:
        assert bare.get("/healthz").status_code == 200
        assert bare.post("/sms/inbound").status_code == 404


def test_healthz_reports_an_unreachable_database() -> None:
    engine = make_engine(
        "postgresql://postgres@127.0.0.1:9/nowhere", connect_args={"connect_timeout": 2}
    )
    try:
        with TestClient(create_app(engine=engine)) as bare:
            response = bare.get("/healthz")
    finally:
        engine.dispose()
    assert response.status_code == 503
    assert response.json() == {"status": "database unreachable"}


# ---------------------------------------------------------------------- signatures


def test_signed_status_callback_records_delivery(client: TestClient, sqlite_engine: Engine) -> None:
    sid = "SM" + "a" * 32
    sent_delivery(sqlite_engine, sid)
    form = {"MessageSid": sid, "MessageStatus": "delivered", "To": PHONE}
    response = signed_post(client, "/sms/status", form)
    assert response.status_code == 204
    assert delivery_status(sqlite_engine, sid) == "delivered"


def test_bad_or_missing_signature_is_403(client: TestClient, sqlite_engine: Engine) -> None:
    sid = "SM" + "b" * 32
    sent_delivery(sqlite_engine, sid)
    form = {"MessageSid": sid, "MessageStatus": "failed"}
    unsigned = client.post("/sms/status", data=form)
    assert unsigned.status_code == 403
    assert "missing X-Twilio-Signature" in unsigned.json()["detail"]
    forged = signed_post(client, "/sms/status", form, token="not-the-token")
    assert forged.status_code == 403
    assert "does not match" in forged.json()["detail"]
    # Signed for the URL the app sees internally rather than the public one: rejected.
    internal = signed_post(client, "/sms/status", form, signed_url="http://testserver/sms/status")
    assert internal.status_code == 403
    tampered = signed_post(client, "/sms/status", {**form, "MessageStatus": "delivered"})
    assert tampered.status_code == 204
    assert delivery_status(sqlite_engine, sid) == "delivered"  # only the genuine one counted


def test_signature_covers_the_query_string(client: TestClient, sqlite_engine: Engine) -> None:
    sid = "SM" + "c" * 32
    sent_delivery(sqlite_engine, sid)
    form = {"MessageSid": sid, "MessageStatus": "undelivered"}
    path = "/sms/status?source=ms"
    ok = signed_post(client, path, form, signed_url=PUBLIC_BASE + path)
    assert ok.status_code == 204
    wrong = signed_post(client, path, form, signed_url=PUBLIC_BASE + "/sms/status")
    assert wrong.status_code == 403


@pytest.mark.parametrize(
    ("content_type", "body", "status", "words"),
    [
        ("application/json", b'{"MessageSid": "SM1"}', 415, "expected a form"),
        ("application/x-www-form-urlencoded", b"MessageSid=%FF%FE", 400, "unreadable form"),
        ("application/x-www-form-urlencoded", b"a=1&&&=b=c", 400, "unreadable form"),
    ],
)
def test_malformed_requests_get_a_readable_4xx(
    client: TestClient, content_type: str, body: bytes, status: int, words: str
) -> None:
    for path in ("/sms/status", "/sms/inbound"):
        response = client.post(path, content=body, headers={"Content-Type": content_type})
        assert response.status_code == status
        assert words in response.json()["detail"]


def test_missing_fields_are_400_after_the_signature(client: TestClient) -> None:
    response = signed_post(client, "/sms/status", {"MessageStatus": "delivered"})
    assert response.status_code == 400
    assert response.json()["detail"] == "missing form field(s): MessageSid"
    response = signed_post(client, "/sms/inbound", {"Body": "HELP"})
    assert response.status_code == 400 and "From" in response.json()["detail"]


# ---------------------------------------------------------------------- status callbacks


def test_progress_statuses_change_nothing(client: TestClient, sqlite_engine: Engine) -> None:
    sid = "SM" + "d" * 32
    sent_delivery(sqlite_engine, sid)
    for status in ("queued", "sent"):
        form = {"MessageSid": sid, "MessageStatus": status}
        assert signed_post(client, "/sms/status", form).status_code == 204
    assert delivery_status(sqlite_engine, sid) is None


def test_undelivered_to_a_landline_marks_the_number_invalid(
    client: TestClient, sqlite_engine: Engine
) -> None:
    sid = "SM" + "e" * 32
    sent_delivery(sqlite_engine, sid)
    form = {"MessageSid": sid, "MessageStatus": "undelivered", "ErrorCode": "30006"}
    assert signed_post(client, "/sms/status", form).status_code == 204
    assert delivery_status(sqlite_engine, sid) == "undelivered"
    row = subscriber(sqlite_engine)
    assert row is not None and row.invalid_at is not None and row.opted_out_at is None


def test_unknown_message_sid_is_accepted_quietly(client: TestClient) -> None:
    form = {"MessageSid": "SM" + "0" * 32, "MessageStatus": "delivered"}
    assert signed_post(client, "/sms/status", form).status_code == 204


# ---------------------------------------------------------------------- inbound: opt-out


@pytest.mark.parametrize(
    "body",
    ["STOP", "stop", " Stop. ", "STOPALL", "UNSUBSCRIBE", "cancel", "END", "quit", "stop please"],
)
def test_stop_words_opt_out(client: TestClient, sqlite_engine: Engine, body: str) -> None:
    add_confirmed(sqlite_engine)
    text = reply_text(signed_post(client, "/sms/inbound", inbound(body, PHONE)))
    assert "You are unsubscribed" in text
    row = subscriber(sqlite_engine)
    assert row is not None and row.opted_out_at is not None


@pytest.mark.parametrize(
    "body",
    [
        "HELP",
        "help",
        "Help!",
        "INFO",
        "help stop",
        "HELP STOP",
        "help me stop these",
        "HELP UNSUBSCRIBE",
        "info cancel",
        "AYUDA",
        "HILFE",
        "",
        "what is this? stop",
    ],
)
def test_help_never_unsubscribes(client: TestClient, sqlite_engine: Engine, body: str) -> None:
    add_confirmed(sqlite_engine)
    text = reply_text(signed_post(client, "/sms/inbound", inbound(body, PHONE)))
    assert "STOP" in text and "unsubscribed" not in text.lower()
    row = subscriber(sqlite_engine)
    assert row is not None and row.active and row.opted_out_at is None


def test_start_after_stop_resubscribes(client: TestClient, sqlite_engine: Engine) -> None:
    add_confirmed(sqlite_engine)
    signed_post(client, "/sms/inbound", inbound("STOP", PHONE))
    text = reply_text(signed_post(client, "/sms/inbound", inbound("start", PHONE)))
    assert "resubscribed" in text
    row = subscriber(sqlite_engine)
    assert row is not None and row.active


# ---------------------------------------------------------------------- Advanced Opt-Out


def test_advanced_opt_out_acts_silently(client: TestClient, sqlite_engine: Engine) -> None:
    add_confirmed(sqlite_engine)
    service = {"MessagingServiceSid": "MG" + "f" * 32}
    stop = signed_post(client, "/sms/inbound", inbound("stop", PHONE, OptOutType="STOP", **service))
    assert reply_text(stop) == EMPTY_TWIML  # Twilio's own confirmation stands
    assert subscriber(sqlite_engine).opted_out_at is not None
    start = signed_post(
        client, "/sms/inbound", inbound("UNSTOP", PHONE, OptOutType="START", **service)
    )
    assert reply_text(start) == EMPTY_TWIML
    assert subscriber(sqlite_engine).active


@pytest.mark.parametrize("body", ["HELP", "info", "help stop"])
def test_advanced_opt_out_help_changes_nothing(
    client: TestClient, sqlite_engine: Engine, body: str
) -> None:
    add_confirmed(sqlite_engine)
    form = inbound(body, PHONE, OptOutType="HELP", MessagingServiceSid="MG" + "f" * 32)
    assert reply_text(signed_post(client, "/sms/inbound", form)) == EMPTY_TWIML
    assert subscriber(sqlite_engine).active


def test_advanced_opt_out_start_confirms_a_pending_sign_up(
    client: TestClient, sqlite_engine: Engine
) -> None:
    signed_post(client, "/sms/inbound", inbound("SUBSCRIBE 02115", PHONE))
    assert not subscriber(sqlite_engine).active
    form = inbound("YES", PHONE, OptOutType="START", MessagingServiceSid="MG" + "f" * 32)
    assert reply_text(signed_post(client, "/sms/inbound", form)) == EMPTY_TWIML
    assert subscriber(sqlite_engine).active


# ---------------------------------------------------------------------- SUBSCRIBE / STATUS


def test_subscribe_confirm_status(client: TestClient, sqlite_engine: Engine) -> None:
    asked = reply_text(signed_post(client, "/sms/inbound", inbound("subscribe 2115 5", PHONE)))
    assert "Reply YES to get appointment alerts within 5 miles of 02115 (Boston)" in asked
    row = subscriber(sqlite_engine)
    assert row is not None and not row.active
    assert (row.postal_code, row.radius_miles, row.locale) == ("02115", 5.0, "en")

    pending = reply_text(signed_post(client, "/sms/inbound", inbound("STATUS", PHONE)))
    assert "5 miles of 02115: waiting for YES" in pending

    done = reply_text(signed_post(client, "/sms/inbound", inbound("Yes", PHONE)))
    assert "Confirmed: you will get alerts for appointments within 5 miles of 02115" in done
    assert subscriber(sqlite_engine).active

    status = reply_text(signed_post(client, "/sms/inbound", inbound("status", PHONE)))
    assert "5 miles of 02115: active" in status


def test_subscribe_in_spanish_sets_the_language(client: TestClient, sqlite_engine: Engine) -> None:
    asked = reply_text(signed_post(client, "/sms/inbound", inbound("SUSCRIBIR 02115", PHONE)))
    assert "Responda YES para recibir alertas de citas a 10 millas de 02115" in asked
    assert subscriber(sqlite_engine).locale == "es"
    help_text = reply_text(signed_post(client, "/sms/inbound", inbound("HELP", PHONE)))
    assert "Alertas de citas" in help_text and "codigo postal" in help_text  # GSM-7: no ó


def test_replies_use_the_subscribers_language(client: TestClient, sqlite_engine: Engine) -> None:
    add_confirmed(sqlite_engine, locale="de")
    text = reply_text(signed_post(client, "/sms/inbound", inbound("STOP", PHONE)))
    assert "Sie sind abgemeldet" in text


@pytest.mark.parametrize(
    ("body", "words"),
    [
        ("SUBSCRIBE", "a ZIP code is missing"),
        ("SUBSCRIBE 99999", '"99999" is not a ZIP code we know'),
        ("SUBSCRIBE hello", '"hello" is not a ZIP code we know'),
        ("SUBSCRIBE 02115 far", '"far" is not a distance'),
        ("SUBSCRIBE 02115 500", '"500" is not a distance'),
    ],
)
def test_bad_sign_ups_explain_and_store_nothing(
    client: TestClient, sqlite_engine: Engine, body: str, words: str
) -> None:
    text = reply_text(signed_post(client, "/sms/inbound", inbound(body, PHONE)))
    assert words in text
    assert subscriber(sqlite_engine) is None


def test_status_and_yes_for_strangers(client: TestClient) -> None:
    status = reply_text(signed_post(client, "/sms/inbound", inbound("STATUS", PHONE)))
    assert "You have no appointment alerts" in status
    yes = reply_text(signed_post(client, "/sms/inbound", inbound("YES", PHONE)))
    assert "There is nothing to confirm" in yes


def test_logs_never_show_the_number(
    client: TestClient, sqlite_engine: Engine, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    add_confirmed(sqlite_engine)
    signed_post(client, "/sms/inbound", inbound("SUBSCRIBE 02115", PHONE))
    signed_post(client, "/sms/inbound", inbound("STOP", PHONE))
    text = "\n".join(r.getMessage() for r in caplog.records)
    assert "+1617***0123" in text
    assert PHONE not in text and "5550123" not in text


# ---------------------------------------------------------------------- short links


def test_short_link_redirects_to_booking(client: TestClient, sqlite_engine: Engine) -> None:
    alert_id, _ = sent_delivery(sqlite_engine, "SM" + "1" * 32)
    response = client.get(f"/b/{alert_id}", follow_redirects=False)
    assert response.status_code == 302
    assert response.headers["location"] == "https://book.example/x"


def test_short_link_unknown_or_linkless_is_readable_404(
    client: TestClient, sqlite_engine: Engine
) -> None:
    assert client.get("/b/999").status_code == 404
    assert "No alert 999" in client.get("/b/999").text
    assert "is not an alert number" in client.get("/b/abc").text
    alert_id, _ = sent_delivery(sqlite_engine, "SM" + "2" * 32, booking_url=None)
    response = client.get(f"/b/{alert_id}")
    assert response.status_code == 404 and "has no booking link" in response.text


# ---------------------------------------------------------------------- the parser


@pytest.mark.parametrize(
    ("body", "intent"),
    [
        ("STOP", Intent.STOP),
        ("help stop", Intent.HELP),
        ("Stop help", Intent.STOP),
        ("  info  ", Intent.HELP),
        ("UNSTOP", Intent.START),
        ("yes!", Intent.YES),
        ("yesterday", Intent.UNKNOWN),
        ("stopwatch", Intent.UNKNOWN),
        ("Abonnieren 02115", Intent.SUBSCRIBE),
        ("", Intent.UNKNOWN),
    ],
)
def test_parse_command_uses_only_the_first_word(body: str, intent: Intent) -> None:
    assert parse_command(body).intent is intent


def test_parse_subscribe_arguments() -> None:
    command = parse_command("subscribe 02115 25mi")
    assert (command.postal_code, command.radius, command.radius_unit) == ("02115", 25, "mi")
    assert command.language == "en"
    assert parse_command("ABONNIEREN 10115").language == "de"
    assert (parse_command("ABONNIEREN 10115 20km").radius_unit) == "km"
    # bounds depend on the unit, so the reply decides; the parser only reads the number
    assert parse_command("SUBSCRIBE 02115 0").radius == 0
    # "²" is a digit to str.isdigit but not to int(); 5,000 digits exceed int()'s limit
    assert parse_command("SUBSCRIBE 01830 ²").radius_given == "²"
    assert parse_command("SUBSCRIBE 01830 " + "9" * 5000).radius_given == "9" * 12
