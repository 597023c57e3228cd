"""Redelivery of one invocation, with a real subscriber that recovers."""

from __future__ import annotations

import httpx

from tests.invocation_fixtures import (
    FNF_INPUT,
    FNF_TRIGGER,
    RR_INPUT,
    RR_TRIGGER,
    create_subscription,
    error_text,
    finished,
    start,
)
from tests.subscriber import Reply, Subscriber


def redeliver_url(invocation_id: str) -> str:
    return f"/trigger-invocations/v1/{invocation_id}/redeliver"


def delivered_ids(subscriber: Subscriber, path: str) -> list[str]:
    return [request.json()["_metadata"]["invocationId"] for request in subscriber.received(path)]


async def test_redeliver_a_failed_invocation(api: httpx.AsyncClient, subscriber: Subscriber) -> None:
    path = subscriber.new_path(Reply(status=400, body=b"not today"))
    await create_subscription(api, url=subscriber.url(path))
    [original] = await start(api, trigger_id=FNF_TRIGGER, payload=FNF_INPUT)
    assert (await finished(api, original["id"]))["status"] == "FAILED"

    response = await api.post(redeliver_url(original["id"]))
    assert response.status_code == 200, response.text
    again = response.json()
    assert again["id"] != original["id"] and again["triggerId"] == FNF_TRIGGER
    detail = await finished(api, again["id"])
    assert (detail["status"], detail["redeliveryOf"]) == ("COMPLETED", original["id"])
    assert (await finished(api, original["id"]))["redeliveryOf"] is None
    first, second = subscriber.received(path)
    assert {key: value for key, value in second.json().items() if key != "_metadata"} == FNF_INPUT
    assert (
        second.json()["_metadata"]["invocationId"] == again["id"] != first.json()["_metadata"]["invocationId"]
    )


async def test_redeliver_refuses_pending_unknown_and_orphaned(
    api: httpx.AsyncClient, subscriber: Subscriber
) -> None:
    path = subscriber.new_path()
    subscription_id = await create_subscription(
        api, url=subscriber.url(path), trigger_id=RR_TRIGGER, mode="ASYNC"
    )
    [awaiting] = await start(api, trigger_id=RR_TRIGGER, payload=RR_INPUT)
    await subscriber.wait_for(path)
    pending = await api.post(redeliver_url(awaiting["id"]))
    assert pending.status_code == 409, pending.text
    assert "is still" in error_text(pending)

    unknown = await api.post(redeliver_url("0b9e6a38-0000-4000-8000-000000000000"))
    assert unknown.status_code == 404, unknown.text

    fnf_path = subscriber.new_path(Reply(status=400))
    fnf_subscription = await create_subscription(api, url=subscriber.url(fnf_path))
    [failed] = await start(api, trigger_id=FNF_TRIGGER, payload=FNF_INPUT)
    assert (await finished(api, failed["id"]))["status"] == "FAILED"
    assert (await api.delete(f"/trigger-subscriptions/v1/{fnf_subscription}")).status_code == 204
    orphaned = await api.post(redeliver_url(failed["id"]))
    assert orphaned.status_code == 409, orphaned.text
    assert fnf_subscription in error_text(orphaned)
    assert subscription_id  # the RR subscription stays; its invocation still waits
