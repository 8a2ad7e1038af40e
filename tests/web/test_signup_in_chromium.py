"""A resident's whole journey in a real headless Chromium: sign up (after fixing a mistake),
confirm from the email, get told their eligibility group opened, change settings on the
manage page, unsubscribe. Every page passes an axe audit without serious or critical
violations; screenshots go to ``test-artifacts/browser/`` (git-ignored) for a human look.

Needs Debian's ``chromium``; skipped without it, except in CI (``CI=true``), where it must run.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine

from channels.email import EmailChannel
from notifier.config import ChannelConfig, Config, OperatorConfig, WebConfig
from notifier.db import subscribers
from notifier.db.engine import make_engine, upgrade
from notifier.pipeline.notices import NoticeSender
from notifier.testing.smtp_server import SmtpTestServer
from notifier.web.app import create_app
from notifier.web.serve import start_web
from tests.web.browser_support import ARTIFACTS, BROWSER, CHROMIUM, CHROMIUM_ARGS, free_port

SHOTS = ARTIFACTS / "browser"
WEB_SECRET = "browser-web-secret-0123456789abcdef"
ADMIN = "browser-admin-token-0123456789"
pytestmark = BROWSER


@dataclass
class Site:
    base: str
    engine: Engine
    smtp: SmtpTestServer
    config: Config

    async def send_notices(self) -> int:
        channel = EmailChannel(self.config.channels["email"].settings)
        sender = NoticeSender(
            self.engine, {"email": channel}, public_url=self.base, link_secret=WEB_SECRET
        )
        try:
            return await sender.run_once()
        finally:
            await channel.aclose()

    def last_email_text(self) -> str:
        return str(self.smtp.emails()[-1].get_body(("plain",)).get_content())


@pytest.fixture
async def site(tmp_path: Path) -> AsyncIterator[Site]:
    engine = make_engine(f"sqlite:///{tmp_path / 'subscribers.db'}")
    upgrade(engine)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    with SmtpTestServer() as smtp:
        email = {
            "host": "127.0.0.1",
            "port": smtp.port,
            "security": "none",
            "from_address": "alerts@example.org",
            "base_url": base,
            "secret": "browser-email-secret-0123456789",
        }
        config = Config(
            operator=OperatorConfig(contact="ops@example.org"),
            channels={"email": ChannelConfig(settings=email)},
            web=WebConfig(public_url=base, secret_key=WEB_SECRET, admin_token=ADMIN),
        )
        server, task = await start_web(create_app(config, engine=engine), "127.0.0.1", port)
        try:
            yield Site(base, engine, smtp, config)
        finally:
            server.should_exit = True
            await task
            engine.dispose()


async def audit(page: Any, name: str) -> None:
    """axe: no serious or critical violation; and a screenshot for a human to look at."""
    from axe_playwright_python.async_playwright import Axe

    SHOTS.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)
    results = await Axe().run(page)
    bad = [
        f"{v['id']} ({v['impact']}): {v['help']}"
        for v in results.response["violations"]
        if v.get("impact") in ("serious", "critical")
    ]
    assert bad == [], f"{name}: {bad}"


async def test_sign_up_confirm_manage_and_leave(site: Site) -> None:
    from playwright.async_api import async_playwright

    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = await browser.new_page(locale="en-US")
        await page.goto(f"{site.base}/signup")
        await audit(page, "1-signup")

        # A typo first: the form comes back with the problem, filled in, still accessible.
        await page.get_by_label("Email", exact=True).check()
        await page.get_by_label("Email address").fill("grandma@example.org")
        await page.get_by_label("ZIP code (US) or Postleitzahl (Germany)").fill("0211")
        await page.get_by_label("65 and older").check()
        await page.get_by_role("button", name="Sign up").click()
        await page.wait_for_load_state()
        assert "We do not know the postal code '0211'" in await page.inner_text("#problems")
        await audit(page, "2-signup-problem")

        assert await page.get_by_label("65 and older").is_checked()  # kept, like the address
        await page.get_by_label("ZIP code (US) or Postleitzahl (Germany)").fill("02115")
        await page.get_by_role("button", name="Sign up").click()
        await page.wait_for_load_state()
        assert "please confirm" in (await page.inner_text("h1")).lower()
        await audit(page, "3-check-your-inbox")
        with site.engine.connect() as conn:
            row = subscribers.find_by_address(conn, "email", "grandma@example.org")
        assert row is not None and not row.active and row.eligibility_group == "65plus"

        # The confirmation email; nothing else was sent.
        assert await site.send_notices() == 1
        assert len(site.smtp.emails()) == 1
        link = re.search(r"http://127\.0\.0\.1:\d+/confirm/\S+", site.last_email_text())
        assert link is not None
        await page.goto(link.group(0))
        await audit(page, "4-confirm")
        await page.get_by_role("button").click()
        await page.wait_for_load_state()
        await audit(page, "5-confirmed")
        # The confirmed page links to the manage page.
        await page.get_by_role("link", name="Change where and how often we write").click()
        await page.wait_for_load_state()
        assert await page.get_by_label("Distance in miles").input_value() == "10"

        # The operator opens the group; the resident is told, with a link to manage.
        async with httpx.AsyncClient(base_url=site.base) as admin:
            opened = await admin.post(
                "/admin/eligibility/65plus/open",
                headers={"Authorization": f"Bearer {ADMIN}"},
                json={"postal_code": "02115"},
            )
        assert opened.json()["notices"] == 1
        assert await site.send_notices() == 1
        assert site.smtp.emails()[-1]["Subject"] == "You can book now: 65 and older"
        manage = re.search(r"http://127\.0\.0\.1:\d+/manage/\S+", site.last_email_text())
        assert manage is not None
        await page.goto(manage.group(0))
        await audit(page, "6-manage")
        await page.get_by_label("Distance in miles").fill("25")
        await page.get_by_label("At most once a day").check()
        await page.get_by_role("button", name="Save").click()
        await page.wait_for_load_state()
        assert "Your changes are saved." in await page.inner_text("main")
        await audit(page, "7-manage-saved")
        with site.engine.connect() as conn:
            row = subscribers.find_by_address(conn, "email", "grandma@example.org")
        assert row is not None and (row.radius_miles, row.digest_minutes) == (25.0, 1440)

        await page.get_by_role("button", name="Unsubscribe").click()
        await page.wait_for_load_state()
        assert "You are unsubscribed" in await page.inner_text("h1")
        await audit(page, "8-left")
        await browser.close()
    with site.engine.connect() as conn:
        row = subscribers.find_by_address(conn, "email", "grandma@example.org")
    assert row is not None and row.opted_out_at is not None


# ---------------------------------------------------------------------- SMS: MANAGE by text

GERMAN_PHONE = "+4915112345678"
SMS_AUTH_TOKEN = "browser-twilio-token-0123456789"


@pytest.fixture
async def sms_site(tmp_path: Path) -> AsyncIterator[tuple[str, Engine]]:
    """SMS only (replies are TwiML: no Twilio API is called), with the web pages on."""
    engine = make_engine(f"sqlite:///{tmp_path / 'subscribers.db'}")
    upgrade(engine)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    sms = {
        "account_sid": "AC" + "2" * 32,
        "auth_token": SMS_AUTH_TOKEN,
        "from_number": "+16175550000",
        "base_url": base,
    }
    config = Config(
        operator=OperatorConfig(contact="ops@example.org"),
        channels={"sms": ChannelConfig(settings=sms)},
        web=WebConfig(public_url=base, secret_key=WEB_SECRET),
    )
    server, task = await start_web(create_app(config, engine=engine), "127.0.0.1", port)
    try:
        yield base, engine
    finally:
        server.should_exit = True
        await task
        engine.dispose()


async def test_a_german_texter_manages_alerts_from_the_link(
    sms_site: tuple[str, Engine],
) -> None:
    from playwright.async_api import async_playwright
    from twilio.request_validator import RequestValidator

    base, engine = sms_site

    async def text(body: str) -> str:
        form = {"MessageSid": "SM" + "e" * 32, "From": GERMAN_PHONE, "Body": body}
        signature = RequestValidator(SMS_AUTH_TOKEN).compute_signature(f"{base}/sms/inbound", form)
        async with httpx.AsyncClient(base_url=base) as phone:
            reply = await phone.post(
                "/sms/inbound", data=form, headers={"X-Twilio-Signature": signature}
            )
        assert reply.status_code == 200, reply.text
        return reply.text

    await text("ABONNIEREN 50667")
    assert "VERWALTEN" in await text("YES")
    link = re.search(re.escape(base) + r"/manage/[\w.-]+", await text("VERWALTEN"))
    assert link is not None

    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = await browser.new_page(locale="en-US")  # the page follows the subscriber
        await page.goto(link.group(0))
        await audit(page, "sms-1-manage-de")
        assert await page.get_by_label("Entfernung in km").input_value() == "15"
        postal = page.get_by_label("Postleitzahl (Deutschland) oder ZIP-Code (USA)")
        assert await postal.input_value() == "50667"
        await postal.fill("10115")
        await page.get_by_label("Entfernung in km").fill("25")
        await page.get_by_role("button", name="Speichern").click()
        await page.wait_for_load_state()
        assert "Ihre Änderungen sind gespeichert." in await page.inner_text("main")
        await audit(page, "sms-2-manage-de-saved")
        with engine.connect() as conn:
            row = subscribers.find_by_address(conn, "sms", GERMAN_PHONE)
        assert row is not None and (row.postal_code, row.time_zone) == ("10115", "Europe/Berlin")

        await page.get_by_role("button", name="Abmelden").click()
        await page.wait_for_load_state()
        assert "Sie sind abgemeldet" in await page.inner_text("h1")
        await browser.close()
    with engine.connect() as conn:
        row = subscribers.find_by_address(conn, "sms", GERMAN_PHONE)
    assert row is not None and row.opted_out_at is not None
