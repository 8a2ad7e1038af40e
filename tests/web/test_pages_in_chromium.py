"""The pages a resident sees, in a real headless Chromium: the one-click unsubscribe page.

Needs Debian's ``chromium``; on a laptop without it the test skips, and ``.ci/run`` installs
it so that CI always runs it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import Engine

from notifier.config import ChannelConfig, Config, OperatorConfig
from notifier.db import subscribers
from notifier.db.engine import make_engine, upgrade
from notifier.messaging.unsubscribe_tokens import make_unsubscribe_token
from notifier.web.app import create_app
from notifier.web.serve import start_web
from tests.web.browser_support import BROWSER, CHROMIUM, CHROMIUM_ARGS, free_port

SECRET = "browser-test-signing-secret-0123456789"
pytestmark = BROWSER


@pytest.fixture
async def site(tmp_path: Path) -> AsyncIterator[tuple[str, Engine]]:
    engine = make_engine(f"sqlite:///{tmp_path / 'subscribers.db'}")
    upgrade(engine)
    config = Config(
        operator=OperatorConfig(contact="ops@example.org"),
        channels={
            "email": ChannelConfig(
                settings={
                    "host": "127.0.0.1",
                    "from_address": "alerts@example.org",
                    "base_url": "https://alerts.example.org",
                    "secret": SECRET,
                }
            )
        },
    )
    port = free_port()
    server, task = await start_web(create_app(config, engine=engine), "127.0.0.1", port)
    try:
        yield f"http://127.0.0.1:{port}", engine
    finally:
        server.should_exit = True
        await task
        engine.dispose()


async def test_a_resident_unsubscribes_with_one_large_button(site: tuple[str, Engine]) -> None:
    from playwright.async_api import async_playwright

    base, engine = site
    with engine.begin() as conn:
        sub_id, token = subscribers.add_subscriber(
            conn,
            channel="email",
            address="grandma@example.org",
            postal_code="02115",
            radius_miles=10,
        )
        subscribers.confirm(conn, token)
    link = f"{base}/u/{make_unsubscribe_token(SECRET, sub_id, 'email')}"
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(
            executable_path=CHROMIUM,
            args=CHROMIUM_ARGS,
        )
        page = await browser.new_page()
        await page.goto(link)
        button = page.get_by_role("button")
        assert await button.count() == 1
        size = await button.evaluate("b => parseFloat(getComputedStyle(b).fontSize)")
        assert size >= 20  # readable for a reader in their 80s
        box = await button.bounding_box()
        assert box is not None and box["height"] >= 44  # a target a shaky hand can hit
        with engine.connect() as conn:
            before = subscribers.find_by_address(conn, "email", "grandma@example.org")
        assert before is not None and before.opted_out_at is None  # looking changes nothing
        await button.click()
        await page.wait_for_load_state()
        text = await page.inner_text("body")
        await browser.close()
    with engine.connect() as conn:
        after = subscribers.find_by_address(conn, "email", "grandma@example.org")
    assert after is not None and after.opted_out_at is not None
    assert "unsubscribed" in text.lower() or "no more" in text.lower(), text
