"""Playwright driving Debian's Chromium, for the Administration UI tests and the screenshot script.

Playwright's own browser download is not reachable here, so it launches the system Chromium
(``apt-get install chromium``); without one the browser tests skip, saying so.
"""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from playwright.async_api import Browser, Page, async_playwright, expect

from event_triggers.clients import NewClient

CHROMIUM_CANDIDATES = ("chromium", "chromium-browser")


def chromium_path() -> str | None:
    """The system Chromium, or None when this machine has none."""
    for name in CHROMIUM_CANDIDATES:
        found = shutil.which(name)
        if found:
            return found
    return "/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None


@asynccontextmanager
async def chromium(executable: str) -> AsyncIterator[Browser]:
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=executable, args=["--no-sandbox"])
        try:
            yield browser
        finally:
            await browser.close()


async def log_in(page: Page, client: NewClient) -> None:
    """Through the login form, as a person would."""
    await page.goto("/ui/login")
    await page.get_by_label("Client id").fill(client.client_id)
    await page.get_by_label("Client secret").fill(client.client_secret)
    await page.get_by_role("button", name="Log in").click()
    await expect(page.get_by_role("heading", name="Overview")).to_be_visible()
