"""The demo page in headless Chromium: a couple forms, takes a break and is asked back.

Needs Debian's chromium (`apt-get install -y chromium`) and the `playwright` Python
package (the `dev` extra); Playwright's own browser downloads are not used.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.e2e.demo_process import DemoProcess

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.browser,
    pytest.mark.skipif(
        not CHROMIUM.exists(),
        reason="needs Debian's chromium at /usr/bin/chromium (apt-get install -y chromium)",
    ),
]

playwright_api = pytest.importorskip(
    "playwright.async_api",
    reason="needs the playwright Python package (pip install -e '.[dev]')",
)
Page = playwright_api.Page
Locator = playwright_api.Locator
expect = playwright_api.expect

TIMEOUT_MS = 15_000


def pause_is_built() -> bool:
    from flows.features import FEATURES

    return any(feature.name == "pause" for feature in FEATURES)


@pytest.fixture
async def page(tmp_path: Path) -> AsyncIterator[Page]:
    demo = DemoProcess(tmp_path / "demo-data")
    demo.start()
    try:
        async with playwright_api.async_playwright() as playwright:
            browser = await playwright.chromium.launch(
                executable_path=str(CHROMIUM), args=CHROMIUM_ARGS
            )
            try:
                context = await browser.new_context(viewport={"width": 1440, "height": 900})
                opened = await context.new_page()
                opened.set_default_timeout(TIMEOUT_MS)
                errors: list[str] = []
                opened.on("pageerror", lambda error: errors.append(str(error)))
                await opened.goto(demo.url)
                yield opened
                assert not errors, f"the page threw: {errors}"
            finally:
                await browser.close()
    finally:
        code = demo.stop()
    assert code == 0, demo.output()
    assert "violation" not in demo.output(), demo.output()


def chat(page: Page, key: str) -> Locator:
    return page.locator(f'section.chat[data-chat="{key}"]')


def bot_says(page: Page, key: str, pattern: str | re.Pattern[str]) -> Locator:
    return chat(page, key).locator(".msg.bot").filter(has_text=pattern)


async def act_as(page: Page, person: str) -> None:
    await page.locator(f'#who button[data-person="{person}"]').click()


async def say(page: Page, key: str, text: str) -> None:
    box = chat(page, key).locator("textarea")
    await box.fill(text)
    await box.press("Enter")
    await expect(chat(page, key).locator(".msg.user").last).to_contain_text(text)


async def test_couple_forms_pauses_and_both_are_asked_back_in_the_browser(
    page: Page, tmp_path: Path
) -> None:
    group = chat(page, "group")
    await expect(bot_says(page, "group", "Send /start")).to_be_visible()

    # Ana starts, both tap "I'm in".
    await act_as(page, "ana")
    await say(page, "group", "/start")
    join = page.get_by_role("button", name="I'm in")
    invite = group.locator(".msg.bot").filter(has=join).last
    await invite.get_by_role("button", name="I'm in").click()
    await expect(bot_says(page, "group", "Ana is in")).to_be_visible()
    await act_as(page, "ben")
    await invite.get_by_role("button", name="I'm in").click()
    formed = bot_says(page, "group", "you're set up")
    await expect(formed).to_be_visible()

    # Each opens the private chat through the deep link, as in Telegram.
    for person in ("ben", "ana"):
        await act_as(page, person)
        await formed.get_by_role("button", name=re.compile("private chat")).click()
        await expect(bot_says(page, person, "connected")).to_be_visible()

    # A stranger is refused kindly.
    await act_as(page, "cleo")
    await say(page, "group", "/settings")
    await expect(bot_says(page, "group", "only they can use it")).to_be_visible()
    await act_as(page, "ana")

    # Mend says which time zone it will use; Ana confirms it, and the question becomes one line.
    zone = bot_says(page, "group", "Is that where you are?")
    await expect(zone).to_be_visible()
    await zone.get_by_role("button", name="That's right").click()
    await expect(bot_says(page, "group", "confirmed by Ana")).to_be_visible()

    if not pause_is_built():
        await page.screenshot(path=str(tmp_path / "demo.png"))
        pytest.skip(
            "/pause is not on this branch yet: the couple formed; "
            "the pause steps run once the pause feature is merged"
        )

    # Ana asks for a break of an hour, Ben agrees to the return time.
    await say(page, "group", "/pause 60")
    asked = bot_says(page, "group", "Ana asked for a break of an hour.")
    await expect(asked).to_contain_text("Ben: is that return time OK for you?")
    await act_as(page, "ben")
    await asked.get_by_role("button", name="OK, that works").click()
    await expect(bot_says(page, "group", "Ben agreed")).to_be_visible()
    await expect(page.locator("#clock-next")).to_contain_text("in 1 h")

    # An hour later both are asked, each in private, whether they are ready.
    await page.get_by_role("button", name="+1 h").click()
    for person in ("ana", "ben"):
        ready = bot_says(page, person, "Ready to come back to each other?")
        await expect(ready).to_be_visible(timeout=20_000)
        await expect(ready.get_by_role("button", name="I'm ready")).to_be_visible()
    # The page knows what comes next: the one gentle line if nobody answers in an hour.
    await expect(page.locator("#clock-next")).to_contain_text("in 1 h")
    await page.screenshot(path=str(tmp_path / "demo.png"))
    assert (tmp_path / "demo.png").stat().st_size > 0

    # Each answers in their own private chat, whoever types in the group.
    for person in ("ana", "ben"):
        ready = bot_says(page, person, "Ready to come back to each other?")
        await ready.get_by_role("button", name="I'm ready").click()
    await expect(bot_says(page, "group", "You're both back")).to_be_visible()
