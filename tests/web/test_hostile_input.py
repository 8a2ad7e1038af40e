"""Hostile input gets a 4xx (or, for a text, a helpful reply), never a 500: on SQLite and on
PostgreSQL, which refuses NUL bytes and ids beyond 32 bits where SQLite does not.

The SMS forms carry valid Twilio signatures, so they reach the validation behind the
signature check.
"""

from __future__ import annotations

from collections.abc import Iterator
from xml.etree import ElementTree

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from notifier.db import subscribers
from notifier.web.app import create_app
from tests.db.conftest import pg_engine, pg_engine_session, pg_server_url
from tests.web.conftest import NOW, sms_config
from tests.web.sms_web_support import inbound, signed_post

__all__ = ["pg_engine", "pg_engine_session", "pg_server_url"]  # fixtures used below

PHONE = "+16175550123"


def twiml_text(document: str) -> str:
    """The text of the reply in a TwiML answer."""
    return "".join(m.text or "" for m in ElementTree.fromstring(document).iter("Message"))


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db(request: pytest.FixtureRequest) -> Engine:
    name = "sqlite_engine" if request.param == "sqlite" else "pg_engine"
    engine: Engine = request.getfixturevalue(name)
    return engine


@pytest.fixture
def web(db: Engine) -> Iterator[TestClient]:
    app = create_app(sms_config(), engine=db, clock=lambda: NOW)
    with TestClient(app, raise_server_exceptions=False) as client:
        yield client


@pytest.mark.parametrize(
    "alert_id",
    ["²", "١٢٣", "2147483648", "9" * 19, "9" * 5000, "0", "-1", "1e3", " 1", "%00", "1%002"],
)
def test_short_link_with_a_bad_id_is_404_without_authentication(
    web: TestClient, alert_id: str
) -> None:
    response = web.get(f"/b/{alert_id}", follow_redirects=False)
    assert response.status_code == 404
    assert "is not an alert number" in response.text


def test_short_link_at_the_top_of_the_id_range_is_a_plain_404(web: TestClient) -> None:
    response = web.get("/b/2147483647", follow_redirects=False)
    assert response.status_code == 404
    assert "No alert 2147483647" in response.text


HOSTILE_TEXTS = [
    # (body, words the reply must contain)
    # replies are transliterated to GSM-7, so "²" comes back as "2"
    ("SUBSCRIBE 01830 ²", "is not a distance. Give miles from 1 to 100"),
    ("SUBSCRIBE 01830 " + "9" * 1500, '"999999999999" is not a distance'),
    ("SUBSCRIBE 01830 0", '"0" is not a distance'),
    ("SUBSCRIBE 01830 101", '"101" is not a distance'),
    ("SUBSCRIBE ²²²²²", "is not a ZIP code we know"),
    ("SUBSCRIBE ١٢٣٤٥", "is not a ZIP code we know"),
    ("SUBSCRIBE " + "1" * 1500, "is not a ZIP code we know"),
    ("SUBSCRIBE", "a ZIP code is missing"),
    ("²", "SUBSCRIBE <ZIP>"),
    ("\tHELP\r\n", "SUBSCRIBE <ZIP>"),
    ("x" * 1600, "SUBSCRIBE <ZIP>"),
]


@pytest.mark.parametrize(("body", "reply"), HOSTILE_TEXTS, ids=lambda v: repr(v[:20]))
def test_signed_hostile_texts_get_a_helpful_reply(
    web: TestClient, db: Engine, body: str, reply: str
) -> None:
    response = signed_post(web, "/sms/inbound", inbound(body, PHONE))
    assert response.status_code == 200, response.text
    assert reply in twiml_text(response.text)
    with db.connect() as conn:
        assert subscribers.find_by_address(conn, "sms", PHONE) is None


