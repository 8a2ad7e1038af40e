"""Helpers for the sign-up tests (module name unique across the test tree)."""

from __future__ import annotations

import re
from typing import Any

import httpx
from fastapi.testclient import TestClient

from notifier.config import ChannelConfig, Config, OperatorConfig, SignupConfig, WebConfig
from tests.web.sms_web_support import ACCOUNT_SID, AUTH_TOKEN, OUR_NUMBER, PUBLIC_BASE

WEB_SECRET = "web-signing-secret-0123456789abcdef"
EMAIL_SECRET = "email-signing-secret-0123456789abcd"
ADMIN_TOKEN = "admin-token-0123456789abcdef"
PHONE = "+16175550123"


def signup_config(
    *, sms: dict[str, Any] | None = None, email: dict[str, Any] | None = None, **signup: Any
) -> Config:
    """SMS and email enabled (settings overridable), web secret and admin token set."""
    sms_settings = {
        "account_sid": ACCOUNT_SID,
        "auth_token": AUTH_TOKEN,
        "from_number": OUR_NUMBER,
        "base_url": PUBLIC_BASE,
        **(sms or {}),
    }
    email_settings = {
        "host": "127.0.0.1",
        "security": "none",
        "from_address": "Vaccine Alerts <alerts@alerts.example.org>",
        "base_url": PUBLIC_BASE,
        "secret": EMAIL_SECRET,
        **(email or {}),
    }
    return Config(
        operator=OperatorConfig(contact="ops@example.org"),
        channels={
            "sms": ChannelConfig(settings=sms_settings),
            "email": ChannelConfig(settings=email_settings),
        },
        web=WebConfig(
            public_url=PUBLIC_BASE,
            secret_key=WEB_SECRET,
            admin_token=ADMIN_TOKEN,
            signup=SignupConfig(**signup),
        ),
    )


def csrf_token(client: TestClient, path: str = "/signup") -> str:
    """Open the page as a browser would (the cookie lands in the client) and read the token."""
    page = client.get(path)
    assert page.status_code == 200, page.text
    found = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert found is not None
    return found.group(1)


def sign_up(client: TestClient, **fields: str) -> httpx.Response:
    form = {"csrf_token": csrf_token(client), "radius": "10", "postal_code": "02115", **fields}
    return client.post("/signup", data=form)


def problems(page: str) -> list[str]:
    """The messages of a rejected form (or the paragraph of an error page)."""
    items = re.findall(r"<li><a href=\"#\w+\">(.*?)</a></li>", page)
    if items:
        return items
    return re.findall(r"<p>(.*?)</p>", page)
