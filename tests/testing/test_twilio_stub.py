"""The Twilio stub answers like Twilio for the requests the SMS channel does not make."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import httpx
import pytest

from notifier.testing.twilio_stub import DEFAULT_ACCOUNT_SID, DEFAULT_AUTH_TOKEN, TwilioStub

PATH = f"/2010-04-01/Accounts/{DEFAULT_ACCOUNT_SID}/Messages.json"


@pytest.fixture(scope="module")
def stub() -> Iterator[TwilioStub]:
    with TwilioStub(max_per_second=1, burst=2) as server:
        yield server


@pytest.fixture
def client(stub: TwilioStub) -> Iterator[httpx.Client]:
    stub.reset()
    auth = (DEFAULT_ACCOUNT_SID, DEFAULT_AUTH_TOKEN)
    with httpx.Client(base_url=stub.url, auth=auth, timeout=5) as http:
        yield http


def test_twilio_style_errors(client: httpx.Client) -> None:
    assert client.post("/2010-04-01/Accounts/AC1/Messages.json").json()["code"] == 20404
    assert client.get(PATH).status_code == 405
    missing_to = client.post(PATH, data={"From": "+16175550000", "Body": "x"})
    assert (missing_to.status_code, missing_to.json()["code"]) == (400, 21604)
    wrong = client.post(PATH, data={"To": "+1617555", "From": "+1"}, auth=("AC1", "nope"))
    assert (wrong.status_code, wrong.json()["code"]) == (401, 20003)


def test_success_and_rate_limit_over_keep_alive(client: httpx.Client, stub: TwilioStub) -> None:
    form = {"To": "+16175550123", "MessagingServiceSid": "MG" + "a" * 32, "Body": "héllo & bye"}
    answers = [client.post(PATH, data=form) for _ in range(3)]
    assert [a.status_code for a in answers] == [201, 201, 429]  # burst of 2 at 1/s
    first = answers[0].json()
    assert first["sid"].startswith("SM") and first["body"] == "héllo & bye"
    assert answers[2].json()["code"] == 20429 and answers[2].headers["Retry-After"] == "1"
    assert [r.body for r in stub.requests] == ["héllo & bye"] * 3
    assert client.get("/_stub/stats").json()["by_status"] == {"201": 2, "429": 1}


def test_malformed_http_is_refused_not_crashed(stub: TwilioStub) -> None:
    for raw, status in (
        (b"POST / HTTP/1.1\r\nContent-Length: nope\r\n\r\n", b"400"),
        (b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n", b"411"),
        (b"NONSENSE\r\n\r\n", b"400"),
    ):
        with socket.create_connection((stub.host, stub.port), timeout=5) as sock:
            sock.sendall(raw)
            assert sock.recv(100).split(b" ")[1] == status
