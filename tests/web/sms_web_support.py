"""Helpers for the SMS webhook tests (module name unique across the test tree)."""

from __future__ import annotations

from collections.abc import Mapping

import httpx
from fastapi.testclient import TestClient
from twilio.request_validator import RequestValidator

AUTH_TOKEN = "test-auth-token-1234567890abcdef"
ACCOUNT_SID = "AC" + "1" * 32
PUBLIC_BASE = "https://alerts.example.org"
OUR_NUMBER = "+16175550000"


def signed_post(
    client: TestClient,
    path: str,
    form: Mapping[str, str],
    *,
    signed_url: str | None = None,
    token: str = AUTH_TOKEN,
) -> httpx.Response:
    """POST ``form`` as Twilio would, signed for the public URL (or ``signed_url``)."""
    url = signed_url or PUBLIC_BASE + path
    signature = RequestValidator(token).compute_signature(url, dict(form))
    return client.post(path, data=dict(form), headers={"X-Twilio-Signature": signature})


def inbound(body: str, sender: str, **extra: str) -> dict[str, str]:
    """The form of an inbound text (the fields Twilio sends that the routes read)."""
    return {
        "MessageSid": "SM" + "9" * 32,
        "AccountSid": ACCOUNT_SID,
        "From": sender,
        "To": OUR_NUMBER,
        "Body": body,
        "NumMedia": "0",
        **extra,
    }
