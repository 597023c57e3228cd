"""Delivery over HTTP through the whole product: API -> workflow -> activity -> real loopback subscriber."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

import httpx
import pytest

from event_triggers import __version__
from event_triggers.config import Settings
from tests.invocation_fixtures import (
    FNF_INPUT,
    FNF_TRIGGER,
    RR_INPUT,
    RR_OUTPUT,
    RR_TRIGGER,
    create_subscription,
    finished,
    start,
)
from tests.subscriber import Reply, Subscriber


@pytest.fixture(scope="module")
async def subscriber() -> AsyncIterator[Subscriber]:
    async with Subscriber() as running:
        yield running


@pytest.fixture
def settings(make_settings: Callable[..., Settings], sqlite_url: str) -> Settings:
    """Fast retries (from make_settings) and a 1 s answer time, so "slower than the limit" is quick."""
    return make_settings(database_url=sqlite_url, delivery_timeout="PT1S")


async def test_fire_and_forget_delivered_with_exact_body_and_headers(
    api: httpx.AsyncClient, subscriber: Subscriber
) -> None:
    path = subscriber.new_path()
    await create_subscription(
        api,
        url=subscriber.url(path),
        httpConfig={"httpAuthenticationType": "BEARER_TOKEN", "bearerTokenAuthConfig": {"bearerToken": "tok-42"}},
    )
    [invocation] = await start(api, trigger_id=FNF_TRIGGER, payload=FNF_INPUT)
    assert set(invocation) == {"id", "triggerId", "contentJson"}, "no secret for FIRE_AND_FORGET"

    [request] = await subscriber.wait_for(path)
    assert request.json() == {
        **FNF_INPUT,
        "_metadata": {"triggerId": FNF_TRIGGER, "triggerType": "fireAndForget", "invocationId": invocation["id"]},
    }
    assert request.headers["content-type"] == "application/json"
    assert request.headers["authorization"] == "Bearer tok-42"
    assert request.headers["user-agent"] == f"event-triggers/{__version__}"
    detail = await finished(api, invocation["id"])
    assert detail["status"] == "COMPLETED"
    assert detail["type"] == "REAL_TIME"
    assert detail["completed"] is not None


async def test_sync_answer_completes_the_invocation(api: httpx.AsyncClient, subscriber: Subscriber) -> None:
    path = subscriber.new_path(Reply(body=RR_OUTPUT))
    await create_subscription(api, url=subscriber.url(path), trigger_id=RR_TRIGGER, mode="SYNC")
    [invocation] = await start(api, trigger_id=RR_TRIGGER, payload=RR_INPUT)
    assert "secret" not in invocation, "SYNC subscribers answer in the response, they get no secret"
    detail = await finished(api, invocation["id"])
    assert (detail["status"], detail["output"]) == ("COMPLETED", RR_OUTPUT)
    [request] = subscriber.received(path)
    assert request.json()["_metadata"] == {
        "triggerId": RR_TRIGGER,
        "triggerType": "requestResponse",
        "invocationId": invocation["id"],
        "responseMode": "sync",
    }
