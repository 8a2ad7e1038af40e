"""One-click unsubscribe and sign-up confirmation pages, through the FastAPI app and SQLite."""

from __future__ import annotations

import asyncio
import datetime as dt
import re
import time
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from itsdangerous import TimestampSigner
from sqlalchemy import Engine, select

from channels.email import EmailChannel
from notifier.channel import Recipient
from notifier.config import ChannelConfig, Config, OperatorConfig
from notifier.db import subscribers
from notifier.db.fanout import ChannelPlan, write_alert
from notifier.db.tables import delivery_table
from notifier.messaging.unsubscribe_tokens import make_unsubscribe_token
from notifier.model import Alert, Location
from notifier.testing.smtp_server import SmtpTestServer
from notifier.web.app import create_app

NOW = dt.datetime(2021, 2, 24, 15, 0, tzinfo=dt.UTC)
SECRET = "web-test-signing-secret-0123456789"
BASE_URL = "https://alerts.example.org"
JANE = "jane@example.org"


def email_channel_settings(**overrides: Any) -> dict[str, Any]:
    settings: dict[str, Any] = {
        "host": "127.0.0.1",
        "security": "none",
        "from_address": "Vaccine Alerts <alerts@alerts.example.org>",
        "base_url": BASE_URL,
        "secret": SECRET,
        "unsubscribe_link_days": 30,
    }
    settings.update(overrides)
    return settings


@pytest.fixture
def client(sqlite_engine: Engine) -> Iterator[TestClient]:
    config = Config(
        operator=OperatorConfig(contact="ops@example.org"),
        channels={"email": ChannelConfig(settings=email_channel_settings())},
    )
    app = create_app(config, engine=sqlite_engine, clock=lambda: NOW)
    with TestClient(app, raise_server_exceptions=False) as test_client:
        yield test_client


def add_subscriber(
    engine: Engine, address: str = JANE, *, locale: str = "en", confirmed: bool = True
) -> tuple[int, str]:
    with engine.begin() as conn:
        sub_id, token = subscribers.add_subscriber(
            conn,
            channel="email",
            address=address,
            postal_code="02115",
            radius_miles=10,
            locale=locale,
            now=NOW,
        )
        if confirmed:
            subscribers.confirm(conn, token, NOW)
    return sub_id, token


def row(engine: Engine, address: str = JANE) -> subscribers.SubscriberRow:
    with engine.connect() as conn:
        found = subscribers.find_by_address(conn, "email", address)
    assert found is not None
    return found


def one_click(client: TestClient, path: str) -> Any:
    return client.post(
        path,
        content=b"List-Unsubscribe=One-Click",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )


def font_sizes(html: str) -> list[int]:
    return [int(px) for px in re.findall(r"font-size:(\d+)px", html)]


# ---------------------------------------------------------------------- unsubscribe


def test_get_shows_a_one_button_page_and_changes_nothing(
    client: TestClient, sqlite_engine: Engine
) -> None:
    sub_id, _ = add_subscriber(sqlite_engine)
    token = make_unsubscribe_token(SECRET, sub_id, "email")
    response = client.get(f"/u/{token}")
    assert response.status_code == 200
    html = response.text
    assert "Stop the appointment emails?" in html
    assert html.count("<button") == 1 and "Yes, stop the emails" in html
    assert f'<form method="post" action="./{token}">' in html
    assert '<input type="hidden" name="List-Unsubscribe" value="One-Click">' in html
    assert min(font_sizes(html)) >= 20
    assert response.headers["referrer-policy"] == "no-referrer"
    assert row(sqlite_engine).opted_out_at is None


def test_one_click_post_opts_out_and_cancels_queued_alerts(
    client: TestClient, sqlite_engine: Engine
) -> None:
    sub_id, _ = add_subscriber(sqlite_engine)
    alert = Alert(
        provider_id="prepmod",
        location=Location(id="fenway", name="Fenway Park", lat=42.3467, lon=-71.0972),
        kind="opened",
        appointments=3,
        increase=3,
        by_date={},
        products=(),
        age_groups=(),
        detected_at=NOW,
        expires_at=NOW + dt.timedelta(hours=1),
    )
    with sqlite_engine.begin() as conn:
        write_alert(conn, alert, channels=[ChannelPlan("email", "recipient")], now=NOW)
    token = make_unsubscribe_token(SECRET, sub_id, "email")

    response = one_click(client, f"/u/{token}")
    assert response.status_code == 200 and "Done: no more emails" in response.text
    assert row(sqlite_engine).opted_out_at == NOW
    with sqlite_engine.connect() as conn:
        assert conn.execute(select(delivery_table.c.state)).scalars().all() == ["cancelled"]
    again = one_click(client, f"/u/{token}")  # a second press, or the mail program's retry
    assert again.status_code == 200 and row(sqlite_engine).opted_out_at == NOW


def test_one_click_accepts_multipart_form_data(client: TestClient, sqlite_engine: Engine) -> None:
    sub_id, _ = add_subscriber(sqlite_engine)
    token = make_unsubscribe_token(SECRET, sub_id, "email")
    response = client.post(f"/u/{token}", files={"List-Unsubscribe": (None, "One-Click")})
    assert response.status_code == 200
    assert row(sqlite_engine).opted_out_at is not None


def test_a_post_without_the_one_click_body_changes_nothing(
    client: TestClient, sqlite_engine: Engine
) -> None:
    sub_id, _ = add_subscriber(sqlite_engine)
    token = make_unsubscribe_token(SECRET, sub_id, "email")
    for body in (b"", b"List-Unsubscribe=Maybe", b"\xff\xfe"):
        response = client.post(
            f"/u/{token}",
            content=body,
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        )
        assert response.status_code == 400
    assert row(sqlite_engine).opted_out_at is None


