"""Helpers shared by the invocation tests: subscriptions through the real API, events, callbacks."""

from __future__ import annotations

from typing import Any

import httpx

from event_triggers.catalog import load_catalog
from event_triggers.destinations.registry import destination_for

FNF_TRIGGER = "idn:identity-created"
RR_TRIGGER = "idn:access-request-dynamic-approver"
_CATALOG = load_catalog()
FNF_INPUT: dict[str, Any] = _CATALOG.require(FNF_TRIGGER).example_input
RR_INPUT: dict[str, Any] = _CATALOG.require(RR_TRIGGER).example_input
RR_OUTPUT: dict[str, Any] = _CATALOG.require(RR_TRIGGER).example_output or {}


async def create_subscription(
    api: httpx.AsyncClient,
    *,
    url: str,
    trigger_id: str = FNF_TRIGGER,
    mode: str = "SYNC",
    **fields: Any,
) -> str:
    """A subscription created through the API; ``fields`` override the body (filter, responseDeadline...)."""
    body: dict[str, Any] = {
        "name": f"hook {url.rsplit('/', 1)[-1][:8]}",
        "triggerId": trigger_id,
        "type": "HTTP",
        "httpConfig": {"url": url, "httpDispatchMode": mode, **fields.pop("httpConfig", {})},
        **fields,
    }
    response = await api.post("/trigger-subscriptions/v1", json=body)
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


async def create_destination_subscription(
    api: httpx.AsyncClient, *, type_name: str, config: dict[str, Any], trigger_id: str = FNF_TRIGGER
) -> dict[str, Any]:
    """A subscription of any registered destination type through the API."""
    config_field = destination_for(type_name).config_field
    body = {
        "name": f"{type_name.lower()} feed",
        "triggerId": trigger_id,
        "type": type_name,
        config_field: config,
    }
    response = await api.post("/trigger-subscriptions/v1", json=body)
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


async def start(
    api: httpx.AsyncClient, *, trigger_id: str, payload: dict[str, Any], **headers: str
) -> list[dict[str, Any]]:
    response = await api.post(
        "/trigger-invocations/v1/start",
        json={"triggerId": trigger_id, "input": payload, "contentJson": {"workflowId": 1234}},
        headers=headers,
    )
    assert response.status_code == 200, response.text
    invocations: list[dict[str, Any]] = response.json()
    return invocations


async def send_test_event(api: httpx.AsyncClient, *, trigger_id: str, subscription_id: str) -> str:
    """A TEST invocation of the trigger's example input for one subscription only; its id."""
    response = await api.post(
        "/trigger-invocations/v1/test", json={"triggerId": trigger_id, "subscriptionIds": [subscription_id]}
    )
    assert response.status_code == 200, response.text
    return str(response.json()[0]["id"])


async def finished(api: httpx.AsyncClient, invocation_id: str, *, wait: float = 20) -> dict[str, Any]:
    """The invocation once it has finished (long poll), failing the test if it has not."""
    response = await api.get(f"/trigger-invocations/v1/{invocation_id}", params={"waitSeconds": wait})
    assert response.status_code == 200, response.text
    detail: dict[str, Any] = response.json()
    assert detail["status"] in ("COMPLETED", "FAILED", "TIMED_OUT"), detail
    return detail


def error_text(response: httpx.Response) -> str:
    body = response.json()
    assert set(body) >= {"detailCode", "trackingId", "messages"}, body
    return str(body["messages"][0]["text"])


async def complete_by_callback(api: httpx.AsyncClient, metadata: dict[str, Any]) -> dict[str, Any]:
    """Answer a REQUEST_RESPONSE invocation as a queue consumer does: POST the output to the callback
    named in the message's ``_metadata``, with its secret; returns the finished invocation."""
    invocation_id = metadata["invocationId"]
    assert metadata["responseMode"] == "async"
    assert metadata["callbackURL"].endswith(f"/trigger-invocations/v1/{invocation_id}/complete")
    response = await api.post(
        f"/trigger-invocations/v1/{invocation_id}/complete",
        json={"secret": metadata["secret"], "output": RR_OUTPUT},
    )
    assert response.status_code == 204, response.text
    return await finished(api, invocation_id)
