"""MANAGE by text: an active SMS subscriber gets a short signed link to their own manage page,
through the real Twilio webhook (valid signatures) and the real manage page, on SQLite and
PostgreSQL. Everyone else gets a helpful reply and no link; every reply fits one GSM-7
segment in every language; without web pages MANAGE explains the keywords instead."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from pathlib import Path
from xml.etree import ElementTree

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from typer.testing import CliRunner

from notifier.cli.app import app as cli
from notifier.config import SignupConfig, WebConfig
from notifier.db import subscribers
from notifier.db.engine import write_transaction
from notifier.messaging.gsm import Encoding, encoding, segment_count, sms_length, to_gsm
from notifier.messaging.render import KM_PER_MILE, SUPPORTED_LOCALES, render
from notifier.messaging.signed_links import make_manage_token
from notifier.web.app import create_app
from notifier.web.edge import MAX_DB_INT
from notifier.web.sms_commands import Intent, parse_command
from notifier.web.sms_routes import (
    handle_command,
    manage_link_for,
    manage_links_off,
    manage_reply,
)
from tests.db.conftest import pg_engine, pg_engine_session, pg_server_url
from tests.web.conftest import NOW, sms_config
from tests.web.signup_support import WEB_SECRET, signup_config
from tests.web.sms_web_support import PUBLIC_BASE, inbound, signed_post

__all__ = ["pg_engine", "pg_engine_session", "pg_server_url"]  # fixtures used below

AMERICAN = "+16175550123"
NEIGHBOUR = "+16175550199"
GERMAN = "+492211234567"
HTTPS = "https://testserver"  # the CSRF cookie is Secure: the public URL is https
LINK = re.compile(re.escape(PUBLIC_BASE) + r"/manage/(\S+)")


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db(request: pytest.FixtureRequest) -> Engine:
    name = "sqlite_engine" if request.param == "sqlite" else "pg_engine"
    engine: Engine = request.getfixturevalue(name)
    return engine


@pytest.fixture
def site(db: Engine) -> Iterator[TestClient]:
    """SMS and email on, the web secret and the public URL set: the full front door."""
    app = create_app(signup_config(), engine=db, clock=lambda: NOW)
    with TestClient(app, raise_server_exceptions=False, base_url=HTTPS) as client:
        yield client


def text(client: TestClient, body: str, sender: str) -> str:
    """Text ``body`` from ``sender`` through the signed webhook; the reply's text."""
    response = signed_post(client, "/sms/inbound", inbound(body, sender))
    assert response.status_code == 200, response.text
    messages = list(ElementTree.fromstring(response.text).iter("Message"))
    assert len(messages) == 1
    return messages[0].text or ""


def one_segment(reply: str) -> str:
    assert encoding(reply) is Encoding.GSM7, reply
    assert segment_count(reply) == 1 and sms_length(reply) <= 160, (sms_length(reply), reply)
    return reply


def link_path(reply: str) -> str:
    """The path of the manage link in a reply (the test client talks to the app directly)."""
    found = LINK.search(reply)
    assert found is not None, reply
    return f"/manage/{found.group(1)}"


def subscribe(client: TestClient, sender: str, body: str = "SUBSCRIBE 02115") -> str:
    text(client, body, sender)
    return text(client, "YES", sender)


def stored(engine: Engine, number: str) -> subscribers.SubscriberRow:
    with engine.connect() as conn:
        row = subscribers.find_by_address(conn, "sms", number)
    assert row is not None
    return row


