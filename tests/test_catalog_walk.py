"""Every catalog trigger end to end: subscribe, start with its example input, delivered to a real subscriber.

One API (with its embedded worker) and one subscriber serve the whole module, so walking the catalog costs one
invocation per trigger. REQUEST_RESPONSE subscribers answer SYNC with the trigger's example output.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from event_triggers.catalog import TriggerType, load_catalog
from tests.conftest import RunningApi, module_settings
from tests.invocation_fixtures import create_subscription, finished, start
from tests.subscriber import Reply, Subscriber

CATALOG = load_catalog()
TRIGGER_TYPE_ON_THE_WIRE = {
    TriggerType.FIRE_AND_FORGET: "fireAndForget",
    TriggerType.REQUEST_RESPONSE: "requestResponse",
}


@pytest.fixture(scope="module")
async def walk_api(
    tmp_path_factory: pytest.TempPathFactory, temporal_address: str
) -> AsyncIterator[httpx.AsyncClient]:
    settings = await module_settings(tmp_path_factory, temporal_address, "catalog-walk")
    async with RunningApi(settings) as running, await running.client() as client:
        yield client


@pytest.mark.parametrize("trigger_id", [trigger.id for trigger in CATALOG.all()])
async def test_trigger_is_delivered_with_its_example_input(
    walk_api: httpx.AsyncClient, subscriber: Subscriber, trigger_id: str
) -> None:
    trigger = CATALOG.require(trigger_id)
    request_response = trigger.type is TriggerType.REQUEST_RESPONSE
    replies = [Reply(body=trigger.example_output)] if request_response else []
    path = subscriber.new_path(*replies)
    await create_subscription(walk_api, url=subscriber.url(path), trigger_id=trigger_id, mode="SYNC")

    [invocation] = await start(walk_api, trigger_id=trigger_id, payload=trigger.example_input)

    [request] = await subscriber.wait_for(path)
    body: dict[str, Any] = request.json()
    metadata = body.pop("_metadata")
    assert body == trigger.example_input
    assert (metadata["triggerId"], metadata["triggerType"], metadata["invocationId"]) == (
        trigger_id,
        TRIGGER_TYPE_ON_THE_WIRE[trigger.type],
        invocation["id"],
    )
    detail = await finished(walk_api, invocation["id"])
    assert detail["status"] == "COMPLETED", detail
    if request_response:
        assert detail["output"] == trigger.example_output
