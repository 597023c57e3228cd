"""``POST /start?waitSeconds=N`` (extension): the invocations answered with their outcome when they finish
within N seconds, as they are today when they do not; real subscribers on loopback."""

from __future__ import annotations

from typing import Any

import httpx

from tests.invocation_fixtures import (
    FNF_INPUT,
    FNF_TRIGGER,
    RR_INPUT,
    RR_OUTPUT,
    RR_TRIGGER,
    create_subscription,
    error_text,
    finished,
)
from tests.subscriber import Reply, Subscriber

OUTCOME = {"status", "output", "error"}


async def start(
    api: httpx.AsyncClient, *, trigger_id: str, payload: dict[str, Any], wait_seconds: float | None
) -> list[dict[str, Any]]:
    """``POST /start``, with ``?waitSeconds=`` unless ``wait_seconds`` is None."""
    response = await api.post(
        "/trigger-invocations/v1/start",
        json={"triggerId": trigger_id, "input": payload, "contentJson": {"workflowId": 1234}},
        params=None if wait_seconds is None else {"waitSeconds": wait_seconds},
    )
    assert response.status_code == 200, response.text
    invocations: list[dict[str, Any]] = response.json()
    return invocations


async def test_a_sync_answer_comes_back_in_the_start_response(
    api: httpx.AsyncClient, subscriber: Subscriber
) -> None:
    path = subscriber.new_path(default=Reply(body=RR_OUTPUT))
    subscription_id = await create_subscription(
        api, url=subscriber.url(path), trigger_id=RR_TRIGGER, mode="SYNC"
    )
    [invocation] = await start(api, trigger_id=RR_TRIGGER, payload=RR_INPUT, wait_seconds=10)
    assert invocation["status"] == "COMPLETED", invocation
    assert invocation["output"] == RR_OUTPUT
    assert "error" not in invocation and "secret" not in invocation
    assert invocation["triggerId"] == RR_TRIGGER and invocation["contentJson"] == {"workflowId": 1234}
    detail = await finished(api, invocation["id"])
    assert (detail["status"], detail["output"], detail["subscriptionId"]) == (
        "COMPLETED",
        RR_OUTPUT,
        subscription_id,
    )
    [without_wait] = await start(api, trigger_id=RR_TRIGGER, payload=RR_INPUT, wait_seconds=None)
    assert set(without_wait) == {"id", "triggerId", "contentJson"}, "no wait: the answer is as before"
    await finished(api, without_wait["id"])
    assert len(subscriber.received(path)) == 2


async def test_a_slower_subscriber_is_answered_without_outcome_and_completes_later(
    api: httpx.AsyncClient, subscriber: Subscriber
) -> None:
    """The subscriber answers after 4 s, so a 1 s wait cannot see the outcome."""
    path = subscriber.new_path(Reply(body=RR_OUTPUT, delay=4))
    await create_subscription(api, url=subscriber.url(path), trigger_id=RR_TRIGGER, mode="SYNC")
    [invocation] = await start(api, trigger_id=RR_TRIGGER, payload=RR_INPUT, wait_seconds=1)
    assert not OUTCOME & set(invocation), invocation
    assert set(invocation) == {"id", "triggerId", "contentJson"}
    detail = await finished(api, invocation["id"])
    assert (detail["status"], detail["output"]) == ("COMPLETED", RR_OUTPUT)
    assert len(subscriber.received(path)) == 1


async def test_a_fire_and_forget_invocation_answers_completed(
    api: httpx.AsyncClient, subscriber: Subscriber
) -> None:
    path = subscriber.new_path()
    await create_subscription(api, url=subscriber.url(path))
    [invocation] = await start(api, trigger_id=FNF_TRIGGER, payload=FNF_INPUT, wait_seconds=10)
    assert invocation["status"] == "COMPLETED", invocation
    assert "output" not in invocation and "error" not in invocation
    [received] = subscriber.received(path)
    assert received.json()["_metadata"]["invocationId"] == invocation["id"]


async def test_a_fan_out_waits_for_every_invocation(api: httpx.AsyncClient, subscriber: Subscriber) -> None:
    """Two subscriptions of one event trigger: one takes the event, one refuses it; both outcomes in one
    response (a request-response trigger has at most one subscription)."""
    takes, refuses = subscriber.new_path(), subscriber.new_path(Reply(status=400, body={"why": "no"}))
    taking = await create_subscription(api, url=subscriber.url(takes))
    refusing = await create_subscription(api, url=subscriber.url(refuses))
    invocations = await start(api, trigger_id=FNF_TRIGGER, payload=FNF_INPUT, wait_seconds=10)
    assert len(invocations) == 2
    by_subscription = {(await finished(api, item["id"]))["subscriptionId"]: item for item in invocations}
    completed, failed = by_subscription[taking], by_subscription[refusing]
    assert completed["status"] == "COMPLETED" and not {"output", "error"} & set(completed)
    assert failed["status"] == "FAILED" and "output" not in failed
    assert failed["error"].startswith("subscriber answered 400"), failed
    assert failed["error"] == (await finished(api, failed["id"]))["error"]


async def test_a_bad_wait_is_a_400_naming_waitseconds_and_starts_nothing(
    api: httpx.AsyncClient, subscriber: Subscriber
) -> None:
    path = subscriber.new_path()
    await create_subscription(api, url=subscriber.url(path))
    for value in ("0", "-1", "30.5", "abc", "nan", "inf"):
        response = await api.post(
            "/trigger-invocations/v1/start",
            params={"waitSeconds": value},
            json={"triggerId": FNF_TRIGGER, "input": FNF_INPUT},
        )
        assert response.status_code == 400, (value, response.text)
        assert error_text(response).startswith("waitSeconds: "), (value, error_text(response))
    [valid] = await start(api, trigger_id=FNF_TRIGGER, payload=FNF_INPUT, wait_seconds=30)
    assert valid["status"] == "COMPLETED"
    received = [item.json()["_metadata"]["invocationId"] for item in subscriber.received(path)]
    assert received == [valid["id"]], "the refused starts delivered nothing"
