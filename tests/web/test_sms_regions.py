"""Regions beyond the US: a postal code is read in the country of the sender's number, and
German texts give and read distances in kilometres."""

from __future__ import annotations

from xml.etree import ElementTree

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from notifier.db import subscribers
from notifier.messaging.render import KM_PER_MILE, TEMPLATE_DIR, distance_unit, render
from tests.web.sms_web_support import inbound, signed_post

GERMAN = "+492211234567"
AMERICAN = "+16175550123"


def text(client: TestClient, body: str, sender: str) -> str:
    response = signed_post(client, "/sms/inbound", inbound(body, sender))
    assert response.status_code == 200, response.text
    return "".join(m.text or "" for m in ElementTree.fromstring(response.text).iter("Message"))


def stored(engine: Engine, number: str) -> subscribers.SubscriberRow:
    with engine.connect() as conn:
        row = subscribers.find_by_address(conn, "sms", number)
    assert row is not None
    return row


def test_a_german_number_subscribes_to_a_german_postal_code_in_km(
    client: TestClient, sqlite_engine: Engine
) -> None:
    # Seen: "ABONNIEREN 50667" from +49... was stored as ZIP 50667, Raymond, Iowa.
    asked = text(client, "ABONNIEREN 50667", GERMAN)
    assert "im Umkreis von 15 km um 50667 (Köln)" in asked
    row = stored(sqlite_engine, GERMAN)
    assert row.postal_code == "50667" and row.locale == "de"
    assert row.lat == pytest.approx(50.94, abs=0.05) and row.lon == pytest.approx(6.95, abs=0.05)
    assert row.time_zone == "Europe/Berlin"
    assert row.radius_miles == pytest.approx(15 / KM_PER_MILE)

    assert "Umkreis von 15 km um 50667" in text(client, "YES", GERMAN)
    assert "15 km um 50667: aktiv" in text(client, "STATUS", GERMAN)


def test_a_german_radius_is_read_in_km(client: TestClient, sqlite_engine: Engine) -> None:
    assert "Umkreis von 25 km um 10115" in text(client, "ABONNIEREN 10115 25", GERMAN)
    assert stored(sqlite_engine, GERMAN).radius_miles == pytest.approx(25 / KM_PER_MILE)
    # a unit typed explicitly wins, and the reply converts it into the reader's unit
    assert "Umkreis von 16 km um 10115" in text(client, "ABONNIEREN 10115 10mi", GERMAN)
    assert stored(sqlite_engine, GERMAN).radius_miles == pytest.approx(10)


def test_a_german_radius_out_of_range_names_the_km_limit(client: TestClient) -> None:
    reply = text(client, "ABONNIEREN 50667 500", GERMAN)
    assert '"500" keine Entfernung' in reply and "1 bis 160 km" in reply
    assert "Meilen" not in reply


def test_an_english_keyword_from_germany_still_reads_a_german_code(client: TestClient) -> None:
    # English replies measure in miles; the code is still a PLZ, because of the number
    reply = text(client, "SUBSCRIBE 50667", GERMAN)
    assert "within 10 miles of 50667 (Köln)" in reply


def test_a_us_number_reads_us_zip_codes_even_in_german(
    client: TestClient, sqlite_engine: Engine
) -> None:
    assert "02115 (Boston)" in text(client, "ABONNIEREN 02115", AMERICAN)
    row = stored(sqlite_engine, AMERICAN)
    assert row.lat == pytest.approx(42.34, abs=0.05) and row.locale == "de"
    assert "50667" in text(client, "SUBSCRIBE 50667", AMERICAN)  # Iowa, as a US ZIP
    assert stored(sqlite_engine, AMERICAN).lat == pytest.approx(42.8, abs=0.6)


def test_a_german_code_unknown_in_germany_is_refused(client: TestClient) -> None:
    reply = text(client, "ABONNIEREN 00000", GERMAN)
    assert 'PLZ "00000" nicht' in reply


def test_no_german_sms_text_speaks_of_miles() -> None:
    context = {
        "given": "x",
        "max_radius": 160,
        "radius": 15,
        "postal_code": "50667",
        "city": "Köln",
        "group": "65+",
        "manage": True,
        "link": "https://alerts.example.org/manage/s1.AbCdEfGhIjKlMnOp",
        "subscriptions": [
            {"postal_code": "50667", "radius": 15, "confirmed": True, "opted_out": False}
        ],
    }
    names = sorted(p.name.removesuffix(".j2") for p in (TEMPLATE_DIR / "de" / "sms").iterdir())
    assert "bad_miles.txt" in names and "status.txt" in names
    for name in names:
        if name == "alert.txt":
            continue  # alerts name no distance
        rendered = render("sms", "de", name, **context)
        assert "Meile" not in rendered, name
    assert distance_unit("de") == "km" and distance_unit("de-AT") == "km"
    assert distance_unit("en") == distance_unit("es") == distance_unit(None) == "mi"


def test_a_radius_in_the_other_unit_is_shown_rounded_as_people_say_it(
    client: TestClient, sqlite_engine: Engine
) -> None:
    # Seen: "within 0.621371 miles" after "SUBSCRIBE 02115 1km", and "99.4194 miles"
    assert "within 0.6 miles of 02115 (Boston)" in text(client, "SUBSCRIBE 02115 1km", AMERICAN)
    assert stored(sqlite_engine, AMERICAN).radius_miles == pytest.approx(1 / KM_PER_MILE)
    assert "a 99 millas de 02115 (Boston)" in text(client, "SUSCRIBIR 02115 160km", AMERICAN)
    assert "99 millas de 02115: esperando YES" in text(client, "ESTADO", AMERICAN)
    assert "within 9.3 miles of 02115" in text(client, "SUBSCRIBE 02115 15km", AMERICAN)
    # the same rule the other way, with a decimal comma; whole numbers from 10 on
    assert "Umkreis von 1,6 km um 10115" in text(client, "ABONNIEREN 10115 1mi", GERMAN)
    assert "Umkreis von 161 km um 10115" in text(client, "ABONNIEREN 10115 100mi", GERMAN)
