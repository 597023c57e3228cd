"""The destination seam: a destination defined here, in the test suite only, and registered with one line,
works end to end (API validation, secrets sealed and hidden, size limit at start, the worker's activity,
REQUEST_RESPONSE by callback) without any product module naming it."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from temporalio import activity

from event_triggers.catalog import TriggerDefinition
from event_triggers.config import Settings
from event_triggers.destinations.base import DeliveryActivity, DeliveryResources, Destination, compact_json
from event_triggers.destinations.registry import DESTINATIONS
from event_triggers.errors import InvalidField, PayloadTooLarge
from event_triggers.invocation_models import DeliveryRequest, DeliveryResult
from event_triggers.models import WireModel
from event_triggers.security.ssrf import DestinationPolicy
from tests.conftest import RunningApi, wait_until
from tests.invocation_fixtures import (
    FNF_INPUT,
    FNF_TRIGGER,
    RR_INPUT,
    RR_OUTPUT,
    RR_TRIGGER,
    complete_by_callback,
    create_destination_subscription,
    error_text,
    finished,
    start,
)

ACTIVITY = "deliver_to_inbox"
INBOXES: dict[str, list[dict[str, Any]]] = {}
"""What the fake destination delivered, by inbox name (its stand-in for a queue)."""


class InboxConfig(WireModel):
    inbox: str
    token: str | None = None
    maxBytes: int = 100_000


class InboxDestination(Destination[InboxConfig]):
    type = "INBOX"
    config_field = "inboxConfig"
    config_model = InboxConfig
    activity_name = ACTIVITY
    summary_verb = "append for"
    secret_paths = (("token",),)

    def check(
        self, config: InboxConfig, *, trigger: TriggerDefinition, destinations: DestinationPolicy
    ) -> None:
        if not config.inbox.isidentifier():
            raise InvalidField(self.field("inbox"), "must be an identifier")

    def describe_target(self, config: InboxConfig) -> str:
        return f"inbox {config.inbox}"

    def check_size(
        self,
        config: InboxConfig,
        request: DeliveryRequest,
        *,
        subscription_id: str,
        settings: Settings,
        secret: str,
    ) -> None:
        size = len(compact_json(self.message(request, secret=secret)))
        if size > config.maxBytes:
            raise PayloadTooLarge(f"input: {size} bytes is over inboxConfig.maxBytes")

    def activity(self, resources: DeliveryResources) -> InboxDelivery:
        return InboxDelivery(self, resources)


class InboxDelivery(DeliveryActivity[InboxDestination]):
    @activity.defn(name=ACTIVITY)
    async def deliver_to_inbox(self, request: DeliveryRequest) -> DeliveryResult:
        subscription, secret = await self.target(request)
        config = self.destination.delivery_config(subscription)
        assert config.token == "inbox-token-4711", "the activity reads the sealed secret back"
        INBOXES.setdefault(config.inbox, []).append(self.destination.message(request, secret=secret))
        return DeliveryResult(status_code=200)


@pytest.fixture
async def running_api(monkeypatch: pytest.MonkeyPatch, settings: Settings) -> AsyncIterator[RunningApi]:
    """The product with the inbox destination registered (the registry line), before its worker starts."""
    monkeypatch.setitem(DESTINATIONS, InboxDestination.type, InboxDestination())
    async with RunningApi(settings) as running:
        yield running


async def create_inbox_subscription(
    api: httpx.AsyncClient, inbox: str, *, trigger_id: str = FNF_TRIGGER, **config: Any
) -> dict[str, Any]:
    config = {"inbox": inbox, "token": "inbox-token-4711", **config}
    return await create_destination_subscription(api, type_name="INBOX", config=config, trigger_id=trigger_id)


async def test_a_registered_destination_delivers_end_to_end(
    running_api: RunningApi, api: httpx.AsyncClient
) -> None:
    subscription = await create_inbox_subscription(api, "hr")
    assert subscription["inboxConfig"] == {"inbox": "hr", "token": None, "maxBytes": 100_000}
    assert subscription["httpConfig"] is None
    async with running_api.state.store.engine.connect() as connection:
        document = (await connection.execute(text("SELECT document FROM subscriptions"))).scalar_one()
    assert "inbox-token-4711" not in json.dumps(document)

    [fired] = await start(api, trigger_id=FNF_TRIGGER, payload=FNF_INPUT)
    assert (await finished(api, fired["id"]))["status"] == "COMPLETED"
    assert INBOXES["hr"] == [
        {
            **FNF_INPUT,
            "_metadata": {
                "triggerId": FNF_TRIGGER,
                "triggerType": "fireAndForget",
                "invocationId": fired["id"],
            },
        }
    ]

    await create_inbox_subscription(api, "approvals", trigger_id=RR_TRIGGER)
    [asked] = await start(api, trigger_id=RR_TRIGGER, payload=RR_INPUT)

    async def delivered() -> bool:
        return bool(INBOXES.get("approvals"))

    await wait_until(delivered)
    detail = await complete_by_callback(api, INBOXES["approvals"][0]["_metadata"])
    assert (detail["id"], detail["status"], detail["output"]) == (asked["id"], "COMPLETED", RR_OUTPUT)


async def test_its_validation_and_size_limit_apply(api: httpx.AsyncClient) -> None:
    bad = await api.post(
        "/trigger-subscriptions/v1",
        json={"name": "x", "triggerId": FNF_TRIGGER, "type": "INBOX", "inboxConfig": {"inbox": "not an id"}},
    )
    assert bad.status_code == 400
    assert error_text(bad).startswith("inboxConfig.inbox:")
    await create_inbox_subscription(api, "small", maxBytes=200)
    response = await api.post(
        "/trigger-invocations/v1/start", json={"triggerId": FNF_TRIGGER, "input": FNF_INPUT}
    )
    assert response.status_code == 413, response.text
    assert "inboxConfig.maxBytes" in error_text(response)


async def test_unknown_types_and_foreign_configs_are_refused(api: httpx.AsyncClient) -> None:
    unknown = await api.post(
        "/trigger-subscriptions/v1", json={"name": "x", "triggerId": FNF_TRIGGER, "type": "PIGEON"}
    )
    assert unknown.status_code == 400
    assert error_text(unknown).startswith(
        "type: 'PIGEON' is not one of HTTP, EVENTBRIDGE, SQS, RABBITMQ, INBOX"
    )
    foreign = await api.post(
        "/trigger-subscriptions/v1",
        json={
            "name": "x",
            "triggerId": FNF_TRIGGER,
            "type": "INBOX",
            "inboxConfig": {"inbox": "a"},
            "httpConfig": {"url": "https://example.com"},
        },
    )
    assert foreign.status_code == 400
    assert error_text(foreign) == "httpConfig: must be null when type is INBOX"
