"""The email channel: real aiosmtplib against a real aiosmtpd server on 127.0.0.1."""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import re
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import replace
from typing import Literal

import pytest
from itsdangerous import TimestampSigner
from pydantic import ValidationError

from channels.email import EmailChannel, classify_smtp_error, message_id_for
from notifier.channel import Recipient, RecipientState, get_channel
from notifier.messaging.unsubscribe_tokens import (
    BadUnsubscribeToken,
    ExpiredUnsubscribeToken,
    make_unsubscribe_token,
    read_unsubscribe_token,
)
from notifier.testing.smtp_server import SmtpTestServer
from notifier.testing.waiting import eventually
from tests.channels.email_support import (
    BASE_URL,
    NOW,
    SECRET,
    contrast,
    email_settings,
    lines,
    make_alert,
    unsubscribe_link,
)

JANE = "jane.doe@example.org"


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


def jane(locale: str = "en", subscriber_id: int = 7) -> Recipient:
    return Recipient(subscriber_id, JANE, locale=locale)


# ---------------------------------------------------------------------- the message


async def test_sends_multipart_text_and_html_with_list_unsubscribe_and_message_id(
    channel: EmailChannel, server: SmtpTestServer
) -> None:
    message = channel.compose([make_alert()], jane())
    result = await channel.send(message)

    assert result.ok and not result.transient
    [received] = server.received
    assert received.mail_from == "alerts@alerts.example.org"
    assert received.rcpt_tos == (JANE,)
    mail = received.message
    assert mail.get_content_type() == "multipart/alternative"
    assert [p.get_content_type() for p in mail.iter_parts()] == ["text/plain", "text/html"]
    assert lines(mail.get_body(("plain",)).get_content()) == lines(message.text)
    assert lines(mail.get_body(("html",)).get_content()) == lines(message.html or "")
    assert mail["From"] == "Vaccine Alerts <alerts@alerts.example.org>"
    assert mail["To"] == JANE
    assert mail["Subject"] == "1,234 appointments (Moderna; 65+) at Fenway Park, Boston, 2/25–2/27"
    assert mail["Auto-Submitted"] == "auto-generated"
    assert mail["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    link = unsubscribe_link(mail["List-Unsubscribe"])
    assert link.startswith(f"{BASE_URL}/u/")
    assert "<mailto:alerts@alerts.example.org?subject=unsubscribe>" in mail["List-Unsubscribe"]
    # The raw header carries each URI whole: no RFC 2047 encoding inside List-Unsubscribe.
    raw_headers = received.data.split(b"\r\n\r\n", 1)[0].decode("ascii")
    assert f"List-Unsubscribe: <{link}>," in raw_headers
    assert link in lines(mail.get_body(("plain",)).get_content())
    expected_id = message_id_for(message.idempotency_key, "alerts.example.org")
    assert mail["Message-ID"] == expected_id == result.provider_message_id
    assert not mail.defects and all(not part.defects for part in mail.walk())


async def test_message_id_follows_the_idempotency_key_so_a_resend_is_recognisable(
    channel: EmailChannel, server: SmtpTestServer
) -> None:
    message = channel.compose([make_alert()], jane())
    keyed = replace(message, idempotency_key="42:email:7")
    first, again = await channel.send(keyed), await channel.send(keyed)
    other = await channel.send(replace(message, idempotency_key="43:email:7"))
    ids = [m["Message-ID"] for m in server.emails()]
    assert ids[0] == ids[1] == first.provider_message_id == again.provider_message_id
    assert ids[2] == other.provider_message_id != ids[0]
    assert re.fullmatch(r"<[0-9a-f]{40}\.alert@alerts\.example\.org>", ids[0])


@pytest.mark.parametrize(
    ("locale", "subject", "phrases", "stop"),
    [
        (
            "en",
            "1,234 appointments (Moderna; 65+) at Fenway Park, Boston, 2/25–2/27",
            ["1,234 appointments", "Thursday, February 25", "Saturday, February 27",
             "Vaccine", "Book an appointment"],
            "Stop these emails",
        ),
        (
            "de",
            "1.234 Termine (Moderna; 65+) bei Fenway Park, Boston, 25.–27.2.",
            ["1.234 freie Termine", "Donnerstag, 25. Februar", "Samstag, 27. Februar",
             "Impfstoff", "Termin buchen"],
            "Keine E-Mails mehr schicken",
        ),
        (
            "es",
            "1.234 citas (Moderna; 65+) en Fenway Park, Boston, 25/2–27/2",
            ["1.234 citas disponibles", "jueves 25 de febrero", "sábado 27 de febrero",
             "Vacuna", "Reservar una cita"],
            "No enviarme más correos",
        ),
    ],
)  # fmt: skip
async def test_templates_speak_the_subscribers_language(
    channel: EmailChannel,
    server: SmtpTestServer,
    locale: str,
    subject: str,
    phrases: list[str],
    stop: str,
) -> None:
    assert (await channel.send(channel.compose([make_alert()], jane(locale)))).ok
    [mail] = server.emails()
    assert mail["Subject"] == subject
    text = lines(mail.get_body(("plain",)).get_content())
    html = mail.get_body(("html",)).get_content()
    assert f'<html lang="{locale}">' in html
    for phrase in [*phrases, "Moderna", "65+", "Fenway Park", "4 Jersey St, Boston, MA 02215"]:
        assert phrase in text and phrase in html, phrase
    assert f">{stop}</a>" in html  # the unsubscribe link, in words
    assert html.count("https://book.example.org/clinic/fenway") == 1  # one booking button


def test_html_is_large_type_high_contrast_with_one_big_button(channel: EmailChannel) -> None:
    html = channel.compose([make_alert()], jane()).html or ""
    sizes = [int(px) for px in re.findall(r"font-size:(\d+)px", html)]
    assert sizes and min(sizes) >= 20  # no tiny print anywhere
    assert re.search(r"<body[^>]*font-size:22px", html)
    colours = set(re.findall(r"(?<!-)color:(#[0-9a-f]{6})", html))
    backgrounds = set(re.findall(r"background-color:(#[0-9a-f]{6})", html))
    assert colours <= {"#000000", "#ffffff", "#0b3d91"}
    assert backgrounds == {"#ffffff", "#0b3d91"}
    assert contrast("#000000", "#ffffff") >= 7 and contrast("#ffffff", "#0b3d91") >= 7
    assert contrast("#0b3d91", "#ffffff") >= 7  # the unsubscribe link on white
    buttons = re.findall(r'<a href="([^"]+)" style="display:inline-block;[^"]*font-size:28px', html)
    assert buttons == ["https://book.example.org/clinic/fenway"]


def test_a_digest_names_each_place_once_with_its_newest_numbers(channel: EmailChannel) -> None:
    early = make_alert(alert_id=1, appointments=10, detected_at=NOW)
    later = make_alert(alert_id=3, appointments=25, detected_at=NOW + dt.timedelta(minutes=5))
    other = make_alert(
        alert_id=2,
        location_id="hynes",
        name="Hynes Convention Center",
        appointments=1,
        booking_url=None,
        by_date={dt.date(2021, 3, d): 1 for d in range(1, 8)},
    )
    message = channel.compose([early, other, later], jane())
    assert message.text.count("Fenway Park") == 1
    assert "25 appointments" in message.text and "10 appointments" not in message.text
    assert "1 appointment\n" in message.text
    # Seven days are summarised as a span; a place without a booking page gets our link.
    assert "Days: from Monday, March 1 to Sunday, March 7" in message.text
    assert f"Book an appointment: {BASE_URL}/b/2" in message.text
    assert (
        message.subject == "26 appointments (Moderna; 65+) at Fenway Park, Boston +1 more, 2/25–3/7"
    )


# ---------------------------------------------------------------------- signed links


def test_unsubscribe_link_is_signed_for_subscriber_and_channel(channel: EmailChannel) -> None:
    message = channel.compose([make_alert()], jane(subscriber_id=1234))
    token = unsubscribe_link(message.headers["List-Unsubscribe"]).rsplit("/", 1)[1]
    claim = read_unsubscribe_token(SECRET, token)
    assert (claim.subscriber_id, claim.channel) == (1234, "email")
    assert JANE not in token and "jane" not in token
    # Change the signature's first character: its last one may carry only padding bits,
    # which decode to the same bytes.
    cut = token.rindex(".") + 1
    tampered = token[:cut] + ("A" if token[cut] != "A" else "B") + token[cut + 1 :]
    forged_payload = make_unsubscribe_token(SECRET, 1235, "email").split(".")[0]
    for bad in (tampered, forged_payload + token[token.index(".") :], "not-a-token", ""):
        with pytest.raises(BadUnsubscribeToken):
            read_unsubscribe_token(SECRET, bad)
    with pytest.raises(BadUnsubscribeToken):
        read_unsubscribe_token("another-secret-of-enough-length", token)


def test_old_unsubscribe_links_expire(monkeypatch: pytest.MonkeyPatch) -> None:
    long_ago = int(time.time()) - 10 * 86400
    monkeypatch.setattr(TimestampSigner, "get_timestamp", lambda self: long_ago)
    token = make_unsubscribe_token(SECRET, 7, "email")
    monkeypatch.undo()
    with pytest.raises(ExpiredUnsubscribeToken):
        read_unsubscribe_token(SECRET, token, max_age=dt.timedelta(days=9))
    assert read_unsubscribe_token(SECRET, token, max_age=dt.timedelta(days=11)).subscriber_id == 7


# ---------------------------------------------------------------------- connections


async def test_connections_are_reused_for_many_messages(
    channel: EmailChannel, server: SmtpTestServer
) -> None:
    alert = make_alert()
    for n in range(10):
        assert (await channel.send(channel.compose([alert], jane(subscriber_id=n)))).ok
    assert server.counts["connections"] == 1
    batch = [channel.compose([alert], jane(subscriber_id=100 + n)) for n in range(30)]
    results = await asyncio.gather(*(channel.send(m) for m in batch))
    assert all(r.ok for r in results)
    assert server.counts["messages"] == 40
    assert server.counts["connections"] == channel.pool.opened == 2  # the pool size
    assert {r.connection for r in server.received} == {1, 2}


async def test_a_connection_the_server_closed_is_replaced(
    channel: EmailChannel, server: SmtpTestServer
) -> None:
    message = channel.compose([make_alert()], jane())
    assert (await channel.send(message)).ok
    server.drop_connections()  # the client has not noticed yet when it sends again
    assert (await channel.send(message)).ok
    server.drop_connections()
    # Once the client has seen the close, the pool opens a new connection up front.
    await eventually(lambda: channel.pool.idle_connected == 0)
    assert (await channel.send(message)).ok
    assert server.counts["messages"] == 3 and server.counts["connections"] == 3


async def test_an_unreachable_server_is_a_retry() -> None:
    with SmtpTestServer() as gone:
        settings = email_settings(gone)
    email_channel = EmailChannel(settings)  # the port is closed now
    result = await email_channel.send(email_channel.compose([make_alert()], jane()))
    await email_channel.aclose()
    assert result.transient and "cannot reach the SMTP server" in (result.error or "")


# ---------------------------------------------------------------------- error mapping


async def test_4xx_is_retried_and_5xx_marks_the_address_invalid(
    channel: EmailChannel, server: SmtpTestServer, caplog: pytest.LogCaptureFixture
) -> None:
    busy, gone, relay = "busy@example.org", "gone@example.org", "far@example.net"
    server.script_recipient(busy, "451 4.7.1 Greylisted, try again later", times=1)
    server.script_recipient(gone, f"550 5.1.1 <{gone}>: Recipient address rejected")
    server.script_recipient(relay, "554 5.7.1 <far@example.net>: Relay access denied")
    alert = make_alert()

    async def send_to(address: str):
        return await channel.send(channel.compose([alert], Recipient(9, address)))

    with caplog.at_level(logging.INFO, logger="channels.email"):
        first, second = await send_to(busy), await send_to(busy)
        invalid = await send_to(gone)
        relayed = await send_to(relay)
    assert first.transient and "451" in (first.error or "") and second.ok
    assert not invalid.ok and not invalid.transient
    assert invalid.recipient_state is RecipientState.INVALID and "550" in (invalid.error or "")
    assert gone not in (invalid.error or "") and "g***@example.org" in (invalid.error or "")
    # 5.7.x is about us (relaying, policy): failed, not blamed on the address, operator told.
    assert not relayed.ok and not relayed.transient and relayed.recipient_state is None
    errors = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert len(errors) == 1 and "Relay access denied" in errors[0].getMessage()
    assert server.counts["connections"] == 1  # refusals leave the connection usable


async def test_421_closes_the_connection_and_is_retried(
    channel: EmailChannel, server: SmtpTestServer
) -> None:
    server.script_recipient(JANE, "421 4.3.2 Service shutting down", times=1)
    message = channel.compose([make_alert()], jane())
    shut = await channel.send(message)
    assert shut.transient and "421" in (shut.error or "")
    assert (await channel.send(message)).ok
    assert server.counts["connections"] == 2


def test_classify_smtp_error_covers_data_and_sender_refusals() -> None:
    import aiosmtplib

    assert classify_smtp_error(aiosmtplib.SMTPDataError(452, "4.3.1 Out of memory")).transient
    spam = classify_smtp_error(aiosmtplib.SMTPDataError(554, "5.7.1 Message rejected as spam"))
    assert not spam.ok and not spam.transient and spam.recipient_state is None
    sender = classify_smtp_error(aiosmtplib.SMTPSenderRefused(553, "5.7.1 not owned", "a@b.org"))
    assert not sender.transient
    assert classify_smtp_error(aiosmtplib.SMTPReadTimeoutError("timed out")).transient
    assert classify_smtp_error(ConnectionResetError()).transient
    with pytest.raises(KeyError):
        classify_smtp_error(KeyError("a bug, not a service error"))


async def test_unusable_addresses_fail_as_invalid_without_a_connection(
    channel: EmailChannel, server: SmtpTestServer
) -> None:
    alert = make_alert()
    for address in ("jane@example.org\r\nBcc: all@example.org", "jörg@example.de", "no-at-sign"):
        result = await channel.send(channel.compose([alert], Recipient(5, address)))
        assert result.recipient_state is RecipientState.INVALID and not result.transient
    assert server.counts["connections"] == 0


# ---------------------------------------------------------------------- TLS and login


@pytest.mark.parametrize("security", ["starttls", "ssl"])
async def test_tls_and_login(security: str) -> None:
    tls: Literal["starttls", "ssl"] = "ssl" if security == "ssl" else "starttls"
    with SmtpTestServer(tls=tls, auth=("alerts", "s3cret-pass")) as tls_server:
        email_channel = EmailChannel(email_settings(tls_server))
        result = await email_channel.send(email_channel.compose([make_alert()], jane()))
        await email_channel.aclose()
        [received] = tls_server.received
    assert result.ok
    assert received.tls and received.authenticated_as == "alerts"


async def test_refused_login_fails_loudly_once_then_fast(caplog: pytest.LogCaptureFixture) -> None:
    with SmtpTestServer(tls="starttls", auth=("alerts", "right")) as tls_server:
        email_channel = EmailChannel(email_settings(tls_server, password="wrong"))
        message = email_channel.compose([make_alert()], jane())
        with caplog.at_level(logging.INFO):
            results = [await email_channel.send(message) for _ in range(3)]
        await email_channel.aclose()
        # One login (aiosmtplib tries each mechanism once), then no further connections.
        assert tls_server.counts["connections"] == 1 and tls_server.counts["auth_failed"] >= 1
        assert not tls_server.received
    assert all(not r.ok and not r.transient for r in results)
    assert "login refused: 535" in (results[0].error or "") and results[2] == results[0]
    errors = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert len(errors) == 1 and "refused us" in errors[0].getMessage()


async def test_no_address_reaches_a_log_line(
    channel: EmailChannel, server: SmtpTestServer, caplog: pytest.LogCaptureFixture
) -> None:
    server.script_recipient(JANE, f"550 5.1.1 <{JANE}>: User unknown")
    server.script_recipient("busy@example.org", "450 4.2.1 <busy@example.org> mailbox busy")
    with caplog.at_level(logging.DEBUG):
        for address in (JANE, "busy@example.org", "ok@example.org"):
            await channel.send(channel.compose([make_alert()], Recipient(3, address)))
    messages = [r.getMessage() for r in caplog.records]
    assert any("j***@example.org" in m for m in messages)
    assert any("b***@example.org" in m for m in messages)
    for address in (JANE, "busy@example.org", "ok@example.org"):
        assert not any(address in m for m in messages), address


# ---------------------------------------------------------------------- settings


def test_settings_are_validated_and_set_the_rate_limit() -> None:
    base = {"host": "smtp.example.org", "from_address": "a@example.org", "base_url": BASE_URL}
    email_channel = EmailChannel({**base, "secret": SECRET, "messages_per_second": 100})
    assert email_channel.rate_limit.count / email_channel.rate_limit.per_seconds == 100
    assert email_channel.settings.smtp_port == 587 and get_channel("email") is EmailChannel
    assert EmailChannel({**base, "secret": SECRET, "security": "ssl"}).settings.smtp_port == 465
    for bad in (
        {"secret": "short"},
        {"secret": SECRET, "from_address": "not an address"},
        {"secret": SECRET, "password": "x"},  # a password without a username
        {"secret": SECRET, "security": "tls"},
        {"secret": SECRET, "base_url": "alerts.example.org"},
    ):
        with pytest.raises(ValidationError):
            EmailChannel({**base, **bad})
