"""The resident's side of the demo: sign up on the web, confirm, receive alerts.

While the demo runs, its web app (public page and ``/signup``) is served on 127.0.0.1. A
synthetic resident opens ``/signup`` like a browser (keeping the CSRF cookie and the form's
signed token) and signs up twice, by SMS and by email, near Fenway Park. The confirmation
text reaches the Twilio stub and the email reaches the SMTP stub; the stubs write what they
deliver to the resident's inbox files (``notifier.testing.inbox``). The resident replies YES
through the inbound-SMS webhook, exactly as Twilio would post it, and opens and presses the
email's confirmation link. From then on the resident is an ordinary subscriber, and the demo
shows the last messages as they arrived: texts, email subjects and public posts.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from twilio.request_validator import RequestValidator

from notifier.privacy import mask
from notifier.testing.inbox import read_inbox

__all__ = ["RESIDENT_EMAIL", "RESIDENT_PHONE", "DemoResident", "ResidentStory"]

RESIDENT_PHONE = "+16175550199"
RESIDENT_EMAIL = "resident@example.org"
RESIDENT_POSTAL_CODE = "02215"  # Fenway, Boston
_TOKEN = re.compile(r'name="csrf_token" value="([^"]+)"')


@dataclass
class ResidentStory:
    """What happened to the resident, for the summary and the tests."""

    signed_up: dict[str, int] = field(default_factory=dict)  # channel -> HTTP status
    confirmed: dict[str, bool] = field(default_factory=dict)
    #: (channel, masked address, what they saw), oldest first
    received: list[tuple[str, str, str]] = field(default_factory=list)

    def alerts_received(self, channel: str) -> int:
        return sum(1 for c, _, text in self.received if c == channel and _is_alert(text))


def _is_alert(text: str) -> bool:
    lowered = text.lower()
    return not any(w in lowered for w in ("reply yes", "confirm", "bestätigen", "confirme"))


async def _wait_for(
    find: Callable[[], str | None], timeout: float, interval: float = 0.1
) -> str | None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = find()
        if found is not None:
            return found
        await asyncio.sleep(interval)
    return None


@dataclass
class DemoResident:
    web_url: str  # where the demo serves the app, e.g. http://127.0.0.1:8123
    sms_inbox: Path | None
    email_inbox: Path | None
    twilio_auth_token: str = ""
    sms_public_url: str = ""  # the base URL Twilio signs inbound webhooks for
    our_number: str = "+16175550000"
    email_public_url: str = ""  # the base URL in email links (replaced by web_url)
    story: ResidentStory = field(default_factory=ResidentStory)

    async def sign_up_and_confirm(self, timeout: float = 15.0) -> ResidentStory:
        async with httpx.AsyncClient(base_url=self.web_url, timeout=10.0) as browser:
            if self.sms_inbox is not None:
                await self._sign_up(browser, "sms", phone=RESIDENT_PHONE)
            if self.email_inbox is not None:
                await self._sign_up(browser, "email", email=RESIDENT_EMAIL)
            if self.sms_inbox is not None:
                await self._confirm_sms(browser, timeout)
            if self.email_inbox is not None:
                await self._confirm_email(browser, timeout)
        return self.story

    async def _sign_up(self, browser: httpx.AsyncClient, channel: str, **fields: str) -> None:
        page = await browser.get("/signup", headers={"Accept-Language": "en-US,en"})
        found = _TOKEN.search(page.text)
        if page.status_code != 200 or found is None:
            self.story.signed_up[channel] = page.status_code
            return
        form = {
            "csrf_token": found.group(1),
            "lang": "en",
            "channel": channel,
            "postal_code": RESIDENT_POSTAL_CODE,
            "radius": "15",
            **fields,
        }
        answer = await browser.post("/signup", data=form)
        self.story.signed_up[channel] = answer.status_code

    async def _confirm_sms(self, browser: httpx.AsyncClient, timeout: float) -> None:
        assert self.sms_inbox is not None
        inbox = self.sms_inbox

        def confirmation() -> str | None:
            for message in read_inbox(inbox):
                if "YES" in message.get("body", ""):
                    return str(message["body"])
            return None

        if await _wait_for(confirmation, timeout) is None:
            self.story.confirmed["sms"] = False
            return
        # What Twilio posts to our webhook when the resident's reply arrives, signed with the
        # account's auth token for the public URL (the app checks the signature).
        form = {
            "MessageSid": "SM" + "d" * 32,
            "From": RESIDENT_PHONE,
            "To": self.our_number,
            "Body": "YES",
            "NumMedia": "0",
        }
        signed_url = self.sms_public_url.rstrip("/") + "/sms/inbound"
        signature = RequestValidator(self.twilio_auth_token).compute_signature(signed_url, form)
        reply = await browser.post(
            "/sms/inbound", data=form, headers={"X-Twilio-Signature": signature}
        )
        self.story.confirmed["sms"] = reply.status_code == 200 and "<Message>" in reply.text

    async def _confirm_email(self, browser: httpx.AsyncClient, timeout: float) -> None:
        assert self.email_inbox is not None
        inbox = self.email_inbox
        public = self.email_public_url.rstrip("/")

        def link() -> str | None:
            for message in read_inbox(inbox):
                found = re.search(re.escape(public) + r"(/confirm/\S+)", message.get("text", ""))
                if found:
                    return found.group(1)
            return None

        path = await _wait_for(link, timeout)
        if path is None:
            self.story.confirmed["email"] = False
            return
        shown = await browser.get(path)  # the page with the button; a GET confirms nothing
        pressed = await browser.post(path)
        self.story.confirmed["email"] = shown.status_code == 200 and pressed.status_code == 200

    def collect(self, posts: list[tuple[str, str]]) -> ResidentStory:
        """Read what the resident received; ``posts`` are (channel, text) of public posts."""
        received: list[tuple[float, str, str, str]] = []
        if self.sms_inbox is not None:
            for m in read_inbox(self.sms_inbox):
                received.append((m["at"], "sms", mask(m["to"]), str(m.get("body", ""))))
        if self.email_inbox is not None:
            for m in read_inbox(self.email_inbox):
                received.append((m["at"], "email", mask(m["to"]), str(m.get("subject", ""))))
        received.sort()
        self.story.received = [(c, who, text) for _, c, who, text in received]
        self.story.received += [(c, "public", text) for c, text in posts]
        return self.story


def post_texts(requests: list[Any]) -> list[str]:
    """The texts of the posts a broadcast stub accepted (X or an Apprise JSON webhook)."""
    texts = []
    for request in requests:
        try:
            document = request.json
        except ValueError:
            continue
        if isinstance(document, dict):
            text = document.get("text") or document.get("body") or document.get("title")
            if isinstance(text, str):
                texts.append(text)
    return texts