def test_bad_links_get_a_readable_page_never_a_500(
    client: TestClient, sqlite_engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    sub_id, _ = add_subscriber(sqlite_engine)
    token = make_unsubscribe_token(SECRET, sub_id, "email")
    tampered = token[:-2] + ("AA" if not token.endswith("AA") else "BB")
    other_id = make_unsubscribe_token(SECRET, sub_id + 1, "email").split(".")[0]
    forged = other_id + token[token.index(".") :]
    foreign = make_unsubscribe_token("some-other-secret-0123456789", sub_id, "email")
    sms = make_unsubscribe_token(SECRET, sub_id, "sms")
    for bad in (tampered, forged, foreign, sms, "x", "a.b.c", "%00", "W10.AAAAAA.x" * 50):
        for response in (client.get(f"/u/{bad}"), one_click(client, f"/u/{bad}")):
            assert response.status_code == 400, bad
            assert "This link does not work" in response.text
            assert min(font_sizes(response.text)) >= 20
    nobody = make_unsubscribe_token(SECRET, 999_999, "email")
    for response in (client.get(f"/u/{nobody}"), one_click(client, f"/u/{nobody}")):
        assert response.status_code == 404 and "cannot find this subscription" in response.text

    long_ago = int(time.time()) - 31 * 86400  # the app allows 30 days
    monkeypatch.setattr(TimestampSigner, "get_timestamp", lambda self: long_ago)
    expired = make_unsubscribe_token(SECRET, sub_id, "email")
    monkeypatch.undo()
    response = one_click(client, f"/u/{expired}")
    assert response.status_code == 400 and "This link is too old" in response.text
    assert row(sqlite_engine).opted_out_at is None


def test_pages_speak_the_subscribers_or_the_browsers_language(
    client: TestClient, sqlite_engine: Engine
) -> None:
    sub_id, _ = add_subscriber(sqlite_engine, locale="de")
    token = make_unsubscribe_token(SECRET, sub_id, "email")
    page = client.get(f"/u/{token}", headers={"Accept-Language": "es-ES,es;q=0.9"})
    assert '<html lang="de">' in page.text and "Keine Termin-E-Mails mehr?" in page.text
    done = one_click(client, f"/u/{token}")
    assert "Erledigt: keine E-Mails mehr" in done.text
    bad = client.get("/u/nonsense", headers={"Accept-Language": "es-MX,en;q=0.5"})
    assert '<html lang="es">' in bad.text and "Este enlace no funciona" in bad.text


def test_no_email_routes_without_the_email_channel(sqlite_engine: Engine) -> None:
    app = create_app(
        Config(operator=OperatorConfig(contact="ops@example.org")), engine=sqlite_engine
    )
    with TestClient(app) as test_client:
        assert test_client.get("/u/anything").status_code == 404


# ---------------------------------------------------------------------- confirmation


def test_confirmation_shows_a_button_then_confirms(
    client: TestClient, sqlite_engine: Engine
) -> None:
    _, token = add_subscriber(sqlite_engine, locale="es", confirmed=False)
    page = client.get(f"/confirm/{token}")
    assert page.status_code == 200 and "¿Empezar a recibir correos de citas?" in page.text
    assert page.text.count("<button") == 1 and 'name="List-Unsubscribe"' not in page.text
    assert row(sqlite_engine).confirmed_at is None  # a link scanner's GET confirms nothing
    done = client.post(f"/confirm/{token}")
    assert done.status_code == 200 and "Gracias: sus avisos están activados" in done.text
    assert row(sqlite_engine).confirmed_at == NOW
    used = client.post(f"/confirm/{token}")
    assert used.status_code == 404 and "This confirmation link does not work" in used.text
    assert client.get("/confirm/unknown-token").status_code == 404


# ---------------------------------------------------------------------- the whole round trip


def test_the_link_in_a_sent_email_unsubscribes_its_reader(
    client: TestClient, sqlite_engine: Engine
) -> None:
    sub_id, confirm_token = add_subscriber(sqlite_engine, confirmed=False)
    alert = Alert(
        provider_id="prepmod",
        location=Location(id="fenway", name="Fenway Park", city="Boston"),
        kind="opened",
        appointments=3,
        increase=3,
        by_date={},
        products=(),
        age_groups=(),
        detected_at=NOW,
        expires_at=NOW + dt.timedelta(hours=1),
        id=1,
    )
    with SmtpTestServer() as server:
        channel = EmailChannel(email_channel_settings(port=server.port))
        recipient = Recipient(sub_id, JANE)

        async def send_both() -> None:
            for message in (
                channel.compose_confirmation(recipient, confirm_token),
                channel.compose([alert], recipient),
            ):
                assert (await channel.send(message)).ok
            await channel.aclose()

        asyncio.run(send_both())
        confirmation, alert_mail = server.emails()

    confirm_link = re.search(
        r"https://\S+/confirm/\S+", confirmation.get_body(("plain",)).get_content()
    )
    assert confirm_link is not None
    assert client.post(confirm_link.group(0).removeprefix(BASE_URL)).status_code == 200
    assert row(sqlite_engine).active

    header_link = re.match(r"<([^>]+)>", alert_mail["List-Unsubscribe"])
    assert header_link is not None and header_link.group(1).startswith(f"{BASE_URL}/u/")
    response = one_click(client, header_link.group(1).removeprefix(BASE_URL))
    assert response.status_code == 200
    assert row(sqlite_engine).opted_out_at is not None and not row(sqlite_engine).active