def csrf(page: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert found is not None
    return found.group(1)


# ---------------------------------------------------------------------- the round trip


def test_manage_link_round_trip(site: TestClient, db: Engine) -> None:
    welcome = one_segment(subscribe(site, AMERICAN))
    assert "Text MANAGE to change them" in welcome

    reply = one_segment(text(site, "manage", AMERICAN))
    assert reply.startswith("Your private link to change or end your appointment alerts: ")
    path = link_path(reply)
    assert len(path) < 40  # a short link: /manage/ and under 30 characters of token

    page = site.get(path)
    assert page.status_code == 200
    assert 'value="02115"' in page.text and "Distance in miles" in page.text
    saved = site.post(
        path,
        data={
            "csrf_token": csrf(page.text),
            "postal_code": "01060",
            "radius": "25",
            "products": ["Moderna"],
            "digest_minutes": "60",
        },
    )
    assert saved.status_code == 200 and "Your changes are saved." in saved.text
    row = stored(db, AMERICAN)
    assert (row.postal_code, row.radius_miles, row.digest_minutes) == ("01060", 25.0, 60)
    assert row.filters == {"products": ["Moderna"]} and row.active
    assert "25 miles of 01060: active" in text(site, "STATUS", AMERICAN)

    left = site.post(f"{path}/leave", data={"csrf_token": csrf(saved.text)})
    assert left.status_code == 200 and "You are unsubscribed" in left.text
    assert stored(db, AMERICAN).opted_out_at is not None
    # Stopped: no link (the page cannot resume alerts), but how to resume
    stopped = one_segment(text(site, "MANAGE", AMERICAN))
    assert "Text START" in stopped and "http" not in stopped
    text(site, "START", AMERICAN)
    assert link_path(text(site, "MANAGE", AMERICAN)) == path  # the same link as before


def test_a_german_number_manages_in_german_with_a_plz_and_km(site: TestClient, db: Engine) -> None:
    welcome = one_segment(subscribe(site, GERMAN, "ABONNIEREN 50667"))
    assert "VERWALTEN ändert sie" in welcome

    reply = one_segment(text(site, "Verwalten", GERMAN))
    assert reply.startswith("Ihr persönlicher Link zum Ändern oder Beenden Ihrer Terminalarme: ")
    page = site.get(link_path(reply))
    assert page.status_code == 200
    assert "Entfernung in km" in page.text
    assert 'value="50667"' in page.text and 'name="radius" min="1" max="80" value="15"' in page.text

    path = link_path(reply)
    saved = site.post(
        path, data={"csrf_token": csrf(page.text), "postal_code": "10115", "radius": "20"}
    )
    assert saved.status_code == 200 and "Ihre Änderungen sind gespeichert." in saved.text
    row = stored(db, GERMAN)
    assert row.postal_code == "10115" and row.time_zone == "Europe/Berlin"  # Berlin, not NYC
    assert row.lat == pytest.approx(52.53, abs=0.05)
    assert row.radius_miles == pytest.approx(20 / KM_PER_MILE)
    assert "20 km um 10115: aktiv" in text(site, "STATUS", GERMAN)

    unknown = site.post(
        path, data={"csrf_token": csrf(saved.text), "postal_code": "00000", "radius": "20"}
    )
    assert unknown.status_code == 400 and "00000" in unknown.text
    # The English word answers in the subscriber's language
    assert link_path(text(site, "MANAGE", GERMAN)) == path


def test_a_radius_texted_in_km_is_a_rounded_field_the_browser_accepts(
    site: TestClient, db: Engine
) -> None:
    # Seen: value="9.32057" in a field stepping by whole miles, which the browser refused to
    # send; the page shows the radius as the texts do, with a decimal point for the field.
    welcome = one_segment(subscribe(site, AMERICAN, "SUSCRIBIR 02115 15km"))
    assert "a 9,3 millas de 02115" in welcome
    page = site.get(link_path(text(site, "GESTIONAR", AMERICAN)))
    assert page.status_code == 200
    assert 'name="radius" min="1" max="50" value="9.3" step="any"' in page.text
    saved = site.post(
        link_path(text(site, "MANAGE", AMERICAN)),
        data={"csrf_token": csrf(page.text), "postal_code": "02115", "radius": "9.3"},
    )
    assert saved.status_code == 200, saved.text
    assert stored(db, AMERICAN).radius_miles == pytest.approx(9.3)
    assert "9,3 millas de 02115: activa" in text(site, "ESTADO", AMERICAN)


def test_spanish_keywords_answer_in_spanish(site: TestClient) -> None:
    welcome = one_segment(subscribe(site, AMERICAN, "SUSCRIBIR 02115"))
    assert "Envie GESTIONAR para cambiarlas" in welcome  # GSM-7: no í
    for word in ("GESTIONAR", "administrar"):
        reply = one_segment(text(site, word, AMERICAN))
        assert reply.startswith("Su enlace personal para cambiar o terminar sus alertas")
        assert site.get(link_path(reply)).status_code == 200


def test_each_number_gets_only_its_own_link(site: TestClient, db: Engine) -> None:
    subscribe(site, AMERICAN, "SUBSCRIBE 02115")
    subscribe(site, NEIGHBOUR, "SUBSCRIBE 01060")
    mine = link_path(text(site, "MANAGE", AMERICAN))
    theirs = link_path(text(site, "MANAGE", NEIGHBOUR))
    assert mine != theirs
    assert 'value="02115"' in site.get(mine).text
    assert 'value="01060"' in site.get(theirs).text
    assert stored(db, AMERICAN).id != stored(db, NEIGHBOUR).id


def test_a_tampered_link_is_refused(site: TestClient, db: Engine) -> None:
    subscribe(site, AMERICAN)
    subscribe(site, NEIGHBOUR, "SUBSCRIBE 01060")
    path = link_path(text(site, "MANAGE", AMERICAN))
    token = path.removeprefix("/manage/")
    ident, signature = token.split(".")
    other = stored(db, NEIGHBOUR).id
    last = "B" if signature[-1] == "A" else "A"
    tampered = [
        f"{ident}.{signature[:-1]}{last}",  # an edited signature
        f"s{other}.{signature}",  # the neighbour's id with my signature
        f"e{ident[1:]}.{signature}",  # another channel
        f"{ident}.{signature[:8]}",  # cut short
    ]
    for bad in tampered:
        page = site.get(f"/manage/{bad}")
        assert page.status_code == 400, bad
        assert "sign up again" in page.text
        assert site.post(f"/manage/{bad}", data={}).status_code == 400
        assert site.post(f"/manage/{bad}/leave", data={}).status_code == 400
    assert stored(db, AMERICAN).active and stored(db, NEIGHBOUR).active
    # The long form of the link names the channel too: an email token opens no SMS page
    email_token = make_manage_token(WEB_SECRET, stored(db, AMERICAN).id, "email")
    assert site.get(f"/manage/{email_token}").status_code == 404


# ---------------------------------------------------------------------- no link for them


def test_an_unknown_number_is_told_how_to_sign_up(site: TestClient, db: Engine) -> None:
    for word, expected in (
        ("MANAGE", "You have no appointment alerts. Text SUBSCRIBE"),
        ("VERWALTEN", "Sie haben keine Terminalarme. ABONNIEREN"),
        ("GESTIONAR", "No tiene alertas de citas. Envie SUSCRIBIR"),
    ):
        reply = one_segment(text(site, word, AMERICAN))
        assert expected in reply and "http" not in reply
    with db.connect() as conn:
        assert subscribers.find_by_address(conn, "sms", AMERICAN) is None  # nothing stored


def test_an_unconfirmed_number_is_asked_to_confirm_first(site: TestClient, db: Engine) -> None:
    text(site, "SUBSCRIBE 02115", AMERICAN)
    reply = one_segment(text(site, "MANAGE", AMERICAN))
    assert "Reply YES first" in reply and "http" not in reply
    assert not stored(db, AMERICAN).active
    text(site, "ABONNIEREN 50667", GERMAN)
    assert "zuerst mit YES" in one_segment(text(site, "VERWALTEN", GERMAN))


def test_a_number_marked_invalid_gets_no_link(site: TestClient, db: Engine) -> None:
    subscribe(site, AMERICAN)
    with write_transaction(db) as conn:
        subscribers.mark_invalid(conn, [stored(db, AMERICAN).id], NOW)
    reply = one_segment(text(site, "MANAGE", AMERICAN))
    assert "Text SUBSCRIBE" in reply and "http" not in reply


def test_logs_show_neither_the_number_nor_the_link(
    site: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    subscribe(site, GERMAN, "ABONNIEREN 50667")
    token = link_path(text(site, "VERWALTEN", GERMAN)).removeprefix("/manage/")
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert "sent the manage link of subscriber" in logged and "+4922***4567" in logged
    assert GERMAN not in logged and GERMAN[1:] not in logged and "2211234567" not in logged
    assert token not in logged and token.split(".")[1] not in logged


# ---------------------------------------------------------------------- segment budgets


@pytest.mark.parametrize("locale", SUPPORTED_LOCALES)
def test_every_manage_related_reply_fits_one_gsm7_segment(locale: str) -> None:
    # The longest link there is: the default-length test URL and the largest id
    link = manage_link_for(PUBLIC_BASE, WEB_SECRET)(MAX_DB_INT)
    assert one_segment(manage_reply(locale, link)) != link  # worded, not just the link

    def say(name: str, **context: object) -> str:
        return to_gsm(render("sms", locale, name, **context))

    widest = {"radius": 160, "postal_code": "02115"}
    for manage in (True, False):
        one_segment(say("help.txt", manage=manage))
        one_segment(say("confirmed.txt", manage=manage, **widest))
    for name in ("manage_pending.txt", "manage_stopped.txt", "manage_by_text.txt"):
        one_segment(say(name))


def test_a_long_public_url_sends_the_bare_link_and_a_too_long_one_none() -> None:
    longish = "https://appointments.department-of-public-health.example.org/notifier"
    link = manage_link_for(longish, WEB_SECRET)(MAX_DB_INT)
    assert manage_reply("de", link) == link and sms_length(link) <= 160

    def web(url: str) -> WebConfig:
        return WebConfig(public_url=url, secret_key=WEB_SECRET)

    assert manage_links_off(web(longish)) is None
    fits, over = "https://" + "x" * 112 + ".org", "https://" + "x" * 113 + ".org"
    assert len(fits) == 124
    assert sms_length(manage_link_for(fits, WEB_SECRET)(MAX_DB_INT)) == 160
    assert manage_links_off(web(fits)) is None
    too_long = manage_links_off(web(over))
    assert too_long is not None and "at most 124 plain characters" in too_long


def test_replies_through_the_webhook_fit_one_segment_in_every_language(
    site: TestClient,
) -> None:
    for sender, sign_up, keyword in (
        (AMERICAN, "SUBSCRIBE 02115 100", "MANAGE"),
        (NEIGHBOUR, "SUSCRIBIR 02115 100", "GESTIONAR"),
        (GERMAN, "ABONNIEREN 50667 160", "VERWALTEN"),
    ):
        text(site, sign_up, sender)
        for body in ("HELP", "YES", keyword, "STATUS", "STOP", keyword, "START"):
            one_segment(text(site, body, sender))


# ---------------------------------------------------------------------- without web pages


def test_without_web_pages_manage_explains_the_keywords(client: TestClient) -> None:
    # ``client``: SMS on, no web.secret_key, so no manage pages
    welcome = subscribe(client, AMERICAN)
    assert "MANAGE" not in welcome and "Text STOP to end." in welcome
    assert "MANAGE" not in text(client, "HELP", AMERICAN)
    reply = one_segment(text(client, "MANAGE", AMERICAN))
    assert reply.startswith("Change your alerts by text: SUBSCRIBE <ZIP> [miles]")
    assert "Ändern per SMS" in one_segment(text(client, "VERWALTEN", AMERICAN))  # Ä is GSM-7
    assert client.get("/manage/s1.AbCdEfGhIjKlMnOp").status_code == 404


def test_the_app_says_why_texts_carry_no_link(
    sqlite_engine: Engine, caplog: pytest.LogCaptureFixture
) -> None:
    full = signup_config()
    no_url = WebConfig(secret_key=WEB_SECRET)
    no_pages = WebConfig(
        public_url=PUBLIC_BASE, secret_key=WEB_SECRET, signup=SignupConfig(enabled=False)
    )
    cases = [
        (sms_config(), AMERICAN, "web.secret_key is not set"),
        (full.model_copy(update={"web": no_url}), NEIGHBOUR, "web.public_url is not set"),
        (full.model_copy(update={"web": no_pages}), "+16175550142", "web.signup.enabled is false"),
    ]
    for config, sender, reason in cases:
        caplog.clear()
        with caplog.at_level(logging.WARNING):
            app = create_app(config, engine=sqlite_engine, clock=lambda: NOW)
        warnings = [r.getMessage() for r in caplog.records if "MANAGE" in r.getMessage()]
        assert len(warnings) == 1 and reason in warnings[0], warnings
        with TestClient(app, raise_server_exceptions=False) as client:
            subscribe(client, sender)
            assert "by text" in text(client, "MANAGE", sender)


CONFIG = """\
operator:
  contact: mailto:ops@example.org
channels:
  sms:
    settings:
      account_sid: AC{sid}
      auth_token: ${{TWILIO_AUTH_TOKEN}}
      from_number: "+16175550000"
      base_url: https://alerts.example.org
{web}"""


@pytest.mark.parametrize(
    ("web", "warning"),
    [
        ("", "web.secret_key is not set"),
        ("web:\n  secret_key: ${NOTIFIER_SECRET_KEY}\n", "web.public_url is not set"),
        (
            "web:\n  public_url: https://alerts.example.org\n"
            "  secret_key: ${NOTIFIER_SECRET_KEY}\n",
            None,
        ),
        (
            "web:\n  public_url: https://appointments.department-of-public-health.example.org/x\n"
            "  secret_key: ${NOTIFIER_SECRET_KEY}\n",
            "carry the bare link",
        ),
    ],
)
def test_config_check_says_why_texts_carry_no_link(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, web: str, warning: str | None
) -> None:
    monkeypatch.setenv("TWILIO_AUTH_TOKEN", "twilio-token-0123456789")
    monkeypatch.setenv("NOTIFIER_SECRET_KEY", WEB_SECRET)
    path = tmp_path / "config.yaml"
    path.write_text(CONFIG.format(sid="1" * 32, web=web))
    result = CliRunner().invoke(cli, ["config", "check", "--config", str(path)])
    assert result.exit_code == 0, result.output
    output = " ".join(result.output.split())  # as wide as the terminal
    assert "is valid" in output
    if warning is None:
        assert "MANAGE" not in output
    else:
        assert "warning:" in output and warning in output and "MANAGE" in output


# ---------------------------------------------------------------------- the parser


@pytest.mark.parametrize(
    ("body", "language"),
    [
        ("MANAGE", None),
        ("manage my alerts", None),
        ("Verwalten!", "de"),
        ("gestionar", "es"),
        ("ADMINISTRAR", "es"),
    ],
)
def test_manage_keywords_and_their_language(body: str, language: str | None) -> None:
    command = parse_command(body)
    assert command.intent is Intent.MANAGE and command.language == language


def test_manage_never_changes_a_subscription(sqlite_engine: Engine) -> None:
    link = manage_link_for(PUBLIC_BASE, WEB_SECRET)
    with write_transaction(sqlite_engine) as conn:
        sub_id, token = subscribers.add_subscriber(
            conn, channel="sms", address=AMERICAN, postal_code="02115", radius_miles=10, now=NOW
        )
        before = subscribers.find_by_address(conn, "sms", AMERICAN)
        reply = handle_command(conn, AMERICAN, parse_command("MANAGE"), NOW, manage_link=link)
        assert "Reply YES first" in reply
        subscribers.confirm(conn, token, NOW)
        reply = handle_command(conn, AMERICAN, parse_command("MANAGE"), NOW, manage_link=link)
        assert reply.endswith(link(sub_id))
        after = subscribers.find_by_address(conn, "sms", AMERICAN)
    assert before is not None and after is not None
    assert (after.postal_code, after.radius_miles, after.locale) == ("02115", 10.0, "en")
