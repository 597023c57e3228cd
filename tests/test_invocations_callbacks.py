"""REQUEST_RESPONSE callbacks: POST /trigger-invocations/v1/{id}/complete against running workflows."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Replayer

from event_triggers.config import Settings
from event_triggers.keys import load_server_key
from event_triggers.security.invocation_secret import invocation_secret
from tests.conftest import RunningApi, wait_until
from tests.invocation_fixtures import (
    FNF_INPUT,
    FNF_TRIGGER,
    RR_INPUT,
    RR_OUTPUT,
    RR_TRIGGER,
    create_subscription,
    error_text,
    finished,
    start,
)
from tests.subscriber import Reply, Subscriber
from workflows.invocation import InvocationWorkflow


async def awaiting_invocation(
    api: httpx.AsyncClient,
    subscriber: Subscriber,
    *,
    mode: str = "ASYNC",
    reply: Reply | None = None,
    **fields: Any,
) -> dict[str, Any]:
    """An RR invocation whose subscriber acknowledged it and that now waits for the callback."""
    path = subscriber.new_path(reply or Reply())
    await create_subscription(api, url=subscriber.url(path), trigger_id=RR_TRIGGER, mode=mode, **fields)
    [invocation] = await start(api, trigger_id=RR_TRIGGER, payload=RR_INPUT)
    [request] = await subscriber.wait_for(path)
    assert request.json()["_metadata"]["secret"] == invocation["secret"]

    async def awaiting() -> bool:
        detail = await api.get(f"/trigger-invocations/v1/{invocation['id']}")
        return bool(detail.json()["status"] == "AWAITING_RESPONSE")

    await wait_until(awaiting)
    return invocation


def complete_url(invocation: dict[str, Any]) -> str:
    return f"/trigger-invocations/v1/{invocation['id']}/complete"


async def test_async_callback_rules(
    api: httpx.AsyncClient, subscriber: Subscriber, temporal_client: Client
) -> None:
    invocation = await awaiting_invocation(api, subscriber)
    callback = httpx.AsyncClient(base_url=str(api.base_url))  # subscribers carry no API token

    wrong = await callback.post(complete_url(invocation), json={"secret": "0" * 64, "output": RR_OUTPUT})
    assert wrong.status_code == 401, wrong.text
    detail = (await api.get(f"/trigger-invocations/v1/{invocation['id']}")).json()
    assert detail["status"] == "AWAITING_RESPONSE", "a wrong secret changes nothing"

    bad = await callback.post(
        complete_url(invocation), json={"secret": invocation["secret"], "output": {"id": "x"}}
    )
    assert bad.status_code == 400, bad.text
    assert "output.name" in error_text(bad)

    good = await callback.post(
        complete_url(invocation), json={"secret": invocation["secret"], "output": RR_OUTPUT}
    )
    assert good.status_code == 204, good.text
    detail = (await api.get(f"/trigger-invocations/v1/{invocation['id']}")).json()
    assert (detail["status"], detail["output"], detail["error"]) == ("COMPLETED", RR_OUTPUT, None)
    assert detail["completed"] is not None

    again = await callback.post(
        complete_url(invocation), json={"secret": invocation["secret"], "output": RR_OUTPUT}
    )
    assert again.status_code == 409, again.text
    await callback.aclose()

    # The recorded history replays on the current workflow code (determinism check).
    history = await temporal_client.get_workflow_handle(invocation["id"]).fetch_history()
    await Replayer(workflows=[InvocationWorkflow], data_converter=pydantic_data_converter).replay_workflow(
        history
    )
    # Started with the current workflow revision: its behaviours need no patch marker, so the history
    # holds only the delivery's marker and the status upserts (no ``TemporalChangeVersion``).
    markers = [
        event.marker_recorded_event_attributes.marker_name
        for event in history.events
        if event.HasField("marker_recorded_event_attributes")
    ]
    upserted = {
        name
        for event in history.events
        if event.HasField("upsert_workflow_search_attributes_event_attributes")
        for name in event.upsert_workflow_search_attributes_event_attributes.search_attributes.indexed_fields
    }
    assert (markers, upserted) == (["core_local_activity"], {"InvocationStatus"})


@pytest.mark.parametrize(
    "output",
    [None, {"approved": False}],
    ids=["error alone", "error with output (SailPoint's example body)"],
)
async def test_error_callback_fails_the_invocation(
    api: httpx.AsyncClient, subscriber: Subscriber, output: dict[str, Any] | None
) -> None:
    invocation = await awaiting_invocation(api, subscriber)
    body = {"secret": invocation["secret"], "error": "Access request is denied.", "output": output}
    response = await api.post(complete_url(invocation), json={k: v for k, v in body.items() if v is not None})
    assert response.status_code == 204, response.text
    detail = await finished(api, invocation["id"])
    assert (detail["status"], detail["error"], detail["output"]) == (
        "FAILED",
        "Access request is denied.",
        None,
    )


async def test_an_empty_error_is_no_error(api: httpx.AsyncClient, subscriber: Subscriber) -> None:
    invocation = await awaiting_invocation(api, subscriber)
    url, secret = complete_url(invocation), invocation["secret"]
    alone = await api.post(url, json={"secret": secret, "error": ""})
    assert alone.status_code == 400 and alone.json()["messages"][0]["text"].startswith("output:"), alone.text
    assert (await api.get(f"/trigger-invocations/v1/{invocation['id']}")).json()[
        "status"
    ] == "AWAITING_RESPONSE"
    completed = await api.post(url, json={"secret": secret, "output": RR_OUTPUT, "error": ""})
    assert completed.status_code == 204, completed.text
    detail = await finished(api, invocation["id"])
    assert (detail["status"], detail["output"], detail["error"]) == ("COMPLETED", RR_OUTPUT, None)


async def test_deadline_times_out_then_late_callback_is_gone(
    api: httpx.AsyncClient, subscriber: Subscriber
) -> None:
    invocation = await awaiting_invocation(api, subscriber, responseDeadline="PT2S")
    detail = await finished(api, invocation["id"], wait=10)
    assert (detail["status"], detail["error"]) == ("TIMED_OUT", "invocation timed out")
    late = await api.post(
        complete_url(invocation), json={"secret": invocation["secret"], "output": RR_OUTPUT}
    )
    assert late.status_code == 410, late.text


async def test_failing_deliveries_stop_at_the_deadline(
    api: httpx.AsyncClient, subscriber: Subscriber
) -> None:
    path = subscriber.new_path(default=Reply(status=503))
    await create_subscription(
        api, url=subscriber.url(path), trigger_id=RR_TRIGGER, mode="ASYNC", responseDeadline="PT2S"
    )
    [invocation] = await start(api, trigger_id=RR_TRIGGER, payload=RR_INPUT)
    detail = await finished(api, invocation["id"], wait=10)
    assert (detail["status"], detail["error"]) == ("TIMED_OUT", "invocation timed out")
    assert len(subscriber.received(path)) >= 2, "retried while the deadline allowed"


async def test_dynamic_202_waits_for_the_callback(api: httpx.AsyncClient, subscriber: Subscriber) -> None:
    invocation = await awaiting_invocation(api, subscriber, mode="DYNAMIC", reply=Reply(status=202))
    response = await api.post(
        complete_url(invocation), json={"secret": invocation["secret"], "output": RR_OUTPUT}
    )
    assert response.status_code == 204, response.text
    detail = await finished(api, invocation["id"])
    assert (detail["status"], detail["output"]) == ("COMPLETED", RR_OUTPUT)


async def test_unknown_or_fire_and_forget_invocations_cannot_be_completed(
    api: httpx.AsyncClient, subscriber: Subscriber, running_api: RunningApi
) -> None:
    unknown = str(uuid.uuid4())
    assert (await api.get(f"/trigger-invocations/v1/{unknown}")).status_code == 404
    missing = await api.post(
        f"/trigger-invocations/v1/{unknown}/complete", json={"secret": "x", "output": {}}
    )
    assert missing.status_code == 404, missing.text

    path = subscriber.new_path()
    await create_subscription(api, url=subscriber.url(path), trigger_id=FNF_TRIGGER)
    [invocation] = await start(api, trigger_id=FNF_TRIGGER, payload=FNF_INPUT)
    assert (await finished(api, invocation["id"]))["status"] == "COMPLETED"
    # Fire-and-forget subscribers get no secret; derive the right one to show what the API answers.
    secret = invocation_secret(
        server_key=load_server_key(running_api.settings), invocation_id=invocation["id"]
    )
    with_output = await api.post(complete_url(invocation), json={"secret": secret, "output": {}})
    assert with_output.status_code == 409, with_output.text
    with_error = await api.post(complete_url(invocation), json={"secret": secret, "error": "no"})
    assert with_error.status_code == 409, with_error.text
    assert "already completed" in error_text(with_error)


async def test_no_worker_to_take_the_completion_answers_503(
    make_settings: Callable[..., Settings], sqlite_url: str, subscriber: Subscriber
) -> None:
    settings = make_settings(database_url=sqlite_url, embedded_worker=False, complete_rpc_timeout="PT1S")
    async with RunningApi(settings) as running, await running.client() as api:
        path = subscriber.new_path()
        await create_subscription(api, url=subscriber.url(path), trigger_id=RR_TRIGGER, mode="ASYNC")
        [invocation] = await start(api, trigger_id=RR_TRIGGER, payload=RR_INPUT)
        body = {"secret": invocation["secret"], "output": RR_OUTPUT}
        response = await api.post(complete_url(invocation), json=body)
        assert response.status_code == 503, response.text
        assert response.headers["Retry-After"] == "1"
        assert "retry" in error_text(response)