HOSTILE_FORMS = [
    # (path, form, words of the 400 message)
    ("/sms/inbound", inbound("HELP", "()--.."), "From is not a phone number"),
    ("/sms/inbound", inbound("HELP", "+1617555\x000123"), "From contains NUL"),
    ("/sms/inbound", inbound("HELP", "+" + "9" * 5000), "From is longer than"),
    ("/sms/inbound", inbound("HELP", "+²6175550123"), "E.164"),
    ("/sms/inbound", inbound("HELP", "+1000"), "not a possible phone number"),
    ("/sms/inbound", inbound("SUBSCRIBE 02115\x00", PHONE), "Body contains NUL"),
    ("/sms/inbound", inbound("SUBSCRIBE 02115\x1b[2J", PHONE), "Body contains NUL"),
    ("/sms/inbound", inbound("x" * 1601, PHONE), "Body is longer than 1600"),
    ("/sms/inbound", inbound("SUBSCRIBE 01830 " + "9" * 5000, PHONE), "Body is longer"),
    ("/sms/inbound", inbound("", PHONE, OptOutType="STOP\x00"), "OptOutType"),
    ("/sms/status", {"MessageSid": "SM\x001", "MessageStatus": "delivered"}, "MessageSid"),
    ("/sms/status", {"MessageSid": "SM" + "a" * 5000, "MessageStatus": "sent"}, "MessageSid"),
    ("/sms/status", {"MessageSid": "SM1", "MessageStatus": "déliv\x00ered"}, "MessageStatus"),
    (
        "/sms/status",
        {"MessageSid": "SM1", "MessageStatus": "failed", "ErrorCode": "30005\x00"},
        "ErrorCode",
    ),
]


@pytest.mark.parametrize(("path", "form", "message"), HOSTILE_FORMS, ids=lambda v: repr(v)[:30])
def test_signed_hostile_forms_are_400_with_a_readable_message(
    web: TestClient, path: str, form: dict[str, str], message: str
) -> None:
    response = signed_post(web, path, form)
    assert response.status_code == 400, response.text
    assert message in response.json()["detail"]
    assert "0123" not in response.json()["detail"]  # the number itself is never repeated


def test_a_national_number_with_punctuation_is_stored_in_e164(web: TestClient, db: Engine) -> None:
    # Twilio always sends E.164; anything else is refused rather than stored in some other
    # spelling that the uniqueness of (channel, address) would not recognise.
    response = signed_post(web, "/sms/inbound", inbound("SUBSCRIBE 02115", "+1 (617) 555-0123"))
    assert response.status_code == 400
    response = signed_post(web, "/sms/inbound", inbound("SUBSCRIBE 02115", PHONE))
    assert response.status_code == 200 and "02115 (Boston)" in response.text
    with db.connect() as conn:
        row = subscribers.find_by_address(conn, "sms", PHONE)
    assert row is not None and row.address == PHONE


@pytest.fixture
def email_web(db: Engine) -> Iterator[TestClient]:
    from tests.web.test_web_schema import full_config

    app = create_app(full_config(), engine=db, clock=lambda: NOW)
    with TestClient(app, raise_server_exceptions=False) as client:
        yield client


@pytest.mark.parametrize("token", ["a%00b", "%C2%B2", "x" * 5000, "..%2F..", "%E2%80%AE"])
@pytest.mark.parametrize("method", ["GET", "POST"])
def test_hostile_confirmation_tokens_are_404_not_a_database_error(
    email_web: TestClient, token: str, method: str
) -> None:
    # PostgreSQL refuses NUL in a query parameter: looking such a token up answered 503.
    response = email_web.request(method, f"/confirm/{token}")
    assert response.status_code == 404


@pytest.mark.parametrize("token", ["a%00b", "%C2%B2", "x" * 5000])
def test_hostile_unsubscribe_tokens_are_400(email_web: TestClient, token: str) -> None:
    response = email_web.post(f"/u/{token}", data={"List-Unsubscribe": "One-Click"})
    assert response.status_code == 400
