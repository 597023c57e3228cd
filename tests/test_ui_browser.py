"""The Administration UI in a real browser: Playwright driving Chromium against the real API, Temporal
and a real subscriber on loopback. One browser and one API for the module; a fresh page per test."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from urllib.parse import urlsplit

import httpx
import pytest
from playwright.async_api import Browser, ConsoleMessage, Page, Request, expect

from event_triggers.clients import NewClient, create_client
from event_triggers.security.client_credentials import INVOCATION_STATUS_READ, SCOPES, SUBSCRIPTIONS_READ
from tests.browser import chromium, chromium_path, log_in
from tests.conftest import RunningApi, module_settings
from tests.invocation_fixtures import (
    FNF_INPUT,
    FNF_TRIGGER,
    RR_OUTPUT,
    RR_TRIGGER,
    create_subscription,
    finished,
    send_test_event,
    start,
)
from tests.subscriber import Reply, Subscriber

pytestmark = pytest.mark.asyncio(loop_scope="session")

XSS_NAME = "<script>alert(1)</script>"


@pytest.fixture(scope="module")
async def browser() -> AsyncIterator[Browser]:
    executable = chromium_path()
    if executable is None:
        pytest.skip("no Chromium on this machine (apt-get install chromium): browser tests skipped")
    async with chromium(executable) as running:
        yield running


@pytest.fixture(scope="module")
async def ui_api(
    tmp_path_factory: pytest.TempPathFactory, temporal_address: str
) -> AsyncIterator[RunningApi]:
    settings = await module_settings(
        tmp_path_factory, temporal_address, "ui", temporal_ui_url="http://127.0.0.1:8233"
    )
    async with RunningApi(settings) as running:
        yield running


@pytest.fixture(scope="module")
async def admin(ui_api: RunningApi) -> NewClient:
    return await create_client(store=ui_api.state.store, name="admin", scopes=sorted(SCOPES))


@pytest.fixture(scope="module")
async def api(ui_api: RunningApi) -> AsyncIterator[httpx.AsyncClient]:
    async with await ui_api.client() as client:
        yield client


class PageWatch:
    """What a page did that it must not: console errors, uncaught exceptions, requests to another host."""

    def __init__(self, page: Page, origin: str) -> None:
        self.problems: list[str] = []
        self._host = urlsplit(origin).netloc
        page.on("console", self._console)
        page.on("pageerror", lambda error: self.problems.append(f"uncaught: {error}"))
        page.on("request", self._request)
        page.on("dialog", lambda dialog: self.problems.append(f"dialog opened: {dialog.message}"))

    def _console(self, message: ConsoleMessage) -> None:
        if message.type == "error":
            self.problems.append(f"console error: {message.text}")

    def _request(self, request: Request) -> None:
        parts = urlsplit(request.url)
        if parts.scheme in ("http", "https") and parts.netloc != self._host:
            self.problems.append(f"request to another host: {request.url}")


@pytest.fixture
async def page(browser: Browser, ui_api: RunningApi) -> AsyncIterator[Page]:
    context = await browser.new_context(base_url=ui_api.base_url, viewport={"width": 1280, "height": 900})
    context.set_default_timeout(10_000)
    opened = await context.new_page()
    watch = PageWatch(opened, ui_api.base_url)
    yield opened
    await context.close()
    assert watch.problems == []


async def fill_http_subscription(page: Page, *, name: str, url: str, trigger_name: str) -> None:
    await page.goto("/ui/subscriptions/new")
    await page.get_by_label("Trigger").select_option(label=trigger_name)
    await page.get_by_label("Name", exact=True).fill(name)
    await page.get_by_role("textbox", name="URL", exact=True).fill(url)


async def test_login_create_send_test_event_and_rotate(
    page: Page, admin: NewClient, subscriber: Subscriber
) -> None:
    await log_in(page, admin)
    path = subscriber.new_path()
    await fill_http_subscription(
        page,
        name="Welcome mails",
        url=subscriber.url(path),
        trigger_name="Identity Created (FIRE_AND_FORGET)",
    )
    await expect(page.get_by_label("Dispatch mode")).to_be_hidden()  # fire-and-forget: no dispatch mode
    await page.get_by_role("button", name="Create subscription").click()

    await expect(page.get_by_role("heading", name="Subscription created")).to_be_visible()
    secret = await page.locator("#signing-secret").inner_text()
    assert secret.startswith("whsec_")
    await page.get_by_role("button", name="Copy").click()
    await expect(page.locator(".copied")).not_to_be_empty()

    await page.get_by_role("link", name="Go to the subscription").click()
    await expect(page.get_by_role("heading", name="Welcome mails")).to_be_visible()
    assert secret not in await page.content(), "the signing secret is shown once only"
    await page.get_by_role("button", name="Send test event").click()
    outcome = page.locator("#test-outcome")
    await expect(outcome.locator(".badge")).to_have_text("COMPLETED", timeout=20_000)
    [received] = await subscriber.wait_for(path)
    assert received.json()["_metadata"]["triggerId"] == FNF_TRIGGER

    await page.get_by_role("button", name="Rotate signing secret").click()
    await expect(page.get_by_role("heading", name="Signing secret rotated")).to_be_visible()
    rotated = await page.locator("#signing-secret").inner_text()
    assert rotated.startswith("whsec_") and rotated != secret


async def test_api_error_shows_next_to_its_field(page: Page, admin: NewClient) -> None:
    await log_in(page, admin)
    await fill_http_subscription(
        page, name="Broken", url="ftp://example.com/hook", trigger_name="Identity Created (FIRE_AND_FORGET)"
    )
    await page.get_by_role("button", name="Create subscription").click()
    url_field = page.get_by_role("textbox", name="URL", exact=True)
    await expect(url_field).to_have_attribute("aria-invalid", "true")
    error = page.locator("#error-httpConfig\\.url")
    await expect(error).to_contain_text("must be an absolute http or https URL")
    assert await url_field.get_attribute("aria-describedby") == "error-httpConfig.url"
    await expect(page.get_by_label("Name", exact=True)).to_have_value("Broken")  # the form keeps its values


async def test_filter_editor_checks_as_you_type(page: Page, admin: NewClient) -> None:
    await log_in(page, admin)
    await page.goto("/ui/subscriptions/new")
    await page.get_by_label("Trigger").select_option(FNF_TRIGGER)
    await expect(page.get_by_label("Test input")).to_have_value(re.compile("attributes"))
    result = page.locator("#filter-result")
    await page.get_by_label("JSONPath filter (optional)").fill("$.attributes.firstname")
    await expect(result).to_have_text("Match: this input would be delivered.")
    await page.get_by_label("JSONPath filter (optional)").fill('$.attributes[?(@.firstname == "Nobody")]')
    await expect(result).to_have_text("No match: this input would not be delivered.")
    await page.get_by_label("JSONPath filter (optional)").fill("$.attributes[")
    await expect(result).to_contain_text("Not a valid JSONPath expression")
    await page.get_by_label("Test input").fill('{"attributes": {"firstname": "Nobody"}}')
    await page.get_by_label("JSONPath filter (optional)").fill('$.attributes[?(@.firstname == "Nobody")]')
    await expect(result).to_have_text("Match: this input would be delivered.")


async def test_async_request_response_completed_by_callback(
    page: Page, admin: NewClient, api: httpx.AsyncClient, subscriber: Subscriber
) -> None:
    path = subscriber.new_path()
    subscription_id = await create_subscription(
        api, url=subscriber.url(path), trigger_id=RR_TRIGGER, mode="ASYNC", name="Approver"
    )
    await log_in(page, admin)
    await page.goto(f"/ui/subscriptions/{subscription_id}")
    await page.get_by_role("button", name="Send test event").click()
    outcome = page.locator("#test-outcome")
    await expect(outcome.locator(".badge")).to_have_text("AWAITING_RESPONSE", timeout=20_000)

    await outcome.get_by_role("link").click()
    await expect(page.get_by_role("heading", name="Invocation")).to_be_visible()
    await expect(page.locator(".heading .badge")).to_have_text("AWAITING_RESPONSE")
    temporal_link = page.get_by_role("link", name="Open in the Temporal Web UI")
    assert (await temporal_link.get_attribute("href") or "").startswith(
        "http://127.0.0.1:8233/namespaces/default/workflows/"
    )
    [delivery] = await subscriber.wait_for(path)
    metadata = delivery.json()["_metadata"]
    answer = await api.post(metadata["callbackURL"], json={"secret": metadata["secret"], "output": RR_OUTPUT})
    assert answer.status_code == 204, answer.text
    await expect(page.locator(".heading .badge")).to_have_text(
        "COMPLETED", timeout=15_000
    )  # refreshes itself
    await expect(page.locator("#invocation-output")).to_contain_text(next(iter(RR_OUTPUT)))


async def test_read_only_client_sees_no_edit_controls(
    page: Page, ui_api: RunningApi, api: httpx.AsyncClient, subscriber: Subscriber
) -> None:
    subscription_id = await create_subscription(
        api, url=subscriber.url(subscriber.new_path()), name="Watched"
    )
    reader = await create_client(
        store=ui_api.state.store, name="reader", scopes=[SUBSCRIPTIONS_READ, INVOCATION_STATUS_READ]
    )
    await log_in(page, reader)
    await expect(page.get_by_text("read-only")).to_be_visible()
    await page.goto(f"/ui/subscriptions/{subscription_id}")
    await expect(page.get_by_role("heading", name="Watched")).to_be_visible()
    for control in ("Send test event", "Disable", "Rotate signing secret"):
        await expect(page.get_by_role("button", name=control)).to_have_count(0)
    for link in ("Edit", "Delete…"):
        await expect(page.get_by_role("link", name=link)).to_have_count(0)
    await page.goto("/ui/subscriptions")
    await expect(page.get_by_role("link", name="New subscription")).to_have_count(0)
    assert (await page.request.get("/ui/subscriptions/new")).status == 403


async def test_user_text_is_escaped(
    page: Page, admin: NewClient, api: httpx.AsyncClient, subscriber: Subscriber
) -> None:
    """A subscription named like a script renders as text (a dialog would fail the page watch)."""
    subscription_id = await create_subscription(
        api, url=subscriber.url(subscriber.new_path()), name=XSS_NAME, description=XSS_NAME
    )
    await log_in(page, admin)
    await page.goto("/ui/subscriptions")
    await expect(page.get_by_role("link", name=XSS_NAME)).to_be_visible()
    await page.goto(f"/ui/subscriptions/{subscription_id}")
    await expect(page.get_by_role("heading", name=XSS_NAME)).to_be_visible()
    assert await page.locator("main script").count() == 0
    await page.goto(f"/ui/subscriptions/{subscription_id}/edit")
    await expect(page.get_by_label("Name", exact=True)).to_have_value(XSS_NAME)


async def test_delete_with_confirmation_and_disable(
    page: Page, admin: NewClient, api: httpx.AsyncClient, subscriber: Subscriber
) -> None:
    subscription_id = await create_subscription(
        api, url=subscriber.url(subscriber.new_path()), name="Short-lived"
    )
    await log_in(page, admin)
    await page.goto(f"/ui/subscriptions/{subscription_id}")
    await page.get_by_role("button", name="Disable").click()
    await expect(page.locator(".heading .badge")).to_have_text("disabled")
    assert (await api.get(f"/trigger-subscriptions/v1/{subscription_id}")).json()["enabled"] is False
    await page.get_by_role("link", name="Delete…").click()
    await expect(page.get_by_role("heading", name="Delete this subscription?")).to_be_visible()
    await page.get_by_role("button", name="Delete subscription").click()
    await expect(page.get_by_role("heading", name="Subscriptions")).to_be_visible()
    assert (await api.get(f"/trigger-subscriptions/v1/{subscription_id}")).status_code == 404


async def test_keyboard_login_and_phone_width(
    browser: Browser, ui_api: RunningApi, admin: NewClient, api: httpx.AsyncClient, subscriber: Subscriber
) -> None:
    refusing = subscriber.new_path(default=Reply(status=400, body={"error": "no such employee " * 8}))
    subscription_id = await create_subscription(api, url=subscriber.url(refusing), name="Refused")
    invocation_id = await send_test_event(api, trigger_id=FNF_TRIGGER, subscription_id=subscription_id)
    await finished(api, invocation_id)  # FAILED: its attempt, the answer's start and Redeliver
    context = await browser.new_context(base_url=ui_api.base_url, viewport={"width": 390, "height": 844})
    phone = await context.new_page()
    watch = PageWatch(phone, ui_api.base_url)
    try:
        await phone.goto("/ui/")
        assert phone.url.endswith("/ui/login?next=%2Fui%2F")
        await phone.keyboard.press("Tab")  # the skip link comes first
        await phone.keyboard.press("Tab")
        await phone.keyboard.press("Tab")
        await phone.keyboard.type(admin.client_id)
        await phone.keyboard.press("Tab")
        await phone.keyboard.type(admin.client_secret)
        await phone.keyboard.press("Enter")
        await expect(phone.get_by_role("heading", name="Overview")).to_be_visible()
        for url in (
            "/ui/",
            "/ui/subscriptions",
            "/ui/subscriptions/new",
            "/ui/triggers",
            f"/ui/triggers/{RR_TRIGGER}",
            "/ui/invocations",
            f"/ui/subscriptions/{subscription_id}",
            f"/ui/invocations/{invocation_id}",
        ):
            await phone.goto(url)
            overflow = await phone.evaluate("document.documentElement.scrollWidth - window.innerWidth")
            assert overflow <= 0, f"{url} scrolls sideways on a phone ({overflow}px)"
            hidden = await phone.evaluate(
                "[...document.querySelectorAll('table.stack')]"
                ".filter(table => table.parentElement.scrollWidth > table.parentElement.clientWidth).length"
            )
            assert hidden == 0, f"{url}: a table of records hides columns behind a sideways scroll"
    finally:
        await context.close()
    assert watch.problems == []


async def test_trigger_and_invocation_pages(
    page: Page, admin: NewClient, api: httpx.AsyncClient, subscriber: Subscriber
) -> None:
    await create_subscription(api, url=subscriber.url(subscriber.new_path()), name="Listed")
    for invocation in await start(api, trigger_id=FNF_TRIGGER, payload=FNF_INPUT):
        await finished(api, invocation["id"])
    await log_in(page, admin)
    await page.get_by_role("navigation", name="Main").get_by_role("link", name="Triggers").click()
    await page.get_by_role("link", name="Access Request Dynamic Approval").click()
    await expect(page.get_by_role("table", name="Input schema")).to_contain_text("requestedFor.id")
    await expect(page.get_by_role("table", name="Output schema")).to_be_visible()
    await page.get_by_role("navigation", name="Main").get_by_role("link", name="Invocations").click()
    await page.get_by_label("Status").select_option("COMPLETED")
    await page.get_by_role("button", name="Filter").click()
    assert "status=COMPLETED" in page.url
    rows = page.locator("#invocation-rows tbody tr")
    await expect(rows.first).to_contain_text(
        "COMPLETED", timeout=15_000
    )  # visibility lags; the list refreshes
    statuses = await page.locator("#invocation-rows tbody .badge").all_inner_texts()
    assert statuses and set(statuses) == {"COMPLETED"}
