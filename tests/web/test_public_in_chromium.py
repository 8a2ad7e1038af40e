"""The public pages in a real headless Chromium: an axe-core audit, large type, a phone-sized
screen, and search without JavaScript. Screenshots go to ``test-artifacts/`` (git-ignored).

Needs Debian's ``chromium``; skipped on a laptop without it, never skipped in CI.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import Engine

from notifier.web.app import create_app
from notifier.web.serve import start_web
from tests.web.browser_support import ARTIFACTS, BROWSER, CHROMIUM, CHROMIUM_ARGS, free_port
from tests.web.public_fixtures import public_config
from tests.web.public_support import NOW, seed

pytestmark = BROWSER


@pytest.fixture
async def site(sqlite_engine: Engine, tmp_path: Path) -> AsyncIterator[str]:
    seed(sqlite_engine)
    app = create_app(public_config(tmp_path / "public"), engine=sqlite_engine, clock=lambda: NOW)
    app.state.public_site.publisher().publish_now()
    port = free_port()
    server, task = await start_web(app, "127.0.0.1", port)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task


@pytest.mark.parametrize(
    ("path", "name"),
    [
        ("/", "index-en"),
        ("/de/", "index-de"),
        ("/es/", "index-es"),
        ("/search?postal_code=02215&radius=30&lang=en", "search"),
        ("/search?postal_code=abc&lang=es", "search-error"),
    ],
)
async def test_pages_pass_an_axe_audit_on_a_phone(site: str, path: str, name: str) -> None:
    from axe_playwright_python.async_playwright import Axe
    from playwright.async_api import async_playwright

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            for label, viewport in (("phone", {"width": 375, "height": 740}), ("desktop", None)):
                context = await browser.new_context(
                    viewport=viewport or {"width": 1280, "height": 900}, java_script_enabled=True
                )
                page = await context.new_page()
                response = await page.goto(site + path)
                assert response is not None and response.status in (200, 400)
                results = await Axe().run(page)
                serious = [
                    (v["id"], v["impact"], [n["target"] for n in v["nodes"]])
                    for v in results.response["violations"]
                    if v["impact"] in ("serious", "critical")
                ]
                assert serious == [], serious
                body_size = await page.evaluate(
                    "parseFloat(getComputedStyle(document.body).fontSize)"
                )
                assert body_size >= 20
                wide = await page.evaluate(
                    "document.documentElement.scrollWidth > window.innerWidth + 1"
                )
                assert not wide, "the page scrolls sideways"
                await page.screenshot(path=str(ARTIFACTS / f"{name}-{label}.png"), full_page=True)
                await context.close()
        finally:
            await browser.close()


async def test_search_works_without_javascript(site: str) -> None:
    from playwright.async_api import async_playwright

    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            context = await browser.new_context(java_script_enabled=False)
            page = await context.new_page()
            await page.goto(site + "/")
            await page.get_by_label("ZIP code").fill("02139")
            await page.get_by_label("Distance (miles)").fill("30")
            await page.get_by_role("button", name="Search").click()
            await page.wait_for_load_state()
            assert "/search?" in page.url
            text = await page.inner_text("main")
            assert "Fenway Park" in text and "Gillette Stadium" in text
            assert "Eastfield Mall" not in text
        finally:
            await browser.close()


async def test_the_german_search_works_in_km_without_javascript(site: str) -> None:
    from playwright.async_api import async_playwright

    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            context = await browser.new_context(java_script_enabled=False)
            page = await context.new_page()
            await page.goto(site + "/de/")
            await page.get_by_label("Postleitzahl").fill("02139")
            # 30 km: Fenway Park (2 km away) is in, Gillette Stadium (33 km away) is not,
            # though 30 miles (48 km) would reach it
            await page.get_by_label("Umkreis (km)").fill("30")
            await page.get_by_role("button", name="Suchen").click()
            await page.wait_for_load_state()
            assert "lang=de" in page.url and "radius=30" in page.url
            text = await page.inner_text("main")
            assert "Fenway Park" in text and "Gillette Stadium" not in text
            assert " km" in text and "Meilen" not in text
        finally:
            await browser.close()
