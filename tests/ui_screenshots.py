"""Screenshots of the Administration UI's main pages for docs/ui/, taken by a real browser.

Run from the repository root: ``python -m tests.ui_screenshots`` (needs Chromium, as the browser tests).
It starts a throwaway Temporal dev server, the API and a subscriber on loopback, creates a few
subscriptions and invocations through the API, then photographs each page.
"""

from __future__ import annotations

import asyncio
import tempfile
import uuid
from pathlib import Path
from typing import Any

import httpx
from playwright.async_api import Page, ViewportSize, expect
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from event_triggers.clients import create_client
from event_triggers.config import Settings
from event_triggers.migrations import upgrade_schema
from event_triggers.security.client_credentials import SCOPES
from event_triggers.temporal import SEARCH_ATTRIBUTES, temporal_cli_path
from tests.browser import chromium, chromium_path, log_in
from tests.conftest import TEST_KEYS, RunningApi, wait_until
from tests.invocation_fixtures import (
    FNF_INPUT,
    FNF_TRIGGER,
    RR_INPUT,
    RR_TRIGGER,
    create_destination_subscription,
    create_subscription,
    finished,
    start,
)
from tests.subscriber import Reply, Subscriber

OUTPUT = Path(__file__).resolve().parent.parent / "docs" / "ui"
LAPTOP: ViewportSize = {"width": 1280, "height": 860}
PHONE: ViewportSize = {"width": 390, "height": 844}


async def _shoot(page: Page, name: str, *, full_page: bool = True) -> None:
    await page.screenshot(path=str(OUTPUT / f"{name}.png"), full_page=full_page)
    print(f"docs/ui/{name}.png")


async def main() -> None:
    executable = chromium_path()
    if executable is None:
        raise SystemExit("no Chromium on this machine: apt-get install chromium")
    OUTPUT.mkdir(parents=True, exist_ok=True)
    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=temporal_cli_path(),
        search_attributes=SEARCH_ATTRIBUTES,
        data_converter=pydantic_data_converter,
        dev_server_log_level="error",
        ui=False,
    )
    with tempfile.TemporaryDirectory() as data_dir:
        values: dict[str, Any] = {
            "data_dir": Path(data_dir),
            "temporal_address": env.client.service_client.config.target_host,
            "task_queue": f"screens-{uuid.uuid4().hex[:8]}",
            "destination_allowlist": ["127.0.0.0/8"],
            "temporal_ui_url": "http://127.0.0.1:8233",
            **TEST_KEYS,
        }
        settings = Settings(**values)
        await upgrade_schema(settings.effective_database_url)
        async with env, Subscriber() as subscriber, RunningApi(settings) as api, await api.client() as rest:
            await _photograph(api, rest, subscriber, executable)


async def _photograph(
    api: RunningApi, rest: httpx.AsyncClient, subscriber: Subscriber, executable: str
) -> None:
    welcome = await create_subscription(
        rest,
        url=subscriber.url(subscriber.new_path()),
        name="Welcome e-mails",
        description="Greets new hires",
    )
    legacy = await create_subscription(
        rest,
        url=subscriber.url(subscriber.new_path(default=Reply(status=400, body={"error": "bad request"}))),
        name="Legacy CRM sync",
    )
    await create_subscription(
        rest,
        url=subscriber.url(subscriber.new_path()),
        trigger_id="idn:identity-attributes-changed",
        name="HR attribute feed",
        enabled=False,
    )
    for type_name, config in (
        (
            "SQS",
            {
                "queueUrl": "https://sqs.eu-west-1.amazonaws.com/123456789012/hr-events",
                "awsRegion": "eu-west-1",
            },
        ),
        (
            "RABBITMQ",
            {"url": "amqp://feeder@rabbit.example.com:5672/hr", "exchange": "hr", "routingKey": "moved"},
        ),
    ):  # on a trigger no event is started for here: their brokers are not reachable
        await create_destination_subscription(
            rest, type_name=type_name, config=config, trigger_id="idn:identity-attributes-changed"
        )
    approver = await create_subscription(
        rest,
        url=subscriber.url(subscriber.new_path()),
        trigger_id=RR_TRIGGER,
        mode="ASYNC",
        name="Approver bot",
    )
    outcomes = [
        await finished(rest, invocation["id"])
        for _ in range(3)
        for invocation in await start(rest, trigger_id=FNF_TRIGGER, payload=FNF_INPUT)
    ]
    failed = next(item for item in outcomes if item["subscriptionId"] == legacy)
    gone = await create_subscription(
        rest,
        url=subscriber.url(subscriber.new_path(Reply(status=410, body=b"this hook was removed"))),
        name="Offboarding webhook",
    )
    await start(rest, trigger_id=FNF_TRIGGER, payload=FNF_INPUT)

    async def paused() -> bool:
        """Its subscriber's 410 disables (pauses) it: the pages show it with the reason."""
        return bool((await rest.get(f"/trigger-subscriptions/v1/{gone}")).json()["disabledReason"])

    await wait_until(paused)
    [awaiting] = await start(rest, trigger_id=RR_TRIGGER, payload=RR_INPUT)
    admin = await create_client(store=api.state.store, name="admin", scopes=sorted(SCOPES))

    async with chromium(executable) as browser:
        context = await browser.new_context(base_url=api.base_url, viewport=LAPTOP)
        page = await context.new_page()
        await page.goto("/ui/login")
        await page.get_by_label("Client id").fill(admin.client_id)
        await _shoot(page, "login", full_page=False)
        await page.get_by_label("Client secret").fill(admin.client_secret)
        await page.get_by_role("button", name="Log in").click()
        await expect(page.get_by_role("heading", name="Overview")).to_be_visible()
        await _shoot(page, "overview")
        await page.goto("/ui/triggers")
        await _shoot(page, "triggers")
        await page.goto(f"/ui/triggers/{RR_TRIGGER}")
        await _shoot(page, "trigger")
        await page.goto("/ui/subscriptions")
        await _shoot(page, "subscriptions")

        await page.goto(f"/ui/subscriptions/new?triggerId={FNF_TRIGGER}")
        await page.get_by_label("Name", exact=True).fill("Provisioning hook")
        await page.get_by_role("textbox", name="URL", exact=True).fill(
            "https://hooks.example.com/identity-created"
        )
        await page.get_by_label("JSONPath filter (optional)").fill('$.attributes[?(@.firstname == "John")]')
        await expect(page.locator("#filter-result")).to_have_text("Match: this input would be delivered.")
        await _shoot(page, "subscription-new")
        await page.get_by_role("textbox", name="URL", exact=True).fill("ftp://hooks.example.com")
        await page.get_by_role("button", name="Create subscription").click()
        await expect(page.locator(".field-error").first).to_be_visible()
        await page.locator("#f-httpConfig\\.url").scroll_into_view_if_needed()
        await _shoot(page, "subscription-field-error", full_page=False)

        await page.goto(f"/ui/subscriptions/{welcome}")
        await page.get_by_role("button", name="Send test event").click()
        await expect(page.locator("#test-outcome .badge")).to_have_text("COMPLETED", timeout=20_000)
        await _shoot(page, "subscription")
        await page.get_by_role("button", name="Rotate signing secret").click()
        await _shoot(page, "signing-secret", full_page=False)

        await page.goto("/ui/invocations")
        await expect(page.locator("#invocation-rows tbody tr").nth(3)).to_be_visible(timeout=15_000)
        await _shoot(page, "invocations")
        await page.goto(f"/ui/invocations/{failed['id']}")
        await expect(page.get_by_role("button", name="Redeliver")).to_be_visible()
        await _shoot(page, "invocation")
        await page.goto(f"/ui/invocations/{awaiting['id']}")
        await _shoot(page, "invocation-awaiting")

        phone = await browser.new_context(base_url=api.base_url, viewport=PHONE)
        small = await phone.new_page()
        await log_in(small, admin)
        await small.goto(f"/ui/subscriptions/{approver}")
        await _shoot(small, "phone-subscription")
        await small.goto(f"/ui/invocations/{failed['id']}")
        await _shoot(small, "phone-invocation")


if __name__ == "__main__":
    asyncio.run(main())
